"""Known-wrong KV-cache steps (torch); each is tagged in the YAML."""

import math

import torch


def _attend(Q, K, V, allowed):
    scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))
    if allowed is not True:
        scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=-1) @ V


def _visible(t, s, strict=False):
    keys, rows = torch.arange(t + s)[None, :], t + torch.arange(s)[:, None]
    return keys < rows if strict else keys <= rows


def _grown(K_cache, V_cache, K_new, V_new, dim=-2):
    return torch.cat([K_cache, K_new], dim=dim), torch.cat([V_cache, V_new], dim=dim)


def no_mask_within_chunk(Q_new, K_new, V_new, K_cache, V_cache):
    K, V = _grown(K_cache, V_cache, K_new, V_new)
    return _attend(Q_new, K, V, True), K, V


def append_on_dim_0(Q_new, K_new, V_new, K_cache, V_cache):
    K, V = _grown(K_cache, V_cache, K_new, V_new, dim=0)
    t, s = K.size(-2) - Q_new.size(-2), Q_new.size(-2)
    return _attend(Q_new, K, V, _visible(t, s)), K, V


def cannot_see_itself(Q_new, K_new, V_new, K_cache, V_cache):
    K, V = _grown(K_cache, V_cache, K_new, V_new)
    return _attend(Q_new, K, V, _visible(K_cache.size(-2), Q_new.size(-2), strict=True)), K, V


def ignores_cache(Q_new, K_new, V_new, K_cache, V_cache):
    output = _attend(Q_new, K_new, V_new, _visible(0, Q_new.size(-2)))
    K, V = _grown(K_cache, V_cache, K_new, V_new)
    return output, K, V


def stale_cache(Q_new, K_new, V_new, K_cache, V_cache):
    K, V = _grown(K_cache, V_cache, K_new, V_new)
    return _attend(Q_new, K, V, _visible(K_cache.size(-2), Q_new.size(-2))), K_cache, V_cache


def scales_query_in_place(Q_new, K_new, V_new, K_cache, V_cache):
    Q_new.div_(math.sqrt(Q_new.size(-1)))
    K, V = _grown(K_cache, V_cache, K_new, V_new)
    scores = (Q_new @ K.transpose(-2, -1)).masked_fill(
        ~_visible(K_cache.size(-2), Q_new.size(-2)), float("-inf"))
    return torch.softmax(scores, dim=-1) @ V, K, V
