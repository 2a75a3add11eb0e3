"""Drum-machine songs for the learned beat activation's training set: Hydrogen's demo songs.

On drum loops the learned activation often fires on the off-beat (the development set's and the
recorded loops' clips where it scores 0 at the right tempo). Hydrogen's demo songs are drum
parts programmed in 4/4 bars (every pattern 192 ticks, one tempo), so their beats are exact:
beat k at k * 60 / BPM from the start. Each song is rendered headless (``h2cli``) with its own
kit and, for the songs written for the General MIDI layout (``GM_kit_*``, the tutorial),
also with the other installed kits that keep that layout (kick, stick, snare, clap, ... in
the same slots), so the same part is heard on several acoustic and electronic kits. A
rendering that leaves stretches silent (a kit without an instrument the song uses), or whose
onsets do not fit the grid (``beats_songs.grid_shift`` over 10-s windows, within 15 ms), is
skipped.
Each rendering is cut as ``bench/beats_trainlmms.py`` does (30 s segments every 20 s, three
varispeeds 0.78-1.28) into ``models/cache/beats_train/H###_<song>_<kit>_<speed>.npz``.
Needs ``apt-get install hydrogen``.

    python bench/beats_trainhydrogen.py [--speeds 3] [--jobs 4]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import beats_songs as bs  # noqa: E402
import beats_trainlmms as tl  # noqa: E402
import beats_trainset as ts  # noqa: E402

H2_DATA = Path("/usr/share/hydrogen/data")
# kits whose instruments sit in the General MIDI kit's slots (checked in each drumkit.xml)
GM_KITS = ("GMRockKit", "Audiophob", "ColomboAcousticDrumkit", "Millo-Drums_v.1",
           "Millo_MultiLayered2", "Millo_MultiLayered3", "The Black Pearl 1.0",
           "rumpf_kit_z01_h2")
TICKS_PER_BAR = 192  # Hydrogen: 48 ticks a quarter note; a 4/4 bar
MAX_SHIFT_SEC = 0.015  # a rendering's onsets must fit the beat grid this closely


def songs() -> list[tuple[Path, float, str]]:
    """-> [(song file, BPM, its own kit)] for the demo songs whose patterns are all 4/4 bars."""
    out = []
    for path in sorted((H2_DATA / "demo_songs").glob("*.h2song")):
        xml = path.read_text(errors="replace")
        sizes = {int(v) for v in re.findall(r"<size>(\d+)</size>", xml)}
        if sizes != {TICKS_PER_BAR}:
            print(f"{path.name}: patterns of {sorted(sizes)} ticks, skipped")
            continue
        bpm = float(re.search(r"<bpm>([\d.]+)</bpm>", xml).group(1))
        kit = re.search(r"<drumkit>([^<]+)</drumkit>", xml).group(1)
        out.append((path, bpm, kit))
    return out


def render(song: Path, kit: str, wav: Path) -> np.ndarray | None:
    """``song`` played on ``kit`` (mono, ``bs.SR``), or None if h2cli fails."""
    res = subprocess.run(["h2cli", "-s", str(song), "-k", kit, "-o", str(wav)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)
    if res.returncode != 0 or not wav.exists():
        return None
    return bs.read_audio_mono(wav)


def silent_share(x: np.ndarray, until_sec: float) -> float:
    """Share of the 1-s windows before ``until_sec`` that are (nearly) silent."""
    n = max(1, int(until_sec))
    rms = [np.sqrt(np.mean(x[i * bs.SR:(i + 1) * bs.SR] ** 2)) for i in range(n)]
    return float(np.mean(np.array(rms) < 1e-3))


def drum_songs(every_kit: bool = True, jobs: int = 4):
    """Yields (label, mono audio, beats, info): each demo song on its own kit and, with
    ``every_kit``, on the other installed General MIDI layout kits; renderings with silent
    stretches or onsets off the grid are skipped (said on stdout)."""
    if shutil.which("h2cli") is None:
        raise SystemExit("h2cli not found: apt-get install hydrogen")
    installed = {p.name for p in (H2_DATA / "drumkits").iterdir()}
    todo = []
    for song, bpm, own in songs():
        kits = [own] + ([k for k in GM_KITS if k != own and k in installed]
                        if every_kit and own == "GMRockKit" else [])
        todo += [(song, bpm, kit) for kit in kits]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(jobs) as pool:
        def one(job):
            song, _, kit = job
            return render(song, kit, Path(tmp) / f"{song.stem}_{kit.replace(' ', '_')}.wav")
        for (song, bpm, kit), x in zip(todo, pool.map(one, todo)):
            label = f"{song.stem.removeprefix('GM_kit_')}_{re.sub(r'[^A-Za-z0-9]+', '', kit)}"
            if x is None:
                print(f"{label}: h2cli failed, skipped")
                continue
            n_beats = int(len(x) / bs.SR * bpm / 60)
            beats = [(i * 60.0 / bpm, i % 4 + 1) for i in range(n_beats)]
            silent = silent_share(x, beats[-1][0])
            if silent > 0.1:
                print(f"{label}: {silent:.0%} of it silent on this kit, skipped")
                continue
            # the rendering must put its onsets on the grid (a drum part hits the beats)
            shift_sec = bs.grid_shift(x, np.array([t for t, _ in beats]), window_sec=10.0)
            if abs(shift_sec) > MAX_SHIFT_SEC:
                print(f"{label}: onsets {shift_sec * 1000:+.0f} ms off the grid, skipped")
                continue
            yield label, x, beats, {"source": f"hydrogen: {song}", "bpm": bpm, "kit": kit,
                                    "grid_shift_ms": round(shift_sec * 1000)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--speeds", type=int, default=3, help="renderings of each segment")
    ap.add_argument("--jobs", type=int, default=4,
                    help="renderings at once (h2cli waits more than it computes)")
    args = ap.parse_args(argv)
    ts.OUT.mkdir(parents=True, exist_ok=True)
    k = 0
    for label, x, beats, info in drum_songs(every_kit=True, jobs=args.jobs):
        extra = {"kit": info["kit"], "grid_shift_ms": info["grid_shift_ms"]}
        k = tl.save_segments(label, x, beats, {**info, "extra": extra}, "H", k, args.speeds,
                             "hydrogen")
    print(f"{k} clips in {ts.OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
