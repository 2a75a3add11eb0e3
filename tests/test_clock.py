import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.clock import TempoMap, VirtualClock, check_bpm


def test_constant_tempo_round_trip():
    tm = TempoMap(120.0, t0_sec=10.0)
    assert tm.t_sec(0) == 10.0
    assert tm.t_sec(4) == pytest.approx(12.0)
    assert tm.beat(11.0) == pytest.approx(2.0)
    assert tm.t_sec(-2) == pytest.approx(9.0)  # before the first segment: the first tempo


def test_tempo_change_is_piecewise():
    tm = TempoMap(120.0)  # 0.5 s per beat
    tm.set_tempo(60.0, at_beat=4)  # 1 s per beat from beat 4 (t = 2 s)
    assert tm.t_sec(4) == pytest.approx(2.0)
    assert tm.t_sec(6) == pytest.approx(4.0)
    assert tm.beat(3.0) == pytest.approx(5.0)
    assert tm.bpm_at(3.9) == 120.0 and tm.bpm_at(4) == 60.0


def test_set_tempo_replaces_later_segments():
    tm = TempoMap(120.0)
    tm.set_tempo(60.0, at_beat=8)
    tm.set_tempo(240.0, at_beat=4)  # earlier change wins from beat 4 on
    assert tm.bpm_at(10) == 240.0
    assert tm.t_sec(8) == pytest.approx(2.0 + 4 * 0.25)


def test_anchor_restarts_the_map():
    tm = TempoMap(120.0)
    tm.set_tempo(60.0, at_beat=2)
    tm.anchor(5.0, bpm=100.0)
    assert tm.t_sec(0) == 5.0
    assert tm.t_sec(10) == pytest.approx(5.0 + 6.0)


def test_bpm_range_is_checked():
    with pytest.raises(ValueError, match="20..400"):
        check_bpm(5)
    with pytest.raises(ValueError):
        TempoMap(1000.0)


@given(
    changes=st.lists(
        st.tuples(st.floats(0.0, 64.0), st.floats(30.0, 300.0)), min_size=0, max_size=8
    ),
    beat=st.floats(-8.0, 100.0),
)
def test_beat_and_seconds_are_inverse(changes, beat):
    tm = TempoMap(100.0, t0_sec=3.0)
    for at_beat, bpm in sorted(changes):
        tm.set_tempo(bpm, at_beat)
    assert tm.beat(tm.t_sec(beat)) == pytest.approx(beat, abs=1e-6)


@given(st.lists(st.tuples(st.floats(0.0, 64.0), st.floats(30.0, 300.0)), max_size=8))
def test_time_is_monotonic_in_beats(changes):
    tm = TempoMap(100.0)
    for at_beat, bpm in changes:
        tm.set_tempo(bpm, at_beat)
    times = [tm.t_sec(b / 4) for b in range(0, 400)]
    assert all(b > a for a, b in zip(times, times[1:]))
    assert not any(math.isnan(t) for t in times)


def test_virtual_clock_only_moves_forward():
    c = VirtualClock(1.0)
    c.advance_to(2.0)
    c.advance_to(1.5)
    assert c.now() == 2.0


def test_place_moves_future_beats_and_keeps_the_past():
    tm = TempoMap(120.0)
    before = tm.t_sec(3)
    tm.place(4, 2.1, 100.0)  # beat 4 a little late, then 100 BPM
    assert tm.t_sec(3) == before
    assert tm.t_sec(4) == pytest.approx(2.1) and tm.t_sec(5) == pytest.approx(2.7)
    tm.place(6, 0.0, 100.0)  # never before the previous beat
    assert tm.t_sec(6) > tm.t_sec(5)
