import math

import torch


def causal_attention(
    Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention where position i only sees positions j <= i.

    Q, K: (..., n, d_k), V: (..., n, d_v); any leading dims are batch dims.
    Returns (output (..., n, d_v), weights (..., n, n)); weights[..., i, j] == 0 for j > i.
    """
    n, d_k = Q.size(-2), Q.size(-1)
    scores = Q @ K.transpose(-2, -1) / math.sqrt(d_k)  # (..., n, n)
    # Lower triangle (diagonal included) = allowed. Built on Q's device; broadcasts over batches.
    allowed = torch.ones(n, n, dtype=torch.bool, device=Q.device).tril()
    scores = scores.masked_fill(~allowed, float("-inf"))  # diagonal always allowed: no empty row
    weights = torch.softmax(scores, dim=-1)
    return weights @ V, weights
