import numpy as np


def additive_attention(
    query: np.ndarray,
    keys: np.ndarray,
    values: np.ndarray,
    W_q: np.ndarray,
    W_k: np.ndarray,
    v: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Bahdanau (additive) attention of one query over m keys.

    query: (..., d_q), keys: (..., m, d_k), values: (..., m, d_v),
    W_q: (d_q, d_h), W_k: (d_k, d_h), v: (d_h,).
    Returns (context (..., d_v), weights (..., m)).
    """
    projected_query = query @ W_q  # (..., d_h)
    projected_keys = keys @ W_k  # (..., m, d_h)
    # Add a key axis to the query so it broadcasts against every key: (..., 1, d_h).
    hidden = np.tanh(projected_query[..., None, :] + projected_keys)  # (..., m, d_h)
    scores = hidden @ v  # (..., m): one score per key
    shifted = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    weights /= weights.sum(axis=-1, keepdims=True)  # sums to 1 over the m keys
    # Weighted sum of the values: (..., 1, m) @ (..., m, d_v) -> (..., 1, d_v) -> (..., d_v).
    context = (weights[..., None, :] @ values)[..., 0, :]
    return context, weights
