"""Fault injection for the hardening tests (never armed in normal use).

``IMPROV_FAULT=<thread>`` (engine, scheduler, osc or supervisor) arms it when ``improv run``
starts; SIGUSR2 fires it: that thread raises :class:`InjectedFault` at its next check, the way
a bug would. The test then checks what a performer gets: every held note released at the
receiver, and the process gone with a clear message. Without the variable nothing is armed,
no signal handler is installed and every check is one ``is None`` test.
"""

from __future__ import annotations

import os
import signal

THREADS = ("engine", "scheduler", "osc", "supervisor")


class InjectedFault(RuntimeError):
    """Raised on purpose by :meth:`FaultInjector.check`."""


class FaultInjector:
    def __init__(self, thread: str) -> None:
        if thread not in THREADS:
            raise ValueError(f"IMPROV_FAULT must be one of {', '.join(THREADS)}, not {thread!r}")
        self.thread = thread
        self.fired = False

    def install(self) -> None:
        """SIGUSR2 fires the fault. Main thread."""
        signal.signal(signal.SIGUSR2, self._fire)

    def _fire(self, signum, frame) -> None:
        self.fired = True

    def check(self, thread: str) -> None:
        """Raise InjectedFault in ``thread`` once the fault has fired. The named thread."""
        if self.fired and thread == self.thread:
            self.fired = False
            raise InjectedFault(f"fault injected in the {thread} thread (IMPROV_FAULT)")


def _from_env() -> FaultInjector | None:
    spec = os.environ.get("IMPROV_FAULT", "").strip()
    return FaultInjector(spec) if spec else None


FAULTS: FaultInjector | None = _from_env()
