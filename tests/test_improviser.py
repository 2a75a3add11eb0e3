"""The improviser (the model playing along), driven through the engine on a virtual clock."""

import numpy as np

from engine import protocol
from engine.events import MidiMessage
from engine.offline import note_pairs
from tests.helpers import melody_events
from tests.test_engine import Rig

TUNE = [60, 64, 67, 72, 65, 69, 72, 77, 67, 71, 74, 79, 60, 64, 67, 72]
BASS, CHORDS, ANSWER = (protocol.ROLE_CHANNELS[r] for r in ("bass", "chords", "answer"))


def model_rig(**overrides):
    return Rig(**{"improviser.enabled": True, **overrides})


def run(events, t_end, controls=(), **overrides):
    """Play ``events``; ``controls``: (t_sec, address, args) applied at those times."""
    rig = model_rig(**overrides)
    rig.play(events)
    for t, address, args in sorted(controls, key=lambda c: c[0]):
        rig.run_until(t)
        rig.control(address, *args)
    rig.run_until(t_end)
    rig.engine.close()
    return rig, note_pairs(rig.out.sent)  # asserts no note is left hanging


def test_model_plays_bass_and_chords_near_the_beat():
    rig, notes = run(melody_events(TUNE, start_sec=0.5), 9.0)
    assert rig.engine.improviser is not None and rig.engine.why_baseline == ""
    by_ch = {ch: [n for n in notes if n[2] == ch] for ch in (BASS, CHORDS)}
    assert len(by_ch[BASS]) >= 8 and len(by_ch[CHORDS]) >= 8
    # every onset sits on a 16th of the 120 BPM grid from the first note, at most
    # deadline + slack + compute late
    from engine.play.improviser import COMPUTE_SEC

    ic = rig.engine.cfg.improviser
    for t_on, *_ in notes:
        sixteenths = (t_on - 0.5) / 0.125
        late = (sixteenths - np.floor(sixteenths + 1e-9)) * 0.125
        assert late <= ic.deadline_sec + ic.react_slack_sec + COMPUTE_SEC + 1e-6
    assert rig.engine.counters.frames_decided > 60


def test_committed_notes_never_change_with_later_input():
    base = melody_events(TUNE[:8], start_sec=0.5)
    later = [MidiMessage(3.6, (0x90, 61, 100)), MidiMessage(3.7, (0x80, 61, 0))]
    a, _ = run(base, 6.0)
    b, _ = run(base + later, 6.0)
    # everything sent before the new note arrived is the same (how long a note then sounding
    # lasts is decided frame by frame, so its note-off may move)
    sent_a = [(m.t_sec, m.data) for m in a.out.sent if m.t_sec < 3.6]
    assert len(sent_a) > 20 and sent_a == [(m.t_sec, m.data) for m in b.out.sent if m.t_sec < 3.6]


def test_a_tempo_change_moves_only_notes_not_yet_sent():
    events = melody_events(TUNE, start_sec=0.5)
    _, steady = run(events, 6.0)
    _, moved = run(events, 6.0, controls=[(3.0, protocol.TEMPO, (60.0,))])
    assert [n for n in steady if n[0] < 3.0] == [n for n in moved if n[0] < 3.0]
    assert [n[0] for n in steady if n[0] > 3.3] != [n[0] for n in moved if n[0] > 3.3]


def test_a_staccato_player_coming_straight_back_is_accompanied():
    """Short notes with gaps, a phrase, and the same again at once: the accompaniment goes
    on (a gap under half a beat is not a rest; all voices silent while the player plays:
    the bass enters)."""
    def phrase(t0):
        ev = []
        for i, p in enumerate((60, 64, 67, 72)):
            ev += [MidiMessage(t0 + 0.5 * i, (0x90, p, 90)),
                   MidiMessage(t0 + 0.5 * i + 0.4, (0x80, p, 0))]
        return ev

    _, notes = run(phrase(0.3) + phrase(2.46), 5.0, **{"tempo.follow": True})
    assert len([n for n in notes if n[0] > 2.46]) >= 6


def test_accompaniment_stops_when_the_player_stops_and_no_note_hangs():
    rig, notes = run(melody_events(TUNE[:8], start_sec=0.5), 12.0)
    assert rig.engine.state == "armed"
    last_player = 0.5 + 7 * 0.5
    assert max(n[1] for n in notes) < last_player + 5 * 0.5  # released within the stop time
    assert rig.engine.scheduler.held.count() == 0


def test_role_switch_takes_effect_within_one_frame():
    frame = 0.125
    rig, notes = run(melody_events(TUNE, start_sec=0.5), 9.0,
                     controls=[(4.0, protocol.ROLE_PREFIX + "chords", (0,))])
    chords = [n for n in notes if n[2] == CHORDS]
    assert chords and all(n[0] < 4.0 + frame for n in chords)
    assert all(n[1] <= 4.0 + frame for n in chords)  # what sounded is released
    assert any(n[0] > 5.0 for n in notes if n[2] == BASS)  # the bass plays on


def test_panic_releases_at_once_and_play_goes_on():
    rig = model_rig()
    rig.play(melody_events(TUNE, start_sec=0.5))
    rig.run_until(4.0)
    rig.control(protocol.PANIC)
    rig.run_until(4.002)
    assert rig.engine.scheduler.held.count() == 0
    rig.run_until(9.0)
    rig.engine.close()
    note_pairs(rig.out.sent)


def test_answer_mode_answers_a_rest_and_yields_when_the_player_returns():
    phrase = melody_events(TUNE[:8], start_sec=0.5)  # 8 beats, then a rest
    back_sec = 0.5 + 14 * 0.5
    again = melody_events(TUNE[8:12], start_sec=back_sec)
    rig, notes = run(phrase + again, 11.0, **{"improviser.mode": "answer"})
    answer = [n for n in notes if n[2] == ANSWER]
    first = [n for n in answer if n[0] < back_sec]
    assert first, "no answer in the rest"
    assert first[0][0] >= 0.5 + 7 * 0.5 + 2 * 0.5  # after answer_after_beats of rest
    assert all(n[1] <= back_sec + 0.125 for n in first)  # yields when the player returns
    # nothing more until the player's second phrase has been followed by a rest again
    last_on = back_sec + 3 * 0.5
    assert not [n for n in answer if back_sec <= n[0] < last_on + 2 * 0.5]
    assert not [n for n in notes if n[2] in (BASS, CHORDS)]  # answer mode: no accompaniment


def test_bad_controls_are_refused_with_a_reason():
    from pythonosc.osc_message_builder import build_msg

    from engine.io.osc import ImprovDispatcher

    rig = model_rig()
    d = ImprovDispatcher(rig.engine.handlers(), rig.engine.counters)

    def send(address, args):
        return d.call_handlers_for_packet(build_msg(address, args).dgram, ("127.0.0.1", 5))

    for address, args in ((protocol.TEMPERATURE, [-1.0]), (protocol.DENSITY, [7.0]),
                          (protocol.MODE, ["loud"]), (protocol.KEY, ["H"]),
                          (protocol.KEY, [13, "major"]), ("/improv/role/drums", [1])):
        replies = send(address, args)
        assert replies and replies[0][0] == protocol.ERROR, (address, args)
    assert rig.engine.counters.bad_messages == 6
    assert send(protocol.TEMPERATURE, [0.5]) == []
    assert send(protocol.KEY, [9, "minor"]) == []
    rig.run_until(0.01)
    assert rig.engine.cfg.improviser.temperature == 0.5
    assert rig.engine.cfg.improviser.key == "Am"


def test_key_lock_keeps_the_accompaniment_in_the_scale():
    rig, notes = run(melody_events(TUNE, start_sec=0.5), 9.0, **{"improviser.key": "C"})
    assert notes and all(n[3] % 12 in (0, 2, 4, 5, 7, 9, 11) for n in notes)


def test_auto_key_locks_to_the_key_heard():
    rig, notes = run(melody_events(TUNE, start_sec=0.5), 9.0, **{"improviser.key": "auto"})
    assert rig.engine.improviser.detected_key == "C"
    late = [n for n in notes if n[0] > 4.0]
    assert late and all(n[3] % 12 in (0, 2, 4, 5, 7, 9, 11) for n in late)


def test_odd_players_stay_sensible():
    # nothing at all
    rig, notes = run([], 3.0)
    assert notes == [] and rig.engine.improviser.reason == "waiting for the player"
    # one note, held
    _, notes = run([MidiMessage(0.5, (0x90, 60, 90)), MidiMessage(2.5, (0x80, 60, 0))], 6.0)
    assert all(n[3] % 12 in (0, 2, 4, 5, 7, 9, 11, 3, 8, 10) for n in notes)
    # a cluster of 20 notes at once
    cluster = [MidiMessage(0.5, (0x90, 50 + k, 90)) for k in range(20)]
    cluster += [MidiMessage(1.5, (0x80, 50 + k, 0)) for k in range(20)]
    run(cluster, 5.0)
    # 300 BPM: 16ths every 50 ms
    run(melody_events(TUNE * 2, bpm=300.0, start_sec=0.5), 5.0, **{"tempo.bpm": 300.0})


def test_same_input_same_seed_same_notes():
    events = melody_events(TUNE, start_sec=0.5)
    assert run(events, 8.0)[1] == run(events, 8.0)[1]
    assert run(events, 8.0)[1] != run(events, 8.0, seed=1)[1]


PLAN = {"improviser.commit_beats": 1.0}


def test_plan_mode_keeps_what_it_committed_ahead():
    """Committed a beat ahead: a note the player adds cannot change the notes due in the
    next beat (0.5 s at 120 BPM), only what comes after."""
    base = melody_events(TUNE[:10], start_sec=0.5)
    t_new = 3.6
    later = [MidiMessage(t_new, (0x90, 61, 100)), MidiMessage(t_new + 0.1, (0x80, 61, 0))]
    dense = {**PLAN, "improviser.density": 1.0}  # strike often: notes in the window
    _, a = run(base, 7.0, **dense)
    _, b = run(base + later, 7.0, **dense)

    def committed(notes):  # (the times may move with the tracked tempo; the notes may not)
        return [(ch, p, v) for t, _, ch, p, v in notes if t_new <= t < t_new + 0.4]

    assert committed(a) and committed(a) == committed(b)


def test_plan_mode_notes_wait_in_beats_so_a_tempo_change_moves_them():
    events = melody_events(TUNE, start_sec=0.5)
    rig = model_rig(**{"improviser.commit_beats": 2.0})  # (the tempo pivots on the next beat)
    rig.play(events)
    waiting = []
    while not waiting and rig.t < 6.0:  # committed, past the next undecided beat, not sent
        rig.run_until(rig.t + 0.01)
        waiting = [n for n in rig.engine._by_beat
                   if n.velocity > 0 and n.beat > rig.engine.next_beat]
    assert waiting
    before = rig.engine.tempo.t_sec(waiting[-1].beat)
    rig.control(protocol.TEMPO, 60.0)
    rig.run_until(rig.t + 0.002)
    assert waiting[-1] in rig.engine._by_beat
    assert rig.engine.tempo.t_sec(waiting[-1].beat) > before  # it will sound later
    rig.run_until(9.0)
    rig.engine.close()
    note_pairs(rig.out.sent)


def test_plan_mode_does_not_depend_on_the_step_size(monkeypatch, tmp_path):
    from engine import offline
    from engine.config import load
    from tests.helpers import write_midi

    path = write_midi(tmp_path / "m.mid", melody_events(TUNE, start_sec=0.5))
    cfg = load(overrides={"tempo.bpm": 120.0, **PLAN})
    fine = note_pairs(offline.render(path, cfg).sent)
    monkeypatch.setattr(offline, "STEP_SEC", 0.0037)
    coarse = note_pairs(offline.render(path, load(overrides={"tempo.bpm": 120.0, **PLAN})).sent)
    assert len(fine) > 20 and fine == coarse
