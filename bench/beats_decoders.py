"""Three decoders of the audio beat, per clip, on cached training clips no shipped choice saw:
the spectral flux's tracker, the learned activation's, and the joint tracker on both at once,
beside the default (the gate choosing among them, ``engine/listen/gate_source.py``).

    python bench/beats_decoders.py [--sets val,M,H] [--level 0|1|2] [--every N]
        [--model WEIGHTS.json] [--modes auto,flux,learned,joint]

``val``: the learned model's held-out training clips (``models.beat_train.split``); ``M``: the
tracker modules' clips (``bench/beats_trainmods.py``, kept out of the shipped model's training
in ``models/cache/beats_train_modules/``); ``H``: Hydrogen's drum clips
(``bench/beats_trainhydrogen.py``). ``--level`` picks the cached input level (0, -15 or
-30 dB). The clips' band frames are fed to the engine's own ``Listener`` in place of its
spectrum (the same frames it would compute from the audio). Prints each set's mean F (+-70 ms,
from 5 s on) for the default and each decoder alone, then the clips whose beats the gate gave
to the joint tracker (a band; peaked music that is not a drum loop), against the flux tracker
alone (what the gate gave such clips before). About 0.2 s a clip.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.listen.activation import DEFAULT_MODEL, load_model  # noqa: E402
from engine.listen.listener import FPS, Listener  # noqa: E402
from engine.listen.onset import _flux  # noqa: E402

SR = 44100
HOP = SR // FPS
LATENCY_SEC = 1024 / SR  # (the training clips' frame times: as models/beat_tune.py)


class BandFeed:
    """Stands in for the detector's ``LogSpectrum``: one cached band frame per hop of audio,
    and its flux (``_flux``, as the spectrum computes it) in the real one's ``flux_out``, where
    the detector reads it."""

    def __init__(self, real, bands: np.ndarray) -> None:
        for name in ("band_hz", "latency_sec", "hop", "samplerate", "fps", "n_bands",
                     "flux_out", "n_low", "first_high"):
            setattr(self, name, getattr(real, name))
        self.bands = np.ascontiguousarray(bands, dtype=np.float32)
        self._prev = np.zeros(self.n_bands, dtype=np.float32)
        self.n_frames = 0

    def reset(self) -> None:
        self.n_frames = 0
        self._prev[:] = 0.0

    def process(self, block: np.ndarray) -> np.ndarray:
        k = self.n_frames
        if k >= len(self.bands):
            return self.bands[:0]
        self.n_frames += 1
        self.flux_out[:, 0] = _flux(self.bands[k], self._prev, self._prev, self.n_low,
                                    self.first_high)
        return self.bands[k:k + 1]

    def frame_time_sec(self, k: int) -> float:
        return (k + 1) * self.hop / self.samplerate - self.latency_sec


MODES = ("auto", "flux", "learned", "joint")


def listen(bands: np.ndarray, model, mode: str) -> tuple[np.ndarray, Listener]:
    """Beat times from the band frames: ``mode`` "auto" (the default), "flux", "learned" or
    "joint" (``--audio-tracker band``: the joint tracker from the start)."""
    listener = Listener(SR, beat_model=None if mode == "flux" else model,
                        auto=mode == "auto", band=mode == "joint")
    listener.detector.spectrum = BandFeed(listener.detector.spectrum, bands)
    listener.reset()
    block = np.zeros(HOP, np.float32)
    beats: list[float] = []
    for _ in range(len(bands)):
        listener.audio(block, 0.0, 0, SR)
        beats += listener.take_beats()
    return np.array(beats), listener


def f_measure(ref: np.ndarray, est: np.ndarray, from_sec: float = 5.0) -> float:
    import mir_eval

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mir_eval.beat.f_measure(ref[ref >= from_sec], est[est >= from_sec])


def clips(sets: list[str], level: int, every: int):
    """(set, name, band frames, beat times) of the cached clips."""
    from models.beat_train import DATA, load_clips, split

    if "val" in sets:
        _, val = split(load_clips())
        for name, feats, targets, _info in val[::every]:
            yield "val", name, feats[level], beat_times(targets)
    folders = {"M": DATA.parent / "beats_train_modules", "H": DATA}
    for s in sets:
        if s in folders:
            for path in sorted(folders[s].glob(f"{s}*.npz"))[::every]:
                z = np.load(path)
                yield s, path.stem, z["feats"][level], beat_times(z["targets"])


def beat_times(targets: np.ndarray) -> np.ndarray:
    return (np.flatnonzero(targets[:, 0] == 1.0) + 1) / FPS - LATENCY_SEC


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="val,M,H")
    ap.add_argument("--level", type=int, default=0, choices=(0, 1, 2))
    ap.add_argument("--every", type=int, default=1, help="every Nth clip of each set")
    ap.add_argument("--model", default=str(DEFAULT_MODEL),
                    help="the learned activation's weights (default: the shipped ones)")
    ap.add_argument("--modes", default=",".join(MODES),
                    help="which of the default and the decoders to run (comma-separated)")
    args = ap.parse_args(argv)
    model = load_model(args.model)
    modes = [m for m in MODES if m in args.modes.split(",")]
    rows = []
    for s, name, bands, ref in clips(args.sets.split(","), args.level, args.every):
        row = {"set": s, "clip": name}
        for mode in modes:
            beats, listener = listen(bands, model, mode)
            row[mode] = f_measure(ref, beats)
            if mode == "auto":
                row["source"] = listener.gate.source
        rows.append(row)
    if not rows:
        sys.exit("no cached clips: render them first (see the docstring)")
    print(f"F-measure from 5 s on, input level {(0, -15, -30)[args.level]} dB\n")
    heads = {"auto": "default", "flux": "flux", "learned": "learned", "joint": "joint"}
    print(f"| set | clips | {' | '.join(heads[m] for m in modes)} |\n"
          f"|---|---:|{'---:|' * len(modes)}")
    for s in dict.fromkeys(r["set"] for r in rows):
        group = [r for r in rows if r["set"] == s]
        means = " | ".join(f"{np.mean([r[m] for r in group]):.3f}" for m in modes)
        print(f"| {s} | {len(group)} | {means} |")
    if not {"auto", "flux"} <= set(modes):
        return 0
    band = [r for r in rows if r["source"] == "joint"]
    print(f"\nclips the gate gave to both activations (joint tracker): {len(band)}")
    for r in band:
        print(f"  {r['set']} {r['clip']}: flux alone {r['flux']:.3f} -> joint {r['auto']:.3f}")
    if band:
        up = sum(r["auto"] > r["flux"] + 0.01 for r in band)
        down = sum(r["auto"] < r["flux"] - 0.01 for r in band)
        print(f"  mean {np.mean([r['flux'] for r in band]):.3f} -> "
              f"{np.mean([r['auto'] for r in band]):.3f} ({up} up, {down} down)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
