import subprocess
import sys

import pytest

from engine import protocol
from engine.cli import build_parser, main, protocol_table
from engine.events import SentMidi
from engine.io.files import read_midi
from engine.offline import note_pairs

COMMANDS = ["devices", "run", "render", "demo", "beats", "harmonize", "train", "protocol"]


def test_help_lists_every_command():
    text = build_parser().format_help()
    for cmd in COMMANDS:
        assert cmd in text


@pytest.mark.parametrize("cmd", COMMANDS)
def test_each_command_has_help(cmd):
    r = subprocess.run([sys.executable, "-m", "engine.cli", cmd, "--help"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and f"usage: improv {cmd}" in r.stdout


def test_run_flags_are_all_there():
    r = subprocess.run([sys.executable, "-m", "engine.cli", "run", "--help"], capture_output=True,
                       text=True, timeout=60)
    for flag in ["--midi-in", "--midi-out", "--midi-api", "--audio-in", "--osc-port", "--osc-out",
                 "--osc-host", "--tempo", "--config", "--midi-clock-out"]:
        assert flag in r.stdout


def test_demo_writes_bass_and_chords_on_separate_channels(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    events, _ = read_midi(tmp_path / "demo.mid")
    notes = note_pairs([SentMidi(e.t_sec, e.data) for e in events])
    channels = {n[2] for n in notes}
    assert protocol.ROLE_CHANNELS["bass"] in channels
    assert protocol.ROLE_CHANNELS["chords"] in channels
    assert "demo.mid" in capsys.readouterr().out


def test_render_cli(tmp_path, capsys):
    from tests.helpers import EXAMPLE

    out = tmp_path / "r.mid"
    assert main(["render", str(EXAMPLE), "-o", str(out)]) == 0
    assert out.exists() and "notes" in capsys.readouterr().out


def test_protocol_table_matches_the_readme():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert protocol_table() in readme, "README's OSC table is stale: paste `improv protocol`"


def test_beats_command_on_audio_and_midi(tmp_path, capsys):
    import numpy as np

    from engine.io.files import write_wav
    from tests.helpers import EXAMPLE
    from tests.test_listen import clicks

    wav = tmp_path / "clicks.wav"
    write_wav(wav, clicks(120, 12), 44100)
    assert main(["beats", str(wav)]) == 0
    beats = np.array([float(x) for x in capsys.readouterr().out.split()])
    assert len(beats) > 15 and abs(np.median(np.diff(beats)) - 0.5) < 0.02
    for tracker in ("auto", "flux", "learned", "band"):
        assert main(["beats", str(wav), "--bars", "--tracker", tracker]) == 0
        rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
        assert len(rows) > 10 and all(len(r) == 2 and int(r[1]) in range(5) for r in rows)
        assert {int(r[1]) for r in rows[8:]} <= {1, 2, 3, 4} and "1" in [r[1] for r in rows]
    assert main(["beats", str(EXAMPLE)]) == 0
    assert len(capsys.readouterr().out.split()) > 40
