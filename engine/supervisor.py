"""The server supervisor: the JACK server going away mid-performance, and coming back.

When JACK dies, every JACK port improv has dies with it (MIDI in and out, a JACK audio input),
but the session does not: the engine keeps its tempo, key, roles, controls and the model's
context, OSC keeps answering (``/improv/reason`` says what happened) and a Max/Pd patcher
keeps getting ``/improv/beat``. The supervisor notices (libjack's shutdown callback, through
:class:`~engine.io.jackclient.JackWatch` or the JACK audio input), counts it
(``server_lost``), and tells the scheduler which notes were sounding. Then it tries, every
``interval_sec``, to reach a server again; when one answers it opens new clients for the MIDI
output and inputs and the audio input, and the scheduler sends note-offs for every note that
was sounding plus all-notes-off / all-sound-off on all 16 channels (``server_back``), so no
note hangs at a receiver that outlived the server.

A PortAudio audio input cannot follow (PortAudio's JACK host API hangs on a dead server): it
is abandoned -- never touched again, so the process can still exit -- and the message says to
use ``--audio-in jack``.

Thread: its own (``improv-supervisor``), waking every ``interval_sec``; ``poll`` is what it
runs each time (tests call it directly).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from . import protocol
from .faults import FAULTS
from .io.jackclient import JackUnavailable, forget_dead_server
from .io.midi import drop
from .scheduler import CMD_OUTPUT_BACK, CMD_OUTPUT_LOST, OSC_EV

log = logging.getLogger(__name__)

ORPHAN_GRACE_SEC = 0.05  # after the stand-ins are in: any call into an old client is over


class ServerSupervisor:
    """``midi_ports``: the MIDI ports that go through JACK (the output first if it does; ALSA
    ports live on without JACK and are not touched); ``audio``: the audio input, if any."""

    def __init__(self, engine: Any, watch: Any, midi_ports: list, audio: Any = None,
                 interval_sec: float = 0.25) -> None:
        self.engine = engine
        self.watch = watch
        self.midi_ports = list(midi_ports)
        self.output_on_jack = engine.midi_out in self.midi_ports
        self.audio = audio
        self.interval_sec = interval_sec
        self.away = False
        self.t_lost_sec = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the supervisor thread ---------------------------------------------------------------
    def poll(self) -> None:
        """Notice a loss, or try to come back from one."""
        audio_lost = getattr(self.audio, "lost", False)
        if not self.away and (self.watch.lost or audio_lost):
            self._lost()
        elif self.away:
            self._try_back()

    def _report(self, text: str) -> None:
        e = self.engine
        if e.osc_out is not None:
            e.scheduler.submit(e.clock.now(), OSC_EV, (protocol.ERROR, ["jack", text]))

    def _lost(self) -> None:
        e = self.engine
        self.away = True
        self.t_lost_sec = time.monotonic()
        e.server_away = True
        e.counters.server_lost += 1
        if self.output_on_jack:
            e.scheduler.command(CMD_OUTPUT_LOST)
        self._release_orphans()
        why = getattr(self.watch, "reason", "") or "shut down"
        log.error("the JACK server went away (%s): improv keeps its state and waits for it",
                  why)
        self._report("jack server lost: waiting for it (state kept)")
        if self.audio is not None and self.audio.backend == "portaudio":
            self.audio.abandon()
            log.error("the PortAudio audio input cannot be reopened in this process "
                      "(PortAudio's JACK host API does not survive the server): audio input "
                      "is off until improv restarts; use --audio-in jack to keep it")
            self.audio = None

    def _release_orphans(self) -> None:
        """Every client of the dead server is closed now, while no server runs (libjack
        crashes closing them once a new one is up). The MIDI ports first get a stand-in,
        so the engine and scheduler threads stop touching the old clients; after a pause
        far longer than any one call into them, the old clients are closed."""
        orphans = [port.orphan() for port in self.midi_ports]
        time.sleep(ORPHAN_GRACE_SEC)
        for client in orphans:
            drop(client)
        self.watch.release()
        names = [port.client_name for port in self.midi_ports] + [self.watch.client_name]
        if self.audio is not None and self.audio.backend == "jack":
            self.audio.release()
            names.append(self.audio.client_name)
        forget_dead_server(names)

    def _try_back(self) -> None:
        try:
            self.watch.reopen()
        except JackUnavailable:
            return  # not yet
        e = self.engine
        problems = []
        output_back = False
        for port in self.midi_ports:
            try:
                port.renew()
                log.info("MIDI port reopened: %s", port.name)
                output_back = output_back or port is e.midi_out
            except Exception as exc:  # a named peer not back yet: reconnected when it is
                problems.append(str(exc))
        if self.audio is not None:
            try:
                self.audio.reopen()
            except JackUnavailable as exc:
                problems.append(f"audio input: {exc}")
        if output_back:
            e.scheduler.command(CMD_OUTPUT_BACK)
        # else the owed note-offs wait for the peer: the engine reconnects the output when
        # the peer appears, and the scheduler pays them then (CMD_RECONNECT)
        e.counters.server_back += 1
        e.server_away = False
        self.away = False
        away_sec = time.monotonic() - self.t_lost_sec
        log.warning("the JACK server is back after %.1f s: ports reopened, every note "
                    "released at the receiver%s", away_sec,
                    "; but " + "; ".join(problems) if problems else "")
        if problems:
            self._report("jack server back; " + "; ".join(problems))

    # -- lifetime (main thread) --------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.wait(self.interval_sec):
            if FAULTS is not None:
                FAULTS.check("supervisor")
            self.poll()

    def start(self) -> ServerSupervisor:
        self._thread = threading.Thread(target=self._loop, name="improv-supervisor",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
