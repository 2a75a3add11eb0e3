"""patches/improv.pd against a running improv, in real headless Pure Data: controls sent from
the Pd patch change improv's state (as /improv/status reports it), and what improv sends
(notes, beats, status replies, errors) arrives in the patch's monitor."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PATCH = ROOT / "patches" / "improv.pd"


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PdProcess:
    """``pd -nogui -nosound`` with the patch and a harness: a FUDI TCP port whose messages go
    to the patch's [r improv-send], so the test can press the patch's buttons."""

    def __init__(self, tmp: Path, improv_port: int, monitor_port: int) -> None:
        self.harness_port = free_port(socket.SOCK_STREAM)
        harness = tmp / "harness.pd"
        harness.write_text("#N canvas 0 0 400 200 12;\n"
                           f"#X obj 10 10 netreceive {self.harness_port};\n"
                           "#X obj 10 40 s improv-send;\n"
                           "#X connect 0 0 1 0;\n")
        self.log_path = tmp / "pd.log"
        cmd = ["pd", "-nogui", "-nosound", "-nomidi", "-stderr", "-nrt", "-sleepgrain", "0.5",
               "-open", str(PATCH), "-open", str(harness),
               "-send", f"improv-in-port {improv_port}",
               "-send", f"improv-out-port {monitor_port}"]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=tmp)
        deadline = time.monotonic() + 10.0
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.harness_port), 0.5)
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError(f"Pd did not start:\n{self.log()}") from None
                time.sleep(0.1)

    def press(self, message: str) -> None:
        """What a click on the message box ``[; improv-send MESSAGE(`` does."""
        self.sock.sendall(f"{message};\n".encode())

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_log(self, needle: str, timeout_sec: float = 10.0) -> str:
        deadline = time.monotonic() + timeout_sec
        while needle not in self.log():
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never appeared in Pd's output:\n{self.log()}")
            time.sleep(0.05)
        return self.log()

    def stop(self, stop_process) -> None:
        self.sock.close()
        stop_process(self.proc)
        self._log.close()


@pytest.mark.integration
def test_pd_patch_controls_improv_and_hears_it(improv, midi_sender, require, helpers, tmp_path):
    require("pd")
    monitor_port = free_port(socket.SOCK_DGRAM)
    engine = improv("pd", tempo=120.0, osc_out=f"127.0.0.1:{monitor_port}")
    pd = PdProcess(tmp_path, engine.osc_port, monitor_port)
    try:
        # controls: Pd -> improv
        pd.press("improv/stop")
        engine.wait_status(lambda s, c: s == "stopped", 5.0, "Pd's /improv/stop")
        pd.press("improv/start 120")
        engine.wait_status(lambda s, c: s == "armed", 5.0, "Pd's /improv/start")
        before = engine.status()[1]["bad_messages"]
        pd.press("improv/temperature -1")  # refused: counted, answered with /improv/error
        engine.wait_status(lambda s, c: c["bad_messages"] == before + 1, 5.0, "the refusal")
        pd.wait_log("improv-error: /improv/temperature")
        pd.press("improv/status")
        pd.wait_log("improv-status: armed")
        pd.wait_log("improv-reason:")
        # improv -> Pd: a player plays; the notes and beats reach the patch's monitor
        snd = midi_sender(engine.in_port)
        for pitch in [60, 64, 67, 72, 65, 69, 72, 77]:
            snd.send((0x90, pitch, 90))
            time.sleep(0.45)
            snd.send((0x80, pitch, 0))
            time.sleep(0.05)
        log = pd.wait_log("improv-note: bass")
        assert "improv-beat:" in log
        pd.press("improv/role/bass 0")  # and a role switch from Pd takes effect
        time.sleep(0.3)
        n_bass = pd.log().count("improv-note: bass")
        for pitch in [62, 65, 69, 74]:
            snd.send((0x90, pitch, 90))
            time.sleep(0.45)
            snd.send((0x80, pitch, 0))
            time.sleep(0.05)
        pd.wait_log("improv-note: chords", 2.0)
        after = pd.log()
        new_bass_ons = [line for line in after.splitlines()[-200:]
                        if line.startswith("improv-note: bass") and not line.endswith(" 0 0")]
        assert after.count("improv-note: bass") - n_bass <= 1, new_bass_ons  # an off at most
    finally:
        pd.stop(helpers.stop_process)
