"""Known-wrong positional encodings; each is named in positional-encoding.yaml."""

import numpy as np


def _angles(n, d_model, base, exponents, start=0):
    positions = np.arange(start, start + n, dtype=np.float64)[:, None]
    return positions / base ** exponents


def halves_concatenated(n, d_model, base=10000.0):
    # [sin of every frequency, cos of every frequency]: the tensor2tensor layout
    angles = _angles(n, d_model, base, np.arange(0, d_model, 2) / d_model)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=-1)


def _interleave(angles_sin, angles_cos, n, d_model):
    pe = np.empty((n, d_model))
    pe[:, 0::2] = np.sin(angles_sin)
    pe[:, 1::2] = np.cos(angles_cos)
    return pe


def exponent_without_two(n, d_model, base=10000.0):
    # base^(i/d) with i the pair index: the factor 2 is forgotten
    angles = _angles(n, d_model, base, np.arange(d_model // 2) / d_model)
    return _interleave(angles, angles, n, d_model)


def exponent_column_index(n, d_model, base=10000.0):
    # base^(j/d) with j the column itself: the cosine of a pair gets the next frequency
    columns = np.arange(d_model) / d_model
    angles = _angles(n, d_model, base, columns)
    pe = np.empty((n, d_model))
    pe[:, 0::2] = np.sin(angles[:, 0::2])
    pe[:, 1::2] = np.cos(angles[:, 1::2])
    return pe


def sin_cos_swapped(n, d_model, base=10000.0):
    angles = _angles(n, d_model, base, np.arange(0, d_model, 2) / d_model)
    pe = np.empty((n, d_model))
    pe[:, 0::2] = np.cos(angles)
    pe[:, 1::2] = np.sin(angles)
    return pe


def positions_from_one(n, d_model, base=10000.0):
    angles = _angles(n, d_model, base, np.arange(0, d_model, 2) / d_model, start=1)
    return _interleave(angles, angles, n, d_model)


def base_ignored(n, d_model, base=10000.0):
    angles = _angles(n, d_model, 10000.0, np.arange(0, d_model, 2) / d_model)
    return _interleave(angles, angles, n, d_model)
