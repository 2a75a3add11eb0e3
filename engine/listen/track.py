"""File-level listening, the way the live engine listens: block by block, causally.

``beats_of_audio`` / ``beats_of_midi`` return the beats as the tracker committed them while
running (never revised); ``onsets_of_audio`` the peak-picked onsets. Used by ``improv beats``
and ``bench/beats.py``.
"""

from __future__ import annotations

import numpy as np

from .listener import Listener
from .onset import OnsetDetector

FPS = 50  # 20 ms frames: as accurate as 100/s on the development set, at half the CPU
BLOCK = 128  # the live block size


def beats_of_audio(samples: np.ndarray, samplerate: int, block: int = BLOCK,
                   beat_model=None, with_positions: bool = False, auto: bool = False,
                   band: bool = False):
    """Beat times (s) as the live listener commits them; with ``with_positions`` also each
    beat's position in the bar (1 = downbeat, 0 = not known yet).
    ``beat_model``: a learned activation model file (experimental), None = spectral flux;
    ``auto``: the gate chooses; ``band``: both activations at once (the joint tracker)."""
    listener = Listener(samplerate, beat_model=beat_model, auto=auto, band=band)
    beats, positions = [], []
    samples = np.asarray(samples, dtype=np.float32)
    for i in range(0, len(samples), block):
        listener.audio(samples[i:i + block], i / samplerate, i, samplerate)
        if listener.beats:
            positions += listener.positions
            beats += listener.take_beats()
    if with_positions:
        return np.array(beats), np.array(positions, dtype=int)
    return np.array(beats)


def onsets_of_audio(samples: np.ndarray, samplerate: int, block: int = BLOCK,
                    threshold: float = 1.5) -> np.ndarray:
    """Causal peak picking: a frame is an onset if it is a local maximum over the previous
    3 frames and the next one, and above ``threshold`` x the recent mean (latency 1 frame)."""
    od = OnsetDetector(samplerate, fps=FPS)
    values = []
    onsets = []
    mean = 0.0
    for i in range(0, len(samples), block):
        for v in od.process(samples[i:i + block]):
            values.append(float(v))
            k = len(values) - 2  # decide the previous frame now that the next is known
            mean = 0.98 * mean + 0.02 * values[-1]
            if k >= 3:
                c = values[k]
                if (c >= max(values[k - 3:k]) and c > values[k + 1]
                        and c > threshold * mean and c > 1e-3):
                    onsets.append(od.frame_time_sec(k))
    return np.array(onsets)


def beats_of_midi(path: str, with_positions: bool = False, meter_weights=None, tracker=None):
    """Beats (s) as the live listener commits them from a MIDI file's note-ons (velocity-
    weighted impulses, FPS frames/s; the listener's frame grid starts at the first note), each
    note given to it at its time; with ``with_positions`` also each beat's position in the
    bar (from the notes' accents, bass notes and harmony; 0 = not known yet). ``tracker``:
    another ``BeatTracker`` in place of the listener's own (bench/midi_tune.py)."""
    from ..events import is_note_on
    from ..io.files import read_midi

    events, _ = read_midi(path)
    listener = Listener(meter_weights=meter_weights)
    if tracker is not None:
        tracker.reset()
        listener.tracker = tracker
    beats, positions = [], []

    def advance(now: float) -> None:
        listener.advance(now)
        positions.extend(listener.positions)
        beats.extend(listener.take_beats())

    for e in events:
        if is_note_on(e.data):
            advance(e.t_sec)
            listener.note_on(e.t_sec, e.data[2], e.data[1])
    if events:  # the frames after the last note, one by one, for a second
        last = events[-1].t_sec
        for k in range(int(last * FPS), int((last + 1.0) * FPS) + 1):
            advance(k / FPS)
    if with_positions:
        return np.array(beats), np.array(positions, dtype=int)
    return np.array(beats)
