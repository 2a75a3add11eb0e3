"""Following: does the accompaniment land on the player's beat and fit their melody?

Inputs: the melody (soprano) of held-out chorales (the model's test split, never trained on)
played under tempo curves written by ``bench/beats_dataset.py``'s recipe (steady, rubato,
accelerando), so the true beat grid is exact. Each input runs through the offline twin (the
live engine on a virtual clock: tracker + improviser + scheduler), with ``tempo.follow`` on
and the starting tempo set to the true first tempo (as a player would set it):

- MIDI input: the model improviser (react order) and the rule-based baseline, same inputs;
- audio input (the melody rendered by FluidSynth, piano): the audio path (learned beat
  activation -> tracker; the rule-based baseline accompanies audio players).

Measures, after the first 4 beats:
- onset error: each accompaniment note-on's distance (ms) to the nearest 16th of the true grid
  (p50 / p90), up to the player's last beat (after it there is no true grid: the notes that
  ring out while improv waits to be sure the player stopped are not scored). Placing notes at
  random times gives ~37 / ~67 ms at 100 BPM;
- chord fit: at the middle of every true 16th where melody and accompaniment both sound, do
  the accompaniment's pitch classes plus the melody's fit one chord template (triads and
  sevenths, ``models/metrics.py``);
- distinct pitch classes the accompaniment sounds there (>= 2: bass + chord, not an echo).

Targets (MIDI input): onset error p50 <= 15 ms, p90 <= 40 ms; chord fit >= 0.70; >= 2 pitch
classes.

    python bench/follow.py [--pieces 8] [--no-audio]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import beats_dataset as ds  # noqa: E402

from engine.config import load  # noqa: E402
from engine.offline import note_pairs, render  # noqa: E402
from models.metrics import fits_chord  # noqa: E402

CURVES = (("steady", None), ("rubato", 0.12), ("accel", None))
SKIP_BEATS = 4


def test_pieces(n: int) -> list[str]:
    split = json.loads((ROOT / "models" / "split.json").read_text())["pieces"]
    names = sorted(k for k, v in split.items() if v == "test")
    return [f"bach/{k.rsplit('.', 1)[0]}" for k in names][:n]


def make_input(source: str, curve: str, depth, i: int, tmp: Path):
    """-> (melody .mid path, beats [(t, pos)], first bpm) or None if the recipe refuses it."""
    rng = np.random.default_rng(i)
    base = float(rng.uniform(72, 110))
    bpm = (base, base * 1.4) if curve == "accel" else (base,)
    clip = ds.ScoreClip(f"f{i}", source, curve, bpm, "piano", depth=depth or 0.0, seed=i)
    try:
        mid, beats, entry = ds.build_score_clip(clip, min_sec=15.0)
    except ValueError:
        return None
    del mid.tracks[2:]  # the conductor and the soprano only: the player's melody
    path = tmp / f"{i}_{curve}.mid"
    mid.save(path)
    return path, np.array([b[0] for b in beats]), bpm[0], entry["duration_sec"]


def grid16(beats: np.ndarray) -> np.ndarray:
    out = []
    for a, b in zip(beats[:-1], beats[1:]):
        out += [a + k * (b - a) / 4 for k in range(4)]
    out.append(beats[-1])
    return np.array(out)


def measure(notes, player, beats: np.ndarray) -> dict:
    """``notes``/``player``: (on, off, ch, pitch, vel) of the accompaniment / the melody."""
    start = beats[min(SKIP_BEATS, len(beats) - 1)]
    grid = grid16(beats)
    end = grid[-1] + (grid[-1] - grid[-2])  # no true grid after the player's last beat
    ons = np.array([n[0] for n in notes if start <= n[0] <= end])
    err = np.abs(ons[:, None] - grid[None, :]).min(axis=1) * 1000 if len(ons) else np.zeros(0)
    fit = both = distinct = 0
    mids = (grid[:-1] + grid[1:]) / 2
    for t in mids[mids >= start]:
        mel = [p for on, off, _, p, _ in player if on <= t < off]
        acc = {p % 12 for on, off, _, p, _ in notes if on <= t < off}
        if mel and acc:
            both += 1
            fit += fits_chord(acc | {max(mel) % 12})
            distinct += len(acc)
    return {"errors_ms": err.tolist(), "fit": fit, "both": both, "distinct": distinct,
            "n_onsets": len(ons)}


def pool(rows: list[dict]) -> dict:
    err = np.concatenate([r["errors_ms"] for r in rows]) if rows else np.zeros(0)
    both = max(1, sum(r["both"] for r in rows))
    return {"p50": float(np.percentile(err, 50)) if len(err) else float("nan"),
            "p90": float(np.percentile(err, 90)) if len(err) else float("nan"),
            "fit": sum(r["fit"] for r in rows) / both,
            "distinct": sum(r["distinct"] for r in rows) / both,
            "onsets": sum(r["n_onsets"] for r in rows), "runs": len(rows)}


def run_one(path: Path, first_bpm: float, beats, improviser: bool, player_notes,
            commit_beats: float = 0.0):
    cfg = load(overrides={"tempo.bpm": round(first_bpm, 3), "tempo.follow": True,
                          "improviser.enabled": improviser,
                          "improviser.commit_beats": commit_beats})
    t0 = time.process_time()
    result = render(path, cfg)
    cpu = time.process_time() - t0
    notes = note_pairs(result.sent)
    acc = [n for n in notes if n[2] != 0]
    row = measure(acc, player_notes, beats)
    row["cpu_sec"] = cpu
    imp = result.engine.improviser
    row["decide_ms"] = (imp.decide_sec.values() * 1000).tolist() if imp is not None else []
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pieces", type=int, default=8)
    ap.add_argument("--no-audio", action="store_true")
    ap.add_argument("--commit", type=float, default=1.0,
                    help="also run the model's plan mode, committing this many beats ahead")
    args = ap.parse_args(argv)
    from engine.io.files import read_midi

    rows: dict[str, dict[str, list]] = {}
    decide: list[float] = []
    plan_decide: list[float] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        i = 0
        for source in test_pieces(args.pieces):
            for curve, depth in CURVES:
                i += 1
                made = make_input(source, curve, depth, i, tmp)
                if made is None:
                    continue
                path, beats, bpm, dur = made
                events, _ = read_midi(path)
                player = note_pairs_from_events(events)
                runs = [("model, react (MIDI)", True, 0.0), ("baseline (MIDI)", False, 0.0)]
                if args.commit > 0:
                    runs.insert(1, (f"model, plan {args.commit:g} beat (MIDI)", True,
                                    args.commit))
                for name, imp, commit in runs:
                    row = run_one(path, bpm, beats, imp, player, commit)
                    if commit == 0:
                        decide += row["decide_ms"]
                    else:
                        plan_decide += row["decide_ms"]
                    rows.setdefault(name, {}).setdefault(curve, []).append(row)
                if not args.no_audio:
                    wav = tmp / f"{i}.wav"
                    ds.render_midi(path, wav, dur, ds.SF2)
                    row = run_one(wav, bpm, beats, False, player)
                    rows.setdefault("baseline (audio)", {}).setdefault(curve, []).append(row)
                print(f"{source:18s} {curve:7s} done", flush=True)

    print("\n| accompanist (input) | tempo curve | runs | onset error p50 ms | p90 ms | "
          "chord fit | pitch classes | onsets |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, by_curve in rows.items():
        for curve in [c for c, _ in CURVES] + ["all"]:
            rs = [r for rr in by_curve.values() for r in rr] if curve == "all" \
                else by_curve.get(curve, [])
            if not rs:
                continue
            s = pool(rs)
            print(f"| {name} | {curve} | {s['runs']} | {s['p50']:.1f} | {s['p90']:.1f} | "
                  f"{s['fit']:.3f} | {s['distinct']:.2f} | {s['onsets']} |")
    for what, values in (("react: frame decision (feed + sample, masks)", decide),
                         ("plan: commit or re-plan step (rewind, re-feed, sample)",
                          plan_decide)):
        if values:
            d = np.array(values)
            print(f"\n{what}, {len(d)} steps: p50 {np.percentile(d, 50):.2f} / p99 "
                  f"{np.percentile(d, 99):.2f} / max {d.max():.2f} ms (CPU time of the offline "
                  "run; a 16th at 200 BPM lasts 75 ms)")
    print("targets (MIDI, model): p50 <= 15 ms, p90 <= 40 ms, chord fit >= 0.70, >= 2 pcs; "
          "random placement ~37 / ~67 ms")
    return 0


def note_pairs_from_events(events):
    """The player's notes (on, off, ch, pitch, vel) from a MIDI file's events."""
    open_, out = {}, []
    for e in events:
        st, p = e.data[0] & 0xF0, e.data[1] if len(e.data) > 1 else 0
        if st == 0x90 and e.data[2] > 0:
            open_[p] = (e.t_sec, e.data[2])
        elif (st == 0x80 or st == 0x90) and p in open_:
            on, v = open_.pop(p)
            out.append((on, e.t_sec, 0, p, v))
    return out


if __name__ == "__main__":
    sys.exit(main())
