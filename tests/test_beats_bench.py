"""bench/beats.py's CPU summary: per-clip spread and improv's share of a peer's, same run.

Run in a child process: importing bench/beats.py pins the numeric libraries to one thread
(for fair timing), which this test session should not inherit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"

SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
import beats
rows = lambda cpu: [{"cpu_sec": c, "audio_sec": 30.0} for c in cpu]
results = {"improv": rows([0.05, 0.10, 0.15]), "madmom": rows([1.5, 1.5, 1.5])}
beats.print_cpu(results, {"improv": "improv", "madmom": "madmom"})
"""


def test_the_cpu_summary_gives_the_spread_and_the_share_of_the_peer_in_the_same_run():
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(BENCH)], capture_output=True,
                         text=True, check=True).stdout
    # improv: 0.1, 0.2, 0.3 s per audio minute (p50 0.2, max 0.3); madmom 3.0 on every clip;
    # improv's total 0.3 s over 90 s of audio = 0.2 s/min = 0.067 of madmom's 3.0
    assert "- improv: 0.20 / 0.30 / 0.30" in out
    assert "- madmom: 3.00 / 3.00 / 3.00" in out
    assert "- improv's CPU in this run: 0.067 of madmom's" in out


RESAMPLE = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import beats
t = np.arange(44100) / 44100
y = beats.resample(np.sin(2 * np.pi * 1000.0 * t).astype(np.float32), 44100, 48000)
spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
print(len(y), y.dtype, np.argmax(spectrum) * 48000 / len(y))
"""


def test_the_bench_resamples_to_the_live_rate_keeping_the_pitch():
    out = subprocess.run([sys.executable, "-c", RESAMPLE, str(BENCH)], capture_output=True,
                         text=True, check=True).stdout.split()
    assert out[:2] == ["48000", "float32"]  # one second is still one second
    assert abs(float(out[2]) - 1000.0) <= 1.0  # a 1 kHz tone is still 1 kHz


REPEAT_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
import beats

class Clock:  # the bench's process_time, advanced by the tracker's simulated cost
    now = 0.0
    def process_time(self):
        return self.now

clock = beats.time = Clock()
calls = []
def tracker(x, sr):  # 0.2 s on its first call (a host's slow spell), 0.02 s after
    calls.append(x)
    clock.now += 0.2 if len(calls) == 1 else 0.02
    return [0.5 * len(calls)]
row = {}
out = beats.timed_call(tracker, (1, 44100), row, repeat=3)
print(len(calls), out.tolist(), row["error"] == "", round(row["cpu_sec"], 9))
def broken(x, sr):
    calls.append(x)
    raise RuntimeError("no")
calls.clear()
row = {}
out = beats.timed_call(broken, (1, 44100), row, repeat=3)
print(len(calls), out.tolist(), row["error"])
"""


def test_repeated_timing_keeps_the_least_cpu_and_scores_the_first_call():
    out = subprocess.run([sys.executable, "-c", REPEAT_SCRIPT, str(BENCH)], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out[0] == "3 [0.5] True 0.02"  # three calls, the first's beats, the least CPU
    assert out[1] == "1 [] RuntimeError: no"  # a failing tracker is not called again


PAIRED = """
import sys
sys.path.insert(0, sys.argv[1])
import beats
rows = lambda fs: [{"clip": f"c{k}", "f": f} for k, f in enumerate(fs)]
ours, theirs = rows([1.0, 0.9, 0.5, 0.8]), rows([0.5, 0.9, 0.6, 0.8])
print(beats.paired_difference(ours, theirs))
print(beats.paired_difference(ours, [{"clip": "other", "f": 1.0}]))
even = rows([0.7] * 6)
print(beats.paired_difference(even, even))
beats.print_paired({"improv": ours, "madmom": theirs, "improv-flux": theirs})
"""


def test_the_paired_comparison_gives_the_mean_difference_its_interval_and_the_clips_won():
    out = subprocess.run([sys.executable, "-c", PAIRED, str(BENCH)], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    mean, lo, hi, won, lost, n = eval(out[0])  # noqa: S307 - our own child's repr
    # differences +0.5, 0, -0.1, 0: mean +0.1; resampled means lie within [-0.1, +0.5]
    assert abs(mean - 0.1) < 1e-12 and (won, lost, n) == (1, 1, 4)
    assert -0.1 <= lo < mean < hi <= 0.5
    assert out[1] == "None"  # no clip in common
    assert eval(out[2]) == (0.0, 0.0, 0.0, 0, 0, 6)  # noqa: S307 - identical: no spread
    # one line per peer, none for improv's own variants
    assert len(out) == 4 and out[3].startswith("- improv minus madmom, F clip by clip: +0.100")


PHASE_RULE = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import beats_phase_rule as rule
hz = 50.0 * 2.0 ** (np.arange(81) / 12.0)  # 81 bands a semitone apart from 50 Hz
rng = np.random.default_rng(0)
def clip(attack):
    frames = np.zeros((100, 81))
    for t in range(10, 100, 25):
        frames[t] = np.log10(1.0 + attack())
    return frames
partials = np.zeros(81); partials[[24, 36, 43, 48, 52]] = 100.0  # a note's first partials
noise = lambda: rng.uniform(50.0, 150.0, 81)
print(rule.attack_flatness(clip(lambda: partials), hz), rule.attack_flatness(clip(noise), hz))
row = {"reason": "peaked", "period_flux": 25, "period_learned": 26, "phase_flux": 0.05,
       "phase_learned": 0.55, "flatness": 0.01}
print(rule.phases_apart(row), rule.fires(row, 0.05), rule.fires(row, 0.005),
      rule.fires({**row, "period_learned": 50}, 0.05))
"""


def test_the_phase_rule_reads_a_harmonic_attack_as_peaked_and_needs_the_trackers_apart():
    out = subprocess.run([sys.executable, "-c", PHASE_RULE, str(BENCH)], capture_output=True,
                         text=True, check=True).stdout.split("\n")
    harmonic, noise = (float(v) for v in out[0].split())
    assert harmonic < 0.05 < 0.5 < noise  # partials: a few bands; noise: flat
    apart, fires, too_flat, other_tempo = out[1].split()
    assert abs(float(apart) - 0.5) < 1e-9
    assert (fires, too_flat, other_tempo) == ("True", "False", "False")
