"""Look for MIDI-path beat-tracker settings on held-out material, never the development set.

Three MIDI sets, written to ``models/cache/midi_tune/`` (not committed; ~30 s to build):

- ``pieces/``: music21 pieces that are not in the development set (``beats_trainset.
  candidates``: chorales, fiddle tunes, madrigals, quartets, ...) under the training set's
  random tempo curves (``beats_trainset.random_clip``), as note events with exact beats: where
  a grid (``--grid``) chooses;
- ``fresh/``: other pieces of the same pool, the same way: where a choice is checked (a setting
  picked as the best of many on ``pieces`` looks better there than it is);
- ``accomp/``: the generated keyboard and guitar accompaniments of
  ``bench/beats_trainaccomp.py`` (stride, oom-pah, waltz, Alberti, ...), the texture the
  pieces seldom have.

Each MIDI file goes through the live listener note by note (``engine.listen.track.
beats_of_midi``) with the tracker given; F (+-70 ms), CMLt and AMLt per set, and the paired
difference between the MIDI path's current settings (the flux tracker's) and a candidate,
with a bootstrap 95 % interval.

    python bench/midi_tune.py [--candidate JSON]   # current vs candidate on the three sets
    python bench/midi_tune.py --grid               # a small grid on ``pieces``

The candidate by default is the best of a grid of about 40 on ``pieces`` (F 0.788 -> 0.834;
accompaniments 0.607 -> 0.671), which held only in part on pieces it was not chosen on
(``fresh`` 0.775 -> 0.801, ``bench/meter_weights.py``'s 0.789 -> 0.782, the development set's
0.818 -> 0.793): not adopted (bench/BEATS.md).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import random
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import beats_dataset as ds  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "models" / "cache" / "midi_tune"
N_PIECES, N_ACCOMP = 600, 300  # pieces tried per set (about 270 give a clip), accompaniments
CANDIDATE = {"onset_p": [1.0, 0.3, 0.1, 0.05], "prior_octaves": 0.8}


def build_piece(job) -> str:
    import beats_trainset as ts

    i, source, folder = job
    clip = ts.random_clip(i, source, random.Random(5000 + i))
    try:
        mid, beats, _ = ds.build_score_clip(clip, min_sec=10.0)
    except Exception as exc:  # noqa: BLE001 - a piece this recipe cannot use: go on
        return f"skipped {source}: {exc}"
    mid.save(OUT / folder / f"{clip.name}.mid")
    ds.write_beats(OUT / folder / f"{clip.name}.beats", beats)
    return clip.name


def build(processes: int) -> None:
    import beats_trainaccomp as ta
    import beats_trainset as ts

    for folder in ("pieces", "fresh", "accomp"):
        (OUT / folder).mkdir(parents=True, exist_ok=True)
    pieces = sorted(set(ts.candidates(more=True)))
    assert not {c.source for c in ds.SCORES} & set(pieces), "overlaps the development set"
    random.Random(1).shuffle(pieces)
    from multiprocessing import Pool

    jobs = [(i, src, "pieces") for i, src in enumerate(pieces[:N_PIECES])]
    jobs += [(i, src, "fresh") for i, src in enumerate(pieces[N_PIECES:2 * N_PIECES],
                                                         start=N_PIECES)]
    with Pool(processes) as p:
        list(p.imap_unordered(build_piece, jobs))
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
    ap.add_argument("--candidate", type=json.loads, default=CANDIDATE,
                    help="BeatTracker keyword arguments (JSON) to compare with the current")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    from engine.listen.beat import BeatTracker

    if not (OUT / "fresh").is_dir():
        print(f"building the held-out MIDI sets in {OUT} ...", flush=True)
        build(args.jobs)
    sets = {s: sorted((OUT / s).glob("*.mid")) for s in ("pieces", "fresh", "accomp")}
    if not args.grid:
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in args.candidate.items()}
        print(f"candidate: {kw}")
        for name, files in sets.items():
            print(f"{name} ({len(files)} clips):")
            compare(files, BeatTracker, functools.partial(BeatTracker, **kw), "current",
                    "candidate")
        return 0
    sets.pop("fresh")  # the grid never sees it
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
