"""The engine's controls and outputs on a virtual clock (no hardware)."""

from engine import protocol
from engine.clock import VirtualClock
from engine.config import load
from engine.engine import ARMED, PLAYING, STOPPED, Engine
from engine.io.midi import MemoryInput, MemoryOutput
from engine.offline import note_pairs
from tests.helpers import melody_events


class Rig:
    """An engine fed by a MemoryInput on a virtual clock, stepped like the live loop."""

    def __init__(self, **overrides):
        self.clock = VirtualClock(0.0)
        self.inp = MemoryInput()
        self.out = MemoryOutput()
        # the rule-based baseline by default: its notes fall exactly on the beat grid, which
        # these tests of the core check (tests/test_improviser.py drives the model)
        cfg = load(overrides={"tempo.bpm": 120.0, "improviser.enabled": False,
                              "tempo.follow": False, **overrides})
        self.engine = Engine(cfg, self.clock, self.out, midi_inputs=[self.inp])
        self.engine.start()
        self._last_t = 0.0
        self.t = 0.0
        self.events = []

    def play(self, events):
        self.events = sorted(events, key=lambda e: e.t_sec)

    def run_until(self, t_end):
        while self.t < t_end:
            self.engine.scheduler.flush_until(self.t)
            while self.events and self.events[0].t_sec <= self.t:
                e = self.events.pop(0)
                self.inp.push(e.data, e.t_sec - self._last_t)
                self._last_t = e.t_sec
            self.engine.step(self.t)
            self.engine.scheduler.flush_until(self.t)
            self.t = round(self.t + 0.001, 6)

    def control(self, address, *args):
        return self.engine.handlers()[address](list(args))


def test_first_note_anchors_and_accompaniment_follows_tempo_control():
    rig = Rig()
    rig.play(melody_events([60, 64, 67, 72] * 6, bpm=120.0, start_sec=0.5))
    rig.run_until(3.0)
    assert rig.engine.state == PLAYING
    rig.control(protocol.TEMPO, 60.0)  # from the next undecided beat on: 1 s per beat
    rig.run_until(9.0)
    rig.engine.close()
    bass = [n[0] for n in note_pairs(rig.out.sent) if n[2] == protocol.ROLE_CHANNELS["bass"]]
    gaps = [round(b - a, 3) for a, b in zip(bass, bass[1:])]
    assert gaps[0] == 0.5 and gaps[-1] == 1.0
    assert sorted(set(gaps)) == [0.5, 1.0]


def test_stop_releases_and_start_rearms():
    rig = Rig()
    rig.play(melody_events([60, 64, 67, 72] * 4, start_sec=0.2))
    rig.run_until(2.3)
    assert rig.engine.scheduler.held.count() > 0
    rig.control(protocol.STOP)
    rig.run_until(2.4)
    assert rig.engine.state == STOPPED and rig.engine.scheduler.held.count() == 0
    sent_before = len(rig.out.sent)
    rig.run_until(4.0)
    ons = [m for m in rig.out.sent[sent_before:] if m.data[0] & 0xF0 == 0x90]
    assert ons == []  # stopped: the player's notes don't restart it
    assert len(rig.engine._pending) == 0  # ... nor pile up while stopped
    rig.control(protocol.START, 90.0)
    rig.run_until(4.1)
    assert rig.engine.state == ARMED and rig.engine.bpm == 90.0
    rig.play(melody_events([62, 65, 69], bpm=90.0, start_sec=4.5))
    rig.run_until(6.0)
    assert rig.engine.state == PLAYING
    rig.engine.close()
    note_pairs(rig.out.sent)


def test_panic_mid_note_leaves_nothing_held():
    rig = Rig()
    rig.play(melody_events([60, 64, 67, 72] * 4, start_sec=0.2))
    rig.run_until(1.3)
    rig.control(protocol.PANIC)
    rig.run_until(1.31)
    assert rig.engine.scheduler.held.count() == 0
    data = [m.data for m in rig.out.sent]
    assert all((0xB0 | ch, 123, 0) in data for ch in range(16))


def test_midi_clock_out_24_ppqn_with_start_and_song_position():
    rig = Rig(**{"midi.clock_out": True})
    rig.play(melody_events([60, 64, 67, 72, 60, 64], start_sec=0.5))
    rig.run_until(8.0)
    data = [m for m in rig.out.sent if m.data[0] >= 0xF0]
    assert data[0].data == (0xF2, 0, 0) and data[1].data == (0xFA,)
    ticks = [m.t_sec for m in data if m.data == (0xF8,)]
    in_first_beats = [t for t in ticks if 0.5 <= t < 1.5]
    assert len(in_first_beats) == 48  # 2 beats at 24 ppqn
    spacing = {round(b - a, 6) for a, b in zip(in_first_beats, in_first_beats[1:])}
    assert spacing == {round(0.5 / 24, 6)}
    assert data[-1].data == (0xFC,)  # the player stopped: clock stop


def test_status_reports_state_and_counters():
    rig = Rig()
    args = rig.control(protocol.STATUS)[0][1]
    assert args[0] == "armed"
    names = args[1::2]
    assert "notes_sent" in names and "late_events" in names and "xruns" in names


def test_malformed_midi_is_dropped_and_counted():
    from engine.events import MidiMessage

    rig = Rig(**{"midi.thru": True})
    rig.engine.thru = True
    rig.play([MidiMessage(0.1, (0x90, 0x90, 0x40)), MidiMessage(0.2, (0x90, 60, 200)),
              MidiMessage(0.3, (0x90, 62, 90)), MidiMessage(0.5, (0x80, 62, 0))])
    rig.run_until(0.6)
    assert rig.engine.counters.midi_in_invalid == 2
    player = [m.data for m in rig.out.sent if m.data[0] & 0x0F == 0 and m.data[0] < 0xB0]
    assert player == [(0x90, 62, 90), (0x80, 62, 0)]


def test_repeated_panics_do_not_flood_the_output():
    rig = Rig()
    for _ in range(200):
        rig.control(protocol.PANIC)
    rig.run_until(0.01)
    ccs = [m for m in rig.out.sent if m.data[0] & 0xF0 == 0xB0]
    assert len(ccs) == 16 * 3  # one channel-wide burst, not 200


def test_audio_player_holding_a_long_note_keeps_the_band_playing(tmp_path):
    import numpy as np

    from engine.io.files import write_wav
    from engine.offline import render

    sr = 48000
    t = np.arange(int(10 * sr)) / sr
    x = (0.3 * np.sin(2 * np.pi * 261.6 * t) * (t > 0.5)).astype(np.float32)  # one long note
    path = tmp_path / "long.wav"
    write_wav(path, x, sr)
    result = render(path, load(overrides={"tempo.bpm": 120.0}))
    bass = [n[0] for n in note_pairs(result.sent) if n[2] == protocol.ROLE_CHANNELS["bass"]]
    assert bass and max(bass) > 9.0  # still playing near the end, not only the first beats


def accelerando_events(bpm0=96.0, bpm1=132.0, n_beats=48, start=0.5):
    """Quarter notes (a C major arpeggio) whose tempo rises linearly beat by beat."""
    from engine.events import MidiMessage

    t, events, beat_times = start, [], []
    tune = [60, 64, 67, 72, 65, 69, 72, 77, 67, 71, 74, 79]
    for i in range(n_beats):
        bpm = bpm0 + (bpm1 - bpm0) * i / (n_beats - 1)
        beat_times.append(t)
        events += [MidiMessage(t, (0x90, tune[i % 12], 90)),
                   MidiMessage(t + 0.8 * 60 / bpm, (0x80, tune[i % 12], 0))]
        t += 60.0 / bpm
    return events, beat_times


def bass_error_late(follow: bool):
    import numpy as np

    events, beats = accelerando_events()
    rig = Rig(**{"tempo.bpm": 96.0, "tempo.follow": follow})
    rig.play(events)
    rig.run_until(beats[-1] + 0.2)
    rig.engine.close()
    ons = [n[0] for n in note_pairs(rig.out.sent) if n[2] == protocol.ROLE_CHANNELS["bass"]]
    late = [t for t in ons if beats[-12] <= t <= beats[-1]]
    return [min(abs(t - b) for b in beats) for t in late], len(late), np.median


def test_following_the_tracker_keeps_the_band_on_an_accelerating_player():
    errors, n, median = bass_error_late(follow=True)
    fixed_errors, _, _ = bass_error_late(follow=False)
    assert n >= 8
    assert median(errors) < 0.05  # on the player's beats
    assert median(fixed_errors) > 2 * median(errors)  # a fixed tempo drifts away


def test_onsets_and_beats_reach_the_osc_monitor():
    class Osc:
        def __init__(self):
            self.sent = []

        def send(self, address, args):
            self.sent.append((address, list(args)))

    rig = Rig()
    osc = Osc()
    rig.engine.osc_out = osc
    rig.engine.scheduler.osc_out = osc
    rig.play(melody_events([60, 64, 67, 72] * 3, start_sec=0.5))
    rig.run_until(6.5)
    onsets = [a for addr, a in osc.sent if addr == protocol.ONSET]
    beats = [a for addr, a in osc.sent if addr == protocol.BEAT]
    assert len(onsets) == 12 and all(0.5 < a[0] <= 1.0 for a in onsets)
    assert beats and all(len(a) == 4 and 0.0 <= a[2] <= 1.0 for a in beats)


def test_the_bars_the_tracker_hears_reach_the_osc_monitor():
    """A waltz on MIDI (a bass note and chord on each downbeat, a melody note on the others):
    /improv/bar says each tracked beat's place in the bar once the meter is known."""
    from engine.events import MidiMessage

    class Osc:
        def __init__(self):
            self.sent = []

        def send(self, address, args):
            self.sent.append((address, list(args), rig.t))

    rig = Rig(**{"tempo.follow": True})
    osc = Osc()
    rig.engine.osc_out = osc
    rig.engine.scheduler.osc_out = osc
    events = []
    for b in range(30):
        t = 0.5 + 0.5 * b
        notes = [(76 if b % 2 else 72, 60)] + ([(36, 90), (48, 90), (55, 90)]
                                               if b % 3 == 0 else [])
        for p, v in notes:
            events += [MidiMessage(t, (0x90, p, v)), MidiMessage(t + 0.4, (0x80, p, 0))]
    rig.play(events)
    rig.run_until(15.0)
    rig.engine.close()
    bars = [(a, t) for addr, a, t in osc.sent if addr == protocol.BAR]
    assert len(bars) >= 15 and all(a[1] in (3, 4) and 1 <= a[0] <= a[1] for a, _ in bars)
    assert bars[-1][0][1] == 3  # a waltz
    positions = [a[0] for a, _ in bars[-9:]]
    assert positions.count(1) == 3 and all(b % 3 + 1 == a for a, b in zip(
        positions[1:], positions[:-1])), positions
    # each downbeat is told as its beat is heard: just after a bass note
    for a, t_sent in bars[-9:]:
        if a[0] == 1:
            since_bass = (t_sent - 0.5) % 1.5
            assert since_bass < 0.15, (t_sent, bars)


def test_audio_that_never_came_is_heard_as_silence():
    """A gap in the audio blocks (a full ring, or the JACK server away) is filled with silent
    blocks, so the listener's frame clock keeps the session's time."""
    import numpy as np

    from engine.io.ring import BlockRing

    cfg = load(None, {"osc.out": None})
    bs, sr = cfg.audio.blocksize, cfg.audio.samplerate
    ring = BlockRing(64, bs)
    clock = VirtualClock(0.0)
    engine = Engine(cfg, clock, MemoryOutput(), audio_ring=ring, audio_samplerate=sr)
    block = np.zeros(bs, np.float32)
    for k in range(10):
        ring.push(block, (k + 1) * bs / sr)
    engine.step(clock.now())
    ring.frames_in += 30 * bs  # 30 blocks the server never delivered
    for k in range(40, 50):
        ring.push(block, (k + 1) * bs / sr)
    engine.step(clock.now())
    c = engine.counters
    assert c.audio_blocks == 20 and c.audio_gap_blocks == 30
    assert engine.listener.detector.spectrum._n_samples == 50 * bs  # 20 heard + 30 silent


class PeerOutput(MemoryOutput):
    """A named MIDI output whose peer can vanish and whose port can be closed."""

    def __init__(self) -> None:
        super().__init__()
        self.present = True
        self.connected = True
        self.reopened = 0

    def peer_alive(self) -> bool:
        return self.present

    def reopen(self) -> None:
        if not self.present:
            raise RuntimeError("no MIDI output port matching 'synth:in'")
        self.connected = True
        self.reopened += 1


def test_the_output_reconnects_when_its_peer_is_there_but_the_port_is_not_open():
    """The JACK server came back before the synth did (the supervisor's renew could not open
    the port), and the synth appeared before the engine's next look: it is still connected
    (a clean-clone CI run once waited 10 s for that connection in vain)."""
    out = PeerOutput()
    cfg = load(overrides={"tempo.bpm": 120.0, "improviser.enabled": False})
    engine = Engine(cfg, VirtualClock(0.0), out, midi_inputs=[MemoryInput()])
    out.connected = False  # the renewed client, its port not open: the peer was missing
    engine._check_output()
    engine.scheduler.flush_until(0.1)
    assert out.connected and out.reopened == 1
    assert engine.counters.midi_out_lost == 0  # the peer never went missing from our view
    engine._check_output()
    engine.scheduler.flush_until(0.2)
    assert out.reopened == 1  # connected: nothing more to do

    # the peer vanishes (counted once), then comes back: reconnected, owed note-offs paid
    engine.scheduler.note(0.2, 10.0, 1, 40, 90, "bass")
    engine.scheduler.flush_until(0.3)
    out.present = False
    engine._check_output()
    engine._check_output()
    engine.scheduler.flush_until(0.4)
    assert engine.counters.midi_out_lost == 1 and out.reopened == 1
    n_sent = len(out.sent)
    out.present = True
    engine._check_output()
    engine.scheduler.flush_until(0.5)
    assert out.reopened == 2
    assert (0x81, 40, 0) in [m.data for m in out.sent[n_sent:]]
    engine.close()
