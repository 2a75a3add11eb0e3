"""The held-note table: which notes are sounding on the output, so none is left hanging."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .events import CC_ALL_NOTES_OFF, CC_ALL_SOUND_OFF, CC_SUSTAIN, CONTROL_CHANGE, NOTE_OFF

Send = Callable[[tuple[int, ...]], None]


class HeldNotes:
    """``note_id[channel, pitch]`` of the note now sounding there, 0 when silent.

    A re-struck pitch takes the new id; the old note's note-off then carries a stale id
    and is ignored, so it cannot cut the new note short. Owned by the scheduler thread.
    """

    def __init__(self) -> None:
        self.note_id = np.zeros((16, 128), dtype=np.int64)

    def on(self, channel: int, pitch: int, note_id: int) -> bool:
        """Mark sounding; return True if the pitch was already sounding (retrigger)."""
        was = self.note_id[channel, pitch] != 0
        self.note_id[channel, pitch] = note_id
        return bool(was)

    def off(self, channel: int, pitch: int, note_id: int) -> bool:
        """Clear if ``note_id`` is the note sounding; return whether a note-off is due."""
        if self.note_id[channel, pitch] != note_id:
            return False
        self.note_id[channel, pitch] = 0
        return True

    def count(self) -> int:
        return int(np.count_nonzero(self.note_id))

    def release_all(self, send: Send) -> int:
        """Send a note-off for every sounding note and clear the table; return how many."""
        channels, pitches = np.nonzero(self.note_id)
        for ch, p in zip(channels.tolist(), pitches.tolist()):
            send((NOTE_OFF | ch, p, 0))
        self.note_id[:] = 0
        return len(channels)


def all_notes_off(send: Send, channels: range | list[int] = range(16), hard: bool = False) -> None:
    """Sustain off + all-notes-off (+ all-sound-off when ``hard``) on each channel."""
    for ch in channels:
        send((CONTROL_CHANGE | ch, CC_SUSTAIN, 0))
        send((CONTROL_CHANGE | ch, CC_ALL_NOTES_OFF, 0))
        if hard:
            send((CONTROL_CHANGE | ch, CC_ALL_SOUND_OFF, 0))
