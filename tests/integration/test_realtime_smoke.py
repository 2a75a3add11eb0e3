"""The real-time benchmark's short version: 30 s through a real JACK server (dummy driver)
with the model improviser generating, the listener on the audio input and a player in another
process. It asserts only that the run completes with no error: its timing figures are
printed (and judged) by ``bench/realtime.py``, not by tests on a shared machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_realtime_bench_30s_completes(require):
    for tool in ("jackd", "libportaudio", "JACK-Client"):
        require(tool)
    env = dict(os.environ)
    env.pop("JACK_DEFAULT_SERVER", None)  # the bench starts its own server
    res = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "realtime.py"), "--seconds", "30", "--runs", "1",
         "--modes", "ours", "--no-control"],
        capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    print(res.stdout[-3000:], res.stderr[-3000:])
    assert res.returncode == 0, res.stderr[-2000:]
    assert "improviser frame decisions" in res.stdout  # the model was generating
    assert "thread errors 0" in res.stdout
