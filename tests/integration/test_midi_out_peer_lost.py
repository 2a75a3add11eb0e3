"""The MIDI output's peer (a separate process) is killed, then comes back."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import protocol

PEER = '''
import json, sys, time
import rtmidi
mi = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name=sys.argv[1], queue_size_limit=16384)
mi.open_virtual_port("in")
print("ready", flush=True)
while True:
    item = mi.get_message()
    if item is None:
        time.sleep(0.0005)
        continue
    print(json.dumps(item[0]), flush=True)
'''


class Peer:
    """A process owning the JACK MIDI input port ``<name>:in``; prints what it receives."""

    def __init__(self, script: Path, name: str, log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, str(script), name], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def messages(self) -> list[list[int]]:
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("[")]

    def note_ons(self) -> list[list[int]]:
        return [m for m in self.messages() if len(m) == 3 and m[0] & 0xF0 == 0x90 and m[2] > 0]


def play(sender, pitches=(60, 64, 67, 72), beat_sec=0.5) -> None:
    for p in pitches:
        sender.send((0x90, p, 90))
        time.sleep(beat_sec * 0.8)
        sender.send((0x80, p, 0))
        time.sleep(beat_sec * 0.2)


@pytest.mark.integration
def test_output_peer_vanishes_and_reconnects(improv, midi_sender, helpers, tmp_path):
    script = tmp_path / "peer.py"
    script.write_text(PEER)
    name = helpers.unique_name("peer")
    port = f"{name}:in"
    peers: list[Peer] = []
    try:
        peers.append(Peer(script, name, tmp_path / "peer1.log"))
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

        # it comes back under the same name; the engine reconnects when told to
        peers.append(Peer(script, name, tmp_path / "peer2.log"))
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
            helpers.stop_process(p.proc)
