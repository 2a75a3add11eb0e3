"""Counters reported by ``/improv/status`` and a preallocated log of timing samples."""

from __future__ import annotations

import numpy as np

COUNTER_NAMES = (
    "notes_sent",  # note-ons that left through the MIDI output
    "late_events",  # output events sent more than 1 ms after their time
    "late_max_us",  # the latest an output event has been sent after its time (microseconds)
    "xruns",  # audio input over/underflows (PortAudio status flags, JACK xruns)
    "bad_messages",  # OSC messages refused (unknown address, wrong types, undecodable)
    "osc_refused",  # OSC datagrams from clients not in osc.allow: dropped unanswered
    "midi_in",  # MIDI messages received from the player
    "midi_in_sysex",  # of which sysex (counted, not interpreted)
    "midi_in_invalid",  # of which malformed (a data byte >= 0x80): dropped
    "midi_in_overflow",  # messages the MIDI input queue reported lost
    "midi_out_errors",  # sends that raised (port gone, ...)
    "midi_out_lost",  # times the output port's peer vanished
    "server_lost",  # times the JACK server went away (ports reopened when it came back)
    "server_back",  # times it came back and the ports were reopened
    "audio_blocks",  # audio blocks received
    "audio_gap_blocks",  # silent blocks put in for audio that never came (server away, drops)
    "audio_overflow",  # audio blocks dropped because the ring was full
    "rt_denied",  # 1 if SCHED_FIFO was refused and the scheduler runs at normal priority
    "thread_errors",  # exceptions caught in the engine or scheduler thread (each panics)
    "model_errors",  # the model could not be loaded (the rule-based baseline plays instead)
    "frames_decided",  # improviser frames (16ths) decided by the model
)


class Counters:
    """Plain integer counters. Each counter is written by one thread; readers may see a
    value one step old, never a torn one (CPython int assignment is atomic)."""

    __slots__ = COUNTER_NAMES

    def __init__(self) -> None:
        for name in COUNTER_NAMES:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTER_NAMES}


class SampleLog:
    """A ring of float samples (e.g. lateness in seconds), allocated once.

    ``add`` is O(1) and allocates nothing; ``values()`` copies the valid part (not for the
    real-time path).
    """

    def __init__(self, capacity: int = 1 << 16) -> None:
        self._buf = np.zeros(capacity, dtype=np.float64)
        self._n = 0

    def add(self, value: float) -> None:
        self._buf[self._n % self._buf.shape[0]] = value
        self._n += 1

    def __len__(self) -> int:
        return min(self._n, self._buf.shape[0])

    def values(self) -> np.ndarray:
        return self._buf[: len(self)].copy()

    @property
    def count(self) -> int:
        """Samples added so far (including any the ring has overwritten)."""
        return self._n

    def since(self, count: int) -> np.ndarray:
        """A copy of the samples added after ``count`` (the ones still in the ring)."""
        cap = self._buf.shape[0]
        start = max(count, self._n - cap)
        idx = np.arange(start, self._n) % cap
        return self._buf[idx].copy()

    def clear(self) -> None:
        self._n = 0
