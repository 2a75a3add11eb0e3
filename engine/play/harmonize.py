"""Online harmonisation with the model: each frame's accompaniment is decided from the
melody up to that frame only (react order), or before it (anticipate order).

Used by ``improv harmonize`` and by the model benchmark. Torch-free: the model runs in
onnxruntime through :class:`~engine.play.runtime.ModelRuntime`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .runtime import ModelRuntime

PAD, REST, HOLD, LOW_PITCH = 0, 1, 2, 21  # the tokenizer's constants (models/tokens.py v1)
VOICES = ("S", "A", "T", "B")  # frame column order
RANGES = {"A": (52, 79), "T": (45, 72), "B": (33, 64)}  # accompaniment voice ranges (MIDI)


@dataclass
class HarmonizeSettings:
    temperature: float = 0.8  # 0 = always the most likely token
    top_p: float = 0.95  # nucleus sampling
    seed: int = 0
    no_crossing: bool = True  # bass <= tenor <= alto <= soprano (sounding pitches)
    no_parallels: bool = True  # no parallel fifths or octaves between moving voices
    scale: tuple[int, ...] | None = None  # key/scale lock: allowed pitch classes (None = all)


def pitch_token(pitch: int) -> int:
    return 3 + pitch - LOW_PITCH


class VoiceMasks:
    """Allowed next tokens per voice: its range (and scale), HOLD only while sounding,
    optionally no voice crossing."""

    def __init__(self, vocab_size: int, scale: tuple[int, ...] | None = None) -> None:
        self.vocab_size = vocab_size
        self.base = {}
        for v, (lo, hi) in RANGES.items():
            m = np.zeros(vocab_size, dtype=bool)
            m[REST] = True
            for p in range(lo, hi + 1):
                m[pitch_token(p)] = scale is None or p % 12 in scale
            self.base[v] = m
        self._m = np.zeros(vocab_size, dtype=bool)

    def mask(self, voice: str, sounding: dict, no_crossing: bool,
             previous: dict | None = None, moved: set | None = None) -> np.ndarray:
        """``sounding``: pitch per voice now (voices decided this frame already updated);
        ``previous``: pitch per voice in the previous frame and ``moved``: the voices that
        struck a new pitch this frame -- given both, parallel fifths/octaves are masked."""
        m = self._m
        m[:] = self.base[voice]
        held = sounding.get(voice)
        m[HOLD] = held is not None
        if previous is not None and moved and previous.get(voice) is not None:
            self._mask_parallels(m, voice, previous, sounding, moved)
        if not no_crossing:
            return m
        below = {"A": "T", "T": "B", "B": None}[voice]
        above = {"A": "S", "T": "A", "B": "T"}[voice]
        lo = sounding.get(below) if below else None
        hi = sounding.get(above)
        if lo is not None:
            m[3:pitch_token(lo)] = False
        upper = m.copy() if hi is not None else None
        if hi is not None:
            m[pitch_token(hi) + 1:] = False
            if not m[3:].any():  # no room between the neighbours: keep only the lower bound
                m[:] = upper
                hi = None
        if held is not None:
            m[HOLD] = (lo is None or held >= lo) and (hi is None or held <= hi)
        return m


    def _mask_parallels(self, m: np.ndarray, voice: str, previous: dict, sounding: dict,
                        moved: set) -> None:
        before = previous[voice]
        keep = m.copy()
        for other in moved:
            p_prev, p_now = previous.get(other), sounding.get(other)
            if other == voice or p_prev is None or p_now is None or p_prev == p_now:
                continue
            interval = abs(before - p_prev) % 12  # 0: octave/unison, 7: fifth
            if interval not in (0, 7):
                continue
            for p in range(LOW_PITCH, LOW_PITCH + self.vocab_size - 3):
                if p != before and abs(p - p_now) % 12 == interval:  # the same again, moving
                    m[pitch_token(p)] = False
        if not m[3:].any():  # nothing left to strike: allow the parallel rather than none
            m[:] = keep


def harmonize(rt: ModelRuntime, melody: np.ndarray, bar_pos: np.ndarray,
              settings: HarmonizeSettings | None = None) -> np.ndarray:
    """``melody``: per-frame soprano tokens; returns (n_frames, 4) tokens in S A T B order.
    Frame t's accompaniment depends on melody frames <= t (react) or < t (anticipate)."""
    s = settings or HarmonizeSettings()
    rng = np.random.default_rng(s.seed)
    masks = VoiceMasks(rt.vocab_size, s.scale)
    n = len(melody)
    out = np.full((n, 4), REST, dtype=np.int64)
    sounding: dict[str, int | None] = {v: None for v in VOICES}
    rt.reset()
    logits = None
    for f in range(n):
        metric = int(bar_pos[f])
        previous = dict(sounding)
        moved: set[str] = set()
        for slot, voice in enumerate(rt.voice_order):
            if voice == "S":
                tok = int(melody[f])
            elif logits is None:
                tok = REST  # nothing to condition on yet (anticipate order, first frame)
            else:
                mask = masks.mask(voice, sounding, s.no_crossing,
                                  previous if s.no_parallels else None, moved)
                tok = rt.sample(logits, rng, s.temperature, s.top_p, mask)
            out[f, VOICES.index(voice)] = tok
            if tok >= 3:
                sounding[voice] = tok - 3 + LOW_PITCH
                moved.add(voice)
            elif tok == REST:
                sounding[voice] = None
            logits = rt.feed(tok, slot, metric)
    return out


def plan_ahead(rt: ModelRuntime, n_frames: int, bar_pos: np.ndarray, sounding: dict,
               rng: np.random.Generator, settings: HarmonizeSettings | None = None) -> np.ndarray:
    """Continue the runtime's context ``n_frames`` frames into the future, predicting the
    player's melody too; return (n_frames, 4) tokens (S A T B). The caller remembers
    ``rt.pos`` before and ``rt.rewind``s to it when the player's real notes arrive, then
    feeds those and plans again: predicted frames are replaced, nothing sent is changed.
    ``bar_pos``: metric positions of the planned frames; ``sounding``: pitch per voice now."""
    s = settings or HarmonizeSettings()
    masks = VoiceMasks(rt.vocab_size, s.scale)
    melody_mask = np.zeros(rt.vocab_size, dtype=bool)
    melody_mask[REST] = True
    melody_mask[pitch_token(55):pitch_token(88) + 1] = True
    out = np.full((n_frames, 4), REST, dtype=np.int64)
    logits = rt.logits
    for f in range(n_frames):
        for slot, voice in enumerate(rt.voice_order):
            if voice == "S":
                m = melody_mask.copy()
                m[HOLD] = sounding.get("S") is not None
            else:
                m = masks.mask(voice, sounding, s.no_crossing)
            tok = rt.sample(logits, rng, s.temperature, s.top_p, m)
            out[f, VOICES.index(voice)] = tok
            if tok >= 3:
                sounding[voice] = tok - 3 + LOW_PITCH
            elif tok == REST:
                sounding[voice] = None
            logits = rt.feed(tok, slot, int(bar_pos[f]))
    return out
