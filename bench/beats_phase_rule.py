"""Where the flux's tracker and the learned one agree on the tempo and not on the beat: would
the flux's beats be the better ones, and does the flatness of the attacks say when?

At the source gate's first decision, for every clip the gate sends to the joint tracker as
peaked music (``SourceGate.reason`` "peaked"), this records the two trackers' periods and
phases and the median spectral flatness of the window's strongest attacks (the linear band
magnitudes' rises above 200 Hz at the flux's peaks: a drum kit's hits are noise, flat; a
harpsichord's are partials, peaked), beside the F of the default and of the flux alone.
It then plays back the rule "periods within 5 %, phases a quarter beat or more apart, and
the flatness at most ``t``: the flux's beats instead of the joint tracker's" on the per-clip
table for several ``t`` (the rule switching at the decision gives the flux alone's beats from
then on). Held-out clips (cached bands, ``bench/beats_decoders.py``'s) and the audio sets.

    python bench/beats_phase_rule.py [--held val,M,H] [--level 0|1|2]
        [--audio beats,beats_test,beats_lmms,beats_songs,beats_drums]

About 3 minutes for the held-out clips at one level, 1 minute for the audio sets.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import beats as bench_beats  # noqa: E402
import beats_decoders as decoders  # noqa: E402
import beats_gate_regions as regions  # noqa: E402

from engine.listen.activation import DEFAULT_MODEL, load_model  # noqa: E402
from engine.listen.listener import Listener  # noqa: E402
from engine.listen.track import beats_of_audio  # noqa: E402

FLATNESS = (0.02, 0.03, 0.05, 0.07, 0.1, 0.15, float("inf"))


def attack_flatness(bands: np.ndarray, band_hz: np.ndarray) -> float:
    """Median spectral flatness of the rises (linear magnitudes, bands above 200 Hz) at the
    flux's peaks above its median + 2 standard deviations; NaN if none."""
    lin = 10.0 ** bands.astype(np.float64) - 1.0  # (the bands are log10(1 + magnitude))
    rise = np.maximum(np.diff(lin, axis=0), 0.0)[:, band_hz >= 200.0]
    flux = np.maximum(np.diff(bands.astype(np.float64), axis=0), 0.0).sum(axis=1)
    threshold = np.median(flux) + 2.0 * flux.std()
    flat = []
    for t in range(1, len(flux) - 1):
        if flux[t] > threshold and flux[t] >= flux[t - 1] and flux[t] >= flux[t + 1]:
            v = rise[t]
            if v.sum() > 0.0:
                v = v + 1e-4 * v.mean()
                flat.append(np.exp(np.mean(np.log(v))) / np.mean(v))
    return float(np.median(flat)) if flat else float("nan")


def phases_apart(row: dict) -> float | None:
    """How far apart (in beats, 0..0.5) the two trackers put the beat at the decision, if
    their periods are within 5 %; else None."""
    if not row.get("period_flux"):
        return None
    if abs(row["period_flux"] - row["period_learned"]) > 0.05 * row["period_flux"]:
        return None
    d = (row["phase_flux"] - row["phase_learned"]) % 1.0
    return min(d, 1.0 - d)


def at_first_decision(listener: Listener, feed, bands_so_far) -> tuple[np.ndarray, dict]:
    """The auto listener over the clip; its beats and, at the gate's first decision, the
    rule, the two trackers' periods and phases and the attacks' flatness (``bands_so_far()``:
    the band frames heard by then)."""
    info: dict = {}

    def look() -> None:
        flux, learned = listener.flux_tracker, listener.learned_tracker
        info.update(period_flux=flux.period_frames, phase_flux=flux.phase,
                    period_learned=learned.period_frames, phase_learned=learned.phase,
                    flatness=attack_flatness(bands_so_far()[-decoders.FPS * 10:],
                                             listener.detector.spectrum.band_hz))

    beats, reason = regions.first_decision(listener, feed, look)
    return beats, {"reason": reason, **info}


def held_out_rows(sets: list[str], level: int, model) -> list[dict]:
    rows = []
    for s, name, bands, ref in decoders.clips(sets, level, 1):
        listener = Listener(decoders.SR, beat_model=model, auto=True)
        feed = regions.band_feed(listener, bands)
        spectrum = listener.detector.spectrum
        beats, info = at_first_decision(listener, feed,
                                        lambda b=bands, f=spectrum: b[:f.n_frames])
        flux = decoders.listen(bands, model, "flux")[0]
        rows.append({"set": s, "clip": name, "default": decoders.f_measure(ref, beats),
                     "flux": decoders.f_measure(ref, flux), **info})
    return rows


def audio_rows(name: str) -> list[dict]:
    data = ROOT / "bench" / "data" / name
    rows = []
    for clip in bench_beats.ensure_dataset(data)["clips"]:
        x, sr = bench_beats.read_wav(data / clip["audio"])
        x = np.asarray(x, np.float32)
        ref = np.loadtxt(data / clip["beats"], ndmin=2)[:, 0]
        listener = Listener(sr, beat_model=DEFAULT_MODEL, auto=True)
        heard: list[np.ndarray] = []
        feed = regions.audio_feed(listener, x, sr, heard)
        beats, info = at_first_decision(listener, feed, lambda h=heard: np.concatenate(h))
        flux = beats_of_audio(x, sr, beat_model=None)
        rows.append({"set": name, "clip": clip["name"],
                     "default": bench_beats.score(ref, beats)["f"],
                     "flux": bench_beats.score(ref, flux)["f"], **info})
    return rows


def fires(row: dict, flatness_max: float) -> bool:
    apart = phases_apart(row)
    flat = row.get("flatness", float("nan"))
    return (row.get("reason") == "peaked" and apart is not None and apart >= 0.25
            and not flat > flatness_max)


def main(argv=None) -> int:
    args = regions.set_arguments(__doc__).parse_args(argv)
    held = [s for s in args.held.split(",") if s]
    rows = held_out_rows(held, args.level, load_model(DEFAULT_MODEL)) if held else []
    for name in (s for s in args.audio.split(",") if s):
        rows += audio_rows(name)
    if not rows:
        sys.exit("no clips: render the caches / sets first (see bench/beats_decoders.py)")
    sets = list(dict.fromkeys(r["set"] for r in rows))
    print("Change in each set's mean F (from 5 s on) if the rule gave the flux's beats, and "
          "on how many clips it fires\n")
    print("| flatness at most | " + " | ".join(sets) + " |")
    print("|---|" + "---:|" * len(sets))
    for t in FLATNESS:
        cells = []
        for s in sets:
            group = [r for r in rows if r["set"] == s]
            gain = np.mean([(r["flux"] - r["default"]) if fires(r, t) else 0.0 for r in group])
            cells.append(f"{gain:+.4f} ({sum(fires(r, t) for r in group)})")
        print(f"| {t:g} | " + " | ".join(cells) + " |")
    print("\nclips where the rule fires (any flatness):")
    for r in rows:
        if fires(r, float("inf")):
            print(f"  {r['set']} {r['clip']}: apart {phases_apart(r):.2f} beat, flatness "
                  f"{r['flatness']:.3f}, default {r['default']:.3f}, flux {r['flux']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
