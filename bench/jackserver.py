"""Start and stop a private JACK server with the dummy driver (benchmarks and tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time


class JackServer:
    """``with JackServer(period=128) as jack:`` -- a real jackd on the dummy driver under a
    private name, exported as JACK_DEFAULT_SERVER for this process and its children."""

    def __init__(self, name: str | None = None, rate: int = 48000, period: int = 128,
                 realtime: bool = True) -> None:
        self.name = name or f"improv-bench-{os.getpid()}"
        self.rate, self.period, self.realtime = rate, period, realtime
        self.proc: subprocess.Popen | None = None
        self.log_path = f"/tmp/{self.name}.log"

    def __enter__(self) -> JackServer:
        if shutil.which("jackd") is None:
            raise RuntimeError("jackd not found: run `make system-deps`")
        os.environ["JACK_DEFAULT_SERVER"] = self.name
        os.environ["JACK_NO_START_SERVER"] = "1"
        cmd = ["jackd", "-n", self.name]
        cmd += ["-P", "70"] if self.realtime else ["--no-realtime"]
        cmd += ["-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            r = subprocess.run(["jack_lsp"], capture_output=True, text=True)
            if r.returncode == 0 and "system:" in r.stdout:
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"jackd did not start; see {self.log_path}")

    def __exit__(self, *exc) -> None:
        sd = sys.modules.get("sounddevice")
        if sd is not None:  # PortAudio must let go of JACK before the server goes away
            sd._terminate()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
