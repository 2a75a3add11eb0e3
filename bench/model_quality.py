"""The model against Bach and the baselines on the held-out test chorales, online.

Prints (and writes to ``models/improv_react.json`` under "metrics"):
- chord fit, distinct pitch classes, echo, parallels, silence and onset rate for: Bach's own
  alto/tenor/bass, the int8 model at a few temperatures, a 4-gram, the rule-based baseline,
  random -- all following the real melody online (react order: frame t sees melody <= t);
- NLL (nats/token) and accuracy on the same windows: torch fp32, ORT int8, 4-gram;
- per-token latency (one thread): torch fp32, ORT fp32, ORT int8, p50/p99/max over >= 2000
  steps; the time to re-plan 4 beats; file sizes; int8 vs fp32 agreement.

    python bench/model_quality.py            # needs the train extra (torch) for fp32 figures
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.play.harmonize import HarmonizeSettings, VoiceMasks, harmonize  # noqa: E402
from engine.play.runtime import ModelRuntime  # noqa: E402
from models.baselines import NGram, random_frames, rule_based_frames  # noqa: E402
from models.data import build, transpose, transpose_ok  # noqa: E402
from models.metrics import measures, summarize  # noqa: E402
from models.tokens import (  # noqa: E402
    ORDERS,
    REST,
    SLOTS_PER_FRAME,
    frame_inputs,
    frames_to_tokens,
)

MODELS = ROOT / "models"


def pct(x, q):
    return float(np.percentile(np.asarray(x), q))


def ngram_harmonize(ng: NGram, melody, order="react", temperature=1.0, seed=0):
    """(The n-gram must have been fitted on sequences in the same ``order``.)"""
    """The n-gram following the melody online, sampled under the same masks as the model."""
    rng = np.random.default_rng(seed)
    masks = VoiceMasks(len(ng._uniform))
    voices = ("S", "A", "T", "B")
    out = np.full((len(melody), 4), REST, dtype=np.int64)
    sounding = {v: None for v in voices}
    history: list[int] = []
    for f in range(len(melody)):
        for slot, v in enumerate(ORDERS[order]):
            if v == "S":
                tok = int(melody[f])
            else:
                p = ng.dist(history, slot)
                m = masks.mask(v, sounding, True)
                p = np.where(m, p, 0.0) ** (1.0 / temperature)
                tok = int(rng.choice(len(p), p=p / p.sum()))
            out[f, voices.index(v)] = tok
            sounding[v] = tok - 3 + 21 if tok >= 3 else (None if tok == REST else sounding[v])
            history = (history + [tok])[-(ng.order - 1):]
    return out


def quality(test, rt, ng, temperatures, seed) -> dict:
    rows = {}
    rows["Bach (real A/T/B)"] = summarize([measures(p.frames) for p in test])
    for t in temperatures:
        per = []
        for i, p in enumerate(test):
            s = HarmonizeSettings(temperature=t, seed=seed + i)
            per.append(measures(harmonize(rt, p.frames[:, 0], p.bar_pos, s)))
        rows[f"model int8 T={t:g}"] = summarize(per)
    rows["4-gram T=1"] = summarize(
        [measures(ngram_harmonize(ng, p.frames[:, 0], rt.order, seed=seed + i))
         for i, p in enumerate(test)])
    rows["rule-based baseline"] = summarize(
        [measures(rule_based_frames(p.frames[:, 0], p.bar_pos, p.bar_frames // 4))
         for p in test])
    onset_rate = rows["Bach (real A/T/B)"]["onset_rate"]
    rng = np.random.default_rng(seed)
    rows["random"] = summarize([measures(random_frames(p.frames[:, 0], rng, onset_rate))
                                for p in test])
    return rows


def windows(test, block, order):
    span = block // SLOTS_PER_FRAME
    for p in test:
        for start in range(0, len(p.frames), span):
            fr = p.frames[start:start + span]
            toks = frames_to_tokens(fr, order)
            slots, metric = frame_inputs(len(toks), p.bar_pos[start:start + span])
            yield toks, slots, metric


def nll_table(test, rt, ng, torch_model, block) -> dict:
    out = {}
    tot = {"ng": 0.0, "n": 0, "ort": 0.0, "ort_acc": 0, "torch": 0.0, "torch_acc": 0,
           "agree": 0}
    for toks, slots, metric in windows(test, block, rt.order):
        a, n = ng.nll(toks)
        tot["ng"] += a
        tot["n"] += n
        rt.reset()
        ort_logits = []
        for t in range(len(toks) - 1):
            ort_logits.append(rt.feed(int(toks[t]), int(slots[t]), int(metric[t])).copy())
        ol = np.array(ort_logits)
        lse = np.log(np.exp(ol - ol.max(1, keepdims=True)).sum(1)) + ol.max(1)
        tot["ort"] += float((lse - ol[np.arange(len(ol)), toks[1:]]).sum())
        tot["ort_acc"] += int((ol.argmax(1) == toks[1:]).sum())
        if torch_model is not None:
            import torch
            import torch.nn.functional as F

            with torch.no_grad():
                inputs = (torch.from_numpy(z[None, :-1]) for z in (toks, slots, metric))
                tl = torch_model(*inputs)[0]
            tot["torch"] += float(F.cross_entropy(tl, torch.from_numpy(toks[1:]), reduction="sum"))
            tot["torch_acc"] += int((tl.argmax(-1).numpy() == toks[1:]).sum())
            tot["agree"] += int((tl.argmax(-1).numpy() == ol.argmax(1)).sum())
    n = tot["n"]
    out["4-gram"] = {"nll": tot["ng"] / n}
    out["ORT int8"] = {"nll": tot["ort"] / n, "acc": tot["ort_acc"] / n}
    if torch_model is not None:
        out["torch fp32"] = {"nll": tot["torch"] / n, "acc": tot["torch_acc"] / n,
                             "int8_argmax_agreement": tot["agree"] / n}
    out["tokens"] = n
    return out


def step_latency(fn, n_steps: int) -> dict:
    times = []
    for i in range(n_steps):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    ms = np.array(times[50:]) * 1e3
    return {"p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99), "max_ms": float(ms.max()),
            "steps": len(ms)}


def latency_table(torch_model, fp32_path, int8_path, n_steps, block) -> dict:
    out = {}
    toks = [3 + 40 + (i % 7) for i in range(n_steps)]
    for name, path in (("ORT fp32", fp32_path), ("ORT int8", int8_path)):
        if path is None or not path.exists():
            continue
        rt = ModelRuntime(path)
        out[name] = step_latency(
            lambda i, rt=rt: rt.feed(toks[i], i % 4, (i // 4) % 16) if rt.pos < block - 1
            else rt.reset(), n_steps)
    if torch_model is not None:
        import torch

        torch.set_num_threads(1)
        cfg = torch_model.cfg
        d_head = cfg.d_model // cfg.n_head
        k = torch.zeros(cfg.n_layer, cfg.n_head, cfg.block_size, d_head)
        v = torch.zeros_like(k)

        def tstep(i):
            pos = i % (block - 1)
            with torch.no_grad():
                _, kn, vn = torch_model.step(torch.tensor([toks[i]]), torch.tensor([i % 4]),
                                             torch.tensor([(i // 4) % 16]), torch.tensor(pos), k, v)
            k[:, :, pos] = kn
            v[:, :, pos] = vn

        out["torch fp32"] = step_latency(tstep, n_steps)
    # re-plan 4 beats (16 frames: 16 melody tokens fed + 48 sampled) from a rewound context
    rt = ModelRuntime(int8_path)
    rng = np.random.default_rng(0)
    for i in range(128):
        rt.feed(toks[i], i % 4, (i // 4) % 16)
    times = []
    for _ in range(50):
        t0 = time.perf_counter()
        rt.rewind(64)
        logits = rt.logits
        for f in range(16):
            for slot in range(4):
                tok = toks[f] if slot == 0 else rt.sample(logits, rng, 0.8, 0.95)
                logits = rt.feed(tok, slot, f % 16)
        times.append((time.perf_counter() - t0) * 1e3)
    out["re-plan 4 beats (64 steps, int8)"] = {"p50_ms": pct(times, 50), "p99_ms": pct(times, 99),
                                               "max_ms": float(max(times))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=MODELS / "improv_react_int8.onnx")
    ap.add_argument("--weights", type=Path, default=MODELS / "improv_react_weights.pt")
    ap.add_argument("--temperatures", type=float, nargs="+", default=[0.5, 0.8, 1.0])
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pieces", type=int, default=0, help="limit test pieces (0 = all)")
    args = ap.parse_args()
    data = build()
    test = data["test"][: args.pieces or None]
    rt = ModelRuntime(args.model)
    block = rt.block
    t0 = time.time()
    seqs = [frames_to_tokens(transpose(p.frames, s), rt.order) for p in data["train"]
            for s in range(-6, 6) if transpose_ok(p.frames, s)]
    ng = NGram(4).fit(seqs)
    print(f"# {len(test)} test chorales ({sum(len(p.frames) for p in test)} frames); "
          f"4-gram fitted on {len(seqs)} transposed training sequences in {time.time() - t0:.0f} s")
    torch_model = None
    fp32_path = args.model.with_name(args.model.name.replace("_int8", "_fp32"))
    if args.weights.exists():
        try:
            import torch

            from models.model import FrameTransformer, ModelConfig

            w = torch.load(args.weights, map_location="cpu", weights_only=False)
            torch_model = FrameTransformer(ModelConfig(**w["config"])).eval()
            torch_model.load_state_dict(w["model"])
            if not fp32_path.exists():
                from models.export import export

                export(args.weights, args.model.parent)
        except ImportError:
            print("# torch not installed: fp32 figures skipped (pip install '.[train]')")
    results = {"quality": quality(test, rt, ng, args.temperatures, args.seed)}
    print(f"\n| accompaniment (online, {rt.order} order, test set) | chord fit | ... where the "
          "melody moves | distinct pcs | echo | parallels /100 moves | silence | onset rate |\n"
          "|---|---|---|---|---|---|---|---|")
    for name, r in results["quality"].items():
        print(f"| {name} | {r['chord_fit']:.3f} | {r['chord_fit_melody_moves']:.3f} | "
              f"{r['distinct_pcs']:.2f} | {r['echo']:.3f} | {r['parallels_per_100_moves']:.2f} | "
              f"{r['silence']:.3f} | {r['onset_rate']:.3f} |")
    results["nll"] = nll_table(test, rt, ng, torch_model, block)
    print(f"\n| NLL on {results['nll']['tokens']} test tokens | nats/token | accuracy |")
    print("|---|---|---|")
    for name, r in results["nll"].items():
        if name != "tokens":
            print(f"| {name} | {r['nll']:.3f} | {r.get('acc', float('nan')):.3f} |")
    if "torch fp32" in results["nll"]:
        n = results["nll"]
        print(f"int8 vs fp32: argmax agreement {n['torch fp32']['int8_argmax_agreement']:.3f}, "
              f"NLL difference {n['ORT int8']['nll'] - n['torch fp32']['nll']:+.4f}; "
              f"model NLL vs 4-gram: "
              f"{100 * (1 - n['ORT int8']['nll'] / n['4-gram']['nll']):.1f} % lower")
    results["latency"] = latency_table(torch_model, fp32_path, args.model, args.steps, block)
    print("\n| per token, 1 thread | p50 ms | p99 ms | max ms |\n|---|---|---|---|")
    for name, r in results["latency"].items():
        print(f"| {name} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['max_ms']:.3f} |")
    sizes = {p.name: p.stat().st_size for p in (args.model, fp32_path) if p.exists()}
    results["file_bytes"] = sizes
    print("\nfiles: " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sizes.items()))
    meta_path = args.model.with_name(args.model.name.replace("_int8.onnx", ".json"))
    meta = json.loads(meta_path.read_text())
    meta["metrics"] = results
    meta_path.write_text(json.dumps(meta, indent=1, default=float) + "\n")
    print(f"wrote metrics into {meta_path}")


if __name__ == "__main__":
    main()
