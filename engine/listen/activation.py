"""The learned beat activation, run frame by frame: the GRU trained by
``models/beat_train.py``, from ``LogSpectrum`` band frames to beat and downbeat probabilities.

The weights are plain JSON (``models/improv_beat.json``: no pickled objects). Every buffer is
made at construction and the per-frame work is one numba ``nogil`` kernel, so the stage can
run on the engine thread next to the audio path. The recurrence is causal: frame ``k``'s
output depends on frames ``0..k`` only, and ``process`` gives the same numbers whatever the
block size.
"""

from __future__ import annotations

import json
from pathlib import Path

import numba
import numpy as np

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "improv_beat.json"
# below FULL_BAND_SR the log bands above Nyquist (LogSpectrum's reach 16 kHz) stay 0: there
# the default network's beats are gated by one trained on band-limited input (presence.py)
LOW_RATE_MODEL = DEFAULT_MODEL.with_name("improv_beat_lowrate.json")
FULL_BAND_SR = 32000
FORMAT = "improv-beat-gru-v1"
# the kernels may sum in any order (so LLVM vectorises the dot products: half the CPU, outputs
# within 2e-15 of the in-order sums); exp/tanh stay exact and NaN is not assumed away
FAST = {"reassoc", "contract"}


@numba.njit(nogil=True, cache=True, fastmath=FAST)
def _gru(x, h, w_ih, w_hh, b_ih, b_hh, gi, gh):
    """One GRU step (PyTorch's equations), updating ``h`` in place."""
    n = h.shape[0]
    for j in range(3 * n):
        s = b_ih[j]
        for i in range(x.shape[0]):
            s += w_ih[j, i] * x[i]
        gi[j] = s
        s = b_hh[j]
        for i in range(n):
            s += w_hh[j, i] * h[i]
        gh[j] = s
    for j in range(n):
        r = 1.0 / (1.0 + np.exp(-(gi[j] + gh[j])))
        z = 1.0 / (1.0 + np.exp(-(gi[n + j] + gh[n + j])))
        c = np.tanh(gi[2 * n + j] + r * gh[2 * n + j])
        h[j] = (1.0 - z) * c + z * h[j]


@numba.njit(nogil=True, cache=True, fastmath=FAST)
def _frame(bands, prev, mean, std, inp_w, inp_b, w_ih0, w_hh0, b_ih0, b_hh0, w_ih1, w_hh1,
           b_ih1, b_hh1, out_w, out_b, feat, h0, h1, z0, gi, gh, out):
    """One frame: features, dense + tanh, two GRU layers, two sigmoid outputs into ``out``."""
    n = bands.shape[0]
    for i in range(n):
        b = bands[i]
        d = b - prev[i]
        feat[i] = (b - mean[i]) / std[i]
        feat[n + i] = ((d if d > 0.0 else 0.0) - mean[n + i]) / std[n + i]
        prev[i] = b
    for j in range(z0.shape[0]):
        s = inp_b[j]
        for i in range(feat.shape[0]):
            s += inp_w[j, i] * feat[i]
        z0[j] = np.tanh(s)
    _gru(z0, h0, w_ih0, w_hh0, b_ih0, b_hh0, gi, gh)
    _gru(h0, h1, w_ih1, w_hh1, b_ih1, b_hh1, gi, gh)
    for k in range(out.shape[0]):
        s = out_b[k]
        for j in range(h1.shape[0]):
            s += out_w[k, j] * h1[j]
        out[k] = 1.0 / (1.0 + np.exp(-s))


@numba.njit(nogil=True, cache=True)
def _vec(flat, layout, i):
    """Array ``i`` of a packed set (``pack``) as a vector (a view)."""
    return flat[layout[i, 0]:layout[i, 0] + layout[i, 1]]


@numba.njit(nogil=True, cache=True)
def _mat(flat, layout, i):
    """Array ``i`` of a packed set as a (rows, cols) matrix (a view)."""
    off, rows, cols = layout[i, 0], layout[i, 1], layout[i, 2]
    return flat[off:off + rows * cols].reshape((rows, cols))


def pack(arrays) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Vectors and matrices as one float64 buffer and a layout (offset, rows, cols) a row:
    a kernel call unboxes two arrays instead of one per weight (about 55 ns each). Also
    returns each array's view of the buffer (writes to it reach the kernel's copy)."""
    layout = np.zeros((len(arrays), 3), dtype=np.int64)
    off = 0
    for i, x in enumerate(arrays):
        rows, cols = (x.shape[0], x.shape[1]) if x.ndim == 2 else (x.shape[0], 1)
        layout[i] = off, rows, cols
        off += x.size
    flat = np.zeros(off)
    views = []
    for i, x in enumerate(arrays):
        views.append(flat[layout[i, 0]:layout[i, 0] + x.size].reshape(x.shape))
        views[-1][...] = x
    return flat, layout, views


@numba.njit(nogil=True, cache=True, fastmath=FAST)
def _frames(bands, start, w, w_layout, scratch, s_layout, out):
    """``_frame`` for rows ``start..`` of ``bands`` into the same rows of ``out`` (rows before
    ``start`` set to 0): one call a block. ``w``: the weights packed (``pack``) in the order
    of ``_frame``'s arguments, mean .. out_b; ``scratch``: prev, feat, h0, h1, z0, gi, gh."""
    for k in range(min(start, bands.shape[0])):
        out[k, 0] = 0.0
        out[k, 1] = 0.0
    mean, std = _vec(w, w_layout, 0), _vec(w, w_layout, 1)
    inp_w, inp_b = _mat(w, w_layout, 2), _vec(w, w_layout, 3)
    w_ih0, w_hh0 = _mat(w, w_layout, 4), _mat(w, w_layout, 5)
    b_ih0, b_hh0 = _vec(w, w_layout, 6), _vec(w, w_layout, 7)
    w_ih1, w_hh1 = _mat(w, w_layout, 8), _mat(w, w_layout, 9)
    b_ih1, b_hh1 = _vec(w, w_layout, 10), _vec(w, w_layout, 11)
    out_w, out_b = _mat(w, w_layout, 12), _vec(w, w_layout, 13)
    prev, feat = _vec(scratch, s_layout, 0), _vec(scratch, s_layout, 1)
    h0, h1, z0 = _vec(scratch, s_layout, 2), _vec(scratch, s_layout, 3), _vec(scratch, s_layout, 4)
    gi, gh = _vec(scratch, s_layout, 5), _vec(scratch, s_layout, 6)
    for k in range(start, bands.shape[0]):
        _frame(bands[k], prev, mean, std, inp_w, inp_b, w_ih0, w_hh0, b_ih0, b_hh0, w_ih1,
               w_hh1, b_ih1, b_hh1, out_w, out_b, feat, h0, h1, z0, gi, gh, out[k])


class ModelFileError(RuntimeError):
    """The beat model file is missing or not a model this runtime can run."""


_LOADED: dict = {}  # (path, mtime, size) -> the parsed file: a listener per clip reads it once


def load_model(path: str | Path = DEFAULT_MODEL) -> dict:
    """The model file's contents (cached while the file is unchanged: not to be modified)."""
    path = Path(path)
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
        if key in _LOADED:
            return _LOADED[key]
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelFileError(f"beat model {path} not found (it ships in the repository: "
                             "models/improv_beat.json)") from None
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"beat model {path} cannot be read: {exc}") from None
    if doc.get("format") != FORMAT:
        raise ModelFileError(f"beat model {path}: format {doc.get('format')!r}, "
                             f"expected {FORMAT!r}")
    if len(_LOADED) >= 4:  # a few files at most (a file rewritten is a new key)
        _LOADED.clear()
    _LOADED[key] = doc
    return doc


class BeatActivation:
    """Band frames in, (beat, downbeat) probabilities out, one row per frame. Engine thread."""

    def __init__(self, model: str | Path | dict = DEFAULT_MODEL,
                 max_frames_per_call: int = 4096) -> None:
        doc = model if isinstance(model, dict) else load_model(model)
        self.meta = {k: doc[k] for k in ("n_bands", "hidden", "fps", "frame_size",
                                         "bands_per_octave")}
        self.n_bands = int(doc["n_bands"])
        hid = int(doc["hidden"])

        def a(x):
            return np.ascontiguousarray(np.array(x, dtype=np.float64))

        weights = (a(doc["mean"]), a(doc["std"]), a(doc["inp_w"]), a(doc["inp_b"]),
                   a(doc["gru"][0]["w_ih"]), a(doc["gru"][0]["w_hh"]), a(doc["gru"][0]["b_ih"]),
                   a(doc["gru"][0]["b_hh"]), a(doc["gru"][1]["w_ih"]), a(doc["gru"][1]["w_hh"]),
                   a(doc["gru"][1]["b_ih"]), a(doc["gru"][1]["b_hh"]), a(doc["out_w"]),
                   a(doc["out_b"]))
        if weights[2].shape != (hid, 2 * self.n_bands):
            raise ModelFileError("beat model: the input layer does not match n_bands/hidden")
        self._w, self._w_layout, _ = pack(weights)
        # prev, feat, h0, h1, z0, gi, gh (state and buffers, one array for the kernel)
        self._scratch, self._s_layout, scratch = pack([np.zeros(n) for n in (
            self.n_bands, 2 * self.n_bands, hid, hid, hid, 3 * hid, 3 * hid)])
        self._prev, _, self._h0, self._h1 = scratch[:4]
        self.out = np.zeros((max_frames_per_call, 2))
        self.process(np.zeros((1, self.n_bands), dtype=np.float32))  # compile/load now
        self.reset()

    def reset(self) -> None:
        self._prev[:] = 0.0
        self._h0[:] = 0.0
        self._h1[:] = 0.0

    def process(self, bands: np.ndarray, start: int = 0) -> np.ndarray:
        """``bands`` (n, n_bands) -> (n, 2) beat/downbeat probabilities (a view of a reused
        buffer, valid until the next call). With ``start``, the frames before it are not
        heard (their rows are 0): a network started afresh part-way through a block."""
        n = bands.shape[0]
        if bands.ndim != 2 or bands.shape[1] != self.n_bands:
            raise ValueError(f"beat activation: expected frames of {self.n_bands} bands, "
                             f"got shape {bands.shape}")
        out = self.out[:n]
        _frames(bands, start, self._w, self._w_layout, self._scratch, self._s_layout, out)
        return out
