import math

import torch


def grouped_query_attention(
    Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grouped-query attention: h query heads share g key/value heads.

    Q: (..., h, n, d_k), K: (..., g, m, d_k), V: (..., g, m, d_v), h divisible by g.
    Query head i uses key/value head i // (h // g): contiguous groups, as in Llama.
    mask: optional bool tensor broadcastable to (..., h, n, m); True = "may attend".
    Returns (output (..., h, n, d_v), weights (..., h, n, m)).
    """
    h, g = Q.size(-3), K.size(-3)
    if h % g:
        raise ValueError(f"{h} query heads cannot be split into {g} groups")
    group = h // g
    # repeat_interleave repeats each head in place ([k0, k0, k1, k1]); Tensor.repeat would
    # tile the whole stack ([k0, k1, k0, k1]) and pair query head i with key head i % g.
    K = K.repeat_interleave(group, dim=-3)
    V = V.repeat_interleave(group, dim=-3)
    scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))  # (..., h, n, m)
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ V, weights
