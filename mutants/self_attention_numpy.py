"""Known-wrong self-attention variants (NumPy); each is tagged in self-attention.yaml."""

import numpy as np


def _softmax(scores, axis=-1):
    shifted = scores - scores.max(axis=axis, keepdims=True)
    exps = np.exp(shifted)
    return exps / exps.sum(axis=axis, keepdims=True)


def _attention(X, W_q, W_k, W_v, divisor, axis=-1):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    weights = _softmax(Q @ K.T / divisor, axis=axis)
    return weights @ V, weights


def no_scale(X, W_q, W_k, W_v):
    return _attention(X, W_q, W_k, W_v, 1.0)[0]


def scale_by_dk(X, W_q, W_k, W_v):
    return _attention(X, W_q, W_k, W_v, W_q.shape[1])[0]


def scale_by_d_model(X, W_q, W_k, W_v):
    # sqrt of the input width instead of the query/key width.
    return _attention(X, W_q, W_k, W_v, np.sqrt(X.shape[1]))[0]


def softmax_over_queries(X, W_q, W_k, W_v):
    return _attention(X, W_q, W_k, W_v, np.sqrt(W_q.shape[1]), axis=0)[0]


def returns_weights(X, W_q, W_k, W_v):
    return _attention(X, W_q, W_k, W_v, np.sqrt(W_q.shape[1]))[1]


def folds_scale_into_w_q(X, W_q, W_k, W_v):
    W_q /= np.sqrt(W_q.shape[1])  # "saves" a division, but changes the caller's weights
    return _attention(X, W_q, W_k, W_v, 1.0)[0]


def naive_softmax(X, W_q, W_k, W_v):
    # exp() without subtracting the row maximum: overflows for scores above ~710.
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    exps = np.exp(Q @ K.T / np.sqrt(W_q.shape[1]))
    return exps / exps.sum(axis=-1, keepdims=True) @ V
