"""Streaming spectrum and onset strength: log-filtered bands and a spectral flux with
SuperFlux's maximum filter.

``LogSpectrum.process(block)`` takes audio blocks of any size and produces one frame of log
band energies per hop (``fps`` frames per second, 50 by default) into a buffer it owns, and
each frame's flux (the onset strength) in the same kernel call; ``OnsetDetector`` gives that
flux as the onset-strength stream (with MIDI impulses added), and the learned beat
activation (:mod:`engine.listen.activation`) reads the same band frames. All buffers are made in
the constructors; the per-frame work after the FFT is numba ``nogil`` kernels. Frame ``k`` is
the window of ``frame_size`` samples ending at sample ``(k + 1) * hop``; its time is the
window's centre, so the latency is ``frame_size / 2`` samples (``latency_sec``).

MIDI note-ons become onsets in the same stream (:meth:`OnsetDetector.add_impulse`), so one
tracker serves audio and MIDI players.
"""

from __future__ import annotations

import numba
import numpy as np


def log_filterbank(n_bins: int, samplerate: int, n_fft: int, bands_per_octave: int,
                   f_min: float, f_max: float) -> np.ndarray:
    """(n_bands, n_bins) triangular filters on a log-frequency axis, each summing to 1."""
    n_oct = np.log2(f_max / f_min)
    centers = f_min * 2.0 ** (np.arange(int(n_oct * bands_per_octave) + 2) / bands_per_octave)
    bins = np.unique(np.round(centers * n_fft / samplerate).astype(int))
    bins = bins[(bins > 0) & (bins < n_bins - 1)]
    fb = []
    for lo, mid, hi in zip(bins[:-2], bins[1:-1], bins[2:]):
        row = np.zeros(n_bins)
        row[lo:mid + 1] = np.linspace(0.0, 1.0, mid - lo + 1)
        row[mid:hi + 1] = np.linspace(1.0, 0.0, hi - mid + 1)
        if row.sum() > 0:
            fb.append(row / row.sum())
    return np.array(fb, dtype=np.float32)


@numba.njit(nogil=True, cache=True)
def _flux(bands: np.ndarray, prev: np.ndarray, out_prev: np.ndarray,
          n_low: int, first_high: int) -> tuple[float, float, float]:
    """SuperFlux of log band energies ``bands`` against the max-filtered (3 bands) previous
    frame ``prev``: in all bands, in the first ``n_low`` and from band ``first_high`` on;
    copies ``bands`` into ``out_prev`` for the next call. Each band's rise is squared: an
    attack's few large rises count over the many small ones of vibrato, bowing and reverb (beat
    F on held-out training clips 0.739 -> 0.751, development set 0.651 -> 0.664)."""
    n = bands.shape[0]
    total = 0.0
    low = 0.0
    high = 0.0
    for i in range(n):
        m = prev[i]
        if i > 0 and prev[i - 1] > m:
            m = prev[i - 1]
        if i + 1 < n and prev[i + 1] > m:
            m = prev[i + 1]
        d = bands[i] - m
        if d > 0.0:
            total += d * d
            if i < n_low:
                low += d * d
            if i >= first_high:
                high += d * d
    for i in range(n):
        out_prev[i] = bands[i]
    return total, low, high


def fft_size(n: float) -> int:
    """The whole number nearest ``n`` with no prime factor above 7 (the larger of two equally
    near): a size the FFT does fast. The window that lasts 46 ms at 44.1 kHz is 2229 samples at
    48 kHz, 3 x 743, and its FFT took 135 us against 19 us for 2048 or 23 us for 2240."""
    best, best_err = 1, float("inf")
    for m in range(max(1, int(n * 0.9)), int(n * 1.1) + 2):
        k = m
        for p in (2, 3, 5, 7):
            while k % p == 0:
                k //= p
        if k == 1 and abs(m - n) <= best_err:
            best, best_err = m, abs(m - n)
    return best


def resampled_filterbank(ref: np.ndarray, ref_bin_hz: float, bin_hz: float,
                         n_bins: int) -> np.ndarray:
    """The filters ``ref`` (made on FFT bins ``ref_bin_hz`` apart) on bins ``bin_hz`` apart:
    each triangle read at the new bins' frequencies, scaled so that its weights below the new
    Nyquist frequency sum to what they did (so a band is the same average of the spectrum)."""
    pos = np.arange(n_bins) * (bin_hz / ref_bin_hz)  # each new bin, in reference bins
    grid = np.arange(ref.shape[1])
    fb = np.zeros((ref.shape[0], n_bins), dtype=np.float64)
    for b in range(ref.shape[0]):
        fb[b] = np.interp(pos, grid, ref[b], left=0.0, right=0.0)
        kept = ref[b, grid * ref_bin_hz <= (n_bins - 1) * bin_hz].sum()
        if fb[b].sum() > 0.0:
            fb[b] *= kept / fb[b].sum()
    return fb.astype(np.float32)


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _log_bands(spectrum: np.ndarray, first: np.ndarray, last: np.ndarray,
               weights: np.ndarray, out: np.ndarray) -> None:
    """``out[b] = log10(1 + sum_j weights[b, j - first[b]] * |spectrum[j]|)`` over the bins
    ``first[b] <= j < last[b]`` of band ``b``: the filterbank's nonzero weights only (1385 of
    its 83025 at 44.1 kHz; 3.5 us a frame against 7.6 for the magnitudes, a dense product and
    the log)."""
    for b in range(out.shape[0]):
        s = 0.0
        for j in range(first[b], last[b]):
            c = spectrum[j]
            s += weights[b, j - first[b]] * np.sqrt(c.real * c.real + c.imag * c.imag)
        out[b] = np.log10(1.0 + s)


@numba.njit(nogil=True, cache=True)
def _bands_flux(spectrum: np.ndarray, first: np.ndarray, last: np.ndarray,
                weights: np.ndarray, bands: np.ndarray, prev: np.ndarray, n_low: int,
                first_high: int, flux: np.ndarray, k: int) -> None:
    """One frame: its log bands into ``bands`` (``_log_bands``) and their flux against
    ``prev`` (``_flux``: all, low, high) into ``flux[:, k]`` -- one kernel call a frame."""
    _log_bands(spectrum, first, last, weights, bands)
    total, low, high = _flux(bands, prev, prev, n_low, first_high)
    flux[0, k] = total
    flux[1, k] = low
    flux[2, k] = high


LOW_HZ = 1000.0  # "low" flux: the bands below this
HIGH_HZ = 5000.0  # "high" flux: the bands above this (cymbals, hi-hats; little of a string's)
REFERENCE_SR = 44100  # the band layout is made for this rate and kept at every other


def real_fft(n: int):
    """A forward real FFT of ``n`` samples as ``fft(frame, out)``, unscaled (``np.fft.rfft``'s
    numbers): numpy's pocketfft ufunc called directly where this numpy has it (``np.fft.rfft``
    spends ~5 us of Python a call around a 10 us transform of 2048 samples: its argument
    checks and normalisation), ``np.fft.rfft`` otherwise -- also if the ufunc, tried once here
    on a test frame, fails or gives other numbers (another numpy's private layout)."""
    def public(frame: np.ndarray, out: np.ndarray) -> np.ndarray:
        return np.fft.rfft(frame, out=out)

    axes = [(0,), (), (0,)]
    try:
        from numpy.fft import _pocketfft_umath as pocketfft
        ufunc = pocketfft.rfft_n_even if n % 2 == 0 else pocketfft.rfft_n_odd
        test = np.random.default_rng(0).standard_normal(n).astype(np.float32)
        got = ufunc(test, 1, axes=axes, out=np.zeros(n // 2 + 1, dtype=np.complex64))
        if not np.array_equal(got, np.fft.rfft(test)):
            return public
    except Exception:  # noqa: BLE001 - any failure of a private API: the public call
        return public

    def fft(frame: np.ndarray, out: np.ndarray) -> np.ndarray:
        return ufunc(frame, 1, axes=axes, out=out)

    return fft


@numba.njit(nogil=True, cache=True)
def _append(ring: np.ndarray, write: int, block: np.ndarray, start: int, stop: int) -> int:
    """Write ``block[start:stop]`` into the circular ``ring`` from index ``write`` on, clipped
    to +-1 with NaN/inf samples replaced by 0 (samples that would be overwritten at once are
    only counted); return how many of ``block[start:stop]`` were NaN/inf."""
    size = ring.shape[0]
    bad = 0
    if stop - start > size:
        for i in range(start, stop - size):
            if not np.isfinite(block[i]):
                bad += 1
        write = (write + stop - size - start) % size
        start = stop - size
    # in two runs: up to the ring's end, then from its start
    first_run = min(stop - start, size - write)
    bad += _clip_into(ring, write, block, start, start + first_run)
    bad += _clip_into(ring, 0, block, start + first_run, stop)
    return bad


@numba.njit(nogil=True, cache=True)
def _clip_into(ring: np.ndarray, write: int, block: np.ndarray, start: int, stop: int) -> int:
    """``ring[write:] = block[start:stop]`` clipped to +-1, NaN/inf as 0; returns how many
    were NaN/inf."""
    bad = 0
    for j in range(start, stop):
        v = block[j]
        finite = np.isfinite(v)
        bad += not finite
        ring[write + j - start] = min(max(v, -1.0), 1.0) if finite else 0.0
    return bad


@numba.njit(nogil=True, cache=True)
def _append_frame(ring: np.ndarray, write: int, pending: np.ndarray, fill: int,
                  block: np.ndarray, start: int, stop: int, window: np.ndarray,
                  frame: np.ndarray, windowed: bool) -> int:
    """``_append`` the ``fill`` samples kept aside in ``pending``, then ``block[start:stop]``,
    to the ring from ``write`` on; with ``windowed`` (a frame is complete) also write the ring,
    oldest sample first, times ``window`` into ``frame``. One kernel call a frame (no shifting
    of the ring); returns how many samples were NaN/inf."""
    size = ring.shape[0]
    bad = 0
    if fill:
        bad += _append(ring, write, pending, 0, fill)
        write = (write + fill) % size
    bad += _append(ring, write, block, start, stop)
    if windowed:
        oldest = (write + stop - start) % size
        for i in range(size - oldest):
            frame[i] = ring[oldest + i] * window[i]
        for i in range(oldest):
            frame[size - oldest + i] = ring[i] * window[size - oldest + i]
    return bad


class LogSpectrum:
    """Audio blocks in, frames of log band energies out (``fps`` per second), each with its
    flux (``flux_out``: all bands, below ``LOW_HZ``, above ``HIGH_HZ``). Engine thread.

    The window lasts about as long at every sample rate as ``frame_size`` samples at 44.1 kHz
    (46 ms), and the bands are the same ones (the learned beat activation depends on that): at
    44.1 and 22.05 kHz the FFT bins fall on the same frequencies; at other rates the window is
    the nearest size the FFT does fast (``fft_size``: 2240 samples at 48 kHz, not 2229) and the
    bands' triangles are read off its bins (``resampled_filterbank``). The filters are scaled
    by the reference window's length over this one's, so that a tone is as loud in its band
    at every rate (before, 6 dB quieter at 22.05 kHz and 7 dB louder at 96 kHz than at 44.1).
    At a rate below 32 kHz the bands above Nyquist stay 0.
    A block that completes no frame (six in seven of the engine's 128-sample blocks) is only
    copied into ``_pending``; the frame's kernel call moves it into the ring (this halved the
    per-block Python work: 0.054 -> 0.027 s of CPU per minute of audio in an A/B timing)."""

    def __init__(self, samplerate: int, fps: int = 50, frame_size: int = 2048,
                 bands_per_octave: int = 12, f_min: float = 30.0, f_max: float = 16000.0,
                 max_frames_per_call: int = 4096) -> None:
        self.samplerate = samplerate
        self.fps = fps
        self.hop = samplerate / fps  # may be fractional: frames stay on the fps grid
        ref_size = frame_size
        frame_size = fft_size(ref_size * samplerate / REFERENCE_SR)
        self.frame_size = frame_size
        self.latency_sec = frame_size / 2 / samplerate
        self.window = np.hanning(frame_size).astype(np.float32)
        ref = log_filterbank(ref_size // 2 + 1, REFERENCE_SR, ref_size, bands_per_octave,
                             f_min, f_max)
        n_bins = frame_size // 2 + 1
        if frame_size * REFERENCE_SR == ref_size * samplerate:  # the same bins (44.1, 22.05 kHz)
            fb = np.zeros((ref.shape[0], n_bins), dtype=np.float32)
            k = min(n_bins, ref.shape[1])
            fb[:, :k] = ref[:, :k]
        else:  # bins a little apart: the same bands read off them
            fb = resampled_filterbank(ref, REFERENCE_SR / ref_size, samplerate / frame_size,
                                      n_bins)
        # a tone's FFT peak grows with the window's length in samples: as loud at every rate
        self.fb = fb * np.float32(ref_size / frame_size)
        # each band's nonzero run of weights, for the kernel
        used = [np.nonzero(row)[0] for row in self.fb]
        self._first = np.array([u[0] if len(u) else 0 for u in used], dtype=np.int64)
        self._last = np.array([u[-1] + 1 if len(u) else 0 for u in used], dtype=np.int64)
        self._weights = np.zeros((len(used), max(1, int(np.max(self._last - self._first)))),
                                 dtype=np.float32)
        for b, (lo, hi) in enumerate(zip(self._first, self._last)):
            self._weights[b, :hi - lo] = self.fb[b, lo:hi]
        self.n_bands = self.fb.shape[0]
        self.band_hz = ref.argmax(axis=1) * REFERENCE_SR / ref_size  # each band's peak
        self._ring = np.zeros(frame_size, dtype=np.float32)
        self._frame = np.zeros(frame_size, dtype=np.float32)
        self._spectrum = np.zeros(frame_size // 2 + 1, dtype=np.complex64)
        self._fft = real_fft(frame_size)
        self._pending = np.zeros(frame_size, dtype=np.float32)  # samples before their frame
        self.out = np.zeros((max_frames_per_call, self.n_bands), dtype=np.float32)
        self._no_frames = self.out[:0]  # what a block that completes no frame returns
        # each frame's flux (``_flux``): all bands, those below LOW_HZ (bass, left hand, kick:
        # for the meter) and from HIGH_HZ up (a drum kit's cymbals: for the choice of
        # activation); rows of one buffer, computed in the bands' kernel call
        self.flux_out = np.zeros((3, max_frames_per_call), dtype=np.float64)
        self.n_low = int(np.sum(self.band_hz < LOW_HZ))
        self.first_high = int(np.sum(self.band_hz <= HIGH_HZ))
        self._prev = np.zeros(self.n_bands, dtype=np.float32)  # the last frame's bands
        self.bad_samples = 0  # NaN/inf samples replaced by silence
        # compile/load the kernels now, not live
        _append_frame(self._ring, 0, self._pending, 0, self._frame, 0, 1, self.window,
                      self._frame, True)
        self._compute(0)
        self.reset()

    def reset(self) -> None:
        self._ring[:] = 0.0
        self._prev[:] = 0.0
        self._n_samples = 0  # samples seen
        self._fill = 0  # of them, not yet in the ring (``_pending``)
        self.n_frames = 0  # frames produced
        self._frame_end = int(round(self.hop))  # the sample count that completes a frame

    def stash(self, block: np.ndarray) -> bool:
        """If ``block`` completes no frame, keep its samples for the next frame's kernel call
        and return True (six blocks in seven at 128 samples: the only work they cost);
        otherwise do nothing and return False (``process`` takes it)."""
        n = block.shape[0]
        fill = self._fill
        if n < self._frame_end - self._n_samples and fill + n <= self._pending.shape[0]:
            self._pending[fill:fill + n] = block
            self._fill = fill + n
            self._n_samples += n
            return True
        return False

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed samples; return the band frames completed, shape (n, n_bands) (a view of a
        reused buffer, valid until the next call)."""
        if self.stash(block):
            return self._no_frames
        n = block.shape[0]
        fill = self._fill
        self._fill = 0
        if block.dtype != np.float32 or not block.flags.c_contiguous:
            block = np.ascontiguousarray(block, dtype=np.float32)  # (not the engine's blocks)
        n_out = 0
        pos = 0
        while pos < n and n_out < self.out.shape[0]:
            take = min(self._frame_end - self._n_samples, n - pos)
            done = self._n_samples + take == self._frame_end
            if not done and not fill and self.stash(block[pos:]):
                break  # the samples after this block's last frame: kept aside
            write = (self._n_samples - fill) % self._ring.shape[0]  # (the ring is circular)
            self.bad_samples += _append_frame(self._ring, write, self._pending, fill, block,
                                              pos, pos + take, self.window, self._frame, done)
            fill = 0
            self._n_samples += take
            pos += take
            if done:
                self._compute(n_out)
                n_out += 1
                self.n_frames += 1
                self._frame_end = int(round((self.n_frames + 1) * self.hop))
        return self.out[:n_out]

    def _compute(self, k: int) -> None:
        """The windowed frame (``_frame``, written by ``_append_frame``) into row ``k`` of the
        bands (``out``) and column ``k`` of the flux (``flux_out``)."""
        self._fft(self._frame, self._spectrum)  # (numpy's FFT, into a buffer)
        _bands_flux(self._spectrum, self._first, self._last, self._weights, self.out[k],
                    self._prev, self.n_low, self.first_high, self.flux_out, k)

    def frame_time_sec(self, k: int) -> float:
        """Time (s, from the first sample) that frame ``k`` describes: its window's centre."""
        return (k + 1) * self.hop / self.samplerate - self.latency_sec


class OnsetDetector:
    """Audio blocks in, onset strength frames out (``fps`` per second). Engine thread.

    ``spectrum`` holds the band frames of the last call too (``last_bands``), so another
    stage can read them without a second FFT."""

    def __init__(self, samplerate: int, fps: int = 50, frame_size: int = 2048,
                 bands_per_octave: int = 12, max_frames_per_call: int = 4096) -> None:
        self.spectrum = LogSpectrum(samplerate, fps, frame_size, bands_per_octave,
                                    max_frames_per_call=max_frames_per_call)
        self.samplerate = samplerate
        self.fps = fps
        self.latency_sec = self.spectrum.latency_sec
        flux = self.spectrum.flux_out  # (computed with the bands: views of its rows)
        self.out = flux[0]  # each frame's onset strength (plus MIDI impulses)
        self.low_out = flux[1]  # the part below LOW_HZ (bass, left hand, kick), for the meter
        self.high_out = flux[2]  # the part above HIGH_HZ (cymbals), for the choice of activation
        self.last_bands = self.spectrum.out[:0]
        self._no_frames = self.out[:0]  # what a block that completes no frame returns
        self.reset()

    def reset(self) -> None:
        self.spectrum.reset()
        self._impulse = 0.0

    @property
    def n_frames(self) -> int:
        return self.spectrum.n_frames

    def add_impulse(self, strength: float) -> None:
        """A MIDI note-on: add ``strength`` to the next frame produced."""
        self._impulse += strength

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed samples; return the onset strengths of the frames completed (a view of a
        reused buffer, valid until the next call)."""
        bands = self.last_bands = self.spectrum.process(block)
        n = bands.shape[0]
        if not n:
            return self._no_frames
        if self._impulse:  # MIDI note-ons heard since the last frame: in the first one
            self.out[0] += self._impulse
            self._impulse = 0.0
        return self.out[:n]

    def frame_time_sec(self, k: int) -> float:
        return self.spectrum.frame_time_sec(k)
