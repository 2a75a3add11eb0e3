"""MIDI round trip over JACK: rtmidi out -> improv run -> rtmidi in."""

from __future__ import annotations

import time

import pytest

from engine import protocol
from engine.offline import note_pairs
from engine.play.baseline import BASS_HIGH, BASS_LOW, CHORD_HIGH, CHORD_LOW

BEAT_SEC = 0.5  # 120 BPM
GRID_TOL_SEC = 0.04  # generous: the beat is 0.5 s, a note off the grid would be far off
ARPEGGIO = (60, 64, 67, 72, 67, 64, 60, 64)  # C major, quarter notes


def play_arpeggio(sender, monitor) -> float:
    """Quarter notes at 120 BPM, each held 0.4 s; return the first note-on's send time (how
    late each is sent goes to ``monitor.late``)."""
    t0 = time.monotonic()
    first = None
    for i, pitch in enumerate(ARPEGGIO):
        for due, data in ((t0 + i * BEAT_SEC, (0x90, pitch, 96)),
                          (t0 + i * BEAT_SEC + 0.4, (0x80, pitch, 0))):
            while time.monotonic() < due:
                time.sleep(0.0005)
            t = sender.send(data)
            monitor.late(t - due)
            if first is None:
                first = t
    return first


@pytest.mark.integration
def test_midi_round_trip_roles_pairs_and_beat_grid(improv, midi_sender, midi_recorder, helpers,
                                                  retake):
    # the grid's tolerance is 40 ms: a player 10 ms late has disturbed the take
    retake(lambda monitor: round_trip_take(improv, midi_sender, midi_recorder, helpers,
                                           monitor), late_sec=0.010)


def round_trip_take(improv, midi_sender, midi_recorder, helpers, monitor) -> None:
    """One take: a fresh engine, the arpeggio played in, every check on what came out (what
    no stall of the host excuses through ``monitor.must``)."""
    engine = improv("rt", tempo=120, extra=("--baseline", "--no-follow"))  # the grid: baseline
    rec = None
    try:
        rec = midi_recorder(engine.out_port)
        snd = midi_sender(engine.in_port)
        assert engine.status()[0] == "armed"

        t0 = play_arpeggio(snd, monitor)
        # the player stopped: after 4 silent beats the engine releases and re-arms
        state, counters = engine.wait_status(
            lambda s, c: s == "armed" and c["notes_sent"] > 0, 15.0, "the engine to re-arm")
        helpers.wait_silent(rec)  # the last notes ring out
        time.sleep(0.2)  # nothing else may follow
        sent = rec.stop()
    finally:
        engine.stop()
        if rec is not None:
            rec.stop()  # (its polling thread would load the next take)

    assert counters["midi_in"] == 2 * len(ARPEGGIO)
    monitor.must(counters["thread_errors"] == 0, f"thread errors: {counters}")
    ons = [m for m in sent if m.data[0] & 0xF0 == 0x90 and m.data[2] > 0]
    # every note the engine sent arrived, once
    assert len(ons) == counters["notes_sent"], (len(ons), counters)

    bass_ch, chord_ch = protocol.ROLE_CHANNELS["bass"], protocol.ROLE_CHANNELS["chords"]
    monitor.must({m.data[0] & 0x0F for m in ons} <= {bass_ch, chord_ch},
                 f"notes on other channels: {ons}")
    assert {m.data[0] & 0x0F for m in ons} == {bass_ch, chord_ch}
    bass = [m for m in ons if m.data[0] & 0x0F == bass_ch]
    chords = [m for m in ons if m.data[0] & 0x0F == chord_ch]
    assert len(bass) >= 4 and len(chords) >= 6, (len(bass), len(chords))
    monitor.must(all(BASS_LOW <= m.data[1] <= BASS_HIGH for m in bass), f"bass range: {bass}")
    monitor.must(all(CHORD_LOW <= m.data[1] <= CHORD_HIGH for m in chords),
                 f"chord range: {chords}")
    # C major arpeggio: the chords are made of C-major diatonic pitch classes
    monitor.must({m.data[1] % 12 for m in chords} <= {0, 2, 4, 5, 7, 9, 11},
                 f"chords outside C major: {chords}")

    # every note-on has its note-off (raises otherwise)
    pairs = note_pairs(sent)
    assert len(pairs) == len(ons)

    # onsets on the beat grid anchored at the first played note
    beats = set()
    for m in ons:
        rel = m.t_sec - t0
        k = round(rel / BEAT_SEC)
        assert k >= 1, f"note {m} before the first beat after the anchor ({rel:.3f} s)"
        assert abs(rel - k * BEAT_SEC) < GRID_TOL_SEC, f"note {m} off the grid: {rel:.3f} s"
        beats.add(k)
    # one bass note per beat, from beat 1 through at least the last played beat
    assert sorted(beats)[:len(ARPEGGIO) - 1] == list(range(1, len(ARPEGGIO)))
    bass_beats = [round((m.t_sec - t0) / BEAT_SEC) for m in bass]
    assert len(bass_beats) == len(set(bass_beats))
