"""Known-wrong sliding-window attention variants (torch); each is tagged in the YAML."""

import math

import torch


def _attend(Q, K, V, allowed, scale=True):
    scores = Q @ K.transpose(-2, -1)
    if scale:
        scores = scores / math.sqrt(Q.size(-1))
    scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ V, weights


def _positions(Q):
    n = Q.size(-2)
    return torch.arange(n)[:, None], torch.arange(n)[None, :]


def window_plus_one(Q, K, V, window):
    i, j = _positions(Q)
    return _attend(Q, K, V, (j <= i) & (j >= i - window))


def symmetric_window(Q, K, V, window):
    i, j = _positions(Q)
    return _attend(Q, K, V, (i - j).abs() < window)


def ignores_window(Q, K, V, window):
    i, j = _positions(Q)
    return _attend(Q, K, V, j <= i)


def no_scale(Q, K, V, window):
    i, j = _positions(Q)
    return _attend(Q, K, V, (j <= i) & (j > i - window), scale=False)


def transpose_2d_only(Q, K, V, window):
    i, j = _positions(Q)
    scores = Q @ K.t() / math.sqrt(Q.size(-1))  # .t() exists for 2-D tensors only
    scores = scores.masked_fill(~((j <= i) & (j > i - window)), float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ V, weights


def scales_query_in_place(Q, K, V, window):
    Q.div_(math.sqrt(Q.size(-1)))
    i, j = _positions(Q)
    return _attend(Q, K, V, (j <= i) & (j > i - window), scale=False)


def detached_from_graph(Q, K, V, window):
    i, j = _positions(Q)
    return _attend(Q.detach(), K.detach(), V.detach(), (j <= i) & (j > i - window))
