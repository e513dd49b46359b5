"""Known-wrong KV-cache steps (NumPy); each is tagged in the YAML."""

import numpy as np


def _attend(Q, K, V, allowed):
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    scores = np.where(allowed, scores, -np.inf)
    with np.errstate(invalid="ignore"):
        exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights = exps / exps.sum(axis=-1, keepdims=True)
    return weights @ V


def _visible(t, s, strict=False):
    keys, rows = np.arange(t + s)[None, :], t + np.arange(s)[:, None]
    return keys < rows if strict else keys <= rows


def _grown(K_cache, V_cache, K_new, V_new, axis=-2):
    return (np.concatenate([K_cache, K_new], axis=axis),
            np.concatenate([V_cache, V_new], axis=axis))


def no_mask_within_chunk(Q_new, K_new, V_new, K_cache, V_cache):
    # Right for s = 1; with s > 1 the earlier new tokens see the later ones.
    K, V = _grown(K_cache, V_cache, K_new, V_new)
    return _attend(Q_new, K, V, True), K, V


def append_on_axis_0(Q_new, K_new, V_new, K_cache, V_cache):
    # axis 0 is the token axis only without batch axes.
    K, V = _grown(K_cache, V_cache, K_new, V_new, axis=0)
    t, s = K.shape[-2] - Q_new.shape[-2], Q_new.shape[-2]
    return _attend(Q_new, K, V, _visible(t, s)), K, V


def cannot_see_itself(Q_new, K_new, V_new, K_cache, V_cache):
    K, V = _grown(K_cache, V_cache, K_new, V_new)
    return _attend(Q_new, K, V, _visible(K_cache.shape[-2], Q_new.shape[-2], strict=True)), K, V


def ignores_cache(Q_new, K_new, V_new, K_cache, V_cache):
    # Attends within the chunk only; the cache is kept but never looked at.
    s = Q_new.shape[-2]
    output = _attend(Q_new, K_new, V_new, _visible(0, s))
    K, V = _grown(K_cache, V_cache, K_new, V_new)
    return output, K, V


def stale_cache(Q_new, K_new, V_new, K_cache, V_cache):
    # The output is right, but the caches handed back were never extended.
    K, V = _grown(K_cache, V_cache, K_new, V_new)
    return _attend(Q_new, K, V, _visible(K_cache.shape[-2], Q_new.shape[-2])), K_cache, V_cache


def scales_query_in_place(Q_new, K_new, V_new, K_cache, V_cache):
    Q_new /= np.sqrt(Q_new.shape[-1])  # changes the caller's array
    K, V = _grown(K_cache, V_cache, K_new, V_new)
    scores = Q_new @ np.swapaxes(K, -1, -2)
    scores = np.where(_visible(K_cache.shape[-2], Q_new.shape[-2]), scores, -np.inf)
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return exps / exps.sum(axis=-1, keepdims=True) @ V, K, V
