import numpy as np


def attention_backward(
    Q: np.ndarray, K: np.ndarray, V: np.ndarray, dO: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of sum(dO * O) for O = softmax(Q Kᵀ / √d_k) V, by hand.

    Q: (..., n, d_k), K: (..., m, d_k), V: (..., m, d_v), dO: (..., n, d_v).
    Returns (dQ, dK, dV) with the shapes of Q, K and V.
    """
    scale = 1.0 / np.sqrt(Q.shape[-1])
    # Forward pass again: the backward pass needs the weights P.
    scores = Q @ np.swapaxes(K, -1, -2) * scale  # S: (..., n, m)
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    P = exps / exps.sum(axis=-1, keepdims=True)
    # O = P V, so dV = Pᵀ dO and dP = dO Vᵀ.
    dV = np.swapaxes(P, -1, -2) @ dO  # (..., m, d_v)
    dP = dO @ np.swapaxes(V, -1, -2)  # (..., n, m)
    # Softmax per row: dS_j = P_j (dP_j - Σ_k P_k dP_k). The row sum is where every other
    # weight's share comes back in (it equals the row sum of dO * O).
    row_sum = (dP * P).sum(axis=-1, keepdims=True)
    dS = P * (dP - row_sum)
    # S = Q Kᵀ · scale, so the scale appears in both dQ and dK.
    dQ = dS @ K * scale  # (..., n, d_k)
    dK = np.swapaxes(dS, -1, -2) @ Q * scale  # (..., m, d_k)
    return dQ, dK, dV
