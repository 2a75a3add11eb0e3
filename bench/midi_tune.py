"""Choose the MIDI path's beat-tracker settings on held-out material, never the development set.

Two MIDI sets, written to ``models/cache/midi_tune/`` (not committed; ~20 s to build):

- ``pieces/``: music21 pieces that are not in the development set (``beats_trainset.
  candidates``: chorales, fiddle tunes, madrigals, quartets, ...) under the training set's
  random tempo curves (``beats_trainset.random_clip``), as note events with exact beats;
- ``accomp/``: the generated keyboard and guitar accompaniments of
  ``bench/beats_trainaccomp.py`` (stride, oom-pah, waltz, Alberti, ...), the texture the
  pieces seldom have.

Each MIDI file goes through the live listener note by note (``engine.listen.track.
beats_of_midi``), with the tracker given; F (+-70 ms), CMLt and AMLt per set, and the paired
difference against the flux tracker's settings with a bootstrap 95 % interval.

    python bench/midi_tune.py            # engine.listen.beat.midi_tracker vs the flux's
    python bench/midi_tune.py --grid     # a small grid around it
"""

from __future__ import annotations

import argparse
import functools
import itertools
import random
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import beats_dataset as ds  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "models" / "cache" / "midi_tune"
N_PIECES, N_ACCOMP = 600, 300  # pieces tried (about 270 give a clip), accompaniments


def build_piece(job) -> str:
    import beats_trainset as ts

    i, source = job
    clip = ts.random_clip(i, source, random.Random(5000 + i))
    try:
        mid, beats, _ = ds.build_score_clip(clip, min_sec=10.0)
    except Exception as exc:  # noqa: BLE001 - a piece this recipe cannot use: go on
        return f"skipped {source}: {exc}"
    mid.save(OUT / "pieces" / f"{clip.name}.mid")
    ds.write_beats(OUT / "pieces" / f"{clip.name}.beats", beats)
    return clip.name


def build(jobs: int) -> None:
    import beats_trainaccomp as ta
    import beats_trainset as ts

    (OUT / "pieces").mkdir(parents=True, exist_ok=True)
    (OUT / "accomp").mkdir(parents=True, exist_ok=True)
    pieces = sorted(set(ts.candidates(more=True)))
    assert not {c.source for c in ds.SCORES} & set(pieces), "overlaps the development set"
    random.Random(1).shuffle(pieces)
    from multiprocessing import Pool

    with Pool(jobs) as p:
        list(p.imap_unordered(build_piece, list(enumerate(pieces[:N_PIECES]))))
    for i in range(N_ACCOMP):
        name, mid, beats, _, _ = ta.make_clip(i)
        mid.save(OUT / "accomp" / f"{name}.mid")
        ds.write_beats(OUT / "accomp" / f"{name}.beats", beats)


def scores(path: Path, make_tracker) -> tuple[float, float, float]:
    import mir_eval

    from engine.listen.track import beats_of_midi

    ref = ds.read_beats(path.with_suffix(".beats"))[:, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = mir_eval.beat.trim_beats(ref)
        e = mir_eval.beat.trim_beats(beats_of_midi(str(path), tracker=make_tracker()))
        cont = mir_eval.beat.continuity(r, e)
        return mir_eval.beat.f_measure(r, e), cont[1], cont[3]


def compare(files, make_a, make_b, label_a: str, label_b: str) -> None:
    a = np.array([scores(f, make_a) for f in files])
    b = np.array([scores(f, make_b) for f in files])
    d = b[:, 0] - a[:, 0]
    rng = np.random.default_rng(0)
    boot = [rng.choice(d, len(d)).mean() for _ in range(2000)]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    print(f"  {label_a:12s} F {a[:, 0].mean():.3f} CMLt {a[:, 1].mean():.3f} "
          f"AMLt {a[:, 2].mean():.3f}")
    print(f"  {label_b:12s} F {b[:, 0].mean():.3f} CMLt {b[:, 1].mean():.3f} "
          f"AMLt {b[:, 2].mean():.3f}")
    print(f"  F {label_b} - {label_a}: {d.mean():+.3f} (95 % {lo:+.3f}..{hi:+.3f}); better on "
          f"{int((d > 0.02).sum())}, worse on {int((d < -0.02).sum())} of {len(d)}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid", action="store_true")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    from engine.listen.beat import BeatTracker, midi_tracker

    if not (OUT / "accomp").is_dir():
        print(f"building the held-out MIDI sets in {OUT} ...", flush=True)
        build(args.jobs)
    sets = {s: sorted((OUT / s).glob("*.mid")) for s in ("pieces", "accomp")}
    if not args.grid:
        for name, files in sets.items():
            print(f"{name} ({len(files)} clips):")
            compare(files, BeatTracker, midi_tracker, "flux's", "midi_tracker")
        return 0
    grid = {"onset_p": [(1.0, 0.3, 0.2, 0.2), (1.0, 0.3, 0.1, 0.05), (1.0, 0.3, 0.15, 0.05),
                        (1.0, 0.2, 0.1, 0.05)],
            "prior_octaves": [0.6, 0.8, 1.0], "observation_lambda": [16.0, 24.0]}
    for values in itertools.product(*grid.values()):
        kw = dict(zip(grid, values))
        make = functools.partial(BeatTracker, **kw)
        f = [np.mean([scores(p, make)[0] for p in files]) for files in sets.values()]
        print(kw, " ".join(f"{s} {v:.3f}" for s, v in zip(sets, f)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
