"""Make the bundled example: the 'Ode to Joy' theme (Beethoven, public domain) as a player
would play it on a keyboard -- an expressive tempo (each four-bar phrase moves forward a little
and broadens at its end, +-8 % around 100 BPM), human timing (a few ms either side), phrase-
shaped velocities and a ritardando into the last note. Writes examples/ode_to_joy.mid; improv
has to follow its tempo, not a metronome.

    python examples/make_example.py
"""

from __future__ import annotations

import random
from pathlib import Path

import mido

BPM = 100.0
PPQ = 480
SEED = 7

# (MIDI pitch, duration in beats); C major, 16 bars of 4/4.
C4, D4, E4, F4, G4, G3 = 60, 62, 64, 65, 67, 55
PHRASE_A = [(E4, 1), (E4, 1), (F4, 1), (G4, 1), (G4, 1), (F4, 1), (E4, 1), (D4, 1),
            (C4, 1), (C4, 1), (D4, 1), (E4, 1)]
THEME = (
    PHRASE_A + [(E4, 1.5), (D4, 0.5), (D4, 2)]
    + PHRASE_A + [(D4, 1.5), (C4, 0.5), (C4, 2)]
    + [(D4, 1), (D4, 1), (E4, 1), (C4, 1), (D4, 1), (E4, 0.5), (F4, 0.5), (E4, 1), (C4, 1),
       (D4, 1), (E4, 0.5), (F4, 0.5), (E4, 1), (D4, 1), (C4, 1), (D4, 1), (G3, 2)]
    + PHRASE_A + [(D4, 1.5), (C4, 0.5), (C4, 2)]
)


def tempo_factor(beat: float, total_beats: float) -> float:
    """Local tempo / 100 BPM: a phrase (16 beats) presses on to its middle and broadens into
    its last bar; the piece slows by up to 30 % over its last two beats."""
    import math

    x = (beat % 16) / 16
    f = 1.0 + 0.06 * math.sin(math.pi * x) - 0.14 * max(0.0, x - 0.8) / 0.2
    rit = max(0.0, beat - (total_beats - 2.0)) / 2.0
    return f * (1.0 - 0.3 * rit)


def beat_to_sec(beat: float, total_beats: float, step: float = 1 / 64) -> float:
    """Seconds at ``beat``: the integral of 60 / (100 BPM x tempo_factor)."""
    t, b = 0.0, 0.0
    while b + step <= beat + 1e-12:
        t += step * 60.0 / (BPM * tempo_factor(b + step / 2, total_beats))
        b += step
    return t + (beat - b) * 60.0 / (BPM * tempo_factor(b, total_beats))


def make(path: Path) -> Path:
    rng = random.Random(SEED)
    total = sum(d for _, d in THEME)
    events = []  # (t_sec, message)
    beat = 0.0
    for i, (pitch, dur) in enumerate(THEME):
        jitter = rng.gauss(0.0, 0.008) if i else 0.0
        t_on = beat_to_sec(beat, total) + jitter
        t_off = beat_to_sec(beat + dur, total) - 0.04
        in_phrase = (beat % 16) / 16
        velocity = int(72 + 18 * (1 - abs(in_phrase - 0.6) * 2) + rng.randint(-4, 4))
        events.append((max(t_on, 0.0), mido.Message("note_on", note=pitch, velocity=velocity)))
        events.append((t_off, mido.Message("note_off", note=pitch, velocity=0)))
        beat += dur
    events.sort(key=lambda e: (e[0], e[1].type == "note_on"))
    mf = mido.MidiFile(type=0, ticks_per_beat=PPQ)
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name="Ode to Joy (player)", time=0))
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(BPM), time=0))
    track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    ticks_per_sec = PPQ * BPM / 60.0
    last = 0
    for t_sec, msg in events:
        tick = int(round(t_sec * ticks_per_sec))
        track.append(msg.copy(time=tick - last))
        last = tick
    mf.tracks.append(track)
    mf.save(path)
    return path


if __name__ == "__main__":
    out = make(Path(__file__).resolve().parent / "ode_to_joy.mid")
    print(f"wrote {out}")
