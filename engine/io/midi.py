"""MIDI ports behind one tiny contract, selected by name.

Inputs have ``read() -> (data, delta_sec) | None`` (rtmidi's own shape: the delta is the
time since the previous message, as the MIDI system measured it) and ``close()``.
Outputs have ``send(data, t_sec)`` and ``close()``.

Backends: ``RtMidiInput``/``RtMidiOutput`` (ALSA sequencer or JACK MIDI via python-rtmidi),
``MemoryInput``/``MemoryOutput`` (tests), and the MIDI-file sink in ``engine.io.files``.

Why the engine polls rtmidi instead of using its callback: measured on these machines,
1000 messages arriving in one JACK cycle at an rtmidi JACK input with a Python callback
came out as 958 messages of which only 203 were distinct; polling ``get_message()`` returned
all 1000, in order. rtmidi's input queue (C++, sized once at open by ``queue_size_limit``) is
the preallocated ring; the engine thread drains it every millisecond.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
from collections.abc import Sequence

from ..events import SentMidi

log = logging.getLogger(__name__)

QUEUE_SIZE = 16384  # rtmidi input queue: a 1000-event flood fits 16 times over


class MidiPortError(RuntimeError):
    """A MIDI API or port could not be opened; the message says which and why."""


def _rtmidi():
    os.environ.setdefault("JACK_NO_START_SERVER", "1")  # never spawn a jackd behind the user
    import rtmidi

    return rtmidi


def api_id(name: str) -> int:
    """rtmidi API constant for ``alsa`` / ``jack``."""
    rtmidi = _rtmidi()
    return {"alsa": rtmidi.API_LINUX_ALSA, "jack": rtmidi.API_UNIX_JACK}[name]


def resolve_api(name: str) -> str:
    """``auto`` -> ``alsa`` when the ALSA sequencer opens, else ``jack``; others unchanged."""
    if name != "auto":
        return name
    return "alsa" if os.path.exists("/dev/snd/seq") else "jack"


@contextlib.contextmanager
def _quiet_c_stderr():
    """Hide what C libraries (libasound, libjack) print on fd 2 while a port opens: the
    failure is reported once, as our own one-line error. Start-up only (not thread-safe)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _open(kind: str, api: str, client_name: str):
    rtmidi = _rtmidi()
    cls = rtmidi.MidiIn if kind == "in" else rtmidi.MidiOut
    kwargs = {"queue_size_limit": QUEUE_SIZE} if kind == "in" else {}
    try:
        with _quiet_c_stderr():
            return cls(rtapi=api_id(api), name=client_name, **kwargs)
    except rtmidi.RtMidiError as exc:
        hint = {
            "alsa": "no ALSA sequencer (/dev/snd/seq); try --midi-api jack",
            "jack": "is a JACK server running? (jackd -d dummy, or your audio setup)",
        }[api]
        msg = str(exc).strip().splitlines()[0]
        raise MidiPortError(f"cannot open MIDI {kind} via {api}: {msg} ({hint})") from None


def _find_port(ports: Sequence[str], wanted: str, kind: str, api: str) -> int:
    matches = [i for i, p in enumerate(ports) if wanted == p] or [
        i for i, p in enumerate(ports) if wanted.lower() in p.lower()
    ]
    if not matches:
        have = ", ".join(ports) or "none"
        raise MidiPortError(f"no MIDI {kind} port matching {wanted!r} via {api} (ports: {have})")
    return matches[0]


def drop(client) -> None:
    """Close an rtmidi client without raising. For one orphaned by a dead JACK server this
    must happen while no server runs: closing it once a new server is up crashes libjack."""
    with contextlib.suppress(Exception):
        client.close_port()
    with contextlib.suppress(Exception):
        client.delete()


class _Orphan:
    """Stands in for an rtmidi client whose server died: sends go nowhere, reads are empty."""

    def send_message(self, data) -> None:
        pass

    def get_message(self) -> None:
        return None

    def get_ports(self) -> list[str]:
        return []

    def close_port(self) -> None:
        pass

    def delete(self) -> None:
        pass


ORPHAN = _Orphan()


def list_ports(api: str) -> tuple[list[str], list[str]]:
    """(input ports, output ports) visible through ``api``; raises MidiPortError."""
    mi = _open("in", api, "improv-probe")
    mo = _open("out", api, "improv-probe")
    try:
        return mi.get_ports(), mo.get_ports()
    finally:
        mi.delete()
        mo.delete()


class RtMidiInput:
    """The player's MIDI input: a virtual port, or connected to a named port."""

    def __init__(self, api: str, port: str, client_name: str = "improv") -> None:
        self.api = resolve_api(api)
        self.wanted = port
        self.client_name = f"{client_name}-in"  # one MIDI client per port: names must differ
        self.overflows = 0
        self.name = ""
        self._mi = self._new_client()

    def _new_client(self):
        mi = _open("in", self.api, self.client_name)
        # sysex and MIDI clock are let through: they are counted (and clock will be followed)
        mi.ignore_types(sysex=False, timing=False, active_sense=True)
        mi.set_error_callback(self._on_error)
        try:
            if self.wanted == "virtual":
                mi.open_virtual_port("in")
                self.name = f"{self.client_name}:in"
            else:
                ports = mi.get_ports()
                idx = _find_port(ports, self.wanted, "input", self.api)
                mi.open_port(idx, "in")
                self.name = ports[idx]
        except BaseException:
            mi.delete()
            raise
        return mi

    def orphan(self):
        """The server died: stop using the client; return it (the caller drops it, before a
        new server runs). Supervisor thread."""
        old, self._mi = self._mi, ORPHAN
        return old

    def renew(self) -> None:
        """A new client and port (after the MIDI server, e.g. JACK, came back). Raises
        MidiPortError if the port cannot be opened (yet). Supervisor thread: the engine
        thread's next ``read`` uses the new client."""
        self._mi = self._new_client()

    def _on_error(self, etype: int, text: str, data: object = None) -> None:
        """rtmidi's error callback (its thread): only count; the engine reports it."""
        self.overflows += 1

    def read(self) -> tuple[list[int], float] | None:
        """Next queued message and its delta in seconds, or None. Engine thread."""
        return self._mi.get_message()

    def close(self) -> None:
        self._mi.close_port()
        self._mi.delete()


class RtMidiOutput:
    """MIDI output: a virtual port others connect to, or our port connected to a named one.

    ``send`` never raises: failures are counted in ``errors`` (the scheduler reports them).
    ``peer_alive()`` says whether a named target port exists; ``connected`` whether our port
    is open to it now (False after a server came back before the peer did); ``reopen()``
    reconnects.
    """

    def __init__(self, api: str, port: str = "virtual", client_name: str = "improv") -> None:
        self.api = resolve_api(api)
        self.wanted = port
        self.client_name = client_name
        self.errors = 0
        self.connected = False
        self._mo = _open("out", self.api, client_name)
        self.name = ""
        self._open_port()

    def _open_port(self) -> None:
        self.connected = False
        if self.wanted == "virtual":
            self._mo.open_virtual_port("out")
            self.name = f"{self.client_name}:out"
        else:
            ports = self._mo.get_ports()
            idx = _find_port(ports, self.wanted, "output", self.api)
            self._mo.open_port(idx, "out")
            self.name = ports[idx]
        self.connected = True

    def send(self, data: tuple[int, ...], t_sec: float) -> None:
        """Send now (``t_sec`` is informational). Scheduler thread."""
        try:
            self._mo.send_message(data)
        except Exception:  # rtmidi raises on a closed/broken port
            self.errors += 1

    def peer_alive(self) -> bool:
        """True for a virtual port, or while the named target port still exists."""
        if self.wanted == "virtual":
            return True
        try:
            return self.name in self._mo.get_ports()
        except Exception:
            return False

    def reopen(self) -> None:
        """Close and reopen the port by name (raises MidiPortError if it is still missing)."""
        self._mo.close_port()
        self._open_port()

    def orphan(self):
        """The server died: stop using the client; return it (the caller drops it, before a
        new server runs). Supervisor thread."""
        old, self._mo = self._mo, ORPHAN
        self.connected = False
        return old

    def renew(self) -> None:
        """A new client (after the MIDI server, e.g. JACK, came back), then its port: a
        missing named port raises MidiPortError, and ``reopen`` can try again later.
        Supervisor thread: the scheduler's next ``send`` uses the new client."""
        self._mo = _open("out", self.api, self.client_name)
        self._open_port()

    def close(self) -> None:
        self._mo.close_port()
        self._mo.delete()


class MemoryInput:
    """An in-memory input for tests: ``push(data, delta_sec)`` then the engine reads it."""

    def __init__(self) -> None:
        self._queue: collections.deque = collections.deque()
        self.overflows = 0

    def push(self, data: Sequence[int], delta_sec: float = 0.0) -> None:
        self._queue.append((list(data), delta_sec))

    def read(self) -> tuple[list[int], float] | None:
        return self._queue.popleft() if self._queue else None

    def close(self) -> None:
        self._queue.clear()


class MemoryOutput:
    """An in-memory output for tests: keeps every message sent, with its time."""

    def __init__(self) -> None:
        self.sent: list[SentMidi] = []
        self.errors = 0

    connected = True  # always open: nothing to reconnect

    def send(self, data: tuple[int, ...], t_sec: float) -> None:
        self.sent.append(SentMidi(t_sec, tuple(data)))

    def peer_alive(self) -> bool:
        return True

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        pass


class MidiTimestamper:
    """Turns (arrival time, rtmidi delta) into ``t_sec`` on the engine clock.

    rtmidi's deltas come from the MIDI system's own clock (JACK frame time, ALSA queue
    time) and keep the exact spacing of a burst that arrives in one cycle. The first
    message, and any whose delta-predicted time disagrees with its arrival by more than
    ``max_skew_sec``, is anchored to its arrival time instead.
    """

    def __init__(self, max_skew_sec: float = 0.02) -> None:
        self.max_skew_sec = max_skew_sec
        self._last_t_sec: float | None = None

    def stamp(self, arrival_t_sec: float, delta_sec: float) -> float:
        last = self._last_t_sec
        t = arrival_t_sec
        if last is not None:
            predicted = last + delta_sec
            if arrival_t_sec - self.max_skew_sec <= predicted <= arrival_t_sec:
                t = predicted
        self._last_t_sec = t
        return t

    def reset(self) -> None:
        self._last_t_sec = None
