"""Measures and baselines used by bench/model_quality.py (torch-free)."""

import numpy as np

from models.baselines import NGram, random_frames, rule_based_frames
from models.metrics import fits_chord, measures, summarize
from models.tokens import HOLD, REST, pitch_token


def chorale_like(n_bars=4):
    """S A T B frames: C major and G major chords alternating every 8 frames."""
    chords = [(72, 67, 64, 48), (71, 67, 62, 43)]
    frames = np.full((16 * n_bars, 4), HOLD, dtype=np.int64)
    for f in range(0, 16 * n_bars, 8):
        frames[f] = [pitch_token(p) for p in chords[(f // 8) % 2]]
    return frames


def test_chord_templates():
    assert fits_chord({0, 4, 7}) and fits_chord({7, 11, 2, 5}) and fits_chord({2, 5, 8, 11})
    assert not fits_chord({0, 1, 2}) and not fits_chord({0, 4, 7, 9, 2})


def test_measures_on_clean_harmony():
    m = summarize([measures(chorale_like())])
    assert m["chord_fit"] == 1.0 and m["echo"] == 0.0 and m["silence"] == 0.0
    assert m["distinct_pcs"] == 2.5  # C: G E C (3), G: G D G (2)


def test_echo_and_parallels_are_caught():
    f = chorale_like()
    echo = f.copy()
    echo[:, 1:] = np.where(f[:, 1:] >= 3, f[:, [0]] - 12, f[:, 1:])  # octaves of the melody
    m = measures(echo)
    assert m["echo"] == m["frames_both"]  # every frame only echoes the melody
    assert m["parallels"] > 0  # and moves in parallel octaves


def test_ngram_is_a_distribution_and_learns():
    seq = np.tile([pitch_token(60), pitch_token(48), HOLD, REST], 50)
    ng = NGram(4).fit([seq])
    p = ng.dist([pitch_token(60), pitch_token(48), HOLD], 3)
    assert abs(p.sum() - 1.0) < 1e-9 and p[0] == 0.0  # PAD never predicted
    assert np.argmax(p) == REST
    nll, n = ng.nll(seq)
    assert n == len(seq) - 1 and nll / n < 0.5


def test_rule_based_and_random_baselines_shapes():
    mel = chorale_like()[:, 0]
    rb = rule_based_frames(mel, np.arange(len(mel)) % 16)
    assert rb.shape == (len(mel), 5) and (rb[4:, 1:] != REST).any()
    rnd = random_frames(mel, np.random.default_rng(0), 0.3)
    assert rnd.shape == (len(mel), 4) and np.array_equal(rnd[:, 0], mel)
