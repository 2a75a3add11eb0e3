"""Real-time figures under a real JACK server (dummy driver): prints, asserts nothing.

For each run: a private ``jackd -d dummy -p 128``, the live engine in this process (MIDI in
and out over JACK MIDI, audio in through improv's own JACK client (``--audio portaudio``:
PortAudio's JACK host API) and the listener on it,
MIDI clock out, the model improviser generating -- or with ``--baseline`` the rule-based
accompanist), and a player in another process sending a melody into the engine's MIDI
input. Reported:

- output lateness = time an event left - its scheduled time (p50 / p99 / max, ms), over
  every MIDI event the scheduler sent;
- xruns while the player plays (steady state): those the audio input counted (PortAudio's
  status flags; with the JACK input, the server's xrun callback, so the same as the next),
  and the xruns the JACK server reported to a monitor client; and, apart, the
  audio xruns during start-up (clients registering and connecting);
- MIDI in -> engine delay: the player's send time -> the engine thread reading the message
  (both on CLOCK_MONOTONIC, p50 / p99, ms);
- the improviser's frame decisions (feed the frame, sample and mask 3 voices: the react
  order's re-plan), wall time p50 / p99 / max (ms).

A control run between them (the same player into a bare port, no engine) shows the
xruns the machine has without improv. The peer, measured in the same run: the same
scheduler with a plain ``sleep`` (no final spin, no SCHED_FIFO), as most Python MIDI
schedulers do; the ratio of its p99 to ours.

    python bench/realtime.py [--seconds 20] [--runs 3] [--bpm 120] [--baseline]
    python bench/realtime.py --seconds 600 --runs 1 --modes ours     # the 10-minute figure
    python bench/realtime.py --seconds 30 --runs 1 --modes ours --no-control   # CI smoke
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.jackserver import JackServer  # noqa: E402
from engine.config import load  # noqa: E402
from engine.live import LiveSession  # noqa: E402

PLAYER = Path(__file__).resolve().parent / "player.py"


def jack_audio_device() -> str | None:
    try:
        import sounddevice as sd
    except OSError:
        return None
    apis = sd.query_hostapis()
    for i, d in enumerate(sd.query_devices()):
        if "JACK" in apis[d["hostapi"]]["name"] and d["max_input_channels"] > 0:
            return str(i)
    return None


def control_run(k: int, seconds: float, bpm: float) -> int:
    """The machine's own xruns: the same player into a bare rtmidi port, no engine."""
    import rtmidi

    client = f"improv-b{k}"
    sink = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name=f"{client}-in")
    sink.open_virtual_port("in")
    player = subprocess.Popen(
        [sys.executable, str(PLAYER), str(seconds), str(bpm), f"{client}-in:in"],
        stdout=subprocess.PIPE, text=True,
    )
    out, _ = player.communicate(timeout=seconds + 30)
    sink.close_port()
    sink.delete()
    xruns = [int(line.split()[1]) for line in out.splitlines() if line.startswith("XRUNS")]
    return xruns[0] if xruns else -1


def rss_kb() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def one_run(k: int, mode: str, seconds: float, bpm: float, model: bool = True,
            sample_sec: float = 60.0, audio: str = "jack") -> dict:
    client = f"improv-b{k}"
    device = "jack" if audio == "jack" else jack_audio_device()
    overrides = {
        "midi.api": "jack", "midi.input": "virtual", "midi.client_name": client,
        "osc.out": None, "osc.port": 0, "tempo.bpm": bpm, "midi.clock_out": True,
        "improviser.enabled": model,
    }
    if device is not None:
        overrides["audio.input"] = device
    if mode == "sleep":
        overrides.update({"scheduler.spin_sec": 0.0, "scheduler.rt_priority": 0})
    cfg = load(overrides=overrides)
    session = LiveSession(cfg)
    inp = session.engine.midi_inputs[0]
    reads: list[tuple[float, int]] = []
    raw_read = inp.read

    xruns_at_first_note = []

    def read_and_log():
        item = raw_read()
        if item is not None and item[0][0] & 0xF0 == 0x90 and item[0][2] > 0:
            reads.append((time.monotonic(), item[0][1]))
            if not xruns_at_first_note and session.audio is not None:
                xruns_at_first_note.append(session.audio.xruns)  # start-up ends here
        return item

    inp.read = read_and_log
    samples: list[tuple[float, int, np.ndarray]] = []  # (t, RSS kB, lateness in the interval)
    stop_sampling = threading.Event()

    def sample() -> None:  # soak: RSS and lateness every sample_sec (its own thread)
        t0, n0 = time.monotonic(), 0
        while not stop_sampling.wait(sample_sec):
            log = session.engine.lateness
            samples.append((time.monotonic() - t0, rss_kb(), log.since(n0) * 1e3))
            n0 = log.count

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # the player's lines go to a file: a pipe nobody reads during a long run fills up (64 KB,
    # ~35 minutes of a 30-minute soak) and blocks the player
    player_log = tempfile.TemporaryFile(mode="w+")
    player = subprocess.Popen(
        [sys.executable, str(PLAYER), str(seconds), str(bpm), f"{client}-in:in"],
        stdout=player_log, text=True,
    )
    try:
        session.run(duration_sec=seconds + 1.0)
    finally:
        stop_sampling.set()
        session.close()
    player.wait(timeout=30)
    player_log.seek(0)
    out = player_log.read()
    player_log.close()
    sent = [float(line.split()[1]) for line in out.splitlines() if line.startswith("SENT")]
    jack_xruns = [int(line.split()[1]) for line in out.splitlines() if line.startswith("XRUNS")]
    n = min(len(sent), len(reads))
    delay_ms = (np.array([r[0] for r in reads[:n]]) - np.array(sent[:n])) * 1e3
    late_ms = session.engine.lateness.values() * 1e3
    status = session.engine.status()
    imp = session.engine.improviser
    return {
        "decide": imp.decide_sec.values() * 1e3 if imp is not None else np.zeros(0),
        "swap": imp.reprime_sec.values() * 1e3 if imp is not None else np.zeros(0),
        "thread_errors": status["thread_errors"],
        "samples": samples,
        "mode": mode, "events": len(late_ms), "late": late_ms, "delay": delay_ms,
        "xruns_audio": status["xruns"] - (xruns_at_first_note or [0])[0],
        "xruns_start": (xruns_at_first_note or [0])[0], "audio_blocks": status["audio_blocks"],
        "xruns_jack": jack_xruns[0] if jack_xruns else -1, "late_events": status["late_events"],
        "rt_denied": status["rt_denied"], "notes": status["notes_sent"],
        "midi_in": status["midi_in"], "played": len(sent),
    }


def print_soak(samples) -> None:
    """RSS and lateness over the run: flat or not."""
    if len(samples) < 2:
        return
    for t, rss, late in samples:
        print(f"    t {t:6.0f} s  RSS {rss / 1024:7.1f} MB  lateness p99 {pct(late, 99):6.3f} ms "
              f"max {late.max() if len(late) else 0:6.2f} ms ({len(late)} events)")
    first, last = samples[0][1], samples[-1][1]
    growth = (last - first) / 1024
    p99s = [pct(s[2], 99) for s in samples if len(s[2])]
    print(f"    soak: RSS {first / 1024:.1f} -> {last / 1024:.1f} MB ({growth:+.1f} MB after the "
          f"first sample); lateness p99 per interval {min(p99s):.3f}..{max(p99s):.3f} ms")


def pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) if len(x) else float("nan")


def show(r: dict) -> str:
    late, delay = r["late"], r["delay"]
    return (f"{r['mode']:>6} | events {r['events']:5d} | lateness ms p50 {pct(late, 50):6.3f} "
            f"p99 {pct(late, 99):6.3f} max {late.max() if len(late) else 0:7.3f} | "
            f">1ms {r['late_events']:3d} | xruns audio {r['xruns_audio']} jack {r['xruns_jack']} "
            f"(start-up {r['xruns_start']})"
            f" | MIDI in->engine ms p50 {pct(delay, 50):5.2f} p99 {pct(delay, 99):5.2f} "
            f"({r['midi_in']} msgs, {r['played']} notes played, {r['notes']} sent, "
            f"{r['audio_blocks']} audio blocks{', no SCHED_FIFO' if r['rt_denied'] else ''})"
            + (f" | frame decisions ms p50 {pct(r['decide'], 50):.2f} p99 "
               f"{pct(r['decide'], 99):.2f} max {r['decide'].max():.2f} ({len(r['decide'])})"
               if len(r["decide"]) else " | baseline"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bpm", type=float, default=120.0)
    ap.add_argument("--period", type=int, default=128)
    ap.add_argument("--baseline", action="store_true", help="the rule-based accompanist plays")
    ap.add_argument("--modes", default="ours,sleep", help="ours, sleep (the peer) or both")
    ap.add_argument("--no-control", action="store_true", help="skip the no-engine control run")
    ap.add_argument("--audio", choices=["jack", "portaudio"], default="jack",
                    help="the audio input: improv's own JACK client (--audio-in jack, the "
                         "default) or PortAudio's JACK host API")
    ap.add_argument("--sample-sec", type=float, default=60.0,
                    help="soak: RSS and lateness p99 printed every this many seconds")
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    print(f"# bench/realtime.py: jackd -d dummy -r 48000 -p {args.period}, {args.runs} runs x "
          f"{args.seconds:g} s per mode, {args.bpm:g} BPM, audio in via {args.audio}, "
          f"{os.cpu_count()} cores")
    results: dict[str, list[dict]] = {m: [] for m in modes}
    control_xruns = []
    with JackServer(period=args.period):
        k = 0
        for _ in range(args.runs):
            for mode in modes:  # interleaved: both see the same machine load
                r = one_run(k, mode, args.seconds, args.bpm, model=not args.baseline,
                            sample_sec=args.sample_sec, audio=args.audio)
                k += 1
                results[mode].append(r)
                print(show(r), flush=True)
                print_soak(r["samples"])
            if args.no_control:
                continue
            control_xruns.append(control_run(k, args.seconds, args.bpm))
            k += 1
            print(f"control (player -> bare port, no engine) | xruns jack {control_xruns[-1]}",
                  flush=True)
    print("# pooled over runs")
    pooled = {}
    for mode, rs in results.items():
        late = np.concatenate([r["late"] for r in rs])
        delay = np.concatenate([r["delay"] for r in rs])
        pooled[mode] = late
        print(f"{mode:>6}: lateness ms p50 {pct(late, 50):.3f} p99 {pct(late, 99):.3f} "
              f"max {late.max():.3f}; xruns audio {sum(r['xruns_audio'] for r in rs)} "
              f"jack {sum(r['xruns_jack'] for r in rs)}; MIDI in->engine ms p50 "
              f"{pct(delay, 50):.2f} p99 {pct(delay, 99):.2f}")
        decide = np.concatenate([r["decide"] for r in rs])
        if len(decide):
            print(f"{mode:>6}: improviser frame decisions ms p50 {pct(decide, 50):.2f} p99 "
                  f"{pct(decide, 99):.2f} max {decide.max():.2f} over {len(decide)} frames "
                  f"(a 16th lasts 75 ms at 200 BPM)")
        swap = np.concatenate([r["swap"] for r in rs])
        if len(swap):
            print(f"{mode:>6}: context re-primes (helper thread; the swap on the decision path) "
                  f"{len(swap)}: swap ms p50 {pct(swap, 50):.2f} max {swap.max():.2f}")
        errors = sum(r["thread_errors"] for r in rs)
        print(f"{mode:>6}: thread errors {errors}")
    if control_xruns:
        print(f"control: xruns jack {sum(control_xruns)} (the machine and player alone)")
    if "sleep" in pooled and "ours" in pooled:
        ratio = pct(pooled["sleep"], 99) / max(pct(pooled["ours"], 99), 1e-6)
        print(f"peer ratio: plain-sleep scheduler p99 / ours p99 = {ratio:.1f}x")


if __name__ == "__main__":
    main()
