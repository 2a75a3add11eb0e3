"""Train the frame transformer on the chorales (CPU-friendly), with checkpoints and resume.

    python -m models.train --minutes 35 --order react --out models/ckpt_react.pt
    python -m models.train --resume models/ckpt_react.pt --minutes 10   # continue

Every ``--eval-every`` steps it logs validation NLL (nats/token) and accuracy, overall and on
the accompaniment tokens alone, and saves the checkpoint (weights, optimizer, step, config,
tokenizer version, order). Fixed seeds; one progress line with loss and ETA.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .data import build, from_midi_dir, transpose, transpose_ok
from .model import FrameTransformer, ModelConfig
from .tokens import ORDERS, PAD, SLOTS_PER_FRAME, TOKENIZER_VERSION, frame_inputs, frames_to_tokens


class Batches:
    """Random windows (frame-aligned) of random pieces in random accepted keys."""

    def __init__(self, pieces, order: str, block_size: int, seed: int) -> None:
        self.pieces = pieces
        self.order = order
        self.block = block_size
        self.rng = np.random.default_rng(seed)
        self.keys = [[s for s in range(-6, 6) if transpose_ok(p.frames, s)] for p in pieces]
        lengths = np.array([len(p.frames) for p in pieces], dtype=np.float64)
        self.weights = lengths / lengths.sum()

    def window(self, i: int, start_frame: int, semitones: int):
        p = self.pieces[i]
        n_frames = (self.block + 1 + SLOTS_PER_FRAME - 1) // SLOTS_PER_FRAME
        frames = transpose(p.frames[start_frame:start_frame + n_frames], semitones)
        toks = frames_to_tokens(frames, self.order)[: self.block + 1]
        slots, metric = frame_inputs(len(toks), p.bar_pos[start_frame:start_frame + n_frames])
        pad = self.block + 1 - len(toks)
        if pad > 0:
            toks = np.concatenate([toks, np.full(pad, PAD)])
            slots = np.concatenate([slots, np.zeros(pad, dtype=np.int64)])
            metric = np.concatenate([metric, np.zeros(pad, dtype=np.int64)])
        return toks, slots, metric

    def sample(self, batch: int):
        out = []
        for _ in range(batch):
            i = int(self.rng.choice(len(self.pieces), p=self.weights))
            n_frames = len(self.pieces[i].frames)
            span = self.block // SLOTS_PER_FRAME
            if self.rng.random() < 0.2 or n_frames <= span:
                start = 0  # performances start from nothing: learn beginnings too
            else:
                start = int(self.rng.integers(0, n_frames - span))
            out.append(self.window(i, start, int(self.rng.choice(self.keys[i]))))
        return tuple(torch.from_numpy(np.stack(z)) for z in zip(*out))


def loss_on(model, toks, slots, metric):
    logits = model(toks[:, :-1], slots[:, :-1], metric[:, :-1])
    target = toks[:, 1:]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                           ignore_index=PAD), logits, target


@torch.no_grad()
def evaluate(model, pieces, order: str, block: int) -> dict:
    """NLL (nats/token) and accuracy over whole validation pieces (original keys), in
    non-overlapping windows; also on accompaniment tokens only."""
    model.eval()
    b = Batches(pieces, order, block, seed=0)
    melody_slot = ORDERS[order].index("S")
    tot = {"nll": 0.0, "n": 0, "acc": 0, "nll_acc": 0.0, "n_acc": 0, "acc_acc": 0}
    span = block // SLOTS_PER_FRAME
    for i, p in enumerate(pieces):
        for start in range(0, len(p.frames), span):
            toks, slots, metric = (torch.from_numpy(z)[None] for z in b.window(i, start, 0))
            logits = model(toks[:, :-1], slots[:, :-1], metric[:, :-1])
            target = toks[:, 1:]
            nll = F.cross_entropy(logits[0], target[0], reduction="none")
            valid = target[0] != PAD
            acc = (logits[0].argmax(-1) == target[0]) & valid
            target_slot = slots[0, 1:]
            accomp = valid & (target_slot != melody_slot)
            tot["nll"] += float(nll[valid].sum())
            tot["n"] += int(valid.sum())
            tot["acc"] += int(acc.sum())
            tot["nll_acc"] += float(nll[accomp].sum())
            tot["n_acc"] += int(accomp.sum())
            tot["acc_acc"] += int((acc & accomp).sum())
    model.train()
    return {"nll": tot["nll"] / tot["n"], "acc": tot["acc"] / tot["n"],
            "nll_accomp": tot["nll_acc"] / tot["n_acc"],
            "acc_accomp": tot["acc_acc"] / tot["n_acc"]}


def save(path: Path, model, opt, step: int, order: str, history: list, seed: int) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                "config": model.cfg.to_dict(), "tokenizer_version": TOKENIZER_VERSION,
                "order": order, "history": history, "seed": seed}, tmp)
    tmp.replace(path)


def lr_at(step: int, total: int, base: float, warmup: int = 200) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    x = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * x)))


def weights_only(ckpt: Path, out: Path) -> Path:
    """The checkpoint without its optimizer state: what ships beside the ONNX model."""
    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    ck.pop("optimizer", None)
    torch.save(ck, out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="train the frame transformer on the chorales")
    ap.add_argument("--order", choices=sorted(ORDERS), default="react")
    ap.add_argument("--out", type=Path, default=Path("models/ckpt_react.pt"))
    ap.add_argument("--resume", type=Path, help="continue this checkpoint")
    ap.add_argument("--init", type=Path, help="fine-tune from these weights")
    ap.add_argument("--data", type=Path, help="a folder of your own MIDI files (default: the "
                    "Bach chorales)")
    ap.add_argument("--minutes", type=float, default=35.0, help="wall-clock budget")
    ap.add_argument("--steps", type=int, default=4000, help="schedule length (lr cosine)")
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    data = from_midi_dir(args.data) if args.data else build()
    if args.init and not args.resume:  # fine-tune: start from trained weights, new schedule
        ck = torch.load(args.init, weights_only=False)
        ck.update(step=0, history=[], optimizer=None)
    if args.resume:
        ck = torch.load(args.resume, weights_only=False)
        cfg = ModelConfig(**ck["config"])
        order, seed, step, history = ck["order"], ck["seed"], ck["step"], ck["history"]
        out = args.resume
    elif args.init:  # the order may change: react weights are a good start for anticipate
        cfg, order, seed, step, history = ModelConfig(**ck["config"]), args.order, args.seed, 0, []
        out = args.out
    else:
        cfg, order, seed, step, history, out = ModelConfig(), args.order, args.seed, 0, [], args.out
    torch.manual_seed(seed + step)
    model = FrameTransformer(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.05)
    if args.resume or args.init:
        model.load_state_dict(ck["model"])
    if args.resume and ck.get("optimizer"):
        opt.load_state_dict(ck["optimizer"])
    batches = Batches(data["train"], order, cfg.block_size, seed + step)
    print(f"model {model.n_params() / 1e6:.2f} M params, order {order}, "
          f"{len(data['train'])} train / {len(data['valid'])} valid pieces", flush=True)
    t_start = time.monotonic()
    step0 = step
    budget = args.minutes * 60.0
    model.train()
    ema = None
    while step < args.steps and time.monotonic() - t_start < budget:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr)
        toks, slots, metric = batches.sample(args.batch)
        loss, _, _ = loss_on(model, toks, slots, metric)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        ema = float(loss) if ema is None else 0.98 * ema + 0.02 * float(loss)
        elapsed = time.monotonic() - t_start
        rate = (step - step0) / elapsed  # steps per second in this session
        eta = min(budget - elapsed, (args.steps - step) / rate)
        sys.stdout.write(f"\rstep {step}/{args.steps} loss {ema:.3f} "
                         f"{elapsed / 60:.1f}/{args.minutes:g} min (ETA {max(0, eta) / 60:.1f})")
        sys.stdout.flush()
        if step % args.eval_every == 0 or step == args.steps:
            m = evaluate(model, data["valid"], order, cfg.block_size)
            history.append({"step": step, "train_loss": ema, **m})
            print(f"\nvalid step {step}: nll {m['nll']:.3f} acc {m['acc']:.3f} | accompaniment "
                  f"nll {m['nll_accomp']:.3f} acc {m['acc_accomp']:.3f}", flush=True)
            save(out, model, opt, step, order, history, seed)
    m = evaluate(model, data["valid"], order, cfg.block_size)
    history.append({"step": step, "train_loss": ema, **m})
    save(out, model, opt, step, order, history, seed)
    print(f"\ndone at step {step}: valid nll {m['nll']:.3f} acc {m['acc']:.3f}; saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
