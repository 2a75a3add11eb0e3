"""A level gate: the simplest audio onset, used to know when an audio player starts.

Not a beat tracker and not an onset detector for rhythm (the listening issue brings those):
it only reports the first block whose peak crosses ``threshold`` after ``hold_sec`` below
``release`` -- enough to anchor beat 0 on the player's first note. Latency: one block.
"""

from __future__ import annotations

import numpy as np


class LevelGate:
    """``process(block) -> bool``: True on a block where the signal opens the gate."""

    latency_frames = 0

    def __init__(self, samplerate: int, threshold: float = 0.05, release: float = 0.01,
                 hold_sec: float = 0.25) -> None:
        self.threshold = threshold
        self.release = release
        self.hold_frames = int(hold_sec * samplerate)
        self.reset()

    def reset(self) -> None:
        self._open = False
        self._quiet_frames = self.hold_frames
        self.peak = 0.0

    def process(self, block: np.ndarray) -> bool:
        """Engine thread. ``block`` is 1-D float32; allocates nothing."""
        peak = max(float(block.max()), -float(block.min())) if block.shape[0] else 0.0
        self.peak = peak
        if self._open:
            if peak < self.release:
                self._quiet_frames += block.shape[0]
                if self._quiet_frames >= self.hold_frames:
                    self._open = False
            else:
                self._quiet_frames = 0
            return False
        if peak >= self.threshold and self._quiet_frames >= self.hold_frames:
            self._open = True
            self._quiet_frames = 0
            return True
        if peak < self.release:
            self._quiet_frames += block.shape[0]
        return False
