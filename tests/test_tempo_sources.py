"""Tap tempo and MIDI clock in, alone and driving the engine."""

import pytest

from engine import protocol
from engine.events import MidiMessage
from engine.listen.tempo import MidiClockTempo, TapTempo
from engine.offline import note_pairs
from tests.test_engine import Rig, melody_events


def test_tap_tempo_median_and_reset():
    tap = TapTempo()
    assert tap.tap(0.0) is None
    for t in (0.5, 1.0, 1.52, 2.0):
        bpm = tap.tap(t)
    assert bpm == pytest.approx(120.0, rel=0.02)
    tap.tap(10.0)  # a long pause: a new count
    assert tap.tap(10.75) == pytest.approx(80.0)


def test_midi_clock_tempo_and_beats():
    clock = MidiClockTempo()
    clock.message(0xFA, 0.0)
    beats = [t for k in range(24 * 4) if clock.message(0xF8, t := k * 0.5 / 24)]
    assert clock.bpm == pytest.approx(120.0)
    assert beats == pytest.approx([0.0, 0.5, 1.0, 1.5])


def test_osc_taps_move_the_band_to_the_tapped_tempo():
    rig = Rig(**{"tempo.bpm": 120.0})
    rig.play(melody_events([60, 64, 67, 72] * 8, bpm=120.0, start_sec=0.5))
    rig.run_until(3.0)
    for t in (3.0, 3.75, 4.5, 5.25):  # 80 BPM
        rig.run_until(t)
        rig.control(protocol.TAP)
    rig.run_until(12.0)
    rig.engine.close()
    bass = [n[0] for n in note_pairs(rig.out.sent) if n[2] == protocol.ROLE_CHANNELS["bass"]]
    late = [round(b - a, 2) for a, b in zip(bass, bass[1:]) if a > 7.0]
    assert late and all(abs(g - 0.75) < 0.02 for g in late)


def test_tap_note_is_a_tempo_key_not_music():
    rig = Rig(**{"tempo.tap_note": 36})
    rig.play([MidiMessage(0.5 + 0.6 * k, (0x90, 36, 100)) for k in range(4)])
    rig.run_until(3.0)
    assert rig.engine.state == "armed"  # taps do not start the band
    assert rig.engine.bpm == pytest.approx(100.0, rel=0.02)


def test_midi_clock_in_drives_the_grid():
    rig = Rig(**{"tempo.midi_clock_in": True, "tempo.bpm": 120.0})
    ticks = [MidiMessage(0.2, (0xFA,))] + [MidiMessage(0.2 + k * (0.6 / 24), (0xF8,))
                                            for k in range(24 * 20)]
    rig.play(sorted(ticks + melody_events([60, 64, 67, 72] * 4, bpm=100.0, start_sec=0.2),
                    key=lambda e: e.t_sec))
    rig.run_until(10.0)
    rig.engine.close()
    bass = [n[0] for n in note_pairs(rig.out.sent) if n[2] == protocol.ROLE_CHANNELS["bass"]]
    gaps = [round(b - a, 2) for a, b in zip(bass, bass[1:])]
    assert gaps and all(abs(g - 0.6) < 0.02 for g in gaps[2:])  # the clock's 100 BPM
