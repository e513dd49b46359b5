import numpy as np


def _feature_map(x: np.ndarray) -> np.ndarray:
    """φ(x) = elu(x) + 1: x + 1 for x > 0, exp(x) otherwise; always positive."""
    return np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))


def linear_attention(
    Q: np.ndarray, K: np.ndarray, V: np.ndarray, causal: bool = False
) -> np.ndarray:
    """Linear attention (Katharopoulos et al., 2020) with φ(x) = elu(x) + 1.

    Q: (..., n, d_k), K: (..., m, d_k), V: (..., m, d_v); causal needs n = m.
    output_i = φ(q_i)ᵀ S_i / φ(q_i)ᵀ z_i with S_i = Σ_j φ(k_j) v_jᵀ and z_i = Σ_j φ(k_j),
    summed over every j, or over j <= i when causal. Returns (..., n, d_v).
    """
    phi_q, phi_k = _feature_map(Q), _feature_map(K)
    if not causal:
        S = np.swapaxes(phi_k, -1, -2) @ V  # (..., d_k, d_v): one summary for every query
        z = phi_k.sum(axis=-2)  # (..., d_k)
        numerator = phi_q @ S  # (..., n, d_v)
        denominator = (phi_q * z[..., None, :]).sum(axis=-1, keepdims=True)  # (..., n, 1)
        return numerator / denominator
    # Causal: S_i and z_i are running (inclusive) sums over the positions up to i.
    S = np.cumsum(phi_k[..., :, :, None] * V[..., :, None, :], axis=-3)  # (..., n, d_k, d_v)
    z = np.cumsum(phi_k, axis=-2)  # (..., n, d_k)
    numerator = (phi_q[..., :, :, None] * S).sum(axis=-2)  # (..., n, d_v)
    denominator = (phi_q * z).sum(axis=-1, keepdims=True)
    return numerator / denominator
