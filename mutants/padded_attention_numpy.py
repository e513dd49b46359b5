"""Known-wrong padded attention variants (NumPy); each is tagged in the YAML."""

import numpy as np


def _finish(Q, K, V, allowed, empty="zero"):
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    allowed = np.broadcast_to(allowed, scores.shape)
    if empty == "nan":  # the plain -inf softmax: a fully hidden row is 0/0
        scores = np.where(allowed, scores, -np.inf)
        with np.errstate(invalid="ignore"):
            exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
            weights = exps / exps.sum(axis=-1, keepdims=True)
        return weights @ V, weights
    if empty == "uniform":  # -1e9: a fully hidden row spreads evenly over the padding
        scores = np.where(allowed, scores, -1e9)
        exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights = exps / exps.sum(axis=-1, keepdims=True)
        return weights @ V, weights
    has_key = allowed.any(axis=-1, keepdims=True)
    scores = np.where(has_key, np.where(allowed, scores, -np.inf), 0.0)
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = exps / exps.sum(axis=-1, keepdims=True) * allowed
    return weights @ V, weights


def _causal(n, m):
    return np.arange(m)[None, :] <= np.arange(n)[:, None]


def _padding(K, key_lengths):
    return np.arange(K.shape[-2])[None, None, :] < key_lengths[:, None, None]


def length_off_by_one(Q, K, V, key_lengths, causal=False):
    allowed = np.arange(K.shape[-2])[None, None, :] <= key_lengths[:, None, None]
    if causal:
        allowed = allowed & _causal(Q.shape[-2], K.shape[-2])
    return _finish(Q, K, V, allowed)


def lengths_on_wrong_axis(Q, K, V, key_lengths, causal=False):
    # (b, m) without the query axis broadcasts as (1, b, m): query row e of every example
    # gets example e's length (and it only runs when n == b).
    allowed = np.arange(K.shape[-2])[None, :] < key_lengths[:, None]
    if causal:
        allowed = allowed & _causal(Q.shape[-2], K.shape[-2])
    return _finish(Q, K, V, allowed)


def nan_on_empty_rows(Q, K, V, key_lengths, causal=False):
    allowed = _padding(K, key_lengths)
    if causal:
        allowed = allowed & _causal(Q.shape[-2], K.shape[-2])
    return _finish(Q, K, V, allowed, empty="nan")


def uniform_on_empty_rows(Q, K, V, key_lengths, causal=False):
    allowed = _padding(K, key_lengths)
    if causal:
        allowed = allowed & _causal(Q.shape[-2], K.shape[-2])
    return _finish(Q, K, V, allowed, empty="uniform")


def causal_or_padding(Q, K, V, key_lengths, causal=False):
    allowed = _padding(K, key_lengths)
    if causal:
        allowed = allowed | _causal(Q.shape[-2], K.shape[-2])  # either one lets a key through
    return _finish(Q, K, V, allowed)


def ignores_causal(Q, K, V, key_lengths, causal=False):
    return _finish(Q, K, V, _padding(K, key_lengths))


def ignores_lengths(Q, K, V, key_lengths, causal=False):
    allowed = np.ones((1, 1, K.shape[-2]), dtype=bool)
    if causal:
        allowed = allowed & _causal(Q.shape[-2], K.shape[-2])
    return _finish(Q, K, V, allowed)
