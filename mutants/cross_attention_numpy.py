"""Known-wrong cross-attention variants (NumPy); each is tagged in cross-attention.yaml."""

import numpy as np


def _softmax(scores, axis=-1):
    shifted = scores - scores.max(axis=axis, keepdims=True)
    exps = np.exp(shifted)
    return exps / exps.sum(axis=axis, keepdims=True)


def _attend(Q, K, V, divisor, axis=-1):
    weights = _softmax(Q @ np.swapaxes(K, -1, -2) / divisor, axis=axis)
    return weights @ V, weights


def kv_from_decoder(X_dec, X_enc, W_q, W_k, W_v):
    # Keys and values projected from the decoder: this is self-attention, the encoder is unused.
    return _attend(X_dec @ W_q, X_dec @ W_k, X_dec @ W_v, np.sqrt(W_q.shape[-1]))[0]


def v_from_decoder(X_dec, X_enc, W_q, W_k, W_v):
    # Values from the decoder: only runs when both sides have as many tokens and the same width.
    return _attend(X_dec @ W_q, X_enc @ W_k, X_dec @ W_v, np.sqrt(W_q.shape[-1]))[0]


def q_from_encoder(X_dec, X_enc, W_q, W_k, W_v):
    # Everything from the encoder: encoder self-attention, one output row per encoder token.
    return _attend(X_enc @ W_q, X_enc @ W_k, X_enc @ W_v, np.sqrt(W_q.shape[-1]))[0]


def no_scale(X_dec, X_enc, W_q, W_k, W_v):
    return _attend(X_dec @ W_q, X_enc @ W_k, X_enc @ W_v, 1.0)[0]


def scale_by_dk(X_dec, X_enc, W_q, W_k, W_v):
    return _attend(X_dec @ W_q, X_enc @ W_k, X_enc @ W_v, W_q.shape[-1])[0]


def scale_by_d_model(X_dec, X_enc, W_q, W_k, W_v):
    return _attend(X_dec @ W_q, X_enc @ W_k, X_enc @ W_v, np.sqrt(X_dec.shape[-1]))[0]


def scale_by_d_enc(X_dec, X_enc, W_q, W_k, W_v):
    return _attend(X_dec @ W_q, X_enc @ W_k, X_enc @ W_v, np.sqrt(X_enc.shape[-1]))[0]


def softmax_over_queries(X_dec, X_enc, W_q, W_k, W_v):
    return _attend(X_dec @ W_q, X_enc @ W_k, X_enc @ W_v, np.sqrt(W_q.shape[-1]), axis=-2)[0]


def returns_weights(X_dec, X_enc, W_q, W_k, W_v):
    return _attend(X_dec @ W_q, X_enc @ W_k, X_enc @ W_v, np.sqrt(W_q.shape[-1]))[1]


def transpose_all_axes(X_dec, X_enc, W_q, W_k, W_v):
    Q, K, V = X_dec @ W_q, X_enc @ W_k, X_enc @ W_v
    weights = _softmax(Q @ K.T / np.sqrt(W_q.shape[-1]))  # K.T: only right for 2-D
    return weights @ V


def folds_scale_into_w_q(X_dec, X_enc, W_q, W_k, W_v):
    W_q /= np.sqrt(W_q.shape[-1])  # changes the caller's weights
    return _attend(X_dec @ W_q, X_enc @ W_k, X_enc @ W_v, 1.0)[0]


def naive_softmax(X_dec, X_enc, W_q, W_k, W_v):
    # exp() without subtracting each row's maximum: overflows for scores above ~710.
    Q, K, V = X_dec @ W_q, X_enc @ W_k, X_enc @ W_v
    exps = np.exp(Q @ np.swapaxes(K, -1, -2) / np.sqrt(W_q.shape[-1]))
    return exps / exps.sum(axis=-1, keepdims=True) @ V
