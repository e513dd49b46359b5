import numpy as np


def sparse_attention(
    Q: np.ndarray,
    K: np.ndarray,
    V: np.ndarray,
    window: int,
    global_tokens: list[int],
) -> tuple[np.ndarray, np.ndarray]:
    """Local (|i - j| <= window) plus global attention, in both directions."""
    n, d_k = Q.shape[-2], Q.shape[-1]
    positions = np.arange(n)
    allowed = np.abs(positions[:, None] - positions[None, :]) <= window  # the local band
    is_global = np.zeros(n, dtype=bool)
    is_global[np.asarray(global_tokens, dtype=np.int64).reshape(-1)] = True
    # Longformer's symmetric global attention: a global token sees every position (its row)
    # and every position sees it (its column).
    allowed = allowed | is_global[:, None] | is_global[None, :]
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)
    scores = np.where(allowed, scores, -np.inf)  # every row keeps at least itself
    scores = scores - scores.max(axis=-1, keepdims=True)
    exps = np.exp(scores)  # exp(-inf) = 0 for the pairs outside the pattern
    weights = exps / exps.sum(axis=-1, keepdims=True)
    return weights @ V, weights
