"""Export a checkpoint to ONNX with an explicit KV cache, and quantize it to int8.

The step graph (one token in, one token's keys/values out):

    inputs   token (1,) int64, slot (1,) int64, metric (1,) int64, pos () int64,
             k_cache, v_cache (n_layer, n_head, block_size, d_head) float32
    outputs  logits (vocab,) float32, k_new, v_new (n_layer, n_head, d_head) float32

The runtime keeps the caches and writes k_new/v_new at ``pos`` itself, so nothing is copied
back and forth. Dynamic int8 quantization (weights int8, activations quantized on the fly)
with onnxruntime.

    python -m models.export models/ckpt_react.pt        # -> models/improv_react_int8.onnx (+ .json)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from .model import FrameTransformer, ModelConfig
from .tokens import LOW_PITCH, ORDERS, TOKENIZER_VERSION, VOCAB_SIZE

HERE = Path(__file__).resolve().parent


class StepGraph(torch.nn.Module):
    def __init__(self, model: FrameTransformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, token, slot, metric, pos, k_cache, v_cache):
        return self.model.step(token, slot, metric, pos, k_cache, v_cache)


def load_checkpoint(path: Path) -> tuple[FrameTransformer, dict]:
    ck = torch.load(path, map_location="cpu", weights_only=False)
    if ck.get("tokenizer_version") != TOKENIZER_VERSION:
        raise ValueError(f"{path}: tokenizer version {ck.get('tokenizer_version')}, "
                         f"expected {TOKENIZER_VERSION}")
    model = FrameTransformer(ModelConfig(**ck["config"]))
    model.load_state_dict(ck["model"])
    return model.eval(), ck


def export(ckpt: Path, out_dir: Path = HERE, name: str | None = None) -> dict:
    model, ck = load_checkpoint(ckpt)
    cfg = model.cfg
    order = ck["order"]
    name = name or f"improv_{order}"
    fp32 = out_dir / f"{name}_fp32.onnx"
    int8 = out_dir / f"{name}_int8.onnx"
    d_head = cfg.d_model // cfg.n_head
    cache = torch.zeros(cfg.n_layer, cfg.n_head, cfg.block_size, d_head)
    args = (torch.tensor([3]), torch.tensor([0]), torch.tensor([0]), torch.tensor(0), cache,
            cache.clone())
    torch.onnx.export(
        StepGraph(model), args, str(fp32), dynamo=False, opset_version=17,
        input_names=["token", "slot", "metric", "pos", "k_cache", "v_cache"],
        output_names=["logits", "k_new", "v_new"],
    )
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    meta = {
        "format": "improv-step-v1",
        "tokenizer_version": TOKENIZER_VERSION,
        "order": order,
        "voice_order": list(ORDERS[order]),
        "config": cfg.to_dict(),
        "vocab": {"size": VOCAB_SIZE, "PAD": 0, "REST": 1, "HOLD": 2,
                  "pitch_token": f"3 + pitch - {LOW_PITCH}"},
        "trained_steps": ck["step"],
        "validation": ck["history"][-1] if ck["history"] else {},
        "data": "music21 Bach chorales, split by piece: models/split.json",
        "files": {"int8": int8.name, "fp32": fp32.name},
    }
    (out_dir / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--out-dir", type=Path, default=HERE)
    args = ap.parse_args(argv)
    meta = export(args.checkpoint, args.out_dir)
    for f in meta["files"].values():
        p = args.out_dir / f
        print(f"wrote {p} ({p.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
