import numpy as np


def cross_attention(
    X_dec: np.ndarray,
    X_enc: np.ndarray,
    W_q: np.ndarray,
    W_k: np.ndarray,
    W_v: np.ndarray,
) -> np.ndarray:
    """Decoder positions attend over encoder positions.

    X_dec: (..., n_dec, d_dec), X_enc: (..., n_enc, d_enc),
    W_q: (d_dec, d_k), W_k: (d_enc, d_k), W_v: (d_enc, d_v).
    Returns (..., n_dec, d_v): one output row per decoder position.
    """
    Q = X_dec @ W_q  # queries come from the side that is asking: the decoder
    K = X_enc @ W_k  # keys and values come from the side being read: the encoder
    V = X_enc @ W_v
    d_k = Q.shape[-1]
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)  # (..., n_dec, n_enc)
    shifted = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    weights /= weights.sum(axis=-1, keepdims=True)  # each decoder row sums to 1 over the encoder
    return weights @ V
