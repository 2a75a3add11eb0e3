"""OSC: one python-osc Dispatcher with an explicit route table, one blocking server thread.

The dispatcher knows nothing of sockets: tests feed it literal datagram bytes through
:meth:`ImprovDispatcher.call_handlers_for_packet`. Every refused message (undecodable
datagram, unknown address, address pattern, wrong argument types or count) is counted and
answered with ``/improv/error address reason`` to the sender and to the monitor output.
Bundle time tags are not honoured: messages act when they arrive (never sleep in a handler).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence

from pythonosc import osc_packet
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message_builder import build_msg
from pythonosc.osc_server import BlockingOSCUDPServer

from .. import protocol
from ..faults import FAULTS
from ..stats import Counters

LOG_EVERY_SEC = 1.0  # refusals are all counted and answered; logged at most this often

log = logging.getLogger(__name__)

Reply = tuple[str, list]
Handler = Callable[[list], "list[Reply] | None"]

_PATTERN_CHARS = set("*?[]{}")


def check_args(signatures: Sequence[str], args: Sequence[object]) -> list | None:
    """Coerce ``args`` to the first signature they fit, or return None.

    ``f`` takes any number (-> float); ``i`` an int or integral float (-> int); ``s`` a str.
    """
    for sig in signatures:
        if len(sig) != len(args):
            continue
        out: list = []
        for letter, value in zip(sig, args):
            if isinstance(value, bool):
                break
            if letter == "f" and isinstance(value, (int, float)):
                out.append(float(value))
            elif letter == "i" and isinstance(value, int):
                out.append(value)
            elif letter == "i" and isinstance(value, float) and value.is_integer():
                out.append(int(value))
            elif letter == "s" and isinstance(value, str):
                out.append(value)
            else:
                break
        else:
            return out
    return None


def _describe(args: Sequence[object]) -> str:
    letters = {int: "i", float: "f", str: "s", bool: "T/F", bytes: "b"}
    return "".join(letters.get(type(a), "?") for a in args) or "no arguments"


class ImprovDispatcher(Dispatcher):
    """The route table. ``handlers`` maps every IN address of the protocol to a callable
    ``handler(args) -> replies``. Called by the OSC server thread only."""

    def __init__(
        self,
        handlers: dict[str, Handler],
        counters: Counters,
        monitor: Callable[[str, list], None] | None = None,
    ) -> None:
        super().__init__(strict_timing=False)
        missing = set(protocol.IN_ROUTES) - set(handlers)
        extra = set(handlers) - set(protocol.IN_ROUTES)
        if missing or extra:
            raise ValueError(f"route table mismatch: missing {missing}, extra {extra}")
        self._routes = dict(handlers)
        for address, fn in handlers.items():
            self.map(address, fn)
        self.counters = counters
        self.monitor = monitor
        self._last_log_sec = float("-inf")
        self._logged_at = 0

    def _error(self, address: str, reason: str) -> Reply:
        """Count and answer a refusal; log it, at most once a second (a flood of garbage must
        not become a flood of log lines)."""
        self.counters.bad_messages += 1
        now = time.monotonic()
        if now - self._last_log_sec >= LOG_EVERY_SEC:
            more = self.counters.bad_messages - self._logged_at - 1
            log.warning("OSC %s refused: %s%s", address, reason,
                        f" (and {more} more refused since the last report)" if more else "")
            self._last_log_sec = now
            self._logged_at = self.counters.bad_messages
        return (protocol.ERROR, [address, reason])

    def _one(self, address: str, args: list) -> list[Reply]:
        if _PATTERN_CHARS & set(address):
            return [self._error(address, "address patterns are not accepted")]
        route = protocol.IN_ROUTES.get(address)
        if route is None:
            if address in protocol.OUT_ROUTES:  # our own output echoed back: never answer it
                self.counters.bad_messages += 1  # (answering could start a feedback storm)
                return []
            return [self._error(address, "unknown address")]
        coerced = check_args(route.signatures, args)
        if coerced is None:
            want = " or ".join(s or "no arguments" for s in route.signatures)
            return [self._error(address, f"expects {want}, got {_describe(args)}")]
        try:
            return self._routes[address](coerced) or []
        except ValueError as exc:  # a handler refusing a value (e.g. tempo out of range)
            return [self._error(address, str(exc))]

    def call_handlers_for_packet(self, data: bytes, client_address: tuple[str, int]) -> list:
        """Decode one datagram and run its messages in order; return the replies."""
        try:
            messages = [m.message for m in osc_packet.OscPacket(data).messages]
        except Exception as exc:  # ParseError, or a decoder bug on hostile bytes
            reason = f"undecodable datagram ({len(data)} bytes): {exc}"[:200]
            replies = [self._error("", reason)]
        else:
            replies = []
            for msg in messages:
                replies.extend(self._one(msg.address, list(msg.params)))
        if self.monitor is not None:
            for address, args in replies:
                self.monitor(address, args)
        return [(address, *args) for address, args in replies]


class _Server(BlockingOSCUDPServer):
    allow: frozenset[str] | None = None  # client addresses accepted (None: all)

    def verify_request(self, request, client_address) -> bool:
        if self.allow is not None and client_address[0] not in self.allow:
            self.dispatcher.counters.osc_refused += 1  # not ours: no reply, no effect
            return False
        return True  # let garbage reach the dispatcher, which counts and answers it

    def service_actions(self) -> None:
        """Between requests (every poll of serve_forever). OSC thread."""
        if FAULTS is not None:
            FAULTS.check("osc")

    def handle_error(self, request, client_address) -> None:
        """A datagram whose handling failed (a bug a message found): counted and logged, the
        server goes on -- a bad message never stops the instrument."""
        self.dispatcher.counters.thread_errors += 1
        log.exception("OSC server error on a datagram from %s", client_address)


class OscServer:
    """Serves an :class:`ImprovDispatcher` on UDP from ONE thread (ordered, blocking)."""

    def __init__(self, dispatcher: ImprovDispatcher, host: str, port: int,
                 allow: str | None = None) -> None:
        try:
            self._server = _Server((host, port), dispatcher)
        except OSError as exc:
            reason = exc.strerror or exc
            raise OSError(f"cannot listen for OSC on {host}:{port}: {reason}") from None
        if allow:
            self._server.allow = frozenset(a.strip() for a in allow.split(",") if a.strip())
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._serve, name="improv-osc", daemon=True)

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.1)

    def start(self) -> OscServer:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=2.0)
        self._server.server_close()


class OscSender:
    """OSC out (monitoring): ``send(address, args)`` never raises; failures are counted."""

    def __init__(self, host: str, port: int) -> None:
        try:  # resolve once: never a name lookup on the scheduler thread
            family, _, _, _, self.target = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except socket.gaierror as exc:
            raise OSError(f"cannot resolve OSC output host {host!r}: {exc}") from None
        self.errors = 0
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.setblocking(False)

    def send(self, address: str, args: Sequence[object]) -> None:
        """Build and send one message. Scheduler or OSC thread."""
        try:
            self._sock.sendto(build_msg(address, list(args)).dgram, self.target)
        except OSError:
            self.errors += 1

    def close(self) -> None:
        self._sock.close()
