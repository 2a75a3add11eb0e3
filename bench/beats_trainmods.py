"""Tracker modules for the learned beat activation's training set: produced music with sampled
drums and an exact row grid, under tempo curves.

The activation's weakest material is recorded drum loops and produced songs, where it locks on
the off-beat (README, "Which part is short"). Debian's games ship 76 distinct tracker modules
(``.mod .xm .s3m .it``: pingus, tecnoballz, freedroid, pachi, ...): songs sequenced on a grid of
rows from sampled instruments, most with sampled drum kits and breaks. Rendered with libopenmpt
(``apt-get install libopenmpt0``, through ctypes), the time of every row is known while it
plays, so the beats are exact -- and libopenmpt's ``play.tempo_factor`` can move the tempo
while it plays (accelerando, ritardando, rubato) without changing the pitch, and the beats stay
exact.

The beat is ``rows per beat`` rows (an IT file's own highlight, else 4, the trackers'
convention that makes speed 6 at tempo T play T BPM), doubled or halved until the beat is
60-200 BPM; a bar is the highlight's rows per measure (else 16) and starts on a pattern's
row 0. Each module is rendered ``--renderings`` times (seeded by its name), each as 30 s pieces
with a curve of their own: steady, accelerando, ritardando or rubato around a random speed
(0.8-1.25, kept in 60-200 BPM). Pieces with fewer than 8 beats or mostly silent are skipped.
Writes ``models/cache/beats_train/M###_<module>_<r>_<piece>.npz`` (``beats_trainset``'s
format); ``models.beat_train.split`` keeps a module's clips on one side.

    apt-get install libopenmpt0 pingus-data tecnoballz-data freedroid-data pachi-data \
        bomberclone-data circuslinux-data njam-data ri-li-data tuxmath-data ceferino-data \
        monsterz-data gweled penguin-command solarwolf
    python bench/beats_trainmods.py [--renderings 2]
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import math
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import beats_trainset as ts  # noqa: E402

SR = 44100
CHUNK = 32  # frames rendered between two looks at the play position: row times to 0.7 ms
PIECE_SEC = 30.0
MAX_SEC = 330.0
SUFFIXES = {".mod", ".xm", ".s3m", ".it"}
ROOTS = (Path("/usr/share/games"), Path("/usr/share/pachi"), Path("/usr/share/sounds"),
         Path("/usr/share/tuxmath"))
BPM_RANGE = (60.0, 200.0)


def module_files() -> list[Path]:
    """The installed modules, each content once (one game may ship another's)."""
    seen, out = set(), []
    for root in ROOTS:
        for p in sorted(root.rglob("*")):
            if p.suffix.lower() not in SUFFIXES or not p.is_file() or p.stat().st_size > 4e6:
                continue
            h = hashlib.sha1(p.read_bytes()).hexdigest()
            if h not in seen:
                seen.add(h)
                out.append(p)
    return out


def highlight(data: bytes) -> tuple[int, int]:
    """(rows per beat, rows per measure) an IT file's header gives, else (4, 16)."""
    if data[:4] == b"IMPM" and data[0x1E] and data[0x1F] and data[0x1F] % data[0x1E] == 0:
        return data[0x1E], data[0x1F]
    return 4, 16


class Openmpt:
    """The few libopenmpt C calls this needs (ctypes; libopenmpt has no Python binding in
    Debian)."""

    def __init__(self):
        lib = ctypes.CDLL("libopenmpt.so.0")
        lib.openmpt_module_create_from_memory2.restype = ctypes.c_void_p
        lib.openmpt_module_create_from_memory2.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.c_void_p, ctypes.c_void_p]
        lib.openmpt_module_destroy.argtypes = [ctypes.c_void_p]
        lib.openmpt_module_set_repeat_count.argtypes = [ctypes.c_void_p, ctypes.c_int32]
        lib.openmpt_module_read_float_mono.restype = ctypes.c_size_t
        lib.openmpt_module_read_float_mono.argtypes = [
            ctypes.c_void_p, ctypes.c_int32, ctypes.c_size_t, ctypes.POINTER(ctypes.c_float)]
        for f in ("row", "pattern", "order"):
            getattr(lib, f"openmpt_module_get_current_{f}").argtypes = [ctypes.c_void_p]
        lib.openmpt_module_ctl_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        self.lib = lib

    def render(self, data: bytes, factor_at, max_sec: float = MAX_SEC):
        """Play ``data`` once; ``factor_at(t_sec)`` is the tempo factor at each moment.
        Returns (mono float32 at ``SR``, [(t_sec of a row's start, pattern, row)])."""
        lib = self.lib
        err = ctypes.c_int(0)
        mod = lib.openmpt_module_create_from_memory2(data, len(data), None, None, None, None,
                                                     ctypes.byref(err), None, None)
        if not mod:
            raise ValueError(f"libopenmpt cannot open it (error {err.value})")
        try:
            lib.openmpt_module_set_repeat_count(mod, 0)
            n_max = int(max_sec * SR)
            out = np.zeros(n_max, np.float32)
            rows, last, n, factor = [], None, 0, None
            while n + CHUNK <= n_max:
                f = round(float(factor_at(n / SR)), 4)
                if f != factor:
                    lib.openmpt_module_ctl_set(mod, b"play.tempo_factor", str(f).encode())
                    factor = f
                got = lib.openmpt_module_read_float_mono(
                    mod, SR, CHUNK, ctypes.cast(out.ctypes.data + n * out.itemsize,
                                                ctypes.POINTER(ctypes.c_float)))
                if got == 0:
                    break
                pos = (lib.openmpt_module_get_current_order(mod),
                       lib.openmpt_module_get_current_pattern(mod),
                       lib.openmpt_module_get_current_row(mod))
                if pos != last:  # the row started within this chunk: its middle
                    rows.append(((n + got / 2) / SR, pos[1], pos[2]))
                    last = pos
                n += got
            return out[:n], rows
        finally:
            lib.openmpt_module_destroy(mod)


def curve(rng: random.Random, base_bpm: float):
    """A tempo-factor function of time: 30 s pieces, each steady, accelerando, ritardando or
    rubato around a random speed that keeps the beat in ``BPM_RANGE``. Returns (factor_at,
    [curve name per piece])."""
    lo = max(0.8, BPM_RANGE[0] / base_bpm)
    hi = min(1.25, BPM_RANGE[1] / base_bpm)
    lo = min(lo, hi)  # a module far outside the range: the allowed speed nearest to it
    pieces = []
    for _ in range(int(MAX_SEC // PIECE_SEC) + 1):
        kind = rng.choice(("steady", "steady", "accel", "rit", "rubato"))
        f0 = rng.uniform(lo, hi)  # (drawn for every piece: the clips' seeds stay as rendered)
        if kind == "accel":
            f0 = rng.uniform(lo, max(lo, hi / 1.25))
            f1 = min(hi, f0 * rng.uniform(1.15, 1.35))
        elif kind == "rit":
            f0 = rng.uniform(min(hi, lo * 1.25), hi)
            f1 = max(lo, f0 / rng.uniform(1.15, 1.35))
        else:
            f1 = f0
        pieces.append((kind, f0, f1, rng.uniform(4.0, 9.0), rng.uniform(0.05, 0.1)))

    def factor_at(t_sec: float) -> float:
        k = min(int(t_sec // PIECE_SEC), len(pieces) - 1)
        kind, f0, f1, period_sec, depth = pieces[k]
        u = t_sec / PIECE_SEC - k
        if kind == "rubato":
            return f0 * (1.0 + depth * math.sin(2 * math.pi * (t_sec - k * PIECE_SEC) / period_sec))
        return f0 * (f1 / f0) ** u

    return factor_at, [p[0] for p in pieces]


def beat_grid(rows, rows_per_beat: int, rows_per_bar: int):
    """(t_sec, position in bar) of the rows on a beat; the row grid restarts at each pattern's
    row 0 (a bar's start)."""
    return [(t, (r % rows_per_bar) // rows_per_beat + 1) for t, _, r in rows
            if r % rows_per_beat == 0]


def choose_level(rows, rows_per_beat: int, rows_per_bar: int, explicit: bool):
    """Double or halve the rows per beat until the median beat is within ``BPM_RANGE``
    (an IT file's own highlight is kept if it is already within 50-230 BPM)."""
    def bpm(rpb):
        t = np.array([b[0] for b in beat_grid(rows, rpb, max(rows_per_bar, rpb))])
        return 60.0 / float(np.median(np.diff(t))) if len(t) > 2 else 0.0

    rpb = rows_per_beat
    lo, hi = (50.0, 230.0) if explicit else BPM_RANGE
    for _ in range(4):
        b = bpm(rpb)
        if b > hi and rpb * 2 <= 64:
            rpb *= 2
        elif 0 < b < lo and rpb % 2 == 0:
            rpb //= 2
        else:
            break
    bar = rows_per_bar * rpb // rows_per_beat  # as many beats a bar as the highlight says
    return rpb, bar, bpm(rpb)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--renderings", type=int, default=2, help="renderings of each module")
    ap.add_argument("--list", action="store_true", help="only list the modules and tempi")
    args = ap.parse_args(argv)
    ts.OUT.mkdir(parents=True, exist_ok=True)
    mpt = Openmpt()
    k = 0
    for path in module_files():
        data = path.read_bytes()
        name = path.stem.lower().replace(" ", "_")[:20]
        rpb0, bar0 = highlight(data)
        try:
            _, rows = mpt.render(data, lambda t: 1.0, max_sec=60.0)
        except ValueError as e:
            print(f"{path}: {e}", flush=True)
            continue
        rpb, bar, bpm = choose_level(rows, rpb0, bar0, data[:4] == b"IMPM" and rpb0 != 4)
        print(f"{path}: {rpb} rows a beat, {bar // rpb} beats a bar, {bpm:.1f} BPM", flush=True)
        if args.list or not bpm:
            continue
        for r in range(args.renderings):
            rng = random.Random(f"{name}:{r}")
            factor_at, kinds = curve(rng, bpm)
            x, rows = mpt.render(data, factor_at)
            beats = beat_grid(rows, rpb, bar)
            times = np.array([b[0] for b in beats])
            for p in range(int(len(x) / SR // PIECE_SEC)):
                t0 = p * PIECE_SEC
                seg = x[int(t0 * SR):int((t0 + PIECE_SEC) * SR)]
                sel = (times >= t0) & (times < t0 + PIECE_SEC)
                hop = SR // 10
                rms = np.sqrt(np.mean(seg[:len(seg) // hop * hop].reshape(-1, hop) ** 2, axis=1))
                if sel.sum() < 8 or np.mean(rms > 0.1 * rms.max()) < 0.7:
                    continue
                b = [(float(t - t0), int(q)) for (t, q), s in zip(beats, sel) if s]
                clip = f"M{k:03d}_{name}_{r}_{p}"
                peak = float(np.max(np.abs(seg))) or 1.0
                n = ts.save_clip(ts.OUT / f"{clip}.npz", seg / peak * 0.9, SR, b,
                                 {"source": f"module:{path.name}", "curve": kinds[p],
                                  "bpm": round(60.0 / float(np.median(np.diff(times[sel]))), 2),
                                  "segment_sec": t0, "kind": "module",
                                  "meter": f"{bar // rpb}/4"})
                print(f"{clip}: {n} frames, {kinds[p]}", flush=True)
                k += 1
    print(f"{k} clips in {ts.OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
