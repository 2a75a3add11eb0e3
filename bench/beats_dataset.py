"""Build the beat-tracking development set from installed packages.

Two kinds of clip, each with exact beat times:

- score (24): real pieces from the music21 corpus (Bach chorales, Haydn / Mozart / Beethoven
  string quartets, Joplin, Schubert, Corelli, C. P. E. Bach, Clara Schumann; 4/4, 3/4, 2/4),
  the first ~30 s, played by General MIDI ensembles under a tempo curve written by this script:
  steady (60-176 BPM), rubato (smooth random +-12-15 %), accelerando, ritardando, or fermatas
  (the chorales' own fermata beats held 3x). Beats are quarter notes; their times follow from
  the curve, so they are exact; the notes are written on that curve into ``<clip>.mid`` and
  rendered by FluidSynth.
- loop: the recorded drum loops of Debian's lmms-common (/usr/share/lmms/samples/beats/). A loop
  is a whole number N of beats long; N is chosen so that 60 N / length lies in 60..200 BPM
  (preferring 80..160) among the N whose beat period the onset envelope's autocorrelation shows,
  and is confirmed by the beat period the autocorrelation of one pass finds by itself; a loop
  where the two disagree (by more than 25 ms over the loop), or with no clear beat period, is
  reported and skipped. Kept loops are repeated to 30 s; beat k is at k * length / N (the loop
  start is taken as a downbeat; the metrical level follows the 80..160 BPM preference, so
  AMLt is the fairer score where a loop is equally a double-time one).

Written to ``--out`` (default bench/data/beats/):

- ``clips.json``: the manifest (name, kind, tempo_curve, meter, programs, source, tempo, ...);
- ``<clip>.beats``: one beat a line, ``t_sec<TAB>position in bar`` (1 = downbeat);
- ``<clip>.mid``: the score clips as note events only, the MIDI path's input. The file has one
  fixed tempo (125 BPM at 960 ticks a quarter: 1 tick = 1/1920 s) and the notes at their
  performed times, like a recording of a player: it carries no tempo map or time signature a
  tracker could read the answer from. Beat times are rounded to the same 1/1920 s grid;
- ``audio/<clip>.wav``: 44.1 kHz mono 16-bit (not committed: rebuilt by this script).

``.beats``, ``.mid`` and ``clips.json`` are committed. When a clip's ``.mid`` and ``.beats``
exist they are kept and only the audio is rendered again (``--regenerate`` rewrites them from
the corpus; the result is the same, fixed seeds). Needs: music21 (train extra), mido, numpy,
scipy, soundfile (``pip install soundfile``), the ``fluidsynth`` program with
/usr/share/sounds/sf2/FluidR3_GM.sf2 (Debian: fluidsynth fluid-soundfont-gm) and
``apt-get install lmms-common`` for the loops.

    python bench/beats_dataset.py [--out bench/data/beats] [--regenerate] [--only NAME ...]
    python bench/beats_dataset.py --check [--clicks DIR]   # the annotations against the audio
    python bench/beats_dataset.py --test-set   # a TEST set: Sonic Pi's recorded loops only

``--test-set`` builds ``bench/data/beats_test/`` by the same rule from other recorded loops:
Debian's ``sonic-pi-samples`` (``/usr/share/sonic-pi/samples/loop_*.flac``: breaks, grooves,
percussion) and lmms-common's bass/synth and latin loops (``samples/bassloops``,
``samples/latin``): loops no part of improv was designed or tuned on, to check that what the
development set says holds on other recordings (``python bench/beats.py --data
bench/data/beats_test``).

``--check`` reports, per clip, how many beats fall on a note-on of the .mid and within 35 ms of
an onset detected in the audio, the grid shift that fits the onsets best (must be ~0) and the
same count with the grid moved 80 ms (a control); ``--clicks`` also writes each clip with a
click on every beat (higher on downbeats) to listen to.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "data" / "beats"
SF2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
LOOP_DIR = Path("/usr/share/lmms/samples/beats")
# --test-set: other recorded loops (Sonic Pi's: the Amen break, a breakbeat, grooves; lmms's
# bass/synth and latin loops), on which no choice in improv was made -- the development set's
# loops informed the flux tracker and the gate
TEST_OUT = ROOT / "bench" / "data" / "beats_test"
TEST_LOOPS = ((Path("/usr/share/sonic-pi/samples"), "loop_*", "sonic-pi-samples"),
              (Path("/usr/share/lmms/samples/bassloops"), "*", "lmms-common"),
              (Path("/usr/share/lmms/samples/latin"), "*", "lmms-common"))

SR = 44100  # every WAV written here
CLIP_SEC = 30.0  # music length of a clip (a piece must give at least 25 s)
LEAD_SEC = 0.5  # silence before the first note
TAIL_SEC = 1.0  # kept after the last note-off (release, reverb), faded out
PPQ = 960  # MIDI ticks per quarter in the written files
USPQ = 500_000  # the one tempo of the written files: 120 BPM...
TICKS_PER_SEC = PPQ * 1_000_000 // USPQ  # ... so 1920 ticks a second
GRID = 480  # tempo-curve integration steps per quarter

# General MIDI programs (0-based) used by the ensembles.
GM = {
    0: "Acoustic Grand Piano", 4: "Electric Piano 1", 6: "Harpsichord", 11: "Vibraphone",
    19: "Church Organ", 24: "Acoustic Guitar (nylon)", 25: "Acoustic Guitar (steel)",
    32: "Acoustic Bass", 33: "Electric Bass (finger)", 40: "Violin", 41: "Viola", 42: "Cello",
    48: "String Ensemble 1", 52: "Choir Aahs", 56: "Trumpet", 57: "Trombone", 58: "Tuba",
    60: "French Horn", 68: "Oboe", 70: "Bassoon", 71: "Clarinet", 73: "Flute",
}
ENSEMBLES = {  # one program per part, top part first; the last repeats for extra parts
    "piano": (0,),
    "harpsichord": (6,),
    "organ": (19,),
    "strings": (48,),
    "quartet": (40, 40, 41, 42),
    "woodwinds": (73, 68, 71, 70),
    "trio": (73, 68, 70),
    "brass": (56, 56, 60, 57, 58),
    "guitars": (24, 25, 24, 32),
    "choir": (52,),
    "clarinet+piano": (71, 0),
    "keys+bass": (11, 4, 4, 33),
}


@dataclass(frozen=True)
class ScoreClip:
    """One score clip: which piece, how it is played."""

    name: str
    source: str  # music21 corpus path
    curve: str  # steady | rubato | accel | rit | fermata
    bpm: tuple[float, ...]  # steady/rubato/fermata: (base,); accel/rit: (start, end)
    ensemble: str
    depth: float = 0.0  # rubato: peak relative tempo deviation
    seed: int = 0


SCORES = (
    # steady: several tempi, 60..176 BPM
    ScoreClip("bwv66.6_organ_steady", "bach/bwv66.6", "steady", (66,), "organ"),
    ScoreClip("bwv11.6_piano_steady", "bach/bwv11.6", "steady", (100,), "piano"),
    ScoreClip("haydn74-1-1_quartet_steady", "haydn/opus74no1/movement1", "steady", (132,),
              "quartet"),
    ScoreClip("joplin_mapleleaf_piano_steady", "joplin/maple_leaf_rag", "steady", (96,), "piano"),
    ScoreClip("beethoven18-1-1_quartet_steady", "beethoven/opus18no1/movement1.mxl", "steady",
              (176,), "quartet"),
    ScoreClip("cpebach_h186_harpsichord_steady", "cpebach/h186", "steady", (116,),
              "harpsichord"),
    ScoreClip("corelli3-1-1_trio_steady", "corelli/opus3no1/1grave", "steady", (60,), "trio"),
    ScoreClip("mozart155-3_guitars_steady", "mozart/k155/movement3", "steady", (144,),
              "guitars"),
    # rubato: smooth random tempo around a base
    ScoreClip("bwv10.7_strings_rubato", "bach/bwv10.7", "rubato", (84,), "strings",
              depth=0.12, seed=1),
    ScoreClip("lindenbaum_clarinet+piano_rubato", "schubert/Lindenbaum", "rubato", (80,),
              "clarinet+piano", depth=0.15, seed=2),
    ScoreClip("mozart80-1_quartet_rubato", "mozart/k80/movement1", "rubato", (76,), "quartet",
              depth=0.12, seed=3),
    ScoreClip("mozart458-3_keys+bass_rubato", "mozart/k458/movement3", "rubato", (64,),
              "keys+bass", depth=0.14, seed=4),
    # accelerando
    ScoreClip("bwv1.6_brass_accel", "bach/bwv1.6", "accel", (80, 130), "brass"),
    ScoreClip("mozart156-2_strings_accel", "mozart/k156/movement2", "accel", (66, 100),
              "strings"),
    ScoreClip("haydn74-1-3_quartet_accel", "haydn/opus74no1/movement3", "accel", (100, 150),
              "quartet"),
    ScoreClip("clara1-2_piano_accel", "schumann_clara/polonaise_op1n2", "accel", (80, 130),
              "piano"),
    # ritardando
    ScoreClip("mozart155-1_quartet_rit", "mozart/k155/movement1", "rit", (150, 100), "quartet"),
    ScoreClip("beethoven18-1-3_strings_rit", "beethoven/opus18no1/movement3.mxl", "rit",
              (180, 120), "strings"),
    ScoreClip("mozart458-2_clarinet+piano_rit", "mozart/k458/movement2", "rit", (140, 90),
              "clarinet+piano"),
    ScoreClip("bwv269_guitars_rit", "bach/bwv269", "rit", (120, 80), "guitars"),
    # fermata: steady, each soprano fermata beat held 3x
    ScoreClip("bwv26.6_woodwinds_fermata", "bach/bwv26.6", "fermata", (88,), "woodwinds"),
    ScoreClip("bwv122.6_piano_fermata", "bach/bwv122.6", "fermata", (100,), "piano"),
    ScoreClip("bwv84.5_choir_fermata", "bach/bwv84.5", "fermata", (72,), "choir"),
    ScoreClip("bwv57.8_organ_fermata", "bach/bwv57.8", "fermata", (84,), "organ"),
)

FERMATA_HOLD = 3.0  # a fermata beat lasts this many beats


# ---------------------------------------------------------------------------------------------
# Tempo curves: bpm as a function of the score position (quarters from the first note)


def accel_quarters(bpm0: float, bpm1: float, sec: float) -> float:
    """Quarters played in ``sec`` seconds when the tempo moves linearly in score position
    from ``bpm0`` to ``bpm1``: T(Q) = 60 Q ln(b1/b0) / (b1 - b0) = sec."""
    if bpm0 == bpm1:
        return sec * bpm0 / 60.0
    return sec * (bpm1 - bpm0) / (60.0 * math.log(bpm1 / bpm0))


def tempo_curve(clip: ScoreClip, fermatas_q: list[float]):
    """Return bpm(q) (vectorised over q in quarters) for the clip."""
    if clip.curve == "steady":
        base = clip.bpm[0]
        return lambda q: np.full_like(q, base, dtype=float)
    if clip.curve in ("accel", "rit"):
        b0, b1 = clip.bpm
        span = accel_quarters(b0, b1, CLIP_SEC)
        return lambda q: b0 + (b1 - b0) * np.clip(q / span, 0.0, 1.0)
    if clip.curve == "rubato":
        rng = np.random.default_rng(clip.seed)
        periods = rng.uniform(5.0, 16.0, 3)  # quarters
        phases = rng.uniform(0.0, 2 * math.pi, 3)
        amps = rng.uniform(0.5, 1.0, 3)

        def noise(q):
            q = np.asarray(q, dtype=float)
            waves = zip(amps, periods, phases)
            return sum(a * np.sin(2 * math.pi * q / p + f) for a, p, f in waves)

        probe = noise(np.arange(0.0, 400.0, 0.05))
        scale = clip.depth / float(np.max(np.abs(probe)))
        base = clip.bpm[0]
        return lambda q: base * (1.0 + scale * noise(q))
    if clip.curve == "fermata":
        base = clip.bpm[0]
        held = np.asarray(fermatas_q, dtype=float)

        def bpm(q):
            q = np.asarray(q, dtype=float)
            inside = np.zeros(q.shape, dtype=bool)
            for f in held:
                inside |= (q >= f) & (q < f + 1.0)
            return np.where(inside, base / FERMATA_HOLD, base)

        return bpm
    raise ValueError(f"unknown tempo curve {clip.curve!r}")


class TimeMap:
    """Score position (quarters) -> seconds from the first note, by integrating 60 / bpm(q)
    on a grid of 1/GRID quarter (midpoint rule: exact for the fermata steps, which fall on
    the grid; error far below a microsecond for the smooth curves)."""

    def __init__(self, bpm, q_max: float):
        n = int(math.ceil(q_max * GRID)) + 1
        mid = (np.arange(n) + 0.5) / GRID
        dt = 60.0 / bpm(mid) / GRID
        self.q = np.arange(n + 1) / GRID
        self.t = np.concatenate(([0.0], np.cumsum(dt)))

    def __call__(self, q):
        return np.interp(q, self.q, self.t)


def to_tick(t_sec) -> np.ndarray:
    return np.rint(np.asarray(t_sec, dtype=float) * TICKS_PER_SEC).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Score clips


def load_score(source: str):
    from music21 import corpus

    score = corpus.parse(source)
    try:
        score = score.toSoundingPitch()  # transposing instruments (Bb clarinet)
    except Exception as exc:  # noqa: BLE001 - report and go on with written pitch
        print(f"  {source}: toSoundingPitch failed ({exc}); using written pitch")
    return score


def beat_grid(score) -> tuple[list[tuple[float, int, str]], float]:
    """Every quarter-note beat of the score, (q, position in bar, meter), from the first part's
    measures (pickup bars placed by their padding), up to the first measure this cannot place:
    a meter whose bar is not whole quarters (6/8, 2/2...) or a bar whose notated length does not
    fill its meter. -> (beats, q where the usable score stops)."""
    part = score.parts[0]
    beats = []
    measures = list(part.getElementsByClass("Measure"))
    for i, m in enumerate(measures):
        ts = m.timeSignature or m.getContextByClass("TimeSignature")
        bar_ql = Fraction(m.barDuration.quarterLength)
        start = Fraction(m.offset)
        if i + 1 < len(measures):  # (a grace note can make a bar's own duration overrun)
            length = Fraction(measures[i + 1].offset) - start
        else:
            length = Fraction(m.duration.quarterLength)
        pad_l, pad_r = Fraction(m.paddingLeft), Fraction(m.paddingRight)
        if bar_ql.denominator != 1 or (ts is not None and ts.denominator != 4):
            return beats, float(start)
        if not beats and start == 0 and pad_l == 0 and length < bar_ql:
            pad_l = bar_ql - length  # a pickup bar without its padding
        if length + pad_l + pad_r != bar_ql:
            return beats, float(start)
        nominal = start - pad_l
        for k in range(int(bar_ql)):
            q = nominal + k
            if start <= q < start + length:
                beats.append((float(q), k + 1, ts.ratioString if ts else "4/4"))
    return beats, float(score.highestTime)


def score_notes(score) -> list[list[tuple[float, float, int]]]:
    """Per part: (onset q, duration q, MIDI pitch), ties merged, grace notes dropped."""
    parts = []
    for part in score.parts:
        stripped = part.stripTies()
        notes = []
        for n in stripped.recurse().notes:
            ql = float(n.duration.quarterLength)
            if ql <= 0:
                continue
            q = float(n.getOffsetInHierarchy(stripped))
            for p in n.pitches:
                notes.append((q, ql, int(p.midi)))
        parts.append(sorted(notes))
    return parts


def soprano_fermatas(score) -> list[float]:
    from music21 import expressions

    part = score.parts[0]
    out = []
    for n in part.recurse().notes:
        if any(isinstance(e, expressions.Fermata) for e in n.expressions):
            out.append(float(n.getOffsetInHierarchy(part)))
    return out


def build_score_clip(clip: ScoreClip, min_sec: float = 25.0):
    """-> (mido.MidiFile, beats [(t_sec, position)], manifest entry); a piece giving less than
    ``min_sec`` of music is refused (ValueError)."""
    import mido

    score = load_score(clip.source)
    grid, q_stop = beat_grid(score)
    beat_q = np.array([g[0] for g in grid])
    meters = sorted({g[2] for g in grid[:64]})
    fermatas = []
    if clip.curve == "fermata":
        on_beat = set(beat_q.tolist())
        fermatas = [f for f in soprano_fermatas(score) if f in on_beat]
        if not fermatas:
            raise ValueError(f"{clip.source}: no fermata on a beat")
    bpm = tempo_curve(clip, fermatas)
    q_score_end = min(float(score.highestTime), q_stop)
    tmap = TimeMap(bpm, q_score_end + 1.0)
    # the clip ends at the first beat at or after CLIP_SEC, or where the score ends
    late = beat_q[tmap(beat_q) >= CLIP_SEC - 1e-9]
    q_end = min(float(late[0]) if len(late) else q_score_end, q_score_end)
    if float(tmap(q_end)) < min_sec:
        raise ValueError(f"{clip.source}: only {float(tmap(q_end)):.1f} s of usable score")
    keep = beat_q < q_end
    beat_q = beat_q[keep]
    positions = [g[1] for g, k in zip(grid, keep) if k]
    fermatas = [f for f in fermatas if f < q_end]

    programs = ENSEMBLES[clip.ensemble]
    rng = np.random.default_rng(zlib.crc32(clip.name.encode()))
    mid = mido.MidiFile(type=1, ticks_per_beat=PPQ)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("track_name", name=f"improv beats: {clip.name}", time=0))
    conductor.append(mido.MetaMessage("set_tempo", tempo=USPQ, time=0))
    mid.tracks.append(conductor)
    lead_tick = int(round(LEAD_SEC * TICKS_PER_SEC))
    downbeats_q = {q for q, p in zip(beat_q.tolist(), positions) if p == 1}
    beat_set = set(beat_q.tolist())
    part_programs = []
    n_notes = 0
    end_tick = lead_tick
    channels = [c for c in range(16) if c != 9]
    for i, notes in enumerate(score_notes(score)):
        if i >= len(channels):
            raise ValueError(f"{clip.source}: more than {len(channels)} parts")
        program = programs[min(i, len(programs) - 1)]
        chan = channels[i]
        part_programs.append({"part": i, "program": program, "name": GM[program]})
        events = []  # (tick, order, message); note-offs (order 0) before note-ons
        for q, ql, pitch in notes:
            if q >= q_end:
                continue
            q_off = min(q + ql, q_end)
            on, off = to_tick(tmap(np.array([q, q_off]))) + lead_tick
            if off <= on:
                continue
            vel = 72 + (14 if q in downbeats_q else 6 if q in beat_set else 0)
            vel = int(np.clip(vel + rng.integers(-6, 7), 1, 127))
            events.append((int(on), 1, mido.Message("note_on", channel=chan, note=pitch,
                                                     velocity=vel)))
            events.append((int(off), 0, mido.Message("note_off", channel=chan, note=pitch,
                                                      velocity=0)))
            n_notes += 1
            end_tick = max(end_tick, int(off))
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=f"part {i}: {GM[program]}", time=0))
        track.append(mido.Message("program_change", channel=chan, program=program, time=0))
        now = 0
        for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1], e[2].note)):
            track.append(msg.copy(time=tick - now))
            now = tick
        mid.tracks.append(track)

    beat_t = to_tick(tmap(beat_q)) + lead_tick
    beats = [(int(t) / TICKS_PER_SEC, int(p)) for t, p in zip(beat_t, positions)]
    ibi = np.diff(tmap(beat_q))
    inst_bpm = 60.0 / ibi
    entry = {
        "name": clip.name,
        "kind": "score",
        "tempo_curve": clip.curve,
        "meter": meters[0] if len(meters) == 1 else meters,
        "programs": part_programs,
        "ensemble": clip.ensemble,
        "source": f"music21 corpus: {clip.source}",
        "midi": f"{clip.name}.mid",
        "beats": f"{clip.name}.beats",
        "audio": f"audio/{clip.name}.wav",
        "duration_sec": round(end_tick / TICKS_PER_SEC + TAIL_SEC, 3),
        "music_sec": round(float(tmap(q_end)), 3),
        "n_beats": len(beats),
        "n_notes": n_notes,
        "bpm_curve": list(clip.bpm),
        "bpm_min": round(float(inst_bpm.min()), 2),
        "bpm_max": round(float(inst_bpm.max()), 2),
        "first_beat_sec": beats[0][0],
    }
    if clip.curve == "rubato":
        entry["rubato_depth"] = clip.depth
        entry["seed"] = clip.seed
    if fermatas:
        entry["fermata_sec"] = [round(int(to_tick(tmap(f)) + lead_tick) / TICKS_PER_SEC, 6)
                                for f in fermatas]
    return mid, beats, entry


def render_midi(mid_path: Path, wav_path: Path, duration_sec: float, sf2: Path) -> None:
    """FluidSynth renders the file (float stereo), kept as 16-bit mono, cut to ``duration_sec``
    with a 0.3 s fade-out, peak-normalised to -1 dBFS."""
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        cmd = ["fluidsynth", "-ni", "-q", "-T", "wav", "-O", "float", "-r", str(SR),
               "-F", str(raw), str(sf2), str(mid_path)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0 or not raw.exists():
            raise RuntimeError(f"fluidsynth failed on {mid_path}: {res.stderr.strip()}")
        x, sr = sf.read(raw, dtype="float32", always_2d=True)
    if sr != SR:
        raise RuntimeError(f"fluidsynth wrote {sr} Hz, expected {SR}")
    x = x.mean(axis=1)
    n = int(round(duration_sec * SR))
    x = np.concatenate([x[:n], np.zeros(max(0, n - len(x)), dtype=np.float32)])
    write_wav(wav_path, x)


def write_wav(path: Path, x: np.ndarray, fade_sec: float = 0.3) -> None:
    import soundfile as sf

    x = np.asarray(x, dtype=np.float64).copy()
    nf = min(len(x), int(fade_sec * SR))
    if nf:
        x[-nf:] *= np.linspace(1.0, 0.0, nf)
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak > 0:
        x *= 0.891 / peak  # -1 dBFS
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x.astype(np.float32), SR, subtype="PCM_16")


# ---------------------------------------------------------------------------------------------
# Loops

HOP = 256  # onset envelope hop at 44.1 kHz (5.8 ms)
ACF_MIN = 0.35  # an autocorrelation this high at a lag shows a periodicity...
ACF_REL = 0.6  # ... if it is also this close to the strongest candidate's
AGREE_SEC = 0.025  # N beats at the autocorrelation's tempo must span the loop to within this


def onset_envelope(x: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """Spectral flux of log magnitudes (1024-sample Hann frames, hop 256), one value a frame."""
    n = 1024
    pad = np.concatenate([np.zeros(n // 2), x, np.zeros(n)])
    frames = np.lib.stride_tricks.sliding_window_view(pad, n)[::HOP] * np.hanning(n)
    mag = np.log1p(100.0 * np.abs(np.fft.rfft(frames, axis=1)))
    flux = np.maximum(0.0, np.diff(mag, axis=0)).sum(axis=1)
    return np.concatenate(([0.0], flux)), sr / HOP


def loop_envelope(x: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """The onset envelope of one pass of a loop as it sounds when looped (the middle copy of
    three, so the loop point is an ordinary onset), on a grid of exactly len(x)/HOP frames."""
    env, fps = onset_envelope(np.tile(x, 3), sr)
    n = len(x) / HOP
    idx = np.arange(int(math.floor(n))) + n
    return np.interp(idx, np.arange(len(env)), env), fps


def circular_acf(env: np.ndarray) -> np.ndarray:
    e = env - env.mean()
    spec = np.fft.rfft(e)
    r = np.fft.irfft(spec * np.conj(spec), n=len(e))
    return r / r[0]


def acf_at(r: np.ndarray, lag: float) -> float:
    """The autocorrelation near a fractional lag (best of the neighbouring frames: a loop's
    beats are not on the frame grid)."""
    i = int(round(lag))
    return float(max(r[(i + d) % len(r)] for d in (-1, 0, 1)))


def linear_acf(env: np.ndarray) -> np.ndarray:
    """Autocorrelation of one pass of the envelope, no wrap-around, each lag divided by its
    overlap (so long lags are not damped), normalised to r[0] = 1."""
    e = env - env.mean()
    n = len(e)
    spec = np.fft.rfft(e, n=2 * n)
    r = np.fft.irfft(spec * np.conj(spec), n=2 * n)[:n] / (n - np.arange(n))
    return r / r[0]


def acf_period(r: np.ndarray, fps: float, lag0: float) -> float | None:
    """The beat period (s) the onsets show near ``lag0`` frames: the peaks of the (linear)
    autocorrelation near m * lag0 for m = 1.. while the lag is at most half the pass, each
    refined by parabolic interpolation, fitted by least squares through the origin (long lags
    pin the period down far better than one short one). None if there is no peak near lag0."""
    lags, ms = [], []
    m = 1
    while m * lag0 <= len(r) / 2 or m == 1:
        c = m * lag0
        w = max(2.0, 0.06 * lag0)
        lo, hi = int(math.floor(c - w)), int(math.ceil(c + w))
        if lo < 1 or hi + 1 >= len(r):
            break
        i = lo + int(np.argmax(r[lo : hi + 1]))
        if i in (lo, hi):  # no peak inside the window
            if m == 1:
                return None
            break
        a, b, d = r[i - 1], r[i], r[i + 1]
        den = a - 2 * b + d
        lags.append(i + (0.5 * (a - d) / den if den != 0 else 0.0))
        ms.append(m)
        m += 1
    if not lags:  # the window ran off the pass before any peak (a loop of one beat)
        return None
    lags_a, ms_a = np.asarray(lags), np.asarray(ms, dtype=float)
    return float(np.sum(ms_a * lags_a) / np.sum(ms_a * ms_a)) / fps


def analyse_loop(x: np.ndarray, sr: int) -> dict:
    """Find N (beats per loop) from the length, check it with the onset autocorrelation.

    Candidates: N with 60 N / length in 60..200 BPM whose beat period shows in the circular
    autocorrelation of the onset envelope (value at lag length / N >= ACF_MIN and >= ACF_REL
    times the best candidate's); among them those at 80..160 BPM first, then the strongest.
    Confirmation, from one pass of the loop only (no wrap-around, which would force the answer):
    N periods of the beat period its own onset autocorrelation shows (``acf_period``) span the
    loop to within AGREE_SEC; else the loop is not a whole number of beats, and a grid
    k * length / N would drift off its onsets. Returns a dict with beats_per_loop, bpm, acf_bpm,
    ok, why (and the candidates, for the report)."""
    length = len(x) / sr
    env, fps = loop_envelope(x, sr)
    r = circular_acf(env)
    frames = len(env)
    cands = []
    for n in range(1, 64):
        bpm = 60.0 * n / length
        if 60.0 <= bpm <= 200.0:
            cands.append((n, bpm, acf_at(r, frames / n)))
    best = max((c[2] for c in cands), default=0.0)
    shown = [c for c in cands if c[2] >= max(ACF_MIN, ACF_REL * best)]
    preferred = [c for c in shown if 80.0 <= c[1] <= 160.0]
    out = {"loop_sec": round(length, 6),
           "candidates": [(n, round(b, 2), round(a, 3)) for n, b, a in cands]}
    # does the loop start on an onset? (loops are cut at a downbeat; reported, not enforced)
    out["start_onset"] = round(float(env[:3].max() / max(np.percentile(env, 95), 1e-12)), 2)
    if not shown:
        return {**out, "ok": False, "why": "no beat period at 60..200 BPM shows in the "
                                           f"autocorrelation (>= {ACF_MIN})"}
    n, bpm, acf = max(preferred or shown, key=lambda c: c[2])
    one_pass, _ = onset_envelope(x, sr)
    period = acf_period(linear_acf(one_pass[: frames]), fps, frames / n)
    est = None if period is None else 60.0 / period
    out.update(beats_per_loop=n, bpm=round(bpm, 3), acf=round(acf, 3),
               acf_bpm=None if est is None else round(est, 2))
    if est is None:
        return {**out, "ok": False, "why": f"length says {bpm:.2f} BPM (N={n}), but the "
                                           "autocorrelation has no peak there"}
    out["span_error_sec"] = round(n * 60.0 / est - length, 4)
    if abs(out["span_error_sec"]) > AGREE_SEC:
        return {**out, "ok": False,
                "why": f"length says {bpm:.2f} BPM (N={n}), autocorrelation {est:.2f} BPM: "
                       f"{n} beats at that tempo span {n * 60.0 / est:.3f} s, not {length:.3f}"}
    return {**out, "ok": True, "why": ""}


def read_audio_mono(path: Path) -> np.ndarray:
    """Any file soundfile reads (ogg, wav), mixed to mono, resampled to SR."""
    import soundfile as sf
    from scipy.signal import resample_poly

    x, sr = sf.read(path, dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    if sr != SR:
        g = math.gcd(sr, SR)
        x = resample_poly(x, SR // g, sr // g)
    return x


def loop_name(path: Path) -> str:
    return f"loop_{path.stem.removeprefix('loop_')}"  # Sonic Pi's files are loop_*.flac


def build_loop(path: Path, package: str = "lmms-common") -> tuple[np.ndarray | None, list, dict]:
    x = read_audio_mono(path)
    info = analyse_loop(x, SR)
    name = loop_name(path)
    entry = {"name": name, "kind": "loop", "tempo_curve": "steady",
             "source": f"{package}: {path}", "programs": [], "midi": None,
             "beats": f"{name}.beats", "audio": f"audio/{name}.wav", **info}
    if not info["ok"]:
        return None, [], entry
    n, length = info["beats_per_loop"], len(x) / SR
    entry["meter"] = f"{n}/4" if n <= 4 else "4/4" if n % 4 == 0 else f"{n}/4"
    bar = int(entry["meter"].split("/")[0])
    reps = int(math.ceil(CLIP_SEC / length))
    y = np.tile(x, reps)[: int(round(CLIP_SEC * SR))]
    period = length / n
    beats = []
    k = 0
    while k * period < CLIP_SEC - 0.05:
        beats.append((k * period, k % bar + 1))
        k += 1
    entry.update(duration_sec=CLIP_SEC, n_beats=len(beats), bpm_min=round(60 / period, 2),
                 bpm_max=round(60 / period, 2), first_beat_sec=0.0)
    return y, beats, entry


# ---------------------------------------------------------------------------------------------


def write_beats(path: Path, beats) -> None:
    path.write_text("".join(f"{t:.6f}\t{p}\n" for t, p in beats))


def read_beats(path: Path) -> np.ndarray:
    """-> array (n, 2): t_sec, position in bar."""
    return np.loadtxt(path, ndmin=2)


def pick_onsets(x: np.ndarray, sr: int) -> np.ndarray:
    """Onset times (s): peaks of the spectral flux that are the largest within +-46 ms and rise
    above the local mean (+-58 ms) by 15 % of the envelope's 99th percentile."""
    env, fps = onset_envelope(x, sr)
    env = env / max(float(np.percentile(env, 99)), 1e-9)
    k = np.ones(21) / 21
    local = np.convolve(env, k, mode="same")
    peaks = []
    for i in range(8, len(env) - 8):
        if env[i] == env[i - 8 : i + 9].max() and env[i] > local[i] + 0.15:
            peaks.append(i)
    # the envelope frame i covers samples centred on i * HOP (the signal was padded by n/2)
    return np.asarray(peaks, dtype=float) / fps


def check_clip(entry: dict, out: Path, clicks: Path | None) -> dict:
    """How the annotated beats sit on the audio's onsets (and, for score clips, on the MIDI's
    note-ons): the fraction of beats with an onset within +-35 ms; the shift of the whole grid
    (scanned over +-100 ms in 5 ms steps) that puts most beats within 15 ms of an onset, which
    must be ~0 (a few ms late for soft attacks); the fraction for the grid moved 80 ms either
    way (a control); the median onset - beat offset."""
    import soundfile as sf

    beats = read_beats(out / entry["beats"])
    t = beats[:, 0]
    x, sr = sf.read(out / entry["audio"], dtype="float64")
    onsets = pick_onsets(x, sr)

    def near(times, tol):
        idx = np.searchsorted(onsets, times)
        lo = onsets[np.clip(idx - 1, 0, len(onsets) - 1)]
        hi = onsets[np.clip(idx, 0, len(onsets) - 1)]
        d = np.where(np.abs(lo - times) < np.abs(hi - times), lo - times, hi - times)
        return np.abs(d) <= tol, d

    hit, d = near(t, 0.035)
    shifts = np.arange(-100, 101, 5)
    scan = np.array([near(t + s / 1000.0, 0.015)[0].mean() for s in shifts])
    moved = max(near(t - 0.08, 0.035)[0].mean(), near(t + 0.08, 0.035)[0].mean())
    res = {"name": entry["name"], "beats": len(t), "hit": float(hit.mean()),
           "best_shift_ms": float(np.mean(shifts[scan == scan.max()])),
           "hit_moved": float(moved),
           "offset_ms": float(np.median(d[np.abs(d) <= 0.05]) * 1000) if np.any(
               np.abs(d) <= 0.05) else float("nan")}
    if entry.get("midi"):
        import mido

        mid = mido.MidiFile(out / entry["midi"])
        now, ons = 0.0, []
        for msg in mid:  # mido yields delta seconds through the file's tempo map
            now += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                ons.append(now)
        ons = np.unique(np.round(ons, 6))
        j = np.clip(np.searchsorted(ons, t), 1, len(ons) - 1)
        dist = np.minimum(np.abs(ons[j] - t), np.abs(ons[j - 1] - t))
        res["midi_on_beat"] = float(np.mean(dist <= 0.001))
    if clicks is not None:
        clicks.mkdir(parents=True, exist_ok=True)
        y = x.copy()
        n = int(0.02 * sr)
        env = np.exp(-np.arange(n) / (0.004 * sr))
        for tb, pos in beats:
            f = 2000.0 if pos == 1 else 1000.0
            i = int(round(tb * sr))
            blip = 0.5 * env * np.sin(2 * np.pi * f * np.arange(n) / sr)
            y[i : i + n] += blip[: len(y[i : i + n])]
        sf.write(clicks / f"{entry['name']}_clicks.wav", np.clip(y, -1, 1), sr,
                 subtype="PCM_16")
    return res


def check(out: Path, clicks: Path | None) -> int:
    manifest = json.loads((out / "clips.json").read_text())
    print("| clip | curve | beats | MIDI note-on on beat | audio onset <= 35 ms from beat | "
          "best grid shift (ms) | same, grid moved 80 ms | median onset - beat (ms) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for entry in manifest["clips"]:
        r = check_clip(entry, out, clicks)
        midi = f"{r['midi_on_beat']:.2f}" if "midi_on_beat" in r else "-"
        print(f"| {r['name']} | {entry['tempo_curve']} | {r['beats']} | {midi} | {r['hit']:.2f} | "
              f"{r['best_shift_ms']:+.0f} | {r['hit_moved']:.2f} | {r['offset_ms']:+.1f} |")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--sf2", type=Path, default=SF2)
    ap.add_argument("--regenerate", action="store_true",
                    help="rewrite .mid/.beats from the corpus even if they exist")
    ap.add_argument("--only", nargs="*", default=None, help="clip names to build")
    ap.add_argument("--no-loops", action="store_true")
    ap.add_argument("--test-set", action="store_true",
                    help=f"other recorded loops only (a test set), into {TEST_OUT}")
    ap.add_argument("--check", action="store_true",
                    help="do not build: report how the beats sit on the audio's onsets")
    ap.add_argument("--clicks", type=Path, default=None,
                    help="with --check: also write each clip with a click on every beat here")
    args = ap.parse_args(argv)
    loop_sets, scores = ((LOOP_DIR, "*", "lmms-common"),), SCORES
    if args.test_set:
        loop_sets, scores = TEST_LOOPS, ()
        if args.out == DEFAULT_OUT:
            args.out = TEST_OUT
    out: Path = args.out
    if args.check:
        return check(out, args.clicks)
    audio = out / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    if shutil.which("fluidsynth") is None:
        print("fluidsynth not found: apt-get install fluidsynth fluid-soundfont-gm")
        return 2
    if not args.sf2.exists():
        print(f"soundfont {args.sf2} not found: apt-get install fluid-soundfont-gm")
        return 2
    manifest_path = out / "clips.json"
    old = {}
    if manifest_path.exists():
        old = {c["name"]: c for c in json.loads(manifest_path.read_text())["clips"]}

    entries, skipped = [], []
    for clip in scores:
        if args.only and clip.name not in args.only:
            if clip.name in old:
                entries.append(old[clip.name])
            continue
        mid_path, beats_path = out / f"{clip.name}.mid", out / f"{clip.name}.beats"
        wav_path = audio / f"{clip.name}.wav"
        if mid_path.exists() and beats_path.exists() and clip.name in old and not args.regenerate:
            entry = old[clip.name]
            made = "kept"
        else:
            mid, beats, entry = build_score_clip(clip)
            mid.save(mid_path)
            write_beats(beats_path, beats)
            made = "written"
        if not wav_path.exists() or made == "written":
            render_midi(mid_path, wav_path, entry["duration_sec"], args.sf2)
        entries.append(entry)
        print(f"{clip.name:40s} {entry['tempo_curve']:8s} {str(entry['meter']):5s} "
              f"{entry['music_sec']:5.1f} s {entry['n_beats']:3d} beats "
              f"{entry['bpm_min']:6.1f}-{entry['bpm_max']:6.1f} BPM  mid/beats {made}")

    if args.no_loops:  # keep what the manifest says about them
        old_skipped = json.loads(manifest_path.read_text()).get("skipped", []) if old else []
        entries += [e for e in old.values() if e["kind"] == "loop"]
        skipped += old_skipped
    else:
        for loop_dir, _, package in loop_sets:
            if not loop_dir.is_dir():
                print(f"{loop_dir} is missing: apt-get install {package} (or pass --no-loops)")
                return 2
        paths = [(p, pkg) for d, pattern, pkg in loop_sets for p in sorted(d.glob(pattern))]
        for path, package in paths:
            if path.suffix.lower() not in (".ogg", ".wav", ".flac"):
                continue
            name = loop_name(path)
            if args.only and name not in args.only:
                if name in old:
                    entries.append(old[name])
                continue
            y, beats, entry = build_loop(path, package)
            if y is None:
                print(f"{name:40s} SKIPPED: {entry['why']}  (candidates N, BPM, acf: "
                      f"{entry['candidates']})")
                skipped.append(entry)
                continue
            beats_path = out / f"{name}.beats"
            if beats_path.exists() and not args.regenerate:
                had = read_beats(beats_path)
                if len(had) != len(beats) or np.max(np.abs(had[:, 0] - [b[0] for b in beats])) \
                        > 1e-5:
                    print(f"{name}: committed beats differ from this analysis; "
                          "keeping the committed file (pass --regenerate to rewrite)")
            else:
                write_beats(beats_path, beats)
            write_wav(audio / f"{name}.wav", y, fade_sec=0.01)
            entries.append(entry)
            print(f"{name:40s} loop     {entry['meter']:5s} {entry['loop_sec']:6.3f} s loop, "
                  f"N={entry['beats_per_loop']:2d}: {entry['bpm']:6.2f} BPM (autocorrelation "
                  f"{entry['acf_bpm']:.2f}, r={entry['acf']:.2f}), start onset "
                  f"{entry['start_onset']}")

    manifest = {
        "about": ("improv beat-tracking " + ("TEST set (other recorded loops)" if args.test_set
                                             else "development set")
                  + "; built by bench/beats_dataset.py"),
        "samplerate": SR,
        "beats_format": "t_sec<TAB>position in bar (1 = downbeat)",
        "clips": entries,
        "skipped": skipped,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    kinds: dict[str, int] = {}
    for e in entries:
        key = f"{e['kind']}/{e['tempo_curve']}"
        kinds[key] = kinds.get(key, 0) + 1
    print(f"{len(entries)} clips ({', '.join(f'{k}: {v}' for k, v in sorted(kinds.items()))}); "
          f"{len(skipped)} loops skipped; manifest {manifest_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
