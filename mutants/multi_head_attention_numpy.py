"""Known-wrong multi-head attention variants (NumPy); each is tagged in the YAML."""

import numpy as np


def _softmax(scores, axis=-1):
    shifted = scores - scores.max(axis=axis, keepdims=True)
    exps = np.exp(shifted)
    return exps / exps.sum(axis=axis, keepdims=True)


def _split(Y, h):
    *batch, n, d_model = Y.shape
    return np.swapaxes(Y.reshape(*batch, n, h, d_model // h), -3, -2)


def _merge(heads):
    *batch, h, n, d_k = heads.shape
    return np.swapaxes(heads, -3, -2).reshape(*batch, n, h * d_k)


def _naive_softmax(scores, axis=-1):
    exps = np.exp(scores)  # no maximum subtracted: overflows for scores above ~710
    return exps / exps.sum(axis=axis, keepdims=True)


def _mha(X, W_q, W_k, W_v, W_o, h, mask, *, divisor=None, axis=-1, fill=-np.inf,
         split=_split, merge=_merge, project=True, mask_mode="before", softmax=_softmax):
    d_k = X.shape[-1] // h
    Q, K, V = split(X @ W_q, h), split(X @ W_k, h), split(X @ W_v, h)
    scores = Q @ np.swapaxes(K, -1, -2) / (np.sqrt(d_k) if divisor is None else divisor)
    if mask is not None and mask_mode == "before":
        scores = np.where(np.expand_dims(mask, -3), scores, fill)
    weights = softmax(scores, axis=axis)
    if mask is not None and mask_mode == "after":
        weights = weights * np.expand_dims(mask, -3)
    concat = merge(weights @ V)
    return (concat @ W_o if project else concat), weights


def no_scale(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    return _mha(X, W_q, W_k, W_v, W_o, num_heads, mask, divisor=1.0)[0]


def scale_by_dk(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    return _mha(X, W_q, W_k, W_v, W_o, num_heads, mask, divisor=X.shape[-1] // num_heads)[0]


def scale_by_d_model(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    return _mha(X, W_q, W_k, W_v, W_o, num_heads, mask, divisor=np.sqrt(X.shape[-1]))[0]


def softmax_over_queries(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    return _mha(X, W_q, W_k, W_v, W_o, num_heads, mask, axis=-2, fill=-1e9)[0]


def _split_no_transpose(Y, h):
    *batch, n, d_model = Y.shape
    return Y.reshape(*batch, h, n, d_model // h)  # mixes positions and heads


def _merge_no_transpose(heads):
    *batch, h, n, d_k = heads.shape
    return heads.reshape(*batch, n, h * d_k)


def heads_no_transpose(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    return _mha(X, W_q, W_k, W_v, W_o, num_heads, mask,
                split=_split_no_transpose, merge=_merge_no_transpose)[0]


def _split_interleaved(Y, h):
    *batch, n, d_model = Y.shape
    # (n, d_k, h): head j gets columns j, j + h, j + 2h, ... instead of a contiguous block.
    return np.moveaxis(Y.reshape(*batch, n, d_model // h, h), -1, -3)


def _merge_interleaved(heads):
    *batch, h, n, d_k = heads.shape
    return np.moveaxis(heads, -3, -1).reshape(*batch, n, d_k * h)


def heads_interleaved(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    return _mha(X, W_q, W_k, W_v, W_o, num_heads, mask,
                split=_split_interleaved, merge=_merge_interleaved)[0]


def no_output_projection(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    return _mha(X, W_q, W_k, W_v, W_o, num_heads, mask, project=False)[0]


def returns_weights(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    return _mha(X, W_q, W_k, W_v, W_o, num_heads, mask)[1]


def ignores_mask(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    return _mha(X, W_q, W_k, W_v, W_o, num_heads, None)[0]


def mask_after_softmax(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    return _mha(X, W_q, W_k, W_v, W_o, num_heads, mask, mask_mode="after")[0]


def inverted_mask(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    flipped = None if mask is None else ~mask
    return _mha(X, W_q, W_k, W_v, W_o, num_heads, flipped, fill=-1e9)[0]


def tiny_fill(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    return _mha(X, W_q, W_k, W_v, W_o, num_heads, mask, fill=-1e-12)[0]


def single_sequence_only(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    # Written for X of shape (n, d_model): reshape(n, h, d_k) and transpose(1, 0, 2).
    n, d_model = X.shape[-2], X.shape[-1]
    d_k = d_model // num_heads

    def split(Y, h):
        return Y.reshape(n, h, d_k).transpose(1, 0, 2)

    def merge(heads):
        return heads.transpose(1, 0, 2).reshape(n, d_model)

    return _mha(X, W_q, W_k, W_v, W_o, num_heads, mask, split=split, merge=merge)[0]


def folds_scale_into_w_q(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    W_q /= np.sqrt(X.shape[-1] // num_heads)  # changes the caller's weights
    return _mha(X, W_q, W_k, W_v, W_o, num_heads, mask, divisor=1.0)[0]


def naive_softmax(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    return _mha(X, W_q, W_k, W_v, W_o, num_heads, mask, softmax=_naive_softmax)[0]


def merge_no_transpose(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    # Half right: the heads are split correctly, but merged back by reshape alone.
    return _mha(X, W_q, W_k, W_v, W_o, num_heads, mask, merge=_merge_no_transpose)[0]


def split_no_transpose(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    # Half right: split by reshape alone, merged back correctly.
    return _mha(X, W_q, W_k, W_v, W_o, num_heads, mask, split=_split_no_transpose)[0]
