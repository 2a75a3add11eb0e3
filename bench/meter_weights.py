"""How the meter's cue weights were chosen (``engine/listen/accent.py``): on training pieces,
never on the development set.

- ``--path midi``: MIDI clips made by the training recipe (``bench/beats_trainset.py``:
  music21 pieces outside the development set, random ensembles, tempi and curves; no audio),
  run through the live listener (``beats_of_midi``) with each weight set.
- ``--path audio``: the cached training clips (``models/cache/beats_train``, made by
  ``bench/beats_trainset.py``): their log bands run through the same listener code path
  (flux, tracker, accents, meter) frame by frame.

For each weight set (onset strength, low flux / bass notes, harmonic change) it prints the
mean beat F, the downbeat F (+-70 ms) and on how many 3/4-or-4/4 clips the bar length between
the last two downbeats is right.

    python bench/meter_weights.py --path midi [--n 150]
    python bench/meter_weights.py --path audio [--n 316]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

WEIGHT_SETS = ((0.5, 1.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0),
               (1.0, 1.0, 0.0), (1.0, 0.0, 0.5), (1.0, 1.0, 1.0))


def midi_clips(n: int, out: Path) -> list[tuple[Path, np.ndarray, str]]:
    """(path, beats [(t_sec, position)], meter) for ``n`` training-recipe MIDI clips."""
    import beats_dataset as ds
    import beats_trainset as ts

    jobs = list(enumerate(ts.candidates()))
    random.Random(7).shuffle(jobs)
    clips = []
    for i, source in jobs:
        if len(clips) >= n:
            break
        clip = ts.random_clip(i, source, random.Random(zlib.crc32(f"{i}:{source}".encode())))
        try:
            mid, beats, entry = ds.build_score_clip(clip, min_sec=10.0)
        except Exception:  # noqa: BLE001 - a piece the recipe cannot use
            continue
        path = out / f"{clip.name}.mid"
        mid.save(path)
        meter = entry["meter"] if isinstance(entry["meter"], str) else entry["meter"][0]
        clips.append((path, np.array(beats, dtype=float), meter))
    return clips


def audio_beats(bands: np.ndarray, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The listener's flux path on stored band frames: (beat frame times, positions, t)."""
    from engine.listen.accent import BeatAccents
    from engine.listen.listener import Listener
    from engine.listen.onset import LogSpectrum, _flux

    spec = LogSpectrum(44100)
    listener = Listener()  # clock mode: no detector; the flux path is driven by hand here
    listener.accents = BeatAccents(spec.band_hz, weights=weights)
    prev = np.zeros(bands.shape[1], dtype=np.float32)
    n_low = int(np.sum(spec.band_hz < 1000.0))
    beats, positions = [], []
    for k in range(len(bands)):
        total, low, _ = _flux(bands[k], prev, prev, n_low, len(prev))
        listener.accents.frame(k, bands[k], total, low)
        for f in listener.tracker.process(np.array([total])):
            beats.append(f)
            positions.append(listener._bar_position(listener.accents, f))
    t = (np.arange(len(bands)) + 1) / 50.0 - spec.latency_sec
    return np.array(beats, dtype=int), np.array(positions, dtype=int), t


def scores(ref_t, ref_pos, est_t, est_pos, meter) -> tuple[float, float, bool | None]:
    import mir_eval

    trim = mir_eval.beat.trim_beats
    beat_f = mir_eval.beat.f_measure(trim(ref_t, 5.0), trim(est_t, 5.0), 0.07)
    down_f = mir_eval.beat.f_measure(trim(ref_t[ref_pos == 1], 5.0),
                                     trim(est_t[est_pos == 1], 5.0), 0.07)
    ok = None
    if meter in ("3/4", "4/4"):
        ones = np.flatnonzero(est_pos == 1)
        ok = len(ones) >= 2 and int(ones[-1] - ones[-2]) == int(meter[0])
    return beat_f, down_f, ok


def main(argv=None) -> int:
    import warnings

    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--path", choices=("midi", "audio"), default="midi")
    ap.add_argument("--n", type=int, default=0, help="clips (midi: 150, audio: 316)")
    args = ap.parse_args(argv)
    from engine.listen.track import beats_of_midi

    with tempfile.TemporaryDirectory() as tmp:
        if args.path == "midi":
            clips = midi_clips(args.n or 150, Path(tmp))
        else:
            files = sorted((ROOT / "models" / "cache" / "beats_train").glob("*.npz"))
            # the first renderings only (t###, L###): S###/F### play the same pieces again
            files = [f for f in files if f.name[0] in "tL"]
            if not files:
                print("no cached training clips: python bench/beats_trainset.py first")
                return 1
            rng = np.random.default_rng(0)
            files = [files[i] for i in rng.choice(len(files), len(files), replace=False)]
            clips = files[:args.n or 316]
        print(f"{len(clips)} {args.path} training clips")
        for w in WEIGHT_SETS:
            rows = []
            for clip in clips:
                if args.path == "midi":
                    path, ref, meter = clip
                    est_t, est_pos = beats_of_midi(str(path), with_positions=True,
                                                   meter_weights=w)
                    rows.append(scores(ref[:, 0], ref[:, 1], est_t, est_pos, meter))
                else:
                    z = np.load(clip)
                    bands = z["feats"][1].astype(np.float32)
                    frames, est_pos, t = audio_beats(bands, w)
                    tgt = z["targets"]
                    meter = json.loads(str(z["info"])).get("meter")
                    ref_t = t[tgt[:, 0] == 1.0]
                    ref_pos = np.where(tgt[tgt[:, 0] == 1.0, 1] == 1.0, 1, 2)
                    rows.append(scores(ref_t, ref_pos, t[frames], est_pos, meter))
            beat_f = np.mean([r[0] for r in rows])
            down_f = np.mean([r[1] for r in rows])
            oks = [r[2] for r in rows if r[2] is not None]
            print(f"weights {w}: beat F {beat_f:.3f}, downbeat F {down_f:.3f}, meter right on "
                  f"{sum(oks)} of {len(oks)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
