"""A JACK client that survives the server going away: audio input and the server watch.

PortAudio's JACK host API cannot live through a JACK server's death: once the server is gone,
``Pa_AbortStream``, ``Pa_CloseStream`` and ``Pa_Terminate`` hang, and a new stream cannot be
opened in the same process (measured here with PortAudio 19.6 and jackd2). libjack itself
tells a client that the server went away (its shutdown callback), lets it close the dead
client and open a new one when a server is back. So improv talks to JACK directly (through
JACK-Client, the cffi binding to libjack) for two things:

- :class:`JackAudioInput`: the player's audio from a JACK port (``--audio-in jack`` or
  ``jack:PORT``), the same ring and counters as the PortAudio input, and ``reopen()``;
- :class:`JackWatch`: a port-less client whose only job is to notice the server leaving, for
  sessions whose MIDI goes through JACK.

Threads: the process and shutdown callbacks run on libjack's threads and only copy, count
and set flags; ``open``/``reopen``/``close`` run on the supervisor (or main) thread.
"""

from __future__ import annotations

import contextlib
from typing import Any

from .ring import BlockRing


class JackUnavailable(RuntimeError):
    """No JACK server answers (or libjack / JACK-Client is missing); the message says which."""


def _jack():
    try:
        import jack
    except (ImportError, OSError) as exc:
        raise JackUnavailable(f"JACK-Client is not available ({exc}): pip install JACK-Client"
                              ) from None
    return jack


@contextlib.contextmanager
def _quiet_libjack():
    """libjack prints 'Cannot connect to server socket' for every failed open: not here."""
    jack = _jack()
    jack.set_error_function(lambda msg: None)
    jack.set_info_function(lambda msg: None)
    try:
        yield jack
    finally:
        jack.set_error_function(None)
        jack.set_info_function(None)


def open_client(name: str):
    """A new client on the running server (never starts one); JackUnavailable if none."""
    with _quiet_libjack() as jack:
        try:
            return jack.Client(name, no_start_server=True)
        except jack.JackOpenError as exc:
            raise JackUnavailable(f"no JACK server answers ({exc})") from None


def close_quietly(client) -> None:
    """Deactivate and close a client, alive or orphaned by a dead server."""
    with contextlib.suppress(Exception):
        client.deactivate(ignore_errors=True)
    with contextlib.suppress(Exception):
        client.close(ignore_errors=True)


def forget_dead_server(client_names: list[str]) -> int:
    """Remove the per-client wake-up files (``/dev/shm/jack_sem.<uid>_<server>_<client>``,
    jack2's futexes on Linux) that a killed server left behind for these clients. Otherwise
    the new server reuses them, a thread of the old, orphaned client still waits on the same
    futex, and it takes the new client's wake-ups: the new client never finishes a cycle (seen
    here: thousands of "client not finished" xruns). Call once the server is dead, before a
    new one starts. Returns how many files it removed. Supervisor thread."""
    import glob
    import os

    server = os.environ.get("JACK_DEFAULT_SERVER") or "default"
    removed = 0
    for name in client_names:
        for path in glob.glob(f"/dev/shm/jack_sem.*_{glob.escape(server)}_{glob.escape(name)}"):
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed += 1
    return removed


class JackWatch:
    """Notices the JACK server leaving (``lost``) and tries to reach a new one (``reopen``)."""

    def __init__(self, client_name: str) -> None:
        self.client_name = client_name
        self.lost = False
        self.reason = ""
        self._client = None
        self.reopen()

    def _on_shutdown(self, status, reason: str) -> None:
        """libjack's thread: the server is gone. Set the flag, nothing else."""
        self.reason = reason
        self.lost = True

    def release(self) -> None:
        """Close the client orphaned by a dead server. Call it before a new server runs:
        libjack crashes closing an old client once a new server is up."""
        if self._client is not None:
            close_quietly(self._client)
            self._client = None

    def reopen(self) -> None:
        """Open a new client on the server now running (JackUnavailable if none)."""
        self.release()
        client = open_client(self.client_name)
        client.set_shutdown_callback(self._on_shutdown)
        client.activate()
        self._client = client
        self.lost = False

    def close(self) -> None:
        if self._client is not None:
            close_quietly(self._client)
            self._client = None


class JackAudioInput:
    """The player's audio from a JACK input port into a :class:`BlockRing`.

    ``source``: the JACK port to connect from (``system:capture_1``...), or None for the
    physical capture port number ``channel`` (what PortAudio would connect). The server's
    period must be a multiple of ``blocksize`` (each period is pushed in blocks); a server
    that comes back with another sample rate, or a period that is not a multiple, is refused
    by ``reopen`` with a message saying so.
    """

    backend = "jack"

    def __init__(self, client_name: str, source: str | None, samplerate: int, blocksize: int,
                 channel: int, clock: Any, ring_blocks: int = 512) -> None:
        self.client_name = client_name
        self.source = source
        self.channel = channel
        self.samplerate = samplerate
        self.blocksize = blocksize
        self.ring = BlockRing(ring_blocks, blocksize)
        self.xruns = 0
        self.lost = False
        self._now = clock.now
        self._started = False
        self._t_last_push_sec = None  # when the last period arrived (process thread)
        self._client = None
        self._port = None
        self._open()

    def _open(self) -> None:
        client = open_client(self.client_name)
        try:
            if client.samplerate != self.samplerate:
                raise JackUnavailable(
                    f"the JACK server runs at {client.samplerate} Hz, improv listens at "
                    f"{self.samplerate} Hz (set audio.samplerate to match)")
            if client.blocksize % self.blocksize:
                raise JackUnavailable(
                    f"the JACK period ({client.blocksize} frames) is not a multiple of "
                    f"audio.blocksize ({self.blocksize})")
            port = client.inports.register("in")
            client.set_process_callback(self._process)
            client.set_xrun_callback(self._on_xrun)
            client.set_shutdown_callback(self._on_shutdown)
        except BaseException:
            close_quietly(client)
            raise
        self._client, self._port = client, port
        self.lost = False

    def _process(self, frames: int) -> None:
        """libjack's process thread: copy the period into the ring, block by block."""
        buf = self._port.get_array()
        t_sec = self._now()
        self._t_last_push_sec = t_sec
        bs = self.blocksize
        for k in range(0, frames, bs):
            self.ring.push(buf[k:k + bs], t_sec)

    def _on_xrun(self, delay_usec: float) -> None:
        self.xruns += 1

    def _on_shutdown(self, status, reason: str) -> None:
        """libjack's thread: the server is gone."""
        self.lost = True

    def _connect(self) -> None:
        client = self._client
        if self.source:
            client.connect(self.source, self._port)
            return
        physical = client.get_ports(is_audio=True, is_output=True, is_physical=True)
        if len(physical) > self.channel:
            client.connect(physical[self.channel], self._port)

    @property
    def port_name(self) -> str:
        return self._port.name if self._port is not None else ""

    def start(self) -> JackAudioInput:
        self._client.activate()
        self._connect()
        self._started = True
        return self

    def release(self) -> None:
        """Close the client orphaned by a dead server (before a new server runs: see
        :meth:`JackWatch.release`)."""
        if self._client is not None:
            close_quietly(self._client)  # its callbacks have stopped once this returns
            self._client = self._port = None

    def reopen(self) -> None:
        """After the server came back: a new client, the same ring (JackUnavailable if the
        server is not there yet or does not fit)."""
        self.release()
        self._open()
        if self._t_last_push_sec is not None:
            # the frames the server never delivered count as time gone by: the engine hears
            # them as silence, and the listener's frame clock stays on the session clock
            bs = self.blocksize
            gap = int((self._now() - self._t_last_push_sec) * self.samplerate) // bs - 1
            self.ring.frames_in += max(0, gap) * bs
        if self._started:
            self.start()

    def close(self) -> None:
        if self._client is not None:
            close_quietly(self._client)
            self._client = None
