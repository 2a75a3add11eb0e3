"""Below 32 kHz the default beat network is gated by the low-rate one (engine/listen/presence.py):
block-by-block equality, reset, what it passes and what it mutes, the choice by sample rate,
and a missing low-rate file."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from engine.listen import presence
from engine.listen.activation import DEFAULT_MODEL, LOW_RATE_MODEL, BeatActivation
from engine.listen.listener import Listener
from engine.listen.presence import PresenceGatedActivation, activation_for_rate
from tests.helpers import bands_of
from tests.test_listen import clicks

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import beats_noise  # noqa: E402

SR = 16000


def test_the_gated_activation_is_the_same_whole_and_block_by_block_and_after_reset():
    bands = bands_of(np.concatenate([beats_noise.noise("white", 4.0, SR), clicks(120, 6, SR)]), SR)
    g = PresenceGatedActivation(DEFAULT_MODEL, LOW_RATE_MODEL)
    whole = g.process(bands).copy()
    g.reset()
    parts = np.concatenate([g.process(bands[i:i + 7]).copy() for i in range(0, len(bands), 7)])
    assert np.allclose(whole, parts, atol=1e-9)
    g.reset()
    assert np.allclose(g.process(bands), whole, atol=1e-9)


def test_music_passes_and_band_limited_noise_is_muted():
    main = BeatActivation(DEFAULT_MODEL)
    g = PresenceGatedActivation(DEFAULT_MODEL, LOW_RATE_MODEL)
    music = bands_of(clicks(120, 10, SR), SR)
    plain, gated = main.process(music)[:, 0].copy(), g.process(music)[:, 0].copy()
    # once the low-rate network has heard the first beats, the default one's output passes
    assert np.allclose(gated[100:], plain[100:], atol=1e-9)
    assert np.percentile(plain, 99) > 0.5
    for colour in ("white", "pink"):
        main.reset()
        g.reset()
        hiss = bands_of(beats_noise.noise(colour, 10.0, SR), SR)
        plain, gated = main.process(hiss)[:, 0].copy(), g.process(hiss)[:, 0].copy()
        # the default network hears a beat in band-limited noise; gated, nothing is left
        assert np.percentile(plain[50:], 95) > 0.15, colour
        assert np.max(gated[50:]) < 0.02, colour


def test_a_start_part_way_through_a_block_matches_a_fresh_start_there():
    bands = bands_of(clicks(100, 6, SR), SR)
    a = PresenceGatedActivation(DEFAULT_MODEL, LOW_RATE_MODEL)
    out = a.process(bands, start=40).copy()
    assert not out[:40].any()
    b = PresenceGatedActivation(DEFAULT_MODEL, LOW_RATE_MODEL)
    assert np.allclose(out[40:], b.process(bands[40:]), atol=1e-9)


def test_the_gate_runs_below_32_khz_with_the_default_model_only():
    assert isinstance(activation_for_rate(DEFAULT_MODEL, 22050), PresenceGatedActivation)
    assert isinstance(activation_for_rate(str(DEFAULT_MODEL), 8000), PresenceGatedActivation)
    for sr in (32000, 44100, 48000):
        assert type(activation_for_rate(DEFAULT_MODEL, sr)) is BeatActivation
    # a model the user names runs as it is, at any rate
    assert type(activation_for_rate(LOW_RATE_MODEL, 16000)) is BeatActivation


def test_a_missing_low_rate_model_is_a_clear_error_and_the_flux_tracks(monkeypatch, tmp_path):
    monkeypatch.setattr(presence, "LOW_RATE_MODEL", tmp_path / "improv_beat_lowrate.json")
    listener = Listener(SR, beat_model=DEFAULT_MODEL, auto=True)
    assert listener.activation is None
    assert "improv_beat_lowrate.json not found" in listener.model_error
    assert "spectral flux" in listener.model_error
    x = clicks(120, 12, SR)
    for i in range(0, len(x), 128):
        listener.audio(x[i:i + 128], i / SR, i, SR)
    beats = np.array(listener.take_beats())
    assert len(beats) > 10 and abs(np.median(np.diff(beats)) - 0.5) < 0.02


@pytest.mark.parametrize("sr", [8000, 22050])
def test_the_low_rate_weights_ship_and_read_the_same_bands(sr):
    g = activation_for_rate(DEFAULT_MODEL, sr)
    assert g.detector.meta == g.main.meta
    assert LOW_RATE_MODEL.stat().st_size < 1e6
