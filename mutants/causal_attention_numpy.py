"""Known-wrong causal attention variants (NumPy); each is tagged in causal-attention.yaml."""

import numpy as np


def _softmax(scores, axis=-1):
    shifted = scores - scores.max(axis=axis, keepdims=True)
    exps = np.exp(shifted)
    return exps / exps.sum(axis=axis, keepdims=True)


def _lower(n):
    return np.tril(np.ones((n, n), dtype=bool))


def _masked(Q, K, V, divisor, allowed, fill=-np.inf, axis=-1):
    scores = Q @ np.swapaxes(K, -1, -2) / divisor
    if allowed is not None:
        scores = np.where(allowed, scores, fill)
    weights = _softmax(scores, axis=axis)
    return weights @ V, weights


def no_scale(Q, K, V):
    return _masked(Q, K, V, 1.0, _lower(Q.shape[-2]))


def scale_by_dk(Q, K, V):
    return _masked(Q, K, V, Q.shape[-1], _lower(Q.shape[-2]))


def softmax_over_queries(Q, K, V):
    return _masked(Q, K, V, np.sqrt(Q.shape[-1]), _lower(Q.shape[-2]), fill=-1e9, axis=-2)


def naive_softmax(Q, K, V):
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    scores = np.where(_lower(Q.shape[-2]), scores, -np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        exps = np.exp(scores)
        weights = exps / exps.sum(axis=-1, keepdims=True)
    return weights @ V, weights


def no_mask(Q, K, V):
    return _masked(Q, K, V, np.sqrt(Q.shape[-1]), None)


def inverted_mask(Q, K, V):
    # np.triu(..., k=1) marks the *future*: the mask of forbidden positions, used as "allowed".
    future = np.triu(np.ones((Q.shape[-2],) * 2, dtype=bool), k=1)
    return _masked(Q, K, V, np.sqrt(Q.shape[-1]), future, fill=-1e9)


def mask_after_softmax(Q, K, V):
    weights = _softmax(Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1]))
    weights = weights * _lower(Q.shape[-2])
    return weights @ V, weights


def tiny_fill(Q, K, V):
    return _masked(Q, K, V, np.sqrt(Q.shape[-1]), _lower(Q.shape[-2]), fill=-1e-12)


def swapped_outputs(Q, K, V):
    output, weights = _masked(Q, K, V, np.sqrt(Q.shape[-1]), _lower(Q.shape[-2]))
    return weights, output


def transpose_all_axes(Q, K, V):
    scores = Q @ K.T / np.sqrt(Q.shape[-1])  # K.T: only right for 2-D
    weights = _softmax(np.where(_lower(Q.shape[-2]), scores, -np.inf))
    return weights @ V, weights


def scales_query_in_place(Q, K, V):
    Q /= np.sqrt(Q.shape[-1])  # changes the caller's array
    return _masked(Q, K, V, 1.0, _lower(Q.shape[-2]))


def hides_diagonal(Q, K, V):
    # triu(k=0) taken as the hidden part: nobody sees itself and row 0 sees nothing.
    n = Q.shape[-2]
    hidden = np.triu(np.ones((n, n), dtype=bool), k=0)
    return _masked(Q, K, V, np.sqrt(Q.shape[-1]), ~hidden, fill=-1e9)
