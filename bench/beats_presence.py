"""Where the low-rate network's thresholds come from (``engine/listen/presence.py``).

    python bench/beats_presence.py [--model models/improv_beat_lowrate.json]

Below 32 kHz the default beat network is scaled by the low-rate network's largest beat output
over the last 2 s (``WINDOW_FRAMES``), ramped from 0 at ``QUIET`` to 1 at ``HEARD``. This
prints that 2-s maximum on the training noises (``models.beat_train.noise_bands``) and on the
held-out training clips (``models.beat_train.split``, Hydrogen's left out), both band-limited
as at 8 / 11.025 / 16 / 22.05 kHz (``lowpass_gains``, a sharp edge): the thresholds sit
between the noises' 99th percentile and the music's lowest. Needs the rendered training cache
(``models/cache/beats_train``: ``bench/beats_trainset.py`` and the scripts its docstring
names); the test sets are not looked at.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.listen.activation import LOW_RATE_MODEL, BeatActivation  # noqa: E402
from engine.listen.presence import HEARD, QUIET, WARM_FRAMES, WINDOW_FRAMES  # noqa: E402

RATES = (8000, 11025, 16000, 22050)


def window_max(a: np.ndarray, n: int = WINDOW_FRAMES) -> np.ndarray:
    """The largest value of the last ``n`` frames, frame by frame."""
    return sliding_window_view(np.concatenate([np.zeros(n - 1), a]), n).max(axis=1)


def main(argv=None) -> int:
    from models import beat_train as bt

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(LOW_RATE_MODEL))
    args = ap.parse_args(argv)
    net = BeatActivation(args.model)
    _, val = bt.split(bt.load_clips())
    val = [c for c in val if not c[0].startswith("H")]
    noises = bt.noise_bands(0, n=12)

    def maxima(frames: np.ndarray, gains: np.ndarray) -> np.ndarray:
        net.reset()
        beat = net.process(np.ascontiguousarray(bt.scaled(frames, gains)))[:, 0].copy()
        beat[:WARM_FRAMES] = 0.0
        return window_max(beat)[150:]  # (after the first 3 s)

    print(f"2-s maximum of the low-rate network's beat output (QUIET {QUIET}, HEARD {HEARD});"
          f" {len(noises)} noises, {len(val)} held-out clips\n")
    print("| rate | noise p99 | noise max | music p0.1 | music p1 | music p5 |")
    print("|---|---:|---:|---:|---:|---:|")
    for sr in RATES:
        gains = bt.lowpass_gains(sr / 2, noises[0].shape[1], rolloff=0.0)
        nz = np.concatenate([maxima(z, gains) for z in noises])
        mu = np.concatenate([maxima(c[1][0], gains) for c in val])
        print(f"| {sr / 1000:g} kHz | {np.percentile(nz, 99):.3f} | {nz.max():.3f} | "
              f"{np.percentile(mu, 0.1):.3f} | {np.percentile(mu, 1):.3f} | "
              f"{np.percentile(mu, 5):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
