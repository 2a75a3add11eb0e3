"""A one-voice melody from a MIDI file, quantised to 16th-note frames (for ``harmonize``).

Several tracks or channels are merged; overlapping notes keep the highest sounding note of
each frame (the "skyline"); pitches outside the piano range are folded in by octaves. Time
comes from the file's beats (ticks), so expressive tempo maps do not move the grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

from ..io.files import InputFileError, open_midi

FRAMES_PER_BEAT = 4
LOW, HIGH = 21, 108


@dataclass
class Melody:
    tokens: np.ndarray  # per-frame soprano tokens (REST=1, HOLD=2, 3+pitch-21)
    bar_pos: np.ndarray  # frame position within the bar
    bar_frames: int
    bpm: float  # first tempo of the file (for writing the result back)
    ticks_per_beat: int


def _fold(p: int) -> int:
    while p < LOW:
        p += 12
    while p > HIGH:
        p -= 12
    return p


def read_melody(path: str | Path, max_frames: int = 20000) -> Melody:
    mf = open_midi(path)
    tpb = mf.ticks_per_beat
    notes = []  # (start tick, end tick, pitch)
    open_notes: dict[tuple[int, int], list[int]] = {}
    bpm, num, den = None, 4, 4
    for track in mf.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo" and bpm is None:
                bpm = mido.tempo2bpm(msg.tempo)
            elif msg.type == "time_signature" and tick == 0:
                num, den = msg.numerator, msg.denominator
            elif msg.type == "note_on" and msg.velocity > 0:
                open_notes.setdefault((msg.channel, msg.note), []).append(tick)
            elif msg.type in ("note_off", "note_on"):
                starts = open_notes.get((msg.channel, msg.note))
                if starts:
                    notes.append((starts.pop(0), tick, msg.note))
    for (_, pitch), starts in open_notes.items():  # never ended: ends with the file
        notes += [(s, s + tpb, pitch) for s in starts]  # held for a beat
    if not notes:
        raise InputFileError(f"{path}: no notes to harmonise")
    ticks_per_frame = tpb / FRAMES_PER_BEAT
    n_frames = int(round(max(e for _, e, _ in notes) / ticks_per_frame))
    if n_frames > max_frames:
        raise InputFileError(f"{path}: {n_frames} frames is longer than {max_frames}")
    pitch = np.zeros(n_frames, dtype=np.int64)
    onset = np.zeros(n_frames, dtype=bool)
    for s, e, p in sorted(notes):
        f0, f1 = int(round(s / ticks_per_frame)), int(round(e / ticks_per_frame))
        f1 = max(f1, f0 + 1)
        p = _fold(p)
        seg = slice(f0, min(f1, n_frames))
        higher = pitch[seg] > p  # skyline: a higher sounding note wins the frame
        if f0 < n_frames and not higher[0]:
            onset[f0] = True
        pitch[seg] = np.where(higher, pitch[seg], p)
    tokens = np.where(pitch > 0, np.where(onset, 3 + pitch - LOW, 2), 1).astype(np.int64)
    bar_frames = max(1, int(round(num * 4 / den * FRAMES_PER_BEAT)))
    return Melody(tokens, np.arange(n_frames) % bar_frames, bar_frames, bpm or 120.0, tpb)
