"""A causal beat tracker: a bar-pointer state space over (beat period, position in the beat),
filtered forward frame by frame (no look-ahead, no revision), on an onset-strength stream.

Each state is a beat period ``T`` (frames per beat, every integer between the fastest and
the slowest tempo) and a position ``p`` in ``0..T-1``. The pointer advances one position per
frame; at the end of a beat it may move to a neighbouring period (probability falling with
the tempo ratio, ``transition_lambda``). Frames in the first ``1/observation_lambda`` of a beat
are "beat" states: they are likely where the onset activation is high. The forward
probabilities, the adaptive level and the beat decisions are one numba ``nogil`` kernel call
per block of frames (``_track``), with every buffer made once.

A beat is committed when the most probable state passes the end of a beat; the tracker also
says when it expects the next one (``next_beat_frame``), its tempo, phase and confidence.
"""

from __future__ import annotations

import collections

import numba
import numpy as np


@numba.njit(nogil=True, cache=True, fastmath={"reassoc"})
def _sum(a):
    """Sum in any order (vectorised; a sum of probabilities, within a few ulps of in-order)."""
    total = 0.0
    for k in range(a.shape[0]):
        total += a[k]
    return total


@numba.njit(nogil=True, cache=True, fastmath={"nnan", "ninf"})
def _max(a):
    """The largest of ``a`` (exact in any order; vectorised: ``a`` holds no NaN or inf)."""
    m = -1.0
    for k in range(a.shape[0]):
        m = max(m, a[k])
    return m


@numba.njit(nogil=True, cache=True)
def _first_index(a, v):
    """The first index where ``a`` equals ``v`` (0 if none)."""
    for k in range(a.shape[0]):
        if a[k] == v:
            return k
    return 0


@numba.njit(nogil=True, cache=True)
def _forward_step(fwd, new, intervals, first, trans, act, weight, silent_w, has2, act2,
                  weight2, silent_w2, tempo_w, boundary, arriving, init):
    """One frame of forward filtering; returns the index of the most probable state. If no
    state can explain the frame (every probability 0: an activation of exactly 1 where the
    model allows none), the filter starts again from ``init`` instead of staying 0 for good.
    With ``has2``, ``act2`` is a second activation with its own observation model
    (``weight2``, ``silent_w2``). The loops are laid out to vectorise: each state's
    probability is computed as the plain formula computes it, only the normaliser is summed
    in another order (``_sum``); 5.3 -> 3.4 us a frame."""
    n_int = intervals.shape[0]
    # probability leaving each beat end, and arriving at each beat start
    for i in range(n_int):
        boundary[i] = fwd[first[i] + intervals[i] - 1]
        arriving[i] = 0.0
    for j in range(n_int):
        b = boundary[j]
        for i in range(n_int):
            arriving[i] += b * trans[j, i]
    # the pointer moves on one position; a beat's start takes what arrives
    for i in range(n_int - 1, -1, -1):
        base = first[i]
        for k in range(base + intervals[i] - 1, base, -1):
            new[k] = fwd[k - 1]
        new[base] = arriving[i]
    # observation: how likely an onset (act) or a gap (1 - act) is at each position
    gap = 1.0 - act
    if has2:
        gap2 = 1.0 - act2
        for k in range(new.shape[0]):
            new[k] = (new[k] * (act * weight[k] + gap * silent_w[k])
                      * (act2 * weight2[k] + gap2 * silent_w2[k]) * tempo_w[k])
    else:  # (the second factor would be exactly 1)
        for k in range(new.shape[0]):
            new[k] = new[k] * (act * weight[k] + gap * silent_w[k]) * tempo_w[k]
    total = _sum(new)
    if not total > 0.0:
        for k in range(new.shape[0]):
            new[k] = init[k]
        total = 1.0
    inv = 1.0 / total
    for k in range(new.shape[0]):
        fwd[k] = new[k] * inv
    return _first_index(fwd, _max(fwd))  # (the first of equals, as a strict ">" scan)


@numba.njit(nogil=True, cache=True)
def _level_step(x, level, held, floor, scale, hold):
    """``OnsetLevel``'s step (the tracker's kernel takes it too): onset strength ``x`` against
    the running ``level`` -> (the activation held, the new level)."""
    x = x if x == x else 0.0  # NaN -> 0
    # (starting from 0, so the first seconds are all onsets: a running mean from the first
    # frame instead cost 0.07 F on the development set, 0.27 on its loops)
    level = 0.995 * level + 0.005 * x
    # above the running level (the noise of ringing notes) counts, in units of the level
    a = (x - floor * level) / (scale * level + 1e-9) if x > 1e-6 else 0.0
    a = 0.0 if a < 0.0 else (a if a < 1.0 else 1.0)
    return max(a, hold * held), level


# the tracker's scalar state between calls (``_track``'s ``state`` array, float64)
FRAME, LAST_POS, LAST_BEAT, LAST_ONSET, BEST, LEVEL, HELD, N_STATE = range(8)
# its settings (``params``)
ADAPTIVE, FLOOR, SCALE, HOLD, THRESHOLD, THRESHOLD2, HOLD_BEATS, N_PARAMS = range(8)
# the rows of its per-state arrays (``per_state``)
FWD, NEW, WEIGHT, SILENT, WEIGHT2, SILENT2, TEMPO, INIT = range(8)


@numba.njit(nogil=True, cache=True)
def _track(xs, xs2, has2, state, params, per_state, state_ints, periods, per_period, trans,
           frames_out, onset_acts):
    """``BeatTracker.process`` over a block of frames in one call: the adaptive level
    (``OnsetLevel.process``, the same arithmetic), the onset edges, the forward step and the
    beat decisions. The arrays come packed in rows (a call unboxes each argument: 23 of them
    cost 1.3 us more than these 12): ``per_state`` the rows FWD .. INIT, ``state_ints`` each
    state's position and period index, ``periods`` the periods and their first states,
    ``per_period`` two buffers. Writes the beats committed to ``frames_out[0]`` and the onsets
    to ``frames_out[1]`` / ``onset_acts``; returns (number of beats, number of onsets)."""
    fwd, new = per_state[FWD], per_state[NEW]
    weight, silent_w = per_state[WEIGHT], per_state[SILENT]
    weight2, silent_w2 = per_state[WEIGHT2], per_state[SILENT2]
    tempo_w, init = per_state[TEMPO], per_state[INIT]
    state_pos, state_interval = state_ints[0], state_ints[1]
    intervals, first = periods[0], periods[1]
    boundary, arriving = per_period[0], per_period[1]
    beats_out, onset_frames = frames_out[0], frames_out[1]
    adaptive = params[ADAPTIVE] != 0.0
    floor, scale, hold = params[FLOOR], params[SCALE], params[HOLD]
    threshold, threshold2, hold_beats = params[THRESHOLD], params[THRESHOLD2], params[HOLD_BEATS]
    frame = int(state[FRAME])
    last_pos = int(state[LAST_POS])
    last_beat = state[LAST_BEAT]
    last_onset = state[LAST_ONSET]
    level, held = state[LEVEL], state[HELD]
    best = int(state[BEST])
    n_beats = 0
    n_onsets = 0
    for k in range(xs.shape[0]):
        x = float(xs[k])
        if adaptive:
            held, level = _level_step(x, level, held, floor, scale, hold)
            act = held
        else:
            act = 0.0 if not x > 0.0 else (x if x < 1.0 else 1.0)  # NaN -> 0
        act2 = 0.0
        if has2:
            act2 = float(xs2[k])
            act2 = 0.0 if not act2 > 0.0 else (act2 if act2 < 1.0 else 1.0)
        if act > threshold or act2 > threshold2:
            if last_onset < frame - 1:  # rising edge: an onset
                onset_frames[n_onsets] = frame
                onset_acts[n_onsets] = act
                n_onsets += 1
            last_onset = frame
        best = _forward_step(fwd, new, intervals, first, trans, act, weight, silent_w, has2,
                             act2, weight2, silent_w2, tempo_w, boundary, arriving, init)
        pos = state_pos[best]
        period = intervals[state_interval[best]]
        beat_frame = frame - pos  # the pointer crossed the beat `pos` frames ago
        heard = frame - last_onset < hold_beats * period  # not silence (``hearing``)
        if pos < last_pos and beat_frame - last_beat > 0.6 * period and heard:
            beats_out[n_beats] = beat_frame
            n_beats += 1
            last_beat = beat_frame
        last_pos = pos
        frame += 1
    state[FRAME] = frame
    state[LAST_POS] = last_pos
    state[LAST_BEAT] = last_beat
    state[LAST_ONSET] = last_onset
    state[LEVEL] = level
    state[HELD] = held
    state[BEST] = best
    return n_beats, n_onsets


class OnsetLevel:
    """Onset strengths of any scale -> activations in (0, 1): an adaptive level (a slow
    average with a floor, so near-silence does not blow up into strong activations), and a
    causal hold of each peak for a few frames. ``onset(x)`` says whether a frame starts an
    onset (rising through 0.5)."""

    def __init__(self, floor: float = 1.0, scale: float = 2.0, hold: float = 0.3) -> None:
        self.floor, self.scale, self.hold = float(floor), float(scale), float(hold)
        self.reset()
        self.process(0.0)  # compile/load the kernel now, not on the audio path
        self.reset()

    def reset(self) -> None:
        self._level = 0.0
        self._held = 0.0
        self._above = False

    def process(self, x: float) -> float:
        self._held, self._level = _level_step(float(x), self._level, self._held, self.floor,
                                              self.scale, self.hold)
        return self._held

    def onset(self, x: float) -> float:
        """The activation if this frame starts an onset, else 0."""
        a = self.process(x)
        start = a > 0.5 and not self._above
        self._above = a > 0.5
        return a if start else 0.0


class BeatTracker:
    """``process(activations) -> list of beat frame indices committed``. Engine thread.

    With ``adaptive`` (the default, for onset strengths of any scale: spectral flux, MIDI
    impulses) the input is normalised to (0, 1) by an adaptive level, so silence stays silence
    and loud passages do not saturate; without it the input is taken as a beat probability
    (the learned activation) and only clipped to (0, 1).
    """

    def __init__(self, fps: int = 50, min_bpm: float = 50.0, max_bpm: float = 220.0,
                 transition_lambda: float = 30.0, beat_frames: int = 2, hold: float = 0.3,
                 onset_p: tuple[float, float, float, float] = (1.0, 0.3, 0.2, 0.2),
                 observation_lambda: float = 16.0, beat_gap_cost: float = 0.3,
                 prior_strength: float = 1.0,
                 prior_bpm: float = 90.0, prior_octaves: float = 0.6, floor: float = 1.0,
                 scale: float = 2.0, hold_beats: float = 4.0, adaptive: bool = True,
                 onset_threshold: float = 0.5, lag_frames: float = 0.0,
                 second: dict | None = None) -> None:
        self.fps = fps
        # how many frames the committed beat frames fall before the beats they mark, on
        # average: whoever turns a beat frame into a time adds ``lag_sec``
        self.lag_frames = lag_frames
        self.lag_sec = lag_frames / fps
        self.adaptive = adaptive  # False: the input is already a probability (learned)
        self.onset_threshold = onset_threshold
        lo = int(np.floor(60.0 * fps / max_bpm))
        hi = int(np.ceil(60.0 * fps / min_bpm))
        self.intervals = np.arange(lo, hi + 1, dtype=np.int64)
        self.first = np.concatenate([[0], np.cumsum(self.intervals)[:-1]]).astype(np.int64)
        n_states = int(self.intervals.sum())
        ratio = self.intervals[None, :] / self.intervals[:, None]
        trans = np.exp(-transition_lambda * np.abs(ratio - 1.0))
        self.trans = trans / trans.sum(axis=1, keepdims=True)
        bpm = 60.0 * fps / self.intervals
        prior = np.exp(-0.5 * (np.log2(bpm / prior_bpm) / prior_octaves) ** 2)
        self._init = np.repeat(prior / self.intervals, self.intervals)
        self._init /= self._init.sum()
        self.hold = hold
        self.floor = floor
        self.hold_beats = hold_beats  # go on committing beats this long after the last onset
        self.scale = scale
        self.fwd = np.zeros(n_states)
        self._new = np.zeros(n_states)
        self._state_interval = np.repeat(np.arange(len(self.intervals)), self.intervals)
        self._state_pos = np.concatenate([np.arange(t) for t in self.intervals])
        self.weight, self.silent_w = self._observation(onset_p, observation_lambda,
                                                       beat_frames, beat_gap_cost)
        # a second activation, if any (``second``: its onset_p, observation_lambda,
        # beat_frames, beat_gap_cost and onset_threshold), weighs each state by its own
        # observation model too; without one, its factor is 1
        self.has_second = second is not None
        if second is None:
            self.weight2 = self.silent_w2 = np.ones(n_states)
            self.onset_threshold2 = 1.0
        else:
            self.weight2, self.silent_w2 = self._observation(
                second["onset_p"], second["observation_lambda"], second["beat_frames"],
                second["beat_gap_cost"])
            self.onset_threshold2 = second["onset_threshold"]
        # the tempo prior, spread over each beat's frames so that no tempo is favoured for
        # simply having more (or fewer) beats per second
        self.tempo_w = np.repeat(prior ** (prior_strength / self.intervals), self.intervals)
        self._state = np.zeros(N_STATE)
        self._params = np.zeros(N_PARAMS)
        self._params[[ADAPTIVE, FLOOR, SCALE, HOLD, THRESHOLD, THRESHOLD2, HOLD_BEATS]] = (
            float(adaptive), floor, scale, hold, onset_threshold, self.onset_threshold2,
            hold_beats)
        # the kernel's arrays, packed into rows; the attributes become views of them
        self._per_state = np.stack([self.fwd, self._new, self.weight, self.silent_w,
                                    self.weight2, self.silent_w2, self.tempo_w, self._init])
        (self.fwd, self._new, self.weight, self.silent_w, self.weight2, self.silent_w2,
         self.tempo_w, self._init) = self._per_state
        self._state_ints = np.stack([self._state_pos, self._state_interval]).astype(np.int64)
        self._state_pos, self._state_interval = self._state_ints
        self._periods = np.stack([self.intervals, self.first]).astype(np.int64)
        self.intervals, self.first = self._periods
        self._per_period = np.zeros((2, len(self.intervals)))  # boundary, arriving
        self._frames_out = np.zeros((2, 64), dtype=np.int64)  # a block's beats and onsets
        self._beat_frames, self._onset_frames = self._frames_out
        self._onset_acts = np.zeros(64)
        self._no_second = np.zeros(64)
        self.beats_out: list[int] = []
        self.onsets_out: list[tuple[int, float]] = []  # (frame, activation) this call
        self.reset()
        # compile/load the kernel now, not on the audio path
        self.process(np.zeros(1), np.zeros(1) if self.has_second else None)
        self.reset()

    def _observation(self, onset_p, observation_lambda, beat_frames, beat_gap_cost):
        """Likelihood of an onset at each state: on the beat, the half beat, the quarter beats,
        elsewhere; and of a gap: 1/(lambda-1) everywhere (gaps are cheap, as in madmom's
        model) but on the beat, where a gap costs ``beat_gap_cost`` more."""
        p_beat, p_half, p_quarter, p_else = onset_p
        n_states = self.fwd.shape[0]
        w = np.full(n_states, p_else)
        gap = np.full(n_states, 1.0 / (observation_lambda - 1.0))
        for i, t in enumerate(self.intervals):
            base = self.first[i]
            for start, p in ((t // 4, p_quarter), (3 * t // 4, p_quarter), (t // 2, p_half),
                             (0, p_beat)):
                w[base + start:base + min(t, start + beat_frames)] = p
            gap[base:base + min(t, beat_frames)] *= beat_gap_cost
        return w, gap

    def reset(self) -> None:
        self.fwd[:] = self._init
        self._state[:] = 0.0
        self._state[LAST_BEAT] = self._state[LAST_ONSET] = -(10**9)
        self._recent_beats: collections.deque = collections.deque(maxlen=4)
        self.n_beats = 0

    def process(self, onset_strengths: np.ndarray, second: np.ndarray | None = None
                ) -> list[int]:
        """Advance one frame per value; return the frames of beats committed now (a reused
        list). A tracker made with ``second`` takes that activation's values for the same
        frames (a beat probability, clipped to 0..1) in ``second``. One kernel call per
        block of at most 64 frames (``_track``)."""
        out = self.beats_out
        out.clear()
        self.onsets_out.clear()
        n = len(onset_strengths)
        if n <= 64:  # (the engine's blocks: one frame, passed as it is)
            self._run(onset_strengths, second)
            return out
        for lo in range(0, n, 64):
            hi = min(n, lo + 64)
            self._run(onset_strengths[lo:hi], None if second is None else second[lo:hi])
        return out

    def _run(self, xs: np.ndarray, xs2: np.ndarray | None) -> None:
        """``_track`` on at most 64 frames; the beats and onsets it found join the outputs."""
        n_beats, n_onsets = _track(
            xs, self._no_second if xs2 is None else xs2, xs2 is not None, self._state,
            self._params, self._per_state, self._state_ints, self._periods, self._per_period,
            self.trans, self._frames_out, self._onset_acts)
        for i in range(n_beats):
            f = int(self._beat_frames[i])
            self.beats_out.append(f)
            self._recent_beats.append(f)
        self.n_beats += n_beats
        for i in range(n_onsets):
            self.onsets_out.append((int(self._onset_frames[i]), float(self._onset_acts[i])))

    @property
    def frame(self) -> int:
        """How many frames have been processed."""
        return int(self._state[FRAME])

    @property
    def best_state(self) -> int:
        """The most probable state after the last frame."""
        return int(self._state[BEST])

    @property
    def period_frames(self) -> int:
        return int(self.intervals[self._state_interval[self.best_state]])

    @property
    def tempo_bpm(self) -> float:
        """Tempo from the last beats committed (finer than the integer frame periods of
        the state space), or the most probable period before there are enough."""
        recent = self._recent_beats
        if len(recent) == recent.maxlen:
            ibi = (recent[-1] - recent[0]) / (len(recent) - 1)
            if 0.8 * self.period_frames <= ibi <= 1.25 * self.period_frames:
                return 60.0 * self.fps / ibi
        return 60.0 * self.fps / self.period_frames

    @property
    def phase(self) -> float:
        """Position in the current beat, 0..1 (0 on the beat itself, ``lag_frames`` after the
        pointer crossed it)."""
        period = self.period_frames
        return ((float(self._state_pos[self.best_state]) - self.lag_frames) / period) % 1.0

    @property
    def next_beat_frame(self) -> int:
        """The frame at which the next beat is expected (``lag_frames`` after the pointer
        crosses it). ``frame`` counts the frames processed: the last one is ``frame - 1``."""
        ahead = self.period_frames - int(self._state_pos[self.best_state])
        return self.frame - 1 + ahead + int(round(self.lag_frames))

    @property
    def hearing(self) -> bool:
        """Whether an onset (an activation above ``onset_threshold``) came in the last
        ``hold_beats`` beats."""
        return (self._state[FRAME] - self._state[LAST_ONSET]
                < self.hold_beats * self.period_frames)

    @property
    def confidence(self) -> float:
        """Probability mass of the most probable tempo and its neighbours (0..1); 0 once the
        player has been silent longer than ``hold_beats``."""
        if not self.hearing:
            return 0.0
        i = int(self._state_interval[self.best_state])
        lo, hi = max(0, i - 2), min(len(self.intervals) - 1, i + 2)
        return float(self.fwd[self.first[lo]:self.first[hi] + self.intervals[hi]].sum())


# the audio flux tracker's tempo prior (flux_tracker); BeatTracker's own is 90 BPM, 0.6 octave
PRIOR_BPM, PRIOR_OCTAVES = 110.0, 0.8


def flux_tracker(fps: int = 50, **overrides) -> BeatTracker:
    """The tracker set for an audio player's spectral flux: ``BeatTracker``'s defaults (found on
    the development set; the MIDI path keeps them) with the tempo prior centred at 110 BPM,
    0.8 octave wide, instead of 90 and 0.6. Chosen on the held-out LMMS songs
    (``bench/beats_songs.py --source lmms``), where the 90 BPM prior took songs of 140-200 BPM
    at half their tempo (flux-only F 0.508 -> 0.620; the development set 0.664 -> 0.647);
    checked on the recorded loops and songs no choice was made on (bench/BEATS.md)."""
    params = dict(prior_bpm=PRIOR_BPM, prior_octaves=PRIOR_OCTAVES)
    params.update(overrides)
    return BeatTracker(fps=fps, **params)


# the learned tracker's observation model (learned_tracker), for a tracker on both activations
LEARNED_OBSERVATION = dict(onset_p=(1.0, 0.0, 0.0, 0.0), beat_gap_cost=0.2, beat_frames=2,
                           observation_lambda=4.0, onset_threshold=0.3)


def joint_tracker(fps: int = 50, **overrides) -> BeatTracker:
    """One tracker on both activations at once: the flux tracker's state space, tempo prior
    and observation model for the spectral flux, times the learned tracker's for the network's
    beat probability (``process(flux, probabilities)``), so a beat is where both put it. For
    a band that the gate cannot call percussive or legato (unpeaked, with cymbals) and for
    music peaked, but not like a drum loop: on such windows of held-out clips it did better
    than the flux alone (bench/BEATS.md, "a band on both activations", "both activations for peaked
    music"). Its beats fall a frame early, as the learned tracker's do (``lag_frames``).
    """
    params = dict(prior_bpm=PRIOR_BPM, prior_octaves=PRIOR_OCTAVES, lag_frames=1.0,
                  second=LEARNED_OBSERVATION)
    params.update(overrides)
    return BeatTracker(fps=fps, **params)


def learned_tracker(fps: int = 50, **overrides) -> BeatTracker:
    """The tracker set for the learned activation (a beat probability per frame): onsets
    expected on the beat only, as in madmom's bar-pointer model."""
    # chosen by models/beat_tune.py --grid on held-out TRAINING clips (not the development
    # set): a beat frame without activation costs 0.2 of an off-beat one (was 1.0: no cost,
    # which let a slow legato piece's beats fall in gaps; F 0.907 -> 0.920, below 80 BPM
    # 0.732 -> 0.856), two beat frames, a likelier gap (1/(lambda - 1) = 1/3 instead of
    # 1/7) and slower tempo changes.
    # Its beat frames fall one frame early: median -20 ms on those clips (the flux tracker's:
    # 0 ms), since the two beat frames straddle the activation's peak and the pointer crosses
    # the beat on the first; hence lag_frames=1 (F 0.920 -> 0.924 there; models/beat_tune.py
    # prints the median offset)
    params = dict(adaptive=False, **LEARNED_OBSERVATION,
                  transition_lambda=15.0, prior_octaves=0.6, lag_frames=1.0)
    params.update(overrides)
    return BeatTracker(fps=fps, **params)
