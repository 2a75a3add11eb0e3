"""``improv demo``: the offline twin on the bundled example, rendered by FluidSynth."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import protocol
from engine.events import SentMidi
from engine.io.files import read_midi, read_wav
from engine.offline import note_pairs

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ode_to_joy.mid"


@pytest.mark.integration
def test_demo_writes_midi_and_a_fluidsynth_wav(require, tmp_path):
    require("fluidsynth")
    require("FluidR3_GM.sf2")
    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "engine.cli", "demo", "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "wrote" in r.stdout and "demo.wav" in r.stdout, r.stdout

    # demo.mid: the player (channel 1) plus bass and chords, every note ended
    events, _ = read_midi(out / "demo.mid")
    notes = note_pairs([SentMidi(e.t_sec, e.data) for e in events])
    channels = {ch for _, _, ch, _, _ in notes}
    roles = protocol.ROLE_CHANNELS
    assert channels == {protocol.PLAYER_CHANNEL, roles["bass"], roles["chords"]}  # (no answers)

    # demo.wav: non-silent and about as long as the example
    example_events, _ = read_midi(EXAMPLE)
    example_sec = example_events[-1].t_sec
    samples, sr = read_wav(out / "demo.wav")
    duration_sec = samples.shape[0] / sr
    assert sr == 44100
    assert example_sec - 1.0 <= duration_sec <= example_sec + 15.0, (duration_sec, example_sec)
    peak = float(np.max(np.abs(samples)))
    assert peak > 0.02, f"demo.wav is (nearly) silent: peak {peak}"
    # sound throughout the piece, not just a click: most one-second windows are audible
    n = int(example_sec) * sr
    windows = samples[:n].reshape(-1, sr)
    rms = np.sqrt(np.mean(windows.astype(np.float64) ** 2, axis=1))
    assert np.mean(rms > 0.002) > 0.9, rms.round(4)
