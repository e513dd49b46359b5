import math

import torch
from torch import nn


class Attention(nn.Module):
    """Seed 000's single-head attention: returns (output, attention_weights)."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.d_model = d_model
        self.W_q = nn.Linear(d_model, d_model)
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (..., seq, d_model).

        Returns output (..., seq, d_model) and attention_weights (..., seq, seq).
        """
        Q = self.W_q(x)
        K = self.W_k(x)
        V = self.W_v(x)
        # One head, so the dot products have d_model terms: scale by sqrt(d_model).
        # transpose(-2, -1) swaps only the last two axes, whatever the leading ones are.
        scores = Q @ K.transpose(-2, -1) / math.sqrt(self.d_model)
        attention_weights = torch.softmax(scores, dim=-1)  # each query's row sums to 1
        output = attention_weights @ V
        return output, attention_weights
