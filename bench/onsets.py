"""Onset detection: improv's causal onsets beside the peers that install here.

On the score clips of the beat-tracking development set (bench/beats_dataset.py; the drum
loops have no onset annotations and are left out), each detector gets each clip's audio
(44.1 kHz mono float32) whole and returns onset times; mir_eval.onset.f_measure scores them
(+-50 ms) against the note-ons of the clip's committed ``.mid``. The audio is FluidSynth's
rendering of that same file (the 0.5 s lead-in is in the file's ticks), so its note-on times
are the true onset times; note-ons closer than 30 ms to the first of their group are merged
into it (a chord is one onset). Reported: F, precision, recall (means over clips) overall and
per tempo curve (steady, rubato, accel, rit, fermata), the median time error of the matched
onsets (estimate - reference: a detector's systematic offset), and CPU seconds per minute of
audio (time.process_time() around the detector call only, after warm-up; BLAS / OpenMP / numba
held to one thread, as bench/beats.py does). Prints Markdown tables and writes every
(detector, clip) row to bench/data/beats/onsets.csv.

Detectors (each returns the time it places the onset at, not the time it decided):
- improv (causal): ``engine.listen.track.onsets_of_audio(samples, samplerate)`` -- the live
  onset detector (log-band spectral flux, 50 frames/s) with causal peak picking.
- aubio (causal): ``aubio.onset("default", 1024, 512, sr)`` fed hop by hop (512 samples); an
  onset is ``get_last_s()`` when it fires (aubio subtracts its own 4.3-hop delay).
- madmom (causal): the online detector of madmom's ``OnsetDetectorLL`` program --
  ``RNNOnsetProcessor(online=True)`` (unidirectional RNNs; frames located in the past, as in
  bench/beats.py) then ``OnsetPeakPickingProcessor(online=True, threshold=0.23,
  pre_max=0.01)`` (no future information). Fed whole, this gives what feeding it frame by
  frame gives.
- librosa (OFFLINE: sees the whole file; a reference, not a peer for real time):
  ``librosa.onset.onset_detect(units="time")`` with its defaults.

A detector that is not installed is reported and skipped. Install the peers as
bench/beats.py's docstring says, then:

    python bench/onsets.py [--trackers improv,aubio,madmom,librosa] [--clips SUBSTR]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import beats as bb  # noqa: E402 - first: it holds BLAS/OpenMP/numba to one thread
import numpy as np  # noqa: E402

WINDOW_SEC = 0.05  # mir_eval's (and MIREX's) onset tolerance
MERGE_SEC = 0.03  # reference note-ons this close to the first of a group are one onset
GROUPS = ("steady", "rubato", "accel", "rit", "fermata")


def reference_onsets(midi_path: Path, merge_sec: float = MERGE_SEC) -> np.ndarray:
    """The note-on times (s) of a .mid, through its tempo map; each note-on within
    ``merge_sec`` of an earlier kept one is merged into it (chords, spread attacks)."""
    import mido

    now, ons = 0.0, []
    for msg in mido.MidiFile(midi_path):  # delta times in seconds, tracks merged
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            ons.append(now)
    kept: list[float] = []
    for t in np.sort(ons):
        if not kept or t - kept[-1] >= merge_sec:
            kept.append(float(t))
    return np.asarray(kept)


# ---------------------------------------------------------------------------------------------
# Detectors: .available() -> reason it is not (or None); .prepare(); .onsets(x, sr) -> t_sec


class Detector:
    name = "?"
    label = "?"

    def available(self) -> str | None:
        return None

    def prepare(self) -> None:  # JIT / first-call costs: not part of the CPU figure
        rng = np.random.default_rng(0)
        self.onsets(rng.standard_normal(3 * 44100).astype(np.float32) * 0.1, 44100)

    def onsets(self, x: np.ndarray, sr: int) -> np.ndarray:
        raise NotImplementedError


class Improv(Detector):
    name, label = "improv", "improv (causal, spectral flux)"

    def available(self):
        try:
            from engine.listen.track import onsets_of_audio
        except Exception as exc:  # noqa: BLE001 - any import failure means "not there yet"
            return f"engine.listen.track.onsets_of_audio does not import ({exc})"
        self._fn = onsets_of_audio
        return None

    def onsets(self, x, sr):
        return np.asarray(self._fn(x, sr), dtype=float)


class Aubio(Detector):
    name, label = "aubio", "aubio onset default (causal)"
    WIN, HOP = bb.Aubio.WIN, bb.Aubio.HOP

    available = bb.Aubio.available

    def onsets(self, x, sr):
        return bb.fire_times(self._aubio.onset("default", self.WIN, self.HOP, sr), x, self.HOP)


class Madmom(Detector):
    name, label = "madmom", "madmom online RNN (causal, OnsetDetectorLL)"
    FPS = 100

    def available(self):
        reason = bb.madmom_missing()
        if reason:
            return reason
        from madmom.features.onsets import OnsetPeakPickingProcessor, RNNOnsetProcessor

        self._rnn = RNNOnsetProcessor(online=True, origin="online", fps=self.FPS)
        # OnsetDetectorLL's settings: threshold 0.23, a maximum over the last frame only
        self._pick = OnsetPeakPickingProcessor(threshold=0.23, pre_max=1.0 / self.FPS,
                                               post_max=0, online=True, fps=self.FPS)
        return None

    def onsets(self, x, sr):
        return bb.madmom_online(self._rnn, self._pick, x, sr)


class Librosa(Detector):
    name, label = "librosa", "librosa onset_detect (OFFLINE)"

    available = bb.Librosa.available

    def onsets(self, x, sr):
        return np.asarray(self._librosa.onset.onset_detect(y=x, sr=sr, units="time"),
                          dtype=float)


DETECTORS = {d.name: d for d in (Improv, Aubio, Madmom, Librosa)}


# ---------------------------------------------------------------------------------------------


def score(ref: np.ndarray, est: np.ndarray, window: float) -> dict[str, float]:
    import mir_eval

    est = np.unique(np.asarray(est, dtype=float))
    est = est[np.isfinite(est) & (est >= 0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mir_eval warns on empty estimates; they score 0
        f, p, r = mir_eval.onset.f_measure(ref, est, window=window)
    pairs = mir_eval.util.match_events(ref, est, window)
    err = [est[j] - ref[i] for i, j in pairs]
    return {"f": f, "precision": p, "recall": r, "n_est": len(est),
            "offset_ms": float(np.median(err) * 1000) if err else float("nan")}


def run(det: Detector, clips: list[dict], data: Path, window: float, merge: float) -> list[dict]:
    rows = []
    for clip in clips:
        ref = reference_onsets(data / clip["midi"], merge)
        x, sr = bb.read_wav(data / clip["audio"])
        row = {"tracker": det.name, "clip": clip["name"], "kind": clip["kind"],
               "tempo_curve": clip["tempo_curve"], "audio_sec": round(len(x) / sr, 3),
               "n_ref": len(ref)}
        est = bb.timed_call(det.onsets, (x, sr), row)
        row.update(score(ref, est, window))
        rows.append(row)
    return rows


def print_tables(results: dict[str, list[dict]], labels: dict[str, str]) -> None:
    print("\n### Onsets, score clips\n")
    print("| detector | F | precision | recall | median est - ref (ms) | CPU s / audio min | "
          "clips | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, rows in results.items():
        f, n = bb.mean(rows, "f")
        p, _ = bb.mean(rows, "precision")
        r, _ = bb.mean(rows, "recall")
        offsets = [x["offset_ms"] for x in rows if np.isfinite(x["offset_ms"])]
        off = float(np.median(offsets)) if offsets else float("nan")
        cpu = sum(x["cpu_sec"] for x in rows) / max(1e-9, sum(x["audio_sec"] for x in rows)) * 60
        errors = sum(1 for x in rows if x["error"])
        print(f"| {labels[name]} | {f:.3f} | {p:.3f} | {r:.3f} | {off:+.1f} | {cpu:.2f} | {n} | "
              f"{errors} |")
    present = [g for g in GROUPS if any(x["tempo_curve"] == g for rs in results.values()
                                        for x in rs)]
    print("\nBy tempo curve: F / precision / recall (clips):\n")
    print("| detector | " + " | ".join(present) + " |")
    print("|---|" + "---:|" * len(present))
    for name, rows in results.items():
        cells = []
        for g in present:
            def pick(x, g=g):
                return x["tempo_curve"] == g

            f, n = bb.mean(rows, "f", pick)
            p, _ = bb.mean(rows, "precision", pick)
            r, _ = bb.mean(rows, "recall", pick)
            cells.append(f"{f:.3f} / {p:.3f} / {r:.3f} ({n})")
        print(f"| {labels[name]} | " + " | ".join(cells) + " |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=bb.DATA)
    ap.add_argument("--trackers", default=",".join(DETECTORS),
                    help=f"comma-separated, of: {', '.join(DETECTORS)}")
    ap.add_argument("--clips", default="", help="only clips whose name contains this")
    ap.add_argument("--window", type=float, default=WINDOW_SEC, help="tolerance (s)")
    ap.add_argument("--merge", type=float, default=MERGE_SEC,
                    help="merge reference note-ons this close (s)")
    ap.add_argument("--csv", type=Path, default=None, help="default: DATA/onsets.csv")
    args = ap.parse_args(argv)
    manifest = bb.ensure_dataset(args.data)
    clips = [c for c in manifest["clips"] if args.clips in c["name"]]
    scored = [c for c in clips if c["kind"] == "score" and c.get("midi")]
    counts = {g: sum(1 for c in scored if c["tempo_curve"] == g) for g in GROUPS}
    print(f"{len(scored)} score clips (" + ", ".join(f"{g} {n}" for g, n in counts.items() if n)
          + f"); {len(clips) - len(scored)} clips without onset annotations (drum loops) left out")
    print(f"scores: mir_eval.onset.f_measure +-{args.window * 1000:.0f} ms; reference = the .mid "
          f"note-ons, merged within {args.merge * 1000:.0f} ms; CPU = process time of the "
          "detector call, one thread\n")

    ran = bb.run_each(args.trackers, DETECTORS,
                      lambda d: run(d, scored, args.data, args.window, args.merge))
    if ran is None:
        return 2
    results, labels = ran
    if not results:
        print("\nno detector available")
        return 1
    print_tables(results, labels)

    bb.write_rows(args.csv or args.data / "onsets.csv", results,
                  ["tracker", "clip", "kind", "tempo_curve", "f", "precision", "recall",
                   "offset_ms", "cpu_sec", "audio_sec", "n_ref", "n_est", "error"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
