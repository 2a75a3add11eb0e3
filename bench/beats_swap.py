"""Which part keeps improv's audio beat tracking below madmom's: the activation or the tracker?

Every beat activation decoded by every causal decoder, on the development set of
bench/beats_dataset.py, scored as bench/beats.py scores (mir_eval F-measure +-70 ms, first 5 s
trimmed). All at 50 frames/s, improv's frame rate:

activations
- ``madmom``: madmom 0.16.1's online beat RNN (``RNNBeatProcessor(online=True)``, 100 frames/s),
  the larger of each pair of frames;
- ``learned``: improv's learned activation (``models/improv_beat.json``) on its log bands;
- ``flux``: improv's spectral flux through the tracker's adaptive level (``OnsetLevel``), so
  that it lies in 0..1 like the others.

decoders
- ``madmom DBN``: madmom's ``DBNBeatTrackingProcessor(online=True, fps=50).process_online``;
- ``improv``: improv's ``BeatTracker`` as the engine sets it for a beat probability
  (``learned_tracker``), with the "still hearing something" threshold at 0.05 instead of 0.3
  (madmom's activation is low: at 0.3 most of its beats count as silence). The flux goes to
  the flux tracker the engine runs (``flux_tracker()`` on the raw flux) instead: the tracker
  for probabilities expects no activation at all off the beat.

    python bench/beats_swap.py      # needs madmom, like bench/beats.py (see its docstring)
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import beats as bb  # noqa: E402

FPS = 50


def activations(x: np.ndarray, sr: int, rnn) -> tuple[dict[str, np.ndarray], np.ndarray, float]:
    """The three activations of one clip (frame k at time (k + 1) / FPS - latency for improv's,
    k / FPS for madmom's: both returned on improv's clock), and the raw flux."""
    from engine.listen.activation import BeatActivation
    from engine.listen.beat import OnsetLevel
    from engine.listen.onset import OnsetDetector

    det = OnsetDetector(sr, fps=FPS)
    net = BeatActivation()
    flux, learned = [], []
    for i in range(0, len(x), 4096):
        f = det.process(x[i:i + 4096])
        flux.append(f.copy())
        learned.append(net.process(det.last_bands)[:, 0].copy())
    flux = np.concatenate(flux)
    level = OnsetLevel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mm = np.asarray(rnn(x), dtype=float)
    n = len(mm) // 2
    # madmom frame j is time j / 100; improv frame k is (k + 1) / 50 - latency: shift by the
    # difference so that one decoder's frame means one time for every activation
    shift = int(round((det.latency_sec - 1.0 / FPS) * FPS))
    mm50 = mm[:2 * n].reshape(n, 2).max(axis=1)
    mm50 = np.concatenate([np.zeros(max(0, shift)), mm50])
    acts = {"madmom": mm50, "learned": np.concatenate(learned),
            "flux": np.array([level.process(v) for v in flux])}
    return acts, flux, det.latency_sec


def decode_improv(act: np.ndarray, lat: float, tracker) -> np.ndarray:
    beats = []
    for k in range(len(act)):
        for f in tracker.process(act[k:k + 1]):
            beats.append((f + 1) / FPS - lat + tracker.lag_sec)
    return np.array(beats)


def main() -> int:
    reason = bb.madmom_missing()
    if reason:
        sys.exit(f"madmom: {reason}")
    from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor

    from engine.listen.beat import flux_tracker, learned_tracker

    rnn = RNNBeatProcessor(online=True, origin="online", fps=100)
    clips = bb.ensure_dataset(bb.DATA)["clips"]
    rows: dict[tuple[str, str], list[tuple[float, bool]]] = {}
    for clip in clips:
        x, sr = bb.read_wav(bb.DATA / clip["audio"])
        ref = np.loadtxt(bb.DATA / clip["beats"], ndmin=2)[:, 0]
        changing = clip["tempo_curve"] in bb.CHANGING
        acts, flux, lat = activations(x, sr, rnn)
        for name, act in acts.items():
            dbn = DBNBeatTrackingProcessor(online=True, fps=FPS)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est = np.asarray(dbn.process_online(act.astype(float), reset=True)) \
                    + 1.0 / FPS - lat
            rows.setdefault((name, "madmom DBN"), []).append((bb.score(ref, est)["f"], changing))
            if name != "flux":  # the flux is a strength, not a probability: its own tracker
                # (the learned tracker's lag_frames was measured on improv's own activation;
                # madmom's is decoded where the pointer crosses the beat, as before it)
                lag = {"lag_frames": 0.0} if name == "madmom" else {}
                est = decode_improv(act, lat, learned_tracker(FPS, onset_threshold=0.05, **lag))
                rows.setdefault((name, "improv"), []).append((bb.score(ref, est)["f"], changing))
        est = decode_improv(flux, lat, flux_tracker(FPS))
        rows.setdefault(("flux", "improv flux tracker"), []).append(
            (bb.score(ref, est)["f"], changing))
        print(f"{clip['name']}: done", file=sys.stderr, flush=True)
    print(f"\n{len(clips)} clips; F-measure (+-70 ms), all / tempo-changing\n")
    print("| activation | decoder | F | F tempo-changing |")
    print("|---|---|---:|---:|")
    for (act, dec), v in rows.items():
        f_all = np.mean([f for f, _ in v])
        f_ch = np.mean([f for f, c in v if c])
        print(f"| {act} | {dec} | {f_all:.3f} | {f_ch:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
