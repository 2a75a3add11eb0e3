"""The model runtime: an onnxruntime session over the exported step graph, with its key/value
cache preallocated once. The live engine never imports torch.

``ModelRuntime.feed(token, slot, metric)`` appends one token and returns the logits for the
next one (a reused buffer). When the context is full it re-primes: the cache restarts from
the last ``keep_frames`` frames, fed again (the model was trained on windows that start
anywhere). ``sample`` draws a token with temperature and top-p under a mask.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

SUPPORTED_FORMAT = "improv-step-v1"
SUPPORTED_TOKENIZER = 1
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "improv_react_int8.onnx"


def resolve_model(name: str) -> Path:
    """``react`` / ``anticipate`` -> the shipped int8 model; anything else is a path."""
    if name in ("react", "anticipate"):
        return DEFAULT_MODEL.parent / f"improv_{name}_int8.onnx"
    return Path(name)


class ModelFileError(RuntimeError):
    """The model file or its metadata is missing, truncated or of another version."""


def load_metadata(model_path: Path) -> dict:
    """The JSON beside a model file (``improv_react_int8.onnx`` -> ``improv_react.json``)."""
    stem = model_path.name.replace("_int8.onnx", "").replace("_fp32.onnx", "")
    meta_path = model_path.with_name(stem + ".json")
    if not model_path.exists():
        raise ModelFileError(f"model file not found: {model_path}")
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise ModelFileError(f"model metadata not found: {meta_path}") from None
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"model metadata {meta_path} is not valid JSON: {exc}") from None
    if meta.get("format") != SUPPORTED_FORMAT:
        raise ModelFileError(f"{meta_path}: format {meta.get('format')!r}, expected "
                             f"{SUPPORTED_FORMAT!r}")
    if meta.get("tokenizer_version") != SUPPORTED_TOKENIZER:
        raise ModelFileError(f"{meta_path}: tokenizer version {meta.get('tokenizer_version')},"
                             f" this engine reads {SUPPORTED_TOKENIZER}")
    return meta


REST_TOKEN = 1  # (tokenizer v1)


class _Context:
    """One key/value cache with its token history and its own input buffers."""

    def __init__(self, shape: tuple, block: int, n_metric: int) -> None:
        self.k = np.zeros(shape, dtype=np.float32)
        self.v = np.zeros(shape, dtype=np.float32)
        self.hist = np.zeros((block, 3), dtype=np.int64)  # token, slot, metric
        self.n_metric = n_metric
        self._token = np.zeros(1, dtype=np.int64)
        self._slot = np.zeros(1, dtype=np.int64)
        self._metric = np.zeros(1, dtype=np.int64)
        self._pos = np.zeros((), dtype=np.int64)
        self._feeds = {"token": self._token, "slot": self._slot, "metric": self._metric,
                       "pos": self._pos, "k_cache": self.k, "v_cache": self.v}

    def clear(self) -> None:
        self.k[:] = 0.0
        self.v[:] = 0.0

    def run(self, session, token: int, slot: int, metric: int, pos: int) -> np.ndarray:
        """Run one token at ``pos``; store its keys/values; return the next token's logits."""
        self._token[0], self._slot[0], self._metric[0] = token, slot, metric % self.n_metric
        self._pos[...] = pos
        logits, k_new, v_new = session.run(None, self._feeds)
        self.k[:, :, pos] = k_new
        self.v[:, :, pos] = v_new
        self.hist[pos] = (token, slot, metric)
        return logits


class ModelRuntime:
    """One model session and its cache. Called from one thread (the improviser's)."""

    def __init__(self, model_path: str | Path = DEFAULT_MODEL, threads: int = 1,
                 keep_frames: int = 48) -> None:
        import onnxruntime as ort

        self.path = Path(model_path)
        self.meta = load_metadata(self.path)
        cfg = self.meta["config"]
        self.order = self.meta["order"]
        self.voice_order = tuple(self.meta["voice_order"])
        self.vocab_size = cfg["vocab_size"]
        self.block = cfg["block_size"]
        self.slots_per_frame = cfg["n_slots"]
        self.n_metric = cfg["n_metric"]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self.session = ort.InferenceSession(str(self.path), opts,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelFileError(f"cannot load model {self.path}: {exc}") from None
        d_head = cfg["d_model"] // cfg["n_head"]
        shape = (cfg["n_layer"], cfg["n_head"], self.block, d_head)
        self._ctx = _Context(shape, self.block, self.n_metric)
        self._spare = _Context(shape, self.block, self.n_metric)  # re-primed in a helper thread
        self.keep = (keep_frames * self.slots_per_frame) % self.block or self.block // 2
        self.logits = np.zeros(self.vocab_size, dtype=np.float32)
        self.pos = 0
        self.reprimes = 0
        self.dropped = 0  # tokens forgotten by re-primes, all told (positions shift by this)
        self._bg: threading.Thread | None = None
        self._bg_start = self._bg_end = self._bg_len = 0
        self._bg_failed = False
        # warm up (onnxruntime's first runs allocate and are several times slower): a few
        # tokens through each cache now, so the first notes of a performance are not late
        for ctx in (self._ctx, self._spare):
            for i in range(8):
                ctx.run(self.session, REST_TOKEN, i % self.slots_per_frame, 0, i)
            ctx.clear()
        self._low_water = 0  # lowest position rewound to while the helper works

    @property
    def k(self) -> np.ndarray:
        return self._ctx.k

    @property
    def v(self) -> np.ndarray:
        return self._ctx.v

    def reset(self) -> None:
        """Forget the context (a new performance)."""
        self.finish_reprime(discard=True)
        self.pos = 0
        self._ctx.clear()

    def _run(self, token: int, slot: int, metric: int) -> None:
        self.logits[:] = self._ctx.run(self.session, token, slot, metric, self.pos)
        self.pos += 1

    def feed(self, token: int, slot: int, metric: int) -> np.ndarray:
        """Append one token; return the logits of the next (reused buffer)."""
        if self.pos >= self.block:
            self._reprime()
        self._run(token, slot, metric)
        return self.logits

    def rewind(self, pos: int) -> None:
        """Forget every token from ``pos`` on (to re-plan from there): cache slots at and
        after ``pos`` are masked out by the graph, so nothing needs clearing."""
        if not 0 <= pos <= self.pos:
            raise ValueError(f"cannot rewind to {pos}: the context holds 0..{self.pos}")
        self.pos = pos
        self._low_water = min(self._low_water, pos)

    def make_room(self) -> None:
        """Re-prime now (keep the last ``keep_frames``), before the context is full."""
        self._reprime()

    def _reprime(self) -> None:
        self.finish_reprime(discard=True)
        start = max(0, self.pos - self.keep)
        kept = self._ctx.hist[start:self.pos].copy()
        self.dropped += start
        self.pos = 0
        self._ctx.clear()
        self.reprimes += 1
        for token, slot, metric in kept:
            self._run(int(token), int(slot), int(metric))

    # -- re-priming off the decision path ------------------------------------------------------
    def start_reprime(self) -> None:
        """Begin re-priming in a helper thread: the last ``keep`` tokens run into the spare
        cache while decisions go on in this one (onnxruntime releases the GIL while it
        runs). :meth:`finish_reprime` swaps the caches; call it at a point that depends only
        on the tokens (a position), so live and offline runs swap at the same token."""
        if self._bg is not None:
            return
        start = max(0, self.pos - self.keep)
        self._bg_start, self._bg_end = start, self.pos
        self._low_water = self.pos
        tokens = self._ctx.hist[start:self.pos].copy()
        spare = self._spare

        self._bg_failed = False

        def work() -> None:
            try:
                spare.clear()
                for i, (token, slot, metric) in enumerate(tokens):
                    spare.run(self.session, int(token), int(slot), int(metric), i)
            except Exception:  # the swap falls back to a plain re-prime
                self._bg_failed = True
                raise  # (threading.excepthook counts it: thread_errors)

        self._bg_len = len(tokens)
        self._bg = threading.Thread(target=work, name="improv-reprime", daemon=True)
        self._bg.start()

    @property
    def reprime_started_at(self) -> int | None:
        """The position the helper's re-prime was started at, or None."""
        return self._bg_end if self._bg is not None else None

    def finish_reprime(self, discard: bool = False) -> None:
        """Wait for the helper (normally long done), bring the spare cache up to the tokens
        fed since, and make it the context. ``discard``: drop the helper's work."""
        if self._bg is None:
            return
        self._bg.join()
        self._bg = None
        if discard:
            return
        valid = min(self._bg_len, self._low_water - self._bg_start)
        if valid <= 0 or self._bg_failed:  # rewound below what it kept, or it failed
            self._reprime()
            return
        pos2 = valid
        for p in range(self._bg_start + valid, self.pos):
            token, slot, metric = self._ctx.hist[p]
            self.logits[:] = self._spare.run(self.session, int(token), int(slot), int(metric),
                                             pos2)
            pos2 += 1
        self._ctx, self._spare = self._spare, self._ctx
        self.dropped += self._bg_start
        self.pos = pos2
        self.reprimes += 1

    @staticmethod
    def sample(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0,
               top_p: float = 1.0, mask: np.ndarray | None = None) -> int:
        """A token from ``logits``: ``mask`` (bool, True = allowed), temperature (0 = argmax),
        nucleus ``top_p``."""
        z = logits.astype(np.float64)
        if mask is not None:
            if not mask.any():
                raise ValueError("the mask allows no token")
            z = np.where(mask, z, -np.inf)
        if temperature <= 0:
            return int(np.argmax(z))
        z = (z - z.max()) / temperature
        p = np.exp(z)
        p /= p.sum()
        if top_p < 1.0:
            order = np.argsort(-p)
            cum = np.cumsum(p[order])
            cut = int(np.searchsorted(cum, top_p)) + 1
            keep = order[:cut]
            q = np.zeros_like(p)
            q[keep] = p[keep]
            p = q / q.sum()
        return int(rng.choice(len(p), p=p))
