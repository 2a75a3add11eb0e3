"""The exported model: loads and generates without torch, is causal, respects its masks, and
refuses bad model files with a clear error."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from engine.play.harmonize import RANGES, VOICES, HarmonizeSettings, harmonize
from engine.play.runtime import DEFAULT_MODEL, ModelFileError, ModelRuntime
from models.metrics import sounding_pitches
from tests.helpers import EXAMPLE


@pytest.fixture(scope="module")
def melody():
    from engine.play.melody import read_melody

    return read_melody(EXAMPLE)


@pytest.fixture(scope="module")
def rt():
    return ModelRuntime(DEFAULT_MODEL)


def test_shipped_model_is_small_and_described():
    meta = json.loads(DEFAULT_MODEL.with_name("improv_react.json").read_text())
    assert meta["order"] == "react" and meta["tokenizer_version"] == 1
    assert DEFAULT_MODEL.stat().st_size < 10e6


def test_int8_model_runs_without_torch(tmp_path):
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from engine.play.runtime import ModelRuntime\n"
        "from engine.play.harmonize import harmonize\n"
        "from engine.play.melody import read_melody\n"
        f"m = read_melody({str(EXAMPLE)!r})\n"
        "out = harmonize(ModelRuntime(), m.tokens[:64], m.bar_pos[:64])\n"
        "assert 'torch' not in sys.modules or sys.modules['torch'] is None\n"
        "print(int((out[:, 1:] >= 3).sum()))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) > 10  # it struck notes


def test_fixed_seed_same_output(rt, melody):
    s = HarmonizeSettings(seed=3)
    a = harmonize(rt, melody.tokens[:96], melody.bar_pos[:96], s)
    b = harmonize(rt, melody.tokens[:96], melody.bar_pos[:96], s)
    assert np.array_equal(a, b)
    c = harmonize(rt, melody.tokens[:96], melody.bar_pos[:96], HarmonizeSettings(seed=4))
    assert not np.array_equal(a, c)


def test_react_never_looks_at_the_future_melody(rt, melody):
    n, t = 96, 40
    s = HarmonizeSettings(seed=5)
    base = harmonize(rt, melody.tokens[:n], melody.bar_pos[:n], s)
    changed = melody.tokens[:n].copy()
    changed[t + 1:] = np.where(changed[t + 1:] >= 3, changed[t + 1:] + 5, changed[t + 1:])
    other = harmonize(rt, changed, melody.bar_pos[:n], s)
    assert np.array_equal(base[:t + 1, 1:], other[:t + 1, 1:])  # frames <= t: identical
    assert not np.array_equal(base[t + 1:, 1:], other[t + 1:, 1:])  # the change mattered


def test_masks_ranges_and_no_crossing(rt, melody):
    out = harmonize(rt, melody.tokens, melody.bar_pos, HarmonizeSettings(seed=1))
    p = sounding_pitches(out)
    for v, (lo, hi) in RANGES.items():
        col = p[:, VOICES.index(v)]
        assert ((col == 0) | ((col >= lo) & (col <= hi))).all(), v
    b, t, a = (p[:, VOICES.index(v)] for v in "BTA")
    both = (b > 0) & (t > 0)
    assert (b[both] <= t[both]).all()
    both = (t > 0) & (a > 0)
    assert (t[both] <= a[both]).all()


def test_rewind_replans_identically(rt, melody):
    rt.reset()
    for i in range(40):
        rt.feed(int(melody.tokens[i // 4]), i % 4, int(melody.bar_pos[i // 4]))
    first = rt.feed(5, 0, 10).copy()
    rt.rewind(40)
    assert np.allclose(rt.feed(5, 0, 10), first, atol=1e-5)
    with pytest.raises(ValueError):
        rt.rewind(rt.pos + 1)


def test_long_context_reprimes_and_keeps_going(melody):
    rt = ModelRuntime(DEFAULT_MODEL)
    n = rt.block // 4 + 30  # longer than the context
    tokens = np.resize(melody.tokens, n)
    out = harmonize(rt, tokens, np.arange(n) % 16, HarmonizeSettings(seed=2))
    assert rt.reprimes >= 1 and out.shape == (n, 4)
    assert (out[-30:, 1:] >= 3).any()


@pytest.mark.parametrize("damage", ["missing", "truncated", "no_meta", "wrong_version"])
def test_bad_model_files_are_clear_errors(tmp_path, damage):
    model = tmp_path / "improv_react_int8.onnx"
    meta = json.loads(DEFAULT_MODEL.with_name("improv_react.json").read_text())
    if damage != "missing":
        data = DEFAULT_MODEL.read_bytes()
        model.write_bytes(data[: len(data) // 3] if damage == "truncated" else data)
    if damage == "wrong_version":
        meta["tokenizer_version"] = 99
    if damage != "no_meta":
        (tmp_path / "improv_react.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError) as err:
        ModelRuntime(model)
    assert str(tmp_path) in str(err.value)


def test_harmonize_cli_and_bad_melodies(tmp_path):
    import mido

    out = tmp_path / "h.mid"
    r = subprocess.run([sys.executable, "-m", "engine.cli", "harmonize", str(EXAMPLE), "-o",
                        str(out), "--seed", "1"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    mf = mido.MidiFile(out)
    assert len(mf.tracks) == 5  # tempo track + melody, bass, tenor, alto
    from engine.events import SentMidi
    from engine.io.files import read_midi
    from engine.offline import note_pairs

    events, _ = read_midi(out)
    note_pairs([SentMidi(e.t_sec, e.data) for e in events])  # every note-on has its note-off
    empty = tmp_path / "empty.mid"
    m = mido.MidiFile()
    m.tracks.append(mido.MidiTrack())
    m.save(empty)
    r = subprocess.run([sys.executable, "-m", "engine.cli", "harmonize", str(empty), "-o",
                        str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no notes" in r.stderr and "Traceback" not in r.stderr


def test_awkward_melody_files(tmp_path):
    """Several tracks, overlapping notes, a huge range, 5/4: handled."""
    import mido

    from engine.play.melody import read_melody

    mf = mido.MidiFile(ticks_per_beat=480)
    t1, t2 = mido.MidiTrack(), mido.MidiTrack()
    t1.append(mido.MetaMessage("time_signature", numerator=5, denominator=4, time=0))
    for p in (12, 60, 127):  # huge range
        t1 += [mido.Message("note_on", note=p, velocity=80, time=0),
               mido.Message("note_off", note=p, velocity=0, time=480)]
    t2 += [mido.Message("note_on", note=64, velocity=80, time=240),
           mido.Message("note_on", note=62, velocity=80, time=0),  # overlapping
           mido.Message("note_off", note=64, velocity=0, time=480),
           mido.Message("note_off", note=62, velocity=0, time=0)]
    mf.tracks += [t1, t2]
    path = tmp_path / "odd.mid"
    mf.save(path)
    m = read_melody(path)
    assert m.bar_frames == 20
    assert ((m.tokens == 1) | (m.tokens == 2) | ((m.tokens >= 3) & (m.tokens <= 90))).all()
    out = harmonize(ModelRuntime(DEFAULT_MODEL), m.tokens, m.bar_pos)
    assert out.shape == (len(m.tokens), 4)


@pytest.fixture(autouse=True)
def _no_leftovers(tmp_path):
    yield
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_scale_lock_is_respected(rt, melody):
    c_major = (0, 2, 4, 5, 7, 9, 11)
    out = harmonize(rt, melody.tokens[:96], melody.bar_pos[:96],
                    HarmonizeSettings(seed=2, scale=c_major))
    struck = out[:, 1:][out[:, 1:] >= 3] - 3 + 21
    assert len(struck) and all(p % 12 in c_major for p in struck)


def test_plan_ahead_then_replan_from_real_notes(rt, melody):
    from engine.play.harmonize import plan_ahead

    rng = np.random.default_rng(0)
    harmonize(rt, melody.tokens[:32], melody.bar_pos[:32])
    mark = rt.pos
    plan = plan_ahead(rt, 16, melody.bar_pos[32:48], {}, rng)
    assert plan.shape == (16, 4) and rt.pos == mark + 64
    rt.rewind(mark)  # the player's real frames arrive: plan again from there
    assert rt.pos == mark


def test_parallel_fifths_and_octaves_are_masked(rt, melody):
    from models.metrics import measures

    with_mask = measures(harmonize(rt, melody.tokens, melody.bar_pos, HarmonizeSettings(seed=3)))
    without = measures(harmonize(rt, melody.tokens, melody.bar_pos,
                                 HarmonizeSettings(seed=3, no_parallels=False)))
    assert with_mask["parallels"] < without["parallels"]
    assert with_mask["parallels"] <= 0.02 * with_mask["moves"]


def test_anticipate_commits_frame_t_before_its_melody(melody):
    rt = ModelRuntime(DEFAULT_MODEL.with_name("improv_anticipate_int8.onnx"))
    assert rt.order == "anticipate"
    n, t = 80, 30
    s = HarmonizeSettings(seed=7)
    base = harmonize(rt, melody.tokens[:n], melody.bar_pos[:n], s)
    changed = melody.tokens[:n].copy()
    changed[t:] = np.where(changed[t:] >= 3, changed[t:] + 2, changed[t:])  # from frame t on
    other = harmonize(rt, changed, melody.bar_pos[:n], s)
    assert np.array_equal(base[:t + 1, 1:], other[:t + 1, 1:])  # frame t itself unchanged


def test_helper_thread_reprime_equals_a_plain_one():
    """Re-priming in a helper thread, then catching up, gives the context (and logits) a plain
    re-prime at the same position followed by the same tokens gives."""
    rng = np.random.default_rng(5)
    tokens = [(int(rng.integers(3, 60)), i % 4, (i // 4) % 16) for i in range(360)]
    a, b = ModelRuntime(DEFAULT_MODEL, keep_frames=24), ModelRuntime(DEFAULT_MODEL, keep_frames=24)
    for t in tokens[:330]:
        a.feed(*t)
        b.feed(*t)
    a.start_reprime()
    b.make_room()
    for t in tokens[330:340]:
        a.feed(*t)  # decisions go on in the old cache meanwhile
        b.feed(*t)
    a.finish_reprime()
    assert a.pos == b.pos and a.dropped == b.dropped and a.reprimes == b.reprimes == 1
    assert np.allclose(a.logits, b.logits, atol=1e-5)
    for t in tokens[340:]:
        assert np.allclose(a.feed(*t), b.feed(*t), atol=1e-5)
