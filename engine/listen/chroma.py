"""Pitch-class energy (chroma) of an audio window, so the baseline can harmonise audio too.

Allocation happens in the constructor (window, bin map, FFT scratch); ``process`` writes into
a 12-vector it owns and returns it (reused: copy it if you keep it).
"""

from __future__ import annotations

import numpy as np


class Chroma:
    """Chroma of the last ``n_fft`` samples: magnitude spectrum folded to 12 pitch classes
    (C=0) between ``f_min`` and ``f_max`` Hz, normalised to sum 1 (zeros when silent)."""

    def __init__(self, samplerate: int, n_fft: int = 8192, f_min: float = 55.0,
                 f_max: float = 2000.0) -> None:
        self.n_fft = n_fft
        self.window = np.hanning(n_fft).astype(np.float32)
        freqs = np.fft.rfftfreq(n_fft, 1.0 / samplerate)
        keep = (freqs >= f_min) & (freqs <= f_max)
        self._bins = np.nonzero(keep)[0]
        midi = 69.0 + 12.0 * np.log2(freqs[self._bins] / 440.0)
        self._pcs = (np.round(midi).astype(np.int64)) % 12
        self._frame = np.zeros(n_fft, dtype=np.float32)
        self.out = np.zeros(12, dtype=np.float64)

    def process(self, samples: np.ndarray) -> np.ndarray:
        """``samples``: the last ``n_fft`` samples (float32). Engine thread."""
        np.multiply(samples, self.window, out=self._frame)
        mag = np.abs(np.fft.rfft(self._frame))[self._bins]
        self.out[:] = np.bincount(self._pcs, weights=mag * mag, minlength=12)
        total = self.out.sum()
        if total > 1e-9:
            self.out /= total
        else:
            self.out[:] = 0.0
        return self.out

    def reset(self) -> None:
        self.out[:] = 0.0
