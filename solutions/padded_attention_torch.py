import math

import torch


def padded_attention(
    Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor,
    key_lengths: torch.Tensor,
    causal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention over a padded batch: example e sees keys j < key_lengths[e].

    Q: (b, n, d_k), K: (b, m, d_k), V: (b, m, d_v); key_lengths: int64 (b,), 0 <= length <= m.
    causal=True (n = m) also hides keys j > i. A query row with no visible key gets all-zero
    weights and an all-zero output. Returns (output (b, n, d_v), weights (b, n, m)).
    """
    n, m = Q.size(-2), K.size(-2)
    keys = torch.arange(m, device=Q.device)
    allowed = keys[None, None, :] < key_lengths[:, None, None]  # (b, 1, m)
    if causal:
        queries = torch.arange(n, device=Q.device)
        allowed = allowed & (keys[None, :] <= queries[:, None])
    allowed = allowed.expand(Q.size(0), n, m)
    scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))
    has_key = allowed.any(dim=-1, keepdim=True)
    # A fully hidden row gets finite scores (zeros) and then zero weights: no NaN in the
    # forward pass, and none in the backward pass either.
    scores = scores.masked_fill(~allowed, float("-inf"))
    scores = scores.masked_fill(~has_key, 0.0)
    weights = torch.softmax(scores, dim=-1) * allowed
    return weights @ V, weights
