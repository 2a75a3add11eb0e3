"""Beat tracking: improv's causal tracker beside the peers that install here.

On the development set of bench/beats_dataset.py (real scores rendered under steady, rubato,
accelerando, ritardando and fermata tempo curves, and recorded drum loops), each tracker gets
each clip's audio (44.1 kHz mono float32) whole and returns beat times; mir_eval scores them
against the annotations, the first 5 s of both trimmed (mir_eval's convention): F-measure
(+-70 ms), CMLt and AMLt. CPU is time.process_time() around the tracker call only (model
loading and JIT warm-up are done before), reported as CPU seconds per minute of audio; BLAS /
OpenMP / numba are held to one thread. Prints Markdown tables and writes every (tracker, clip)
row to bench/data/beats/results.csv.

Trackers:
- improv (causal): ``engine.listen.track.beats_of_audio(samples, samplerate, auto=True, ...)``
  -- the live listener block by block, as the engine runs it by default: the spectral flux
  and the learned activation (``models/improv_beat.json``, trained by ``models/beat_train.py``
  on pieces that are not in this set) side by side until ``engine/listen/gate_source.py`` has
  heard 10 s, then the one that suits the music, into the bar-pointer tracker.
  ``improv-flux`` and ``improv-learned``: one activation only. Bar positions and meter are
  scored too. On the MIDI path ``beats_of_midi(path)`` fed the clips' ``.mid`` files (notes at
  their performed times, one fixed tempo: nothing in them gives the beat away), and
  ``improv-melody`` their highest notes at one velocity.
- aubio (causal): ``aubio.tempo("default", 1024, 512, sr)`` fed hop by hop (512 samples); a beat
  is ``get_last_s()`` when ``tempo()`` fires.
- madmom (causal): the online beat tracker of madmom 0.16.1 -- ``RNNBeatProcessor(online=True)``
  (the 8 unidirectional LSTMs, frames located in the past) then ``DBNBeatTrackingProcessor(
  online=True).process_online`` (the forward algorithm: each beat is decided from the past
  only). Fed whole, this gives what feeding it frame by frame gives.
- librosa (OFFLINE: sees the whole file; a reference, not a peer for real time):
  ``librosa.beat.beat_track``.
- BTrack (causal), if its Python module ``btrack`` (``trackBeats``) imports.

Install the peers into the environment that runs this (none is a dependency of improv):

    pip install aubio librosa soundfile
    pip install cython && pip install --no-build-isolation madmom   # 0.16.1, see below
    python bench/beats.py [--trackers improv,aubio,madmom,librosa,btrack] [--clips SUBSTR]
        [--data bench/data/SET] [--gain-db 0,-6,-12] [--samplerate 48000] [--repeat 3]

``--samplerate 48000`` resamples every clip to that rate first (``scipy.signal.resample_poly``,
outside the timed call) for improv's audio trackers: the live engine runs at JACK's rate,
usually 48 kHz, and improv's frame there is another size than at 44.1 kHz
(``engine.listen.onset.fft_size``). The peers keep the clips' 44.1 kHz (madmom's networks
expect it and would resample with ffmpeg).

``--gain-db`` plays every clip that many dB quieter (the clips peak at 0.89) to the audio
trackers, at each level given, and ends with each tracker's F at every level and the mean:
F moves by +-0.01-0.05 between nearby levels (a few clips flip to twice the tempo or the
off-beat), so a change judged at one level alone can be that level's lottery.

madmom 0.16.1 (PyPI's latest) predates Python 3.10+ and numpy 1.24+: it imports
``pkg_resources``, ``collections.MutableSequence`` and ``np.float`` / ``np.int``. Before
importing it, this script puts back those names (``_madmom_compat``: aliases only, in this
process only); nothing in madmom's algorithms is changed. BTrack has no wheel on PyPI and the
``btrack-beat-tracker`` sdists (1.0.6, 1.0.7) do not build (their CMakeLists adds ../../src,
which the sdist lacks); PyPI's ``btrack`` is an unrelated cell tracker.

Figures quoted in the issue for today's best causal trackers (other data): madmom online
~0.71 F (3.7 s CPU/min), BTrack 0.63 (0.3 s/min), aubio 0.50 (0.17 s/min).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
import wave  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT / "bench" / "data" / "beats"
F_WINDOW_SEC = 0.07
TRIM_SEC = 5.0
CHANGING = ("rubato", "accel", "rit", "fermata")
GROUPS = (("loop", "loops"), ("song", "songs"), ("steady", "score steady"), ("rubato", "rubato"),
          ("accel", "accel"), ("rit", "rit"), ("fermata", "fermata"))


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """16-bit PCM WAV -> (float32 mono in [-1, 1), samplerate)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: {8 * w.getsampwidth()}-bit samples, expected 16")
        sr, ch = w.getframerate(), w.getnchannels()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32)
    x = x.reshape(-1, ch).mean(axis=1) if ch > 1 else x
    return np.ascontiguousarray(x / np.float32(32768.0)), sr


# ---------------------------------------------------------------------------------------------
# Trackers: .available() -> reason it is not (or None); .prepare(); .beats(...) -> t_sec array


class Tracker:
    name = "?"
    label = "?"
    causal = True
    path = "audio"  # or "midi": beats() gets the .mid path instead of samples

    def available(self) -> str | None:
        return None

    def prepare(self) -> None:
        pass

    def beats(self, x, sr: int) -> np.ndarray:
        raise NotImplementedError


class Improv(Tracker):
    name, label = "improv", "improv (causal, the default: flux, learned or both as the music asks)"
    model, auto = "default", True

    def available(self):
        try:
            from engine.listen.activation import (
                DEFAULT_MODEL,
                LOW_RATE_MODEL,
                ModelFileError,
                load_model,
            )
            from engine.listen.track import beats_of_audio
        except Exception as exc:  # noqa: BLE001 - any import failure means "not there yet"
            return f"engine.listen.track.beats_of_audio does not import ({exc})"
        self._fn = beats_of_audio
        self._model = None
        if self.model == "default":
            try:  # read once, here (load_model keeps them): not timed (as for madmom)
                for path in (DEFAULT_MODEL, LOW_RATE_MODEL):
                    load_model(path)
            except ModelFileError as exc:
                return str(exc)
            self._model = DEFAULT_MODEL  # (below 32 kHz with the low-rate one: presence.py)
        return None

    def prepare(self):  # numba kernels load from their cache on first use: not timed
        rng = np.random.default_rng(0)
        self.beats(rng.standard_normal(5 * 44100).astype(np.float32) * 0.1, 44100)

    def beats(self, x, sr):
        beats, self.positions = self._fn(x, sr, beat_model=self._model, with_positions=True,
                                         auto=self.auto)
        return np.asarray(beats, dtype=float)


class ImprovFlux(Improv):
    name, label = "improv-flux", "improv (causal, spectral flux only)"
    model, auto = None, False


class ImprovLearned(Improv):
    name, label = "improv-learned", "improv (causal, learned activation only: experimental)"
    model, auto = "default", False


class ImprovMidi(Tracker):
    name, label, path = "improv-midi", "improv MIDI path (causal)", "midi"

    def available(self):
        try:
            from engine.listen.track import beats_of_midi
        except Exception as exc:  # noqa: BLE001
            return f"engine.listen.track.beats_of_midi does not import ({exc})"
        self._fn = beats_of_midi
        return None

    def prepare(self):  # (numba kernels load on first use: not timed)
        self._fn(str(ROOT / "examples" / "ode_to_joy.mid"))

    def beats(self, midi_path, sr):
        from engine.events import is_note_on
        from engine.io.files import read_midi

        events, _ = read_midi(str(midi_path))
        self.fed_onsets = np.array(sorted(e.t_sec for e in events if is_note_on(e.data)))
        beats, self.positions = self._fn(str(midi_path), with_positions=True)
        return np.asarray(beats, dtype=float)


class ImprovMelody(ImprovMidi):
    """The MIDI path on the melody alone at one velocity: at each moment only the highest
    note starting (within 30 ms), velocity 80 -- a player's right hand with no dynamics, the
    input that the issue says pulls trackers a 16th early after a rest."""

    name, label = "improv-melody", "improv MIDI path, melody only, equal velocities (causal)"

    def beats(self, midi_path, sr):
        import tempfile

        from engine.events import MidiMessage, is_note_on
        from engine.io.files import read_midi, save_midi

        events, _ = read_midi(str(midi_path))
        ons = sorted((e for e in events if is_note_on(e.data)), key=lambda e: e.t_sec)
        melody = []
        i = 0
        while i < len(ons):
            j = i
            while j < len(ons) and ons[j].t_sec - ons[i].t_sec < 0.03:
                j += 1
            top = max(ons[i:j], key=lambda e: e.data[1])
            melody += [MidiMessage(top.t_sec, (0x90, top.data[1], 80)),
                       MidiMessage(top.t_sec + 0.1, (0x80, top.data[1], 0))]
            i = j
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "melody.mid"
            save_midi(melody, path)
            return super().beats(path, sr)


class Aubio(Tracker):
    name, label = "aubio", "aubio tempo (causal)"
    WIN, HOP = 1024, 512

    def available(self):
        try:
            import aubio
        except ImportError as exc:
            return f"not installed here: {exc} (pip install aubio)"
        self._aubio = aubio
        return None

    def beats(self, x, sr):
        return fire_times(self._aubio.tempo("default", self.WIN, self.HOP, sr), x, self.HOP)


def fire_times(detector, x, hop: int) -> np.ndarray:
    """Feed an aubio detector (tempo, onset) hop by hop; the times it places its events at."""
    n = len(x) // hop * hop
    out = [detector.get_last_s() for block in x[:n].reshape(-1, hop) if detector(block)[0]]
    return np.asarray(out, dtype=float)


def _madmom_compat() -> None:
    """Put back the names madmom 0.16.1 imports that Python 3.10+ / numpy 1.24+ /
    setuptools 81+ removed (aliases only; madmom's code is not changed)."""
    import collections
    import collections.abc
    import types

    for alias, typ in (("float", float), ("int", int), ("bool", bool), ("complex", complex),
                       ("object", object), ("str", str)):
        if alias not in np.__dict__:
            setattr(np, alias, typ)
    for alias in ("MutableSequence", "Iterable", "Mapping", "MutableMapping", "Sequence",
                  "Callable"):
        if not hasattr(collections, alias):
            setattr(collections, alias, getattr(collections.abc, alias))
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        from importlib.metadata import version

        mod = types.ModuleType("pkg_resources")
        mod.get_distribution = lambda name: types.SimpleNamespace(version=version(name))
        sys.modules["pkg_resources"] = mod


def madmom_missing() -> str | None:
    """Why madmom cannot be used here, or None (it imports, with ``_madmom_compat``)."""
    import importlib.util

    if importlib.util.find_spec("madmom") is None:
        return "not installed here (pip install cython && pip install --no-build-isolation madmom)"
    try:
        _madmom_compat()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import madmom.features  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - a broken install is a reason, not a crash
        return f"installed but does not import: {exc!r}"
    return None


class Madmom(Tracker):
    name, label = "madmom", "madmom online RNN+DBN (causal)"
    FPS = 100

    def available(self):
        reason = madmom_missing()
        if reason:
            return reason
        from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor

        self._rnn = RNNBeatProcessor(online=True, origin="online", fps=self.FPS)
        self._dbn = DBNBeatTrackingProcessor(online=True, fps=self.FPS)
        return None

    def beats(self, x, sr):
        return madmom_online(self._rnn, self._dbn, x, sr)


def timed_call(fn, args: tuple, row: dict, repeat: int = 1) -> np.ndarray:
    """``fn(*args)`` -> times; its process time into ``row["cpu_sec"]`` (with ``repeat`` > 1,
    the least of that many calls: this shared host has slow spells of seconds, which a
    single timing takes in whole; the first call's times are scored), a failure into
    ``row["error"]`` (and no times: the clip scores 0), never raised."""
    t0 = time.process_time()
    try:
        out = np.asarray(fn(*args), dtype=float)
        row["error"] = ""
    except Exception as exc:  # noqa: BLE001 - one clip's failure is reported, scored 0
        out = np.zeros(0)
        row["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
        repeat = 1
    row["cpu_sec"] = time.process_time() - t0
    for _ in range(repeat - 1):
        t0 = time.process_time()
        fn(*args)
        row["cpu_sec"] = min(row["cpu_sec"], time.process_time() - t0)
    return out


def madmom_online(rnn, decoder, x, sr) -> np.ndarray:
    """A madmom online network, then its online decoder (``process_online``), on a signal."""
    from madmom.audio.signal import Signal

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        act = rnn(Signal(x, sample_rate=sr, num_channels=1))
        return np.asarray(decoder.process_online(act, reset=True), dtype=float)


class Librosa(Tracker):
    name, label, causal = "librosa", "librosa beat_track (OFFLINE)", False

    def available(self):
        try:
            import librosa
        except ImportError as exc:
            return f"not installed here: {exc} (pip install librosa)"
        self._librosa = librosa
        return None

    def prepare(self):  # numba compiles on the first call: not part of the CPU figure
        rng = np.random.default_rng(0)
        self.beats(rng.standard_normal(5 * 44100).astype(np.float32) * 0.1, 44100)

    def beats(self, x, sr):
        _, t = self._librosa.beat.beat_track(y=x, sr=sr, units="time")
        return np.asarray(t, dtype=float)


class BTrack(Tracker):
    name, label = "btrack", "BTrack (causal)"

    def available(self):
        try:
            import btrack
        except ImportError:
            return ("not installed here: no wheel on PyPI; btrack-beat-tracker 1.0.6/1.0.7 "
                    "sdists fail to build (CMakeLists adds ../../src, missing from the sdist)")
        if not hasattr(btrack, "trackBeats"):
            return "the 'btrack' module here is not BTrack (no trackBeats): PyPI's cell tracker?"
        self._btrack = btrack
        return None

    def beats(self, x, sr):
        if sr != 44100:
            raise ValueError(f"BTrack's module assumes 44100 Hz, got {sr}")
        return np.asarray(self._btrack.trackBeats(x.astype(np.float64)), dtype=float)


TRACKERS = {t.name: t for t in (Improv, ImprovFlux, ImprovLearned, ImprovMidi, ImprovMelody,
                                 Aubio, Madmom, BTrack, Librosa)}


# ---------------------------------------------------------------------------------------------


def score(ref: np.ndarray, est: np.ndarray) -> dict[str, float]:
    import mir_eval

    est = np.unique(np.asarray(est, dtype=float))
    est = est[np.isfinite(est) & (est >= 0)]
    ref_t = mir_eval.beat.trim_beats(ref, min_beat_time=TRIM_SEC)
    est_t = mir_eval.beat.trim_beats(est, min_beat_time=TRIM_SEC)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mir_eval warns on empty estimates; they score 0
        f = mir_eval.beat.f_measure(ref_t, est_t, f_measure_threshold=F_WINDOW_SEC)
        cmlc, cmlt, amlc, amlt = mir_eval.beat.continuity(ref_t, est_t)
    # the signed error of the beats within the F window: a tracker's systematic offset
    errors = [e - ref_t[np.argmin(np.abs(ref_t - e))] for e in est_t] if len(ref_t) else []
    errors = [x for x in errors if abs(x) <= F_WINDOW_SEC]
    offset_ms = float(np.median(errors)) * 1000.0 if errors else float("nan")
    return {"f": f, "cmlc": cmlc, "cmlt": cmlt, "amlc": amlc, "amlt": amlt,
            "offset_ms": offset_ms}


def ensure_dataset(data: Path) -> dict:
    manifest_path = data / "clips.json"
    missing = not manifest_path.exists()
    if not missing:
        manifest = json.loads(manifest_path.read_text())
        missing = any(not (data / c["audio"]).exists() for c in manifest["clips"])
    if missing:
        print(f"building the dataset in {data} (bench/beats_dataset.py) ...", flush=True)
        cmd = [sys.executable, str(ROOT / "bench" / "beats_dataset.py"), "--out", str(data)]
        if data.name == "beats_test":  # the test set of other recorded loops
            cmd.append("--test-set")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads(manifest_path.read_text())


def resample(x: np.ndarray, sr: int, to_sr: int) -> np.ndarray:
    """``x`` at ``sr`` -> at ``to_sr`` (polyphase, scipy's default Kaiser low-pass)."""
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(sr, to_sr)
    return resample_poly(x, to_sr // g, sr // g).astype(np.float32)


def run(tracker: Tracker, clips: list[dict], data: Path, gain_db: float = 0.0,
        samplerate: int = 0, repeat: int = 1) -> list[dict]:
    rows = []
    gain = np.float32(10.0 ** (gain_db / 20.0))
    for clip in clips:
        if tracker.path == "midi" and not clip.get("midi"):
            continue
        ref = np.loadtxt(data / clip["beats"], ndmin=2)[:, 0]
        x, sr = read_wav(data / clip["audio"])
        if samplerate and samplerate != sr and tracker.path == "audio" \
                and tracker.name.startswith("improv"):
            x, sr = resample(x, sr, samplerate), samplerate
        if gain_db:
            x = x * gain  # a quieter input (the clips peak at 0.89: no louder without clipping)
        seconds = len(x) / sr
        arg = data / clip["midi"] if tracker.path == "midi" else x
        row = {"tracker": tracker.name, "path": tracker.path, "clip": clip["name"],
               "kind": clip["kind"], "tempo_curve": clip["tempo_curve"],
               "meter": clip.get("meter"), "audio_sec": round(seconds, 3), "n_ref": len(ref)}
        est = timed_call(tracker.beats, (arg, sr), row, repeat)
        row["n_est"] = len(est)
        row.update(score(ref, est))
        positions = getattr(tracker, "positions", None)
        if tracker.name.startswith("improv") and positions is not None \
                and len(positions) == len(est):
            row.update(score_bars(data / clip["beats"], est, positions, clip.get("meter")))
        if tracker.path == "midi" and not row["error"]:
            row.update(after_rests(tracker.fed_onsets, ref, est))
        rows.append(row)
    return rows


def after_rests(ons: np.ndarray, ref: np.ndarray, est: np.ndarray) -> dict[str, int]:
    """Beats the tracker placed (after the trimmed start) where a beat or more passed with no
    new note among ``ons`` (the notes it was fed): how many, and how many of them landed a
    16th early (0.15-0.35 beat before the true beat) -- the pull the issue describes on
    melodies with equal velocities."""
    ibi = float(np.median(np.diff(ref)))
    n = early = 0
    for t in est[est >= TRIM_SEC]:
        k = int(np.argmin(np.abs(ref - t)))
        err = (t - ref[k]) / ibi
        before = ons[ons < ref[k] - 0.03]
        if abs(err) <= 0.35 and len(before) and ref[k] - before[-1] > 1.1 * ibi:
            n += 1
            early += int(-0.35 < err < -0.15)
    return {"after_rest": n, "after_rest_early": early}


def score_bars(beats_path: Path, est, positions, meter) -> dict:
    """Downbeat F (+-70 ms) and whether the meter at the end (the count between the last two
    downbeats) is the clip's: 3/4 vs 4/4 clips only."""
    import mir_eval

    ref = np.loadtxt(beats_path, ndmin=2)
    ref_d = mir_eval.beat.trim_beats(ref[ref[:, 1] == 1, 0], min_beat_time=TRIM_SEC)
    est_d = mir_eval.beat.trim_beats(np.asarray(est)[np.asarray(positions) == 1],
                                     min_beat_time=TRIM_SEC)
    out = {"downbeat_f": mir_eval.beat.f_measure(ref_d, est_d, F_WINDOW_SEC)}
    if meter in ("3/4", "4/4"):
        ones = np.flatnonzero(np.asarray(positions) == 1)
        found = int(ones[-1] - ones[-2]) if len(ones) >= 2 else 0
        out["meter_ok"] = float(found == int(meter[0]))
    return out


def mean(rows, key, pick=lambda r: True):
    vals = [r[key] for r in rows if pick(r)]
    return (float(np.mean(vals)), len(vals)) if vals else (float("nan"), 0)


def group_of(row) -> str:
    return row["kind"] if row["kind"] in ("loop", "song") else row["tempo_curve"]


def cpu_per_min(rows) -> float:
    """CPU seconds per minute of audio over ``rows`` (total CPU / total audio)."""
    return sum(r["cpu_sec"] for r in rows) / max(1e-9, sum(r["audio_sec"] for r in rows)) * 60


def print_cpu(results: dict[str, list[dict]], labels: dict[str, str]) -> None:
    """Each tracker's CPU per audio minute clip by clip (p50 / p99 / max), and improv's as a
    share of every other tracker's in this run (the host's speed moves between runs; the
    ratio of two trackers timed in one run moves much less)."""
    print("\nCPU s / audio min, per clip (p50 / p99 / max):")
    for name, rows in results.items():
        per_clip = [r["cpu_sec"] / r["audio_sec"] * 60 for r in rows if r["audio_sec"] > 0]
        if per_clip:
            p50, p99 = np.percentile(per_clip, [50, 99])
            print(f"- {labels[name]}: {p50:.2f} / {p99:.2f} / {max(per_clip):.2f}")
    ours = [n for n in results if n.startswith("improv")]
    peers = [n for n in results if not n.startswith("improv") and results[n]]
    for name in ours:
        shares = [f"{cpu_per_min(results[name]) / max(1e-9, cpu_per_min(results[p])):.3f} of "
                  f"{p}'s" for p in peers]
        if shares and results[name]:
            print(f"- {name}'s CPU in this run: " + ", ".join(shares))


def paired_difference(ours: list[dict], theirs: list[dict], resamples: int = 10000,
                      seed: int = 0) -> tuple[float, float, float, int, int, int] | None:
    """F of ``ours`` minus F of ``theirs`` on the clips both ran: the mean, its 95 % interval
    (the clips resampled with replacement ``resamples`` times), and how many clips each won by
    more than 0.05. None if they share no clip."""
    f_theirs = {r["clip"]: r["f"] for r in theirs}
    diff = np.array([r["f"] - f_theirs[r["clip"]] for r in ours if r["clip"] in f_theirs])
    if not len(diff):
        return None
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), (resamples, len(diff)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return (float(diff.mean()), float(lo), float(hi), int((diff > 0.05).sum()),
            int((diff < -0.05).sum()), len(diff))


def print_paired(results: dict[str, list[dict]]) -> None:
    """improv's default against each peer, clip by clip: how far apart the two F are, and
    how sure that is on this many clips."""
    if "improv" not in results:
        return
    for peer in (n for n in results if not n.startswith("improv")):
        got = paired_difference(results["improv"], results[peer])
        if got is None:
            continue
        d, lo, hi, won, lost, n = got
        print(f"- improv minus {peer}, F clip by clip: {d:+.3f} (95 % interval over the "
              f"{n} clips, resampled: {lo:+.3f} .. {hi:+.3f}); improv ahead by more than "
              f"0.05 on {won}, behind on {lost}")


def print_tables(results: dict[str, list[dict]], labels: dict[str, str], title: str) -> None:
    print(f"\n### {title}\n")
    print("| tracker | F | CMLt | AMLt | F steady | F tempo-changing | median error (ms) | "
          "CPU s / min | clips | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, rows in results.items():
        f, n = mean(rows, "f")
        cmlt, _ = mean(rows, "cmlt")
        amlt, _ = mean(rows, "amlt")
        fs, ns = mean(rows, "f", lambda r: r["tempo_curve"] == "steady")
        fc, nc = mean(rows, "f", lambda r: r["tempo_curve"] in CHANGING)
        cpu = cpu_per_min(rows)
        errors = sum(1 for r in rows if r["error"])
        offset = np.nanmedian([r["offset_ms"] for r in rows]) if rows else float("nan")
        print(f"| {labels[name]} | {f:.3f} | {cmlt:.3f} | {amlt:.3f} | {fs:.3f} ({ns}) | "
              f"{fc:.3f} ({nc}) | {offset:+.1f} | {cpu:.2f} | {n} | {errors} |")
    print_cpu(results, labels)
    print_paired(results)
    for name, rows in results.items():
        if any("downbeat_f" in r for r in rows):
            df, nd = mean(rows, "downbeat_f", lambda r: "downbeat_f" in r)
            mk, nm = mean(rows, "meter_ok", lambda r: "meter_ok" in r)
            print(f"\n{labels[name]}: downbeat F {df:.3f} ({nd} clips); meter (3/4 vs 4/4) "
                  f"right at the end on {mk * nm:.0f} of {nm} clips")
    for name, rows in results.items():
        if any("after_rest" in r for r in rows):
            n = sum(r.get("after_rest", 0) for r in rows)
            early = sum(r.get("after_rest_early", 0) for r in rows)
            print(f"\n{labels[name]}: of {n} beats after a beat or more with no new note, "
                  f"{early} landed a 16th early")
    print("\nF-measure by group (clips):\n")
    present = [(g, label) for g, label in GROUPS
               if any(group_of(r) == g for rows in results.values() for r in rows)]
    print("| tracker | " + " | ".join(label for _, label in present) + " |")
    print("|---|" + "---:|" * len(present))
    for name, rows in results.items():
        cells = []
        for g, _ in present:
            f, n = mean(rows, "f", lambda r, g=g: group_of(r) == g)
            cells.append(f"{f:.3f} ({n})")
        print(f"| {labels[name]} | " + " | ".join(cells) + " |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--trackers", default=",".join(TRACKERS),
                    help=f"comma-separated, of: {', '.join(TRACKERS)}")
    ap.add_argument("--clips", default="", help="only clips whose name contains this")
    ap.add_argument("--csv", type=Path, default=None, help="default: DATA/results.csv")
    ap.add_argument("--gain-db", default="0",
                    help="scale the audio by this many dB (<= 0) for every audio tracker: "
                         "how much each depends on the input level; several, comma-separated "
                         "(e.g. 0,-6,-12), run one after the other and end with each "
                         "tracker's F at every level and their mean; a list that starts "
                         "with a minus needs the = form: --gain-db=-6,-12")
    ap.add_argument("--samplerate", type=int, default=0,
                    help="resample the audio to this rate (Hz) for improv's audio trackers, "
                         "e.g. 48000, the live engine's usual rate (the peers keep 44.1 kHz)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="time every tracker's call on every clip this many times and keep "
                         "the least CPU (the host's slow spells move one timing by +-30 %%)")
    args = ap.parse_args(argv)
    try:
        levels = [float(g) for g in args.gain_db.split(",")]
    except ValueError:
        ap.error(f"--gain-db: numbers, comma-separated, not {args.gain_db!r}")
    if max(levels) > 0.0:
        ap.error("--gain-db must be <= 0 (the clips peak at 0.89)")
    manifest = ensure_dataset(args.data)
    clips = [c for c in manifest["clips"] if args.clips in c["name"]]
    kinds: dict[str, int] = {}
    for c in clips:
        kinds[group_of(c)] = kinds.get(group_of(c), 0) + 1
    print(f"{len(clips)} clips: " + ", ".join(f"{label} {kinds[g]}" for g, label in GROUPS
                                              if g in kinds))
    if args.samplerate:
        print(f"improv's audio resampled to {args.samplerate} Hz (the peers': the clips' own)")
    print(f"scores: mir_eval, F-measure +-{F_WINDOW_SEC * 1000:.0f} ms, CMLt, AMLt; first "
          f"{TRIM_SEC:.0f} s trimmed; CPU = process time of the tracker call, one thread\n")

    by_level: dict[float, dict[str, list[dict]]] = {}
    for gain_db in levels:
        if gain_db or len(levels) > 1:
            print(f"\n## Audio at {gain_db:+.1f} dB\n")
        ran = run_each(args.trackers, TRACKERS,
                       lambda t, g=gain_db: run(t, clips, args.data, g, args.samplerate,
                                                max(1, args.repeat)))
        if ran is None:
            return 2
        results, labels = ran
        for rows in results.values():
            for r in rows:
                r["gain_db"] = gain_db
        by_level[gain_db] = results
        print_results(results, labels, args.trackers)
    if len(levels) > 1:
        print_levels(by_level, labels)

    rows = {f"{name}@{g}": rs for g, res in by_level.items() for name, rs in res.items()}
    if rows:
        write_rows(args.csv or args.data / "results.csv", rows,
                   ["tracker", "path", "gain_db", "clip", "kind", "tempo_curve", "meter", "f",
                    "cmlt", "amlt", "cmlc", "amlc", "offset_ms", "downbeat_f", "meter_ok",
                    "cpu_sec", "audio_sec", "n_ref", "n_est", "error"])
    return 0


def print_results(results: dict[str, list[dict]], labels: dict[str, str], names: str) -> None:
    audio = {k: v for k, v in results.items() if TRACKERS[k].path == "audio"}
    midi = {k: v for k, v in results.items() if TRACKERS[k].path == "midi"}
    if audio:
        print_tables(audio, labels, "Audio path")
    if "improv-midi" in names or "improv-melody" in names:
        if midi:
            print_tables(midi, labels, "MIDI path (score clips' .mid files)")
        else:
            print("\n### MIDI path\n\nimprov's tracker is not available: no MIDI-path figures.")
    if "improv" in names and "improv" not in results:
        print("\nimprov's tracker is not available (engine.listen.track): peers only.")


def print_levels(by_level: dict[float, dict[str, list[dict]]], labels: dict[str, str]) -> None:
    """F (tempo-changing F) of each audio tracker at every input level, and the mean over the
    levels: a choice that only moves one level's figure is the level's lottery."""
    levels = list(by_level)
    names = [n for n in labels if TRACKERS[n].path == "audio"
             and all(n in res for res in by_level.values())]
    if not names:
        return
    print("\n### F by input level (tempo-changing F)\n")
    print("| tracker | " + " | ".join(f"{g:+.0f} dB" for g in levels) + " | mean |")
    print("|---|" + "---:|" * (len(levels) + 1))
    for name in names:
        f = [mean(by_level[g][name], "f")[0] for g in levels]
        fc = [mean(by_level[g][name], "f", lambda r: r["tempo_curve"] in CHANGING)[0]
              for g in levels]
        cells = [f"{a:.3f} ({b:.3f})" for a, b in zip(f, fc)]
        cells.append(f"{np.mean(f):.3f} ({np.mean(fc):.3f})")
        print(f"| {labels[name]} | " + " | ".join(cells) + " |")


def run_each(names: str, registry: dict, run_one) -> tuple[dict, dict] | None:
    """Each named entry of ``registry`` (comma-separated ``names``) that is available here:
    ``run_one(instance)`` -> rows. Returns (rows by name, labels), or None for an unknown
    name. Says which ran, and why the others did not."""
    results: dict[str, list[dict]] = {}
    labels: dict[str, str] = {}
    for name in [n.strip() for n in names.split(",") if n.strip()]:
        if name not in registry:
            print(f"unknown name {name!r}; known: {', '.join(registry)}")
            return None
        obj = registry[name]()
        why = obj.available()
        if why:
            print(f"- {obj.label}: {why}")
            continue
        obj.prepare()
        t0 = time.time()
        results[name] = run_one(obj)
        labels[name] = obj.label
        print(f"- {obj.label}: ran on {len(results[name])} clips in {time.time() - t0:.1f} s",
              flush=True)
    return results, labels


def write_rows(path: Path, results: dict[str, list[dict]], keys: list[str]) -> None:
    """Every row of every entry into a CSV (floats rounded to 4 places)."""
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for r in (r for rs in results.values() for r in rs):
            w.writerow({k: (round(r[k], 4) if isinstance(r.get(k), float) else r.get(k, ""))
                        for k in keys})
    print(f"\nper-clip rows: {path}")


if __name__ == "__main__":
    sys.exit(main())
