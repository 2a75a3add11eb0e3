"""The ``retake`` fixture: a disturbed take that fails is played again, a clean one is not."""

from __future__ import annotations

import pytest


def test_retake_plays_a_disturbed_take_again_and_never_a_clean_one(retake):
    takes = []

    def late_then_good(monitor):
        takes.append(len(takes))
        if len(takes) == 1:
            monitor.late(0.05)  # the test's own player stalled 50 ms
            raise AssertionError("off the grid")
        return "ok"

    assert retake(late_then_good) == "ok" and takes == [0, 1]

    takes.clear()

    def clean_failure(monitor):
        takes.append(len(takes))
        raise AssertionError("a real failure")

    with pytest.raises(AssertionError, match="a real failure"):
        retake(clean_failure)
    assert takes == [0]  # not played again

    takes.clear()

    def always_disturbed(monitor):
        takes.append(len(takes))
        monitor.late(0.05)
        raise AssertionError("off the grid")

    with pytest.raises(pytest.fail.Exception, match="every take was disturbed"):
        retake(always_disturbed, attempts=2)
    assert takes == [0, 1]
