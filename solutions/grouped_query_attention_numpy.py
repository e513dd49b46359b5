import numpy as np


def grouped_query_attention(
    Q: np.ndarray, K: np.ndarray, V: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Grouped-query attention: h query heads share g key/value heads.

    Q: (..., h, n, d_k), K: (..., g, m, d_k), V: (..., g, m, d_v), h divisible by g.
    Query head i uses key/value head i // (h // g): contiguous groups, as in Llama.
    mask: optional boolean array broadcastable to (..., h, n, m); True = "may attend".
    Returns (output (..., h, n, d_v), weights (..., h, n, m)).
    """
    h, g = Q.shape[-3], K.shape[-3]
    if h % g:
        raise ValueError(f"{h} query heads cannot be split into {g} groups")
    group = h // g
    # np.repeat repeats each head in place: [k0, k0, k1, k1] for group = 2, so query heads
    # 0 and 1 share k0. (np.tile would give [k0, k1, k0, k1]: head i would use i % g.)
    K = np.repeat(K, group, axis=-3)
    V = np.repeat(V, group, axis=-3)
    d_k = Q.shape[-1]
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)  # (..., h, n, m)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exps = np.exp(shifted)
    weights = exps / exps.sum(axis=-1, keepdims=True)
    return weights @ V, weights
