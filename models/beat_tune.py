"""Choose the beat tracker's settings for the learned activation on the held-out clips of the
TRAINING set (never the development set, which ``bench/beats.py`` then scores once).

    python -m models.beat_tune [--grid] [--model WEIGHTS.json]

Runs the exported model (the runtime's numba code, not torch) and the causal tracker over the
validation clips' band frames at every input level, and prints F (+-70 ms), tempo-changing F,
F on legato ensembles without drums (where the activation used to take the eighths for
beats) and on those below 80 BPM; on the generated accompaniment textures
(``bench/beats_trainaccomp.py``) and on the tracker modules (``bench/beats_trainmods.py``),
where rendered, each against all the other clips; meter accuracy
(3 vs 4), downbeat F and the median offset of the beats (ms, the median over clips of each
clip's median), for the default settings or a small grid around them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import warnings

import numpy as np

from engine.listen.activation import BeatActivation
from engine.listen.beat import learned_tracker
from engine.listen.meter import MeterTracker

from .beat_train import load_clips, split

FPS = 50
LATENCY_SEC = 1024 / 44100
SLOW_BPM = 80.0  # below this, legato pieces were tracked at twice their tempo
LEGATO = {"organ", "strings", "quartet", "woodwinds", "choir", "brass", "trio"}


def run(acts, params: dict):
    import mir_eval

    fs, fch, fleg, fslow, meter_ok, dfs, facc, offsets = [], [], [], [], [], [], [], []
    fmod = []
    for act, tgt, info in acts:
        tr = learned_tracker(FPS, **params)
        mt = MeterTracker()
        beats, downs = [], []
        for k in range(len(act)):
            for f in tr.process(act[k:k + 1, 0]):
                t = (f + 1) / FPS - LATENCY_SEC + tr.lag_sec
                beats.append(t)
                d = max(act[f, 1], act[min(f + 1, k), 1])  # (as engine/listen/listener.py)
                if mt.beat(d) == 1:
                    downs.append(t)
        ref = (np.flatnonzero(tgt[:, 0] == 1.0) + 1) / FPS - LATENCY_SEC
        ref_d = (np.flatnonzero(tgt[:, 1] == 1.0) + 1) / FPS - LATENCY_SEC
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_t = mir_eval.beat.trim_beats(ref)
            f = mir_eval.beat.f_measure(ref_t, mir_eval.beat.trim_beats(np.array(beats)))
            dfs.append(mir_eval.beat.f_measure(mir_eval.beat.trim_beats(ref_d),
                                               mir_eval.beat.trim_beats(np.array(downs))))
        fs.append(f)
        offsets.extend(_offsets(np.array(beats), ref))
        if str(info.get("source", "")).startswith("generated"):
            facc.append(f)  # bench/beats_trainaccomp.py's accompaniment textures
        if info.get("kind") == "module":
            fmod.append(f)  # bench/beats_trainmods.py's tracker modules
        if info["curve"] != "steady":
            fch.append(f)
        if info.get("ensemble") in LEGATO and not info.get("drums"):
            fleg.append(f)
            if np.mean(info["bpm"]) < SLOW_BPM:
                fslow.append(f)
        if info["meter"] in ("3/4", "4/4"):
            meter_ok.append(mt.meter == int(info["meter"][0]))
    return {"f": np.mean(fs), "f_changing": np.mean(fch),
            "f_legato_no_drums": np.mean(fleg) if fleg else float("nan"),
            "f_slow_legato": np.mean(fslow) if fslow else float("nan"),
            "f_accompaniment": np.mean(facc) if facc else float("nan"),
            "f_not_accompaniment": (np.sum(fs) - np.sum(facc)) / max(1, len(fs) - len(facc)),
            "f_modules": np.mean(fmod) if fmod else float("nan"),
            "f_not_modules": (np.sum(fs) - np.sum(fmod)) / max(1, len(fs) - len(fmod)),
            "meter": np.mean(meter_ok),
            "downbeat_f": np.mean(dfs),
            "offset_ms": 1000.0 * np.median(offsets) if offsets else float("nan")}


def _offsets(beats: np.ndarray, ref: np.ndarray) -> list[float]:
    """The clip's median offset (s, beat minus the nearest true beat, within 70 ms), as a
    list of 0 or 1 value."""
    if not len(beats) or not len(ref):
        return []
    d = beats[:, None] - ref[None, :]
    d = d[np.arange(len(beats)), np.abs(d).argmin(axis=1)]
    d = d[np.abs(d) < 0.07]
    return [float(np.median(d))] if len(d) else []


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid", action="store_true")
    ap.add_argument("--model", default=None, help="weights to run (default: the shipped ones)")
    args = ap.parse_args(argv)
    _, val = split(load_clips())
    net = BeatActivation(args.model) if args.model else BeatActivation()
    acts = []
    for _, feats, tgt, info in val:
        for g in range(feats.shape[0]):
            net.reset()
            acts.append((net.process(feats[g]).copy(), tgt, info))
    print(f"{len(val)} validation clips x {feats.shape[0]} levels")
    grid = [{}]
    if args.grid:
        keys = {"transition_lambda": [15.0, 30.0], "observation_lambda": [4.0, 8.0],
                "beat_frames": [1, 2], "prior_octaves": [0.6], "beat_gap_cost": [1.0, 0.2]}
        grid = [dict(zip(keys, v)) for v in itertools.product(*keys.values())]
    for params in grid:
        r = run(acts, params)
        print(json.dumps(params), " ".join(f"{k} {v:.3f}" for k, v in r.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
