"""Offline sources and sinks: MIDI files and WAV files, for the offline twin."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import mido
import numpy as np

from ..events import MidiMessage, SentMidi

FILE_PPQ = 480
FILE_TEMPO_USEC = 500_000  # 120 BPM: 1 s = 960 ticks, so t_sec is exact to ~1 ms


class InputFileError(ValueError):
    """An input file is missing, unreadable or of an unknown kind."""


def open_midi(path: str | Path) -> mido.MidiFile:
    """``mido.MidiFile(path)``, or InputFileError saying what is wrong with the file."""
    try:
        return mido.MidiFile(path)
    except FileNotFoundError:
        raise InputFileError(f"input file not found: {path}") from None
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise InputFileError(f"cannot read MIDI file {path}: {exc}") from None


def read_midi(path: str | Path) -> tuple[list[MidiMessage], float | None]:
    """All channel (and sysex) messages of a MIDI file with their times in seconds, and the
    file's first tempo in BPM (None when it sets none)."""
    mf = open_midi(path)
    bpm = None
    t_sec = 0.0
    events: list[MidiMessage] = []
    for msg in mf:  # merged tracks, .time = seconds since the previous message
        t_sec += msg.time
        if msg.is_meta:
            if msg.type == "set_tempo" and bpm is None:
                bpm = mido.tempo2bpm(msg.tempo)
            continue
        events.append(MidiMessage(t_sec, tuple(msg.bytes())))
    return events, bpm


WAVE_PCM, WAVE_FLOAT, WAVE_EXTENSIBLE = 1, 3, 0xFFFE


def _wav_chunks(data: bytes) -> dict[bytes, bytes]:
    """The chunks of a RIFF/WAVE file's bytes, by id (the first of each); ValueError if it is
    not one."""
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RF64") or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    chunks: dict[bytes, bytes] = {}
    pos = 12
    while pos + 8 <= len(data):
        cid = data[pos:pos + 4]
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        if cid == b"data" and (size == 0xFFFFFFFF or pos + 8 + size > len(data)):
            size = len(data) - pos - 8  # RF64, or a writer that never came back for the size
        chunks.setdefault(cid, data[pos + 8:pos + 8 + size])
        pos += 8 + size + (size & 1)  # chunks are padded to an even length
    return chunks


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """(mono float32 samples, sample rate): PCM 8/16/24/32-bit (scaled to [-1, 1]) or IEEE
    float 32/64-bit WAV (as written: a float file may go past +-1), plain or
    WAVE_FORMAT_EXTENSIBLE; channels are averaged. Anything else, or a damaged file, is an
    InputFileError that says what is wrong."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"input file not found: {path}") from None
    except OSError as exc:
        raise InputFileError(f"cannot read WAV file {path}: {exc}") from None
    try:
        chunks = _wav_chunks(data)
        fmt, raw = chunks.get(b"fmt "), chunks.get(b"data")
        if fmt is None or len(fmt) < 16:
            raise ValueError("no format chunk")
        if raw is None:
            raise ValueError("no data chunk")
        tag = int.from_bytes(fmt[0:2], "little")
        n_ch = int.from_bytes(fmt[2:4], "little")
        sr = int.from_bytes(fmt[4:8], "little")
        block = int.from_bytes(fmt[12:14], "little")
        bits = int.from_bytes(fmt[14:16], "little")
        if tag == WAVE_EXTENSIBLE and len(fmt) >= 26:
            tag = int.from_bytes(fmt[24:26], "little")  # the sub-format GUID's first field
        if n_ch < 1 or sr < 1:
            raise ValueError(f"{n_ch} channels at {sr} Hz")
        # the bytes a sample takes (12- or 20-bit samples sit in 2 or 3 bytes)
        width = block // n_ch if block and block % n_ch == 0 else (bits + 7) // 8
        if (tag, width) not in {(WAVE_PCM, 1), (WAVE_PCM, 2), (WAVE_PCM, 3), (WAVE_PCM, 4),
                                (WAVE_FLOAT, 4), (WAVE_FLOAT, 8)}:
            raise ValueError(f"format {tag} with {bits}-bit samples (PCM 8/16/24/32-bit or "
                             "float 32/64-bit expected)")
    except ValueError as exc:
        raise InputFileError(f"cannot read WAV file {path}: {exc}") from None
    raw = raw[:len(raw) - len(raw) % (width * n_ch)]  # a last partial frame is dropped
    if tag == WAVE_FLOAT:
        x = np.frombuffer(raw, dtype="<f4" if width == 4 else "<f8").astype(np.float32)
        x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        ints = (b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8)
                | (b[:, 2].astype(np.int32) << 16))
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        x = ints.astype(np.float32) / float(1 << 23)
    else:
        dtype = {1: np.uint8, 2: np.dtype("<i2"), 4: np.dtype("<i4")}[width]
        x = np.frombuffer(raw, dtype=dtype).astype(np.float32)
        x = (x - 128.0) / 128.0 if width == 1 else x / float(np.iinfo(dtype).max)
    x = x.reshape(-1, n_ch).mean(axis=1).astype(np.float32)
    return x, sr


def write_wav(path: str | Path, samples: np.ndarray, samplerate: int) -> None:
    """Write mono float samples as 16-bit PCM."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(samplerate)
        w.writeframes(pcm.tobytes())


class FileMidiInput:
    """Plays a list of MidiMessage into the engine as the virtual clock passes their times:
    ``read()`` returns those due by ``clock.now()`` as (data, delta_sec), like rtmidi."""

    def __init__(self, events: list[MidiMessage], clock: Any) -> None:
        self.events = sorted(events, key=lambda e: e.t_sec)
        self.clock = clock
        self.overflows = 0
        self._i = 0
        self._last_t_sec = 0.0

    def next_t_sec(self) -> float | None:
        return self.events[self._i].t_sec if self._i < len(self.events) else None

    def read(self) -> tuple[list[int], float] | None:
        if self._i >= len(self.events) or self.events[self._i].t_sec > self.clock.now():
            return None
        ev = self.events[self._i]
        self._i += 1
        delta = ev.t_sec - self._last_t_sec
        self._last_t_sec = ev.t_sec
        return list(ev.data), delta

    def close(self) -> None:
        pass


class MidiFileOutput:
    """Records what would have been sent, then ``save(path)`` writes a type-1 MIDI file
    with one track per channel (times exact to a tick: 1/960 s)."""

    def __init__(self) -> None:
        self.sent: list[SentMidi] = []
        self.errors = 0

    def send(self, data: tuple[int, ...], t_sec: float) -> None:
        self.sent.append(SentMidi(t_sec, tuple(data)))

    def peer_alive(self) -> bool:
        return True

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        pass

    def save(self, path: str | Path, t0_sec: float = 0.0) -> Path:
        return save_midi(self.sent, path, t0_sec)


def save_midi(sent: list[SentMidi], path: str | Path, t0_sec: float = 0.0) -> Path:
    """Write channel messages (one track per channel) and system messages (track 0)."""
    mf = mido.MidiFile(type=1, ticks_per_beat=FILE_PPQ)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=FILE_TEMPO_USEC, time=0))
    mf.tracks.append(meta)
    by_track: dict[int, list[tuple[int, mido.Message]]] = {}
    ticks_per_sec = FILE_PPQ * 1e6 / FILE_TEMPO_USEC
    for s in sorted(sent, key=lambda s: s.t_sec):
        if s.data[0] >= 0xF0 and s.data[0] != 0xF0:
            continue  # realtime/system common (clock) are not stored in files
        msg = mido.Message.from_bytes(list(s.data))
        track = (s.data[0] & 0x0F) + 1 if s.data[0] < 0xF0 else 0
        tick = max(0, int(round((s.t_sec - t0_sec) * ticks_per_sec)))
        by_track.setdefault(track, []).append((tick, msg))
    for track in sorted(by_track):
        tr = meta if track == 0 else mido.MidiTrack()
        if track:
            tr.append(mido.MetaMessage("track_name", name=f"channel {track}", time=0))
            mf.tracks.append(tr)
        last = 0
        for tick, msg in by_track[track]:
            tr.append(msg.copy(time=tick - last))
            last = tick
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    mf.save(out)
    return out
