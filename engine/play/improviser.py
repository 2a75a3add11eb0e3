"""The improviser: the model plays along with the player, frame by frame (4 frames a beat) on
the tempo map's grid, in the model's *react* order.

Frame ``f`` lies at beat ``f / 4``. It is decided as soon as the player's note for it has
arrived (the first note-on since the last decision, plus ``chord_sec`` to gather a chord), or
``deadline_sec`` after its grid time when none comes. Its melody token is the player's highest
new note (folded into the soprano range), else HOLD while that note is held, else REST; the
model then chooses bass, tenor and alto under the harmoniser's masks (ranges, no crossing, no
parallels, the key lock) and a density bias on holding. The notes sound at the frame's grid
time, or as soon as they can when the decision comes after it -- converted from beats to
seconds by the tempo map at the moment of the decision, so a tempo change moves every frame
not yet decided. A frame decided on the player's note sounds with that note (plus the
decision's latency, ~11 ms), even when it came before the grid time: the player leads.

Determinism: a decision depends only on the player's event timestamps and the tempo map, and
is taken once ``now`` passes the decision time plus ``react_slack_sec`` (for input that is read
a little late), so live and offline runs give the same notes for the same input and seed.

Call and response: in ``answer``/``both`` mode, when the player has rested for
``answer_after_beats`` after a phrase, the model also writes the melody (the player's voice)
for up to ``answer_max_beats`` (and at most as long as the phrase was), played on the ``answer``
role; the moment the player plays again the answer stops and the player's note takes its place.

Engine thread only (``process``, ``player``, the setters).
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass

import numpy as np

from ..config import ImproviserConfig
from ..stats import SampleLog
from .harmonize import HOLD, REST, VOICES, VoiceMasks, pitch_token
from .runtime import ModelRuntime

FRAMES_PER_BEAT = 4
S_LOW, S_HIGH = 55, 88  # the melody voice's range in the model's data
ROLE_OF_VOICE = {"B": "bass", "T": "chords", "A": "chords", "S": "answer"}
LEGATO_BEATS = 0.5  # a gap shorter than this in the player's melody is not a rest
COMPUTE_SEC = 0.008  # budget for a frame's decision: live p99 7.4 ms (bench/realtime.py)
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10, 11)  # harmonic and natural minor together
NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def scale_of(key: str) -> tuple[int, ...] | None:
    """``free``/``auto`` (until a key is detected) -> None (no lock); ``C``, ``F#m`` ... ->
    the allowed pitch classes."""
    if key in ("free", "auto"):
        return None
    minor = key.endswith("m")
    tonic = NAMES.index(key[:-1] if minor else key)
    return tuple(sorted((tonic + i) % 12 for i in (MINOR if minor else MAJOR)))


def fold(pitch: int, low: int = S_LOW, high: int = S_HIGH) -> int:
    while pitch < low:
        pitch += 12
    while pitch > high:
        pitch -= 12
    return pitch


@dataclass
class NoteEvent:
    """A note the improviser asks the engine to send (velocity 0: its note-off)."""

    t_sec: float  # when to sound (react mode) ...
    role: str
    pitch: int
    velocity: int
    beat: float = -1.0  # ... or at this beat (plan mode), converted by the engine at the last
    #                    moment (so a tempo change still moves it); -1: use t_sec


class Improviser:
    def __init__(self, cfg: ImproviserConfig, runtime: ModelRuntime, beats_per_bar: int = 4,
                 seed: int = 0) -> None:
        if runtime.order != "react":
            raise ValueError(f"the improviser runs the react-order model (got {runtime.order})")
        self.cfg = cfg
        self.rt = runtime
        self.seed = seed
        self.bar_frames = beats_per_bar * FRAMES_PER_BEAT
        self.masks = VoiceMasks(runtime.vocab_size, scale_of(cfg.key))
        self.detected_key = ""
        self._melody_mask = np.zeros(runtime.vocab_size, dtype=bool)
        self._melody_mask[REST] = True
        self._melody_mask[pitch_token(S_LOW):pitch_token(S_HIGH) + 1] = True
        self._events: collections.deque = collections.deque()  # (t_sec, pitch, velocity)
        self.decide_sec = SampleLog()  # wall time of each frame's decision (model + masks)
        self.reprime_sec = SampleLog()  # wall time of each cache swap on the decision path
        self.out: list[NoteEvent] = []
        self.reset()

    # -- state ------------------------------------------------------------------------------
    def reset(self) -> None:
        """A new performance: forget the context too."""
        self.rt.reset()
        self.rng = np.random.default_rng(self.seed)
        self._logits = None
        self.next_frame_total = 0
        self.restart()

    def restart(self) -> None:
        """The player starts again (beat 0 re-anchored): frames restart at 0, the model keeps
        what it heard before."""
        self.next_frame = 0
        self.sounding: dict[str, int | None] = {v: None for v in VOICES}
        self._sent: dict[str, int | None] = {v: None for v in VOICES}  # pitch we sent per voice
        self._events.clear()
        self._held: collections.Counter = collections.Counter()  # player's pitches held
        self._s_orig: int | None = None  # the player's note that is the melody now
        self._s_off_t = float("-inf")  # when it was let go
        self._last_on_t = float("-inf")
        self._phrase_start_t = None
        self._answer_frames = 0
        self._anchor = (-(10**9), 0.0)  # (frame, t_sec) of the last frame the player played
        self._real = 0  # plan mode: the next frame whose real melody is not known yet
        self._first_real_t = float("inf")  # nothing is committed before the first note
        self._plan: dict[int, list] = {}  # frame -> [tokens in voice order..., answer?]
        self._pos_at: dict[int, int] = {}  # frame -> context position at its start
        self._snap: dict[int, dict] = {}  # frame -> sounding pitches at its start
        self._logits_at: dict[int, np.ndarray | None] = {}
        self._dirty = 1 << 60  # first committed frame whose melody changed (to re-feed)
        self.answering = False
        self.reason = "waiting for the player"

    def set_key(self, key: str) -> None:
        """A key lock from a control (``free``, ``auto``, ``C``, ``Am`` ...)."""
        self.cfg.key = key
        self.detected_key = ""
        self.masks = VoiceMasks(self.rt.vocab_size, scale_of(key))

    def detect_key(self, key: str) -> None:
        """``auto``: the key the engine detects from the player's notes (engine thread, once
        a beat); the masks are rebuilt only when it changes."""
        if self.cfg.key == "auto" and key != self.detected_key:
            self.detected_key = key
            self.masks = VoiceMasks(self.rt.vocab_size, scale_of(key))

    # -- input (engine thread, stamp order) --------------------------------------------------
    def player(self, t_sec: float, pitch: int, velocity: int) -> None:
        """A player note-on (velocity > 0) or note-off (velocity 0)."""
        self._events.append((t_sec, pitch, velocity))

    # -- deciding ---------------------------------------------------------------------------
    def process(self, now: float, tempo) -> list[NoteEvent]:
        """Decide every frame whose time has come by ``now``; return the notes to send (a
        reused list): react mode with ``commit_beats == 0``, else plan mode."""
        self.out.clear()
        if self.cfg.commit_beats > 0 or self._real < self.next_frame:
            self._process_plan(now, tempo)  # (also finishes frames committed ahead)
        else:
            self._process_react(now, tempo)
        return self.out

    def _timing(self, f: int, tempo) -> tuple[float, float, bool, float, float]:
        """Frame ``f``: (grid time, seconds per beat, played?, player's note time, decision
        time). The decision falls on the player's first new note-on (+ ``chord_sec``) or at
        ``deadline_sec`` after the grid time."""
        cfg = self.cfg
        t_f = tempo.t_sec(f / FRAMES_PER_BEAT)
        spb = tempo.t_sec((f + FRAMES_PER_BEAT) / FRAMES_PER_BEAT) - t_f
        f_a, t_a = self._anchor
        if 0 < f - f_a < FRAMES_PER_BEAT:
            # less than a beat since the player's last note: count the grid from it
            # (fresher than the tracker's smoothed grid when the player bends the time)
            t_f = t_a + (f - f_a) * spb / FRAMES_PER_BEAT
        first_on = next((e[0] for e in self._events if e[2] > 0), None)
        played = first_on is not None and first_on < t_f + cfg.deadline_sec
        t_dec = first_on + cfg.chord_sec if played else t_f + cfg.deadline_sec
        return t_f, spb, played, first_on if played else t_f, t_dec

    def _process_react(self, now: float, tempo) -> None:
        cfg = self.cfg
        while True:
            f = self.next_frame
            t_f, spb, played, t_on, t_dec = self._timing(f, tempo)
            if now < t_dec + cfg.react_slack_sec:
                return
            t_ready = t_dec + cfg.react_slack_sec + COMPUTE_SEC  # the soonest we can sound
            # with the player's note: with it, even if it came before the grid (the player
            # leads); without: on the grid, or as soon as we can after it
            if played:
                t_note = t_ready
                self._set_anchor(f, t_on, tempo)
            else:
                t_note = max(t_f, t_ready)
            t0 = time.perf_counter()
            s_tok, answer = self._melody(t_dec, t_note, spb)
            self._generate(f, s_tok, answer, t_note, -1.0, spb)
            self.decide_sec.add(time.perf_counter() - t0)
            self.next_frame = self._real = f + 1
            self.next_frame_total += 1
            self._housekeeping()

    def _housekeeping(self) -> None:
        """Keep room in the model's context without stalling a decision: 16 frames before
        it is full a helper thread re-primes a spare cache from the last ``keep`` tokens;
        2 frames later (a position, so live and offline agree) the caches are swapped, after
        the few tokens fed meanwhile are run into the spare one."""
        rt = self.rt
        slots = rt.slots_per_frame
        t0 = time.perf_counter()
        started = rt.reprime_started_at
        if started is None and rt.pos > rt.block - 16 * slots:
            rt.start_reprime()
        elif started is not None and rt.pos >= started + 2 * slots:
            rt.finish_reprime()
            self.reprime_sec.add(time.perf_counter() - t0)

    def _set_anchor(self, f: int, t_on: float, tempo) -> None:
        # the grid frame nearest to the player's note (it may be an earlier one, whose
        # deadline passed: then the grid, not this decision, is what was late)
        self._anchor = (min(f, round(tempo.beat(t_on) * FRAMES_PER_BEAT)), t_on)

    def _process_plan(self, now: float, tempo) -> None:
        """Plan mode: frame ``n`` is committed ``commit_beats`` ahead of its time, with the
        player's melody predicted by the model where it is not known yet; when the player's
        real frames arrive they replace the predicted ones in the model's context (rewind,
        re-feed), and the next commitments are planned from there. Committed notes are kept
        in beat time (``NoteEvent.beat``): the engine converts them to seconds at the last
        moment, so a tempo change still moves them."""
        cfg = self.cfg
        while True:
            r, n = self._real, self.next_frame
            t_f, spb, played, t_on, t_dec = self._timing(r, tempo)
            t_real = t_dec + cfg.react_slack_sec  # when frame r's real melody is known
            t_commit = float("inf")
            if cfg.commit_beats > 0:
                t_n = tempo.t_sec(n / FRAMES_PER_BEAT)
                t_commit = max(t_n - cfg.commit_beats * spb, self._first_real_t)
            if min(t_real, t_commit) > now:
                return
            t0 = time.perf_counter()
            if t_real <= t_commit:
                if played:
                    self._set_anchor(r, t_on, tempo)
                if r < n:  # committed already: learn the real melody, fix the context later
                    s_tok, _ = self._melody(t_dec, t_f, spb, commit=False)
                    plan = self._plan[r]
                    if plan[0] != s_tok and not plan[4]:  # (an answer frame keeps its melody)
                        plan[0] = s_tok
                        self._dirty = min(self._dirty, r)
                else:  # not committed in time (the start, a tempo jump): react now
                    t_note = max(t_on if played else t_f, t_real + COMPUTE_SEC)
                    s_tok, answer = self._melody(t_dec, t_note, spb)
                    self._commit_frame(r, s_tok, answer, t_note, -1.0, spb)
                self._real = r + 1
                if self._first_real_t == float("inf"):
                    self._first_real_t = t_real
            else:
                self._commit_frame(n, None, self._answer_due(t_n, spb), -1.0,
                                   n / FRAMES_PER_BEAT, spb)
            self.decide_sec.add(time.perf_counter() - t0)

    def _commit_frame(self, f: int, s_tok, answer: bool, t_note: float, beat: float,
                      spb: float) -> None:
        """Bring the context up to date (real melody replacing predicted), then decide
        frame ``f`` (``s_tok`` None: predict the melody too)."""
        rt = self.rt
        if self._dirty < f:
            d = self._dirty
            pos = self._pos_at[d] - rt.dropped  # (a re-prime since then moved the context)
            if 0 <= pos <= rt.pos:
                rt.rewind(pos)
                self.sounding = dict(self._snap[d])
                self._logits = self._logits_at[d]
                for g in range(d, f):
                    self._refeed(g, self._plan[g][:4])
        self._dirty = 1 << 60
        self._housekeeping()  # before this frame, so that its position stays valid
        self._pos_at[f] = rt.pos + rt.dropped
        self._snap[f] = dict(self.sounding)
        self._logits_at[f] = None if self._logits is None else self._logits.copy()
        toks = self._generate(f, s_tok, answer, t_note, beat, spb)
        self._plan[f] = [*toks, answer]
        for g in [g for g in self._plan if g < self._real]:  # real and fed: not needed
            for table in (self._plan, self._pos_at, self._snap, self._logits_at):
                table.pop(g, None)
        self.next_frame = f + 1
        self.next_frame_total += 1

    def _refeed(self, f: int, toks: list[int]) -> None:
        """Feed frame ``f``'s tokens again (teacher forcing): nothing is sampled or sent."""
        metric = f % self.bar_frames
        logits = None
        for slot, voice in enumerate(self.rt.voice_order):
            tok = toks[slot]
            if tok >= 3:
                self.sounding[voice] = tok - 3 + 21
            elif tok == REST:
                self.sounding[voice] = None
            logits = self.rt.feed(tok, slot, metric)
        self._logits = logits

    def _take_events(self, t_dec: float) -> list[int]:
        """Apply the player's events stamped before ``t_dec``; return the new notes' pitches."""
        new = []
        ev = self._events
        while ev and ev[0][0] < t_dec:
            t, pitch, velocity = ev.popleft()
            if velocity > 0:
                new.append(pitch)
                self._held[pitch] += 1
                self._last_on_t = t
                if self._phrase_start_t is None:
                    self._phrase_start_t = t
            elif self._held[pitch] > 0:
                self._held[pitch] -= 1
                if pitch == self._s_orig and not self._held[pitch]:
                    self._s_off_t = t
        return new

    def _melody(self, t_dec: float, t_note: float, spb: float,
                commit: bool = True) -> tuple[int, bool]:
        """The player's melody token for the frame decided at ``t_dec`` (their highest new
        note, HOLD while it is held, else REST), and whether the model answers instead."""
        new = self._take_events(t_dec)
        if new:
            if self.answering:  # the player is back: the answer yields at once
                self.answering = False
                self._answer_frames = 0
                self._note_off("S", t_note)
            top = max(new)
            self._s_orig = top
            return pitch_token(fold(top)), False
        if self._s_orig is not None and (self._held[self._s_orig] > 0
                                         or t_dec - self._s_off_t < LEGATO_BEATS * spb):
            # held, or let go less than half a beat ago: the model (trained on legato
            # chorales) hears the melody go on rather than rests at every staccato note
            return HOLD, False
        self._s_orig = None
        return REST, commit and self._answer_due(t_note, spb)

    def _generate(self, f: int, s_tok, answer_voice: bool, t_note: float, beat: float,
                  spb: float) -> list[int]:
        """Feed the melody token (or sample it: ``s_tok`` None, or an answer), sample the
        accompaniment under the masks, and emit the notes at ``t_note`` (or at ``beat``)."""
        cfg = self.cfg
        rt = self.rt
        metric = f % self.bar_frames
        previous = dict(self.sounding)
        moved: set[str] = set()
        logits = self._logits
        toks = []
        for slot, voice in enumerate(rt.voice_order):
            if voice == "S" and not answer_voice and s_tok is not None:
                tok = s_tok if not (s_tok == HOLD and self.sounding["S"] is None) else REST
            elif logits is None:
                tok = REST  # the first token of a performance: nothing to condition on yet
            else:
                if voice == "S":
                    mask = self._melody_mask.copy()
                    mask[HOLD] = self.sounding["S"] is not None
                else:
                    mask = self.masks.mask(voice, self.sounding, True, previous, moved)
                    if (voice == "B" and s_tok is not None and s_tok >= 3 and mask[3:].any()
                            and not any(self.sounding[v] for v in ("A", "T", "B"))):
                        mask[REST] = False  # the player plays and we are all silent: enter
                z = logits
                if mask[HOLD] and voice != "S":
                    z = logits.copy()
                    z[HOLD] += 6.0 * (0.5 - cfg.density)  # density: hold more, or strike more
                tok = rt.sample(z, self.rng, cfg.temperature, cfg.top_p, mask)
            if tok >= 3:
                self.sounding[voice] = tok - 3 + 21
                moved.add(voice)
            elif tok == REST:
                self.sounding[voice] = None
            toks.append(tok)
            logits = rt.feed(tok, slot, metric)
            if voice != "S" or answer_voice:
                self._emit(voice, tok, t_note, beat)
        if answer_voice:
            self._answer_frames -= 1
            self.answering = self._answer_frames > 0
            if not self.answering and self._sent["S"] is not None:
                self._note_off("S", t_note + spb / FRAMES_PER_BEAT,
                               beat + 1.0 / FRAMES_PER_BEAT if beat >= 0 else -1.0)
        self._logits = logits
        self.reason = "answering" if self.answering else "playing"
        return toks

    def _answer_due(self, t_sec: float, spb: float) -> bool:
        """The player rests (as far as we know at ``t_sec``): is it (still) time to answer?"""
        cfg = self.cfg
        if cfg.mode == "accompany" or not cfg.answer:
            return False
        if self.answering:
            return True
        if self._phrase_start_t is None or t_sec - self._last_on_t < cfg.answer_after_beats * spb:
            return False
        phrase_beats = (self._last_on_t - self._phrase_start_t) / spb + 1.0
        self._phrase_start_t = None  # one answer per phrase
        self._answer_frames = int(min(cfg.answer_max_beats, phrase_beats) * FRAMES_PER_BEAT)
        self.answering = self._answer_frames > 0
        return self.answering

    # -- output ------------------------------------------------------------------------------
    def role_on(self, role: str) -> bool:
        cfg = self.cfg
        if role == "answer":
            return cfg.mode != "accompany" and cfg.answer
        if cfg.mode == "answer":
            return False
        return cfg.bass if role == "bass" else cfg.chords

    def _emit(self, voice: str, tok: int, t_sec: float, beat: float = -1.0) -> None:
        if tok == HOLD:
            return
        if self._sent[voice] is not None:
            self._note_off(voice, t_sec, beat)
        role = ROLE_OF_VOICE[voice]
        if tok >= 3 and self.role_on(role):
            pitch = tok - 3 + 21
            if any(self._sent[v] == pitch for v in VOICES if ROLE_OF_VOICE[v] == role):
                return  # tenor and alto in unison: one note on the chords channel
            self._sent[voice] = pitch
            self.out.append(NoteEvent(t_sec, role, pitch, self._velocity(role), beat))

    def _velocity(self, role: str) -> int:
        cfg = self.cfg
        return {"bass": cfg.bass_velocity, "chords": cfg.chord_velocity,
                "answer": cfg.answer_velocity}[role]

    def _note_off(self, voice: str, t_sec: float, beat: float = -1.0) -> None:
        pitch = self._sent[voice]
        if pitch is not None:
            self.out.append(NoteEvent(t_sec, ROLE_OF_VOICE[voice], pitch, 0, beat))
            self._sent[voice] = None

    def roles_changed(self, t_sec: float) -> list[NoteEvent]:
        """Release the notes of roles just switched off (a control): within one frame."""
        self.out.clear()
        for voice in VOICES:
            if self._sent[voice] is not None and not self.role_on(ROLE_OF_VOICE[voice]):
                self._note_off(voice, t_sec)
        return self.out

    def release(self, t_sec: float) -> list[NoteEvent]:
        """Note-offs for everything the improviser has sounding (the player stopped)."""
        self.out.clear()
        for voice in VOICES:
            self._note_off(voice, t_sec)
        self.answering = False
        return self.out

    @property
    def busy(self) -> bool:
        """An answer is under way (the engine must not call the player gone)."""
        return self.answering or (self.cfg.mode != "accompany" and self.cfg.answer
                                  and self._phrase_start_t is not None)
