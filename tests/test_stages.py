"""Stages: allocation at construction, process/reset, same result whole or block by block."""

import numpy as np
import pytest

from engine.io.midi import MemoryInput, MidiTimestamper
from engine.io.ring import BlockRing
from engine.listen.chroma import Chroma
from engine.listen.gate import LevelGate
from engine.listen.profile import PitchProfile
from tests.helpers import tones


def gate_onsets(x, block):
    g = LevelGate(48000)
    return [i * block for i in range(len(x) // block) if g.process(x[i * block:(i + 1) * block])]


def test_gate_fires_once_per_note_after_silence_and_agrees_across_block_sizes():
    x = np.zeros(48000 * 3, dtype=np.float32)
    for start in (0.5, 0.7, 2.5):  # 0.7 follows 0.5 too closely (no silence): one onset
        s = int(start * 48000)
        x[s:s + 4800] = 0.5 * np.sin(np.arange(4800) * 0.1)
    a = gate_onsets(x, 128)
    b = gate_onsets(x, 64)
    assert len(a) == len(b) == 2
    assert all(abs(i - j) <= 128 for i, j in zip(a, b))
    assert abs(a[0] - 24000) <= 128 and abs(a[1] - 120000) <= 128


def test_gate_reset_gives_the_same_result():
    x = tones([60, 62], sr=48000)
    g = LevelGate(48000)
    first = [g.process(x[i:i + 128]) for i in range(0, len(x) - 128, 128)]
    g.reset()
    second = [g.process(x[i:i + 128]) for i in range(0, len(x) - 128, 128)]
    assert first == second and any(first)


@pytest.mark.parametrize("pitch, pc", [(57, 9), (60, 0), (67, 7), (70, 10)])
def test_chroma_finds_the_pitch_class(pitch, pc):
    x = tones([pitch], sr=48000, start_sec=0.0)
    c = Chroma(48000)
    out = c.process(x[1000:1000 + c.n_fft])
    assert int(np.argmax(out)) == pc and out.sum() == pytest.approx(1.0)
    assert c.process(np.zeros(c.n_fft, dtype=np.float32)).sum() == 0.0


def test_profile_window_and_ring_reuse():
    p = PitchProfile(n_beats=8)
    p.add_note(0.2, 60)
    p.add_note(1.5, 64, 2.0)
    w = p.window(2, 2)
    assert w[0] == 1.0 and w[4] == 2.0
    p.add_note(9.1, 67)  # row of beat 1 reused for beat 9: old weight gone
    assert p.window(2, 2)[4] == 0.0
    assert p.window(10, 1)[7] == 1.0
    decayed = p.window(10, 2, half_life_beats=1.0)
    assert decayed[7] == 1.0


def test_block_ring_is_fifo_and_counts_drops():
    r = BlockRing(4, 8)
    out = np.zeros(8, dtype=np.float32)
    for i in range(6):
        r.push(np.full(8, i, dtype=np.float32), float(i))
    assert r.dropped == 2
    got = []
    while (meta := r.pop(out)) is not None:
        got.append((meta[0], out[0]))
    assert got == [(0, 0.0), (8, 1.0), (16, 2.0), (24, 3.0)]
    assert r.push(np.zeros(5, dtype=np.float32), 0.0) is False  # wrong size: dropped


def test_timestamper_keeps_rtmidi_spacing_within_a_burst():
    s = MidiTimestamper()
    # three messages arrive in one cycle at 10.003 s; rtmidi's deltas say 1 ms apart
    assert s.stamp(10.003, 0.0) == 10.003
    t1 = s.stamp(10.0065, 0.0025)
    t2 = s.stamp(10.0065, 0.001)
    assert t1 == pytest.approx(10.0055) and t2 == pytest.approx(10.0065)
    # a delta that disagrees with arrival (clock jump): fall back to arrival
    assert s.stamp(20.0, 0.001) == 20.0


def test_memory_input_contract():
    m = MemoryInput()
    m.push([0x90, 60, 100], 0.5)
    assert m.read() == ([0x90, 60, 100], 0.5)
    assert m.read() is None
