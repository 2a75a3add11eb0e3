"""One readable decoder-only transformer over the frame tokens (see ``models/tokens.py``).

``forward`` runs a whole causal sequence (training, evaluation); ``step`` runs ONE new token
against an explicit key/value cache -- the graph exported to ONNX for the live engine.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .tokens import MAX_BAR_FRAMES, SLOTS_PER_FRAME, VOCAB_SIZE


@dataclass
class ModelConfig:
    vocab_size: int = VOCAB_SIZE  # PAD, REST, HOLD + 88 pitches
    n_slots: int = SLOTS_PER_FRAME  # voices per frame (slot embedding)
    n_metric: int = MAX_BAR_FRAMES  # metric positions within a bar (16ths)
    block_size: int = 384  # context in tokens: 96 frames = 6 bars of 4/4
    n_layer: int = 4  # transformer blocks
    n_head: int = 4  # attention heads per block
    d_model: int = 192  # width; ~1.9 M parameters in all with the defaults
    dropout: float = 0.1  # training only

    def to_dict(self) -> dict:
        return asdict(self)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.d_head = cfg.d_model // cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b, t, _ = x.shape
        q, k, v = self.qkv(x).split(self.n_head * self.d_head, dim=2)
        return tuple(z.view(b, t, self.n_head, self.d_head).transpose(1, 2) for z in (q, k, v))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self._split(x)
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )
        return self.proj(y.transpose(1, 2).reshape(b, t, c))

    def step(self, x: torch.Tensor, pos: torch.Tensor, k_cache: torch.Tensor,
             v_cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: (1, 1, C); caches (H, T, Dh) of earlier positions; pos: () int64."""
        q, k, v = self._split(x)  # (1, H, 1, Dh)
        q, k_new, v_new = q[0], k[0, :, 0], v[0, :, 0]  # (H, 1, Dh), (H, Dh), (H, Dh)
        t_max = k_cache.shape[1]
        scale = 1.0 / math.sqrt(self.d_head)
        # the earlier positions from the cache (slots at and after ``pos`` masked out) and
        # this token's own key beside them: the cache is read, never copied with the new key
        # written in (a select over the whole cache cost ~40 % of a step in onnxruntime)
        past = (q @ k_cache.transpose(1, 2)) * scale  # (H, 1, T)
        past = past.masked_fill((torch.arange(t_max) >= pos).view(1, 1, t_max), float("-inf"))
        own = (q * k_new.unsqueeze(1)).sum(-1, keepdim=True) * scale  # (H, 1, 1)
        p = torch.softmax(torch.cat([past, own], dim=-1), dim=-1)
        y = p[..., :t_max] @ v_cache + p[..., t_max:] * v_new.unsqueeze(1)  # (H, 1, Dh)
        y = y.transpose(0, 1).reshape(1, 1, -1)
        return self.proj(y), k_new, v_new


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(),
            nn.Linear(4 * cfg.d_model, cfg.d_model), nn.Dropout(cfg.dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))

    def step(self, x, pos, k_cache, v_cache):
        a, k_new, v_new = self.attn.step(self.ln1(x), pos, k_cache, v_cache)
        x = x + a
        return x + self.mlp(self.ln2(x)), k_new, v_new


class FrameTransformer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.slot = nn.Embedding(cfg.n_slots, cfg.d_model)
        self.metric = nn.Embedding(cfg.n_metric, cfg.d_model)
        self.pos = nn.Embedding(cfg.block_size, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.tok.weight  # tied
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def embed(self, tokens, slots, metric, positions):
        return self.tok(tokens) + self.slot(slots) + self.metric(metric) + self.pos(positions)

    def forward(self, tokens: torch.Tensor, slots: torch.Tensor, metric: torch.Tensor
                ) -> torch.Tensor:
        """(B, T) int64 each -> logits (B, T, V) predicting the NEXT token at each position."""
        t = tokens.shape[1]
        x = self.drop(self.embed(tokens, slots, metric, torch.arange(t, device=tokens.device)))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))

    def step(self, token: torch.Tensor, slot: torch.Tensor, metric: torch.Tensor,
             pos: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor):
        """One token. token/slot/metric: (1,) int64; pos: () int64 (its position, < block);
        caches: (L, H, block, Dh) holding positions < pos. Returns logits (V,) for the next
        token and this token's keys/values (L, H, Dh) for the caller to store at ``pos``."""
        x = self.embed(token, slot, metric, pos.view(1)).view(1, 1, -1)
        ks, vs = [], []
        for i, block in enumerate(self.blocks):
            x, k_new, v_new = block.step(x, pos, k_cache[i], v_cache[i])
            ks.append(k_new)
            vs.append(v_new)
        logits = self.head(self.ln_f(x)).view(-1)
        return logits, torch.stack(ks), torch.stack(vs)
