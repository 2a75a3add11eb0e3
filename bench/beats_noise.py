"""Beats the default listener commits on steady noise, at several sample rates.

    python bench/beats_noise.py [--model WEIGHTS.json] [--seconds 30]

The noises of ``tests/test_listen.py``'s steady-noise test (white, pink and brown, 0.2 RMS,
the same seed) through ``beats_of_audio`` (the default: both activations, the gate). Prints,
for each colour and rate, the beats committed in all and after the first 3 s (the flux's
level warms up from 0 before that: a few beats there are known and allowed by the test). None
should come after 3 s. Below 32 kHz the bands above Nyquist stay 0 and the default network
hears a beat in the noise; there the low-rate network gates it (``engine/listen/presence.py``,
bench/BEATS.md "Steady noise at low sample rates"). ``--model W`` runs W alone at every rate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.listen.activation import DEFAULT_MODEL, load_model  # noqa: E402
from engine.listen.track import beats_of_audio  # noqa: E402

RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000)
WARM_SEC = 3.0


def noise(colour: str, seconds: float, sr: int) -> np.ndarray:
    """``seconds`` of noise at ``sr`` (seed 11, shaped in the spectrum, 0.2 RMS): also the
    noises of ``tests/test_listen.py``'s steady-noise test."""
    n = int(seconds * sr)
    spec = np.fft.rfft(np.random.default_rng(11).standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1.0 / sr), 20.0)
    spec *= {"white": 1.0, "pink": f ** -0.5, "brown": f ** -1.0}[colour]
    x = np.fft.irfft(spec, n)
    return (0.2 * x / np.sqrt(np.mean(x * x))).astype(np.float32)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="",
                    help="these weights alone at every rate (default: the shipped ones, "
                         "gated by the low-rate ones below 32 kHz)")
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args(argv)
    model = load_model(args.model) if args.model else DEFAULT_MODEL
    print(f"beats in {args.seconds:.0f} s of steady noise: all / after {WARM_SEC:.0f} s\n")
    print("| noise | " + " | ".join(f"{sr / 1000:g} kHz" for sr in RATES) + " |")
    print("|---|" + "---:|" * len(RATES))
    for colour in ("white", "pink", "brown"):
        cells = []
        for sr in RATES:
            beats = beats_of_audio(noise(colour, args.seconds, sr), sr, beat_model=model,
                                   auto=True)
            cells.append(f"{len(beats)} / {int(np.sum(beats > WARM_SEC))}")
        print(f"| {colour} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
