"""Audio input through sounddevice (PortAudio: JACK, ALSA, ...).

The callback only copies the player's channel into a :class:`BlockRing` and counts status
flags (xruns); it never prints, logs or allocates arrays. sounddevice is imported lazily so
the MIDI-only and offline paths work without libportaudio.
"""

from __future__ import annotations

from typing import Any

from .ring import BlockRing


class AudioDeviceError(RuntimeError):
    """The audio input could not be opened; the message says which and why."""


def _sounddevice():
    try:
        import sounddevice as sd
    except OSError as exc:  # libportaudio missing
        msg = f"PortAudio is not available ({exc}); install libportaudio2"
        raise AudioDeviceError(msg) from None
    return sd


def list_devices() -> list[dict]:
    """sounddevice's device list (raises AudioDeviceError when PortAudio is missing)."""
    sd = _sounddevice()
    return [dict(d) for d in sd.query_devices()]


def host_apis() -> list[str]:
    sd = _sounddevice()
    return [h["name"] for h in sd.query_hostapis()]


class AudioInput:
    """An input stream feeding a BlockRing; ``xruns`` counts PortAudio status flags."""

    backend = "portaudio"

    def __init__(self, device: str | int | None, samplerate: int, blocksize: int,
                 channel: int, clock: Any, ring_blocks: int = 512) -> None:
        sd = _sounddevice()
        self.ring = BlockRing(ring_blocks, blocksize)
        self.channel = channel
        self.samplerate = samplerate
        self.blocksize = blocksize
        self.xruns = 0
        self._abandoned = False  # the server died under the stream: never touch it again
        self._now = clock.now
        try:
            dev = int(device) if isinstance(device, str) and device.isdigit() else device
            self._stream = sd.InputStream(
                device=dev, samplerate=samplerate, blocksize=blocksize,
                channels=channel + 1, dtype="float32", callback=self._callback,
            )
        except (sd.PortAudioError, ValueError) as exc:
            raise AudioDeviceError(f"cannot open audio input {device!r}: {exc}") from None

    def _callback(self, indata, frames, time_info, status) -> None:
        """PortAudio's thread: copy and count, nothing else."""
        if status:
            self.xruns += 1
        self.ring.push(indata[:, self.channel], self._now())

    def start(self) -> AudioInput:
        self._stream.start()
        return self

    def abandon(self) -> None:
        """The server behind the stream died: PortAudio's JACK host API would hang in
        stop/close and in its exit-time Pa_Terminate, so never touch the stream again and
        drop sounddevice's exit handler (the process exits; the OS reclaims the rest)."""
        import atexit

        self._abandoned = True
        handler = getattr(_sounddevice(), "_exit_handler", None)
        if handler is not None:
            atexit.unregister(handler)

    def close(self) -> None:
        if self._abandoned:
            return
        self._stream.stop()
        self._stream.close()
