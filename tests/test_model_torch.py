"""The torch side: incremental decoding equals the full pass, and the exported ONNX step
graph equals torch (fp32, tolerance 1e-4). Needs the ``train`` extra (torch, onnx)."""

import numpy as np
import pytest


def _torch():
    import os

    try:
        import torch as t

        return t
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("torch is not installed (the train extra): CI must install it")
        pytest.skip("torch is not installed (pip install '.[train]')")


def tiny_model():
    t = _torch()
    from models.model import FrameTransformer, ModelConfig

    t.manual_seed(0)
    cfg = ModelConfig(n_layer=2, n_head=2, d_model=32, block_size=64, dropout=0.0)
    return FrameTransformer(cfg).eval(), cfg


def sequence(n):
    rng = np.random.default_rng(0)
    toks = rng.integers(1, 91, n)
    slots = np.arange(n) % 4
    metric = (np.arange(n) // 4) % 16
    return toks, slots, metric


def test_incremental_equals_full_forward():
    t = _torch()
    model, cfg = tiny_model()
    toks, slots, metric = sequence(48)
    with t.no_grad():
        full = model(*(t.from_numpy(z)[None] for z in (toks, slots, metric)))[0]
        dh = cfg.d_model // cfg.n_head
        k = t.zeros(cfg.n_layer, cfg.n_head, cfg.block_size, dh)
        v = t.zeros_like(k)
        steps = []
        for i in range(len(toks)):
            logits, kn, vn = model.step(t.tensor([toks[i]]), t.tensor([slots[i]]),
                                        t.tensor([metric[i]]), t.tensor(i), k, v)
            k[:, :, i], v[:, :, i] = kn, vn
            steps.append(logits)
    assert t.allclose(t.stack(steps), full, atol=1e-4)


def test_onnx_step_equals_torch(tmp_path):
    t = _torch()
    from engine.play.runtime import ModelRuntime
    from models.export import export

    model, cfg = tiny_model()
    ckpt = tmp_path / "tiny.pt"
    t.save({"model": model.state_dict(), "config": cfg.to_dict(), "tokenizer_version": 1,
            "order": "react", "step": 0, "history": []}, ckpt)
    export(ckpt, tmp_path, name="improv_tiny")
    toks, slots, metric = sequence(40)
    with t.no_grad():
        full = model(*(t.from_numpy(z)[None] for z in (toks, slots, metric)))[0].numpy()
    for kind, tol in (("fp32", 1e-4), ("int8", None)):
        rt = ModelRuntime(tmp_path / f"improv_tiny_{kind}.onnx")
        got = np.array([rt.feed(int(a), int(b), int(c)).copy()
                        for a, b, c in zip(toks, slots, metric)])
        if tol is not None:
            assert np.abs(got - full).max() < tol
        else:  # int8: close in distribution, mostly the same argmax
            assert (got.argmax(1) == full.argmax(1)).mean() > 0.8
