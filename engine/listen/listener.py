"""Listening on the engine's clock: onsets and the causal beat tracker, fed by audio blocks
(the audio clock drives the frames) or, for a MIDI-only player, by note-on impulses on a frame
grid that the engine's clock advances. Engine thread; everything is made at construction.

Frames are committed only up to ``now - slack_sec``, after every input stamped before them has
arrived, so live and offline runs track the same beats from the same input.

Audio is tracked on the spectral flux, or with ``beat_model`` (``models/improv_beat.json``) on
the learned beat activation (``tempo.audio_tracker = "learned"``, experimental: its own
downbeat output gives the bar positions), or -- ``auto``, the engine's default -- on whichever
of the two suits the music, or on both at once (a band, pitched attacks: :mod:`.gate_source`;
``band`` holds it on both from the start). If the model file is missing or unreadable the
listener says so in ``model_error`` and uses the flux. Below 32 kHz the default model runs
gated by the low-rate one (:mod:`.presence`). On the flux and in ``auto``, each
beat's position in the bar comes from the audio's accents (:mod:`.accent`).
"""

from __future__ import annotations

import numpy as np

from .accent import MIDI_WEIGHTS, WEIGHTS, BeatAccents
from .activation import BeatActivation, ModelFileError
from .beat import BeatTracker, OnsetLevel, flux_tracker, joint_tracker, learned_tracker
from .gate_source import SourceGate
from .meter import MeterTracker
from .onset import OnsetDetector
from .presence import PresenceGatedActivation, activation_for_rate

FPS = 50


class Listener:
    def __init__(self, samplerate: int = 0, slack_sec: float = 0.015,
                 beat_model=None, meter_weights: tuple[float, float, float] | None = None,
                 auto: bool = False, band: bool = False) -> None:
        self.detector = OnsetDetector(samplerate, fps=FPS) if samplerate else None
        # a block that completes no frame is only copied aside (bound once: per-block cost)
        self._stash = self.detector.spectrum.stash if samplerate else None
        self.activation: BeatActivation | PresenceGatedActivation | None = None
        self.model_error = ""
        if samplerate and beat_model is not None:
            try:
                self.activation = activation_for_rate(beat_model, samplerate)
            except ModelFileError as exc:
                self.model_error = f"{exc}; tracking beats on the spectral flux"
        # audio: the flux's tracker (flux_tracker); MIDI: BeatTracker's defaults
        make_flux = flux_tracker if samplerate else BeatTracker
        self.tracker = learned_tracker(FPS) if self.activation else make_flux(FPS)
        # auto: the flux's tracker and the learned one run side by side until the gate has
        # heard enough to choose (gate_source.py); then only the chosen one
        # band: the auto listener with its gate pinned to the joint tracker from the start
        self.auto = (auto or band) and self.activation is not None
        self.gate = SourceGate()
        if band and self.auto:
            self.gate.pin("joint")
        if self.auto:
            self.learned_tracker, self.flux_tracker = self.tracker, make_flux(FPS)
            self.joint_tracker = joint_tracker(FPS)  # (a band: on both activations)
            self.tracker = self.flux_tracker
        self.meter = MeterTracker()
        # the meter's cues (``meter_weights``: another weighting, for bench/meter_weights.py)
        self.accents = BeatAccents(self.detector.spectrum.band_hz,
                                   weights=meter_weights or WEIGHTS) if samplerate else None
        self.note_accents = BeatAccents(np.zeros(1), weights=meter_weights or MIDI_WEIGHTS)
        self._beat_frames = (-1, -1)  # frames of the last two beats (flux path)
        self.onset_level = OnsetLevel()  # onsets from the flux when beats come from the model
        self.positions: list[int] = []  # bar position of each beat in ``beats`` (0: unknown)
        self.slack_sec = slack_sec
        self._impulses = np.zeros(1024)  # MIDI impulses by frame (ring, clock mode)
        self._one = np.zeros(1)
        self._downs = np.zeros(16)  # the learned downbeat probability of the last frames (ring)
        self.beats: list[float] = []  # beat times committed since the last take_beats()
        self.onsets: list[tuple[float, float]] = []  # (t_sec, strength 0..1) since then
        self.t0_sec: float | None = None  # time of frame 0
        self._frames_done = 0
        self.last_strength = 0.0
        self.reset()

    def reset(self) -> None:
        """Forget everything heard (also the constructor's last step)."""
        self.tracker.reset()
        self.gate.reset()
        if self.auto:
            self.learned_tracker.reset()
            self.flux_tracker.reset()
            self.joint_tracker.reset()
            self.tracker = self._chosen_tracker()
        self._last_beat = -(10**9)
        # the flux, learned and joint tracker: the frame their frame 0 is (one restarted for a
        # trial counts from its restart)
        self._origin = [0, 0, 0]
        if self.detector is not None:
            self.detector.reset()
        if self.activation is not None:
            self.activation.reset()
        self.meter.reset()
        if self.accents is not None:
            self.accents.reset()
        self.note_accents.reset()
        self._beat_frames = (-1, -1)
        self.onset_level.reset()
        self._impulses[:] = 0.0
        self._downs[:] = 0.0
        self.beats.clear()
        self.positions.clear()
        self.t0_sec = None
        self._frames_done = 0

    def start(self, t0_sec: float) -> None:
        if self.t0_sec is None:
            self.t0_sec = t0_sec

    def note_on(self, t_sec: float, velocity: int, pitch: int = 60) -> None:
        """A MIDI note-on: an impulse in its frame (clock mode) or the next audio frame."""
        if self.detector is not None:
            self.detector.add_impulse(velocity / 127.0)
            return
        self.start(t_sec)
        frame = int(round((t_sec - self.t0_sec) * FPS))
        if frame < self._frames_done:  # late beyond the slack: it joins the next frame
            frame = self._frames_done
        if frame - self._frames_done >= len(self._impulses):
            return  # stamped further ahead than the ring reaches: not a played note
        self._impulses[frame % len(self._impulses)] += velocity / 127.0
        self.note_accents.note(frame, pitch, velocity / 127.0)

    def advance(self, now: float) -> None:
        """Clock mode: run the tracker over the frames that are complete by ``now``."""
        if self.detector is not None or self.t0_sec is None:
            return
        last = int((now - self.slack_sec - self.t0_sec) * FPS)
        ring = self._impulses
        while self._frames_done <= last:
            k = self._frames_done % len(ring)
            self._one[0] = ring[k]
            ring[k] = 0.0
            self.last_strength = self._one[0]
            for f in self.tracker.process(self._one):
                self.beats.append(self.t0_sec + (f + self.tracker.lag_frames) / FPS)
                self.positions.append(self._bar_position(self.note_accents, f))
            for f, act in self.tracker.onsets_out:
                self.onsets.append((self.t0_sec + f / FPS, act))
            self._frames_done += 1

    def audio(self, block: np.ndarray, t_block_sec: float, first_frame: int,
              samplerate: int) -> None:
        """Audio mode: feed one block (starting at ``t_block_sec``)."""
        if self.detector is None:
            return
        if self.t0_sec is None:
            self.t0_sec = t_block_sec - first_frame / samplerate
        if self._stash(block):
            return  # no frame completed (six blocks in seven at 128 samples)
        strengths = self.detector.process(block)
        if not len(strengths):
            return
        self.last_strength = float(strengths[-1])
        if self.activation is None:
            self._flux_beats(strengths)
            return
        if self.auto:
            self._auto_beats(strengths)
            return
        act = self.activation.process(self.detector.last_bands)
        n_before = self.detector.n_frames - len(act)
        for k in range(len(strengths)):
            a = self.onset_level.onset(float(strengths[k]))
            if a > 0.0:
                self.onsets.append((self.t0_sec + self.detector.frame_time_sec(n_before + k), a))
        ring = self._downs
        for k in range(len(act)):
            frame = n_before + k
            ring[frame % len(ring)] = act[k, 1]
            # the onset stream stays the flux's; the beats follow the learned activation
            for f in self.tracker.process(act[k:k + 1, 0]):
                self.beats.append(self._beat_time_sec(f))
                self.positions.append(self.meter.beat(self._downbeat_probability(f, frame)))

    def _beat_time_sec(self, f: int) -> float:
        """Audio: the time of a beat the current tracker committed at frame ``f`` (plus its
        ``lag_sec``: where its beat frames fall before the beats, on average)."""
        return self.t0_sec + self.detector.frame_time_sec(f) + self.tracker.lag_sec

    def _downbeat_probability(self, f: int, frame: int) -> float:
        """Learned path: the network's downbeat probability for a beat committed at frame
        ``frame`` whose beat frame is ``f``: the larger of frame ``f`` and the one after (the
        beat itself: ``lag_frames``) if heard yet -- held-out training clips: downbeat F 0.475
        -> 0.499, meter 0.863 -> 0.892 against ``f`` and the frame before. From a ring of the
        last frames, so any block size gives the same; older than the ring: ``frame``'s."""
        ring = self._downs
        if frame - f >= len(ring) - 1:
            return float(ring[frame % len(ring)])
        down = ring[f % len(ring)]
        if f + 1 <= frame:
            down = max(down, ring[(f + 1) % len(ring)])
        return float(down)

    def _flux_beats(self, strengths: np.ndarray) -> None:
        """Beats on the spectral flux, frame by frame, each with its position in the bar
        from the audio's accents (known from the 7th beat on; 0 before)."""
        det, acc = self.detector, self.accents
        bands, low = det.last_bands, det.low_out
        n_before = det.n_frames - len(strengths)
        for k in range(len(strengths)):
            acc.frame(n_before + k, bands[k], strengths[k], low[k])
            for f in self.tracker.process(strengths[k:k + 1]):
                self.beats.append(self._beat_time_sec(f))
                self.positions.append(self._bar_position(acc, f))
            for f, a in self.tracker.onsets_out:
                self.onsets.append((self.t0_sec + det.frame_time_sec(f), a))

    def _auto_beats(self, strengths: np.ndarray) -> None:
        """The activations the gate asks for (both while it decides or one warms up), the
        beats of the one it chose; onsets and bar positions from the flux and the audio's
        accents either way."""
        det, acc, gate = self.detector, self.accents, self.gate
        bands, low = det.last_bands, det.low_out
        n_before = det.n_frames - len(strengths)
        act = self.activation.process(bands) if gate.run_learned else None
        one = len(strengths) == 1  # (the engine's blocks: no slices to make)
        for k in range(len(strengths)):
            frame = n_before + k
            strength = strengths if one else strengths[k:k + 1]
            acc.frame(frame, bands[k], strengths[k], low[k])
            a = self.onset_level.onset(float(strengths[k]))
            if a > 0.0:
                self.onsets.append((self.t0_sec + det.frame_time_sec(frame), a))
            flux_beats = self.flux_tracker.process(strength) if gate.run_flux else ()
            learned_beats = joint_beats = ()
            if act is not None:
                probs = act[k:k + 1, 0]
                if gate.run_learned_tracker:
                    learned_beats = self.learned_tracker.process(probs)
                if gate.run_joint:
                    joint_beats = self.joint_tracker.process(strength, probs)
            if self.tracker is self.learned_tracker:
                committed, origin = learned_beats, self._origin[1]
            elif self.tracker is self.joint_tracker:
                committed, origin = joint_beats, self._origin[2]
            else:
                committed, origin = flux_beats, self._origin[0]
            if committed and not gate.decided and not self.learned_tracker.hearing:
                committed = ()  # steady noise: the flux finds "onsets", the network nothing
            for f in committed:
                f += origin  # a tracker restarted for a trial counts from its restart
                if f - self._last_beat >= 0.5 * self.tracker.period_frames:  # not twice
                    self._last_beat = f
                    self.beats.append(self._beat_time_sec(f))
                    self.positions.append(self._bar_position(acc, f))
            event = gate.add(float(strengths[k]), float(act[k, 0]) if act is not None else None,
                             float(det.high_out[k]))
            if not event:
                continue
            if event == "trial":  # the others start afresh, from the next frame
                act = self._start_trial(frame, bands, k, act)
            self.tracker = self._chosen_tracker()
            if not gate.run_learned:
                act = None

    def _chosen_tracker(self) -> BeatTracker:
        """The auto listener's tracker whose beats count now (the gate's ``source``)."""
        return getattr(self, self.gate.source + "_tracker")

    def _start_trial(self, frame: int, bands: np.ndarray, k: int, act):
        """A trial begins after ``frame`` (row ``k`` of this block's ``bands``): every tracker
        but the current one restarts (and the network, if it was not running); returns the
        network's output for this block (None if it does not run)."""
        source = self.gate.source
        if source != "flux":
            self.flux_tracker.reset()
            self._origin[0] = frame + 1
        if source != "learned":
            self.learned_tracker.reset()
            self._origin[1] = frame + 1
        if source != "joint":
            self.joint_tracker.reset()
            self._origin[2] = frame + 1
        if source == "flux":
            self.activation.reset()
            # the network's state must see every frame from now on: run it on the rest of
            # this block too (rows up to k, already read, become 0)
            act = self.activation.process(bands, start=k + 1)
        return act

    def _bar_position(self, accents: BeatAccents, f: int) -> int:
        """A beat committed at frame ``f``: the evidence of the beat before it is complete
        now; return this beat's position in the bar (0 until the meter is known)."""
        f1, f2 = self._beat_frames
        evidence = None if f2 < 0 else accents.evidence(f1 if f1 >= 0 else f2, f2, f)
        self._beat_frames = (f2, f)
        return self.meter.beat_after(evidence)

    def take_beats(self) -> list[float]:
        out = list(self.beats)
        self.beats.clear()
        self.positions.clear()
        return out

    def take_onsets(self) -> list[tuple[float, float]]:
        out = list(self.onsets)
        self.onsets.clear()
        return out
