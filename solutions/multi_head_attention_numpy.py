import numpy as np


def multi_head_attention(
    X: np.ndarray,
    W_q: np.ndarray,
    W_k: np.ndarray,
    W_v: np.ndarray,
    W_o: np.ndarray,
    num_heads: int,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Multi-head self-attention: concat(head_1, ..., head_h) W_o.

    X: (..., n, d_model); W_q, W_k, W_v, W_o: (d_model, d_model).
    Head h uses columns h*d_k:(h+1)*d_k of X W_q, X W_k and X W_v, with d_k = d_model / num_heads.
    mask: optional boolean array broadcastable to (..., n, n), the same for every head;
    True = "query i may attend to key j".
    Returns (..., n, d_model).
    """
    *batch, n, d_model = X.shape
    if d_model % num_heads:
        raise ValueError(
            f"d_model={d_model} is not divisible by num_heads={num_heads}"
        )
    d_k = d_model // num_heads

    def split_heads(Y: np.ndarray) -> np.ndarray:
        # (..., n, d_model) -> (..., n, h, d_k) keeps each head's columns together;
        # the swap then gives (..., h, n, d_k): per head, a full (n, d_k) matrix.
        return np.swapaxes(Y.reshape(*batch, n, num_heads, d_k), -3, -2)

    Q = split_heads(X @ W_q)
    K = split_heads(X @ W_k)
    V = split_heads(X @ W_v)
    # Scale by the size of one head, sqrt(d_k), not sqrt(d_model).
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)  # (..., h, n, n)
    if mask is not None:
        # Insert a head axis, (..., n, n) -> (..., 1, n, n), so one mask serves every head.
        scores = np.where(np.expand_dims(mask, -3), scores, -np.inf)
    shifted = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    weights /= weights.sum(axis=-1, keepdims=True)
    heads = weights @ V  # (..., h, n, d_k)
    # Undo the split: back to (..., n, h, d_k), then glue the heads side by side.
    concat = np.swapaxes(heads, -3, -2).reshape(*batch, n, d_model)
    return concat @ W_o  # the output projection mixes information across heads
