import numpy as np


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax of `x` along `axis`."""
    # Subtracting the maximum keeps every exponent <= 0, so exp() cannot overflow;
    # the common factor exp(-max) cancels in the division.
    shifted = x - np.max(x, axis=axis, keepdims=True)
    exps = np.exp(shifted)
    return exps / np.sum(exps, axis=axis, keepdims=True)
