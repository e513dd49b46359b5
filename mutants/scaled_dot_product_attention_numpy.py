"""Known-wrong scaled dot-product attention variants (NumPy); each is tagged in the YAML."""

import numpy as np


def _softmax(scores, axis=-1):
    shifted = scores - scores.max(axis=axis, keepdims=True)
    exps = np.exp(shifted)
    return exps / exps.sum(axis=axis, keepdims=True)


def _scores(Q, K, divisor):
    return Q @ np.swapaxes(K, -1, -2) / divisor


def _finish(scores, V, mask, fill=-np.inf):
    if mask is not None:
        scores = np.where(mask, scores, fill)
    weights = _softmax(scores)
    return weights @ V, weights


def no_scale(Q, K, V, mask=None):
    return _finish(_scores(Q, K, 1.0), V, mask)


def scale_by_dk(Q, K, V, mask=None):
    return _finish(_scores(Q, K, Q.shape[-1]), V, mask)


def softmax_over_queries(Q, K, V, mask=None):
    scores = _scores(Q, K, np.sqrt(Q.shape[-1]))
    if mask is not None:
        scores = np.where(mask, scores, -1e9)
    weights = _softmax(scores, axis=-2)
    return weights @ V, weights


def naive_softmax(Q, K, V, mask=None):
    scores = _scores(Q, K, np.sqrt(Q.shape[-1]))
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        exps = np.exp(scores)
        weights = exps / exps.sum(axis=-1, keepdims=True)
    return weights @ V, weights


def mask_after_softmax(Q, K, V, mask=None):
    weights = _softmax(_scores(Q, K, np.sqrt(Q.shape[-1])))
    if mask is not None:
        weights = weights * mask  # zeroed, but the rows no longer sum to 1
    return weights @ V, weights


def inverted_mask(Q, K, V, mask=None):
    if mask is not None:
        mask = ~mask
    return _finish(_scores(Q, K, np.sqrt(Q.shape[-1])), V, mask, fill=-1e9)


def tiny_fill(Q, K, V, mask=None):
    return _finish(_scores(Q, K, np.sqrt(Q.shape[-1])), V, mask, fill=-1e-12)


def ignores_mask(Q, K, V, mask=None):
    return _finish(_scores(Q, K, np.sqrt(Q.shape[-1])), V, None)


def swapped_outputs(Q, K, V, mask=None):
    output, weights = _finish(_scores(Q, K, np.sqrt(Q.shape[-1])), V, mask)
    return weights, output


def transpose_all_axes(Q, K, V, mask=None):
    # K.T reverses every axis: right for 2-D, wrong as soon as there is a batch axis.
    scores = Q @ K.T / np.sqrt(Q.shape[-1])
    return _finish(scores, V, mask)


def scales_query_in_place(Q, K, V, mask=None):
    Q /= np.sqrt(Q.shape[-1])  # changes the caller's array
    return _finish(_scores(Q, K, 1.0), V, mask)


def scale_after_softmax(Q, K, V, mask=None):
    # Divided by sqrt(d_k), but after the softmax: the softmax still sees unscaled scores.
    output, weights = _finish(_scores(Q, K, 1.0), V, mask)
    scale = np.sqrt(Q.shape[-1])
    return output / scale, weights / scale


def max_over_queries(Q, K, V, mask=None):
    # The row sums are right, but the maximum subtracted is each column's: it no longer
    # cancels, so every weight is off.
    scores = _scores(Q, K, np.sqrt(Q.shape[-1]))
    if mask is not None:
        scores = np.where(mask, scores, -1e9)
    exps = np.exp(scores - scores.max(axis=-2, keepdims=True))
    weights = exps / exps.sum(axis=-1, keepdims=True)
    return weights @ V, weights
