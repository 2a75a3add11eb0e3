"""Training data from the music21 corpus: Bach chorales as melody (soprano) + alto, tenor,
bass, quantised to 16th-note frames.

``build()`` parses every four-part chorale once (two processes), splits BY PIECE with the
committed list ``models/split.json`` (made on first build from a hash of each piece's name:
80 % train, 10 % validation, 10 % test), and caches the frames in ``models/cache/`` so a
rebuild is quick. Transposition to all keys happens when batches are drawn
(:func:`transpose_ok` keeps every voice inside its range).

    python -m models.data        # build the cache and print its size
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .tokens import FRAMES_PER_BEAT, HOLD, REST, VOICES, pitch_token

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache" / "chorales_v1.npz"
SPLIT = HERE / "split.json"

# Comfortable ranges of each voice (MIDI pitch), used to accept a transposition.
RANGES = {"S": (57, 84), "A": (52, 79), "T": (45, 72), "B": (33, 64)}


@dataclass
class Piece:
    name: str
    frames: np.ndarray  # (n_frames, 4) voice tokens, VOICES order
    bar_pos: np.ndarray  # (n_frames,) frame position within the bar
    bar_frames: int  # frames per bar


def _part_frames(part, n_frames: int, ql_to_frame: float) -> tuple[np.ndarray, np.ndarray]:
    pitch = np.zeros(n_frames, dtype=np.int64)
    onset = np.zeros(n_frames, dtype=bool)
    for el in part.flatten().notes:
        start = int(round(float(el.offset) * ql_to_frame))
        end = int(round(float(el.offset + el.quarterLength) * ql_to_frame))
        p = max(x.midi for x in el.pitches)  # a chord in one part: its top note
        if start >= n_frames or end <= start:
            continue
        pitch[start:end] = p
        onset[start] = True
    return pitch, onset


def parse_chorale(path: str) -> Piece | None:
    """Frames of one chorale, or None if it is not exactly four parts."""
    from music21 import converter

    try:
        score = converter.parse(path)
    except Exception:
        return None
    parts = list(score.parts)
    if len(parts) != 4:
        return None
    ts = score.recurse().getElementsByClass("TimeSignature")
    ts = next(iter(ts), None)
    bar_ql = float(ts.barDuration.quarterLength) if ts is not None else 4.0
    ql_to_frame = FRAMES_PER_BEAT  # frames per quarter note
    total_ql = float(score.highestTime)
    n_frames = int(round(total_ql * ql_to_frame))
    bar_frames = int(round(bar_ql * ql_to_frame))
    if n_frames < 16 or bar_frames <= 0:
        return None
    cols = []
    for part in parts:
        part = part.stripTies()
        pitch, onset = _part_frames(part, n_frames, ql_to_frame)
        toks = np.full(n_frames, REST, dtype=np.int64)
        toks[(pitch > 0) & ~onset] = HOLD
        struck = (pitch > 0) & onset
        toks[struck] = [pitch_token(int(p)) for p in pitch[struck]]
        cols.append(toks)
    # pickup: the first measure may be short; metric position counts from the barline
    first = parts[0].getElementsByClass("Measure")
    first = next(iter(first), None)
    pickup_ql = float(first.paddingLeft) if first is not None else 0.0
    shift = int(round(pickup_ql * ql_to_frame))
    bar_pos = (np.arange(n_frames) + shift) % bar_frames
    name = Path(path).name
    return Piece(name, np.stack(cols, axis=1), bar_pos.astype(np.int64), bar_frames)


def chorale_paths() -> list[str]:
    from music21 import corpus

    seen, out = set(), []
    for p in corpus.getComposer("bach"):
        stem = Path(str(p)).stem
        if stem in seen:
            continue
        seen.add(stem)
        out.append(str(p))
    return sorted(out)


def split_of(name: str) -> str:
    h = int(hashlib.sha1(name.encode()).hexdigest(), 16) % 10
    return "test" if h == 0 else "valid" if h == 1 else "train"


def build(force: bool = False) -> dict[str, list[Piece]]:
    """Parse (or load the cache) and return {"train"|"valid"|"test": [Piece, ...]}."""
    if CACHE.exists() and not force:
        return load_cache()
    paths = chorale_paths()
    with multiprocessing.Pool(2) as pool:
        pieces = [p for p in pool.map(parse_chorale, paths, chunksize=8) if p is not None]
    # de-duplicate identical settings (the corpus holds some chorales twice)
    unique, seen = [], set()
    for p in pieces:
        key = hashlib.sha1(p.frames.tobytes()).hexdigest()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    if SPLIT.exists():
        split = json.loads(SPLIT.read_text())
    else:
        split = {"tokenizer_version": 1, "pieces": {p.name: split_of(p.name) for p in unique}}
        SPLIT.write_text(json.dumps(split, indent=1, sort_keys=True) + "\n")
    for p in unique:
        p_split = split["pieces"].get(p.name)
        if p_split is None:
            split["pieces"][p.name] = split_of(p.name)
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        CACHE,
        names=np.array([p.name for p in unique]),
        lengths=np.array([len(p.frames) for p in unique]),
        frames=np.concatenate([p.frames for p in unique]),
        bar_pos=np.concatenate([p.bar_pos for p in unique]),
        bar_frames=np.array([p.bar_frames for p in unique]),
    )
    return load_cache()


def load_cache() -> dict[str, list[Piece]]:
    z = np.load(CACHE)
    split = json.loads(SPLIT.read_text())["pieces"]
    out: dict[str, list[Piece]] = {"train": [], "valid": [], "test": []}
    start = 0
    for name, n, bf in zip(z["names"], z["lengths"], z["bar_frames"]):
        piece = Piece(str(name), z["frames"][start:start + n], z["bar_pos"][start:start + n],
                      int(bf))
        out[split.get(str(name), split_of(str(name)))].append(piece)
        start += n
    return out


def transpose_ok(frames: np.ndarray, semitones: int) -> bool:
    """True if every struck pitch stays inside its voice's range after transposing."""
    for i, v in enumerate(VOICES):
        toks = frames[:, i]
        struck = toks[toks >= 3]
        if struck.size == 0:
            continue
        lo, hi = RANGES[v]
        pitches = struck - 3 + 21 + semitones
        if pitches.min() < lo - 2 or pitches.max() > hi + 2:
            return False
    return True


def transpose(frames: np.ndarray, semitones: int) -> np.ndarray:
    out = frames.copy()
    struck = out >= 3
    out[struck] += semitones
    return out


if __name__ == "__main__":
    data = build()
    for k, v in data.items():
        print(k, len(v), "pieces", sum(len(p.frames) for p in v), "frames")
