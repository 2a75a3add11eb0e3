"""The ``retake`` fixture: a disturbed take that fails is played again (with a warning), a
clean one is not, nor one that breaks an invariant; the last disturbed failure fails."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_retake_plays_a_disturbed_failing_take_again_with_a_warning(retake):
    takes = []

    def late_then_good(monitor):
        takes.append(len(takes))
        if len(takes) == 1:
            monitor.late(0.05)  # the test's own player stalled 50 ms
            raise AssertionError("off the grid")
        return "ok"

    with pytest.warns(UserWarning, match="played again.*50.0 ms late.*off the grid"):
        assert retake(late_then_good) == "ok"
    assert takes == [0, 1]


def test_retake_never_plays_a_clean_failure_again(retake):
    takes = []

    def clean_failure(monitor):
        takes.append(len(takes))
        monitor.disturbed = lambda: ""  # clean, whatever the machine does meanwhile
        raise AssertionError("a real failure")

    with pytest.raises(AssertionError, match="a real failure"):
        retake(clean_failure)
    assert takes == [0]


def test_retake_never_excuses_an_invariant(retake):
    takes = []

    def broken_invariant(monitor):
        takes.append(len(takes))
        monitor.late(0.05)
        monitor.must(False, "a hanging note")

    with pytest.raises(Exception, match="a hanging note") as info:
        retake(broken_invariant)
    assert type(info.value).__name__ == "TakeInvariant" and takes == [0]


def test_retake_fails_when_every_take_is_disturbed(retake):
    takes = []

    def always_disturbed(monitor):
        takes.append(len(takes))
        monitor.late(0.05)
        raise AssertionError("off the grid")

    with pytest.warns(UserWarning), pytest.raises(AssertionError,
                                                  match="every take was disturbed"):
        retake(always_disturbed, attempts=2)
    assert takes == [0, 1]
