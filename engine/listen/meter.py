"""Meter and downbeats from the learned downbeat activation, decided beat by beat (causal).

For each meter (3 or 4 beats a bar) and each bar phase, an exponential average of the
downbeat activation on the beats that hypothesis calls downbeats, against the average on its
other beats. The hypothesis with the clearest contrast gives each committed beat its position
in the bar (1 = downbeat). Engine thread; fixed-size state.
"""

from __future__ import annotations

import numpy as np

METERS = (3, 4)


class MeterTracker:
    def __init__(self, decay: float = 0.85, min_beats: int = 6) -> None:
        self.decay = decay
        self.min_beats = min_beats
        # per meter: average activation per residue of the beat index
        self._avg = {m: np.zeros(m) for m in METERS}
        self.reset()

    def reset(self) -> None:
        for a in self._avg.values():
            a[:] = 0.0
        self.n_beats = 0
        self.meter = 4
        self.phase = 0  # beat index residue that is the downbeat
        self.position = 1  # of the last beat committed

    def beat(self, downbeat_activation: float) -> int:
        """A beat was committed with this downbeat activation; return its position in the
        bar (1..meter), or, until ``min_beats`` have been heard, 1 when the activation alone
        calls it a downbeat and 0 (not known) otherwise."""
        n = self.n_beats
        d = float(downbeat_activation) if downbeat_activation == downbeat_activation else 0.0
        for m, avg in self._avg.items():
            r = n % m
            avg[r] = self.decay * avg[r] + (1.0 - self.decay) * d if n >= m else d
        self.n_beats += 1
        if self.n_beats >= self.min_beats:
            best, best_m, best_r = -1e9, self.meter, self.phase
            for m, avg in self._avg.items():
                r = int(np.argmax(avg))
                contrast = avg[r] - (avg.sum() - avg[r]) / (m - 1)
                if contrast > best:
                    best, best_m, best_r = contrast, m, r
            self.meter, self.phase = best_m, best_r
            self.position = (n - self.phase) % self.meter + 1
        else:
            self.position = 1 if d > 0.5 else 0
        return self.position
