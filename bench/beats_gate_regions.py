"""Where the source gate's choices stand: for each rule the gate decided by at its first
decision (``SourceGate.reason``: a sure network, percussive, peaked, between, legato, band,
hiss), the clips it sent there and the F each decoder alone gets on them (the flux's tracker,
the learned one, the joint one on both activations), on clips no shipped choice saw (the
held-out training clips, the tracker modules', Hydrogen's: cached band frames, as
``bench/beats_decoders.py``) beside the development set and the four test sets (audio).
Also each set's F for the default, each decoder alone and the best of the three per clip
(what a perfect chooser would get).

    python bench/beats_gate_regions.py [--held val,M,H] [--level 0|1|2]
        [--audio beats,beats_test,beats_lmms,beats_songs,beats_drums]

F from 5 s on (+-70 ms). About 10 minutes for everything at one level.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import beats as bench_beats  # noqa: E402
import beats_decoders as decoders  # noqa: E402

from engine.listen.activation import DEFAULT_MODEL, load_model  # noqa: E402
from engine.listen.listener import Listener  # noqa: E402
from engine.listen.track import BLOCK, beats_of_audio  # noqa: E402

DECODERS = ("flux", "learned", "joint")


def first_decision(listener: Listener, feed, at_decision=None) -> tuple[np.ndarray, str]:
    """Run the auto ``listener`` by calling ``feed()`` until it returns False; the beats and
    the rule the gate went by at its first decision ("" if it never decided). If given,
    ``at_decision()`` is called once, right after that decision."""
    beats: list[float] = []
    reason = ""
    while feed():
        beats += listener.take_beats()
        if not reason and listener.gate.decided:
            reason = listener.gate.reason or "leaning"
            if at_decision is not None:
                at_decision()
    return np.array(beats), reason


def band_feed(listener: Listener, bands: np.ndarray):
    """A ``feed`` for ``first_decision``: the cached band frames in place of the listener's
    spectrum, one a call."""
    spectrum = decoders.BandFeed(listener.detector.spectrum, bands)
    listener.detector.spectrum = spectrum
    listener.reset()
    block = np.zeros(decoders.HOP, np.float32)

    def feed() -> bool:
        if spectrum.n_frames >= len(bands):
            return False
        listener.audio(block, 0.0, 0, decoders.SR)
        return True

    return feed


def held_out_rows(sets: list[str], level: int, model) -> list[dict]:
    rows = []
    for s, name, bands, ref in decoders.clips(sets, level, 1):
        listener = Listener(decoders.SR, beat_model=model, auto=True)
        beats, reason = first_decision(listener, band_feed(listener, bands))
        row = {"group": "held-out", "set": s, "clip": name, "reason": reason,
               "default": decoders.f_measure(ref, beats)}
        for mode in DECODERS:
            row[mode] = decoders.f_measure(ref, decoders.listen(bands, model, mode)[0])
        rows.append(row)
    return rows


def audio_feed(listener: Listener, x: np.ndarray, sr: int, frames: list | None = None):
    """A ``feed`` for ``first_decision``: ``x`` in the engine's blocks, as ``beats_of_audio``
    plays it; each block's band frames appended to ``frames`` if given."""
    starts = iter(range(0, len(x), BLOCK))

    def feed() -> bool:
        i = next(starts, None)
        if i is None:
            return False
        listener.audio(x[i:i + BLOCK], i / sr, i, sr)
        if frames is not None and len(listener.detector.last_bands):
            frames.append(np.array(listener.detector.last_bands))
        return True

    return feed


def default_beats(x: np.ndarray, sr: int) -> tuple[np.ndarray, str]:
    """The default (the gate choosing) on audio, as ``beats_of_audio`` runs it, and the rule
    of its first decision."""
    listener = Listener(sr, beat_model=DEFAULT_MODEL, auto=True)
    return first_decision(listener, audio_feed(listener, x, sr))


def audio_rows(name: str) -> list[dict]:
    data = ROOT / "bench" / "data" / name
    manifest = bench_beats.ensure_dataset(data)
    rows = []
    for clip in manifest["clips"]:
        x, sr = bench_beats.read_wav(data / clip["audio"])
        x = np.asarray(x, np.float32)
        ref = np.loadtxt(data / clip["beats"], ndmin=2)[:, 0]
        beats, reason = default_beats(x, sr)
        row = {"group": "development" if name == "beats" else "test sets", "set": name,
               "clip": clip["name"], "reason": reason,
               "default": bench_beats.score(ref, beats)["f"]}
        for mode in DECODERS:
            alone = beats_of_audio(x, sr, beat_model=None if mode == "flux" else DEFAULT_MODEL,
                                   band=mode == "joint")
            row[mode] = bench_beats.score(ref, alone)["f"]
        rows.append(row)
    return rows


def table(rows: list[dict], key: str, keys: list[str]) -> None:
    print(f"| {key} | clips | default | {' | '.join(DECODERS)} | best of three |")
    print("|---|---:|---:|" + "---:|" * (len(DECODERS) + 1))
    for k in keys:
        group = [r for r in rows if r[key] == k]
        if not group:
            continue
        means = [np.mean([r[m] for r in group]) for m in ("default", *DECODERS)]
        best = np.mean([max(r[m] for m in DECODERS) for r in group])
        print(f"| {k} | {len(group)} | " + " | ".join(f"{m:.3f}" for m in means)
              + f" | {best:.3f} |")


def set_arguments(doc: str) -> argparse.ArgumentParser:
    """The command line of a script run on the held-out clips (cached bands, at one input
    level) and the audio sets: ``--held``, ``--level``, ``--audio``."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--held", default="val,M,H", help="cached held-out sets ('' for none)")
    ap.add_argument("--level", type=int, default=0, choices=(0, 1, 2),
                    help="the held-out clips' cached input level (0, -15 or -30 dB)")
    ap.add_argument("--audio", default="beats,beats_test,beats_lmms,beats_songs,beats_drums",
                    help="audio sets under bench/data ('' for none)")
    return ap


def main(argv=None) -> int:
    args = set_arguments(__doc__).parse_args(argv)
    model = load_model(DEFAULT_MODEL)
    rows = held_out_rows([s for s in args.held.split(",") if s], args.level, model)
    for name in (s for s in args.audio.split(",") if s):
        rows += audio_rows(name)
    if not rows:
        sys.exit("no clips: render the caches / sets first (see bench/beats_decoders.py)")
    print("F-measure from 5 s on, per set\n")
    table(rows, "set", list(dict.fromkeys(r["set"] for r in rows)))
    reasons = list(dict.fromkeys(r["reason"] for r in rows))
    for group in dict.fromkeys(r["group"] for r in rows):
        print(f"\n{group}: by the rule of the gate's first decision\n")
        table([r for r in rows if r["group"] == group], "reason", reasons)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
