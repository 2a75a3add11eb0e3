"""The engine: sources -> listening -> baseline accompanist -> scheduler -> outputs.

:class:`Engine` holds every stage; ``step(now)`` is one pass of the engine thread (read
inputs, apply controls, decide the beats that are due). Live, :func:`engine.live.run` calls it
every millisecond while the scheduler thread sends; offline, :func:`engine.offline.render`
calls it on a virtual clock and flushes the scheduler itself. Same objects, same decisions.

Determinism: the notes for beat ``b`` are decided at ``t_cut + input_slack_sec`` (wall) from
exactly the player events stamped before ``t_cut = t(b) - lookahead_sec``; events arriving
later wait for the next decision. So the decision never depends on when events happened to
be read, only on their timestamps: live and offline give the same notes.
"""

from __future__ import annotations

import collections
import logging
import queue
from typing import Any

import numpy as np

from . import protocol
from .clock import TempoMap, check_bpm
from .config import Config
from .events import (
    CLOCK_START,
    CLOCK_STOP,
    CLOCK_TICK,
    PROGRAM_CHANGE,
    SONG_POSITION,
    SYSEX,
    is_note_off,
    is_note_on,
)
from .io.midi import MidiTimestamper
from .io.ring import BlockRing
from .listen.chroma import Chroma
from .listen.gate import LevelGate
from .listen.listener import Listener
from .listen.profile import PitchProfile
from .listen.tempo import MidiClockTempo, TapTempo
from .play.baseline import BaselineAccompanist
from .play.improviser import Improviser, NoteEvent
from .scheduler import (
    CMD_OUTPUT_LOST,
    CMD_PANIC,
    CMD_RECONNECT,
    CMD_STOP,
    NOTE_OFF_EV,
    NOTE_ON_EV,
    OSC_EV,
    RAW_EV,
    Scheduler,
)
from .stats import Counters, SampleLog

log = logging.getLogger(__name__)

STOPPED, ARMED, PLAYING = "stopped", "armed", "playing"
MAX_MIDI_PER_STEP = 4096
AUDIO_ONSET = -1  # pitch value of an audio onset in the pending-event queue
AUDIO_ACTIVITY_SEC = 0.1  # while sound goes on, note activity this often


class Engine:
    """All stages of one performance. ``step`` and the ``_`` methods: engine thread only.
    OSC handlers (``handlers()``) run on the OSC thread and only enqueue or read counters."""

    def __init__(
        self,
        config: Config,
        clock: Any,
        midi_out: Any,
        midi_inputs: list | None = None,
        osc_out: Any = None,
        audio_ring: BlockRing | None = None,
        audio_samplerate: int = 0,
        live: bool = False,
        thru: bool = False,
    ) -> None:
        self.cfg = config
        self.clock = clock
        self.live = live
        self.thru = thru
        self.counters = Counters()
        self.lateness = SampleLog()
        self.midi_in_delay = SampleLog()
        self.midi_out = midi_out
        self.osc_out = osc_out
        sc = config.scheduler
        self.scheduler = Scheduler(
            clock, midi_out, self.counters, osc_out, spin_sec=sc.spin_sec,
            rt_priority=sc.rt_priority if live else 0, lateness=self.lateness,
        )
        self.tempo = TempoMap(config.tempo.bpm)
        self.bpm = config.tempo.bpm  # tempo for the next anchor
        self.profile = PitchProfile()
        from .listen.activation import DEFAULT_MODEL as BEAT_MODEL

        self.listener = Listener(
            audio_samplerate if audio_ring is not None else 0, config.scheduler.input_slack_sec,
            beat_model=BEAT_MODEL if config.tempo.audio_tracker != "flux" else None,
            auto=config.tempo.audio_tracker == "auto", band=config.tempo.audio_tracker == "band")
        if self.listener.model_error:
            self.counters.model_errors += 1
            log.error("%s", self.listener.model_error)
        self.tracked_beats = 0
        self.taps = TapTempo()
        self.midi_clock = MidiClockTempo()
        self.tracker_confidence = 0.0
        b = config.baseline
        self.baseline = BaselineAccompanist(
            config.tempo.beats_per_bar, b.bass, b.chords, b.bass_velocity, b.chord_velocity
        )
        self.improviser = self._make_improviser(audio_ring is not None and not midi_inputs)
        self._open_ids: dict[tuple[str, int], int] = {}  # improviser notes sounding -> id
        self._by_beat: collections.deque = collections.deque()  # committed notes in beat time
        # for the status view (read by its thread): the player's and our recent note-ons
        self.recent_in: collections.deque = collections.deque(maxlen=16)
        self.recent_out: collections.deque = self.scheduler.recent
        self.midi_inputs = list(midi_inputs or [])
        self._stampers = [MidiTimestamper() for _ in self.midi_inputs]
        self._controls: queue.SimpleQueue = queue.SimpleQueue()
        self._pending: collections.deque = collections.deque()  # (t_sec, pitch, velocity)
        self._thru_ids: dict[tuple[int, int], int] = {}
        self.state = ARMED
        self.next_beat = 0
        self.last_activity_t_sec = float("-inf")
        # audio
        self.audio_ring = audio_ring
        self.audio_samplerate = audio_samplerate
        if audio_ring is not None:
            self._block = np.zeros(audio_ring.block_frames, dtype=np.float32)
            self._zero_block = np.zeros(audio_ring.block_frames, dtype=np.float32)
            self.chroma = Chroma(audio_samplerate)
            self._hist = np.zeros(2 * self.chroma.n_fft, dtype=np.float32)
            self._window = np.zeros(self.chroma.n_fft, dtype=np.float32)
            self._hist_frames = 0  # absolute frame count written into _hist
            self.gate = LevelGate(audio_samplerate)
            self._audio_t0_sec: float | None = None
            self._last_audio_activity_t_sec = float("-inf")
        self._next_health_t_sec = 0.0
        self._clock_stop_t_sec = float("-inf")
        self._out_lost = False
        self.server_away = False  # set by the live session's supervisor (JACK gone)

    def _make_improviser(self, audio: bool) -> Improviser | None:
        """The model improviser for a MIDI player; None (the rule-based baseline plays) when it
        is switched off, for an audio-only player (no pitches to give the model), or when the
        model cannot be loaded -- said once in the log and kept in ``self.why_baseline``."""
        from .play.runtime import ModelFileError, ModelRuntime, resolve_model

        ic = self.cfg.improviser
        self.why_baseline = ""
        if not ic.enabled:
            self.why_baseline = "improviser.enabled is off"
        elif audio:
            self.why_baseline = "audio input only: the rule-based baseline accompanies audio"
        if self.why_baseline:
            return None
        try:
            rt = ModelRuntime(resolve_model(ic.model), keep_frames=24)
            return Improviser(ic, rt, self.cfg.tempo.beats_per_bar, self.cfg.seed)
        except (ModelFileError, ValueError) as exc:
            self.counters.model_errors += 1
            self.why_baseline = f"model not usable ({exc}); the rule-based baseline plays"
            log.error("%s", self.why_baseline)
            return None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Send program changes so a GM synth sounds right; arm for the first note."""
        now = self.clock.now()
        for role, channel in protocol.ROLE_CHANNELS.items():
            program = protocol.ROLE_PROGRAMS[role]
            self.scheduler.submit(now, RAW_EV, (PROGRAM_CHANGE | channel, program))
        if self.thru:
            self.scheduler.submit(
                now, RAW_EV, (PROGRAM_CHANGE | protocol.PLAYER_CHANNEL, protocol.PLAYER_PROGRAM)
            )
        self.state = ARMED

    # -- OSC (OSC thread) ------------------------------------------------------------------
    def handlers(self) -> dict:
        """The route table: every IN address of the protocol -> a handler. OSC thread."""

        def enqueue(name):
            return lambda args: self._controls.put((name, args))

        def tempo(args):
            check_bpm(args[0])  # refuse out-of-range now, with an /improv/error reply
            self._controls.put(("tempo", args))

        def start(args):
            if args:
                check_bpm(args[0])
            self._controls.put(("start", args))

        return {
            protocol.START: start,
            protocol.STOP: enqueue("stop"),
            protocol.PANIC: lambda args: self.scheduler.command(CMD_PANIC),
            protocol.TEMPO: tempo,
            protocol.STATUS: lambda args: [(protocol.STATUS, self.status_args()),
                                           (protocol.REASON, [self.reason()])],
            protocol.VERSION: lambda args: [(protocol.VERSION, [protocol.PROTOCOL_VERSION])],
            protocol.RECONNECT: lambda args: self.scheduler.command(CMD_RECONNECT),
            protocol.TAP: lambda args: self._controls.put(("tap", [self.clock.now()])),
            **self._improviser_handlers(enqueue),
        }

    def _improviser_handlers(self, enqueue) -> dict:
        """Controls of the improviser: checked here (a bad value is refused with
        /improv/error by the dispatcher), applied on the engine thread. OSC thread."""
        from .config import KEYS, MODES
        from .play.improviser import NAMES

        def ranged(name, lo, hi):
            def handler(args):
                v = float(args[0])
                if not lo <= v <= hi:
                    raise ValueError(f"{name} must be within {lo:g}..{hi:g} (got {v:g})")
                self._controls.put((name, [v]))
            return handler

        def key(args):
            if len(args) == 2:
                pc, quality = int(args[0]), str(args[1])
                if not 0 <= pc <= 11 or quality not in ("major", "minor"):
                    raise ValueError("key: pitch class 0..11 and major or minor")
                name = NAMES[pc] + ("m" if quality == "minor" else "")
            else:
                name = str(args[0])
            if name not in KEYS:
                raise ValueError(f"unknown key {name!r} (free, auto, C, F#, Am, Ebm ...)")
            self._controls.put(("key", [name]))

        def mode(args):
            if args[0] not in MODES:
                raise ValueError(f"mode must be one of {', '.join(MODES)}")
            self._controls.put(("mode", [args[0]]))

        def role(name):
            return lambda args: self._controls.put(("role", [name, bool(args[0])]))

        return {
            protocol.TEMPERATURE: ranged("temperature", 0.0, 2.0),
            protocol.DENSITY: ranged("density", 0.0, 1.0),
            protocol.COMMIT: ranged("commit_beats", 0.0, 4.0),
            protocol.ROLE_PREFIX + "bass": role("bass"),
            protocol.ROLE_PREFIX + "chords": role("chords"),
            protocol.ROLE_PREFIX + "answer": role("answer"),
            protocol.KEY: key,
            protocol.MODE: mode,
            protocol.FOLLOW: lambda args: self._controls.put(("follow", [bool(args[0])])),
        }

    def status(self) -> dict[str, int]:
        """Counters, gathered from the stages that own them. Any thread (reads only)."""
        c = self.counters
        c.midi_in_overflow = sum(getattr(i, "overflows", 0) for i in self.midi_inputs)
        c.midi_out_errors = max(c.midi_out_errors, getattr(self.midi_out, "errors", 0))
        return c.as_dict()

    def reason(self) -> str:
        """What the accompanist is doing and why, in words (status display, /improv/reason).
        Any thread (reads only)."""
        if self.server_away:
            return ("the audio/MIDI server (JACK) went away: waiting for it to come back "
                    "(state kept)")
        if self.state == STOPPED:
            return "stopped (/improv/start to arm)"
        who = "model" if self.improviser is not None else f"baseline ({self.why_baseline})"
        if self.state == ARMED:
            return f"waiting for the player's first note; {who}"
        parts = [self.improviser.reason if self.improviser is not None else "playing", who]
        if self.cfg.tempo.follow and self.tracker_confidence < self.cfg.tempo.follow_confidence:
            parts.append(f"holding the tempo: tracker unsure ({self.tracker_confidence:.2f})")
        if self.tempo.bpm_at(self.next_beat) > 200:
            parts.append("very fast: 16ths every "
                         f"{15000 / self.tempo.bpm_at(self.next_beat):.0f} ms")
        return "; ".join(parts)

    def status_args(self) -> list:
        args: list = [self.state]
        for name, value in self.status().items():
            args += [name, int(value)]
        return args

    # -- the engine thread -----------------------------------------------------------------
    def step(self, now: float) -> None:
        """One pass: controls, inputs, decisions due by ``now``. Engine thread."""
        self._apply_controls()
        self._read_midi(now)
        if self.audio_ring is not None:
            self._read_audio()
        self.listener.advance(now)
        self._follow(now)
        self._decide(now)
        if self.live and now >= self._next_health_t_sec:
            self._check_output()
            self._next_health_t_sec = now + 0.5

    def _apply_controls(self) -> None:
        while True:
            try:
                name, args = self._controls.get_nowait()
            except queue.Empty:
                return
            if name == "start":
                if args:
                    self.bpm = args[0]
                if self.state == STOPPED:
                    self.state = ARMED
                elif self.state == PLAYING and args:
                    self.tempo.set_tempo(self.bpm, self.next_beat)
            elif name == "stop":
                self._stop()
            elif name == "tap":
                self._tap(args[0])
            elif name == "tempo":
                self.bpm = args[0]
                if self.state == PLAYING:
                    self.tempo.set_tempo(self.bpm, self.next_beat)
            else:
                self._improviser_control(name, args)

    def _improviser_control(self, name: str, args: list) -> None:
        ic, b = self.cfg.improviser, self.cfg.baseline
        if name in ("temperature", "density", "commit_beats"):
            setattr(ic, name, args[0])
        elif name == "mode":
            ic.mode = args[0]
        elif name == "follow":
            self.cfg.tempo.follow = args[0]
        elif name == "key":
            ic.key = args[0]
            if self.improviser is not None:
                self.improviser.set_key(args[0])
        elif name == "role":
            role, on = args
            setattr(ic, role, on)
            if role in ("bass", "chords"):
                setattr(b, role, on)  # the baseline's roles too
                setattr(self.baseline, role, on)
        if self.improviser is not None and name in ("role", "mode"):  # (key: next frame)
            imp = self.improviser
            self._by_beat = collections.deque(  # committed notes of a role now off: dropped
                n for n in self._by_beat if n.velocity == 0 or imp.role_on(n.role))
            self._send_improviser(imp.roles_changed(self.clock.now()))

    def _stop(self) -> None:
        """The stop control: drop what is pending, release what sounds."""
        was_playing = self.state == PLAYING
        self.state = STOPPED
        self.scheduler.command(CMD_STOP)
        self._thru_ids.clear()
        self._open_ids.clear()
        self._by_beat.clear()
        if self.improviser is not None:
            self.improviser.release(self.clock.now())  # forget them: the stop released them
            self.improviser.out.clear()
        self._pending.clear()
        if was_playing and self.cfg.midi.clock_out:
            self.scheduler.submit(self.clock.now(), RAW_EV, (CLOCK_STOP,))

    def _read_midi(self, now: float) -> None:
        for inp, stamper in zip(self.midi_inputs, self._stampers):
            for _ in range(MAX_MIDI_PER_STEP):
                item = inp.read()
                if item is None:
                    break
                data, delta_sec = item
                t_sec = stamper.stamp(now, delta_sec)
                self._on_midi(tuple(data), t_sec, now)

    def _on_midi(self, data: tuple[int, ...], t_sec: float, now: float) -> None:
        c = self.counters
        c.midi_in += 1
        if not data:
            return
        if data[0] == SYSEX:
            c.midi_in_sysex += 1
            return
        if data[0] >= 0xF8:  # realtime: MIDI clock in
            if self.cfg.tempo.midi_clock_in and self.midi_clock.message(data[0], t_sec):
                self._set_beat(t_sec, self.midi_clock.bpm, now)
            return
        if any(b > 0x7F for b in data[1:]):
            c.midi_in_invalid += 1  # a data byte with the status bit set: never forwarded
            return
        tempo_cfg = self.cfg.tempo
        if (is_note_on(data) and data[1] == tempo_cfg.tap_note) or (
                data[0] & 0xF0 == 0xB0 and data[1] == tempo_cfg.tap_cc and data[2] > 0):
            self._tap(t_sec)  # a tap key or pedal: tempo, not music
            return
        if is_note_on(data):
            self.midi_in_delay.add(now - t_sec)
            self.recent_in.append(data[1])
            self.listener.note_on(t_sec, data[2], data[1])
            self._onset(t_sec)
            if self.state == PLAYING:
                self._pending.append((t_sec, data[1], data[2]))
                if self.improviser is not None:
                    self.improviser.player(t_sec, data[1], data[2])
            if self.thru:
                self._thru(now, data[1], data[2])
        elif is_note_off(data):
            if self.improviser is not None and self.state == PLAYING:
                self.improviser.player(t_sec, data[1], 0)
            if self.thru:
                self._thru(now, data[1], 0)

    def _thru(self, now: float, pitch: int, velocity: int) -> None:
        ch = protocol.PLAYER_CHANNEL
        if velocity > 0:
            note_id = -self.counters.midi_in  # unique per message; negative: never a scheduler id
            self._thru_ids[(ch, pitch)] = note_id
            self.scheduler.submit(now, NOTE_ON_EV, (ch, pitch, velocity, note_id, "player", 0.0))
        else:
            note_id = self._thru_ids.pop((ch, pitch), None)
            if note_id is not None:
                self.scheduler.submit(now, NOTE_OFF_EV, (ch, pitch, note_id))

    def _onset(self, t_sec: float) -> None:
        """The player played: anchor beat 0 here if we were waiting for them."""
        if self.state != ARMED:
            return
        self.tempo.anchor(t_sec, self.bpm)
        self.state = PLAYING
        self.next_beat = 1  # beat 0 is now: the first beat we can still play on time is 1
        self.baseline.reset()
        if self.improviser is not None:
            self.improviser.restart()
        self.profile.reset()  # beat numbers restart at 0: rows of an earlier take would lie
        self._pending.clear()
        self.last_activity_t_sec = t_sec
        if self.cfg.midi.clock_out:
            # never restart before a stop still pending from the last phrase
            t_start = max(t_sec, self._clock_stop_t_sec)
            self.scheduler.submit(t_start, RAW_EV, (SONG_POSITION, 0, 0))
            self.scheduler.submit(t_start, RAW_EV, (CLOCK_START,))
            self._clock_ticks(0, not_before_sec=t_start)

    def _read_audio(self) -> None:
        ring, sr = self.audio_ring, self.audio_samplerate
        n_hist = self._hist.shape[0]
        while True:
            meta = ring.pop(self._block)
            if meta is None:
                break
            first_frame, arrival_t_sec = meta
            n = self._block.shape[0]
            if self._audio_t0_sec is None:
                self._audio_t0_sec = arrival_t_sec - (first_frame + n) / sr
            elif first_frame > self._hist_frames:
                self._fill_gap(first_frame)
            self.counters.audio_blocks += 1
            i = first_frame % n_hist  # by frame index: a dropped block leaves a gap, not a shift
            k = min(n, n_hist - i)
            self._hist[i:i + k] = self._block[:k]
            self._hist[: n - k] = self._block[k:]
            self._hist_frames = first_frame + n
            t_sec = self._audio_t0_sec + first_frame / sr
            self.listener.audio(self._block, t_sec, first_frame, sr)
            if self.gate.process(self._block):
                self._onset(t_sec)
            if (self.state == PLAYING and self.gate.peak >= self.gate.release
                    and t_sec - self._last_audio_activity_t_sec >= AUDIO_ACTIVITY_SEC):
                # sound goes on (legato, ringing): the player is still playing
                self._last_audio_activity_t_sec = t_sec
                velocity = int(min(127, 127 * self.gate.peak))
                self._pending.append((t_sec, AUDIO_ONSET, velocity))

    def _fill_gap(self, first_frame: int) -> None:
        """Blocks that never came (dropped by a full ring, or the server was away) are heard
        as silence, so the listener's frame clock stays on the session's clock."""
        sr, n = self.audio_samplerate, self._zero_block.shape[0]
        while self._hist_frames + n <= first_frame:
            t_sec = self._audio_t0_sec + self._hist_frames / sr
            self.listener.audio(self._zero_block, t_sec, self._hist_frames, sr)
            self.gate.process(self._zero_block)
            i = self._hist_frames % self._hist.shape[0]
            k = min(n, self._hist.shape[0] - i)
            self._hist[i:i + k] = 0.0
            self._hist[: n - k] = 0.0
            self._hist_frames += n
            self.counters.audio_gap_blocks += 1

    def _follow(self, now: float) -> None:
        """Tracked beats: counted, their place in the bar sent on OSC once known, and with
        ``tempo.follow`` the tempo map's undecided beats are placed on the tracker's
        prediction (decided ones keep their times)."""
        tracker = self.listener.tracker
        if self.osc_out is not None:
            for _, strength in self.listener.take_onsets():
                self.scheduler.submit(now, OSC_EV, (protocol.ONSET, [strength]))
        else:
            self.listener.onsets.clear()
        listener = self.listener
        if not listener.beats:
            return
        positions = list(listener.positions)  # (take_beats clears them)
        for t_beat, position in zip(listener.take_beats(), positions):
            self.tracked_beats += 1
            self.tracker_confidence = tracker.confidence
            if position > 0 and self.osc_out is not None:
                self.scheduler.submit(now, OSC_EV,
                                      (protocol.BAR, [position, listener.meter.meter]))
            if not (self.cfg.tempo.follow and self.state == PLAYING):
                continue
            if tracker.confidence < self.cfg.tempo.follow_confidence:
                continue  # unsure: hold the tempo we have
            self._set_beat(t_beat, min(max(tracker.tempo_bpm, 20.0), 400.0), now)

    def _tap(self, t_sec: float) -> None:
        bpm = self.taps.tap(t_sec)
        if bpm is not None:
            self._set_beat(t_sec, bpm, self.clock.now())

    def _set_beat(self, t_beat: float, bpm: float | None, now: float) -> None:
        """A tempo source says: a beat at ``t_beat``, at ``bpm``. While playing, the
        undecided beats move onto that grid; otherwise the tempo is kept for the start."""
        if bpm is None:
            return
        self.bpm = bpm
        if self.state != PLAYING:
            return
        period = 60.0 / bpm
        t_next = t_beat + period
        while t_next < now + self.cfg.scheduler.lookahead_sec:
            t_next += period
        self.tempo.place(self.next_beat, t_next, bpm)

    def _audio_chroma(self, beat_index: int, t_cut_sec: float) -> None:
        """Add the chroma of the n_fft samples before ``t_cut_sec`` to ``beat_index``."""
        if self._audio_t0_sec is None:
            return
        n_fft, n_hist = self.chroma.n_fft, self._hist.shape[0]
        end = min(int(round((t_cut_sec - self._audio_t0_sec) * self.audio_samplerate)),
                  self._hist_frames)
        if end - n_fft < max(0, self._hist_frames - n_hist):
            return  # not enough history
        idx = (end - n_fft + np.arange(n_fft)) % n_hist  # small; once per beat
        np.take(self._hist, idx, out=self._window)
        if float(np.max(np.abs(self._window))) < self.gate.release:
            return
        self.profile.add_chroma(beat_index, self.chroma.process(self._window))

    def _commit(self, t_cut_sec: float) -> None:
        """Apply the player events stamped before ``t_cut_sec`` to the profile."""
        pending = self._pending
        while pending and pending[0][0] < t_cut_sec:
            t_sec, pitch, velocity = pending.popleft()
            self.last_activity_t_sec = t_sec
            if pitch != AUDIO_ONSET:
                self.profile.add_note(self.tempo.beat(t_sec), pitch, 0.5 + velocity / 254.0)

    def _send_improviser(self, notes: list[NoteEvent]) -> None:
        """Hand the improviser's notes to the scheduler (open notes: ids kept for the off);
        notes committed in beat time wait in ``_by_beat`` for :meth:`_release_by_beat`."""
        for n in notes:
            if n.beat >= 0 or self._by_beat:
                self._by_beat.append(n)  # (keeps the order of what is already waiting)
            else:
                self._submit_note(n, n.t_sec)

    def _release_by_beat(self, now: float, until_sec: float | None = None) -> None:
        """Convert committed notes from beats to seconds at the last moment: when they are
        ``lookahead_sec`` away (or, ``until_sec`` given, all due by then; the rest dropped)."""
        q = self._by_beat
        while q:
            n = q[0]
            t = self.tempo.t_sec(n.beat) if n.beat >= 0 else n.t_sec
            if until_sec is None and t - self.cfg.scheduler.lookahead_sec > now:
                return
            q.popleft()
            if until_sec is None or t <= until_sec:
                self._submit_note(n, t)

    def _submit_note(self, n: NoteEvent, t_sec: float) -> None:
        channel = protocol.ROLE_CHANNELS[n.role]
        if n.velocity > 0:
            note_id = self.scheduler.new_note_id()
            self._open_ids[(n.role, n.pitch)] = note_id
            self.scheduler.submit(t_sec, NOTE_ON_EV,
                                  (channel, n.pitch, n.velocity, note_id, n.role, 0.0))
        else:
            note_id = self._open_ids.pop((n.role, n.pitch), None)
            if note_id is not None:
                self.scheduler.submit(t_sec, NOTE_OFF_EV,
                                      (channel, n.pitch, note_id, n.role))

    def _decide(self, now: float) -> None:
        if self.improviser is not None and self.state == PLAYING:
            self._send_improviser(self.improviser.process(now, self.tempo))
            self._release_by_beat(now)
            self.counters.frames_decided = self.improviser.next_frame_total
        sc, b_cfg = self.cfg.scheduler, self.cfg.baseline
        while self.state == PLAYING:
            b = self.next_beat
            t_beat = self.tempo.t_sec(b)
            t_cut = t_beat - sc.lookahead_sec
            if now < t_cut + sc.input_slack_sec:
                return
            self._commit(t_cut)
            if self.audio_ring is not None:
                self._audio_chroma(b - 1, t_cut)
            spb = 60.0 / self.tempo.bpm_at(b)
            imp = self.improviser
            if (t_cut - self.last_activity_t_sec > b_cfg.stop_after_beats * spb
                    and not (imp is not None and imp.busy)):
                # The player stopped: let what is scheduled ring out, wait for them to return.
                self.state = ARMED
                if imp is not None:
                    self._release_by_beat(now, until_sec=t_beat)
                    for n in imp.release(t_beat):
                        self._submit_note(n, t_beat)
                if self.cfg.midi.clock_out:
                    self.scheduler.submit(t_beat, RAW_EV, (CLOCK_STOP,))
                    self._clock_stop_t_sec = t_beat
                back = list(self._pending)  # stamped after t_cut: they came back already
                if back:
                    self._onset(back[0][0])  # the same, whenever these were read
                    self._pending.extend(back)
                return
            recent = self.profile.window(b, b_cfg.window_beats, half_life_beats=2.0).copy()
            key = self.profile.window(b, b_cfg.key_window_beats)
            if imp is not None and self.cfg.improviser.key == "auto":
                self._detect_key(imp, key)
            for note in (self.baseline.process(b, recent, key) if imp is None else ()):
                t_on = self.tempo.t_sec(note.beat)
                t_off = self.tempo.t_sec(note.beat + note.dur_beat)
                channel = protocol.ROLE_CHANNELS[note.role]
                self.scheduler.note(t_on, t_off - t_on, channel, note.pitch, note.velocity,
                                    note.role)
            self.scheduler.submit(t_beat, OSC_EV, (protocol.BEAT, [
                b, self.tempo.bpm_at(b), self.listener.tracker.phase, self.tracker_confidence]))
            if self.cfg.midi.clock_out:
                self._clock_ticks(b)
            self.next_beat = b + 1

    def _detect_key(self, imp: Improviser, key_pcs: np.ndarray) -> None:
        """Lock the improviser to the key heard so far (Krumhansl), once 3 pitch classes
        have been heard with some weight."""
        from .play.baseline import estimate_key
        from .play.improviser import NAMES

        if np.count_nonzero(key_pcs > 0.5) < 3:
            return
        tonic, major = estimate_key(key_pcs)
        imp.detect_key(NAMES[tonic] + ("" if major else "m"))

    def _clock_ticks(self, beat_index: int, not_before_sec: float = float("-inf")) -> None:
        ppqn = protocol.MIDI_CLOCK_PPQN
        for k in range(ppqn):
            t = self.tempo.t_sec(beat_index + k / ppqn)
            if t >= not_before_sec:
                self.scheduler.submit(t, RAW_EV, (CLOCK_TICK,))

    def _check_output(self) -> None:
        """A named output whose peer vanished: count and log it once, and owe the receiver
        the note-offs of what was sounding; when the peer is there again but our port is not
        open to it (it came back, or the JACK server came back before it did), reconnect (the
        scheduler then pays those note-offs). Engine thread, a few times a second."""
        if self.server_away:
            # the supervisor has the whole server in hand (and pays the owed note-offs when
            # it is back); a named peer still missing after that is counted from then on
            self._out_lost = False
            return
        alive = self.midi_out.peer_alive()
        connected = getattr(self.midi_out, "connected", True)
        name = getattr(self.midi_out, "name", "?")
        if not alive:
            if not self._out_lost:
                self.counters.midi_out_lost += 1
                self.scheduler.command(CMD_OUTPUT_LOST)
                log.error("MIDI output peer %r vanished; still running, reconnecting when it "
                          "is back (or send %s).", name, protocol.RECONNECT)
            self._out_lost = True
        elif self._out_lost or not connected:
            # (not connected: a reconnect already asked for may still be on its way; asking
            # again is harmless -- reopen closes and opens the port)
            log.warning("MIDI output peer %r is there: connecting", name)
            self.scheduler.command(CMD_RECONNECT)
            self._out_lost = False

    def close(self) -> None:
        """Release every held note and stop the scheduler thread (if any)."""
        self.scheduler.close()
