import math

import torch
from torch import nn


class SelfAttention(nn.Module):
    """Multi-head self-attention: the layer inside every Transformer block."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(
                f"d_model={d_model} is not divisible by n_heads={n_heads}"
            )
        self.d_model = d_model
        self.n_heads = n_heads
        self.d_k = d_model // n_heads  # size of one head

        self.W_q = nn.Linear(d_model, d_model)
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)
        self.W_o = nn.Linear(d_model, d_model)

    def scaled_dot_product_attention(
        self,
        Q: torch.Tensor,
        K: torch.Tensor,
        V: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Q, K, V: (batch, heads, seq, d_k) -> (output, weights)."""
        scores = Q @ K.transpose(-2, -1) / math.sqrt(self.d_k)  # (batch, heads, seq, seq)
        if mask is not None:
            # The mask broadcasts: (batch, 1, seq, seq), (batch, 1, 1, seq) or (1, 1, seq, seq).
            # `mask == 0` works for bool and 0/1 masks alike.
            scores = scores.masked_fill(mask == 0, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return weights @ V, weights

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        # (batch, seq, d_model) -> (batch, seq, heads, d_k) -> (batch, heads, seq, d_k).
        # The transpose is essential: a plain view to (batch, heads, seq, d_k) would mix
        # positions and heads.
        batch, seq, _ = t.shape
        return t.view(batch, seq, self.n_heads, self.d_k).transpose(1, 2)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x: (batch, seq, d_model) -> (batch, seq, d_model)."""
        batch, seq, _ = x.shape
        Q = self._split_heads(self.W_q(x))
        K = self._split_heads(self.W_k(x))
        V = self._split_heads(self.W_v(x))
        heads, _ = self.scaled_dot_product_attention(Q, K, V, mask)
        # Back to (batch, seq, heads, d_k), then concatenate the heads. After transpose the
        # memory is not contiguous, so use reshape (or .contiguous().view(...)).
        concat = heads.transpose(1, 2).reshape(batch, seq, self.d_model)
        return self.W_o(concat)
