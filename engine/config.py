"""Typed configuration: dataclasses, loadable from TOML, strict about keys and types.

Unknown keys and wrong types are errors that name the key, e.g.
``config error: midi.api must be one of alsa, jack, auto (got 'jakc')``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from . import protocol


class ConfigError(ValueError):
    """A configuration value or file is wrong; the message names the key."""


MIDI_APIS = ("auto", "alsa", "jack")


@dataclass
class MidiConfig:
    api: str = "auto"  # rtmidi backend: alsa (Linux desktop), jack, or auto (alsa, else jack)
    input: str | None = None  # port to read the player from (name substring), "virtual", or none
    output: str = "virtual"  # port to play into (name substring), or "virtual" (others connect)
    client_name: str = "improv"  # client name shown by the MIDI system
    clock_out: bool = False  # send MIDI clock (24 ppqn, start/stop/song position)
    thru: bool = False  # echo the player's notes on MIDI channel 1


@dataclass
class AudioConfig:
    # the player's audio: a PortAudio device (name substring or index), "jack" (a JACK input
    # connected to the capture port numbered `channel`) or "jack:PORT" (connected to PORT);
    # none = off. A JACK input survives the server going away and coming back.
    input: str | None = None
    samplerate: int = 48000  # Hz
    blocksize: int = 128  # frames per callback
    channel: int = 0  # which input channel is the player


@dataclass
class OscConfig:
    host: str = protocol.DEFAULT_OSC_HOST  # listen address; loopback unless asked otherwise
    port: int = protocol.DEFAULT_OSC_IN_PORT  # control in; 0 = pick a free port
    out: str | None = f"{protocol.DEFAULT_OSC_HOST}:{protocol.DEFAULT_OSC_OUT_PORT}"  # HOST:PORT
    allow: str | None = None  # only these client addresses ("10.0.0.5,10.0.0.6"); none = all


@dataclass
class TempoConfig:
    bpm: float = 100.0  # tempo until something (a control, later the tracker) changes it
    beats_per_bar: int = 4
    follow: bool = True  # follow the beat tracker (off: the set tempo from the first note on)
    follow_confidence: float = 0.3  # below this tracker confidence, hold the tempo
    tap_note: int = -1  # a MIDI note number that taps the tempo (-1: none)
    tap_cc: int = -1  # a MIDI controller number that taps the tempo (-1: none)
    midi_clock_in: bool = False  # follow incoming MIDI clock instead
    # audio beats from: auto (the flux or the learned activation, as the music asks; the
    # default) | flux | learned (experimental)
    audio_tracker: str = "auto"


@dataclass
class SchedulerConfig:
    spin_sec: float = 0.0003  # busy-wait this last fraction before an event is due
    rt_priority: int = 70  # SCHED_FIFO priority when permitted (0 = don't ask)
    lookahead_sec: float = 0.08  # notes for a beat are decided this long before it sounds
    input_slack_sec: float = 0.015  # wait this long for late input before deciding


@dataclass
class BaselineConfig:
    bass: bool = True  # play the bass role
    chords: bool = True  # play the chords role
    bass_velocity: int = 88
    chord_velocity: int = 64
    window_beats: float = 4.0  # recent player notes that choose the chord
    key_window_beats: float = 32.0  # player notes that decide the key
    stop_after_beats: float = 4.0  # the player silent this long: release, wait for them


MODES = ("accompany", "answer", "both")
KEYS = ("free", "auto") + tuple(f"{n}{m}" for n in ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab",
                                               "A", "Bb", "B") for m in ("", "m"))


@dataclass
class ImproviserConfig:
    enabled: bool = True  # the model plays (MIDI players); off, or for audio players: baseline
    model: str = "react"  # shipped model (react | anticipate) or a path to an .onnx file
    temperature: float = 0.8  # sampling temperature (0 = most likely token)
    top_p: float = 0.95  # nucleus sampling
    density: float = 0.5  # 0 = sustain, 1 = re-strike often (a bias on holding)
    mode: str = "accompany"  # accompany | answer (only answers when the player rests) | both
    key: str = "free"  # scale lock: free (the model's own sense), auto (detected), C, F#m ...
    commit_beats: float = 0.0  # 0: react (each frame when the player's note arrives); else plan
    deadline_sec: float = 0.02  # react: decide this long after a frame with no player note
    chord_sec: float = 0.001  # react: notes this close to the first form one chord
    react_slack_sec: float = 0.005  # react: wait this long for MIDI input to be read
    bass: bool = True  # role on/off
    chords: bool = True
    answer: bool = True
    bass_velocity: int = 88
    chord_velocity: int = 64
    answer_velocity: int = 84
    answer_after_beats: float = 2.0  # the player rests this long: improv answers
    answer_max_beats: float = 8.0  # an answer is at most this long (and at most the phrase)


@dataclass
class Config:
    midi: MidiConfig = field(default_factory=MidiConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    osc: OscConfig = field(default_factory=OscConfig)
    tempo: TempoConfig = field(default_factory=TempoConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    improviser: ImproviserConfig = field(default_factory=ImproviserConfig)
    seed: int = 0  # for the model's sampling (the baseline is deterministic without it)

    def validate(self) -> Config:
        """Check values that types alone cannot; raise ConfigError naming the key."""
        for key, lo, hi in _RANGES:
            section, name = key.split(".")
            value = getattr(getattr(self, section), name)
            if not (math.isfinite(value) and lo <= value <= hi):
                raise ConfigError(f"{key} must be within {lo:g}..{hi:g} (got {value!r})")
        if self.midi.api not in MIDI_APIS:
            raise ConfigError(
                f"midi.api must be one of {', '.join(MIDI_APIS)} (got {self.midi.api!r})"
            )
        if self.osc.out is not None:
            host, port = parse_host_port(self.osc.out, "osc.out")
            if port == self.osc.port and host in (self.osc.host, "localhost", "127.0.0.1"):
                raise ConfigError("osc.out must not be improv's own OSC input (a feedback loop)")
        if self.tempo.audio_tracker not in ("auto", "flux", "learned", "band"):
            raise ConfigError(f"tempo.audio_tracker must be auto, flux, learned or band "
                              f"(got {self.tempo.audio_tracker!r})")
        if self.improviser.mode not in MODES:
            raise ConfigError(f"improviser.mode must be one of {', '.join(MODES)} "
                              f"(got {self.improviser.mode!r})")
        if self.improviser.key not in KEYS:
            raise ConfigError(f"improviser.key must be auto or a key like C, F#, Am, Ebm "
                              f"(got {self.improviser.key!r})")
        if self.scheduler.lookahead_sec <= self.scheduler.input_slack_sec:
            raise ConfigError("scheduler.lookahead_sec must exceed scheduler.input_slack_sec")
        return self


# numeric settings: key, lowest, highest (TOML allows nan and inf: both are refused)
_RANGES = (
    ("tempo.bpm", 20.0, 400.0),
    ("tempo.beats_per_bar", 1, 16),
    ("tempo.follow_confidence", 0.0, 1.0),
    ("tempo.tap_note", -1, 127),
    ("tempo.tap_cc", -1, 127),
    ("audio.samplerate", 8000, 192000),
    ("audio.blocksize", 16, 4096),
    ("audio.channel", 0, 63),
    ("osc.port", 0, 65535),
    ("scheduler.spin_sec", 0.0, 0.005),
    ("scheduler.rt_priority", 0, 99),
    ("scheduler.lookahead_sec", 0.005, 1.0),
    ("scheduler.input_slack_sec", 0.0, 0.5),
    ("baseline.bass_velocity", 1, 127),
    ("baseline.chord_velocity", 1, 127),
    ("baseline.window_beats", 1.0, 64.0),
    ("baseline.key_window_beats", 1.0, 120.0),
    ("baseline.stop_after_beats", 0.5, 64.0),
    ("improviser.temperature", 0.0, 2.0),
    ("improviser.top_p", 0.05, 1.0),
    ("improviser.density", 0.0, 1.0),
    ("improviser.commit_beats", 0.0, 4.0),
    ("improviser.deadline_sec", 0.0, 0.2),
    ("improviser.chord_sec", 0.0, 0.05),
    ("improviser.react_slack_sec", 0.0, 0.05),
    ("improviser.bass_velocity", 1, 127),
    ("improviser.chord_velocity", 1, 127),
    ("improviser.answer_velocity", 1, 127),
    ("improviser.answer_after_beats", 0.5, 32.0),
    ("improviser.answer_max_beats", 1.0, 64.0),
)


def parse_host_port(text: str, key: str = "address") -> tuple[str, int]:
    """``"127.0.0.1:9001"`` -> ``("127.0.0.1", 9001)``; ConfigError naming ``key`` otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not (0 < int(port) < 65536):
        raise ConfigError(f"{key} must be HOST:PORT (got {text!r})")
    return host, int(port)


def _check_type(value: object, hint: object, key: str) -> object:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for opt in options:
            if opt is type(None):
                continue
            try:
                return _check_type(value, opt, key)
            except ConfigError:
                pass
        names = " or ".join("none" if o is type(None) else o.__name__ for o in options)
        raise ConfigError(f"{key} must be {names} (got {type(value).__name__} {value!r})")
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and type(value) is not hint:
        raise ConfigError(f"{key} must be {hint.__name__} (got {type(value).__name__} {value!r})")
    return value


def from_dict(cls: type, data: dict, prefix: str = "") -> object:
    """Build dataclass ``cls`` from a (TOML) dict; unknown keys and wrong types raise."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"unknown key {full!r} (known: {', '.join(sorted(names))})")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = from_dict(hint, value, full + ".")
        else:
            kwargs[key] = _check_type(value, hint, full)
    return cls(**kwargs)


def load(path: str | Path | None = None, overrides: dict | None = None) -> Config:
    """Load a TOML file (optional) and apply ``overrides`` ({"midi.api": "jack", ...})."""
    data: dict = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {p}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {p} is not valid TOML: {exc}") from None
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    cfg = from_dict(Config, data)
    assert isinstance(cfg, Config)
    return cfg.validate()
