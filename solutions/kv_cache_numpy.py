import numpy as np


def attend_with_cache(
    Q_new: np.ndarray, K_new: np.ndarray, V_new: np.ndarray,
    K_cache: np.ndarray, V_cache: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One decoding step with a KV cache: s new tokens after t cached ones.

    Q_new, K_new: (..., s, d_k), V_new: (..., s, d_v); K_cache: (..., t, d_k),
    V_cache: (..., t, d_v), t >= 0. New token i (absolute position t + i) attends to every
    cached token and to the new tokens 0..i. Returns (output (..., s, d_v),
    K_cache (..., t + s, d_k), V_cache (..., t + s, d_v)).
    """
    t, s = K_cache.shape[-2], Q_new.shape[-2]
    # The token axis is -2 whatever the batch axes are; the caches grow along it.
    K = np.concatenate([K_cache, K_new], axis=-2)  # (..., t + s, d_k)
    V = np.concatenate([V_cache, V_new], axis=-2)
    scores = Q_new @ np.swapaxes(K, -1, -2) / np.sqrt(Q_new.shape[-1])  # (..., s, t + s)
    # Key j is visible to new token i when j <= t + i: all of the cache, the new tokens up
    # to and including i. (With s = 1 this is no mask at all.)
    allowed = np.arange(t + s)[None, :] <= t + np.arange(s)[:, None]
    scores = np.where(allowed, scores, -np.inf)
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = exps / exps.sum(axis=-1, keepdims=True)
    return weights @ V, K, V
