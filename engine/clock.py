"""The one clock and the tempo map.

All events carry ``t_sec`` on one monotonic clock. Live, that clock is ``time.monotonic``;
offline, a :class:`VirtualClock` that the file driver advances. The :class:`TempoMap`
converts beat <-> seconds piecewise: the tempo may change at any beat.
"""

from __future__ import annotations

import bisect
import time


class LiveClock:
    """The wall clock: ``time.monotonic`` (CLOCK_MONOTONIC on Linux), in seconds."""

    live = True

    @staticmethod
    def now() -> float:
        """Seconds on the monotonic clock. Any thread."""
        return time.monotonic()


class VirtualClock:
    """A clock that only moves when the offline driver says so."""

    live = False

    def __init__(self, t_sec: float = 0.0) -> None:
        self.t_sec = t_sec

    def now(self) -> float:
        """The current virtual time in seconds."""
        return self.t_sec

    def advance_to(self, t_sec: float) -> None:
        """Move time forward (never back)."""
        if t_sec > self.t_sec:
            self.t_sec = t_sec


class TempoMap:
    """Piecewise-constant tempo: beat <-> t_sec.

    Segment i starts at ``beat_i`` / ``t_sec_i`` and lasts until the next one, at
    ``sec_per_beat_i``. Before the first segment the first tempo extends backwards.
    Owned by the engine thread; other threads ask it for changes through the engine.
    """

    def __init__(self, bpm: float = 120.0, t0_sec: float = 0.0, max_segments: int = 256) -> None:
        check_bpm(bpm)
        self._beats: list[float] = [0.0]
        self._t_secs: list[float] = [t0_sec]
        self._spb: list[float] = [60.0 / bpm]
        self._max_segments = max_segments

    @property
    def t0_sec(self) -> float:
        """Clock time of the first retained segment's start (beat 0 until segments are trimmed)."""
        return self._t_secs[0]

    def anchor(self, t0_sec: float, bpm: float | None = None) -> None:
        """Restart the map: beat 0 at ``t0_sec``, one tempo (the current last one by default)."""
        spb = 60.0 / check_bpm(bpm) if bpm is not None else self._spb[-1]
        self._beats[:] = [0.0]
        self._t_secs[:] = [t0_sec]
        self._spb[:] = [spb]

    def bpm_at(self, beat: float) -> float:
        """Tempo in beats per minute in force at ``beat``."""
        i = max(0, bisect.bisect_right(self._beats, beat) - 1)
        return 60.0 / self._spb[i]

    def set_tempo(self, bpm: float, at_beat: float) -> None:
        """From ``at_beat`` on, play at ``bpm``. Segments after ``at_beat`` are replaced."""
        spb = 60.0 / check_bpm(bpm)
        t_sec = self.t_sec(at_beat)
        i = bisect.bisect_left(self._beats, at_beat)
        del self._beats[i:], self._t_secs[i:], self._spb[i:]
        self._beats.append(at_beat)
        self._t_secs.append(t_sec)
        self._spb.append(spb)
        if len(self._beats) > self._max_segments:
            del self._beats[0], self._t_secs[0], self._spb[0]

    def place(self, beat: float, t_sec: float, bpm: float) -> None:
        """From ``beat`` on: ``beat`` falls at ``t_sec``, then ``bpm`` (a phase correction as
        well as a tempo change; later segments are replaced). ``t_sec`` must lie after the
        previous beat, so time keeps moving forward."""
        spb = 60.0 / check_bpm(bpm)
        earliest = self.t_sec(beat - 1.0) + 0.25 * spb
        t_sec = max(t_sec, earliest)
        i = bisect.bisect_left(self._beats, beat)
        del self._beats[i:], self._t_secs[i:], self._spb[i:]
        self._beats.append(beat)  # earlier beats keep their times (they may be scheduled)
        self._t_secs.append(t_sec)
        self._spb.append(spb)
        if len(self._beats) > self._max_segments:
            del self._beats[0], self._t_secs[0], self._spb[0]

    def t_sec(self, beat: float) -> float:
        """Clock time in seconds of ``beat``."""
        i = max(0, bisect.bisect_right(self._beats, beat) - 1)
        return self._t_secs[i] + (beat - self._beats[i]) * self._spb[i]

    def beat(self, t_sec: float) -> float:
        """Beat position at clock time ``t_sec``."""
        i = max(0, bisect.bisect_right(self._t_secs, t_sec) - 1)
        return self._beats[i] + (t_sec - self._t_secs[i]) / self._spb[i]


MIN_BPM = 20.0
MAX_BPM = 400.0


def check_bpm(bpm: float) -> float:
    """Return ``bpm`` as float, or raise ValueError naming the allowed range."""
    bpm = float(bpm)
    if not (MIN_BPM <= bpm <= MAX_BPM):
        raise ValueError(f"tempo must be within {MIN_BPM:g}..{MAX_BPM:g} BPM, not {bpm:g}")
    return bpm
