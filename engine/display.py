"""The live status view of ``improv run``: tempo, beat phase, confidence, key, mode, roles,
recent notes in and out, xruns, late events, bad messages, and why the accompanist does what
it does -- redrawn a few times a second in place on a terminal, or a plain log line every few
seconds when stdout is not one (a pipe, a file, CI). ``--quiet`` turns it off.

It runs in its own thread and only reads (counters, the engine's recent-note rings, the
tracker's last values): nothing on the real-time path waits for it.
"""

from __future__ import annotations

import threading
from typing import TextIO

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def note_name(pitch: int) -> str:
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _recent(ring) -> list:
    for _ in range(3):  # another thread may append meanwhile: try again
        try:
            return list(ring)
        except RuntimeError:
            continue
    return []


def status_lines(engine) -> list[str]:
    """The view as text lines (any thread; reads only)."""
    c = engine.counters
    cfg = engine.cfg
    ic = cfg.improviser
    tracker = engine.listener.tracker
    imp = engine.improviser
    bpm = engine.tempo.bpm_at(engine.next_beat)
    key = ic.key if ic.key != "auto" else f"auto ({imp.detected_key or '?'})" if imp else "auto"
    roles = " ".join(f"{r}:{'on' if getattr(ic, r) else 'off'}"
                     for r in ("bass", "chords", "answer"))
    notes_in = " ".join(note_name(p) for p in _recent(engine.recent_in)[-8:]) or "-"
    sent = _recent(engine.recent_out)[-12:]
    notes_out = " | ".join(
        f"{role} " + " ".join(note_name(p) for r, p in sent if r == role)
        for role in dict.fromkeys(r for r, _ in sent))
    return [
        f"improv  {engine.state:8s} | {engine.reason()}",
        f"tempo {bpm:6.1f} BPM  beat {max(0, engine.next_beat - 1):5d}  phase "
        f"{tracker.phase:4.2f}  confidence {engine.tracker_confidence:4.2f}  follow "
        f"{'on' if cfg.tempo.follow else 'off'}{_beat_source(engine.listener)}",
        f"key {key}  mode {ic.mode}  {roles}  temperature {ic.temperature:g}  density "
        f"{ic.density:g}  commit {ic.commit_beats:g}",
        f"in  {notes_in}",
        f"out {notes_out or '-'}",
        f"notes {c.notes_sent}  late {c.late_events}  xruns {c.xruns}  bad OSC {c.bad_messages}"
        f"  MIDI in {c.midi_in}  errors {c.thread_errors + c.model_errors}"
        f"  JACK lost/back {c.server_lost}/{c.server_back}  MIDI out lost {c.midi_out_lost}",
    ]


class StatusDisplay:
    """``start()`` a thread that draws ``status_lines`` every ``interval_sec`` (terminal) or
    logs one line every ``log_every_sec`` (not a terminal); ``stop()`` ends it."""

    def __init__(self, engine, stream: TextIO, interval_sec: float = 0.25,
                 log_every_sec: float = 5.0) -> None:
        self.engine = engine
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.interval_sec = interval_sec if self.tty else log_every_sec
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="improv-display", daemon=True)
        self._drawn = 0

    def start(self) -> StatusDisplay:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_sec):
            try:
                self.draw()
            except Exception as exc:  # the view must never take the performance down
                self.stream.write(f"improv: status view error: {exc}\n")
                return

    def draw(self) -> None:
        lines = status_lines(self.engine)
        if self.tty:
            up = f"\x1b[{self._drawn}F" if self._drawn else ""
            self.stream.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
            self._drawn = len(lines)
        else:
            self.stream.write(" | ".join(line.strip() for line in (lines[0], lines[1], lines[5]))
                              + "\n")
        self.stream.flush()


def _beat_source(listener) -> str:
    """Which activation the audio beats come from (the auto gate's choice), if any."""
    if listener.detector is None:
        return ""
    if not getattr(listener, "auto", False):
        return "  beats: learned" if listener.activation is not None else "  beats: flux"
    gate = listener.gate
    name = {"learned": "learned", "flux": "flux", "joint": "flux+learned"}[gate.source]
    why = f": {gate.reason}" if gate.reason else ""  # the rule of the gate's last look
    if not gate.decided:
        return f"  beats: {name} (choosing{why})"
    return f"  beats: {name} ({gate.reason or 'pinned'}" + (
        ", trying the other)" if gate.trial else ")")
