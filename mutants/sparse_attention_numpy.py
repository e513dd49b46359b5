"""Known-wrong sparse attention patterns; each is named in sparse-attention.yaml.

They share the attention computation and differ only in the pattern of allowed pairs."""

import numpy as np


def _attend(Q, K, V, allowed):
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    scores = np.where(allowed, scores, -np.inf)
    with np.errstate(invalid="ignore"):
        scores = scores - scores.max(axis=-1, keepdims=True)
        exps = np.exp(scores)
        weights = exps / exps.sum(axis=-1, keepdims=True)
    return weights @ V, weights


def _offsets(n):
    positions = np.arange(n)
    return positions[:, None] - positions[None, :]  # i - j


def _global(n, global_tokens):
    flags = np.zeros(n, dtype=bool)
    flags[np.asarray(global_tokens, dtype=np.int64).reshape(-1)] = True
    return flags


def global_receive_only(Q, K, V, window, global_tokens):
    # every position sees the global tokens, but they only see their own neighbourhood
    n = Q.shape[-2]
    allowed = (np.abs(_offsets(n)) <= window) | _global(n, global_tokens)[None, :]
    return _attend(Q, K, V, allowed)


def global_give_only(Q, K, V, window, global_tokens):
    # seed 003's one direction: the global tokens see everything, nobody else sees them
    n = Q.shape[-2]
    allowed = (np.abs(_offsets(n)) <= window) | _global(n, global_tokens)[:, None]
    return _attend(Q, K, V, allowed)


def window_off_by_one(Q, K, V, window, global_tokens):
    n = Q.shape[-2]
    g = _global(n, global_tokens)
    allowed = (np.abs(_offsets(n)) < window) | g[:, None] | g[None, :]
    return _attend(Q, K, V, allowed)


def one_sided_window(Q, K, V, window, global_tokens):
    # i - window <= j <= i: only the preceding neighbours
    n = Q.shape[-2]
    offsets = _offsets(n)
    g = _global(n, global_tokens)
    allowed = ((offsets >= 0) & (offsets <= window)) | g[:, None] | g[None, :]
    return _attend(Q, K, V, allowed)


def plain_causal(Q, K, V, window, global_tokens):
    n = Q.shape[-2]
    return _attend(Q, K, V, _offsets(n) >= 0)


def ignores_global_tokens(Q, K, V, window, global_tokens):
    n = Q.shape[-2]
    return _attend(Q, K, V, np.abs(_offsets(n)) <= window)


def transpose_all(Q, K, V, window, global_tokens):
    # K.T reverses every axis: right for (n, d), wrong with a batch axis in front
    n = Q.shape[-2]
    g = _global(n, global_tokens)
    allowed = (np.abs(_offsets(n)) <= window) | g[:, None] | g[None, :]
    scores = Q @ K.T / np.sqrt(Q.shape[-1])
    scores = np.where(allowed, scores, -np.inf)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    return weights @ V, weights


def scales_query_in_place(Q, K, V, window, global_tokens):
    n = Q.shape[-2]
    g = _global(n, global_tokens)
    allowed = (np.abs(_offsets(n)) <= window) | g[:, None] | g[None, :]
    Q /= np.sqrt(Q.shape[-1])  # the caller's Q changes
    scores = np.where(allowed, Q @ np.swapaxes(K, -1, -2), -np.inf)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    return weights @ V, weights
