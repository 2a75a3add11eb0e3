"""Synthesised drum loops for the learned beat activation's training set.

The first training set (``bench/beats_trainset.py``) had drums only as FluidSynth's General MIDI
kit playing three patterns, and the activation trained on it locked on the off-beat of most
recorded drum loops of the development set. This script adds drum parts that sound and groove
like real loops: one-shot samples from Debian's ``lmms-common`` (``/usr/share/lmms/samples/
drums/``: kicks, snares, claps, hats, rides, shakers, toms -- single hits, NOT the recorded
loops of ``samples/beats/`` that the development set uses) sequenced in the patterns of
popular styles (four-on-the-floor with off-beat open hats, rock, breakbeats with ghost notes,
electro, swung hip-hop, kick only, hats only, shuffles, 3/4), at 70-180 BPM, steady or under a
tempo curve, with velocity and timing humanisation, dropped hits, fills and breaks of silence,
then coloured as a recording or a PA would (filters, saturation, a room-like echo).
The kit timbres overlap the development loops' (the same package): read any gain on the loops
with that in mind.

Writes ``models/cache/beats_train/L###_<style>_<curve>.npz`` in the training set's format
(three input levels of ``LogSpectrum`` bands, beat/downbeat targets).

    python bench/beats_trainloops.py [--n 300] [--jobs 2]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import beats_dataset as ds  # noqa: E402
import beats_trainset as ts  # noqa: E402

DRUMS = Path("/usr/share/lmms/samples/drums")
SR = 44100
CLIP_SEC = 30.0
KINDS = {  # sample name prefix -> role
    "kick": ("kick", "bassdrum"), "snare": ("snare", "nasty_snare"), "clap": ("clap",),
    "hat": ("hihat_closed", "shaker"), "open": ("hihat_opened", "ride"),
    "rim": ("rim", "sidestick", "clav", "snare_rim"), "tom": ("tom",),
}
# 16 steps a 4/4 bar; letters: K kick, S snare, C clap, H closed hat, O open hat, R rim, g ghost
STYLES = {
    "house": {"K": [0, 4, 8, 12], "C": [4, 12], "O": [2, 6, 10, 14], "H": "16?"},
    "rock": {"K": [0, 8], "S": [4, 12], "H": "8"},
    "rock2": {"K": [0, 6, 8], "S": [4, 12], "H": "8"},
    "break": {"K": [0, 10], "S": [4, 12], "g": [7, 9, 15], "H": "8"},
    "break2": {"K": [0, 2, 10, 11], "S": [4, 12], "g": [6, 14], "H": "16?"},
    "electro": {"K": [0, 6, 10], "C": [4, 12], "H": "16"},
    "hiphop": {"K": [0, 7, 10], "S": [4, 12], "H": "8", "swing": True},
    "kick": {"K": [0, 4, 8, 12]},
    "kick_off": {"K": [0, 4, 8, 12], "O": [2, 6, 10, 14]},
    "hats": {"H": "16", "O": [2, 6, 10, 14]},
    "halftime": {"K": [0, 3], "S": [8], "H": "8"},
    "shuffle": {"K": [0, 8], "S": [4, 12], "H": "triplet"},
    "waltz": {"K": [0], "S": [4, 8], "H": "8", "steps": 12},
}


def load_kit(rng: random.Random) -> dict[str, np.ndarray]:
    """One sample per role, picked at random among those soundfile can read."""
    files = sorted(DRUMS.glob("*.ogg"))
    kit = {}
    for role, prefixes in KINDS.items():
        cands = [f for f in files if f.stem.startswith(prefixes)]
        rng.shuffle(cands)
        for f in cands:
            try:
                x = ds.read_audio_mono(f)
            except Exception:  # noqa: BLE001 - a few lmms files are malformed: take another
                continue
            peak = float(np.max(np.abs(x))) or 1.0
            kit[role] = (x[: int(1.5 * SR)] / peak).astype(np.float32)
            break
    return kit


def beat_times(rng: random.Random, curve: str, bpm0: float, n_beats: int) -> np.ndarray:
    """Onset times of n_beats + 1 beats under a tempo curve (steady, accel, rit, rubato)."""
    if curve == "steady":
        bpm = np.full(n_beats, bpm0)
    elif curve in ("accel", "rit"):
        ratio = rng.uniform(1.2, 1.5)
        ramp = np.linspace(1.0, ratio, n_beats)
        bpm = bpm0 * (ramp if curve == "accel" else ramp[::-1]) / math.sqrt(ratio)
    else:  # rubato: a slow sine around the tempo, as a player pushes and pulls
        depth = rng.uniform(0.05, 0.12)
        bpm = bpm0 * (1 + depth * np.sin(np.arange(n_beats) * 2 * math.pi / rng.uniform(8, 16)))
    bpm = np.clip(bpm, 60.0, 200.0)
    return 0.5 + np.concatenate([[0.0], np.cumsum(60.0 / bpm)])


def colour(x: np.ndarray, rng: random.Random) -> np.ndarray:
    """What a recording, a mix or a PA does to a kit: a random low-pass and high-pass (one
    pole each), some saturation, now and then a room-like feedback delay."""
    from scipy.signal import lfilter

    lp = math.exp(-2 * math.pi * rng.uniform(2000.0, 16000.0) / SR)
    x = lfilter([1 - lp], [1, -lp], x).astype(np.float32)
    if rng.random() < 0.5:
        hp = math.exp(-2 * math.pi * rng.uniform(40.0, 400.0) / SR)
        x = lfilter([(1 + hp) / 2, -(1 + hp) / 2], [1, -hp], x).astype(np.float32)
    if rng.random() < 0.4:
        drive = rng.uniform(1.5, 6.0)
        x = (np.tanh(drive * x / max(1e-6, float(np.max(np.abs(x))))) / math.tanh(drive))
    if rng.random() < 0.3:
        d = int(rng.uniform(0.02, 0.08) * SR)
        g = rng.uniform(0.2, 0.5)
        a = np.zeros(d + 1)
        a[0], a[d] = 1.0, -g
        x = lfilter([1.0], a, x)
    return np.asarray(x, dtype=np.float32)


def render(i: int) -> str:
    rng = random.Random(1000 + i)
    style = rng.choice(sorted(STYLES))
    pat = STYLES[style]
    steps = pat.get("steps", 16)
    curve = rng.choice(["steady", "steady", "steady", "accel", "rit", "rubato"])
    bpm0 = rng.uniform(70.0, 180.0) if style not in ("halftime", "hiphop") else rng.uniform(70, 110)
    name = f"L{i:03d}_{style}_{curve}_{int(bpm0)}"
    out = ts.OUT / f"{name}.npz"
    if out.exists():
        return f"{name}: kept"
    kit = load_kit(rng)
    n_beats = int(CLIP_SEC * bpm0 / 60.0) + 8
    bt = beat_times(rng, curve, bpm0, n_beats)
    per_beat = 4
    beats_per_bar = steps // per_beat
    x = np.zeros(int((bt[-1] + 2.0) * SR), dtype=np.float32)
    gains = {r: rng.uniform(0.3, 1.0) for r in kit}
    jitter = rng.uniform(0.0, 0.012)
    swing = pat.get("swing") or rng.random() < 0.1
    rest_at = rng.randrange(8, n_beats - 8) if rng.random() < 0.3 else -1  # a break
    rest_len = rng.randint(2, 6)
    beats = []

    def hit(role: str, t: float, vel: float) -> None:
        if role not in kit or rng.random() < 0.04:  # a dropped hit now and then
            return
        t += rng.gauss(0.0, jitter)
        k = max(0, int(round(t * SR)))
        s = kit[role] * (gains[role] * vel)
        n = min(len(s), len(x) - k)
        if n > 0:
            x[k:k + n] += s[:n]

    for b in range(n_beats):
        t0, t1 = bt[b], bt[b + 1]
        pos = b % beats_per_bar
        beats.append((float(t0), pos + 1))
        if rest_at <= b < rest_at + rest_len:
            continue
        fill = b % (beats_per_bar * 4) == beats_per_bar * 4 - 1 and rng.random() < 0.3
        for q in range(per_beat):
            step = pos * per_beat + q
            frac = q / per_beat
            if swing and q in (1, 3):
                frac += 0.08
            t = t0 + frac * (t1 - t0)
            if fill:
                hit(rng.choice(["tom", "snare"]), t, rng.uniform(0.5, 0.9))
                continue
            for letter, role in (("K", "kick"), ("S", "snare"), ("C", "clap"), ("O", "open"),
                                 ("g", "snare")):
                if step in pat.get(letter, ()):
                    hit(role, t, rng.uniform(0.2, 0.4) if letter == "g" else
                        rng.uniform(0.75, 1.0))
            hats = pat.get("H")
            if hats == "16" or (hats == "16?" and rng.random() < 0.7) or \
                    (hats == "8" and q % 2 == 0):
                hit("hat", t, (1.0 if q == 0 else 0.6) * rng.uniform(0.6, 1.0))
            if hats == "triplet" and q == 0:
                for k3 in (0, 2):
                    hit("hat", t0 + k3 * (t1 - t0) / 3, rng.uniform(0.5, 0.9))
    x = colour(x, random.Random(5000 + i))
    x /= max(1.0, float(np.max(np.abs(x))) / 0.9)
    ts.save_clip(out, x, SR, beats, {"source": f"lmms one-shots, {style}", "curve": curve,
                                     "bpm": [bpm0], "ensemble": "drums", "drums": True,
                                     "drums_only": True, "meter": f"{beats_per_bar}/4"})
    return f"{name}: {len(beats)} beats, kit {sorted(kit)}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    if not DRUMS.is_dir():
        sys.exit(f"{DRUMS} is missing: apt-get install lmms-common")
    ts.run_jobs(render, range(args.n), args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
