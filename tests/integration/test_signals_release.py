"""SIGINT / SIGTERM while the accompaniment sounds: clean exit, no note left hanging."""

from __future__ import annotations

import signal
import time

import pytest

from engine.offline import note_pairs


def hold_until_accompanied(snd, rec, helpers) -> None:
    """The player holds C, E, G (no note-offs); return as soon as the recorder hears bass and
    chord notes sounding."""
    for pitch in (60, 64, 67):
        snd.send((0x90, pitch, 100))
        time.sleep(0.25)
    helpers.wait_for(lambda: {ch for ch, _ in helpers.sounding(rec.snapshot())} == {1, 2}, 10.0,
                     "bass and chord notes sounding at the receiver", 0.002)


@pytest.mark.integration
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_note_exits_cleanly_and_releases(signum, improv, midi_sender, midi_recorder,
                                                    helpers):
    engine = improv("sig", tempo=120)
    rec = midi_recorder(engine.out_port)
    snd = midi_sender(engine.in_port)

    hold_until_accompanied(snd, rec, helpers)  # then signal at once
    engine.signal(signum)
    t_signal = time.monotonic()

    code = engine.wait(10.0)
    assert code == 0, engine.logs()
    time.sleep(0.3)  # anything still crossing JACK arrives
    sent = rec.stop()

    held = helpers.sounding([m for m in sent if m.t_sec < t_signal])
    assert held, "nothing was sounding when the signal was sent: the test did not test"
    assert helpers.sounding(sent) == set(), f"notes left hanging after {signum!r}"
    note_pairs(sent)  # every note-on matched by a note-off (raises otherwise)
    # the shutdown released them: all-notes-off (CC 123) on the used channels after the signal
    after = [m.data for m in sent if m.t_sec >= t_signal]
    cc_off = {d[0] & 0x0F for d in after if len(d) == 3 and d[0] & 0xF0 == 0xB0 and d[1] == 123}
    assert {ch for ch, _ in held} <= cc_off, (held, after)
    assert "improv: stopped" in engine.stdout()


@pytest.mark.integration
@pytest.mark.parametrize("thread", ["engine", "scheduler", "osc", "supervisor"])
def test_error_in_a_thread_releases_and_exits(thread, improv, midi_sender, midi_recorder,
                                              helpers, monkeypatch):
    """A bug in any of improv's threads (injected: IMPROV_FAULT=<thread>, fired by SIGUSR2)
    mid-note: every held note released at the receiver, exit status 70, a clear message."""
    monkeypatch.setenv("IMPROV_FAULT", thread)
    engine = improv("fault", tempo=120)
    rec = midi_recorder(engine.out_port)
    snd = midi_sender(engine.in_port)
    hold_until_accompanied(snd, rec, helpers)
    engine.signal(signal.SIGUSR2)
    t_fault = time.monotonic()

    code = engine.wait(10.0)
    assert code == 70, engine.logs()
    time.sleep(0.3)
    sent = rec.stop()
    held = helpers.sounding([m for m in sent if m.t_sec < t_fault])
    assert held, "nothing was sounding when the fault was injected: the test did not test"
    assert helpers.sounding(sent) == set(), f"notes left hanging after a fault in {thread}"
    err = engine.stderr()
    assert "improv: stopped by an internal error: InjectedFault" in err, engine.logs()
    assert f"in the {thread} thread" in err
    assert "Traceback" in err  # the traceback is there for the bug report
