"""Below 32 kHz: the default beat activation, muted while a second network hears no beat.

At a sample rate below 32 kHz the log bands above Nyquist stay 0. The default network,
trained on full-band audio, hears a beat in such band-limited steady noise (its 95th
percentile 0.2-0.4, against 0.01 at 44.1 kHz) and the listener committed beats all through
it. A network trained on band-limited input (``models/improv_beat_lowrate.json``: the default
one's answers on each window's full-band version as targets) answers that noise with almost
nothing, but it tracks music worse than the default one does (recorded songs at 11-16 kHz,
learned activation alone, 0.58-0.60 -> 0.54). So the default network keeps saying where the
beats are, and the second one only whether there are any: the default's outputs are scaled
by how strongly the second has heard a beat in the last ``window_frames`` frames (its
maximum there, ramped from 0 at ``quiet`` to 1 at ``heard``). Engine thread, like
:class:`~engine.listen.activation.BeatActivation`; buffers made at construction.
"""

from __future__ import annotations

from pathlib import Path

import numba
import numpy as np

from .activation import DEFAULT_MODEL, FULL_BAND_SR, LOW_RATE_MODEL, BeatActivation

WINDOW_FRAMES = 100  # 2 s at 50 frames/s
# a network started afresh hears the sound it starts in as an attack (0.2-0.3 on steady
# noise, falling below 0.15 within 0.2-0.4 s): its first frames do not count
WARM_FRAMES = 25
# read off the held-out training clips and the training noises, band-limited at 8-22.05 kHz
# (bench/beats_presence.py): the 2-s maximum of the low-rate network on the noises, p99
# 0.12-0.18; on the music, 0.23-0.29 at its 0.1th percentile, 0.42-0.46 at its 1st
QUIET = 0.15
HEARD = 0.3


@numba.njit(nogil=True, cache=True)
def _scale(out: np.ndarray, heard: np.ndarray, ring: np.ndarray, pos: int, quiet: float,
           span: float, warm: int) -> int:
    """Scale ``out``'s rows by the ramp of the ring's maximum once each row's ``heard`` beat
    probability is in the ring (0 for the first ``warm`` rows); returns the ring's next
    position."""
    n_ring = ring.shape[0]
    for k in range(out.shape[0]):
        ring[pos] = heard[k] if k >= warm else 0.0
        pos += 1
        if pos == n_ring:
            pos = 0
        m = ring[0]
        for i in range(1, n_ring):
            if ring[i] > m:
                m = ring[i]
        g = (m - quiet) / span
        if g < 0.0:
            g = 0.0
        elif g > 1.0:
            g = 1.0
        out[k, 0] *= g
        out[k, 1] *= g
    return pos


class PresenceGatedActivation:
    """``main``'s beat/downbeat probabilities, scaled by ``detector``'s recent beats (see the
    module's docstring). The interface of :class:`BeatActivation`."""

    def __init__(self, main, detector, window_frames: int = WINDOW_FRAMES,
                 quiet: float = QUIET, heard: float = HEARD) -> None:
        self.main = main if isinstance(main, BeatActivation) else BeatActivation(main)
        self.detector = (detector if isinstance(detector, BeatActivation)
                         else BeatActivation(detector))
        if self.detector.n_bands != self.main.n_bands:
            raise ValueError("the two beat networks read different bands")
        self.meta = self.main.meta
        self.n_bands = self.main.n_bands
        self.quiet, self.span = float(quiet), float(heard - quiet)
        self._ring = np.zeros(window_frames)
        self._pos = 0
        _scale(np.zeros((1, 2)), np.zeros(1), self._ring, 0, self.quiet, self.span, 0)
        self.reset()

    def reset(self) -> None:
        self.main.reset()
        self.detector.reset()
        self._ring[:] = 0.0
        self._pos = 0
        self._warm = WARM_FRAMES  # frames still to come before the detector counts

    def process(self, bands: np.ndarray, start: int = 0) -> np.ndarray:
        """As :meth:`BeatActivation.process`: (n, 2), a view of a reused buffer."""
        out = self.main.process(bands, start)
        heard = self.detector.process(bands, start)[:, 0]
        warm = min(start + self._warm, len(out))  # rows before it do not count
        self._warm -= warm - start
        self._pos = _scale(out, heard, self._ring, self._pos, self.quiet, self.span, warm)
        return out


def activation_for_rate(model, samplerate: int):
    """The beat activation to run at ``samplerate``: the default model below FULL_BAND_SR is
    gated by the low-rate one (this module); any other model (a path, a dict) runs as it is.
    Raises ModelFileError for a missing or unreadable file."""
    if (isinstance(model, (str, Path)) and Path(model) == DEFAULT_MODEL
            and 0 < samplerate < FULL_BAND_SR):
        return PresenceGatedActivation(DEFAULT_MODEL, LOW_RATE_MODEL)
    return BeatActivation(model)
