"""Known-wrong grouped-query attention variants (NumPy); each is tagged in the YAML."""

import numpy as np


def _attend(Q, K, V, mask, scale=True):
    scores = Q @ np.swapaxes(K, -1, -2)
    if scale:
        scores = scores / np.sqrt(Q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exps = np.exp(shifted)
    weights = exps / exps.sum(axis=-1, keepdims=True)
    return weights @ V, weights


def _group(Q, K):
    return Q.shape[-3] // K.shape[-3]


def tile_heads(Q, K, V, mask=None):
    # np.tile stacks whole copies: [k0, k1, k0, k1], so query head i uses key head i % g.
    reps = [1] * (K.ndim - 3) + [_group(Q, K), 1, 1]
    return _attend(Q, np.tile(K, reps), np.tile(V, reps), mask)


def kv_head_by_count(Q, K, V, mask=None):
    # Divides the head index by the number of key/value heads instead of the group size.
    h, g = Q.shape[-3], K.shape[-3]
    index = np.arange(h) // g
    return _attend(Q, K[..., index, :, :], V[..., index, :, :], mask)


def first_kv_head_only(Q, K, V, mask=None):
    # Multi-query attention for everyone: every query head reads key/value head 0.
    return _attend(Q, K[..., :1, :, :], V[..., :1, :, :], mask)


def repeat_on_first_axis(Q, K, V, mask=None):
    # axis=0 is the head axis only when there is no batch axis.
    group = _group(Q, K)
    return _attend(Q, np.repeat(K, group, axis=0), np.repeat(V, group, axis=0), mask)


def no_scale(Q, K, V, mask=None):
    group = _group(Q, K)
    return _attend(Q, np.repeat(K, group, axis=-3), np.repeat(V, group, axis=-3), mask,
                   scale=False)


def ignores_mask(Q, K, V, mask=None):
    group = _group(Q, K)
    return _attend(Q, np.repeat(K, group, axis=-3), np.repeat(V, group, axis=-3), None)


def scales_query_in_place(Q, K, V, mask=None):
    Q /= np.sqrt(Q.shape[-1])  # changes the caller's array
    group = _group(Q, K)
    return _attend(Q, np.repeat(K, group, axis=-3), np.repeat(V, group, axis=-3), mask,
                   scale=False)
