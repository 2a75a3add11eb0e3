"""Build beat-tracking sets of whole produced songs, cut into 30 s excerpts, from packages.

Two sources, each with the beat grid its producer worked on (so the beats are not estimated
from the audio, as the loops' are):

- ``fof``: the recorded songs of Frets on Fire (Debian ``fretsonfire-songs-muldjord``,
  ``fretsonfire-songs-sectoid``; CC BY-SA 3.0, by Muldjord and Sectoid): rock and metal
  played by a band, 95-190 BPM, ``song.ogg`` + ``guitar.ogg`` (+ ``rhythm.ogg``) mixed. The
  beats are the quarter notes of the chart's tempo map (``notes.mid``). A chart is placed by
  hand against the audio, so each song's grid is shifted by the offset that best fits the
  onsets (within +-100 ms): the median over its 30 s windows of the shift that maximises the
  onset envelope at the beats (Muldjord's come out at 0-5 ms, Sectoid's at 30-45 ms, the
  audio later than the chart). The bench's own onset envelope is used, not improv's.
- ``lmms``: the demo songs of LMMS (``/usr/share/lmms/projects``, Debian ``lmms`` to render,
  ``lmms-common`` for the projects): electronic and pop productions, 87-200 BPM, rendered by
  ``lmms render``; each project has one tempo (its ``bpm``) from tick 0, so beat k is at
  k * 60 / bpm exactly (a render check: the onsets fit that grid at 0 +- 10 ms in every 30 s
  window of every song but one, which puts its strongest onsets half a beat off; its grid is
  kept as the project says). A project using one of the development set's loop samples is
  skipped.
- ``hydrogen``: Hydrogen's demo songs (Debian ``hydrogen``): drum parts alone, 4/4, one tempo
  (98-125 BPM), each on its own kit, rendered by ``h2cli``; beat k at k * 60 / BPM (renderings
  whose onsets miss that grid by more than 15 ms are skipped, as in
  ``bench/beats_trainhydrogen.py``, which makes training clips of the same songs on more kits:
  no shipped model has trained on them). Its excerpts are 20 s every 40 s from the start (the
  songs are short).

Excerpts: ``--excerpt-sec`` (30; hydrogen 20) long, starting at ``--first-sec`` (10; 0) and every
``--every-sec`` (60; 40) while they fit. Written to ``--out``: ``clips.json`` (the manifest,
``kind`` "song"), ``<clip>.beats`` (``t_sec<TAB>position in bar``; committed) and
``audio/<clip>.wav`` (44.1 kHz mono; rebuilt, not committed). Score them with
``python bench/beats.py --data bench/data/beats_songs``.

    python bench/beats_songs.py --source fof    # -> bench/data/beats_songs (a test set)
    python bench/beats_songs.py --source lmms   # -> bench/data/beats_lmms
    python bench/beats_songs.py --source hydrogen  # -> bench/data/beats_drums
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from beats_dataset import SR, onset_envelope, read_audio_mono, write_beats, write_wav  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FOF_DIR = Path("/usr/share/games/fretsonfire/data/songs")
LMMS_DIRS = (Path("/usr/share/lmms/projects/demos"), Path("/usr/share/lmms/projects/shorties"))
DEV_LOOPS = "beats/"  # a project sampling the development set's loops is skipped
OUT = {"fof": ROOT / "bench" / "data" / "beats_songs",
       "lmms": ROOT / "bench" / "data" / "beats_lmms",
       "hydrogen": ROOT / "bench" / "data" / "beats_drums"}
# per source: (excerpt_sec, first_sec, every_sec) unless given on the command line
EXCERPTS = {"fof": (30.0, 10.0, 60.0), "lmms": (30.0, 10.0, 60.0),
            "hydrogen": (20.0, 0.0, 40.0)}
MAX_SHIFT_SEC = 0.1
# the LMMS songs of the ``lmms`` set (four authors): the learned activation trains on the other
# demo songs (bench/beats_trainlmms.py), so these are the ones left to choose settings on
LMMS_HELD_OUT = ("lmms_capdan_reggaetry", "lmms_capdan_reggaetontry",
                 "lmms_capdan_twilightarea_originalbyalf42red",
                 "lmms_capdan_zerosumgame_originalbyzakarra", "lmms_oglsdl_dr8v2",
                 "lmms_oglsdl_pptrip", "lmms_socceroos_progress",
                 "lmms_strictproduction_dearjondoe")


def tempo_map_beats(mid_path: Path, end_sec: float) -> list[tuple[float, int]]:
    """Quarter-note beats (t_sec, position in bar) of a MIDI file's tempo map and time
    signatures, up to ``end_sec``."""
    import mido

    mid = mido.MidiFile(mid_path)
    tpb = mid.ticks_per_beat
    tempos, sigs = [], []
    for track in mid.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo":
                tempos.append((tick, msg.tempo))
            elif msg.type == "time_signature":
                sigs.append((tick, msg.numerator * 4 // msg.denominator or 4))
    tempos.sort()
    sigs.sort()
    if not tempos or tempos[0][0] > 0:
        tempos.insert(0, (0, 500_000))
    beats, sec, tick0, tempo, i = [], 0.0, 0, tempos[0][1], 0
    bar_len, bar_start, s = 4, 0, 0
    b = 0
    while True:
        tick = b * tpb
        while i + 1 < len(tempos) and tempos[i + 1][0] <= tick:
            sec += (tempos[i + 1][0] - tick0) * tempo / 1e6 / tpb
            tick0, tempo = tempos[i + 1]
            i += 1
        while s < len(sigs) and sigs[s][0] <= tick:
            bar_len, bar_start = sigs[s][1], b
            s += 1
        t = sec + (tick - tick0) * tempo / 1e6 / tpb
        if t > end_sec:
            return beats
        beats.append((t, (b - bar_start) % bar_len + 1))
        b += 1


def grid_shift(x: np.ndarray, beats: np.ndarray, window_sec: float = 30.0) -> float:
    """The shift (s, within +-MAX_SHIFT_SEC) of a beat grid that puts the most onset strength
    on it: the median over ``window_sec`` windows of each window's best shift."""
    env, fps = onset_envelope(x, SR)
    t_env = np.arange(len(env)) / fps
    shifts = np.arange(-MAX_SHIFT_SEC, MAX_SHIFT_SEC + 1e-9, 0.005)
    best = []
    for t0 in np.arange(0.0, t_env[-1] - window_sec + 1e-9, window_sec):
        b = beats[(beats >= t0) & (beats < t0 + window_sec)]
        if len(b) >= 8:
            score = [np.interp(b + d, t_env, env).mean() for d in shifts]
            best.append(shifts[int(np.argmax(score))])
    return float(np.median(best)) if best else 0.0


def fof_songs():
    """-> [(name, mono audio, beats [(t, pos)], info)] for every installed Frets on Fire song."""
    for song in sorted(p.parent for p in FOF_DIR.glob("*/*/notes.mid")):
        stems = [read_audio_mono(song / f) for f in ("song.ogg", "guitar.ogg", "rhythm.ogg")
                 if (song / f).exists()]
        n = max(len(s) for s in stems)
        x = np.zeros(n)
        for s in stems:
            x[:len(s)] += s
        beats = tempo_map_beats(song / "notes.mid", n / SR)
        times = np.array([t for t, _ in beats])
        shift = grid_shift(x, times)
        beats = [(t + shift, p) for t, p in beats if t + shift >= 0.0]
        name = "fof_" + re.sub(r"[^a-z0-9]+", "_", song.name.lower()).strip("_")
        yield name, x, beats, {"source": f"{song.parent.name}: {song}",
                               "chart_shift_sec": round(shift, 3)}


def lmms_project_xml(path: Path) -> str:
    data = path.read_bytes()
    return zlib.decompress(data[4:]).decode("utf-8", "replace") if path.suffix == ".mmpz" \
        else data.decode("utf-8", "replace")


def lmms_songs(keep=lambda name: True):
    """-> [(name, mono audio, beats, info)] for every LMMS demo project whose name ``keep``
    accepts."""
    if shutil.which("lmms") is None:
        raise SystemExit("lmms not found: apt-get install lmms")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    root_flag = ["--allowroot"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    projects = sorted(p for d in LMMS_DIRS for p in d.rglob("*.mmp*"))
    with tempfile.TemporaryDirectory() as tmp:
        for proj in projects:
            xml = lmms_project_xml(proj)
            name = "lmms_" + re.sub(r"[^a-z0-9]+", "_", proj.stem.lower()).strip("_")
            if not keep(name):
                continue
            if DEV_LOOPS in " ".join(re.findall(r'src="([^"]*)"', xml)):
                print(f"{name}: uses a development-set loop sample, skipped")
                continue
            head = re.search(r"<head[^>]*>", xml).group(0)
            bpm = float(re.search(r'bpm="([\d.]+)"', head).group(1))
            num = int(re.search(r'timesig_numerator="(\d+)"', head).group(1))
            den = int(re.search(r'timesig_denominator="(\d+)"', head).group(1))
            wav = Path(tmp) / f"{name}.wav"
            subprocess.run(["lmms", *root_flag, "render", str(proj), "-f", "wav", "-o",
                            str(wav)], env=env, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=900)
            x = read_audio_mono(wav)
            bar = max(1, num * 4 // den)
            beats = [(k * 60.0 / bpm, k % bar + 1) for k in range(int(len(x) / SR * bpm / 60))]
            yield name, x, beats, {"source": f"lmms: {proj}", "bpm": bpm,
                                   "meter_project": f"{num}/{den}"}


def excerpts(x: np.ndarray, beats, excerpt_sec: float, first_sec: float, every_sec: float):
    """-> [(start_sec, audio, beats relative to the start)]."""
    out = []
    t0 = first_sec
    while t0 + excerpt_sec <= len(x) / SR:
        y = x[int(round(t0 * SR)):int(round((t0 + excerpt_sec) * SR))]
        b = [(t - t0, p) for t, p in beats if t0 <= t < t0 + excerpt_sec - 0.05]
        if np.sqrt(np.mean(y ** 2)) > 1e-3 and len(b) >= 8:
            out.append((t0, y, b))
        t0 += every_sec
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", choices=sorted(OUT), required=True)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--excerpt-sec", type=float, default=None)
    ap.add_argument("--first-sec", type=float, default=None)
    ap.add_argument("--every-sec", type=float, default=None)
    args = ap.parse_args(argv)
    for key, value in zip(("excerpt_sec", "first_sec", "every_sec"), EXCERPTS[args.source]):
        if getattr(args, key) is None:
            setattr(args, key, value)
    out: Path = args.out or OUT[args.source]
    if args.source == "fof" and not FOF_DIR.is_dir():
        print(f"{FOF_DIR} is missing: apt-get install fretsonfire-songs-muldjord "
              "fretsonfire-songs-sectoid")
        return 2
    if args.source == "hydrogen":
        from beats_trainhydrogen import drum_songs

        songs = (("h2_" + label, x, beats, info)
                 for label, x, beats, info in drum_songs(every_kit=False))
    elif args.source == "fof":
        songs = fof_songs()
    else:
        songs = lmms_songs(lambda n: n in LMMS_HELD_OUT)
    entries = []
    for name, x, beats, info in songs:
        times = np.array([t for t, _ in beats])
        bpm = 60.0 / np.median(np.diff(times))
        meter = f"{max(p for _, p in beats)}/4"
        cuts = excerpts(x, beats, args.excerpt_sec, args.first_sec, args.every_sec)
        for start, y, b in cuts:
            clip = f"{name}_{int(start):03d}"
            write_wav(out / "audio" / f"{clip}.wav", y, fade_sec=0.01)
            write_beats(out / f"{clip}.beats", b)
            ibi = np.diff([t for t, _ in b])
            entries.append({"name": clip, "kind": "song", "tempo_curve": "steady",
                            "meter": meter, "midi": None, "programs": [],
                            "beats": f"{clip}.beats", "audio": f"audio/{clip}.wav",
                            "start_sec": start, "duration_sec": args.excerpt_sec,
                            "n_beats": len(b), "bpm_min": round(60 / ibi.max(), 2),
                            "bpm_max": round(60 / ibi.min(), 2), **info})
        print(f"{name:45s} {len(x) / SR:6.1f} s {bpm:6.1f} BPM {meter}  {len(cuts)} excerpts"
              + (f"  chart shift {info['chart_shift_sec'] * 1000:+.0f} ms"
                 if "chart_shift_sec" in info else ""))
    manifest = {"about": f"improv beat-tracking songs ({args.source}); built by "
                         "bench/beats_songs.py",
                "samplerate": SR, "beats_format": "t_sec<TAB>position in bar (1 = downbeat)",
                "clips": entries, "skipped": []}
    out.mkdir(parents=True, exist_ok=True)
    (out / "clips.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(entries)} excerpts; manifest {out / 'clips.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
