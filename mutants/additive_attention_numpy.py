"""Known-wrong additive (Bahdanau) attention variants; each is tagged in additive-attention.yaml."""

import numpy as np


def _scores(query, keys, W_q, W_k, v, activation=np.tanh):
    return activation((query @ W_q)[..., None, :] + keys @ W_k) @ v


def _softmax(scores, axis=-1):
    shifted = scores - scores.max(axis=axis, keepdims=True)
    exps = np.exp(shifted)
    return exps / exps.sum(axis=axis, keepdims=True)


def _context(weights, values):
    return (weights[..., None, :] @ values)[..., 0, :]


def no_tanh(query, keys, values, W_q, W_k, v):
    # Without the non-linearity the query term is the same for every key and cancels.
    weights = _softmax(_scores(query, keys, W_q, W_k, v, activation=lambda z: z))
    return _context(weights, values), weights


def softmax_over_batch(query, keys, values, W_q, W_k, v):
    weights = _softmax(_scores(query, keys, W_q, W_k, v), axis=0)
    return _context(weights, values), weights


def global_softmax(query, keys, values, W_q, W_k, v):
    scores = _scores(query, keys, W_q, W_k, v)
    exps = np.exp(scores - scores.max())
    weights = exps / exps.sum()
    return _context(weights, values), weights


def swapped_outputs(query, keys, values, W_q, W_k, v):
    weights = _softmax(_scores(query, keys, W_q, W_k, v))
    return weights, _context(weights, values)


def values_transposed(query, keys, values, W_q, W_k, v):
    weights = _softmax(_scores(query, keys, W_q, W_k, v))
    return values.T @ weights, weights  # right for one query in 2-D; wrong with a batch axis


def weights_values_in_place(query, keys, values, W_q, W_k, v):
    weights = _softmax(_scores(query, keys, W_q, W_k, v))
    values *= weights[..., None]  # scales the caller's array
    return values.sum(axis=-2), weights
