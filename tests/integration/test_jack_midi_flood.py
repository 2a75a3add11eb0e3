"""A burst of 1000 MIDI messages (+ one sysex) through JACK into a running engine."""

from __future__ import annotations

import time

import pytest

from engine import protocol

N_NOTES = 1000
SYSEX = (0xF0, 0x7D, 0x01, 0x02, 0x03, 0x04, 0xF7)


@pytest.mark.integration
def test_midi_flood_is_counted_exactly(improv, midi_sender):
    engine = improv("flood", tempo=40)  # slow: still playing when checked
    snd = midi_sender(engine.in_port)
    assert engine.status()[1]["midi_in"] == 0

    for i in range(N_NOTES // 2):  # all at once: they land in one or two JACK cycles
        pitch = 48 + i % 24
        snd.send((0x90, pitch, 1 + i % 127))
        snd.send((0x80, pitch, 0))
    snd.send(SYSEX)

    engine.wait_status(lambda s, c: c["midi_in"] >= N_NOTES + 1, 15.0,
                       "the engine to read the flood")
    time.sleep(0.5)  # duplicates, if any, would show up by now
    state, counters = engine.status()
    assert counters["midi_in"] == N_NOTES + 1
    assert counters["midi_in_sysex"] == 1
    assert counters["midi_in_overflow"] == 0
    assert counters["thread_errors"] == 0
    assert state == "playing"  # the burst's note-ons anchored beat 0
    # still running and answering
    assert engine.request(protocol.VERSION) == [protocol.PROTOCOL_VERSION]
    assert engine.proc.poll() is None
