import math

import torch


def sliding_window_attention(
    Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, window: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal local attention: position i attends to j with i - window < j <= i.

    Q, K: (..., n, d_k), V: (..., n, d_v); window >= 1 counts the keys a query sees, itself
    included (the first rows see fewer). Returns (output (..., n, d_v), weights (..., n, n)).
    """
    n = Q.size(-2)
    i = torch.arange(n, device=Q.device)[:, None]
    j = torch.arange(n, device=Q.device)[None, :]
    allowed = (j <= i) & (j > i - window)  # (n, n) band ending on the diagonal
    scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))
    scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ V, weights
