import subprocess
import sys

import pytest

from engine.config import Config, ConfigError, load


def write(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def test_defaults_validate():
    cfg = load()
    assert isinstance(cfg, Config)
    assert cfg.osc.host == "127.0.0.1" and cfg.osc.port == 9000
    assert cfg.osc.out == "127.0.0.1:9001"


def test_toml_values_and_int_for_float(tmp_path):
    cfg = load(write(tmp_path, '[tempo]\nbpm = 90\n[midi]\napi = "jack"\nclock_out = true\n'))
    assert cfg.tempo.bpm == 90.0 and isinstance(cfg.tempo.bpm, float)
    assert cfg.midi.api == "jack" and cfg.midi.clock_out is True


def test_unknown_key_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'midi.apii'"):
        load(write(tmp_path, '[midi]\napii = "jack"\n'))
    with pytest.raises(ConfigError, match="unknown key 'midii'"):
        load(write(tmp_path, '[midii]\napi = "jack"\n'))


def test_wrong_type_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"tempo\.bpm must be float \(got str 'fast'\)"):
        load(write(tmp_path, '[tempo]\nbpm = "fast"\n'))
    with pytest.raises(ConfigError, match="midi.clock_out must be bool"):
        load(write(tmp_path, "[midi]\nclock_out = 1\n"))
    with pytest.raises(ConfigError, match="audio.blocksize must be int"):
        load(write(tmp_path, "[audio]\nblocksize = 1.5\n"))
    with pytest.raises(ConfigError, match="midi must be a table"):
        load(write(tmp_path, "midi = 3\n"))


def test_bad_values(tmp_path):
    with pytest.raises(ConfigError, match="midi.api must be one of"):
        load(overrides={"midi.api": "coreaudio"})
    with pytest.raises(ConfigError, match="tempo.bpm must be within"):
        load(overrides={"tempo.bpm": 1000.0})
    with pytest.raises(ConfigError, match="osc.out must be HOST:PORT"):
        load(overrides={"osc.out": "localhost"})


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(write(tmp_path, "[midi\n"))


def test_optional_none_from_overrides():
    assert load(overrides={"osc.out": None}).osc.out is None


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["run", "--config", "/nonexistent.toml"], "config file not found"),
        (["run", "--tempo", "9999"], "tempo.bpm must be within"),
        (["render", "/nonexistent.mid", "-o", "x.mid"], "input file not found"),
    ],
)
def test_cli_start_up_errors_are_one_line(args, fragment, tmp_path):
    r = subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True,
                       text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in r.stderr


@pytest.mark.parametrize("key, value", [
    ("scheduler.lookahead_sec", float("nan")), ("scheduler.lookahead_sec", float("inf")),
    ("baseline.stop_after_beats", float("inf")), ("baseline.window_beats", 1e9),
    ("audio.blocksize", 100000), ("scheduler.rt_priority", 2**40), ("tempo.bpm", float("nan")),
])
def test_non_finite_and_out_of_range_numbers_are_refused(key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load(overrides={key: value})


def test_osc_output_must_not_feed_back_into_the_input():
    with pytest.raises(ConfigError, match="feedback"):
        load(overrides={"osc.out": "127.0.0.1:9000"})
