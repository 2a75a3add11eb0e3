"""Live through JACK == the offline twin, on the first 8 s of the bundled example."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from engine.config import load
from engine.events import SentMidi, is_note_off, is_note_on
from engine.io.files import read_midi, save_midi
from engine.offline import note_pairs, render

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ode_to_joy.mid"
CUT_SEC = 8.0
BPM = 100.0  # the example's tempo
BEAT_SEC = 60.0 / BPM
TOL_SEC = 0.015


def truncated_example(path: Path) -> list:
    """The example's events before CUT_SEC, with note-offs at CUT_SEC for notes still on,
    written to ``path`` and read back (so live and offline get exactly the same input)."""
    events, bpm = read_midi(EXAMPLE)
    assert bpm == pytest.approx(BPM)
    kept = [e for e in events if e.t_sec < CUT_SEC]
    on: set[tuple[int, int]] = set()
    for e in kept:
        key = (e.data[0] & 0x0F, e.data[1]) if len(e.data) == 3 else None
        if is_note_on(e.data):
            on.add(key)
        elif is_note_off(e.data):
            on.discard(key)
    kept += [SentMidi(CUT_SEC, (0x80 | ch, p, 0)) for ch, p in sorted(on)]
    save_midi([SentMidi(e.t_sec, tuple(e.data)) for e in kept], path)
    back, _ = read_midi(path)
    assert len(back) == len(kept)
    return back


def note_ons(sent) -> list[tuple[float, int, int, int]]:
    return [(s.t_sec, s.data[0] & 0x0F, s.data[1], s.data[2]) for s in sent if is_note_on(s.data)]


def keyed(ons, t0: float) -> list[tuple[int, int, int, int, float]]:
    """(beat, channel, pitch, velocity, t relative to t0), in time order."""
    rows = [(round((t - t0) / BEAT_SEC), ch, p, v, t - t0) for t, ch, p, v in ons]
    return sorted(rows, key=lambda r: (r[4], r[1], r[2]))


def play(sender, events, monitor) -> float:
    """Send ``events`` at their times (sleep, then spin the last ms); return the send time
    of the first note-on (how late each is sent goes to ``monitor.late``)."""
    t_start = time.monotonic() + 0.1
    first_on = None
    for e in events:
        due = t_start + e.t_sec
        while (left := due - time.monotonic()) > 0.001:
            time.sleep(left - 0.001)
        while time.monotonic() < due:
            pass
        t = sender.send(e.data)
        monitor.late(t - due)
        if first_on is None and is_note_on(e.data):
            first_on = t
    return first_on


@pytest.mark.integration
def test_live_through_jack_equals_offline_render(improv, midi_sender, midi_recorder, helpers,
                                                 retake, tmp_path):
    events = truncated_example(tmp_path / "ode_8s.mid")
    cfg = load(None, {"tempo.bpm": BPM})
    offline = render(tmp_path / "ode_8s.mid", cfg)
    first_t = next(e.t_sec for e in events if is_note_on(e.data))
    expected = keyed(note_ons(offline.sent), first_t)
    assert len(expected) > 20
    # onsets must agree within 15 ms: a player 4 ms late has disturbed the take
    retake(lambda monitor: live_take(improv, midi_sender, midi_recorder, helpers, events,
                                     expected, monitor), late_sec=0.004)


def live_take(improv, midi_sender, midi_recorder, helpers, events, expected, monitor) -> None:
    """One take: a fresh engine, the events played in, its notes against ``expected``."""
    engine = improv("twin", tempo=BPM)
    rec = None
    try:
        rec = midi_recorder(engine.out_port)
        snd = midi_sender(engine.in_port)
        t0 = play(snd, events, monitor)
        _, counters = engine.wait_status(lambda s, c: s == "armed" and c["notes_sent"] > 0,
                                         15.0, "the engine to re-arm after the player stopped")
        monitor.engine_late(counters["late_max_us"] * 1e-6)  # (a stall it alone saw: a retake)
        helpers.wait_silent(rec)  # the last notes ring out
        time.sleep(0.2)
        sent = rec.stop()
    finally:
        engine.stop()
        if rec is not None:
            rec.stop()  # (its polling thread would load the next take)
    note_pairs(sent)  # live: no hanging notes either
    got = keyed(note_ons(sent), t0)

    # each offline note-on must have its live twin (channel, pitch, velocity) within TOL_SEC
    # (matched by time, not by a rounded beat: the improviser plays 16ths on a moving grid)
    unmatched = [g for g in got]
    diffs = []
    missing = []
    for e in expected:
        twin = min((g for g in unmatched if g[1:4] == e[1:4]),
                   key=lambda g: abs(g[4] - e[4]), default=None)
        if twin is None or abs(twin[4] - e[4]) > 0.1:
            missing.append(e)
            continue
        unmatched.remove(twin)
        diffs.append(twin[4] - e[4])
    assert not missing and not unmatched, (
        "live and offline note-ons differ:\n"
        f"offline only: {missing}\nlive only: {unmatched}")
    worst = max(diffs, key=abs)
    # the engine's own count of events it sent over 1 ms after their time (a decision that
    # outran its budget, or the engine held up): tells its lateness from the transport's
    late = (f"the engine sent {counters['late_events']} events over 1 ms late, the latest "
            f"{counters['late_max_us'] / 1e3:.1f} ms")
    print(f"live - offline onset: median {statistics.median(diffs) * 1e3:.1f} ms, worst "
          f"{worst * 1e3:.1f} ms over {len(diffs)} notes; {late}")
    assert abs(worst) < TOL_SEC, (
        f"live onsets differ from offline by up to {worst * 1e3:.1f} ms "
        f"(median {statistics.median(diffs) * 1e3:.1f} ms; {late})")
