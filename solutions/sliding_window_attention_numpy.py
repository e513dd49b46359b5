import numpy as np


def sliding_window_attention(
    Q: np.ndarray, K: np.ndarray, V: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Causal local attention: position i attends to j with i - window < j <= i.

    Q, K: (..., n, d_k), V: (..., n, d_v); window >= 1 counts the keys a query sees, itself
    included (the first rows see fewer). Returns (output (..., n, d_v), weights (..., n, n)).
    """
    n = Q.shape[-2]
    i = np.arange(n)[:, None]  # query positions, down the rows
    j = np.arange(n)[None, :]  # key positions, across the columns
    allowed = (j <= i) & (j > i - window)  # (n, n): `window` keys ending at the query itself
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    # Every row keeps at least its own key (the diagonal), so no row is all -inf.
    scores = np.where(allowed, scores, -np.inf)
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exps = np.exp(shifted)
    weights = exps / exps.sum(axis=-1, keepdims=True)
    return weights @ V, weights
