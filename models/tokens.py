"""The model's vocabulary and frame layout (tokenizer version 1).

Music is a grid of frames, 4 per beat (16th notes) by default. Each frame holds four voices:
the player's melody (S) and three accompaniment voices, bass (B), tenor (T), alto (A). Each
voice in each frame is one token:

    PAD = 0      padding (never predicted)
    REST = 1     the voice is silent in this frame
    HOLD = 2     the voice holds the note it sounded before
    3 + p - 21   the voice strikes MIDI pitch p (21..108, the piano's range)

Besides its id, every token carries two small inputs the model embeds and adds: its *slot*
(which voice of the frame it is, in sequence order) and the *metric position* of its frame
within the bar (0..MAX_BAR_FRAMES-1; the engine knows it from the beat tracker).

Two orders of the voices inside a frame (see DESIGN.md):

- ``react`` (default): S B T A -- the player's frame t is known, then the accompaniment of
  frame t is decided (bass first: it matters most to the harmony).
- ``anticipate``: B T A S -- the accompaniment of frame t is committed before the player's.
"""

from __future__ import annotations

import numpy as np

TOKENIZER_VERSION = 1
PAD, REST, HOLD = 0, 1, 2
LOW_PITCH, HIGH_PITCH = 21, 108
VOCAB_SIZE = 3 + HIGH_PITCH - LOW_PITCH + 1  # 91
FRAMES_PER_BEAT = 4
MAX_BAR_FRAMES = 32  # metric positions embedded (a 4/4 bar has 16, 3/4 has 12, 6/4 24)

VOICES = ("S", "A", "T", "B")  # storage order in frame arrays (score order, top down)
ORDERS = {
    "react": ("S", "B", "T", "A"),
    "anticipate": ("B", "T", "A", "S"),
}
SLOTS_PER_FRAME = 4


def pitch_token(pitch: int) -> int:
    """Token of a struck pitch; pitches outside 21..108 are folded into range by octaves."""
    while pitch < LOW_PITCH:
        pitch += 12
    while pitch > HIGH_PITCH:
        pitch -= 12
    return 3 + pitch - LOW_PITCH


def token_pitch(token: int) -> int | None:
    """MIDI pitch of a pitch token, None for REST/HOLD/PAD."""
    return token - 3 + LOW_PITCH if token >= 3 else None


def voice_tokens(pitch: np.ndarray, onset: np.ndarray) -> np.ndarray:
    """Per-frame tokens of one voice: ``pitch`` (0 = rest) and ``onset`` (bool) per frame."""
    out = np.full(pitch.shape[0], REST, dtype=np.int64)
    sounding = pitch > 0
    held = sounding & ~onset
    out[held] = HOLD
    struck = sounding & onset
    out[struck] = [pitch_token(int(p)) for p in pitch[struck]]
    return out


def frames_to_tokens(frames: np.ndarray, order: str = "react") -> np.ndarray:
    """``frames``: (n_frames, 4) voice tokens in VOICES order -> flat sequence in ``order``."""
    cols = [VOICES.index(v) for v in ORDERS[order]]
    return frames[:, cols].reshape(-1)


def tokens_to_frames(tokens: np.ndarray, order: str = "react") -> np.ndarray:
    """Inverse of :func:`frames_to_tokens` (a trailing partial frame is dropped)."""
    n = tokens.shape[0] // SLOTS_PER_FRAME
    per = tokens[: n * SLOTS_PER_FRAME].reshape(n, SLOTS_PER_FRAME)
    frames = np.empty_like(per)
    for slot, v in enumerate(ORDERS[order]):
        frames[:, VOICES.index(v)] = per[:, slot]
    return frames


def frame_inputs(n_tokens: int, bar_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slot and metric-position inputs for a token sequence of ``n_tokens`` whose frames
    have positions ``bar_pos`` (one per frame)."""
    idx = np.arange(n_tokens)
    slots = idx % SLOTS_PER_FRAME
    metric = np.asarray(bar_pos)[idx // SLOTS_PER_FRAME] % MAX_BAR_FRAMES
    return slots.astype(np.int64), metric.astype(np.int64)


def voice_notes(tokens: np.ndarray) -> list[tuple[int, int, int]]:
    """(start frame, end frame, pitch) of the notes in one voice's per-frame tokens."""
    notes = []
    current = None
    for f, tok in enumerate(tokens.tolist()):
        if tok >= 3:
            if current is not None:
                notes.append((current[0], f, current[1]))
            current = (f, token_pitch(tok))
        elif tok != HOLD and current is not None:
            notes.append((current[0], f, current[1]))
            current = None
    if current is not None:
        notes.append((current[0], len(tokens), current[1]))
    return notes
