"""Every OSC address and MIDI role/channel constant, in one place.

The README's protocol table is generated from :data:`ROUTES` (``improv protocol``), and
tests check the README and the patches against it, so code, docs and patches cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

PROTOCOL_VERSION = 3  # 3: /improv/bar

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
TEMPERATURE = "/improv/temperature"
DENSITY = "/improv/density"
ROLE_PREFIX = "/improv/role/"
KEY = "/improv/key"
MODE = "/improv/mode"
COMMIT = "/improv/commit"
FOLLOW = "/improv/follow"
REASON = "/improv/reason"

# -- out (monitoring, replies) --------------------------------------------------------------
NOTE = "/improv/note"
BEAT = "/improv/beat"
BAR = "/improv/bar"
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
    Route(STATUS, IN, ("",), "reply /improv/status with the counters, then /improv/reason"),
    Route(VERSION, IN, ("",), "reply /improv/version with the protocol version"),
    Route(RECONNECT, IN, ("",), "reopen the MIDI output port (after its peer vanished)"),
    Route(TAP, IN, ("",), "tap tempo: taps set the tempo (and, while playing, the beat)"),
    Route(TEMPERATURE, IN, ("f",), "the model's sampling temperature, 0..2 (0 = most likely)"),
    Route(DENSITY, IN, ("f",), "0..1: 0 sustains, 1 re-strikes often (0.5 = as trained)"),
    Route(ROLE_PREFIX + "bass", IN, ("i",), "bass role on (1) or off (0)"),
    Route(ROLE_PREFIX + "chords", IN, ("i",), "chords role (tenor + alto voices) on or off"),
    Route(ROLE_PREFIX + "answer", IN, ("i",), "answer role (call and response) on or off"),
    Route(KEY, IN, ("s", "is"),
          "key lock: free, auto (detected), a key (C, F#m) or pitch class + major/minor"),
    Route(MODE, IN, ("s",), "accompany, answer (only answers the player's phrases) or both"),
    Route(COMMIT, IN, ("f",), "committed horizon in beats (0 = react, decided as notes arrive)"),
    Route(FOLLOW, IN, ("i",), "follow the beat tracker's tempo (1) or keep the set tempo (0)"),
    Route(NOTE, OUT, ("siif",), "a note: role pitch velocity duration_sec (velocity 0: its "
          "note-off; duration 0: until that note-off)"),
    Route(BEAT, OUT, ("ifff",), "a beat passed: index bpm phase confidence"),
    Route(BAR, OUT, ("ii",), "the beat the tracker just heard: its place in the bar "
          "(1 = downbeat) and the meter (3 or 4), once known"),
    Route(ONSET, OUT, ("f",), "the player played (an onset heard): strength 0..1"),
    Route(ERROR, OUT, ("ss",), "a bad message (its address) or a fault (jack), and why"),
    Route(STATUS, OUT, ("s(si)*",), "reply: state, then name/value pairs of counters"),
    Route(VERSION, OUT, ("i",), "reply: the protocol version"),
    Route(REASON, OUT, ("s",), "reply: what the accompanist is doing and why, in words"),
)

IN_ROUTES = {r.address: r for r in ROUTES if r.direction == IN}
OUT_ROUTES = {r.address: r for r in ROUTES if r.direction == OUT}

# -- MIDI -----------------------------------------------------------------------------------
# One output channel per role (0-based here; users see 1-based: bass on MIDI channel 2 ...).
# Channel index 0 is left to the player (the demo writes their part there).
PLAYER_CHANNEL = 0
ROLE_CHANNELS: dict[str, int] = {"bass": 1, "chords": 2, "answer": 3}
# General MIDI programs sent at start so a plain GM synth sounds right out of the box.
ROLE_PROGRAMS: dict[str, int] = {"bass": 32, "chords": 4, "answer": 11}
PLAYER_PROGRAM = 0

MIDI_CLOCK_PPQN = 24
