"""The beat labels of the tracker-module training clips (bench/beats_trainmods.py): which rows
are beats and bars, the beat level, and the tempo curves (no libopenmpt needed)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import beats_trainmods as bm  # noqa: E402


def rows_at(bpm_at_4_rows: float, n_rows: int, pattern_rows: int = 64):
    """(t_sec, pattern, row) of ``n_rows`` evenly spaced rows, 4 of them a beat at the BPM."""
    row_sec = 60.0 / bpm_at_4_rows / 4
    return [(k * row_sec, k // pattern_rows, k % pattern_rows) for k in range(n_rows)]


def it_header(rows_per_beat: int, rows_per_bar: int) -> bytes:
    head = bytearray(b"IMPM" + bytes(0xC0))
    head[0x1E], head[0x1F] = rows_per_beat, rows_per_bar
    return bytes(head)


def test_an_it_files_highlight_is_read_and_other_formats_get_the_convention():
    assert bm.highlight(it_header(6, 24)) == (6, 24)
    assert bm.highlight(it_header(0, 0)) == (4, 16)
    assert bm.highlight(it_header(4, 18)) == (4, 16)  # a bar that is no whole number of beats
    assert bm.highlight(b"Extended Module: " + bytes(100)) == (4, 16)


def test_beats_fall_on_every_fourth_row_and_bars_restart_at_a_pattern():
    rows = rows_at(120.0, 64 + 40, pattern_rows=64)
    beats = bm.beat_grid(rows, 4, 16)
    assert len(beats) == 16 + 10
    assert np.allclose(np.diff([t for t, _ in beats]), 0.5)
    assert [p for _, p in beats[:6]] == [1, 2, 3, 4, 1, 2]
    # a pattern cut short at row 40 (a pattern break): the next bar starts at its row 0
    cut = [r for r in rows_at(120.0, 64) if r[2] < 42] + [
        (t + 42 * 0.125, 1, r) for t, _, r in rows_at(120.0, 16)]
    positions = [p for _, p in bm.beat_grid(cut, 4, 16)]
    assert positions[10:13] == [3, 1, 2]  # rows 40 (a third beat), then the new pattern's 0, 4


def test_the_beat_level_is_doubled_or_halved_into_the_range_with_the_bar():
    rpb, bar, bpm = bm.choose_level(rows_at(250.0, 256), 4, 16, explicit=False)
    assert (rpb, bar) == (8, 32) and abs(bpm - 125.0) < 0.1
    rpb, bar, bpm = bm.choose_level(rows_at(50.0, 256), 4, 16, explicit=False)
    assert (rpb, bar) == (2, 8) and abs(bpm - 100.0) < 0.1
    rpb, bar, bpm = bm.choose_level(rows_at(125.0, 256), 4, 16, explicit=False)
    assert (rpb, bar) == (4, 16) and abs(bpm - 125.0) < 0.1
    # an IT file's own highlight stands within 50-230 BPM (here 6 rows a beat: 83 BPM)
    rpb, bar, bpm = bm.choose_level(rows_at(125.0, 256), 6, 24, explicit=True)
    assert (rpb, bar) == (6, 24) and abs(bpm - 125.0 * 4 / 6) < 0.1


def test_tempo_curves_keep_the_beat_in_range_and_move_as_named():
    for seed in range(40):
        for base_bpm in (75.0, 125.0, 175.0):
            factor_at, kinds = bm.curve(random.Random(seed), base_bpm)
            for k, kind in enumerate(kinds[:6]):
                t = k * bm.PIECE_SEC + np.linspace(0.0, bm.PIECE_SEC - 1e-6, 61)
                f = np.array([factor_at(x) for x in t])
                assert np.all(base_bpm * f >= bm.BPM_RANGE[0] * 0.9 - 1e-9)
                assert np.all(base_bpm * f <= bm.BPM_RANGE[1] * 1.1 + 1e-9)
                if kind == "steady":
                    assert np.ptp(f) == 0.0
                elif kind == "accel":
                    assert np.all(np.diff(f) >= 0) and f[-1] > f[0]
                elif kind == "rit":
                    assert np.all(np.diff(f) <= 0) and f[-1] < f[0]
                else:
                    assert np.ptp(f) > 0.05 * f.min()
