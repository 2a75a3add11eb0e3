"""Baselines evaluated exactly like the model (torch-free):

- :class:`NGram`: an n-gram (Markov) model over the same token sequences, its context being
  the previous n-1 tokens and the slot (voice) of the token to predict, interpolated with
  Witten-Bell smoothing down to a uniform distribution. Order 4 by default.
- :func:`rule_based_frames`: the engine's rule-based baseline accompanist (bass + three-note
  chord on each beat from the melody heard before that beat), as frames.
- :func:`random_frames`: random pitches in each voice's range at Bach's onset rate.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from engine.play.baseline import BaselineAccompanist

from .tokens import HOLD, PAD, REST, SLOTS_PER_FRAME, VOCAB_SIZE, pitch_token


class NGram:
    def __init__(self, order: int = 4) -> None:
        self.order = order
        # level n (0..order-1 context tokens): (slot, *context) -> {token: count}
        self.tables: list[dict] = [defaultdict(lambda: defaultdict(int)) for _ in range(order)]
        self._uniform = np.full(VOCAB_SIZE, 1.0 / (VOCAB_SIZE - 1))
        self._uniform[PAD] = 0.0

    def fit(self, sequences) -> NGram:
        """``sequences``: iterable of 1-D token arrays starting at a frame boundary."""
        for toks in sequences:
            toks = toks.tolist()
            for i, w in enumerate(toks):
                slot = i % SLOTS_PER_FRAME
                for n in range(self.order):
                    if i - n < 0:
                        break
                    self.tables[n][(slot, *toks[i - n:i])][w] += 1
        self.tables = [{k: dict(v) for k, v in t.items()} for t in self.tables]
        return self

    def dist(self, history: list[int], slot: int) -> np.ndarray:
        """P(next token | the last order-1 tokens of ``history``, its slot)."""
        p = self._uniform.copy()
        for n in range(self.order):
            if n > len(history):
                break
            ctx = (slot, *history[len(history) - n:]) if n else (slot,)
            counts = self.tables[n].get(ctx)
            if not counts:
                continue
            c = np.zeros(VOCAB_SIZE)
            for w, k in counts.items():
                c[w] = k
            total, types = c.sum(), len(counts)
            p = (c + types * p) / (total + types)
        return p

    def nll(self, toks: np.ndarray) -> tuple[float, int]:
        """Summed NLL (nats) of tokens 1.. of ``toks`` and how many were scored."""
        history: list[int] = []
        total = 0.0
        seq = toks.tolist()
        for i, w in enumerate(seq):
            if i > 0:
                total -= math.log(self.dist(history, i % SLOTS_PER_FRAME)[w])
            history.append(w)
            history = history[-(self.order - 1):] if self.order > 1 else []
        return total, len(seq) - 1


def rule_based_frames(melody: np.ndarray, bar_pos: np.ndarray, beats_per_bar: int = 4,
                      window_beats: int = 4) -> np.ndarray:
    """(n_frames, 5): melody, then the baseline's bass and three chord notes, decided on each
    beat from the melody frames before that beat only."""
    n = len(melody)
    acc = BaselineAccompanist(beats_per_bar=beats_per_bar)
    out = np.full((n, 5), REST, dtype=np.int64)
    out[:, 0] = melody
    per_beat = np.zeros((n // 4 + 2, 12))
    for f, tok in enumerate(melody.tolist()):
        if tok >= 3:
            per_beat[f // 4, (tok - 3 + 21) % 12] += 1.0
    for b in range(1, n // 4 + 1):
        recent = per_beat[max(0, b - window_beats):b].sum(axis=0)
        key = per_beat[max(0, b - 32):b].sum(axis=0)
        notes = acc.process(b, recent, key)
        f0 = b * 4
        if f0 >= n:
            break
        bass = [x for x in notes if x.role == "bass"]
        chord = sorted(x.pitch for x in notes if x.role == "chords")
        cols = ([bass[0].pitch] if bass else []) + chord
        for j, p in enumerate(cols[:4]):
            out[f0, 1 + j] = pitch_token(p)
            out[f0 + 1:min(n, f0 + 4), 1 + j] = HOLD
    return out


def random_frames(melody: np.ndarray, rng: np.random.Generator, onset_rate: float,
                  ranges=((52, 79), (45, 72), (33, 64))) -> np.ndarray:
    """(n_frames, 4) S A T B: each voice strikes a random pitch in its range with
    probability ``onset_rate`` per frame, else holds."""
    n = len(melody)
    out = np.full((n, 4), HOLD, dtype=np.int64)
    out[:, 0] = melody
    for j, (lo, hi) in enumerate(ranges):
        strike = rng.random(n) < onset_rate
        strike[0] = True
        out[strike, 1 + j] = [pitch_token(int(p)) for p in rng.integers(lo, hi + 1, strike.sum())]
    return out
