"""The rule-based baseline accompanist: bass + chord on each beat.

It is the honest baseline the model must beat, not the product's generator. From the
player's recent pitch classes it estimates the key (Krumhansl-Kessler profiles) and picks,
every ``change_every_beats`` beats, the diatonic triad that best covers the recent notes
(with a small preference for I, IV, V and for keeping the current chord). Until three
distinct pitch classes have been heard the key is a guess, so only the bass plays. The bass plays
the root on the chord's first beat, then alternates fifth and root in a low register; the
chord is voiced in the middle register with the smallest movement from the last voicing.
Deterministic: no randomness, so the same input gives the same notes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..events import Note

# Krumhansl-Kessler key profiles (C major / C minor).
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

# Diatonic triads: (root offset from tonic, chord intervals, prior weight).
MAJOR_TRIADS = (
    (0, (0, 4, 7), 1.0), (2, (0, 3, 7), 0.6), (4, (0, 3, 7), 0.4),
    (5, (0, 4, 7), 0.9), (7, (0, 4, 7), 0.9), (9, (0, 3, 7), 0.7),
)
MINOR_TRIADS = (
    (0, (0, 3, 7), 1.0), (3, (0, 4, 7), 0.6), (5, (0, 3, 7), 0.9),
    (7, (0, 4, 7), 0.9), (8, (0, 4, 7), 0.7), (10, (0, 4, 7), 0.5),
)

MIN_PITCH_CLASSES = 3  # distinct pitch classes heard before the chords come in
BASS_LOW, BASS_HIGH = 36, 52  # C2..E3
CHORD_LOW, CHORD_HIGH = 53, 76  # F3..E5


@dataclass(frozen=True)
class Chord:
    root_pc: int
    intervals: tuple[int, ...]

    @property
    def pcs(self) -> tuple[int, ...]:
        return tuple((self.root_pc + i) % 12 for i in self.intervals)


def _key_templates() -> np.ndarray:
    """24 x 12: each key's profile, rotated to its tonic, centred and normalised."""
    rows = [np.roll(profile, tonic) for profile in (MAJOR_PROFILE, MINOR_PROFILE)
            for tonic in range(12)]
    t = np.array(rows)
    t -= t.mean(axis=1, keepdims=True)
    return t / np.linalg.norm(t, axis=1, keepdims=True)


KEY_TEMPLATES = _key_templates()  # rows 0-11 major C..B, 12-23 minor C..B


def estimate_key(pc_weights: np.ndarray) -> tuple[int, bool]:
    """(tonic pitch class, is_major) maximising correlation with the KK profiles."""
    centred = pc_weights - pc_weights.mean()
    norm = float(np.sqrt(centred @ centred))
    if norm <= 1e-12:
        return 0, True
    best = int(np.argmax(KEY_TEMPLATES @ centred))  # one 24x12 product: correlation * norm
    return best % 12, best < 12


def choose_chord(recent: np.ndarray, tonic: int, major: bool, current: Chord | None) -> Chord:
    """The diatonic triad that best covers ``recent`` pitch-class weights."""
    total = recent.sum()
    norm = recent / total if total > 0 else recent
    best_score, best = -1e9, None
    for offset, intervals, prior in MAJOR_TRIADS if major else MINOR_TRIADS:
        chord = Chord((tonic + offset) % 12, intervals)
        tones = list(chord.pcs)
        inside = float(norm[tones].sum())
        score = inside + 0.15 * prior + (0.1 if chord == current else 0.0)
        if score > best_score:
            best_score, best = score, chord
    assert best is not None
    return best


def nearest_in_range(pc: int, near: int, low: int, high: int) -> int:
    """The pitch of class ``pc`` within [low, high] closest to ``near``."""
    candidates = [p for p in range(low, high + 1) if p % 12 == pc]
    return min(candidates, key=lambda p: (abs(p - near), p))


def voice_chord(chord: Chord, previous: tuple[int, ...] | None) -> tuple[int, ...]:
    """Three chord tones in the middle register, moving as little as possible."""
    if previous is None:
        previous = (60, 64, 67)
    center = sum(previous) / len(previous)
    best, best_cost = None, 1e9
    pcs = chord.pcs
    for inversion in range(3):
        order = pcs[inversion:] + pcs[:inversion]
        base = nearest_in_range(order[0], int(round(center)) - 4, CHORD_LOW, CHORD_HIGH - 7)
        voicing = [base]
        for pc in order[1:]:
            p = voicing[-1] + 1
            while p % 12 != pc:
                p += 1
            voicing.append(p)
        if voicing[-1] > CHORD_HIGH:
            continue
        cost = sum(abs(a - b) for a, b in zip(sorted(voicing), sorted(previous)))
        if cost < best_cost:
            best, best_cost = tuple(voicing), cost
    assert best is not None
    return best


class BaselineAccompanist:
    """``process(beat_index, recent_pcs, key_pcs) -> list[Note]`` for one beat. Engine thread."""

    def __init__(self, beats_per_bar: int = 4, bass: bool = True, chords: bool = True,
                 bass_velocity: int = 88, chord_velocity: int = 64) -> None:
        self.beats_per_bar = beats_per_bar
        self.change_every_beats = 2 if beats_per_bar % 2 == 0 else beats_per_bar
        self.bass = bass
        self.chords = chords
        self.bass_velocity = bass_velocity
        self.chord_velocity = chord_velocity
        self.reset()

    def reset(self) -> None:
        self.chord: Chord | None = None
        self._voicing: tuple[int, ...] | None = None
        self._bass_pitch = 43
        self._chord_start_beat = 0

    def process(self, beat_index: int, recent_pcs: np.ndarray, key_pcs: np.ndarray) -> list[Note]:
        in_bar = beat_index % self.beats_per_bar
        accent = 1.0 if in_bar == 0 else 0.85
        if np.count_nonzero(key_pcs > 0) < MIN_PITCH_CLASSES:
            # Too little heard to know the key: the bass doubles the player's main note.
            if not self.bass or key_pcs.sum() <= 0:
                return []
            pc = int(np.argmax(key_pcs))
            self._bass_pitch = nearest_in_range(pc, self._bass_pitch, BASS_LOW, BASS_HIGH)
            vel = int(round(self.bass_velocity * accent))
            return [Note(float(beat_index), 0.95, self._bass_pitch, vel, "bass")]
        if self.chord is None or beat_index % self.change_every_beats == 0:
            tonic, major = estimate_key(key_pcs)
            chord = choose_chord(recent_pcs, tonic, major, self.chord)
            if chord != self.chord:
                self._chord_start_beat = beat_index
            self.chord = chord
            self._voicing = voice_chord(chord, self._voicing)
        chord = self.chord
        assert chord is not None and self._voicing is not None
        notes: list[Note] = []
        if self.bass:
            step = beat_index - self._chord_start_beat
            pc = chord.root_pc if step % 2 == 0 else chord.pcs[2]
            self._bass_pitch = nearest_in_range(pc, self._bass_pitch, BASS_LOW, BASS_HIGH)
            vel = int(round(self.bass_velocity * accent))
            notes.append(Note(float(beat_index), 0.95, self._bass_pitch, vel, "bass"))
        if self.chords:
            vel = int(round(self.chord_velocity * accent))
            for p in self._voicing:
                notes.append(Note(float(beat_index), 0.9, p, vel, "chords"))
        return notes
