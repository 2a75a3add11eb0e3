"""OSC control of a running ``improv run``: replies, refusals, the monitor output."""

from __future__ import annotations

import pytest

from engine import protocol


@pytest.mark.integration
def test_osc_replies_errors_and_counters(improv, osc_client, helpers):
    monitor = osc_client()  # --osc-out: the engine mirrors its replies here
    engine = improv("osc", osc_out=f"127.0.0.1:{monitor.port}")
    client = osc_client()  # replies come back to the sender's address
    port = engine.osc_port

    assert client.request(port, protocol.VERSION) == [protocol.PROTOCOL_VERSION] == [3]
    state, counters = helpers.parse_status(client.request(port, protocol.STATUS))
    assert state == "armed"
    assert counters["bad_messages"] == 0
    assert set(counters) >= {"notes_sent", "midi_in", "bad_messages", "midi_out_lost"}

    # three bad messages, each answered with /improv/error
    client.send_raw(port, b"this is not OSC\x00")
    garbage = client.receive(protocol.ERROR)
    assert garbage is not None, "no /improv/error reply to a garbage datagram"
    assert garbage[1][0] == "" and "undecodable" in garbage[1][1]
    err = client.request(port, "/improv/nope", 1, reply=protocol.ERROR)
    assert err[0] == "/improv/nope" and "unknown address" in err[1]
    err_tempo = client.request(port, protocol.TEMPO, "fast", reply=protocol.ERROR)
    assert err_tempo[0] == protocol.TEMPO and "expects f" in err_tempo[1]
    errors = [args for address, args in client.received if address == protocol.ERROR]
    assert len(errors) == 3, client.received

    state, counters = helpers.parse_status(client.request(port, protocol.STATUS))
    assert counters["bad_messages"] == 3
    assert counters["thread_errors"] == 0
    # a good tempo is accepted silently and the engine still answers
    client.send(port, protocol.TEMPO, 90.0)
    assert client.request(port, protocol.VERSION) == [protocol.PROTOCOL_VERSION]
    state, counters = helpers.parse_status(client.request(port, protocol.STATUS))
    assert counters["bad_messages"] == 3
    assert state == "armed"

    # the monitor output got the same replies, errors included
    seen = []
    while (item := monitor.receive(timeout_sec=1.0)) is not None:
        seen.append(item)
    addresses = [a for a, _ in seen]
    assert addresses.count(protocol.ERROR) == 3, seen
    assert protocol.VERSION in addresses and protocol.STATUS in addresses
    assert engine.proc.poll() is None
