import numpy as np


def sinusoidal_positional_encoding(
    n: int, d_model: int, base: float = 10000.0
) -> np.ndarray:
    """The sinusoidal encoding of "Attention Is All You Need", (n, d_model).

    PE[p, 2i] = sin(p / base^(2i/d_model)),  PE[p, 2i+1] = cos(p / base^(2i/d_model)).
    """
    positions = np.arange(n, dtype=np.float64)[:, None]  # (n, 1), counted from 0
    # One frequency per (sin, cos) pair: the exponent uses 2i, the even column's index.
    two_i = np.arange(0, d_model, 2, dtype=np.float64)  # 0, 2, 4, ...
    angles = positions / base ** (two_i / d_model)  # (n, d_model / 2)
    pe = np.empty((n, d_model), dtype=np.float64)
    pe[:, 0::2] = np.sin(angles)  # interleaved: sin in the even columns ...
    pe[:, 1::2] = np.cos(angles)  # ... cos of the same angle in the odd column after it
    return pe
