"""The offline twin: the engine on a virtual clock, fed from files."""

import struct
from collections import Counter

import numpy as np
import pytest

from engine import offline, protocol
from engine.config import load
from engine.io.files import read_midi, save_midi, write_wav
from engine.offline import note_pairs, render
from tests.helpers import EXAMPLE, melody_events, tones, write_midi

C_MAJOR_TUNE = [60, 64, 67, 72, 65, 69, 72, 77, 67, 71, 74, 79, 60, 64, 67, 72]
# the rule-based accompanist at the set tempo: notes exactly on the grid
BASELINE = {"improviser.enabled": False, "tempo.follow": False}


def on_times(sent, channel):
    return [t for t, _, ch, _, _ in note_pairs(sent) if ch == channel]


def test_example_renders_bass_and_chords_on_separate_channels():
    result = render(EXAMPLE, load(overrides={"tempo.bpm": 100.0, **BASELINE}))
    notes = note_pairs(result.sent)  # asserts every note-on has its note-off
    by_channel = Counter(ch for _, _, ch, _, _ in notes)
    bass, chords = protocol.ROLE_CHANNELS["bass"], protocol.ROLE_CHANNELS["chords"]
    assert by_channel[bass] > 40 and by_channel[chords] > 100
    assert set(by_channel) == {bass, chords}
    # the accompaniment lands on the beat grid anchored at the first player note (100 BPM)
    events, _ = read_midi(EXAMPLE)
    t0 = events[0].t_sec
    for t in on_times(result.sent, bass):
        beats = (t - t0) / 0.6
        assert abs(beats - round(beats)) < 1e-3


def test_same_input_same_notes():
    cfg = load(overrides={"tempo.bpm": 100.0})
    a = render(EXAMPLE, cfg).sent
    b = render(EXAMPLE, cfg).sent
    assert a == b


def test_step_size_does_not_change_the_notes(monkeypatch, tmp_path):
    path = write_midi(tmp_path / "m.mid", melody_events(C_MAJOR_TUNE))
    cfg = load(overrides={"tempo.bpm": 120.0})
    fine = note_pairs(render(path, cfg).sent)
    monkeypatch.setattr(offline, "STEP_SEC", 0.0037)
    coarse = note_pairs(render(path, cfg).sent)
    assert len(fine) > 40
    assert [n[2:] for n in fine] == [n[2:] for n in coarse]
    assert np.allclose([n[:2] for n in fine], [n[:2] for n in coarse], atol=1e-9)


def test_thru_adds_the_player_on_channel_one(tmp_path):
    events = melody_events(C_MAJOR_TUNE)
    path = write_midi(tmp_path / "m.mid", events)
    result = render(path, load(overrides={"tempo.bpm": 120.0}), thru=True)
    player = [n for n in note_pairs(result.sent) if n[2] == protocol.PLAYER_CHANNEL]
    assert [n[3] for n in player] == C_MAJOR_TUNE
    assert np.allclose([n[0] for n in player], [e.t_sec for e in events if e.data[0] == 0x90],
                       atol=2e-3)


def test_accompaniment_stops_when_the_player_stops_and_comes_back(tmp_path):
    first = melody_events(C_MAJOR_TUNE[:8], start_sec=0.5)
    second = melody_events(C_MAJOR_TUNE[8:], start_sec=14.0)  # after a long silence
    path = write_midi(tmp_path / "m.mid", first + second)
    result = render(path, load(overrides={"tempo.bpm": 120.0, **BASELINE}))
    ons = sorted(on_times(result.sent, protocol.ROLE_CHANNELS["bass"]))
    gap = [t for t in ons if 7.5 < t < 13.9]
    assert gap == []  # silent while the player is silent
    assert any(t > 14.0 for t in ons)  # and back when they return
    second_ons = [t for t in ons if t > 14.0]
    assert abs(second_ons[0] - 14.5) < 1e-3  # re-anchored: beat 1 after their first note


def test_midi_flood_and_sysex_are_counted_not_lost(tmp_path):
    from engine.events import MidiMessage

    flood = [MidiMessage(1.0, (0x90 | (i % 16), i % 128, 1 + i % 100)) for i in range(1000)]
    flood.append(MidiMessage(1.0, (0xF0, 0x7D, 1, 2, 3, 0xF7)))
    result = render(write_midi(tmp_path / "f.mid", flood), load())
    c = result.engine.counters
    assert c.midi_in == 1001 and c.midi_in_sysex == 1
    note_pairs(result.sent)


def test_render_writes_a_midi_file_with_tracks_per_channel(tmp_path):
    import mido

    result = render(EXAMPLE, load(overrides={"tempo.bpm": 100.0, **BASELINE}), thru=True)
    out = save_midi(result.sent, tmp_path / "o.mid")
    mf = mido.MidiFile(out)
    names = [t.name for t in mf.tracks]
    assert names[1:] == ["channel 1", "channel 2", "channel 3", "channel 4"]  # + answer
    events, _ = read_midi(out)
    on = [e for e in events if e.data[0] & 0xF0 == 0x90 and e.data[2] > 0]
    assert len(on) == result.engine.counters.notes_sent


def test_wav_input_through_the_same_engine(tmp_path):
    # an arpeggio in G major as audio: the engine starts on the first tone and harmonises
    pitches = [67, 71, 74, 79, 67, 71, 74, 79, 62, 66, 69, 74, 67, 71, 74, 79]
    x = tones(pitches, bpm=120.0, sr=48000, start_sec=0.5)
    path = tmp_path / "g.wav"
    write_wav(path, x, 48000)
    result = render(path, load(overrides={"tempo.bpm": 120.0}))
    notes = note_pairs(result.sent)
    assert result.engine.counters.audio_blocks == len(x) // 128
    bass = [n for n in notes if n[2] == protocol.ROLE_CHANNELS["bass"]]
    assert abs(bass[0][0] - 1.0) < 0.01  # beat 1 after the first tone at 0.5 s
    chord_pcs = Counter(n[3] % 12 for n in notes if n[2] == protocol.ROLE_CHANNELS["chords"])
    top = {pc for pc, _ in chord_pcs.most_common(3)}
    assert top == {7, 11, 2}  # G B D


def riff(fmt_tag: int, channels: int, rate: int, bits: int, frames: bytes,
         extensible: bool = False, extra: bytes = b"") -> bytes:
    """A WAV file's bytes: an odd-sized chunk (``extra``) may come before the data."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else fmt_tag, channels, rate,
                      rate * block, block, bits)
    if extensible:  # cbSize, valid bits, channel mask, the sub-format GUID
        fmt += struct.pack("<HHIH", 22, bits, 0, fmt_tag) + bytes(14)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if extra:
        body += b"LIST" + struct.pack("<I", len(extra)) + extra + b"\0" * (len(extra) & 1)
    body += b"data" + struct.pack("<I", len(frames)) + frames
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_wav_reader_takes_float_and_extensible_files_and_names_what_is_wrong(tmp_path):
    from engine.io.files import InputFileError, read_wav

    left = np.array([0.5, -0.25, 1.0, 0.0])
    right = np.array([0.0, 0.25, -1.0, 0.5])
    stereo = np.stack([left, right], axis=1)
    cases = {  # (tag, bits, extensible, sample bytes)
        "float32": (3, 32, False, stereo.astype("<f4").tobytes()),
        "float64 extensible": (3, 64, True, stereo.astype("<f8").tobytes()),
        "pcm16 extensible": (1, 16, True, (stereo * 32767).astype("<i2").tobytes()),
    }
    for name, (tag, bits, ext, frames) in cases.items():
        path = tmp_path / f"{name}.wav"
        path.write_bytes(riff(tag, 2, 48000, bits, frames, ext, extra=b"odd"))
        x, sr = read_wav(path)
        assert sr == 48000 and x.dtype == np.float32, name
        assert np.allclose(x, (left + right) / 2, atol=1e-4), name  # channels averaged
    # a PCM file the old reader (the wave module) read: the same samples
    write_wav(tmp_path / "pcm.wav", left, 44100)
    ints = (left * 32767.0).astype("<i2")  # (write_wav's conversion)
    assert np.array_equal(read_wav(tmp_path / "pcm.wav")[0], ints.astype(np.float32) / 32767.0)
    # NaN / inf in a float file become silence / full scale, not NaN samples
    (tmp_path / "nan.wav").write_bytes(
        riff(3, 1, 44100, 32, np.array([np.nan, np.inf, -np.inf], "<f4").tobytes()))
    assert read_wav(tmp_path / "nan.wav")[0].tolist() == [0.0, 1.0, -1.0]
    bad = {
        "empty": (b"", "not a RIFF/WAVE file"),
        "garbage": (b"RIFF1234WAVEjunkjunkjunk", "no format chunk"),
        "no data": (riff(1, 1, 44100, 16, b"")[:-8], "no data chunk"),
        "a-law": (riff(6, 1, 8000, 8, b"\0\0"), "format 6 with 8-bit samples"),
        "truncated": (riff(1, 1, 44100, 16, b"\0" * 64)[:30], "no format chunk"),
    }
    for name, (data, message) in bad.items():
        path = tmp_path / f"{name}.wav"
        path.write_bytes(data)
        with pytest.raises(InputFileError, match=message):
            read_wav(path)


def test_unknown_input_kind_is_a_clear_error(tmp_path):
    from engine.io.files import InputFileError

    p = tmp_path / "x.txt"
    p.write_text("hi")
    with pytest.raises(InputFileError, match="expected a .mid"):
        render(p, load())
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not a midi file")
    with pytest.raises(InputFileError, match="cannot read MIDI"):
        render(bad, load())
