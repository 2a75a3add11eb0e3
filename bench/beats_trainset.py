"""Render the training set for the learned beat activation (``models/beat_train.py``).

The same recipe as the development set (``bench/beats_dataset.py``: music21 scores written
under a tempo curve into MIDI, rendered by FluidSynth, exact beats), on pieces that are NOT
in the development set (whole opus numbers of the development set are left out, and the
script checks the two lists are disjoint), with random ensembles, tempi (55-180 BPM) and
curves, and a General MIDI drum part on some clips (drum kits only as FluidSynth renders them:
the development set's recorded lmms loops are never trained on). Every clip's log band
frames are computed by the engine's own ``LogSpectrum`` at three input levels (0, -15 and
-30 dB) and stored with per-frame beat/downbeat targets in ``models/cache/beats_train/``
(not committed; ``--jobs 2`` takes about 5 minutes here).

    python bench/beats_trainset.py [--n 420] [--jobs 2] [--more]   # what is in the cache
    python bench/beats_trainset.py --legato 1586    # + slow and fast legato clips (S###, F###)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import zlib
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import beats_dataset as ds  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "models" / "cache" / "beats_train"
FPS = 50
GAINS_DB = (0.0, -15.0, -30.0)
DEV_OPUS = {"opus74", "opus18", "k155", "k156", "k80", "k458", "schumann_clara",
            "joplin", "cpebach", "opus3no1"}


MORE = ("/monteverdi/", "/chopin/", "/schubert/", "/handel/", "/weber/", "/verdi/", "/beach/",
        "/beethoven/", "/haydn/", "/mozart/", "/oneills1850/", "/airdsAirs/")


def candidates(more: bool = False) -> list[str]:
    """music21 corpus pieces with quarter-note beats, none of them in the development set;
    ``more`` adds madrigals, the corpus's few piano and orchestral pieces, the other quartets
    and two more tune books."""
    from music21 import corpus

    dev = {c.source for c in ds.SCORES}
    out = []
    for p in corpus.getPaths():
        parts = p.parts
        rel = "/".join(parts[parts.index("corpus") + 1:]) if "corpus" in parts else p.name
        stem = rel.rsplit(".", 1)[0]
        if any(d in rel for d in DEV_OPUS) or stem in dev or rel in dev:
            continue
        if "/bach/bwv" in str(p) or "/beethoven/opus59" in str(p) or "/haydn/opus1no1" in str(p) \
                or "/mozart/k" in str(p) or "ryansMammoth" in str(p) \
                or "/beethoven/opus132" in str(p) or "/schumann_robert/" in str(p) \
                or (more and any(m in str(p) for m in MORE)):
            out.append(stem)
    return sorted(set(out))


def random_clip(i: int, source: str, rng: random.Random) -> ds.ScoreClip:
    curve = rng.choice(["steady", "steady", "rubato", "rubato", "accel", "rit", "fermata"])
    if curve == "fermata" and "bach" not in source:
        curve = "rubato"
    base = rng.uniform(55.0, 180.0)
    if curve in ("accel", "rit"):
        ratio = rng.uniform(1.25, 1.7)
        lo = rng.uniform(55.0, 180.0 / ratio)
        bpm = (lo, lo * ratio) if curve == "accel" else (lo * ratio, lo)
    else:
        bpm = (base,)
    ensemble = rng.choice(sorted(ds.ENSEMBLES))
    return ds.ScoreClip(f"t{i:03d}_{source.replace('/', '-')}_{ensemble}_{curve}", source, curve,
                        bpm, ensemble, depth=rng.uniform(0.06, 0.2), seed=i)


LEGATO_ENSEMBLES = ("organ", "strings", "quartet", "woodwinds", "choir", "brass", "trio")
TEMPO_BANDS = {"S": (50.0, 95.0), "F": (110.0, 200.0)}  # prefix: (lowest, highest) BPM


def legato_clip(i: int, source: str, rng: random.Random, band: str) -> ds.ScoreClip:
    """A second rendering of a training piece, slow (``S###``, 50-95 BPM) or fast (``F###``,
    110-200 BPM), three in four on a sustained ensemble, no drums: the activation took the
    passing eighths of slow legato pieces for beats (tracker F 0.3-0.6 on such held-out clips
    below 75 BPM, 0.9 above), and trained on slow ones alone it halved fast quartets.
    ``models.beat_train.split`` keeps these in training and drops any whose piece a validation
    clip plays."""
    lo_bpm, hi_bpm = TEMPO_BANDS[band]
    curve = rng.choice(["steady", "steady", "rubato", "rubato", "accel", "rit", "fermata"])
    if curve == "fermata" and "bach" not in source:
        curve = "rubato"
    if curve in ("accel", "rit"):
        ratio = rng.uniform(1.2, 1.5)
        lo = rng.uniform(lo_bpm, hi_bpm / ratio)
        bpm = (lo, lo * ratio) if curve == "accel" else (lo * ratio, lo)
    else:
        bpm = (rng.uniform(lo_bpm, hi_bpm),)
    ensemble = (rng.choice(LEGATO_ENSEMBLES) if rng.random() < 0.75
                else rng.choice(sorted(ds.ENSEMBLES)))
    return ds.ScoreClip(f"{band}{i:03d}_{source.replace('/', '-')}_{ensemble}_{curve}", source,
                        curve, bpm, ensemble, depth=rng.uniform(0.06, 0.2), seed=i)


def drum_track(beats, rng: random.Random, only: bool):
    """A GM drum part (channel 10) on the beat grid: kick, snare, hats, some syncopation."""
    import mido

    events = []
    style = rng.choice(["rock", "half", "hats", "shuffle", "sparse"])
    times = [b[0] for b in beats]
    for k, (t, pos) in enumerate(beats):
        nxt = times[k + 1] if k + 1 < len(times) else t + (t - times[k - 1] if k else 0.5)
        half = (t + nxt) / 2
        hits = []
        if pos == 1:
            hits.append((t, 36, 110))
        if style in ("rock", "shuffle") and pos == 3:
            hits.append((t, 36, 95))
        if style != "sparse" and pos in (2, 4):
            hits.append((t, 38, 100))
        if style == "half" and pos == 3:
            hits.append((t, 38, 105))
        if style in ("rock", "hats", "half"):
            hits += [(t, 42, 80), (half, 42, 60)]
        if style == "shuffle":
            hits += [(t, 42, 80), (t + 2 * (nxt - t) / 3, 42, 60)]
        if style == "sparse" and rng.random() < 0.5:
            hits.append((t, 51, 70))
        if rng.random() < (0.25 if only else 0.1):
            hits.append((half, 36, 85))  # a syncopated kick
        events += hits
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name="drums", time=0))
    msgs = []
    for t, note, vel in events:
        tick = int(round(t * ds.TICKS_PER_SEC))
        vel = max(1, min(127, vel + rng.randint(-8, 8)))
        msgs.append((tick, 1, mido.Message("note_on", channel=9, note=note, velocity=vel)))
        msgs.append((tick + 60, 0, mido.Message("note_off", channel=9, note=note, velocity=0)))
    now = 0
    for tick, _, m in sorted(msgs, key=lambda e: (e[0], e[1])):
        track.append(m.copy(time=tick - now))
        now = tick
    return track


def targets(beats, n_frames: int, latency_sec: float) -> np.ndarray:
    """(n_frames, 2) beat and downbeat targets: 1 at the frame nearest the event, 0.5 next to
    it. Frame k describes time (k + 1) / FPS - latency."""
    y = np.zeros((n_frames, 2), dtype=np.float32)
    for t, pos in beats:
        k = int(round((t + latency_sec) * FPS)) - 1
        for d, v in ((-1, 0.5), (1, 0.5), (0, 1.0)):
            if 0 <= k + d < n_frames:
                y[k + d, 0] = max(y[k + d, 0], v)
                if pos == 1:
                    y[k + d, 1] = max(y[k + d, 1], v)
    return y


def build(job) -> str:
    i, source, band = job

    rng = random.Random(zlib.crc32(f"{band}{i}:{source}".encode()))
    clip = legato_clip(i, source, rng, band) if band else random_clip(i, source, rng)
    out = OUT / f"{clip.name}.npz"
    if out.exists():
        return f"{clip.name}: kept"
    try:
        mid, beats, entry = ds.build_score_clip(clip, min_sec=10.0)
    except Exception as exc:  # noqa: BLE001 - a piece this recipe cannot use: say so, go on
        return f"{clip.name}: skipped ({exc})"
    drums = not band and rng.random() < 0.35
    only = drums and rng.random() < 0.3
    if only:
        del mid.tracks[1:]
    if drums:
        mid.tracks.append(drum_track(beats, rng, only))
    with tempfile.TemporaryDirectory() as tmp:
        mpath, wpath = Path(tmp) / "c.mid", Path(tmp) / "c.wav"
        mid.save(mpath)
        ds.render_midi(mpath, wpath, entry["duration_sec"], ds.SF2)
        import soundfile as sf

        x, sr = sf.read(wpath, dtype="float32")
    meter = entry["meter"] if isinstance(entry["meter"], str) else entry["meter"][0]
    n_frames = save_clip(out, x, sr, beats, {"source": source, "curve": clip.curve,
                                             "bpm": list(clip.bpm), "ensemble": clip.ensemble,
                                             "drums": drums, "drums_only": only, "meter": meter})
    return f"{clip.name}: {len(beats)} beats, {n_frames} frames, drums={drums} only={only}"


def run_jobs(fn, jobs, processes: int) -> None:
    """``fn(job)`` for every job in ``processes`` worker processes, printing what each says,
    into ``OUT``."""
    OUT.mkdir(parents=True, exist_ok=True)
    with Pool(processes) as p:
        for line in p.imap_unordered(fn, jobs):
            print(line, flush=True)


def save_clip(out: Path, x: np.ndarray, sr: int, beats, info: dict) -> int:
    """Write one training clip: the ``LogSpectrum`` bands of ``x`` at each input level of
    ``GAINS_DB`` (float16), the beat/downbeat targets of ``beats`` ((t_sec, position in bar)
    pairs) and ``info``. Returns the number of frames."""
    from engine.listen.onset import LogSpectrum

    feats = []
    for g in GAINS_DB:
        spec = LogSpectrum(sr, fps=FPS)
        y = (x * 10 ** (g / 20)).astype(np.float32)
        frames = [spec.process(y[j:j + 4096]).copy() for j in range(0, len(y), 4096)]
        feats.append(np.concatenate(frames))
    tgt = targets(beats, len(feats[0]), spec.latency_sec)
    np.savez_compressed(out, feats=np.stack(feats).astype(np.float16), targets=tgt,
                        info=json.dumps(info))
    return len(tgt)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=420)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--legato", type=int, default=0,
                    help="instead: N slow and N fast renderings (legato_clip) of candidate pieces")
    ap.add_argument("--more", action="store_true",
                    help="then the pieces of candidates(more=True) not chosen yet (numbered on)")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    pool = candidates()
    dev = {c.source for c in ds.SCORES}
    assert not dev & set(pool), "training pieces overlap the development set"
    rng = random.Random(0)
    bach = [p for p in pool if p.startswith("bach/")]
    tunes = [p for p in pool if p.startswith("ryansMammoth/")]  # solo melodies
    other = [p for p in pool if p not in bach and p not in tunes]  # quartets, songs
    rng.shuffle(bach)
    rng.shuffle(tunes)
    n_tunes = int(args.n * 0.4)  # many are jigs in 6/8, which the recipe skips
    chosen = other + tunes[:n_tunes] + bach[:max(0, args.n - n_tunes - len(other))]
    if args.legato:  # other renderings of the candidate pieces, slow or fast, mostly legato
        pieces = sorted(set(candidates(more=True)))
        assert not dev & set(pieces), "training pieces overlap the development set"
        rng.shuffle(pieces)
        jobs = [(i, p, band) for band in TEMPO_BANDS for i, p in enumerate(pieces[:args.legato])]
        with Pool(args.jobs) as p:
            for line in p.imap_unordered(build, jobs):
                print(line, flush=True)
        return 0
    if args.more:  # appended, so the first clips keep their numbers (and cached files)
        extra = sorted(set(candidates(more=True)) - set(pool))
        assert not dev & set(extra), "training pieces overlap the development set"
        chosen += extra
    print(f"{len(pool)} candidate pieces ({len(bach)} Bach, {len(tunes)} fiddle tunes, "
          f"{len(other)} other); building {len(chosen)}")
    with Pool(args.jobs) as p:
        for line in p.imap_unordered(build, [(i, c, "") for i, c in enumerate(chosen)]):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
