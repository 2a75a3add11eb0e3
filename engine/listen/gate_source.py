"""Which beat activation suits the music heard: the spectral flux or the learned one.

The flux finds attacks; on legato material -- bowed strings, choir, organ, a quartet -- it is
a noisy floor with few clear peaks, and the learned activation (which has learned what else
marks a beat: a change of pitch) does better there, while on percussive material (drums,
piano, plucked strings) the flux does better on the development set. How peaked the flux is
tells the two apart: the ratio of its 95th percentile to its median over ``frames`` frames
(10 s) is below ~5.5 for every legato clip and above ~8 for every other one, in the
development set and in the learned model's held-out training clips alike; the thresholds sit
in that gap (below ``LEGATO`` -> learned, above ``PERCUSSIVE`` -> flux, between: no change).

The first window after the first sound decides (until then both activations run and the
flux's beats count, while the learned activation hears something too: it was trained to
answer steady noise with nothing, where the flux finds stray "onsets"). The music can change
in a set (a pad, then the drums come in), so every window after that is measured too: when
one asks for the other activation, that one is
started afresh and warms up for a window beside the current one (``trial``); if the window
after asks the same, it takes over (``switched``), otherwise it is dropped. Digital silence
between hits counts (it is what percussive input looks like).

``add(strength)`` once per frame; ``run_flux`` / ``run_learned`` say which activations must
run now and ``learned`` which one's beats count. Engine thread; the buffer is made once.
"""

from __future__ import annotations

import numpy as np

LEGATO = 6.0  # p95 / median of the flux below this: legato -> the learned activation
PERCUSSIVE = 8.0  # above this: percussive -> the flux
FRAMES = 500  # 10 s at 50 frames/s


class SourceGate:
    def __init__(self, frames: int = FRAMES, legato: float = LEGATO,
                 percussive: float = PERCUSSIVE) -> None:
        self.legato, self.percussive = legato, percussive
        self._values = np.zeros(frames)
        self.reset()

    def reset(self) -> None:
        self._n = 0
        self._heard = False
        self.decided = False
        self.learned = False  # whose beats count (once decided)
        self.trial = False  # the other activation warms up beside the current one
        self.switches = 0
        self.peakiness = 0.0

    @property
    def run_flux(self) -> bool:
        return not self.decided or self.trial or not self.learned

    @property
    def run_learned(self) -> bool:
        return not self.decided or self.trial or self.learned

    def add(self, strength: float) -> str:
        """One frame's flux. Returns "" or what this frame's window ended with: "decided",
        "trial" (start the other activation afresh), "switched" or "kept"."""
        if not self._heard:
            if not strength > 1e-6:
                return ""  # silence before the first sound
            self._heard = True
        self._values[self._n] = strength
        self._n += 1
        if self._n < len(self._values):
            return ""
        self._n = 0
        median = float(np.median(self._values))
        p95 = float(np.percentile(self._values, 95))
        self.peakiness = p95 / median if median > 1e-12 else float("inf")
        wants = (True if self.peakiness < self.legato else
                 False if self.peakiness > self.percussive else None)
        if not self.decided:
            self.decided, self.learned = True, bool(wants)
            return "decided"
        if self.trial:
            self.trial = False
            if wants is not None and wants != self.learned:
                self.learned = wants
                self.switches += 1
                return "switched"
            return "kept"
        if wants is not None and wants != self.learned:
            self.trial = True
            return "trial"
        return ""
