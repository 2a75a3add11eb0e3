"""What the player has been playing, as pitch-class weight per beat."""

from __future__ import annotations

import math

import numpy as np


class PitchProfile:
    """A ring of per-beat pitch-class weights (``n_beats`` x 12), allocated once.

    MIDI notes add weight to the beat they start in (``add_note``); audio adds a chroma per
    beat (``add_chroma``). ``window`` sums the beats before a given one with a recency decay.
    Engine thread.
    """

    def __init__(self, n_beats: int = 128) -> None:
        self.n_beats = n_beats
        self._w = np.zeros((n_beats, 12), dtype=np.float64)
        self._beat_of_row = np.full(n_beats, -(10**9), dtype=np.int64)
        self._acc = np.zeros(12, dtype=np.float64)

    def reset(self) -> None:
        self._w[:] = 0.0
        self._beat_of_row[:] = -(10**9)

    def _row(self, beat_index: int) -> int:
        r = beat_index % self.n_beats
        if self._beat_of_row[r] != beat_index:
            self._w[r] = 0.0
            self._beat_of_row[r] = beat_index
        return r

    def add_note(self, beat: float, pitch: int, weight: float = 1.0) -> None:
        self._w[self._row(math.floor(beat)), pitch % 12] += weight

    def add_chroma(self, beat_index: int, chroma: np.ndarray, weight: float = 1.0) -> None:
        self._w[self._row(beat_index)] += weight * chroma

    def window(self, before_beat: int, n_beats: float, half_life_beats: float = 0.0) -> np.ndarray:
        """Sum of the ``n_beats`` beats before ``before_beat`` (each weighted by
        0.5 ** (age / half_life) when ``half_life_beats`` > 0). Returns a reused 12-vector."""
        acc = self._acc
        acc[:] = 0.0
        for age in range(1, int(n_beats) + 1):
            b = before_beat - age
            r = b % self.n_beats
            if self._beat_of_row[r] == b:
                w = 0.5 ** ((age - 1) / half_life_beats) if half_life_beats > 0 else 1.0
                acc += w * self._w[r]
        return acc
