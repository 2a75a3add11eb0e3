"""Listening stages: whole vs block by block, reset, tempo on steady material, silence."""

import numpy as np
import pytest

from engine.listen.beat import BeatTracker
from engine.listen.onset import OnsetDetector
from engine.listen.track import beats_of_audio, beats_of_midi
from tests.helpers import EXAMPLE


def clicks(bpm, seconds, sr=44100, start=0.5):
    x = np.zeros(int(seconds * sr), dtype=np.float32)
    rng = np.random.default_rng(0)
    t = start
    while t < seconds - 0.1:
        s = int(t * sr)
        x[s:s + 1500] += (0.5 * rng.standard_normal(1500) * np.exp(-np.arange(1500) / 200))
        t += 60.0 / bpm
    return x


def test_onsets_whole_equals_blocks_and_reset():
    x = clicks(120, 6)
    whole = OnsetDetector(44100).process(x).copy()
    od = OnsetDetector(44100)
    parts = np.concatenate([od.process(x[i:i + 333]).copy() for i in range(0, len(x), 333)])
    assert np.allclose(whole, parts, atol=1e-5)
    od.reset()
    again = np.concatenate([od.process(x[i:i + 128]).copy() for i in range(0, len(x), 128)])
    assert np.allclose(whole, again, atol=1e-5)


def test_onset_times_on_clicks():
    x = clicks(120, 6)
    od = OnsetDetector(44100)
    v = od.process(x).copy()
    peaks = [k for k in range(1, len(v) - 1) if v[k] > v[k - 1] and v[k] >= v[k + 1]
             and v[k] > 0.3 * v.max()]
    times = np.array([od.frame_time_sec(k) for k in peaks])
    expected = 0.5 + 0.5 * np.arange(len(times))
    assert len(times) == 11 and np.abs(times - expected).max() < 0.02


@pytest.mark.parametrize("bpm", [70, 100, 140])
def test_tempo_on_steady_clicks(bpm):
    beats = beats_of_audio(clicks(bpm, 20), 44100)
    ibi = np.mean(np.diff(beats[len(beats) // 2:]))  # frames are 20 ms: average the beats
    assert abs(60.0 / ibi - bpm) / bpm < 0.02


def test_tracker_whole_equals_blocks_and_reset():
    rng = np.random.default_rng(1)
    x = rng.random(3000) ** 8
    a = BeatTracker()
    whole = list(a.process(x))
    b = BeatTracker()
    parts = [f for i in range(0, 3000, 7) for f in list(b.process(x[i:i + 7]))]
    assert whole == parts
    b.reset()
    assert list(b.process(x)) == whole


def test_silence_noise_and_bad_samples_do_not_crash_or_hallucinate():
    sr = 44100
    silence = np.zeros(sr * 10, dtype=np.float32)
    assert len(beats_of_audio(silence, sr)) == 0
    bad = np.full(sr * 2, np.nan, dtype=np.float32)
    bad[::7] = np.inf
    od = OnsetDetector(sr)
    out = od.process(np.nan_to_num(bad, nan=0.0, posinf=1.0, neginf=-1.0))
    assert np.isfinite(out).all()


def test_midi_tracking_of_the_example():
    beats = beats_of_midi(str(EXAMPLE))
    ibi = np.median(np.diff(beats))
    assert abs(ibi - 0.6) < 0.012  # 100 BPM
    grid = beats[(beats > 5) & (beats < 30)]
    assert np.abs((grid / 0.6) - np.round(grid / 0.6)).max() < 0.1  # on the beat, not off
