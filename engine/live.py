"""Live: open the real ports, run the engine thread, serve OSC, release everything on exit.

Threads: the main thread runs the engine loop (``Engine.step`` every millisecond); the
scheduler thread sends; one OSC server thread; the JACK server supervisor; the audio
callback thread (PortAudio or libjack); rtmidi's queue.

- SIGINT/SIGTERM and leaving ``run`` release every held note.
- A bad message is never fatal: an OSC datagram whose handling fails is counted
  (``thread_errors``), answered, and the server goes on.
- An exception that escapes the engine loop, the scheduler, the OSC server or the supervisor
  is a bug: every held note is released at the receiver (a panic, and again at close), the
  traceback is logged, ``run`` returns with ``fatal`` saying which thread and what, and
  ``improv run`` exits with status 70 and that message. Playing on with a broken stage could
  hang notes or play nonsense; a clean stop is what a performer can recover from.
- The model's context helper thread is the exception: when it fails the runtime re-primes the
  plain way (counted in ``thread_errors``, logged), and the music goes on.
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
from .faults import FAULTS
from .io.midi import RtMidiInput, RtMidiOutput
from .io.osc import ImprovDispatcher, OscSender, OscServer

log = logging.getLogger(__name__)

EXIT_INTERNAL_ERROR = 70  # EX_SOFTWARE: improv stopped itself after an internal error
NONFATAL_THREADS = frozenset({"improv-reprime"})  # has a fallback (see above)
STEP_SEC = 0.001
GIL_SWITCH_SEC = 0.0005  # ask a GIL holder to yield within 0.5 ms (default 5 ms)


class LiveSession:
    """Everything a live run opens, in the order it must be closed. Main thread."""

    def __init__(self, config: Config, thru: bool = False) -> None:
        self.cfg = config
        self.clock = LiveClock()
        self._closers: list = []
        self.stop_event = threading.Event()
        self.fatal: str | None = None  # what stopped the session, if an error did
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
        a = cfg.audio
        if a.input is not None and (a.input == "jack" or a.input.startswith("jack:")):
            from .io.jackclient import JackAudioInput

            self.audio = JackAudioInput(f"{cfg.midi.client_name}-audio", a.input[5:] or None,
                                        a.samplerate, a.blocksize, a.channel, self.clock)
            self._closers.append(self.audio.close)
        elif a.input is not None:
            from .io.audio import AudioInput

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
        if self.audio is not None and self.audio.backend == "portaudio":
            self._closers.append(self.audio.close)
        self.supervisor = self._make_supervisor(inputs)

    def _make_supervisor(self, inputs: list):
        """A JACK server watch when any port goes through JACK (None otherwise, or when the
        watch cannot start: then a dying server is not survived, and the log says so)."""
        on_jack = self.midi_out.api == "jack" or getattr(self.audio, "backend", "") == "jack"
        if not on_jack:
            return None
        from .io.jackclient import JackUnavailable, JackWatch
        from .supervisor import ServerSupervisor

        try:
            watch = JackWatch(f"{self.cfg.midi.client_name}-watch")
        except JackUnavailable as exc:
            log.warning("no JACK server watch (%s): a JACK restart will not be followed", exc)
            return None
        self._closers.append(watch.close)
        jack_midi = [p for p in (self.midi_out, *inputs) if p.api == "jack"]
        sup = ServerSupervisor(self.engine, watch, jack_midi, self.audio)
        self._closers.append(sup.close)  # closed first of the two: it stops using the watch
        return sup

    def describe(self) -> str:
        e = self.engine
        ins = ", ".join(i.name for i in e.midi_inputs) or "none"
        audio = "off" if self.audio is None else (
            f"JACK {self.audio.port_name}" if self.audio.backend == "jack"
            else f"{self.cfg.audio.input}")
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
            previous_hook(args)  # the traceback, on stderr
            name = args.thread.name if args.thread is not None else "?"
            if name not in NONFATAL_THREADS:
                engine.scheduler.command("panic")
                self.fail(name, args.exc_value)

        threading.excepthook = on_thread_error
        engine.scheduler.on_fatal = self.fail
        engine.start()
        engine.scheduler.start()
        self.osc_server.start()
        if self.audio is not None:
            self.audio.start()
        if self.supervisor is not None:
            self.supervisor.start()
        gc.collect()
        gc.freeze()  # start-up objects never scanned again: shorter GC pauses
        t_end = None if duration_sec is None else self.clock.now() + duration_sec
        try:
            while not self.stop_event.is_set():
                now = self.clock.now()
                if t_end is not None and now >= t_end:
                    break
                try:
                    if FAULTS is not None:
                        FAULTS.check("engine")
                    engine.step(now)
                except Exception as exc:
                    engine.counters.thread_errors += 1
                    engine.scheduler.command("panic")
                    log.exception("engine thread error")
                    self.fail("engine", exc)
                    break
                if self.audio is not None:
                    engine.counters.xruns = self.audio.xruns
                    engine.counters.audio_overflow = self.audio.ring.dropped
                time.sleep(STEP_SEC)
        finally:
            threading.excepthook = previous_hook
            gc.unfreeze()

    def fail(self, thread: str, exc: BaseException) -> None:
        """A thread died of an error: end ``run`` (which releases every note). Any thread."""
        if self.fatal is None:
            self.fatal = f"{type(exc).__name__}: {exc} (in the {thread} thread)"
        self.stop_event.set()

    def install_signal_handlers(self) -> None:
        """SIGINT/SIGTERM end ``run`` cleanly (held notes released). Main thread only."""

        def handler(signum, frame) -> None:
            self.stop_event.set()

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
        if FAULTS is not None:
            FAULTS.install()

    def close(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception:
                log.exception("error while closing")
        self._closers.clear()
