"""Known-wrong sliding-window attention variants (NumPy); each is tagged in the YAML."""

import numpy as np


def _attend(Q, K, V, allowed, scale=True):
    scores = Q @ np.swapaxes(K, -1, -2)
    if scale:
        scores = scores / np.sqrt(Q.shape[-1])
    scores = np.where(allowed, scores, -np.inf)
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exps = np.exp(shifted)
    weights = exps / exps.sum(axis=-1, keepdims=True)
    return weights @ V, weights


def _positions(Q):
    n = Q.shape[-2]
    return np.arange(n)[:, None], np.arange(n)[None, :]


def window_plus_one(Q, K, V, window):
    # i - window <= j <= i: window + 1 keys (the Mistral paper's way of counting).
    i, j = _positions(Q)
    return _attend(Q, K, V, (j <= i) & (j >= i - window))


def symmetric_window(Q, K, V, window):
    # |i - j| < window: a local window that also looks ahead.
    i, j = _positions(Q)
    return _attend(Q, K, V, np.abs(i - j) < window)


def ignores_window(Q, K, V, window):
    i, j = _positions(Q)
    return _attend(Q, K, V, j <= i)


def no_scale(Q, K, V, window):
    i, j = _positions(Q)
    return _attend(Q, K, V, (j <= i) & (j > i - window), scale=False)


def transpose_all_axes(Q, K, V, window):
    i, j = _positions(Q)
    scores = Q @ K.T / np.sqrt(Q.shape[-1])  # K.T reverses every axis
    scores = np.where((j <= i) & (j > i - window), scores, -np.inf)
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exps = np.exp(shifted)
    weights = exps / exps.sum(axis=-1, keepdims=True)
    return weights @ V, weights


def scales_query_in_place(Q, K, V, window):
    Q /= np.sqrt(Q.shape[-1])  # changes the caller's array
    i, j = _positions(Q)
    return _attend(Q, K, V, (j <= i) & (j > i - window), scale=False)
