import numpy as np


def padded_attention(
    Q: np.ndarray, K: np.ndarray, V: np.ndarray, key_lengths: np.ndarray,
    causal: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Attention over a padded batch: example e sees keys j < key_lengths[e].

    Q: (b, n, d_k), K: (b, m, d_k), V: (b, m, d_v); key_lengths: int64 (b,), 0 <= length <= m.
    causal=True (n = m) also hides keys j > i. A query row with no visible key gets all-zero
    weights and an all-zero output. Returns (output (b, n, d_v), weights (b, n, m)).
    """
    n, m = Q.shape[-2], K.shape[-2]
    keys = np.arange(m)
    # (b, 1, m): the query axis is inserted so that example e's length masks example e.
    allowed = keys[None, None, :] < key_lengths[:, None, None]
    if causal:
        allowed = allowed & (keys[None, :] <= np.arange(n)[:, None])  # both must hold
    allowed = np.broadcast_to(allowed, (Q.shape[0], n, m))
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    has_key = allowed.any(axis=-1, keepdims=True)  # (b, n, 1)
    # Rows with no visible key would be softmax of all -inf (NaN): give them finite scores,
    # then zero their weights, so they end up exactly 0 and never produce NaN.
    scores = np.where(allowed, scores, -np.inf)
    scores = np.where(has_key, scores, 0.0)
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = exps / exps.sum(axis=-1, keepdims=True) * allowed
    return weights @ V, weights
