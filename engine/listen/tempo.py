"""Other tempo sources, behind one small interface: a beat period and the time of a beat.

``TapTempo`` (taps from OSC ``/improv/tap`` or a MIDI note/CC) and ``MidiClockTempo``
(incoming 24-ppqn MIDI clock) each answer ``bpm`` (None until known) and ``last_beat_t_sec``
(a recent beat, for the phase). The fixed tempo is the config's ``tempo.bpm``; the beat
tracker is the fourth source. Engine thread.
"""

from __future__ import annotations

import collections

import numpy as np

from ..clock import MAX_BPM, MIN_BPM


class TapTempo:
    """Median of the last intervals between taps; a pause longer than ``reset_sec`` starts a
    new count."""

    def __init__(self, reset_sec: float = 2.0, keep: int = 4) -> None:
        self.reset_sec = reset_sec
        self._taps: collections.deque = collections.deque(maxlen=keep + 1)
        self.bpm: float | None = None
        self.last_beat_t_sec: float | None = None

    def reset(self) -> None:
        self._taps.clear()
        self.bpm = None
        self.last_beat_t_sec = None

    def tap(self, t_sec: float) -> float | None:
        """Register a tap; return the tempo once two taps give one (else None)."""
        if self._taps and t_sec - self._taps[-1] > self.reset_sec:
            self._taps.clear()
        self._taps.append(t_sec)
        self.last_beat_t_sec = t_sec
        if len(self._taps) >= 2:
            intervals = np.diff(np.array(self._taps))
            bpm = 60.0 / float(np.median(intervals))
            if MIN_BPM <= bpm <= MAX_BPM:
                self.bpm = bpm
        return self.bpm


class MidiClockTempo:
    """Tempo from incoming MIDI clock (0xF8, 24 per beat); start (0xFA) makes the next tick
    beat 0; stop (0xFC) pauses."""

    PPQN = 24

    def __init__(self) -> None:
        self._ticks: collections.deque = collections.deque(maxlen=self.PPQN + 1)
        self.reset()

    def reset(self) -> None:
        self._ticks.clear()
        self.tick_count = 0
        self.running = False
        self.bpm: float | None = None
        self.last_beat_t_sec: float | None = None

    def message(self, status: int, t_sec: float) -> bool:
        """Feed a realtime message; return True when a beat (every 24th tick) passed."""
        if status == 0xFA:  # start
            self.running = True
            self.tick_count = 0
            self._ticks.clear()
            return False
        if status == 0xFB:  # continue
            self.running = True
            return False
        if status == 0xFC:  # stop
            self.running = False
            return False
        if status != 0xF8:
            return False
        self._ticks.append(t_sec)
        beat = self.tick_count % self.PPQN == 0
        self.tick_count += 1
        if len(self._ticks) >= 2:
            span = self._ticks[-1] - self._ticks[0]
            if span > 0:
                bpm = 60.0 * (len(self._ticks) - 1) / (span * self.PPQN)
                if MIN_BPM <= bpm <= MAX_BPM:
                    self.bpm = bpm
        if beat:
            self.last_beat_t_sec = t_sec
        return beat
