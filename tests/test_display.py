"""The live status view: what it shows, on a terminal and in a log."""

import io

from engine.display import StatusDisplay, status_lines
from tests.helpers import melody_events
from tests.test_engine import Rig


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_status_view_shows_tempo_key_roles_notes_and_counters():
    rig = Rig(**{"improviser.enabled": True, "improviser.key": "auto"})
    rig.play(melody_events([60, 64, 67, 72, 65, 69, 72, 77], start_sec=0.5))
    rig.run_until(3.0)
    text = "\n".join(status_lines(rig.engine))
    assert "playing" in text and "model" in text
    assert "tempo  120.0 BPM" in text and "key auto (C)" in text
    assert "bass:on chords:on answer:on" in text
    assert "in  C4 E4 G4" in text  # the player's notes, then ours by role
    assert "out " in text and "bass " in text and "chords " in text
    assert "bad OSC 0" in text and "xruns 0" in text
    rig.engine.close()


def test_terminal_redraws_in_place_and_a_pipe_gets_lines():
    rig = Rig()
    tty = Tty()
    view = StatusDisplay(rig.engine, tty)
    view.draw()
    view.draw()
    assert tty.getvalue().count("\x1b[6F") == 1  # the second draw moved up over the first
    pipe = io.StringIO()
    plain = StatusDisplay(rig.engine, pipe)
    plain.draw()
    assert "\x1b" not in pipe.getvalue() and pipe.getvalue().count("\n") == 1
    assert plain.interval_sec == 5.0 and view.interval_sec == 0.25


def test_status_view_says_where_audio_beats_come_from():
    from engine.display import _beat_source
    from engine.listen.activation import DEFAULT_MODEL
    from engine.listen.listener import Listener

    assert _beat_source(Listener()) == ""  # MIDI only
    assert _beat_source(Listener(44100)) == "  beats: flux"
    auto = Listener(44100, beat_model=DEFAULT_MODEL, auto=True)
    assert _beat_source(auto) == "  beats: flux (choosing)"
    for _ in range(200):
        auto.gate.add(1.0)  # a flat floor: legato
    # leaning to it from 3 s, and why (gate_source.py: the rule the last look went by)
    assert _beat_source(auto) == "  beats: learned (choosing: legato)"
    for _ in range(300):
        auto.gate.add(1.0)
    assert _beat_source(auto) == "  beats: learned (legato)"
    band = Listener(44100, beat_model=DEFAULT_MODEL, band=True)  # --audio-tracker band
    assert _beat_source(band) == "  beats: flux+learned (pinned)"
