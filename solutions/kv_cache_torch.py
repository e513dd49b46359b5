import math

import torch


def attend_with_cache(
    Q_new: torch.Tensor, K_new: torch.Tensor, V_new: torch.Tensor,
    K_cache: torch.Tensor, V_cache: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One decoding step with a KV cache: s new tokens after t cached ones.

    Q_new, K_new: (..., s, d_k), V_new: (..., s, d_v); K_cache: (..., t, d_k),
    V_cache: (..., t, d_v), t >= 0. New token i (absolute position t + i) attends to every
    cached token and to the new tokens 0..i. Returns (output (..., s, d_v),
    K_cache (..., t + s, d_k), V_cache (..., t + s, d_v)).
    """
    t, s = K_cache.size(-2), Q_new.size(-2)
    K = torch.cat([K_cache, K_new], dim=-2)  # the token axis, whatever the batch dims
    V = torch.cat([V_cache, V_new], dim=-2)
    scores = Q_new @ K.transpose(-2, -1) / math.sqrt(Q_new.size(-1))  # (..., s, t + s)
    keys = torch.arange(t + s, device=Q_new.device)
    allowed = keys[None, :] <= t + torch.arange(s, device=Q_new.device)[:, None]
    weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    return weights @ V, K, V
