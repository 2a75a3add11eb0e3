"""Produced songs for the learned beat activation's training set: the LMMS demo songs.

The activation had been trained on rendered scores and synthesised drum loops only, and on
produced music (``bench/beats_songs.py``'s sets) it was far behind madmom's (trained on
annotated recordings). LMMS's demo projects are produced electronic and pop songs with an
exact beat grid (one tempo from tick 0): this renders those NOT in the ``lmms`` evaluation set
(``beats_songs.LMMS_HELD_OUT``, four authors) and not sampling the development set's loops,
cuts each into 30 s segments every 20 s and plays each segment at three random speeds
(varispeed 0.78-1.28: tempo and pitch move together, as on a turntable), so the tempi spread
over ~80-220 BPM. Writes ``models/cache/beats_train/P###_<song>_<speed>.npz`` in the training
set's format (``beats_trainset.save_clip``). Needs ``apt-get install lmms``.

    python bench/beats_trainlmms.py [--speeds 3]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import beats_songs as bs  # noqa: E402
import beats_trainset as ts  # noqa: E402

SEG_SEC, HOP_SEC = 30.0, 20.0
SPEEDS = (0.78, 1.28)


def varispeed(x: np.ndarray, speed: float) -> tuple[np.ndarray, float]:
    """``x`` played ``speed`` times faster (resampled); returns it and the exact speed used."""
    from scipy.signal import resample_poly

    fr = Fraction(speed).limit_denominator(40)
    return resample_poly(x, fr.denominator, fr.numerator), float(fr)


def save_segments(name: str, x: np.ndarray, beats, info: dict, prefix: str, k: int,
                  speeds: int, kind: str, label: str = "") -> int:
    """Cut ``x`` (mono, ``bs.SR``) into ``SEG_SEC`` segments every ``HOP_SEC``, write each at
    ``speeds`` varispeeds (random, seeded by ``name`` and the segment) as clips
    ``<prefix><k>_<label or name>_<speed>`` numbered from ``k``; ``beats`` are (t_sec,
    position in bar). Returns the next clip number."""
    sr = bs.SR
    times = np.array([t for t, _ in beats])
    pos = np.array([p for _, p in beats])
    n_seg = max(1, int(math.floor((len(x) / sr - SEG_SEC) / HOP_SEC)) + 1)
    for s in range(n_seg):
        t0 = s * HOP_SEC
        seg = x[int(t0 * sr):int((t0 + SEG_SEC) * sr)]
        rng = random.Random(zlib.crc32(f"{name}:{s}".encode()))
        for _ in range(speeds):
            y, speed = varispeed(seg, rng.uniform(*SPEEDS))
            sel = (times >= t0) & (times < t0 + len(seg) / sr)
            b = [(float(t - t0) / speed, int(p)) for t, p in zip(times[sel], pos[sel])]
            clip = f"{prefix}{k:03d}_{(label or name)[:24]}_{speed:.2f}"
            peak = float(np.max(np.abs(y))) or 1.0
            n = ts.save_clip(ts.OUT / f"{clip}.npz", y / peak * 0.9, sr, b,
                             {"source": info["source"], "curve": "steady",
                              "bpm": round(info["bpm"] * speed, 2), "speed": speed,
                              "segment_sec": t0, "kind": kind,
                              "meter": f"{int(pos.max())}/4", **info.get("extra", {})})
            print(f"{clip}: {n} frames, {info['bpm'] * speed:.1f} BPM", flush=True)
            k += 1
    return k


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--speeds", type=int, default=3, help="renderings of each segment")
    args = ap.parse_args(argv)
    ts.OUT.mkdir(parents=True, exist_ok=True)
    k = 0
    for name, x, beats, info in bs.lmms_songs(lambda n: n not in bs.LMMS_HELD_OUT):
        k = save_segments(name, x, beats, info, "P", k, args.speeds, "lmms",
                          label=name.removeprefix("lmms_"))
    print(f"{k} clips in {ts.OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
