"""Which beat activation suits the music heard: the spectral flux or the learned one.

The flux finds attacks; on legato material -- bowed strings, choir, organ, a quartet -- it is
a noisy floor with few clear peaks, and the learned activation (which has learned what else
marks a beat: a change of pitch) does better there, while on percussive material (drums,
piano, plucked strings) the flux does better on the development set. How peaked the flux is
tells the two apart: the ratio of its 95th percentile to its median over the first
``frames`` frames of sound is below ~5.5 for every legato clip and above ~8 for every other
one, in the development set and in the learned model's held-out training clips alike; the
threshold sits in that gap.

``add(strength)`` per frame from the first sound on (digital silence between hits counts:
it is what percussive input looks like) until ``decided``; then ``learned`` says which.
Engine thread; the buffer is made in the constructor.
"""

from __future__ import annotations

import numpy as np

PEAKINESS = 7.0  # p95 / median of the flux: below this the music is legato
FRAMES = 500  # 10 s at 50 frames/s


class SourceGate:
    def __init__(self, frames: int = FRAMES, threshold: float = PEAKINESS) -> None:
        self.threshold = threshold
        self._values = np.zeros(frames)
        self.reset()

    def reset(self) -> None:
        self._n = 0
        self.decided = False
        self.learned = False
        self.peakiness = 0.0

    def add(self, strength: float) -> bool:
        """One frame's flux (silence before the first sound is skipped); True when this
        frame decides."""
        if self.decided or (self._n == 0 and not strength > 1e-6):
            return False
        self._values[self._n] = strength
        self._n += 1
        if self._n < len(self._values):
            return False
        median = float(np.median(self._values))
        p95 = float(np.percentile(self._values, 95))
        self.peakiness = p95 / median if median > 1e-12 else float("inf")
        self.learned = self.peakiness < self.threshold
        self.decided = True
        return True
