"""Meter and downbeats, decided beat by beat (causal), from per-beat downbeat evidence: the
learned downbeat activation, or the audio's own accents (:mod:`engine.listen.accent`).

For each meter (3 or 4 beats a bar) and each bar phase, an exponential average of the
evidence on the beats that hypothesis calls downbeats, against the average on its other
beats. The hypothesis with the clearest contrast gives each committed beat its position in
the bar (1 = downbeat). Engine thread; fixed-size state.
"""

from __future__ import annotations

import numpy as np

METERS = (3, 4)


class MeterTracker:
    def __init__(self, decay: float = 0.85, min_beats: int = 6) -> None:
        self.decay = decay
        self.min_beats = min_beats
        # per meter: average evidence per residue of the beat index
        self._avg = {m: np.zeros(m) for m in METERS}
        self.reset()

    def reset(self) -> None:
        for a in self._avg.values():
            a[:] = 0.0
        self.n_beats = 0
        self.meter = 4
        self.phase = 0  # beat index residue that is the downbeat
        self.position = 1  # of the last beat committed

    def _add(self, n: int, d: float) -> None:
        d = float(d) if d == d else 0.0
        for m, avg in self._avg.items():
            r = n % m
            avg[r] = self.decay * avg[r] + (1.0 - self.decay) * d if n >= m else d

    def _label(self, n: int) -> int:
        """Position in the bar (1..meter) of beat ``n``, from the averages so far."""
        best, best_m, best_r = -1e9, self.meter, self.phase
        for m, avg in self._avg.items():
            r = int(np.argmax(avg))
            contrast = avg[r] - (avg.sum() - avg[r]) / (m - 1)
            if contrast > best:
                best, best_m, best_r = contrast, m, r
        self.meter, self.phase = best_m, best_r
        return (n - self.phase) % self.meter + 1

    def beat(self, downbeat_activation: float) -> int:
        """A beat was committed with this downbeat activation (the learned one, 0..1); return
        its position in the bar (1..meter), or, until ``min_beats`` have been heard, 1 when
        the activation alone calls it a downbeat and 0 (not known) otherwise."""
        n = self.n_beats
        self._add(n, downbeat_activation)
        self.n_beats += 1
        if self.n_beats >= self.min_beats:
            self.position = self._label(n)
        else:
            self.position = 1 if downbeat_activation > 0.5 else 0
        return self.position

    def beat_after(self, previous_evidence: float | None) -> int:
        """A beat was committed, and the evidence of the one before it is now complete (None
        for the first beat); return this beat's position in the bar (1..meter), 0 (not known)
        until ``min_beats`` have been heard."""
        n = self.n_beats
        if n > 0 and previous_evidence is not None:
            self._add(n - 1, previous_evidence)
        self.n_beats += 1
        self.position = self._label(n) if self.n_beats > self.min_beats else 0
        return self.position
