import numpy as np


def causal_attention(
    Q: np.ndarray, K: np.ndarray, V: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Scaled dot-product attention where position i only sees positions j <= i.

    Q, K: (..., n, d_k), V: (..., n, d_v); any leading axes are batch axes.
    Returns (output (..., n, d_v), weights (..., n, n)); weights[..., i, j] == 0 for j > i.
    """
    n, d_k = Q.shape[-2], Q.shape[-1]
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)  # (..., n, n)
    # Lower triangle (diagonal included) = the past and the present: allowed.
    # One (n, n) mask broadcasts over every batch axis.
    allowed = np.tril(np.ones((n, n), dtype=bool))
    scores = np.where(allowed, scores, -np.inf)  # the diagonal is always allowed: no empty row
    weights = _softmax(scores)
    return weights @ V, weights


def _softmax(scores: np.ndarray) -> np.ndarray:
    """Stable softmax over the last axis (the keys)."""
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exps = np.exp(shifted)
    return exps / exps.sum(axis=-1, keepdims=True)
