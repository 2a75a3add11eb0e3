"""Integration fixtures: real processes, no mocks.

- ``jack_server`` (session): a private ``jackd -d dummy`` (name ``improv-test-<pid>``); every
  client of the test process and of its subprocesses talks to it through
  ``JACK_DEFAULT_SERVER``. Killed by PID at the end.
- ``improv``: starts ``improv run`` as a subprocess (JACK MIDI, OSC on a free port) and
  stops it at the end of the test.
- ``midi_recorder`` / ``midi_sender``: rtmidi JACK ports connected to a named port. The
  recorder polls ``get_message()`` (rtmidi's Python callback mangles bursts on JACK).
- ``osc_client``: a UDP socket that sends OSC and waits for replies.
- ``require_tool(name)``: a missing tool skips the test, or fails it when ``CI=true``.
- ``retake``: plays a timing-sensitive take again if it failed while the host could not keep
  real time (JACK xruns, or the test's own player sending late); a clean take must pass.

Helpers are handed to tests through fixtures (no ``import conftest``), so the module works
under any pytest import mode.
"""

from __future__ import annotations

import ctypes.util
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import build_msg

from engine import protocol
from engine.events import SentMidi

JACK_BOOT_TIMEOUT_SEC = 10.0
ENGINE_BOOT_TIMEOUT_SEC = 20.0
PORT_TIMEOUT_SEC = 10.0
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")

_names = itertools.count(1)


# -- tools --------------------------------------------------------------------------------
def _have_python_module(module: str) -> str | None:
    """None when ``module`` imports, else the reason it does not."""
    try:
        __import__(module)
    except (ImportError, OSError) as exc:  # OSError: the shared library behind it is missing
        return f"{type(exc).__name__}: {exc}"
    return None


def _missing_reason(name: str) -> str | None:
    if name == "JACK-Client":
        return _have_python_module("jack")
    if name == "libportaudio":
        if ctypes.util.find_library("portaudio") is None:
            return "libportaudio2 is not installed"
        return _have_python_module("sounddevice")
    if name == "FluidR3_GM.sf2":
        return None if SOUNDFONT.exists() else f"{SOUNDFONT} not found (fluid-soundfont-gm)"
    return None if shutil.which(name) else f"{name!r} not found on PATH"


def require_tool(name: str) -> None:
    """Skip the calling test when ``name`` (a program on PATH, ``libportaudio``,
    ``JACK-Client`` or ``FluidR3_GM.sf2``) is missing; fail it instead when CI=true."""
    reason = _missing_reason(name)
    if reason is None:
        return
    msg = f"integration test needs {name}: {reason}"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


@pytest.fixture
def require():
    """``require(name)`` inside a test: see :func:`require_tool`."""
    return require_tool


def unique_name(tag: str) -> str:
    """A JACK client name no earlier test of this session used."""
    return f"{tag}-{os.getpid()}-{next(_names)}"


# -- JACK ---------------------------------------------------------------------------------
def jack_ports() -> list[str]:
    """Every port on the test server (``jack_lsp``); [] when it does not answer."""
    try:
        r = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        return []
    return r.stdout.split("\n") if r.returncode == 0 else []


def wait_for(predicate, timeout_sec: float, what: str, interval_sec: float = 0.02):
    """Poll ``predicate()`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout_sec
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_sec:g} s waiting for {what}")
        time.sleep(interval_sec)


def wait_for_port(name: str, present: bool = True, timeout_sec: float = PORT_TIMEOUT_SEC):
    state = "appear" if present else "disappear"
    wait_for(lambda: (name in jack_ports()) == present, timeout_sec,
             f"JACK port {name!r} to {state} (ports: {jack_ports()})", 0.05)


def _stop_process(proc: subprocess.Popen, timeout_sec: float = 5.0) -> None:
    """SIGTERM by PID, wait; SIGKILL if it does not go."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_sec)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_sec)


class JackServer:
    def __init__(self, name: str, proc: subprocess.Popen, log_path: Path) -> None:
        self.name = name
        self.proc = proc
        self.log_path = log_path


def _start_jackd(name: str, extra: list[str], log_path: Path) -> subprocess.Popen | None:
    cmd = ["jackd", "-n", name, *extra, "-d", "dummy", "-r", "48000", "-p", "128"]
    with open(log_path, "ab") as log:
        log.write(f"\n$ {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + JACK_BOOT_TIMEOUT_SEC
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        if "system:capture_1" in jack_ports():
            return proc
        time.sleep(0.1)
    _stop_process(proc)
    return None


@pytest.fixture(scope="session")
def jack_server(tmp_path_factory):
    """A private JACK server with the dummy driver, for the whole session."""
    require_tool("jackd")
    require_tool("jack_lsp")
    name = f"improv-test-{os.getpid()}"
    keys = ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ["JACK_DEFAULT_SERVER"] = name  # inherited by every subprocess
    os.environ["JACK_NO_START_SERVER"] = "1"  # never let a client spawn another server
    log_path = tmp_path_factory.mktemp("jack") / "jackd.log"
    proc = None
    try:
        proc = _start_jackd(name, [], log_path)  # realtime (root / rtprio allowed)
        if proc is None:
            proc = _start_jackd(name, ["--no-realtime"], log_path)
        if proc is None:
            pytest.fail(f"jackd -n {name} -d dummy did not start:\n{log_path.read_text()}")
        yield JackServer(name, proc, log_path)
    finally:
        if proc is not None:
            _stop_process(proc)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class PrivateJack:
    """A JACK server of one's own, to kill and restart (``kill``/``start``) without
    touching the session's. Clients created while it is current (``JACK_DEFAULT_SERVER``
    points at it for the test's duration) talk to it; so do subprocesses started then."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = _start_jackd(self.name, [], self.log_path) or _start_jackd(
            self.name, ["--no-realtime"], self.log_path)
        if self.proc is None:
            pytest.fail(f"jackd -n {self.name} did not start:\n{self.log_path.read_text()}")

    def kill(self) -> None:
        """SIGKILL: the server dies the way a crash kills it, telling no client."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None


@pytest.fixture
def private_jack(jack_server, monkeypatch, tmp_path):
    """A started :class:`PrivateJack`, current for this test; killed at the end."""
    server = PrivateJack(f"improv-private-{os.getpid()}-{next(_names)}", tmp_path / "jackd.log")
    monkeypatch.setenv("JACK_DEFAULT_SERVER", server.name)
    server.start()
    yield server
    if server.proc is not None:  # a clean stop frees its slot in libjack's server table
        _stop_process(server.proc)
    # the wake-up files a killed server's clients left behind (jack2 never removes them)
    for path in Path("/dev/shm").glob(f"jack_sem.*_{server.name}_*"):
        path.unlink(missing_ok=True)


# -- OSC ----------------------------------------------------------------------------------
class OscClient:
    """A UDP socket on loopback: ``send`` OSC messages or raw bytes, ``receive`` replies."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[tuple[str, list]] = []  # everything receive() has seen

    def send(self, port: int, address: str, *args) -> None:
        self.sock.sendto(build_msg(address, list(args)).dgram, ("127.0.0.1", port))

    def send_raw(self, port: int, data: bytes) -> None:
        self.sock.sendto(data, ("127.0.0.1", port))

    def receive(self, address: str | None = None, timeout_sec: float = 5.0):
        """The next message (with ``address``, if given), or None after ``timeout_sec``."""
        deadline = time.monotonic() + timeout_sec
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65536)
            except TimeoutError:
                return None
            msg = OscMessage(data)
            item = (msg.address, list(msg.params))
            self.received.append(item)
            if address is None or msg.address == address:
                return item

    def request(self, port: int, address: str, *args, reply: str | None = None,
                timeout_sec: float = 5.0) -> list:
        """Send and return the arguments of the first reply at ``reply`` (default: the same
        address); fails the test if none comes."""
        self.send(port, address, *args)
        got = self.receive(reply or address, timeout_sec)
        assert got is not None, f"no {reply or address} reply to {address} within {timeout_sec} s"
        return got[1]

    def close(self) -> None:
        self.sock.close()


def parse_status(args: list) -> tuple[str, dict[str, int]]:
    """``/improv/status`` arguments -> (state, {counter: value})."""
    state, rest = args[0], args[1:]
    assert len(rest) % 2 == 0, f"status pairs are odd: {args}"
    return state, dict(zip(rest[0::2], rest[1::2]))


@pytest.fixture
def osc_client():
    clients: list[OscClient] = []

    def make() -> OscClient:
        c = OscClient()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


# -- the engine as a subprocess -------------------------------------------------------------
class ImprovProcess:
    """``improv run`` over JACK MIDI with its OSC port parsed from its start-up line."""

    def __init__(self, workdir: Path, client_name: str, tempo: float = 120.0,
                 midi_in: str | None = "virtual", midi_out: str | None = None,
                 osc_out: str | None = None, extra: tuple[str, ...] = ()) -> None:
        self.client_name = client_name
        self.out_port = f"{client_name}:out"
        self.in_port = f"{client_name}-in:in"
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / f"{client_name}.toml"
        config.write_text(f'[midi]\nclient_name = "{client_name}"\n')
        self.stdout_path = workdir / f"{client_name}.stdout"
        self.stderr_path = workdir / f"{client_name}.stderr"
        cmd = [sys.executable, "-m", "engine.cli", "run", "--config", str(config),
               "--midi-api", "jack", "--osc-port", "0", "--osc-out", osc_out or "none",
               "--tempo", f"{tempo:g}"]
        if midi_in:
            cmd += ["--midi-in", midi_in]
        if midi_out:
            cmd += ["--midi-out", midi_out]
        cmd += list(extra)
        self.cmd = cmd
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        self.osc = OscClient()
        self.osc_port = self._wait_started()

    def _wait_started(self) -> int:
        deadline = time.monotonic() + ENGINE_BOOT_TIMEOUT_SEC
        while time.monotonic() < deadline:
            m = re.search(r"OSC in [^\s:]+:(\d+)", self.stdout())
            if m:
                port = int(m.group(1))
                # the OSC thread starts just after the line: wait until it answers
                for _ in range(20):
                    self.osc.send(port, protocol.VERSION)
                    if self.osc.receive(protocol.VERSION, 0.5) is not None:
                        return port
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"improv did not start: {' '.join(self.cmd)}\n{self.logs()}")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def logs(self) -> str:
        return (f"--- improv exit code {self.proc.poll()}\n--- stdout:\n{self.stdout()}"
                f"--- stderr:\n{self.stderr()}")

    def request(self, address: str, *args, reply: str | None = None,
                timeout_sec: float = 5.0) -> list:
        return self.osc.request(self.osc_port, address, *args, reply=reply,
                                timeout_sec=timeout_sec)

    def status(self) -> tuple[str, dict[str, int]]:
        return parse_status(self.request(protocol.STATUS))

    def wait_status(self, predicate, timeout_sec: float, what: str):
        """Poll /improv/status until ``predicate(state, counters)``; return (state, counters)."""
        deadline = time.monotonic() + timeout_sec
        while True:
            state, counters = self.status()
            if predicate(state, counters):
                return state, counters
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout_sec:g} s waiting for {what}; "
                            f"last status {state} {counters}\n{self.logs()}")
            time.sleep(0.1)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout_sec: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout_sec)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        _stop_process(self.proc)
        self.osc.close()


@pytest.fixture
def improv(jack_server, tmp_path):
    """``improv(tag, **kwargs)`` starts an engine subprocess (see :class:`ImprovProcess`)."""
    started: list[ImprovProcess] = []

    def start(tag: str = "improv", **kwargs) -> ImprovProcess:
        p = ImprovProcess(tmp_path / "improv", unique_name(tag), **kwargs)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()
        print(p.logs())  # shown by pytest only when the test failed


# -- MIDI over JACK -----------------------------------------------------------------------
def _rtmidi():
    import rtmidi

    return rtmidi


def _open_connected(midi, port_name: str, our_port: str) -> None:
    """Open our port connected to the JACK port ``port_name`` (waiting until it exists)."""

    def listed():
        ports = midi.get_ports()
        return ports if port_name in ports else None

    ports = wait_for(listed, PORT_TIMEOUT_SEC, f"MIDI port {port_name!r}", 0.05)
    midi.open_port(ports.index(port_name), our_port)


class MidiRecorder:
    """An rtmidi JACK input connected to ``source``; a thread polls ``get_message()`` and
    stamps each message with ``time.monotonic()``."""

    def __init__(self, source: str, client_name: str, sysex: bool = False) -> None:
        rtmidi = _rtmidi()
        self.client_name = client_name
        self._mi = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name=client_name,
                                 queue_size_limit=16384)
        self._mi.ignore_types(sysex=not sysex, timing=True, active_sense=True)
        _open_connected(self._mi, source, "in")
        self.port = f"{client_name}:in"
        self.messages: list[SentMidi] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"rec-{client_name}",
                                        daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        get = self._mi.get_message
        while not self._stop.is_set():
            item = get()
            if item is None:
                time.sleep(0.0005)
                continue
            t = time.monotonic()
            with self._lock:
                self.messages.append(SentMidi(t, tuple(item[0])))

    def snapshot(self) -> list[SentMidi]:
        with self._lock:
            return list(self.messages)

    def note_ons(self) -> list[SentMidi]:
        return [m for m in self.snapshot()
                if len(m.data) == 3 and m.data[0] & 0xF0 == 0x90 and m.data[2] > 0]

    def stop(self) -> list[SentMidi]:
        self._stop.set()
        self._thread.join(timeout=2.0)
        return self.snapshot()

    def close(self) -> None:
        """Idempotent."""
        self.stop()
        if self._mi is not None:
            self._mi.close_port()
            self._mi.delete()
            self._mi = None


class MidiSender:
    """An rtmidi JACK output connected to ``target``; ``send`` returns the monotonic time."""

    def __init__(self, target: str, client_name: str) -> None:
        rtmidi = _rtmidi()
        self.client_name = client_name
        self._mo = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=client_name)
        _open_connected(self._mo, target, "out")
        self.port = f"{client_name}:out"

    def send(self, data) -> float:
        t = time.monotonic()
        self._mo.send_message(list(data))
        return t

    def close(self) -> None:
        """Idempotent. For a client whose JACK server died, call it before a new server
        starts: libjack crashes closing an orphaned client once a new server is up."""
        if self._mo is not None:
            self._mo.close_port()
            self._mo.delete()
            self._mo = None


@pytest.fixture
def midi_recorder(jack_server):
    made: list[MidiRecorder] = []

    def make(source: str, sysex: bool = False) -> MidiRecorder:
        rec = MidiRecorder(source, unique_name("rec"), sysex=sysex)
        made.append(rec)
        wait_for_port(rec.port)
        return rec

    yield make
    for rec in made:
        rec.close()


@pytest.fixture
def midi_sender(jack_server):
    made: list[MidiSender] = []

    def make(target: str) -> MidiSender:
        snd = MidiSender(target, unique_name("snd"))
        made.append(snd)
        wait_for_port(snd.port)
        return snd

    yield make
    for snd in made:
        snd.close()


PEER_SCRIPT = '''
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


class MidiPeer:
    """Another process (a synth, say) owning the JACK MIDI input ``<name>:in``; it prints
    what it receives, one JSON list a line, to ``log``."""

    def __init__(self, script: Path, name: str, log: Path) -> None:
        self.port = f"{name}:in"
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, str(script), name], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def messages(self) -> list[list[int]]:
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("[")]

    def note_ons(self) -> list[list[int]]:
        return [m for m in self.messages() if len(m) == 3 and m[0] & 0xF0 == 0x90 and m[2] > 0]

    def stop(self) -> None:
        _stop_process(self.proc)


@pytest.fixture
def midi_peer(jack_server, tmp_path):
    """``midi_peer(name)`` starts a :class:`MidiPeer` and waits for its port."""
    made: list[MidiPeer] = []
    script = tmp_path / "midi_peer.py"
    script.write_text(PEER_SCRIPT)

    def make(name: str) -> MidiPeer:
        peer = MidiPeer(script, name, tmp_path / f"peer-{len(made) + 1}.log")
        made.append(peer)
        wait_for_port(peer.port)
        return peer

    yield make
    for peer in made:
        peer.stop()


def sounding(messages) -> set[tuple[int, int]]:
    """(channel, pitch) of the notes still on at the end of ``messages`` (SentMidi)."""
    on: set[tuple[int, int]] = set()
    for m in messages:
        if len(m.data) != 3:
            continue
        status, key = m.data[0] & 0xF0, (m.data[0] & 0x0F, m.data[1])
        if status == 0x90 and m.data[2] > 0:
            on.add(key)
        elif status in (0x80, 0x90):
            on.discard(key)
    return on


def wait_silent(recorder, timeout_sec: float = 5.0) -> None:
    """Wait until no note is sounding at ``recorder`` (the last note-offs arrived)."""
    wait_for(lambda: not sounding(recorder.snapshot()), timeout_sec,
             f"silence at {recorder.port} (sounding: {sounding(recorder.snapshot())})", 0.01)


def wait_connected(port_a: str, port_b: str, timeout_sec: float = PORT_TIMEOUT_SEC) -> None:
    """Wait until ``jack_lsp -c`` shows ``port_a`` connected to ``port_b``."""

    def connected() -> bool:
        r = subprocess.run(["jack_lsp", "-c", port_a], capture_output=True, text=True,
                           timeout=5)
        return any(line.strip() == port_b for line in r.stdout.splitlines()[1:])

    wait_for(connected, timeout_sec, f"{port_a} -> {port_b} connection", 0.05)


class TakeInvariant(Exception):
    """A check that no stall of the host excuses: a take that fails it is not played again."""


class TakeMonitor:
    """What can spoil a take besides the code under test, on a shared machine: the JACK
    server's xruns (counted by a client of its own, from JACK's thread), how late the test's
    own player sent its events (``late(seconds)``, from the test thread) and, where a take
    reports it (``engine_late(seconds)``), the latest the engine's scheduler sent an event by
    its own clock: a stall of the engine's process that neither JACK nor the player sees."""

    def __init__(self, client_name: str) -> None:
        import jack

        self.xruns = 0
        self.late_sec = 0.0
        self.late_limit_sec = 0.005  # a player's event sent later than this: the host stalled
        self.engine_late_sec = 0.0
        self.engine_late_limit_sec = 0.010  # the engine's own event this late: it was held up
        self.client = jack.Client(client_name, no_start_server=True)
        self.client.set_xrun_callback(self._xrun)
        self.client.activate()

    def _xrun(self, delayed_usecs: float) -> None:
        self.xruns += 1

    def late(self, seconds: float) -> None:
        self.late_sec = max(self.late_sec, seconds)

    def engine_late(self, seconds: float) -> None:
        self.engine_late_sec = max(self.engine_late_sec, seconds)

    def must(self, condition: bool, message: str) -> None:
        """An invariant of every take, disturbed or not (raises :class:`TakeInvariant`)."""
        if not condition:
            raise TakeInvariant(message)

    def start_take(self) -> None:
        self.xruns, self.late_sec, self.engine_late_sec = 0, 0.0, 0.0

    def disturbed(self) -> str:
        """'' for a clean take, else what disturbed it."""
        why = []
        if self.xruns:
            why.append(f"{self.xruns} JACK xruns")
        if self.late_sec > self.late_limit_sec:
            why.append(f"the test's player up to {self.late_sec * 1e3:.1f} ms late")
        if self.engine_late_sec > self.engine_late_limit_sec:
            why.append(f"the engine's scheduler up to {self.engine_late_sec * 1e3:.1f} ms late "
                       "by its own clock")
        return ", ".join(why)

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


@pytest.fixture
def retake(jack_server, require):
    """``retake(take, attempts=3, late_sec=0.005)``: run ``take(monitor)`` (a whole take:
    start, play, check; ``monitor`` is a :class:`TakeMonitor`). A take that fails a timing
    check (an assert) or times out waiting while the host could not keep real time (JACK
    xruns, the test's own player more than ``late_sec`` late, or the engine's scheduler more
    than 10 ms late by its own clock where the take reports it) is played again, at most
    ``attempts`` times, with a warning that names what failed; a clean take that fails fails
    the test at once, and so does the last attempt (its error chained) and any
    ``monitor.must`` invariant."""
    require("JACK-Client")
    monitor = TakeMonitor(unique_name("xruns"))

    def run(take, attempts: int = 3, late_sec: float = 0.005):
        monitor.late_limit_sec = late_sec
        failures = []
        for attempt in range(attempts):
            monitor.start_take()
            try:
                return take(monitor)
            except (AssertionError, pytest.fail.Exception) as exc:  # a check or a wait_for
                time.sleep(0.05)  # JACK reports an xrun from its own thread, periods later
                why = monitor.disturbed()
                if not why:
                    raise
                failures.append(f"{why}: {str(exc).splitlines()[0] if str(exc) else exc!r}")
                if attempt == attempts - 1:
                    raise AssertionError(
                        f"every take was disturbed and failed a check: {failures}") from exc
                warnings.warn(f"take {attempt + 1} failed while disturbed, played again: "
                              f"{failures[-1]}", stacklevel=2)

    yield run
    monitor.close()


@pytest.fixture
def helpers():
    """The module's helper functions, for tests (which do not import conftest)."""
    return SimpleNamespace(
        wait_for=wait_for, wait_for_port=wait_for_port, wait_connected=wait_connected,
        jack_ports=jack_ports, unique_name=unique_name, parse_status=parse_status,
        require_tool=require_tool, stop_process=_stop_process, sounding=sounding,
        wait_silent=wait_silent,
    )
