"""Musical measures of an accompaniment against a melody, per 16th frame (torch-free).

Frames are (n_frames, 4) token arrays in S A T B order (``models/tokens.py``).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

REST, HOLD, LOW_PITCH = 1, 2, 21

# Chord templates (pitch-class sets relative to the root): triads and sevenths.
_TEMPLATES = [(0, 4, 7), (0, 3, 7), (0, 3, 6), (0, 4, 8), (0, 4, 7, 10), (0, 4, 7, 11),
              (0, 3, 7, 10), (0, 3, 6, 10), (0, 3, 6, 9)]
CHORDS = {frozenset((root + i) % 12 for i in t) for t in _TEMPLATES for root in range(12)}


def sounding_pitches(frames: np.ndarray) -> np.ndarray:
    """(n_frames, 4) MIDI pitch sounding per voice per frame, 0 when silent."""
    out = np.zeros(frames.shape, dtype=np.int64)
    for v in range(frames.shape[1]):
        current = 0
        for f, tok in enumerate(frames[:, v].tolist()):
            if tok >= 3:
                current = tok - 3 + LOW_PITCH
            elif tok != HOLD:
                current = 0
            out[f, v] = current
    return out


def fits_chord(pcs: set[int]) -> bool:
    return any(pcs <= c for c in CHORDS)


def measures(frames: np.ndarray) -> dict:
    """Chord fit and the guards against degenerate answers, for one piece."""
    p = sounding_pitches(frames)
    mel, acc = p[:, 0], p[:, 1:]
    both = (mel > 0) & (acc > 0).any(axis=1)
    fit = echo = distinct = fit_moving = n_moving = 0
    melody_onset = frames[:, 0] >= 3
    for f in np.nonzero(both)[0]:
        a_pcs = {int(x) % 12 for x in acc[f] if x > 0}
        m_pc = int(mel[f]) % 12
        ok = fits_chord(a_pcs | {m_pc})
        fit += ok
        if melody_onset[f]:  # the melody moves here: where anticipating is hard
            n_moving += 1
            fit_moving += ok
        echo += a_pcs == {m_pc}
        distinct += len(a_pcs)
    n_both = int(both.sum())
    # parallel fifths / octaves between any two voices moving in the same direction
    moves = parallels = 0
    for f in range(1, len(p)):
        prev, cur = p[f - 1], p[f]
        changed = [v for v in range(4) if prev[v] > 0 and cur[v] > 0 and prev[v] != cur[v]]
        moves += len(changed)
        for a, b in combinations(range(4), 2):
            if a not in changed or b not in changed:
                continue
            i0, i1 = (prev[a] - prev[b]) % 12, (cur[a] - cur[b]) % 12
            if i0 == i1 and i0 in (0, 7):
                parallels += 1
    acc_tokens = frames[:, 1:]
    return {
        "frames": len(frames), "frames_both": n_both,
        "chord_fit": fit, "echo": echo, "distinct_pcs": distinct,
        "fit_moving": fit_moving, "frames_moving": n_moving,
        "moves": moves, "parallels": parallels,
        "silent_voice_frames": int((acc_tokens == REST).sum()),
        "voice_frames": int(acc_tokens.size),
        "onsets": int((acc_tokens >= 3).sum()),
    }


def summarize(per_piece: list[dict]) -> dict:
    """Pooled rates over pieces."""
    s = {k: sum(d[k] for d in per_piece) for k in per_piece[0]}
    nb = max(1, s["frames_both"])
    return {
        "chord_fit": s["chord_fit"] / nb,
        "chord_fit_melody_moves": s["fit_moving"] / max(1, s["frames_moving"]),
        "echo": s["echo"] / nb,
        "distinct_pcs": s["distinct_pcs"] / nb,
        "parallels_per_100_moves": 100.0 * s["parallels"] / max(1, s["moves"]),
        "silence": s["silent_voice_frames"] / max(1, s["voice_frames"]),
        "onset_rate": s["onsets"] / max(1, s["voice_frames"]),
    }
