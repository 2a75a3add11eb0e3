"""The offline twin: the live engine's objects on a virtual clock, fed from files.

MIDI file events reach the engine at their times through the same read/stamp path as a live
port; WAV audio arrives in blocks of the live block size at the times a live callback would
deliver them (each block at its end). The scheduler's output is recorded, not sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .clock import VirtualClock
from .config import Config
from .engine import PLAYING, Engine
from .events import SentMidi
from .io.files import FileMidiInput, InputFileError, MidiFileOutput, read_midi, read_wav
from .io.ring import BlockRing

STEP_SEC = 0.001  # the engine thread's period, live and offline
TAIL_BEATS = 2.0  # keep running this long after the engine stops, so every note ends


@dataclass
class RenderResult:
    sent: list[SentMidi]
    engine: Engine
    input_events: list  # MidiMessage of the input (MIDI files) or [] (audio)
    duration_sec: float


def render(path: str | Path, config: Config, thru: bool = False) -> RenderResult:
    """Run the engine over ``path`` (.mid/.midi or .wav) and return what it sent."""
    p = Path(path)
    suffix = p.suffix.lower()
    clock = VirtualClock(0.0)
    out = MidiFileOutput()
    if suffix in (".mid", ".midi"):
        events, _ = read_midi(p)
        inp = FileMidiInput(events, clock)
        engine = Engine(config, clock, out, midi_inputs=[inp], thru=thru)
        end_sec = events[-1].t_sec if events else 0.0
        audio = None
    elif suffix == ".wav":
        samples, sr = read_wav(p)
        bs = config.audio.blocksize
        n_blocks = len(samples) // bs
        ring = BlockRing(8, bs)
        engine = Engine(config, clock, out, audio_ring=ring, audio_samplerate=sr)
        inp = None
        end_sec = n_blocks * bs / sr
        audio = (samples, sr, bs, n_blocks, ring)
        events = []
    else:
        raise InputFileError(f"cannot render {p.name}: expected a .mid, .midi or .wav file")
    engine.start()
    next_block = 0
    t = 0.0
    stop_sec = None
    while True:
        engine.scheduler.flush_until(t)  # what fell due since the last step, each at its time
        if audio is not None:  # deliver every block that has ended by t
            samples, sr, bs, n_blocks, ring = audio
            while next_block < n_blocks and (next_block + 1) * bs / sr <= t:
                s = next_block * bs
                ring.push(samples[s:s + bs], (next_block + 1) * bs / sr)
                next_block += 1
        engine.step(t)
        engine.scheduler.flush_until(t)
        if t >= end_sec and stop_sec is None and engine.state != PLAYING:
            stop_sec = t + TAIL_BEATS * 60.0 / engine.bpm
        if stop_sec is not None and t >= stop_sec and engine.scheduler.pending() == 0:
            break
        nxt = t + STEP_SEC
        if inp is not None:
            t_ev = inp.next_t_sec()
            if t_ev is not None and t < t_ev < nxt:
                nxt = t_ev  # step exactly at each input event, as a live port would stamp it
        t = nxt
    engine.close()
    return RenderResult(out.sent, engine, events, t)


def note_pairs(sent: list[SentMidi]) -> list[tuple[float, float, int, int, int]]:
    """(on t_sec, off t_sec, channel, pitch, velocity) for each note in ``sent``; raises
    AssertionError if a note-on has no note-off (the held-note invariant)."""
    open_notes: dict[tuple[int, int], tuple[float, int]] = {}
    notes = []
    for s in sent:
        if len(s.data) != 3:
            continue
        status, ch = s.data[0] & 0xF0, s.data[0] & 0x0F
        key = (ch, s.data[1])
        if status == 0x90 and s.data[2] > 0:
            assert key not in open_notes, f"note-on {key} while already sounding at {s.t_sec}"
            open_notes[key] = (s.t_sec, s.data[2])
        elif status == 0x80 or (status == 0x90 and s.data[2] == 0):
            if key in open_notes:
                t_on, vel = open_notes.pop(key)
                notes.append((t_on, s.t_sec, ch, s.data[1], vel))
    assert not open_notes, f"notes left hanging: {sorted(open_notes)}"
    return sorted(notes)


def pitch_classes_per_channel(notes) -> dict[int, np.ndarray]:
    """Histogram of pitch classes per channel (for quick musical checks)."""
    out: dict[int, np.ndarray] = {}
    for _, _, ch, p, _ in notes:
        out.setdefault(ch, np.zeros(12))[p % 12] += 1
    return out
