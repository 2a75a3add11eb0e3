"""A single-producer single-consumer ring of fixed-size audio blocks, allocated once."""

from __future__ import annotations

import numpy as np


class BlockRing:
    """``push`` (producer: the audio callback) copies a block in; ``pop`` (consumer: the
    engine thread) copies the oldest out. No locks: each index has one writer. When full,
    ``push`` drops the new block and counts it in ``dropped``."""

    def __init__(self, n_blocks: int, block_frames: int) -> None:
        self.blocks = np.zeros((n_blocks, block_frames), dtype=np.float32)
        self.first_frame = np.zeros(n_blocks, dtype=np.int64)
        self.arrival_t_sec = np.zeros(n_blocks, dtype=np.float64)
        self.n_blocks = n_blocks
        self.block_frames = block_frames
        self.written = 0  # producer only
        self.read = 0  # consumer only
        self.dropped = 0  # producer only
        self.frames_in = 0  # producer only: frames delivered so far (dropped ones included)

    def push(self, block: np.ndarray, arrival_t_sec: float) -> bool:
        """Copy ``block`` (1-D, ``block_frames`` long). Audio callback; allocates nothing."""
        first = self.frames_in
        self.frames_in += block.shape[0]
        if self.written - self.read >= self.n_blocks or block.shape[0] != self.block_frames:
            self.dropped += 1
            return False
        i = self.written % self.n_blocks
        self.blocks[i, :] = block
        self.first_frame[i] = first
        self.arrival_t_sec[i] = arrival_t_sec
        self.written += 1
        return True

    def pop(self, out: np.ndarray) -> tuple[int, float] | None:
        """Copy the oldest block into ``out``; return (first frame index, arrival t_sec)."""
        if self.read == self.written:
            return None
        i = self.read % self.n_blocks
        out[:] = self.blocks[i]
        meta = (int(self.first_frame[i]), float(self.arrival_t_sec[i]))
        self.read += 1
        return meta
