import numpy as np


def layer_norm(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5
) -> np.ndarray:
    """LayerNorm over the last axis, as nn.LayerNorm computes it."""
    mean = x.mean(axis=-1, keepdims=True)
    # The biased variance (divide by d, not d - 1): the statistics of this one vector.
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    # eps goes inside the square root: it keeps a row of (almost) equal values finite.
    x_hat = (x - mean) / np.sqrt(var + eps)
    return x_hat * gamma + beta
