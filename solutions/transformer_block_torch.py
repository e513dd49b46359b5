import math

import torch
from torch import nn


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention with an output projection."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"{d_model=} is not a multiple of {n_heads=}")
        self.n_heads = n_heads
        self.d_k = d_model // n_heads
        self.W_q = nn.Linear(d_model, d_model)
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)
        self.W_o = nn.Linear(d_model, d_model)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        # (..., seq, d_model) -> (..., heads, seq, d_k); works with or without a batch axis
        *lead, seq, _ = t.shape
        return t.reshape(*lead, seq, self.n_heads, self.d_k).transpose(-3, -2)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        *lead, seq, d_model = x.shape
        Q = self._split(self.W_q(x))
        K = self._split(self.W_k(x))
        V = self._split(self.W_v(x))
        scores = Q @ K.transpose(-2, -1) / math.sqrt(self.d_k)
        if mask is not None:
            # (batch, 1, seq, seq), (batch, 1, 1, seq) or (1, 1, seq, seq): broadcasts over heads
            scores = scores.masked_fill(mask == 0, float("-inf"))
        heads = torch.softmax(scores, dim=-1) @ V
        return self.W_o(heads.transpose(-3, -2).reshape(*lead, seq, d_model))


class TransformerBlock(nn.Module):
    """One encoder block: attention and a feed-forward network, each with a
    residual and a LayerNorm; pre-LN (norm_first=True) or post-LN (the paper)."""

    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, norm_first: bool = True
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.attn = MultiHeadSelfAttention(d_model, n_heads)
        self.ln1 = nn.LayerNorm(d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff1 = nn.Linear(d_model, d_ff)
        self.ff2 = nn.Linear(d_ff, d_model)

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff2(torch.relu(self.ff1(x)))

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.norm_first:
            # pre-LN: normalise the sublayer's input; the residual carries the raw x
            h = x + self.attn(self.ln1(x), mask)
            return h + self.feed_forward(self.ln2(h))
        # post-LN (seed 003, the original Transformer): LayerNorm(x + Sublayer(x))
        h = self.ln1(x + self.attn(x, mask))
        return self.ln2(h + self.feed_forward(h))
