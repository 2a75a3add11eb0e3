"""Small material for tests, made here (no hardware, no downloads)."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np

from engine.events import MidiMessage

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ode_to_joy.mid"


def melody_events(pitches, bpm=120.0, start_sec=0.5, dur_beats=0.9, velocity=90):
    """Quarter notes at ``bpm`` as MidiMessage on/off pairs."""
    spb = 60.0 / bpm
    events = []
    for i, p in enumerate(pitches):
        t = start_sec + i * spb
        events.append(MidiMessage(t, (0x90, p, velocity)))
        events.append(MidiMessage(t + dur_beats * spb, (0x80, p, 0)))
    return sorted(events, key=lambda e: e.t_sec)


def write_midi(path: Path, events, bpm=120.0) -> Path:
    mf = mido.MidiFile(type=0, ticks_per_beat=480)
    tr = mido.MidiTrack()
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    ticks_per_sec = 480 * bpm / 60.0
    last = 0
    for e in events:
        tick = int(round(e.t_sec * ticks_per_sec))
        tr.append(mido.Message.from_bytes(list(e.data)).copy(time=tick - last))
        last = tick
    mf.tracks.append(tr)
    mf.save(path)
    return path


def tones(pitches, bpm=120.0, sr=48000, start_sec=0.5, seconds_per_note=None):
    """A mono signal: each pitch a decaying harmonic tone on successive beats."""
    spb = seconds_per_note or 60.0 / bpm
    n = int((start_sec + spb * len(pitches) + 1.0) * sr)
    x = np.zeros(n, dtype=np.float32)
    t = np.arange(int(spb * sr)) / sr
    for i, p in enumerate(pitches):
        f = 440.0 * 2 ** ((p - 69) / 12)
        tone = sum(np.sin(2 * np.pi * f * k * t) / k for k in (1, 2, 3)) * np.exp(-3 * t)
        s = int((start_sec + i * spb) * sr)
        x[s:s + len(t)] += 0.3 * tone.astype(np.float32)
    return x


def bands_of(x: np.ndarray, sr: int = 44100) -> np.ndarray:
    """The band frames the engine's spectrum makes of ``x`` (at ``sr``)."""
    from engine.listen.onset import LogSpectrum

    spectrum = LogSpectrum(sr, fps=50)
    bands = []
    for i in range(0, len(x), 1000):
        bands.extend(np.array(spectrum.process(x[i:i + 1000])))
    return np.array(bands)
