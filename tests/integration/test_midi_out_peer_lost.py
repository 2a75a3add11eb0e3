"""The MIDI output's peer (a separate process) is killed, then comes back."""

from __future__ import annotations

import signal
import time

import pytest

from engine import protocol


def play(sender, pitches=(60, 64, 67, 72), beat_sec=0.5) -> None:
    for p in pitches:
        sender.send((0x90, p, 90))
        time.sleep(beat_sec * 0.8)
        sender.send((0x80, p, 0))
        time.sleep(beat_sec * 0.2)


@pytest.mark.integration
def test_output_peer_vanishes_and_reconnects(improv, midi_sender, midi_peer, helpers):
    name = helpers.unique_name("peer")
    port = f"{name}:in"
    peers = []
    try:
        peers.append(midi_peer(name))
        helpers.wait_for_port(port)
        engine = improv("lost", tempo=120, midi_out=port)
        helpers.wait_connected(engine.out_port, port)
        snd = midi_sender(engine.in_port)

        play(snd)
        helpers.wait_for(peers[0].note_ons, 10.0, "the first peer to hear accompaniment")
        assert engine.status()[1]["midi_out_lost"] == 0

        # the peer dies without closing anything
        peers[0].proc.send_signal(signal.SIGKILL)
        peers[0].proc.wait(timeout=5)
        helpers.wait_for_port(port, present=False)
        engine.wait_status(lambda s, c: c["midi_out_lost"] >= 1, 5.0, "midi_out_lost >= 1")
        assert engine.request(protocol.VERSION) == [protocol.PROTOCOL_VERSION]
        assert engine.proc.poll() is None

        # it comes back under the same name; the engine reconnects (by itself, or when told)
        peers.append(midi_peer(name))
        helpers.wait_for_port(port)
        engine.osc.send(engine.osc_port, protocol.RECONNECT)
        helpers.wait_connected(engine.out_port, port)
        play(snd)
        ons = helpers.wait_for(peers[1].note_ons, 10.0, "the new peer to hear accompaniment")
        assert {m[0] & 0x0F for m in ons} <= set(protocol.ROLE_CHANNELS.values())

        state, counters = engine.status()
        assert counters["midi_out_lost"] == 1  # one loss, counted once
        assert counters["midi_out_errors"] == 0  # the reconnect succeeded
        assert counters["thread_errors"] == 0
        assert engine.proc.poll() is None
    finally:
        for p in peers:
            p.stop()
