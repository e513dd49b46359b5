import numpy as np


def rms_norm(
    x: np.ndarray, weight: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """Llama's RMSNorm over the last axis: x / sqrt(mean(x**2) + eps) * w."""
    # No mean is subtracted: only the scale of the vector is normalised.
    mean_square = (x * x).mean(axis=-1, keepdims=True)
    return x / np.sqrt(mean_square + eps) * weight
