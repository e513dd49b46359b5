import numpy as np


def apply_rope(
    x: np.ndarray, positions: np.ndarray, base: float = 10000.0
) -> np.ndarray:
    """Rotary position embedding, half-split layout (GPT-NeoX, `rotate_half`).

    x: (..., n, d) with d even; positions: int64 (n,), the absolute position of each row.
    For i < d/2 the pair (x_i, x_{i + d/2}) is rotated by the angle positions · base^(-2i/d).
    Returns an array shaped like x.
    """
    d = x.shape[-1]
    half = d // 2
    inv_freq = base ** (-2.0 * np.arange(half) / d)  # (d/2,): one frequency per pair
    angles = positions.astype(np.float64)[:, None] * inv_freq[None, :]  # (n, d/2)
    cos, sin = np.cos(angles), np.sin(angles)
    x1, x2 = x[..., :half], x[..., half:]  # element i is paired with element i + d/2
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
