import numpy as np


def scaled_dot_product_attention(
    Q: np.ndarray, K: np.ndarray, V: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """softmax(Q Kᵀ / √d_k) V over the last two axes; leading axes are batches.

    Q: (..., n, d_k), K: (..., m, d_k), V: (..., m, d_v).
    mask: optional boolean array broadcastable to (..., n, m); True = "query i may attend to key j".
    Returns (output (..., n, d_v), weights (..., n, m)).
    """
    d_k = Q.shape[-1]
    # swapaxes(-1, -2) transposes only the last two axes, so batch axes line up.
    # (K.T would reverse *all* axes and break as soon as there is a batch dimension.)
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)  # (..., n, m)
    if mask is not None:
        # A forbidden key gets -inf, so exp() gives it exactly zero weight. Every row keeps at
        # least one allowed key, so no row is entirely -inf.
        scores = np.where(mask, scores, -np.inf)
    weights = _softmax(scores)  # each row (one query) sums to 1 over the keys
    return weights @ V, weights


def _softmax(scores: np.ndarray) -> np.ndarray:
    """Stable softmax over the last axis (the keys)."""
    shifted = scores - scores.max(axis=-1, keepdims=True)  # exponents <= 0: no overflow
    exps = np.exp(shifted)
    return exps / exps.sum(axis=-1, keepdims=True)
