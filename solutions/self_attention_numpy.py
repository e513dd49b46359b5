import numpy as np


def self_attention(
    X: np.ndarray, W_q: np.ndarray, W_k: np.ndarray, W_v: np.ndarray
) -> np.ndarray:
    """Single-head self-attention of a sequence X with itself.

    X: (n, d_model), W_q: (d_model, d_k), W_k: (d_model, d_k), W_v: (d_model, d_v).
    Returns (n, d_v).
    """
    Q = X @ W_q  # (n, d_k): what each position is looking for
    K = X @ W_k  # (n, d_k): what each position offers to be matched against
    V = X @ W_v  # (n, d_v): what each position hands over when it is attended to
    d_k = Q.shape[-1]
    # swapaxes(-1, -2) is K.T here, but keeps working if you later add a batch axis.
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)  # (n, n)
    shifted = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    weights /= weights.sum(axis=-1, keepdims=True)  # row i: how much position i takes from each j
    return weights @ V
