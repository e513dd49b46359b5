import numpy as np


def flash_attention(Q: np.ndarray, kv_blocks) -> np.ndarray:
    """softmax(Q Kᵀ / √d_k) V over all keys, reading the (K_j, V_j) blocks once.

    Q: (..., n, d_k); each block K_j: (..., B_j, d_k), V_j: (..., B_j, d_v).
    Keeps per query row a running maximum m, a running sum l of exp(score - m) and an
    unnormalised output acc; never the (n, m) score matrix or the blocks already seen.
    Returns (..., n, d_v).
    """
    scale = 1.0 / np.sqrt(Q.shape[-1])
    m = np.full((*Q.shape[:-1], 1), -np.inf)  # running row maximum
    l = np.zeros((*Q.shape[:-1], 1))  # running sum of exp(score - m)
    acc = None  # running sum of exp(score - m) · v
    for K_j, V_j in kv_blocks:
        scores = Q @ np.swapaxes(K_j, -1, -2) * scale  # (..., n, B_j): this block only
        m_new = np.maximum(m, scores.max(axis=-1, keepdims=True))
        # Everything summed so far was relative to the old maximum: rescale it.
        # (First block: exp(-inf) = 0, and there is nothing to rescale.)
        correction = np.exp(m - m_new)
        p = np.exp(scores - m_new)
        l = l * correction + p.sum(axis=-1, keepdims=True)
        acc = p @ V_j if acc is None else acc * correction + p @ V_j
        m = m_new
    return acc / l
