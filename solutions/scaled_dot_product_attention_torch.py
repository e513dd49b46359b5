import math

import torch


def scaled_dot_product_attention(
    Q: torch.Tensor,
    K: torch.Tensor,
    V: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q Kᵀ / √d_k) V over the last two dims; leading dims are batches.

    Q: (..., n, d_k), K: (..., m, d_k), V: (..., m, d_v).
    mask: optional bool or 0/1 tensor broadcastable to (..., n, m); non-zero = "may attend".
    Returns (output (..., n, d_v), weights (..., n, m)).
    """
    d_k = Q.size(-1)
    # transpose(-2, -1) swaps only the last two dims, so batch dims pass through untouched.
    scores = Q @ K.transpose(-2, -1) / math.sqrt(d_k)  # (..., n, m)
    if mask is not None:
        # `mask == 0` works for bool and for 0/1 float masks alike. -inf gives exactly zero
        # weight; every row keeps at least one allowed key, so no row is entirely -inf.
        scores = scores.masked_fill(mask == 0, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # torch's softmax subtracts the max internally
    return weights @ V, weights
