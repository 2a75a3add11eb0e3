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
        cols.append(voice_tokens_of(*_part_frames(part, n_frames, ql_to_frame)))
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


def piece_from_midi(path: Path) -> Piece | None:
    """Frames of any MIDI file for fine-tuning on a player's own music: the melody is the
    one-voice track (or channel) with the highest mean pitch (its top note per frame); the
    other notes sounding in each frame become bass (lowest), alto (highest) and tenor (the
    middle)."""
    import mido

    try:
        mf = mido.MidiFile(path)
    except (OSError, EOFError, ValueError, KeyError, IndexError):
        return None
    tpf = mf.ticks_per_beat / FRAMES_PER_BEAT
    notes: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    num, den = 4, 4
    for ti, track in enumerate(mf.tracks):
        tick, open_ = 0, {}
        for msg in track:
            tick += msg.time
            if msg.type == "time_signature" and tick == 0:
                num, den = msg.numerator, msg.denominator
            if msg.type == "note_on" and msg.velocity > 0:
                open_[(msg.channel, msg.note)] = tick
            elif msg.type in ("note_on", "note_off") and (msg.channel, msg.note) in open_:
                s = open_.pop((msg.channel, msg.note))
                notes.setdefault((ti, msg.channel), []).append((s, tick, msg.note))
    if len(notes) < 1:
        return None
    melody_key = max(notes, key=lambda k: _melody_score(notes[k]))
    n_frames = int(max(e for v in notes.values() for _, e, _ in v) / tpf) + 1
    if n_frames < 16:
        return None
    mel = np.zeros(n_frames, dtype=np.int64)
    mel_on = np.zeros(n_frames, dtype=bool)
    sounding: list[list[tuple[int, bool]]] = [[] for _ in range(n_frames)]
    for key, ns in notes.items():
        for s, e, p in ns:
            f0, f1 = int(round(s / tpf)), max(int(round(s / tpf)) + 1, int(round(e / tpf)))
            for f in range(f0, min(f1, n_frames)):
                if key == melody_key:
                    if p >= mel[f]:
                        mel[f] = p
                        mel_on[f] = f == f0
                else:
                    sounding[f].append((p, f == f0))
    cols = {v: (np.zeros(n_frames, dtype=np.int64), np.zeros(n_frames, dtype=bool))
            for v in ("A", "T", "B")}
    for f, s in enumerate(sounding):
        if not s:
            continue
        s = sorted(s)
        picks = {"B": s[0], "A": s[-1], "T": s[len(s) // 2]}
        for v, (p, on) in picks.items():
            prev = cols[v][0][f - 1] if f else 0
            cols[v][0][f] = p
            cols[v][1][f] = on or p != prev
    frames = np.stack([voice_tokens_of(mel, mel_on)] + [voice_tokens_of(*cols[v])
                                                        for v in ("A", "T", "B")], axis=1)
    bar_frames = max(1, int(round(num * 4 / den * FRAMES_PER_BEAT)))
    return Piece(Path(path).name, frames, np.arange(n_frames) % bar_frames, bar_frames)


def _melody_score(ns: list[tuple[int, int, int]]) -> float:
    """High for a one-voice line in a high register: mean pitch, minus 100 when more than a
    fifth of its notes overlap the next one (chords are not the melody)."""
    ns = sorted(ns)
    overlaps = sum(1 for a, b in zip(ns, ns[1:]) if b[0] < a[1] - 1)
    mono = overlaps <= 0.2 * len(ns)
    return float(np.mean([p for _, _, p in ns])) - (0.0 if mono else 100.0)


def voice_tokens_of(pitch: np.ndarray, onset: np.ndarray) -> np.ndarray:
    toks = np.full(len(pitch), REST, dtype=np.int64)
    toks[(pitch > 0) & ~onset] = HOLD
    struck = (pitch > 0) & onset
    toks[struck] = [pitch_token(int(p)) for p in pitch[struck]]
    return toks


def from_midi_dir(folder: str | Path) -> dict[str, list[Piece]]:
    """A player's MIDI files as training data, split 90/10 by file (hash of the name)."""
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    pieces = [p for p in (piece_from_midi(f) for f in files) if p is not None]
    if not pieces:
        raise ValueError(f"no usable MIDI files (with notes, >= 16 frames) in {folder}")
    out: dict[str, list[Piece]] = {"train": [], "valid": [], "test": []}
    for p in pieces:
        h = int(hashlib.sha1(p.name.encode()).hexdigest(), 16) % 10
        out["valid" if h == 0 and len(pieces) > 1 else "train"].append(p)
    if not out["valid"]:
        out["valid"] = out["train"][-1:]
    return out
