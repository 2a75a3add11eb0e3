"""Small typed event records. Every time carries its unit in its name.

``t_sec`` is always on the engine's one monotonic clock (``engine.clock``); ``beat`` is a
position on the tempo map (beat 0 = the anchor, usually the player's first note).
"""

from __future__ import annotations

from typing import NamedTuple


class MidiMessage(NamedTuple):
    """A MIDI message received from the player (or a file), stamped on the engine clock."""

    t_sec: float
    data: tuple[int, ...]


class Note(NamedTuple):
    """A note the accompaniment decided to play, placed in beat time.

    The scheduler converts it to wall time through the tempo map.
    """

    beat: float
    dur_beat: float
    pitch: int
    velocity: int
    role: str


class SentMidi(NamedTuple):
    """What an output actually sent: the raw bytes and the clock time it left."""

    t_sec: float
    data: tuple[int, ...]


NOTE_OFF = 0x80
NOTE_ON = 0x90
CONTROL_CHANGE = 0xB0
PROGRAM_CHANGE = 0xC0
SYSEX = 0xF0
SONG_POSITION = 0xF2
CLOCK_TICK = 0xF8
CLOCK_START = 0xFA
CLOCK_CONTINUE = 0xFB
CLOCK_STOP = 0xFC
ACTIVE_SENSING = 0xFE
CC_SUSTAIN = 64
CC_ALL_SOUND_OFF = 120
CC_ALL_NOTES_OFF = 123


def is_note_on(data: tuple[int, ...]) -> bool:
    """True for a note-on with non-zero velocity."""
    return len(data) == 3 and data[0] & 0xF0 == NOTE_ON and data[2] > 0


def is_note_off(data: tuple[int, ...]) -> bool:
    """True for a note-off, or a note-on with velocity 0 (running-status style)."""
    if len(data) != 3:
        return False
    status = data[0] & 0xF0
    return status == NOTE_OFF or (status == NOTE_ON and data[2] == 0)
