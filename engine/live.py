"""Live: open the real ports, run the engine thread, serve OSC, release everything on exit.

Threads: the main thread runs the engine loop (``Engine.step`` every millisecond); the
scheduler thread sends; one OSC server thread; PortAudio's callback thread; rtmidi's queue.
SIGINT/SIGTERM, an exception in the engine or scheduler thread (or any thread that dies of
one), and leaving ``run`` all release held notes; an OSC datagram whose handler fails is
counted (``thread_errors``) and answered, and the server goes on.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
import time

from .clock import LiveClock
from .config import Config, parse_host_port
from .engine import Engine
from .io.midi import RtMidiInput, RtMidiOutput
from .io.osc import ImprovDispatcher, OscSender, OscServer

log = logging.getLogger(__name__)

STEP_SEC = 0.001
GIL_SWITCH_SEC = 0.0005  # ask a GIL holder to yield within 0.5 ms (default 5 ms)


class LiveSession:
    """Everything a live run opens, in the order it must be closed. Main thread."""

    def __init__(self, config: Config, thru: bool = False) -> None:
        self.cfg = config
        self.clock = LiveClock()
        self._closers: list = []
        self.stop_event = threading.Event()
        try:
            self._open(thru)
        except BaseException:
            self.close()
            raise

    def _open(self, thru: bool) -> None:
        cfg = self.cfg
        self.midi_out = RtMidiOutput(cfg.midi.api, cfg.midi.output, cfg.midi.client_name)
        self._closers.append(self.midi_out.close)
        inputs = []
        if cfg.midi.input:
            inp = RtMidiInput(cfg.midi.api, cfg.midi.input, cfg.midi.client_name)
            self._closers.append(inp.close)
            inputs.append(inp)
        self.osc_out = None
        if cfg.osc.out:
            self.osc_out = OscSender(*parse_host_port(cfg.osc.out, "osc.out"))
            self._closers.append(self.osc_out.close)
        self.audio = None
        if cfg.audio.input is not None:
            from .io.audio import AudioInput

            a = cfg.audio
            self.audio = AudioInput(a.input, a.samplerate, a.blocksize, a.channel, self.clock)
        self.engine = Engine(
            cfg, self.clock, self.midi_out, midi_inputs=inputs, osc_out=self.osc_out,
            audio_ring=self.audio.ring if self.audio else None,
            audio_samplerate=cfg.audio.samplerate, live=True, thru=thru,
        )
        self._closers.append(self.engine.close)  # runs first: releases notes before ports close
        dispatcher = ImprovDispatcher(
            self.engine.handlers(), self.engine.counters,
            monitor=self.osc_out.send if self.osc_out else None,
        )
        self.osc_server = OscServer(dispatcher, cfg.osc.host, cfg.osc.port, cfg.osc.allow)
        self._closers.append(self.osc_server.close)
        if self.audio is not None:
            self._closers.append(self.audio.close)

    def describe(self) -> str:
        e = self.engine
        ins = ", ".join(i.name for i in e.midi_inputs) or "none"
        audio = f"{self.cfg.audio.input}" if self.audio else "off"
        return (f"improv: MIDI in [{ins}] -> out [{self.midi_out.name}] via {self.midi_out.api}; "
                f"audio in {audio}; OSC in {self.osc_server.host}:{self.osc_server.port}, "
                f"out {self.cfg.osc.out or 'off'}; tempo {e.bpm:g} BPM")

    def run(self, duration_sec: float | None = None) -> None:
        """Run until stopped (signal, ``stop_event``) or ``duration_sec`` passes."""
        engine = self.engine
        sys.setswitchinterval(GIL_SWITCH_SEC)
        previous_hook = threading.excepthook

        def on_thread_error(args) -> None:
            engine.counters.thread_errors += 1
            engine.scheduler.command("panic")
            previous_hook(args)

        threading.excepthook = on_thread_error
        engine.start()
        engine.scheduler.start()
        self.osc_server.start()
        if self.audio is not None:
            self.audio.start()
        gc.collect()
        gc.freeze()  # start-up objects never scanned again: shorter GC pauses
        t_end = None if duration_sec is None else self.clock.now() + duration_sec
        errors_logged = 0
        try:
            while not self.stop_event.is_set():
                now = self.clock.now()
                if t_end is not None and now >= t_end:
                    break
                try:
                    engine.step(now)
                except Exception:
                    engine.counters.thread_errors += 1
                    engine.scheduler.command("panic")  # rate-limited in the scheduler
                    if errors_logged < 10:
                        errors_logged += 1
                        log.exception("engine error: notes released, still running")
                if self.audio is not None:
                    engine.counters.xruns = self.audio.xruns
                    engine.counters.audio_overflow = self.audio.ring.dropped
                time.sleep(STEP_SEC)
        finally:
            threading.excepthook = previous_hook
            gc.unfreeze()

    def install_signal_handlers(self) -> None:
        """SIGINT/SIGTERM end ``run`` cleanly (held notes released). Main thread only."""

        def handler(signum, frame) -> None:
            self.stop_event.set()

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def close(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception:
                log.exception("error while closing")
        self._closers.clear()
