"""The output scheduler: a priority queue keyed by ``t_sec``, served by one thread.

Producers (the engine thread) ``submit`` events; the scheduler thread sleeps until the
next one is due, spins the last fraction of a millisecond, sends it, and records how late
it left. It owns the held-note table: ``stop`` and ``panic`` release every held note, and so
does ``close`` and any exception in the scheduler thread. Offline, ``flush_until`` runs the
same dispatch code on the virtual clock.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import os
import queue
import threading
from typing import Any

import numpy as np

from . import protocol
from .events import NOTE_OFF, NOTE_ON
from .faults import FAULTS
from .held import HeldNotes, all_notes_off
from .stats import Counters, SampleLog

log = logging.getLogger(__name__)

# event kinds
NOTE_ON_EV = 0  # payload (channel, pitch, velocity, note_id, role, dur_sec)
NOTE_OFF_EV = 1  # payload (channel, pitch, note_id[, role: also tell OSC])
RAW_EV = 2  # payload: MIDI bytes (clock, start/stop, program change ...)
OSC_EV = 3  # payload (address, args)
# commands: acted on as soon as the scheduler thread sees them, ahead of any event
CMD_STOP = "stop"  # drop pending events, release held notes, all-notes-off on used channels
CMD_PANIC = "panic"  # the same, on all 16 channels, with all-sound-off
CMD_RECONNECT = "reconnect"  # reopen the MIDI output port, then pay_owed()
CMD_QUIT = "quit"
CMD_OUTPUT_LOST = "output_lost"  # the MIDI server went away: remember what was sounding
CMD_OUTPUT_BACK = "output_back"  # ... and is back: note-offs for it, then a hard panic

LATE_SEC = 0.001  # an event sent later than this counts in late_events
PANIC_GAP_SEC = 0.1  # channel-wide all-notes-off at most this often


class Scheduler:
    """Time-ordered output. ``submit``/``command`` from any thread; the rest is the
    scheduler thread's (or the offline driver's)."""

    def __init__(
        self,
        clock: Any,
        midi_out: Any,
        counters: Counters,
        osc_out: Any = None,
        spin_sec: float = 0.0003,
        rt_priority: int = 0,
        lateness: SampleLog | None = None,
    ) -> None:
        self.clock = clock
        self.midi_out = midi_out
        self.osc_out = osc_out
        self.counters = counters
        self.spin_sec = spin_sec
        self.rt_priority = rt_priority
        self.lateness = lateness if lateness is not None else SampleLog()
        self.held = HeldNotes()
        self._heap: list = []
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._seq = itertools.count()
        self._note_ids = itertools.count(1)
        self._used_channels: set[int] = set()
        self._last_all_off_t_sec = float("-inf")
        # every (channel, pitch) given a note-on since the receiver was last cleared
        # (pay_owed): when an output dies, nothing tells which of their note-offs it still
        # delivered (a note-off sent seconds before the loss was noticed can sit unsent in
        # a starved JACK client, or the loss be noticed late on a loaded machine), so all of
        # them are owed a note-off -- an extra note-off is harmless, a hung note is not
        self._played = np.zeros((16, 128), dtype=bool)
        self._owed = np.zeros((16, 128), dtype=bool)
        self._thread: threading.Thread | None = None
        self.recent: collections.deque = collections.deque(maxlen=16)  # (role, pitch) sent
        # live: called with (thread name, exception) when the thread dies of an error (after
        # releasing every note); None (offline, tests): count it, release, go on
        self.on_fatal: Any = None

    # -- producers (any thread) ---------------------------------------------------------------
    def submit(self, t_sec: float, kind: int, payload: Any) -> None:
        """Queue one event for ``t_sec`` on the engine clock."""
        self._inbox.put((t_sec, next(self._seq), kind, payload))

    def note(self, t_sec: float, dur_sec: float, channel: int, pitch: int, velocity: int,
             role: str) -> None:
        """Queue a note: its note-on at ``t_sec`` and its note-off ``dur_sec`` later."""
        note_id = next(self._note_ids)
        self.submit(t_sec, NOTE_ON_EV, (channel, pitch, velocity, note_id, role, dur_sec))
        self.submit(t_sec + dur_sec, NOTE_OFF_EV, (channel, pitch, note_id))

    def new_note_id(self) -> int:
        """An id for a note whose note-off is submitted later (``NOTE_OFF_EV``)."""
        return next(self._note_ids)

    def command(self, cmd: str) -> None:
        """Queue a command (stop, panic, reconnect, quit); it runs before pending events."""
        self._inbox.put((float("-inf"), next(self._seq), -1, cmd))

    # -- dispatch (scheduler thread, or offline driver) --------------------------------------
    def _send(self, data: tuple[int, ...]) -> None:
        self.midi_out.send(data, self.clock.now())

    def _drain_inbox(self) -> None:
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            self._take(item)

    def _take(self, item: tuple) -> None:
        if item[2] == -1:
            self._run_command(item[3])
        else:
            heapq.heappush(self._heap, item)

    def _run_command(self, cmd: str) -> None:
        if cmd in (CMD_STOP, CMD_PANIC, CMD_QUIT):
            self._heap.clear()
            self.release_all(hard=cmd == CMD_PANIC)
        elif cmd == CMD_RECONNECT:
            try:
                self.midi_out.reopen()
                log.info("MIDI output reopened: %s", getattr(self.midi_out, "name", "?"))
                self.pay_owed()
            except Exception as exc:
                self.counters.midi_out_errors += 1
                log.error("MIDI output reconnect failed: %s", exc)
        elif cmd == CMD_OUTPUT_LOST:
            # the held notes' note-offs, due later, would go into the dead port; and those
            # already sent may have died with it: owe every note played since the last clear
            self._owed |= self._played
        elif cmd == CMD_OUTPUT_BACK:
            self.pay_owed()
        if cmd == CMD_QUIT:
            self._running = False

    def pay_owed(self) -> None:
        """On a new output: a note-off for every note played on the old one since its receiver
        was last cleared (any of them may still sound there) and for every note held now (its
        note-on may have gone nowhere), then sustain off,
        all-notes-off and all-sound-off on all 16 channels, whatever the panic rate limit."""
        for ch, pitch in zip(*self._owed.nonzero()):
            self._send((NOTE_OFF | int(ch), int(pitch), 0))
        self._owed[:] = False
        self._release_held()
        self._played[:] = False  # the receiver is clear: nothing it sounds is ours now
        self._last_all_off_t_sec = self.clock.now()
        all_notes_off(self._send, range(16), hard=True)

    def _release_held(self) -> None:
        """Note-off every held note."""
        self.held.release_all(self._send)

    def release_all(self, hard: bool = False) -> None:
        """Note-off every held note, then all-notes-off (panic: on all 16 channels, hard).
        The channel-wide messages go out at most every PANIC_GAP_SEC: repeated panics (an
        error on every event, a flood of /improv/panic) must not flood the output."""
        self._release_held()
        now = self.clock.now()
        if now - self._last_all_off_t_sec < PANIC_GAP_SEC:
            return
        self._last_all_off_t_sec = now
        channels = range(16) if hard else sorted(self._used_channels)
        all_notes_off(self._send, channels, hard=hard)

    def _dispatch(self, t_sec: float, kind: int, payload: Any) -> None:
        now = self.clock.now()
        late = now - t_sec
        self.lateness.add(late)
        if late > LATE_SEC:
            self.counters.late_events += 1
            late_us = int(late * 1e6)
            if late_us > self.counters.late_max_us:
                self.counters.late_max_us = late_us
        if kind == NOTE_ON_EV:
            channel, pitch, velocity, note_id, role, dur_sec = payload
            if self.held.on(channel, pitch, note_id):
                self._send((NOTE_OFF | channel, pitch, 0))  # retrigger: end the old one first
            self._send((NOTE_ON | channel, pitch, velocity))
            self._played[channel, pitch] = True
            self._used_channels.add(channel)
            self.counters.notes_sent += 1
            self.recent.append((role, pitch))
            if self.osc_out is not None:
                self.osc_out.send(protocol.NOTE, [role, pitch, velocity, float(dur_sec)])
        elif kind == NOTE_OFF_EV:
            channel, pitch, note_id = payload[:3]
            if self.held.off(channel, pitch, note_id):
                self._send((NOTE_OFF | channel, pitch, 0))
                if len(payload) > 3 and self.osc_out is not None:
                    self.osc_out.send(protocol.NOTE, [payload[3], pitch, 0, 0.0])
        elif kind == RAW_EV:
            self._send(payload)
        elif kind == OSC_EV:
            if self.osc_out is not None:
                self.osc_out.send(*payload)

    def _run_due(self, t_sec: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= t_sec:
            t, _, kind, payload = heapq.heappop(heap)
            self._dispatch(t, kind, payload)

    def flush_until(self, t_sec: float) -> None:
        """Offline: send every event due by ``t_sec``, each at its own time on the virtual
        clock (so sent time == scheduled time)."""
        self._drain_inbox()
        while self._heap and self._heap[0][0] <= t_sec:
            self.clock.advance_to(self._heap[0][0])
            self._run_due(self._heap[0][0])
        self.clock.advance_to(t_sec)

    def pending(self) -> int:
        return len(self._heap) + self._inbox.qsize()

    # -- live thread ------------------------------------------------------------------------
    def start(self) -> Scheduler:
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="improv-scheduler", daemon=True)
        self._thread.start()
        return self

    def _set_priority(self) -> None:
        if self.rt_priority <= 0 or not hasattr(os, "sched_setscheduler"):
            return
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.rt_priority))
        except (OSError, OverflowError, ValueError):
            self.counters.rt_denied = 1  # runs at normal priority; reported in status

    def _loop(self) -> None:
        self._set_priority()
        now_fn = self.clock.now
        while self._running:
            try:
                if FAULTS is not None:
                    FAULTS.check("scheduler")
                self._drain_inbox()
                if not self._heap:
                    self._wait(0.05)
                    continue
                t_next = self._heap[0][0]
                dt = t_next - now_fn()
                if dt > self.spin_sec:
                    self._wait(dt - self.spin_sec)  # wakes early if something new arrives
                    continue
                while now_fn() < t_next:
                    pass  # spin the last fraction of a millisecond
                self._run_due(t_next)
            except Exception as exc:
                if self.counters.thread_errors < 10:
                    log.exception("scheduler thread error: releasing all notes")
                self._heap.clear()
                try:
                    self.release_all(hard=True)
                except Exception:
                    log.exception("release after error failed")
                self.counters.thread_errors += 1
                if self.on_fatal is not None:
                    self._running = False
                    self.on_fatal("scheduler", exc)

    def _wait(self, timeout_sec: float) -> None:
        try:
            item = self._inbox.get(timeout=timeout_sec)
        except queue.Empty:
            return
        self._take(item)

    def close(self) -> None:
        """Stop the thread (releasing held notes), then release again from this thread in
        case the thread was dead. Safe to call twice."""
        if self._thread is not None and self._thread.is_alive():
            self.command(CMD_QUIT)
            self._thread.join(timeout=2.0)
        self._heap.clear()
        self._drain_inbox_discard()
        self.release_all()

    def _drain_inbox_discard(self) -> None:
        while True:
            try:
                self._inbox.get_nowait()
            except queue.Empty:
                return
