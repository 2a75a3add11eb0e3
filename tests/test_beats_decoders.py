"""The per-clip decoder table (bench/beats_decoders.py) feeds cached band frames to the engine's
Listener in place of its spectrum: the beats must be those of the Listener on the audio."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from engine.listen.activation import DEFAULT_MODEL, load_model
from engine.listen.listener import Listener
from tests.helpers import bands_of

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import beats_decoders as bd  # noqa: E402


def band_track(seconds: float = 14.0, bpm: float = 104.0, sr: int = 44100) -> np.ndarray:
    """Noise-burst hits on every beat (louder every 4th) over quiet hiss."""
    rng = np.random.default_rng(11)
    x = (0.02 * rng.standard_normal(int(seconds * sr))).astype(np.float32)
    for k, t in enumerate(np.arange(0.3, seconds - 0.2, 60.0 / bpm)):
        s = int(t * sr)
        amp = 0.6 if k % 4 == 0 else 0.4
        x[s:s + 1500] += amp * rng.standard_normal(1500) * np.exp(-np.arange(1500) / 200)
    return x


@pytest.mark.parametrize("mode", ["auto", "flux"])
def test_band_frames_give_the_beats_the_audio_gives(mode):
    x = band_track()
    model = load_model(DEFAULT_MODEL)
    fed, _ = bd.listen(bands_of(x), model, mode)

    listener = Listener(44100, beat_model=None if mode == "flux" else model, auto=mode == "auto")
    direct = []
    for i in range(0, len(x), 882):
        listener.audio(x[i:i + 882], i / 44100, i, 44100)
        direct += listener.take_beats()
    assert len(direct) > 15
    np.testing.assert_allclose(fed, direct, atol=1e-9)


def test_the_joint_mode_tracks_on_both_activations_from_the_start():
    beats, listener = bd.listen(bands_of(band_track()), load_model(DEFAULT_MODEL), "joint")
    assert listener.gate.source == "joint" and listener.tracker is listener.joint_tracker
    assert len(beats) > 15
    assert np.median(np.diff(beats)) == pytest.approx(60.0 / 104.0, abs=0.02)
