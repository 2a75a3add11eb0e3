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


def _three_beats() -> np.ndarray:
    """Beat targets of 70 frames: beats at 10, 30 and 50 (0.5 on their neighbours)."""
    tgt = np.zeros((70, 2), dtype=np.float32)
    for f in (10, 30, 50):
        tgt[f, 0] = 1.0
        tgt[f - 1, 0] = tgt[f + 1, 0] = 0.5
    return tgt


def test_offbeat_mask_marks_the_frames_half_way_between_beats():
    bt = _beat_train()
    tgt = _three_beats()
    mask = bt.offbeat_mask(tgt)
    assert np.flatnonzero(mask).tolist() == [19, 20, 21, 39, 40, 41]
    assert not np.any(mask[tgt[:, 0] > 0])  # never on a beat target


def test_beat_phase_turns_once_a_beat_and_only_between_beats():
    bt = _beat_train()
    ph = bt.beat_phase(_three_beats())
    assert np.flatnonzero(ph[:, 0]).tolist() == list(range(10, 50))  # between two beats
    assert np.allclose(ph[[10, 30], 1:], [[1.0, 0.0], [1.0, 0.0]])  # a beat: phase 0
    assert np.allclose(ph[[20, 40], 1:], [[-1.0, 0.0], [-1.0, 0.0]], atol=1e-6)  # half-way
    assert np.allclose(ph[15, 1:], [0.0, 1.0], atol=1e-6)  # a quarter of the beat on


def test_the_phase_head_trains_but_is_not_exported(tmp_path):
    bt = _beat_train()
    import torch

    net = bt.BeatNet(81, hidden=8, phase_head=True)
    bands = torch.rand(1, 30, 81)
    assert net.phase(net.hidden(bands)).shape == (1, 30, 2)
    assert torch.equal(net(bands), net.out(net.hidden(bands)))
    path = tmp_path / "w.json"
    bt.export(net, 81, 8, meta={}, path=path)
    assert "phase" not in path.read_text()
    again = bt.BeatNet(81, hidden=8, phase_head=True)  # a phase head starts afresh
    bt.load_json_weights(again, path)
    assert torch.allclose(again(bands), net(bands), atol=1e-5)


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


def test_room_leaves_silence_before_a_hit_and_gives_it_a_tail_that_decays():
    bt = _beat_train()
    rng = np.random.default_rng(3)
    x = np.zeros((100, 81), dtype=np.float32)
    x[20] = 1.5  # one hit in every band, then silence
    tails = 0
    for _ in range(20):
        y = bt.room(x, rng)
        assert y.shape == x.shape and y.dtype == np.float32 and np.all(np.isfinite(y))
        assert np.all(y[:20] == 0.0)  # causal: nothing before the hit
        assert np.all(y[20] > 0.0)
        after = y[21:60, 0]
        assert np.all(np.diff(after) <= 1e-7)  # the tail only decays
        tails += after[0] > 0.0
    assert tails >= 15  # most draws give a tail (its level is drawn from 0..0.6)


def test_noise_windows_carry_no_beat_and_mixing_adds_energy():
    bt = _beat_train()
    rng = np.random.default_rng(1)
    noises = bt.noise_bands(seed=0, n=3, seconds=3.0)
    assert len(noises) == 3 and all(n.shape[1] == 81 and np.all(n >= 0) for n in noises)
    tgt = np.zeros((400, 2), dtype=np.float32)
    tgt[::25, 0] = 1.0
    clips = [("c", rng.uniform(0, 2, size=(1, 400, 81)).astype(np.float32), tgt, {})]
    x, y, m = bt.batch(clips, rng, 8, 100, noises=noises, p_noise=1.0)
    assert float(y.sum()) == 0.0 and float(m.sum()) == 0.0 and x.shape == (8, 100, 81)
    x, y, _ = bt.batch(clips, rng, 8, 100, noises=noises, p_noise=0.0, p_mix=0.0)
    assert float(y[:, :, 0].sum()) > 0  # windows of music keep their beats
    music = clips[0][1][0, :100]
    quiet = bt.add_noise(music, noises[0][:100], -200.0)
    assert np.allclose(quiet, music, atol=1e-5)  # far below: unchanged
    loud = bt.add_noise(music, noises[0][:100], 0.0)
    assert np.all(loud >= music - 1e-6) and np.all(loud >= noises[0][:100] - 1e-6)


def test_split_never_trains_on_a_validation_piece():
    """Second renderings (S###/F###) stay out of validation, and one of a piece that a
    validation clip plays is left out of training altogether."""
    bt = _beat_train()
    import zlib

    names = [f"t{i:03d}_piece{i}" for i in range(60)]
    val_names = [n for n in names if zlib.crc32(n.encode()) % 10 == 0]
    assert val_names  # the hash puts some of 60 names in validation
    val_piece = val_names[0].split("_")[1]
    clips = [(n, None, None, {"source": n.split("_")[1]}) for n in names]
    clips += [(f"S{i:03d}_x", None, None, {"source": f"piece{i}"}) for i in range(60)]
    clips += [(f"F{i:03d}_x", None, None, {"source": f"piece{i}"}) for i in range(60)]
    train, val = bt.split(clips)
    assert [c[0] for c in val] == val_names
    train_pieces = {c[3]["source"] for c in train}
    assert val_piece not in train_pieces
    assert not {c[3]["source"] for c in val} & train_pieces
    assert len(train) == 180 - len(val_names) * 3  # each val piece: its S and F dropped too


def test_split_keeps_every_rendering_of_a_song_segment_on_one_side():
    """LMMS (P###) and Hydrogen (H###) clips: a 30 s segment played at three speeds and, for
    Hydrogen, on several kits falls wholly in training or wholly in validation."""
    bt = _beat_train()
    clips = []
    for prefix in "PH":
        for song in range(8):
            for seg in range(6):
                for kit in ("a", "b"):
                    for speed in (0.8, 1.0, 1.2):
                        clips.append((f"{prefix}{len(clips):03d}_s{song}_{kit}_{speed}", None,
                                      None, {"source": f"{prefix}song{song}",
                                             "segment_sec": 20.0 * seg}))
    train, val = bt.split(clips)
    assert val and len(train) + len(val) == len(clips)

    def segments(side):
        return {(c[3]["source"], c[3]["segment_sec"]) for c in side}

    assert not segments(train) & segments(val)
    assert {c[0][0] for c in val} == {"P", "H"}
    assert all(len([c for c in val if (c[3]["source"], c[3]["segment_sec"]) == s]) == 6
               for s in segments(val))


def test_the_engine_runs_the_shipped_weights_as_torch_does():
    """models/improv_beat.json loaded into BeatNet (torch) and into the engine's numba kernel
    (``BeatActivation``, sums vectorised in any order) give the same beat and downbeat
    probabilities, frame by frame, on real band frames."""
    bt = _beat_train()  # (skips, or fails in CI, without the train extra: before torch)
    import torch

    from engine.listen.activation import DEFAULT_MODEL, BeatActivation
    from engine.listen.onset import LogSpectrum
    from tests.test_listen import clicks

    spec = LogSpectrum(44100)
    rng = np.random.default_rng(3)
    x = clicks(100, 8) + 0.05 * rng.standard_normal(8 * 44100).astype(np.float32)
    bands = spec.process(x).copy()
    net = bt.BeatNet(spec.n_bands)
    bt.load_json_weights(net, DEFAULT_MODEL)
    with torch.no_grad():
        ref = torch.sigmoid(net(torch.tensor(bands[None], dtype=torch.float32)))[0].numpy()
    engine = BeatActivation(DEFAULT_MODEL)
    got = np.concatenate([engine.process(bands[i:i + 7]).copy() for i in range(0, len(bands), 7)])
    assert got.shape == ref.shape == (len(bands), 2)
    assert np.abs(got - ref).max() < 1e-4
    assert ref[:, 0].max() > 0.5  # the clicks are heard: not two flat outputs


def test_lowpass_empties_the_bands_a_low_sample_rate_leaves_empty():
    # the augmentation's band gains against the engine's own spectrum of white noise at
    # 16 kHz: the bands it leaves at 0 get gain 0, those well below Nyquist keep theirs
    from engine.listen.onset import LogSpectrum

    bt = _beat_train()
    sr = 16000
    x = (0.1 * np.random.default_rng(0).standard_normal(4 * sr)).astype(np.float32)
    spectrum = LogSpectrum(sr, fps=50)
    bands = np.concatenate([spectrum.process(x[i:i + 4096]).copy()
                            for i in range(0, len(x), 4096)])
    empty = bands.max(axis=0) == 0.0
    gains = bt.lowpass_gains(sr / 2, bands.shape[1])
    assert empty.sum() >= 10 and np.all(gains[empty] == 0.0)
    assert np.all(gains[:int(np.argmax(empty)) - 3] > 0.99)
    assert np.all(np.diff(gains) <= 1e-6)  # never more of a higher band than of a lower one
    # applied to a window: a random rate of 8-32 kHz, the top band (16 kHz) all but emptied
    # at every one, the low bands untouched, nothing raised
    rng = np.random.default_rng(1)
    window = np.full((20, bands.shape[1]), 0.5, dtype=np.float32)
    for _ in range(20):
        out = bt.lowpass(window, rng)
        assert np.all(out[:, -1] < 0.01) and np.allclose(out[:, :40], 0.5)
        assert np.all(out <= window + 1e-6)


def test_a_batch_gives_each_band_limited_window_its_full_band_version():
    # what --distill feeds the teacher: the same window (level, EQ, noise) before its band
    # limit; the windows left full-band are their own full-band version
    bt = _beat_train()
    import torch

    rng = np.random.default_rng(0)
    feats = rng.uniform(0.1, 1.0, size=(1, 200, 81)).astype(np.float32)
    clips = [("t000", feats, np.zeros((200, 2), dtype=np.float32), {})]
    x, _, _, full = bt.batch(clips, rng, 32, 100, aug=True, p_lowpass=0.5, full_band=True)
    assert x.shape == full.shape == (32, 100, 81)
    same = torch.all(x == full, dim=2).all(dim=1)
    assert 4 < int(same.sum()) < 28  # about half band-limited
    assert torch.allclose(x[:, :, :40], full[:, :, :40])  # below 1 kHz: untouched
    assert torch.all(x[~same][:, :, -1] <= 0.5 * full[~same][:, :, -1])  # the top emptied
    assert torch.all(x <= full + 1e-6)
