"""Every OSC address and MIDI role/channel constant, in one place.

The README's protocol table is generated from :data:`ROUTES` (``improv protocol``), and
tests check the README and the patches against it, so code, docs and patches cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

PROTOCOL_VERSION = 1

DEFAULT_OSC_HOST = "127.0.0.1"
DEFAULT_OSC_IN_PORT = 9000
DEFAULT_OSC_OUT_PORT = 9001

# -- control in -----------------------------------------------------------------------------
START = "/improv/start"
STOP = "/improv/stop"
PANIC = "/improv/panic"
TEMPO = "/improv/tempo"
STATUS = "/improv/status"
VERSION = "/improv/version"
RECONNECT = "/improv/reconnect"
TAP = "/improv/tap"

# -- out (monitoring, replies) --------------------------------------------------------------
NOTE = "/improv/note"
BEAT = "/improv/beat"
ONSET = "/improv/onset"
ERROR = "/improv/error"

IN = "in"
OUT = "out"


@dataclass(frozen=True)
class Route:
    """One OSC address: its direction, accepted type signatures and meaning.

    Type letters: ``f`` a number (int or float accepted), ``i`` an integer (a float with an
    integral value is accepted, as Pd sends every number as a float), ``s`` a string.
    """

    address: str
    direction: str
    signatures: tuple[str, ...]
    doc: str


ROUTES: tuple[Route, ...] = (
    Route(START, IN, ("", "f"), "start playing (optionally at a tempo in BPM); beat 0 = next note"),
    Route(STOP, IN, ("",), "stop: pending notes dropped, held notes released"),
    Route(PANIC, IN, ("",), "release every held note and send all-notes-off on every channel"),
    Route(TEMPO, IN, ("f",), "set the tempo in BPM from the next beat on"),
    Route(STATUS, IN, ("",), "reply /improv/status with the counters (see below)"),
    Route(VERSION, IN, ("",), "reply /improv/version with the protocol version"),
    Route(RECONNECT, IN, ("",), "reopen the MIDI output port (after its peer vanished)"),
    Route(TAP, IN, ("",), "tap tempo: taps set the tempo (and, while playing, the beat)"),
    Route(NOTE, OUT, ("siif",), "a note sent: role pitch velocity duration_sec"),
    Route(BEAT, OUT, ("ifff",), "a beat passed: index bpm phase confidence"),
    Route(ONSET, OUT, ("f",), "the player played (an onset heard): strength 0..1"),
    Route(ERROR, OUT, ("ss",), "a bad message: address reason"),
    Route(STATUS, OUT, ("s(si)*",), "reply: state, then name/value pairs of counters"),
    Route(VERSION, OUT, ("i",), "reply: the protocol version"),
)

IN_ROUTES = {r.address: r for r in ROUTES if r.direction == IN}
OUT_ROUTES = {r.address: r for r in ROUTES if r.direction == OUT}

# -- MIDI -----------------------------------------------------------------------------------
# One output channel per role (0-based here; users see 1-based: bass on MIDI channel 2 ...).
# Channel index 0 is left to the player (the demo writes their part there).
PLAYER_CHANNEL = 0
ROLE_CHANNELS: dict[str, int] = {"bass": 1, "chords": 2}
# General MIDI programs sent at start so a plain GM synth sounds right out of the box.
ROLE_PROGRAMS: dict[str, int] = {"bass": 32, "chords": 4}
PLAYER_PROGRAM = 0

MIDI_CLOCK_PPQN = 24
