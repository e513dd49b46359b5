"""Known-wrong padded attention variants (torch); each is tagged in the YAML."""

import math

import torch


def _finish(Q, K, V, allowed, empty="zero"):
    scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))
    allowed = allowed.expand_as(scores)
    if empty == "nan":
        weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
        return weights @ V, weights
    if empty == "uniform":
        weights = torch.softmax(scores.masked_fill(~allowed, -1e9), dim=-1)
        return weights @ V, weights
    has_key = allowed.any(dim=-1, keepdim=True)
    scores = scores.masked_fill(~allowed, float("-inf")).masked_fill(~has_key, 0.0)
    weights = torch.softmax(scores, dim=-1) * allowed
    return weights @ V, weights


def _causal(n, m):
    return torch.arange(m)[None, :] <= torch.arange(n)[:, None]


def _padding(K, key_lengths):
    return torch.arange(K.size(-2))[None, None, :] < key_lengths[:, None, None]


def length_off_by_one(Q, K, V, key_lengths, causal=False):
    allowed = torch.arange(K.size(-2))[None, None, :] <= key_lengths[:, None, None]
    if causal:
        allowed = allowed & _causal(Q.size(-2), K.size(-2))
    return _finish(Q, K, V, allowed)


def lengths_on_wrong_axis(Q, K, V, key_lengths, causal=False):
    allowed = torch.arange(K.size(-2))[None, :] < key_lengths[:, None]
    if causal:
        allowed = allowed & _causal(Q.size(-2), K.size(-2))
    return _finish(Q, K, V, allowed)


def nan_on_empty_rows(Q, K, V, key_lengths, causal=False):
    allowed = _padding(K, key_lengths)
    if causal:
        allowed = allowed & _causal(Q.size(-2), K.size(-2))
    return _finish(Q, K, V, allowed, empty="nan")


def uniform_on_empty_rows(Q, K, V, key_lengths, causal=False):
    allowed = _padding(K, key_lengths)
    if causal:
        allowed = allowed & _causal(Q.size(-2), K.size(-2))
    return _finish(Q, K, V, allowed, empty="uniform")


def causal_or_padding(Q, K, V, key_lengths, causal=False):
    allowed = _padding(K, key_lengths)
    if causal:
        allowed = allowed | _causal(Q.size(-2), K.size(-2))
    return _finish(Q, K, V, allowed)


def ignores_causal(Q, K, V, key_lengths, causal=False):
    return _finish(Q, K, V, _padding(K, key_lengths))


def ignores_lengths(Q, K, V, key_lengths, causal=False):
    allowed = torch.ones(1, 1, K.size(-2), dtype=torch.bool)
    if causal:
        allowed = allowed & _causal(Q.size(-2), K.size(-2))
    return _finish(Q, K, V, allowed)


def detached_from_graph(Q, K, V, key_lengths, causal=False):
    allowed = _padding(K, key_lengths)
    if causal:
        allowed = allowed & _causal(Q.size(-2), K.size(-2))
    return _finish(Q.detach(), K.detach(), V.detach(), allowed)
