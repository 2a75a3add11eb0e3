import time

from engine.clock import LiveClock, VirtualClock
from engine.io.midi import MemoryOutput
from engine.offline import note_pairs
from engine.scheduler import CMD_PANIC, CMD_STOP, OSC_EV, RAW_EV, Scheduler
from engine.stats import Counters


def make(clock=None):
    clock = clock or VirtualClock(0.0)
    out = MemoryOutput()
    return Scheduler(clock, out, Counters()), out, clock


def test_events_leave_in_time_order_ties_in_submission_order():
    s, out, _ = make()
    s.submit(0.3, RAW_EV, (0xF8,))
    s.submit(0.1, RAW_EV, (0xFA,))
    s.submit(0.2, RAW_EV, (0xB0, 1, 1))
    s.submit(0.2, RAW_EV, (0xB0, 1, 2))
    s.flush_until(1.0)
    assert [m.data for m in out.sent] == [(0xFA,), (0xB0, 1, 1), (0xB0, 1, 2), (0xF8,)]
    assert [m.t_sec for m in out.sent] == [0.1, 0.2, 0.2, 0.3]  # offline: sent == scheduled


def test_flush_until_sends_only_what_is_due():
    s, out, clock = make()
    s.note(0.5, 1.0, 2, 60, 80, "chords")
    s.flush_until(0.4)
    assert out.sent == []
    s.flush_until(0.6)
    assert [m.data for m in out.sent] == [(0x92, 60, 80)]
    assert s.held.count() == 1
    s.flush_until(2.0)
    assert [m.data for m in out.sent][-1] == (0x82, 60, 0)
    assert s.held.count() == 0 and clock.now() == 2.0


def test_late_events_are_counted_with_the_latest_lateness():
    s, out, clock = make()
    clock.advance_to(1.0)
    for due in (1.0, 0.9995, 0.996, 0.985, 0.99):  # sent at 1.0: 0, 0.5, 4, 15, 10 ms late
        s._dispatch(due, RAW_EV, (0xF8,))
    assert len(out.sent) == 5
    assert s.counters.late_events == 3  # over 1 ms
    assert abs(s.counters.late_max_us - 15000) <= 1  # the latest, in microseconds


def test_every_note_on_gets_its_note_off():
    s, out, _ = make()
    for i in range(50):
        s.note(i * 0.1, 0.25, i % 3, 48 + i % 12, 90, "bass")
    s.flush_until(10.0)
    pairs = note_pairs(out.sent)
    assert len(pairs) == 50
    assert s.held.count() == 0


def test_restruck_note_is_not_cut_by_the_old_note_off():
    s, out, _ = make()
    s.note(0.0, 1.0, 1, 40, 90, "bass")  # off at 1.0
    s.note(0.5, 1.0, 1, 40, 90, "bass")  # restruck; its off at 1.5
    s.flush_until(1.2)
    assert s.held.count() == 1  # the stale off at 1.0 was ignored
    datas = [m.data for m in out.sent]
    assert datas == [(0x91, 40, 90), (0x81, 40, 0), (0x91, 40, 90)]
    s.flush_until(2.0)
    assert s.held.count() == 0
    note_pairs(out.sent)


def test_stop_mid_note_releases_and_drops_pending():
    s, out, _ = make()
    s.note(0.0, 2.0, 1, 40, 90, "bass")
    s.note(0.0, 2.0, 2, 64, 70, "chords")
    s.note(1.5, 1.0, 2, 67, 70, "chords")  # pending: must never sound
    s.flush_until(1.0)
    s.command(CMD_STOP)
    s.flush_until(5.0)
    datas = [m.data for m in out.sent]
    assert (0x92, 67, 70) not in datas
    assert (0x81, 40, 0) in datas and (0x82, 64, 0) in datas
    assert (0xB1, 123, 0) in datas and (0xB2, 123, 0) in datas  # all-notes-off, used channels
    note_pairs(out.sent)
    assert s.pending() == 0


def test_panic_silences_all_sixteen_channels():
    s, out, _ = make()
    s.note(0.0, 5.0, 3, 70, 100, "chords")
    s.flush_until(0.1)
    s.command(CMD_PANIC)
    s.flush_until(0.2)
    datas = [m.data for m in out.sent]
    assert (0x83, 70, 0) in datas
    for ch in range(16):
        assert (0xB0 | ch, 123, 0) in datas and (0xB0 | ch, 120, 0) in datas
    assert s.held.count() == 0


def test_close_releases_held_notes():
    s, out, _ = make()
    s.note(0.0, 10.0, 1, 45, 90, "bass")
    s.flush_until(0.5)
    s.close()
    note_pairs(out.sent)


class _Osc:
    def __init__(self):
        self.sent = []

    def send(self, address, args):
        self.sent.append((address, list(args)))


def test_note_and_beat_go_to_osc_monitor():
    clock = VirtualClock(0.0)
    osc = _Osc()
    s = Scheduler(clock, MemoryOutput(), Counters(), osc_out=osc)
    s.note(0.1, 0.5, 1, 40, 90, "bass")
    s.submit(0.1, OSC_EV, ("/improv/beat", [3, 100.0]))
    s.flush_until(1.0)
    assert ("/improv/note", ["bass", 40, 90, 0.5]) in osc.sent
    assert ("/improv/beat", [3, 100.0]) in osc.sent


def test_live_thread_sends_in_order_and_releases_on_close():
    out = MemoryOutput()
    counters = Counters()
    clock = LiveClock()
    s = Scheduler(clock, out, counters).start()
    t0 = clock.now() + 0.02
    for i in reversed(range(20)):
        s.note(t0 + i * 0.005, 0.5, 1, 40 + i, 90, "bass")
    deadline = time.monotonic() + 5.0
    while counters.notes_sent < 20 and time.monotonic() < deadline:
        time.sleep(0.005)
    s.close()  # notes still held (0.5 s long): close must release them
    ons = [m for m in out.sent if m.data[0] == 0x91]
    assert [m.data[1] for m in ons] == list(range(40, 60))
    assert all(b.t_sec >= a.t_sec for a, b in zip(out.sent, out.sent[1:]))
    note_pairs(out.sent)
    assert len(s.lateness) >= 20


def test_exception_in_output_releases_notes_and_keeps_running():
    class Flaky(MemoryOutput):
        def send(self, data, t_sec):
            if data == (0x91, 99, 90):
                raise RuntimeError("boom")
            super().send(data, t_sec)

    out = Flaky()
    counters = Counters()
    clock = LiveClock()
    s = Scheduler(clock, out, counters).start()
    t0 = clock.now() + 0.01
    s.note(t0, 5.0, 1, 40, 90, "bass")
    s.note(t0 + 0.01, 5.0, 1, 99, 90, "bass")  # raises in the scheduler thread
    s.note(t0 + 0.05, 0.01, 1, 50, 90, "bass")  # after the error: must still play
    deadline = time.monotonic() + 5.0
    while counters.thread_errors == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert counters.thread_errors == 1
    assert (0x81, 40, 0) in [m.data for m in out.sent]  # the held note was released
    s.note(clock.now() + 0.01, 0.01, 1, 52, 90, "bass")
    deadline = time.monotonic() + 5.0
    while (0x81, 52, 0) not in [m.data for m in out.sent] and time.monotonic() < deadline:
        time.sleep(0.005)
    s.close()
    assert (0x91, 52, 90) in [m.data for m in out.sent]
