"""Plot one development-set clip: improv's onset strength, the true beats, the tracked beats.

For one clip of bench/beats_dataset.py's development set this draws improv's onset strength
over time (``engine.listen.onset.OnsetDetector`` fed the live block size, each frame at its
``frame_time_sec``), the true beats (the clip's ``.beats``, first column) as vertical lines,
the beats improv's causal tracker committed (``engine.listen.track.beats_of_audio``) and, if
madmom imports, madmom's online beats (bench/beats.py's ``Madmom`` tracker), each with its
F-measure (+-70 ms, first 5 s trimmed, as bench/beats.py scores). Score clips also get their
reference onsets (the ``.mid`` note-ons, as bench/onsets.py merges them) as ticks along the
bottom. Writes a 1200x600 PNG (matplotlib, Agg; 64 colours, ~100 KB):

    python bench/beats_plot.py [--clip bwv10.7_strings_rubato] [--out bench/beats_plot.png]
                               [--no-madmom]
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import beats as bb  # noqa: E402 - first: it holds BLAS/OpenMP/numba to one thread
import numpy as np  # noqa: E402

DEFAULT_CLIP = "bwv10.7_strings_rubato"  # rubato strings: where improv's tracker loses the beat
DEFAULT_OUT = bb.ROOT / "bench" / "beats_plot.png"


def onset_strength(x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """improv's onset strength frames as the live listener computes them -> (t_sec, value)."""
    from engine.listen.onset import OnsetDetector
    from engine.listen.track import BLOCK, FPS

    od = OnsetDetector(sr, fps=FPS)
    values: list[float] = []
    for i in range(0, len(x), BLOCK):
        values.extend(od.process(x[i:i + BLOCK]).tolist())
    times = np.array([od.frame_time_sec(k) for k in range(len(values))])
    return times, np.asarray(values)


def find_clip(manifest: dict, name: str) -> dict:
    clips = manifest["clips"]
    exact = [c for c in clips if c["name"] == name]
    found = exact or [c for c in clips if name in c["name"]]
    if len(found) != 1:
        names = ", ".join(c["name"] for c in (found or clips))
        raise SystemExit(f"--clip {name!r} matches {len(found)} clips; one of: {names}")
    return found[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=bb.DATA)
    ap.add_argument("--clip", default=DEFAULT_CLIP, help="clip name (or a unique part of one)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--no-madmom", action="store_true", help="leave madmom's beats out")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image  # matplotlib's own dependency

    from engine.listen.track import beats_of_audio

    clip = find_clip(bb.ensure_dataset(args.data), args.clip)
    x, sr = bb.read_wav(args.data / clip["audio"])
    true_beats = np.loadtxt(args.data / clip["beats"], ndmin=2)[:, 0]
    t, strength = onset_strength(x, sr)
    tracked = [("improv (causal)", np.asarray(beats_of_audio(x, sr), dtype=float), "tab:red")]
    if not args.no_madmom:
        mm = bb.Madmom()
        why = mm.available()
        if why:
            print(f"madmom left out: {why}")
        else:
            tracked.append(("madmom online (causal)", mm.beats(x, sr), "tab:green"))

    fig, ax = plt.subplots(figsize=(12, 6), dpi=100)
    # y range from the 99.5th percentile: one loud first attack would flatten the rest
    peak = float(np.percentile(strength, 99.5)) if len(strength) else 1.0
    top = 1.4 * max(peak, 1e-6)
    clipped = int(np.sum(strength > top))
    ax.vlines(true_beats, 0, 1, transform=ax.get_xaxis_transform(), colors="0.6",
              linestyles="--", linewidth=0.9, label=f"true beats ({len(true_beats)})")
    note = f" ({clipped} frames above the top, clipped)" if clipped else ""
    ax.plot(t, strength, color="tab:blue", linewidth=0.8, label=f"improv onset strength{note}")
    band = 1.0
    for label, est, color in tracked:
        f = bb.score(true_beats, est)["f"]
        ax.vlines(est, band - 0.1, band, transform=ax.get_xaxis_transform(), colors=color,
                  linewidth=2.0, label=f"{label}: {len(est)} beats, F {f:.2f}")
        band -= 0.11
    if clip.get("midi"):
        from onsets import reference_onsets

        ons = reference_onsets(args.data / clip["midi"])
        ax.vlines(ons, -0.07 * top, -0.01 * top, colors="k", linewidth=1.0,
                  label=f"true onsets, .mid note-ons ({len(ons)})")
    ax.axhline(0, color="0.3", linewidth=0.5)
    ax.set_xlim(0, len(x) / sr)
    ax.set_ylim(-0.08 * top, top)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("onset strength (log-band spectral flux)")
    bpm = f"{clip.get('bpm_min', '?')}-{clip.get('bpm_max', '?')} BPM"
    ax.set_title(f"{clip['name']} ({clip['kind']}, {clip['tempo_curve']}, {bpm})")
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, 0.76), fontsize=8, framealpha=0.9)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, dpi=100)
    plt.close(fig)
    # a 64-colour palette keeps the file small (~100 KB instead of ~200 KB) at no visible cost
    Image.open(buf).convert("RGB").quantize(colors=64).save(args.out, optimize=True)
    print(f"{args.out}: {args.out.stat().st_size / 1024:.0f} KB "
          f"({clip['name']}; " + ", ".join(f"{lab} {len(e)} beats" for lab, e, _ in tracked) + ")")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
