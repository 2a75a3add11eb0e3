"""The learned beat activation's training helpers: the off-beat mask and the level/EQ
augmentation. Needs the ``train`` extra (torch)."""

import os

import numpy as np
import pytest


def _beat_train():
    try:
        from models import beat_train
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("torch is not installed (the train extra): CI must install it")
        pytest.skip("torch is not installed (pip install '.[train]')")
    return beat_train


def test_offbeat_mask_marks_the_frames_half_way_between_beats():
    bt = _beat_train()
    tgt = np.zeros((70, 2), dtype=np.float32)
    for f in (10, 30, 50):
        tgt[f, 0] = 1.0
        tgt[f - 1, 0] = tgt[f + 1, 0] = 0.5
    mask = bt.offbeat_mask(tgt)
    assert np.flatnonzero(mask).tolist() == [19, 20, 21, 39, 40, 41]
    assert not np.any(mask[tgt[:, 0] > 0])  # never on a beat target


def test_augment_keeps_silence_silent_and_the_order_of_energies():
    bt = _beat_train()
    rng = np.random.default_rng(0)
    x = np.zeros((50, 81), dtype=np.float32)
    x[10:20] = rng.uniform(0.1, 2.0, size=(10, 81))
    for _ in range(20):
        y = bt.augment(x, rng)
        assert y.shape == x.shape and np.all(np.isfinite(y))
        assert np.all(y[:10] == 0.0) and np.all(y[20:] == 0.0)  # silence stays silence
        # one gain per band: within a band, louder frames stay louder
        order_x = np.argsort(x[10:20], axis=0, kind="stable")
        order_y = np.argsort(y[10:20], axis=0, kind="stable")
        assert np.array_equal(order_x, order_y)
    # the gains vary from window to window (+-12 dB level at least)
    levels = [float(bt.augment(x, rng)[10:20].mean()) for _ in range(20)]
    assert max(levels) - min(levels) > 0.3
