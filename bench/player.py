"""A separate process that plays a melody into improv's MIDI input through JACK and prints
each send time (CLOCK_MONOTONIC, shared across processes): ``SENT t_sec pitch``; and, from a
JACK client of its own, the xruns the server reported meanwhile: ``XRUNS n``.

    python bench/player.py SECONDS BPM TARGET_PORT
"""

import sys
import time

import jack
import rtmidi


def main() -> None:
    seconds, bpm, target = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    xruns = [0]
    monitor = jack.Client("bench-xruns", no_start_server=True)
    monitor.set_xrun_callback(lambda delay_usec: xruns.__setitem__(0, xruns[0] + 1))
    monitor.activate()
    out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="bench-player")
    ports = out.get_ports()
    out.open_port(ports.index(target), "out")
    time.sleep(0.3)
    spb = 60.0 / bpm
    tune = [60, 64, 67, 72, 65, 69, 72, 77, 67, 71, 74, 79, 60, 64, 67, 72]
    t0 = time.monotonic() + 0.2
    i = 0
    while True:
        t = t0 + i * spb
        if t - t0 > seconds:
            break
        while time.monotonic() < t:
            time.sleep(0.0002)
        p = tune[i % len(tune)]
        out.send_message([0x90, p, 90])
        print(f"SENT {time.monotonic():.6f} {p}", flush=True)
        time.sleep(spb * 0.8)
        out.send_message([0x80, p, 0])
        i += 1
    out.close_port()
    print(f"XRUNS {xruns[0]}", flush=True)
    monitor.deactivate()
    monitor.close()


if __name__ == "__main__":
    main()
