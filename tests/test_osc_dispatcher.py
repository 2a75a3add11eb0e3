"""The dispatcher fed literal datagram bytes: no sockets."""

import queue

import pytest
from pythonosc.osc_message_builder import build_msg

from engine import protocol
from engine.clock import VirtualClock
from engine.config import Config
from engine.engine import Engine
from engine.io.midi import MemoryOutput
from engine.io.osc import ImprovDispatcher, check_args

SENDER = ("127.0.0.1", 55555)


@pytest.fixture
def setup():
    engine = Engine(Config(), VirtualClock(0.0), MemoryOutput())
    monitor = []
    d = ImprovDispatcher(engine.handlers(), engine.counters,
                         monitor=lambda a, b: monitor.append((a, b)))
    return engine, d, monitor


def controls(engine):
    out = []
    while True:
        try:
            out.append(engine._controls.get_nowait())
        except queue.Empty:
            return out


def test_tempo_literal_bytes(setup):
    engine, d, _ = setup
    # /improv/tempo ,f 132.0 as Pd would send it, written out byte by byte
    dgram = b"/improv/tempo\x00\x00\x00,f\x00\x00" + bytes.fromhex("43040000")
    assert d.call_handlers_for_packet(dgram, SENDER) == []
    assert controls(engine) == [("tempo", [132.0])]
    assert engine.counters.bad_messages == 0


def test_int_accepted_where_a_float_is_expected(setup):
    engine, d, _ = setup
    d.call_handlers_for_packet(build_msg(protocol.TEMPO, [90]).dgram, SENDER)
    assert controls(engine) == [("tempo", [90.0])]


def test_wrong_type_is_refused_counted_and_answered(setup):
    engine, d, monitor = setup
    replies = d.call_handlers_for_packet(build_msg(protocol.TEMPO, ["fast"]).dgram, SENDER)
    assert replies == [(protocol.ERROR, protocol.TEMPO, "expects f, got s")]
    assert monitor == [(protocol.ERROR, [protocol.TEMPO, "expects f, got s"])]
    assert engine.counters.bad_messages == 1
    assert controls(engine) == []


def test_wrong_argument_count(setup):
    engine, d, _ = setup
    replies = d.call_handlers_for_packet(build_msg(protocol.TEMPO, [1.0, 2.0]).dgram, SENDER)
    assert replies[0][0] == protocol.ERROR and "got ff" in replies[0][2]
    replies = d.call_handlers_for_packet(build_msg(protocol.STOP, [1]).dgram, SENDER)
    assert replies[0][:2] == (protocol.ERROR, protocol.STOP)
    assert engine.counters.bad_messages == 2


def test_out_of_range_value_is_refused(setup):
    engine, d, _ = setup
    replies = d.call_handlers_for_packet(build_msg(protocol.TEMPO, [4000.0]).dgram, SENDER)
    assert replies[0][0] == protocol.ERROR and "20..400" in replies[0][2]
    assert controls(engine) == [] and engine.counters.bad_messages == 1


def test_unknown_address(setup):
    engine, d, _ = setup
    replies = d.call_handlers_for_packet(build_msg("/improv/explode", []).dgram, SENDER)
    assert replies == [(protocol.ERROR, "/improv/explode", "unknown address")]
    assert engine.counters.bad_messages == 1


def test_address_patterns_are_not_expanded(setup):
    engine, d, _ = setup
    replies = d.call_handlers_for_packet(build_msg("/improv/*", []).dgram, SENDER)
    assert replies[0][0] == protocol.ERROR
    assert controls(engine) == []


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x00", b"hello", b"#bundle\x00\x01",
     bytes(range(256)), b"/improv/tempo\x00\x00\x00,q\x00\x00abcd",
     b"/improv/tempo\x00\x00\x00,s\x00\x00ab"],
)
def test_garbage_datagrams_are_counted(setup, garbage):
    engine, d, _ = setup
    replies = d.call_handlers_for_packet(garbage, SENDER)
    assert len(replies) == 1 and replies[0][0] == protocol.ERROR
    assert engine.counters.bad_messages == 1


def test_status_and_version_reply(setup):
    engine, d, _ = setup
    engine.counters.notes_sent = 7
    reply, why = d.call_handlers_for_packet(build_msg(protocol.STATUS, []).dgram, SENDER)
    assert why[0] == protocol.REASON and "waiting for the player" in why[1]
    assert reply[0] == protocol.STATUS and reply[1] == "armed"
    pairs = dict(zip(reply[2::2], reply[3::2]))
    assert pairs["notes_sent"] == 7 and pairs["bad_messages"] == 0 and "xruns" in pairs
    (reply,) = d.call_handlers_for_packet(build_msg(protocol.VERSION, []).dgram, SENDER)
    assert reply == (protocol.VERSION, protocol.PROTOCOL_VERSION)


def test_bundle_messages_run_in_order(setup):
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder

    engine, d, _ = setup
    b = OscBundleBuilder(IMMEDIATELY)
    b.add_content(build_msg(protocol.TEMPO, [80.0]))
    b.add_content(build_msg(protocol.STOP, []))
    b.add_content(build_msg("/nope", []))
    replies = d.call_handlers_for_packet(b.build().dgram, SENDER)
    assert controls(engine) == [("tempo", [80.0]), ("stop", [])]
    assert replies == [(protocol.ERROR, "/nope", "unknown address")]


def test_route_table_covers_the_protocol_exactly():
    engine = Engine(Config(), VirtualClock(0.0), MemoryOutput())
    assert set(engine.handlers()) == set(protocol.IN_ROUTES)
    with pytest.raises(ValueError, match="route table mismatch"):
        ImprovDispatcher({protocol.STOP: lambda a: None}, engine.counters)


def test_check_args_coercions():
    assert check_args(("i",), [3.0]) == [3]
    assert check_args(("i",), [3.5]) is None
    assert check_args(("f",), [True]) is None
    assert check_args(("", "f"), []) == []
    assert check_args(("", "f"), [120]) == [120.0]


def test_our_own_output_echoed_back_is_counted_not_answered(setup):
    engine, d, monitor = setup
    replies = d.call_handlers_for_packet(build_msg(protocol.ERROR, ["/x", "y"]).dgram, SENDER)
    assert replies == [] and monitor == []  # answering would start a feedback storm
    assert engine.counters.bad_messages == 1


def test_allow_list_drops_other_clients_unanswered():
    import socket

    from engine.io.osc import OscServer

    engine = Engine(Config(), VirtualClock(0.0), MemoryOutput())
    d = ImprovDispatcher(engine.handlers(), engine.counters)
    for allow, answered in (("10.9.9.9", False), ("10.9.9.9, 127.0.0.1", True)):
        server = OscServer(d, "127.0.0.1", 0, allow=allow).start()
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.settimeout(0.5)
        try:
            client.sendto(build_msg(protocol.VERSION, []).dgram, (server.host, server.port))
            try:
                client.recvfrom(1024)
                got = True
            except TimeoutError:
                got = False
        finally:
            client.close()
            server.close()
        assert got == answered
    assert engine.counters.osc_refused == 1
