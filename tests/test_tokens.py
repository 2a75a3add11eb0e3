"""Tokenizer round trips (no torch needed)."""

import numpy as np
import pytest

from engine.events import SentMidi
from engine.io.files import save_midi
from engine.play.melody import read_melody
from models.tokens import (
    HOLD,
    ORDERS,
    REST,
    frames_to_tokens,
    pitch_token,
    token_pitch,
    tokens_to_frames,
    voice_notes,
)


def random_frames(rng, n=64):
    frames = np.full((n, 4), REST, dtype=np.int64)
    for v in range(4):
        f = 0
        while f < n:
            dur = int(rng.integers(1, 8))
            if rng.random() < 0.85:
                frames[f, v] = pitch_token(int(rng.integers(40, 80)))
                frames[f + 1:f + dur, v] = HOLD
            f += dur
    return frames


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_frames_tokens_round_trip(order):
    frames = random_frames(np.random.default_rng(1))
    toks = frames_to_tokens(frames, order)
    assert toks.shape == (64 * 4,)
    assert np.array_equal(tokens_to_frames(toks, order), frames)
    melody_slot = ORDERS[order].index("S")
    assert np.array_equal(toks[melody_slot::4], frames[:, 0])


def test_pitch_tokens_fold_out_of_range():
    assert token_pitch(pitch_token(60)) == 60
    assert token_pitch(pitch_token(10)) == 22 and token_pitch(pitch_token(120)) == 108


def test_midi_to_tokens_to_midi(tmp_path):
    """A melody written as MIDI, read into frame tokens, written back: the same notes."""
    notes = [(0, 4, 67), (4, 6, 69), (6, 8, 71), (8, 16, 72), (20, 24, 64)]  # frames, pitch
    sec = 0.125  # 120 BPM 16ths
    sent = []
    for f0, f1, p in notes:
        sent += [SentMidi(f0 * sec, (0x90, p, 80)), SentMidi(f1 * sec - 1e-3, (0x80, p, 0))]
    path = save_midi(sent, tmp_path / "m.mid")
    melody = read_melody(path)
    assert voice_notes(melody.tokens) == [(a, b, p) for a, b, p in notes]
    assert melody.bar_frames == 16
