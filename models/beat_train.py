"""Train the learned beat activation: a small causal GRU from log band frames to beat and
downbeat probabilities, then export it as JSON weights for the torch-free runtime
(``engine/listen/activation.py``, numba).

    python bench/beats_trainset.py                 # render the training set (not the dev set)
    python -m models.beat_train --minutes 20       # train, checkpoint, export
    python -m models.beat_train --resume --minutes 10
    python -m models.beat_train --from-json models/improv_beat.json --lr 5e-4 --cosine --minutes 20

Input per frame: the ``LogSpectrum`` bands and their positive difference from the previous
frame, standardised with the training set's mean and std. Network: dense (tanh) -> 2 GRU
layers -> 2 logits. Causal by construction (a unidirectional recurrence), so the runtime
computes one frame at a time with exactly these weights. Targets: 1 at the frame of a beat
(downbeat), 0.5 on its neighbours. 10 % of the clips are held out for validation (loss, and
the F-measure of simple peak picking on the beat activation at +-70 ms).

``--offbeat-weight W`` adds W to the loss weight of the beat output half-way between beats:
on slow legato pieces (chorales on strings, organ or choir without drums) the activation fired
as strongly on the passing eighths as on the beats -- even on its own training clips -- and
the tracker then took twice the tempo. ``--augment`` gives every training window a random
level (+-24 dB) and a smooth random EQ (``augment``). ``--noise P`` makes a share P of the
windows steady noise (white, pink or brown) with no beat, ``--noise-mix P`` mixes such noise
into a share P of the music windows (-80..-10 dB): before, the activation fired on noise and
the tracker committed a beat every half second on it. The shipped weights were fine-tuned from the
earlier ones in five runs (held-out clips, tracker F 0.873 -> 0.882 -> 0.888 -> 0.897 -> 0.902
-> 0.902; legato without drums 0.744 -> 0.776 -> 0.790 -> 0.832 -> 0.837 -> 0.851; checked with
the tracker, not only the loss); the third added the slow and fast legato renderings of
``bench/beats_trainset.py --legato`` (below 80 BPM the tracker had taken legato pieces at twice
their tempo: F there 0.56 -> 0.66 -> 0.69 -> 0.72) and was exported from its last checkpoint
(step 7900), the fourth continued it at a lower rate, the fifth with the renderings of all the
candidate pieces (F tied, the legato and slow splits and meter better, downbeat F 0.577 ->
0.547); the sixth added LMMS's demo songs (held-out rendered clips 0.902 -> 0.907; it ran
before ``split`` kept a segment's three speeds together, so its LMMS validation segments had
been heard at another speed: its held-out LMMS figure is the README's LMMS songs set, other
authors' songs):

    python -m models.beat_train --from-json models/improv_beat.json --lr 1e-3 --cosine \
        --minutes 25 --offbeat-weight 4 --augment --out ob4.json
    python -m models.beat_train --from-json ob4.json --lr 7e-4 --cosine --minutes 20 \
        --offbeat-weight 4 --augment --noise 0.1 --noise-mix 0.2 --out nz.json
    python bench/beats_trainset.py --legato 650
    python -m models.beat_train --from-json nz.json --lr 7e-4 --cosine --minutes 25 \
        --offbeat-weight 4 --augment --noise 0.1 --noise-mix 0.2 --last --out leg.json
    python -m models.beat_train --from-json leg.json --lr 4e-4 --cosine --minutes 20 \
        --offbeat-weight 4 --augment --noise 0.1 --noise-mix 0.2 --last --out leg2.json
    python bench/beats_trainset.py --legato 1586
    python -m models.beat_train --from-json leg2.json --lr 4e-4 --cosine --minutes 18 \
        --offbeat-weight 4 --augment --noise 0.1 --noise-mix 0.2 --last --out leg3.json
    python bench/beats_trainlmms.py        # the sixth: LMMS demo songs (produced music)
    python -m models.beat_train --from-json leg3.json --lr 5e-4 --cosine --minutes 25 \
        --offbeat-weight 4 --augment --noise 0.1 --noise-mix 0.2 --last

Tried after that, not shipped (bench/BEATS.md): a beat-phase head (``--phase-weight 0.5``, the LMMS
run's command from the shipped weights, without the Hydrogen and module clips: held-out
clips a wash, development set +0.007, recorded loops -0.031); Hydrogen's drum songs, worse
on the development set, the LMMS songs and the held-out clips (``H###`` clips; once rendered
into the cache, every later run trains on them unless they are removed):

    python bench/beats_trainhydrogen.py
    python -m models.beat_train --from-json models/improv_beat.json --lr 5e-4 --cosine \
        --minutes 25 --offbeat-weight 4 --augment --noise 0.1 --noise-mix 0.2 --last \
        --oversample H=2 --out h2a.json

and Debian's games' tracker modules, better on the held-out clips and (alone) on the development
set, worse on the LMMS songs and the recorded loops and songs (``M###`` clips; rendered into
the cache the same way -- move them out before a run that should not see them):

    python bench/beats_trainmods.py
    python -m models.beat_train --from-json models/improv_beat.json --lr 5e-4 --cosine \
        --minutes 25 --offbeat-weight 4 --augment --noise 0.1 --noise-mix 0.2 --last

and band-limited windows (``--lowpass``): steady noise at 8-22.05 kHz, where the network hears
a beat, mostly silenced, but the fine-tuned network surer of itself on produced songs (the
gate's choices moved: LMMS songs 0.755 -> 0.720) and music at 11-16 kHz tracked worse
(bench/BEATS.md "Steady noise at low sample rates"; its edge was then always rolled off over 10 %):

    python -m models.beat_train --from-json models/improv_beat.json --lr 3e-4 --cosine \
        --minutes 25 --offbeat-weight 4 --augment --noise 0.1 --noise-mix 0.2 --lowpass 0.25 \
        --last

and the same with the shipped network as teacher (``--distill``: each window's target is its
answer on the window's full-band version): noise silenced at 11-22 kHz and the other sets
within 0.01, but the recorded songs 0.683 -> 0.630 (bench/BEATS.md, same place):

    python -m models.beat_train --from-json models/improv_beat.json --distill --lr 3e-4 \
        --cosine --minutes 22 --offbeat-weight 4 --augment --noise 0.1 --noise-mix 0.2 \
        --lowpass 0.4 --last

The low-rate weights (``models/improv_beat_lowrate.json``: below 32 kHz they say whether
there is a beat at all and the default ones where, ``engine/listen/presence.py``) are the
teacher's run with every window band-limited (held-out clips, Hydrogen's moved out):

    python -m models.beat_train --from-json models/improv_beat.json --distill --lr 3e-4 \
        --cosine --minutes 22 --offbeat-weight 4 --augment --noise 0.1 --noise-mix 0.2 \
        --lowpass 1.0 --last --out models/improv_beat_lowrate.json

A recording's room and compressor on half the windows (``--room 0.5``, ``room``), beside a
control run of the same command without it (one thread each, side by side; Hydrogen's clips
moved out): averaged over 0 / -6 / -12 dB the recorded songs 0.685 -> 0.707 and the LMMS
songs 0.765 -> 0.791, but the recorded loops 0.599 -> 0.578 and the held-out clips a little
worse (0 dB: 0.873 -> 0.865, modules 0.737 -> 0.731); the control 0.687 / 0.747 / 0.598.
Two more runs (``--room 0.25``; ``--room 0.5 --oversample L=2``) did not repeat the songs'
gain (0.672, 0.678) and did repeat the loops' loss (0.578, 0.583): the gain was run-to-run
spread. Not shipped (bench/BEATS.md "A recording's room in training"):

    python -m models.beat_train --from-json models/improv_beat.json --lr 5e-4 --cosine \
        --minutes 25 --offbeat-weight 4 --augment --noise 0.1 --noise-mix 0.2 --room 0.5 \
        --last --threads 1
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "models" / "cache" / "beats_train"
CKPT = ROOT / "models" / "cache" / "beat_ckpt.pt"
OUT = ROOT / "models" / "improv_beat.json"
FORMAT = "improv-beat-gru-v1"


def features(bands: torch.Tensor) -> torch.Tensor:
    """(B, T, n) log bands -> (B, T, 2n): bands and their positive frame difference."""
    prev = F.pad(bands, (0, 0, 1, 0))[:, :-1]
    return torch.cat([bands, torch.relu(bands - prev)], dim=-1)


class BeatNet(nn.Module):
    """With ``phase_head``, a second output layer reads the beat phase (its cosine and sine)
    off the same recurrent state: a training aid only (``--phase-weight``), never exported."""

    def __init__(self, n_bands: int, hidden: int = 48, phase_head: bool = False) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(2 * n_bands))
        self.register_buffer("std", torch.ones(2 * n_bands))
        self.inp = nn.Linear(2 * n_bands, hidden)
        self.gru = nn.GRU(hidden, hidden, num_layers=2, batch_first=True)
        self.out = nn.Linear(hidden, 2)
        self.phase = nn.Linear(hidden, 2) if phase_head else None

    def hidden(self, bands: torch.Tensor) -> torch.Tensor:
        x = (features(bands) - self.mean) / self.std
        h, _ = self.gru(torch.tanh(self.inp(x)))
        return h

    def forward(self, bands: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(bands))  # logits (B, T, 2): beat, downbeat


def load_clips():
    clips = []
    for path in sorted(DATA.glob("*.npz")):
        z = np.load(path, allow_pickle=False)
        clips.append((path.stem, z["feats"].astype(np.float32), z["targets"],
                      json.loads(str(z["info"]))))
    if not clips:
        sys.exit(f"no training clips in {DATA}: run python bench/beats_trainset.py")
    return clips


def split(clips):
    """About one clip in 10 is validation, chosen by a hash of its name, so adding clips to the
    set never moves a clip from one side to the other. The slow and fast legato clips (``S###``,
    ``F###``: second renderings of training pieces) are never validation, and one whose piece a
    validation clip plays is left out, so no validation piece is ever heard in training. The
    LMMS and Hydrogen song clips (``P###``, ``H###``: one 30 s segment at three speeds, and on
    several kits) are chosen by segment, so all renderings of a segment fall on the same
    side; the tracker modules' clips (``M###``) by module, so a validation module is never
    heard in training."""
    def again(name):
        return name[0] in "SF"

    def key(c):
        if c[0][0] == "M":
            return c[3].get("source")
        return f"{c[3].get('source')}@{c[3].get('segment_sec')}" if c[0][0] in "PH" else c[0]

    val = {c[0] for c in clips if not again(c[0]) and zlib.crc32(key(c).encode()) % 10 == 0}
    val_pieces = {c[3].get("source") for c in clips if c[0] in val}
    train = [c for c in clips if c[0] not in val
             and not (again(c[0]) and c[3].get("source") in val_pieces)]
    return train, [c for c in clips if c[0] in val]


def offbeat_mask(tgt: np.ndarray) -> np.ndarray:
    """Frames half-way between consecutive beats (+-1 frame): where a chorale's passing eighths
    sound, and where the activation must stay low if the tracker is to find the beat and not
    twice its tempo."""
    beats = np.flatnonzero(tgt[:, 0] == 1.0)
    mask = np.zeros(len(tgt), dtype=np.float32)
    for a, b in zip(beats[:-1], beats[1:]):
        mid = (a + b) // 2
        mask[max(0, mid - 1):mid + 2] = 1.0
    return mask * (tgt[:, 0] == 0.0)


def beat_phase(tgt: np.ndarray) -> np.ndarray:
    """(T, 3) per frame: 1 if it lies between two beats (else 0), and the cosine and sine of
    its phase there (0 at a beat, 2 pi at the next)."""
    beats = np.flatnonzero(tgt[:, 0] == 1.0)
    out = np.zeros((len(tgt), 3), dtype=np.float32)
    for a, b in zip(beats[:-1], beats[1:]):
        angle = 2.0 * np.pi * np.arange(b - a) / (b - a)
        out[a:b] = np.stack([np.ones(b - a), np.cos(angle), np.sin(angle)], axis=1)
    return out


def scaled(x: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Band frames ``x`` (log10(1 + band magnitude)) with each band's magnitude times ``gain``."""
    return np.log10(1.0 + gain * (10.0 ** x - 1.0)).astype(np.float32)


def augment(x: np.ndarray, rng) -> np.ndarray:
    """A random level and a random smooth EQ (a tilt and a bump) applied to the bands of one
    window (``x`` is log10(1 + band magnitude)). The "dB" below scale the magnitudes by
    10 ** (dB / 10), so they are twice as many dB of the signal: level +-24 dB, tilt and bump
    +-12 dB each (the shipped weights were trained so; the docstring said +-12 / +-6 before)."""
    n = x.shape[1]
    pos = np.arange(n) / max(1, n - 1)
    db = (rng.uniform(-12, 12) + rng.uniform(-6, 6) * (pos - 0.5) * 2
          + rng.uniform(-6, 6) * np.exp(-0.5 * ((pos - rng.random()) / 0.1) ** 2))
    return scaled(x, (10.0 ** (db / 10.0)).astype(np.float32))


def room(x: np.ndarray, rng, fps: int = 50) -> np.ndarray:
    """A recording's room and compressor on the bands of one window (``x`` is log10(1 + band
    magnitude)): each band's magnitudes get an exponentially decaying tail (decay time
    constant 30-250 ms, the tail's level 0-0.6 of the direct sound), then the whole frame is
    compressed by its smoothed loudness (gain = loudness ** -c, c 0-0.5, smoothed over
    50-300 ms). An experiment aimed at recorded loops and songs (bench/BEATS.md)."""
    from scipy.signal import lfilter

    mag = np.power(10.0, x.astype(np.float64)) - 1.0
    a = np.exp(-1.0 / (fps * rng.uniform(0.03, 0.25)))
    tail = lfilter([0.0, a], [1.0, -a], mag, axis=0)  # sum over k >= 1 of a**k mag[t - k]
    mag = mag + rng.uniform(0.0, 0.6) * (1.0 - a) * tail
    r = np.exp(-1.0 / (fps * rng.uniform(0.05, 0.3)))
    loud = lfilter([1.0 - r], [1.0, -r], mag.sum(axis=1)) + 1e-6
    gain = (loud / np.median(loud)) ** -rng.uniform(0.0, 0.5)
    return np.log10(1.0 + mag * gain[:, None]).astype(np.float32)


def lowpass_gains(nyquist_hz: float, n_bands: int, rolloff: float = 0.1) -> np.ndarray:
    """Each band's share of its filter weight (``LogSpectrum``'s bands at 44.1 kHz) that a
    signal band-limited to ``nyquist_hz`` still fills: what a recording at twice that rate
    leaves in the bands (at 8-22.05 kHz the bands above Nyquist are 0). The last ``rolloff``
    of the band below Nyquist falls to 0 as a resampler's anti-alias filter does."""
    from engine.listen.onset import REFERENCE_SR, log_filterbank

    fb = log_filterbank(1025, REFERENCE_SR, 2048, 12, 30.0, 16000.0)[:n_bands]
    hz = np.arange(fb.shape[1]) * REFERENCE_SR / 2048
    keep = np.clip((nyquist_hz - hz) / max(rolloff * nyquist_hz, 1e-6), 0.0, 1.0) ** 2
    return (fb @ keep / fb.sum(axis=1)).astype(np.float32)


def lowpass(x: np.ndarray, rng) -> np.ndarray:
    """``x`` (log10(1 + band magnitude) frames) as heard at a random sample rate of 8-32 kHz
    (log-uniform): the bands above its Nyquist emptied (``lowpass_gains``), the edge sharp
    (noise made at that rate) or rolled off over up to 15 % below it (a resampled
    recording). Trained with ``--lowpass P``: the network, trained on full-band 44.1 kHz
    audio, heard a beat in steady noise at 8-22.05 kHz (its 95th percentile 0.21-0.36 against
    0.01 at 44.1 kHz), and the listener committed beats all through it."""
    nyquist_hz = 0.5 * math.exp(rng.uniform(math.log(8000.0), math.log(32000.0)))
    return scaled(x, lowpass_gains(nyquist_hz, x.shape[1], rolloff=rng.uniform(0.0, 0.15)))


def noise_bands(seed: int = 0, n: int = 24, seconds: float = 20.0) -> list[np.ndarray]:
    """Log band frames of steady noises -- white, pink and brown, at 0.1 RMS -- made by the
    engine's own ``LogSpectrum``: windows the activation must answer with no beat at all."""
    from engine.listen.onset import LogSpectrum

    rng = np.random.default_rng(seed)
    sr = 44100
    out = []
    for i in range(n):
        white = rng.standard_normal(int(seconds * sr))
        spec = np.fft.rfft(white)
        f = np.maximum(np.fft.rfftfreq(len(white), 1.0 / sr), 20.0)
        colour = ("white", "pink", "brown")[i % 3]
        spec *= {"white": 1.0, "pink": f ** -0.5, "brown": f ** -1.0}[colour]
        x = np.fft.irfft(spec, len(white))
        x = (0.1 * x / (np.sqrt(np.mean(x * x)) + 1e-12)).astype(np.float32)
        ls = LogSpectrum(sr, fps=50)
        out.append(np.concatenate([ls.process(x[j:j + 4096]).copy()
                                   for j in range(0, len(x), 4096)]))
    return out


def add_noise(x: np.ndarray, noise: np.ndarray, db: float) -> np.ndarray:
    """``x`` with ``noise`` (both log10(1 + band magnitude) frames) mixed in, the noise's
    magnitudes scaled by 10 ** (db / 10) (so ``db`` -40..-5 is -80..-10 dB of the signal)."""
    e = (10.0 ** x - 1.0) + 10.0 ** (db / 10.0) * (10.0 ** noise - 1.0)
    return np.log10(1.0 + e).astype(np.float32)


def noise_window(noises, rng, length: int) -> np.ndarray:
    nz = noises[rng.integers(len(noises))]
    start = int(rng.integers(max(1, len(nz) - length)))
    return nz[start:start + length]


def batch(clips, rng, n: int, length: int, masks=None, aug: bool = False, noises=None,
          p_noise: float = 0.0, p_mix: float = 0.0, phases=None, p_lowpass: float = 0.0,
          full_band: bool = False, p_room: float = 0.0):
    """A batch of random windows: inputs, targets and (with ``masks``) the off-beat masks.
    With ``noises``: a window is pure noise (no beat) with probability ``p_noise``, or has
    noise mixed in (-80..-10 dB of the signal) with probability ``p_mix``. A window (music or
    noise) is band-limited (``lowpass``) with probability ``p_lowpass``. With ``phases``
    (``beat_phase`` of every clip by name) a fourth tensor: the windows' beat phases; with
    ``full_band``, a last one: the windows as they were before the band limit."""
    xs, ys, ms, ps, fulls = [], [], [], [], []
    for _ in range(n):
        name, feats, tgt, _ = clips[rng.integers(len(clips))]
        g = rng.integers(feats.shape[0])
        T = feats.shape[1]
        start = 0 if rng.random() < 0.3 or T <= length else int(rng.integers(T - length))
        x = feats[g, start:start + length]
        y = tgt[start:start + length]
        m = masks[name][start:start + length] if masks is not None else np.zeros(len(y))
        ph = phases[name][start:start + length] if phases is not None else np.zeros((len(y), 3))
        if noises:
            u = rng.random()
            if u < p_noise:
                x = noise_window(noises, rng, length)
                y = np.zeros((len(x), tgt.shape[1]), dtype=np.float32)
                m = np.zeros(len(x), dtype=np.float32)
                ph = np.zeros((len(x), 3), dtype=np.float32)
            elif u < p_noise + p_mix:
                nz = noise_window(noises, rng, len(x))
                if len(nz) == len(x):
                    x = add_noise(x, nz, rng.uniform(-40.0, -5.0))
        if aug:
            x = augment(x, rng)
        if p_room and rng.random() < p_room:
            x = room(x, rng)
        full = x  # (level, EQ and band limit are all gains on the magnitudes: any order)
        if p_lowpass and rng.random() < p_lowpass:
            x = lowpass(x, rng)
        if len(x) < length:
            x = np.pad(x, ((0, length - len(x)), (0, 0)))
            full = np.pad(full, ((0, length - len(full)), (0, 0)))
            y = np.pad(y, ((0, length - len(y)), (0, 0)))
            m = np.pad(m, (0, length - len(m)))
            ph = np.pad(ph, ((0, length - len(ph)), (0, 0)))
        xs.append(x)
        fulls.append(full)
        ys.append(y)
        ms.append(m)
        ps.append(ph)
    out = (torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys)),
           torch.from_numpy(np.stack(ms).astype(np.float32)))
    if phases is not None:
        out += (torch.from_numpy(np.stack(ps).astype(np.float32)),)
    if full_band:
        out += (torch.from_numpy(np.stack(fulls)),)
    return out


def peak_f(act: np.ndarray, beats_frames: np.ndarray, fps: int = 50) -> float:
    """F-measure (+-70 ms) of causal peak picking on ``act`` (local max over 3 frames, > 0.3)."""
    import mir_eval

    pk = [k for k in range(1, len(act) - 1)
          if act[k] > 0.3 and act[k] >= act[k - 1] and act[k] > act[k + 1]]
    return mir_eval.beat.f_measure(np.array(beats_frames) / fps, np.array(pk, float) / fps)


@torch.no_grad()
def validate(model, val) -> dict:
    model.eval()
    loss, f = [], []
    for _, feats, tgt, _ in val:
        x = torch.from_numpy(feats[:1])
        logits = model(x)[0]
        loss.append(F.binary_cross_entropy_with_logits(logits, torch.from_numpy(tgt)).item())
        act = torch.sigmoid(logits[:, 0]).numpy()
        f.append(peak_f(act, np.flatnonzero(tgt[:, 0] == 1.0)))
    model.train()
    return {"val_loss": float(np.mean(loss)), "val_peak_f": float(np.mean(f))}


def export(model, n_bands: int, hidden: int, meta: dict, path: Path = OUT) -> None:
    sd = {k: v.detach().numpy().astype(np.float64) for k, v in model.state_dict().items()}

    def arr(a):
        return np.round(a, 7).tolist()

    doc = {
        "format": FORMAT,
        "n_bands": n_bands, "hidden": hidden, "fps": 50, "frame_size": 2048,
        "bands_per_octave": 12, "outputs": ["beat", "downbeat"],
        "mean": arr(sd["mean"]), "std": arr(sd["std"]),
        "inp_w": arr(sd["inp.weight"]), "inp_b": arr(sd["inp.bias"]),
        "out_w": arr(sd["out.weight"]), "out_b": arr(sd["out.bias"]),
        "gru": [{"w_ih": arr(sd[f"gru.weight_ih_l{i}"]), "w_hh": arr(sd[f"gru.weight_hh_l{i}"]),
                 "b_ih": arr(sd[f"gru.bias_ih_l{i}"]), "b_hh": arr(sd[f"gru.bias_hh_l{i}"])}
                for i in range(2)],
        "training": meta,
    }
    path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")


def load_json_weights(model: BeatNet, path: Path) -> dict:
    """Start from exported weights (the inverse of :func:`export`); returns their metadata."""
    doc = json.loads(Path(path).read_text())
    if doc.get("format") != FORMAT:
        sys.exit(f"{path}: not an {FORMAT} file")
    sd = {"mean": doc["mean"], "std": doc["std"], "inp.weight": doc["inp_w"],
          "inp.bias": doc["inp_b"], "out.weight": doc["out_w"], "out.bias": doc["out_b"]}
    for i, layer in enumerate(doc["gru"]):
        sd[f"gru.weight_ih_l{i}"] = layer["w_ih"]
        sd[f"gru.weight_hh_l{i}"] = layer["w_hh"]
        sd[f"gru.bias_ih_l{i}"] = layer["b_ih"]
        sd[f"gru.bias_hh_l{i}"] = layer["b_hh"]
    missing, _ = model.load_state_dict(
        {k: torch.tensor(v, dtype=torch.float32) for k, v in sd.items()}, strict=False)
    if any(not k.startswith("phase.") for k in missing):  # (a phase head starts afresh)
        sys.exit(f"{path}: no weights for {missing}")
    return doc.get("training", {})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--hidden", type=int, default=48)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--length", type=int, default=600, help="frames per training window")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--from-json", type=Path, default=None,
                    help="fine-tune: start from these exported weights (fresh optimiser)")
    ap.add_argument("--out", type=Path, default=OUT, help="where to export the weights")
    ap.add_argument("--ckpt", type=Path, default=CKPT, help="the checkpoint (for --resume)")
    ap.add_argument("--offbeat-weight", type=float, default=0.0,
                    help="extra loss weight on the beat output half-way between beats")
    ap.add_argument("--phase-weight", type=float, default=0.0,
                    help="train a second head on the beat phase (cosine and sine, squared "
                         "error) with this loss weight: a training aid, not exported")
    ap.add_argument("--noise", type=float, default=0.0,
                    help="the share of training windows that are steady noise (no beat)")
    ap.add_argument("--noise-mix", type=float, default=0.0,
                    help="the share of training windows with steady noise mixed in")
    ap.add_argument("--lowpass", type=float, default=0.0,
                    help="the share of training windows band-limited as at 8-32 kHz")
    ap.add_argument("--room", type=float, default=0.0,
                    help="the share of training windows given a room and a compressor (room)")
    ap.add_argument("--distill", action="store_true",
                    help="with --from-json: the targets are those weights' outputs on the "
                         "full-band windows (a band-limited window must answer as its "
                         "full-band version; full-band ones as before: the shipped network's "
                         "sureness, which the gate's thresholds were read off, is kept)")
    ap.add_argument("--augment", action="store_true",
                    help="random level and EQ on every training window")
    ap.add_argument("--last", action="store_true",
                    help="export the weights of the last step, not those of the best validation "
                         "loss (which need not track the tracker's F: judge with models.beat_tune)")
    ap.add_argument("--oversample", default="",
                    help="PREFIX=K: draw the training clips whose name starts with PREFIX K "
                         "times as often (e.g. P=3: bench/beats_trainlmms.py's songs)")
    ap.add_argument("--cosine", action="store_true",
                    help="decay the learning rate to 0 over the time budget (cosine)")
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    clips = load_clips()
    train, val = split(clips)
    n_bands = clips[0][1].shape[2]
    masks = {c[0]: offbeat_mask(c[2]) for c in train}
    if args.oversample:
        prefix, k = args.oversample.split("=")
        train = train + [c for c in train if c[0].startswith(prefix)] * (int(k) - 1)
    noises = noise_bands(args.seed) if args.noise or args.noise_mix else None
    model = BeatNet(n_bands, args.hidden, phase_head=args.phase_weight > 0)
    phases = {c[0]: beat_phase(c[2]) for c in train} if args.phase_weight > 0 else None
    allx = np.concatenate([features(torch.from_numpy(c[1][:, ::4])).reshape(-1, 2 * n_bands)
                           .numpy() for c in train])
    model.mean[:] = torch.from_numpy(allx.mean(0))
    model.std[:] = torch.from_numpy(allx.std(0) + 1e-3)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    step, history, spent = 0, [], 0.0
    if args.resume and args.ckpt.exists():
        ck = torch.load(args.ckpt, weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, spent = int(ck["step"]), float(ck["spent_sec"])
        history = json.loads(ck["history"])
    base = None
    teacher = None
    if args.from_json is not None:
        base = load_json_weights(model, args.from_json)
        print(f"fine-tuning from {args.from_json} (step {base.get('step')})")
        if args.distill:
            teacher = BeatNet(n_bands, args.hidden)
            load_json_weights(teacher, args.from_json)
            teacher.eval()
            for p in teacher.parameters():
                p.requires_grad_(False)
    elif args.distill:
        sys.exit("--distill needs --from-json (the weights whose answers are the targets)")
    print(f"{len(train)} training / {len(val)} validation clips, {n_bands} bands, "
          f"{sum(p.numel() for p in model.parameters())} parameters; resuming at step {step}")
    budget = args.minutes * 60
    t0 = time.monotonic()

    def meta(v: dict) -> dict:
        return {"step": v["step"], "val_loss": v["val_loss"], "val_peak_f": v["val_peak_f"],
                "train_clips": len(train), "val_clips": len(val), "fine_tuned_from": base,
                "data": "bench/beats_trainset.py (music21 pieces not in the dev set, and "
                        "--legato renderings) + bench/beats_trainloops.py (loops from lmms "
                        "one-shots) + bench/beats_trainlmms.py (LMMS demo songs)"
                        + (" + bench/beats_trainmods.py (tracker modules)"
                           if any(c[0][0] == "M" for c in train) else ""),
                "offbeat_weight": args.offbeat_weight, "augment": args.augment,
                "phase_weight": args.phase_weight,
                "noise": args.noise, "noise_mix": args.noise_mix, "lowpass": args.lowpass,
                "room": args.room,
                "distill": args.distill,
                "oversample": args.oversample}

    best = min((h["val_loss"] for h in history), default=math.inf)
    while time.monotonic() - t0 < budget:
        if args.cosine:
            frac = min(1.0, (time.monotonic() - t0) / budget)
            for group in opt.param_groups:
                group["lr"] = args.lr * 0.5 * (1.0 + math.cos(math.pi * frac))
        x, y, m, *rest = batch(train, rng, args.batch, args.length, masks, args.augment,
                               noises, args.noise, args.noise_mix, phases, args.lowpass,
                               full_band=teacher is not None, p_room=args.room)
        ph = rest[:1] if phases is not None else []
        h = model.hidden(x)
        logits = model.out(h)
        w = 1.0 + 4.0 * y  # beats are rare: weigh them up
        w[:, :, 0] += args.offbeat_weight * m  # and the eighths between them down
        if teacher is not None:
            with torch.no_grad():
                y = torch.sigmoid(teacher(rest[-1]))
        loss = F.binary_cross_entropy_with_logits(logits, y, weight=w)
        if ph:  # the phase head: squared error where a frame lies between two beats
            on = ph[0][:, :, 0]
            err = ((torch.tanh(model.phase(h)) - ph[0][:, :, 1:]) ** 2).sum(-1)
            loss = loss + args.phase_weight * (err * on).sum() / on.sum().clamp(min=1.0)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 100 == 0:
            el = time.monotonic() - t0
            v = validate(model, val)
            v.update(step=step, train_loss=float(loss.item()))
            history.append(v)
            print(f"step {step} train {loss.item():.4f} val {v['val_loss']:.4f} "
                  f"peak F {v['val_peak_f']:.3f}  {el / 60:.1f}/{args.minutes:.0f} min", flush=True)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "spent_sec": spent + el, "history": json.dumps(history)}, args.ckpt)
            if v["val_loss"] < best:
                best = v["val_loss"]
                if not args.last:
                    export(model, n_bands, args.hidden, path=args.out, meta=meta(v))
    if args.last:
        v = validate(model, val)
        v.update(step=step)
        export(model, n_bands, args.hidden, path=args.out, meta=meta(v))
    print(f"done at step {step}; best validation loss {best:.4f}; exported {args.out} "
          f"({'the last step' if args.last else 'the best validation loss'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
