"""The loop annotation rule of the beat benchmark's data sets (bench/beats_dataset.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import beats_dataset as ds  # noqa: E402


def click_loop(bpm: float, beats: int, accent_every: int = 4, eighth: float = 0.25) -> np.ndarray:
    """One pass of a loop: a decaying noise click on each of ``beats`` beats, one of level
    ``eighth`` on each eighth, starting on a click at sample 0."""
    rng = np.random.default_rng(0)
    period = int(round(60.0 / bpm * ds.SR))
    x = np.zeros(period * beats)
    click = rng.standard_normal(800) * np.exp(-np.arange(800) / 120.0)
    for k in range(2 * beats):
        amp = 1.0 if k % (2 * accent_every) == 0 else 0.6 if k % 2 == 0 else eighth
        s = k * period // 2
        x[s:s + 800] += amp * click[: len(x) - s]
    return x


def test_a_loop_of_whole_beats_is_annotated_at_its_tempo():
    info = ds.analyse_loop(click_loop(120.0, 8), ds.SR)
    assert info["ok"], info["why"]
    assert info["beats_per_loop"] == 8
    assert abs(info["acf_bpm"] - 120.0) < 1.0


def test_a_loop_too_short_to_confirm_its_period_is_skipped():
    # one beat: the autocorrelation of a single pass cannot show the period (this used to
    # come out as a NaN tempo that passed the check)
    info = ds.analyse_loop(click_loop(68.0, 1, eighth=0.0), ds.SR)
    assert not info["ok"]
    assert "no peak" in info["why"] or "no beat period" in info["why"]


def test_sonic_pi_loop_names_lose_their_prefix():
    assert ds.loop_name(Path("/x/loop_amen_full.flac")) == "loop_amen_full"
    assert ds.loop_name(Path("/x/break01.ogg")) == "loop_break01"
