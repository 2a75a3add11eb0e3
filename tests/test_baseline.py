import numpy as np

from engine.play.baseline import (
    BASS_HIGH,
    BASS_LOW,
    CHORD_HIGH,
    CHORD_LOW,
    BaselineAccompanist,
    Chord,
    choose_chord,
    estimate_key,
    voice_chord,
)


def pcs(*classes, weights=None):
    v = np.zeros(12)
    for i, c in enumerate(classes):
        v[c] += 1.0 if weights is None else weights[i]
    return v


def test_key_of_scales():
    assert estimate_key(pcs(0, 2, 4, 5, 7, 9, 11, 0, 4, 7)) == (0, True)  # C major
    assert estimate_key(pcs(9, 11, 0, 2, 4, 5, 8, 9, 0, 4)) == (9, False)  # A harmonic minor
    assert estimate_key(pcs(7, 9, 11, 0, 2, 4, 6, 7, 11, 2)) == (7, True)  # G major


def test_chord_covers_recent_notes():
    assert choose_chord(pcs(7, 11, 2), 0, True, None) == Chord(7, (0, 4, 7))  # G in C
    assert choose_chord(pcs(5, 9, 0), 0, True, None) == Chord(5, (0, 4, 7))  # F in C
    assert choose_chord(pcs(9, 0, 4), 0, True, None) == Chord(9, (0, 3, 7))  # Am in C


def test_voicing_in_range_and_smooth():
    prev = None
    for chord in [Chord(0, (0, 4, 7)), Chord(5, (0, 4, 7)), Chord(7, (0, 4, 7)),
                  Chord(9, (0, 3, 7))]:
        v = voice_chord(chord, prev)
        assert sorted(p % 12 for p in v) == sorted(chord.pcs)
        assert all(CHORD_LOW <= p <= CHORD_HIGH for p in v)
        if prev is not None:
            assert sum(abs(a - b) for a, b in zip(sorted(v), sorted(prev))) <= 8
        prev = v


def test_process_plays_bass_and_chord_on_each_beat():
    acc = BaselineAccompanist(beats_per_bar=4)
    key = pcs(0, 2, 4, 5, 7, 9, 11, 0, 4, 7)
    all_notes = []
    for b in range(1, 9):
        notes = acc.process(b, pcs(0, 4, 7), key)
        roles = [n.role for n in notes]
        assert roles.count("bass") == 1 and roles.count("chords") == 3
        assert all(n.beat == float(b) for n in notes)
        all_notes += notes
    bass = [n.pitch for n in all_notes if n.role == "bass"]
    assert all(BASS_LOW <= p <= BASS_HIGH for p in bass)
    assert {p % 12 for p in bass} <= {0, 7}  # root and fifth of C
    downbeat = [n for n in all_notes if n.beat == 4.0 and n.role == "bass"][0]
    offbeat = [n for n in all_notes if n.beat == 5.0 and n.role == "bass"][0]
    assert downbeat.velocity > offbeat.velocity


def test_waits_for_enough_pitch_classes_before_chords():
    acc = BaselineAccompanist()
    notes = acc.process(1, pcs(4), pcs(4))
    assert [n.role for n in notes] == ["bass"] and notes[0].pitch % 12 == 4
    assert acc.process(1, np.zeros(12), np.zeros(12)) == []


def test_roles_can_be_switched_off():
    acc = BaselineAccompanist(bass=False)
    notes = acc.process(1, pcs(0, 4, 7), pcs(0, 4, 7, 2, 5))
    assert {n.role for n in notes} == {"chords"}
