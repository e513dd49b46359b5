"""Known-wrong RoPE variants (NumPy); each is tagged in the YAML."""

import numpy as np


def _angles(positions, d, base, exponent_step=2.0):
    inv_freq = base ** (-exponent_step * np.arange(d // 2) / d)
    return positions.astype(np.float64)[:, None] * inv_freq[None, :]


def _half_split(x, angles, sign=1.0):
    half = x.shape[-1] // 2
    cos, sin = np.cos(angles), sign * np.sin(angles)
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def interleaved_pairs(x, positions, base=10000.0):
    # GPT-J / Meta's original Llama code: pairs (x_0, x_1), (x_2, x_3), ...
    angles = _angles(positions, x.shape[-1], base)
    cos, sin = np.cos(angles), np.sin(angles)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = odd * cos + even * sin
    return out


def exponent_i_over_d(x, positions, base=10000.0):
    return _half_split(x, _angles(positions, x.shape[-1], base, exponent_step=1.0))


def rotates_backwards(x, positions, base=10000.0):
    return _half_split(x, _angles(positions, x.shape[-1], base), sign=-1.0)


def ignores_positions(x, positions, base=10000.0):
    # Assumes the rows are positions 0, 1, ..., n - 1.
    return _half_split(x, _angles(np.arange(x.shape[-2]), x.shape[-1], base))


def ignores_base(x, positions, base=10000.0):
    return _half_split(x, _angles(positions, x.shape[-1], 10000.0))


def rotate_half_without_minus(x, positions, base=10000.0):
    # x * cos + rotate_half(x) * sin with rotate_half = [x2, x1] instead of [-x2, x1].
    half = x.shape[-1] // 2
    angles = _angles(positions, x.shape[-1], base)
    cos = np.concatenate([np.cos(angles)] * 2, axis=-1)
    sin = np.concatenate([np.sin(angles)] * 2, axis=-1)
    swapped = np.concatenate([x[..., half:], x[..., :half]], axis=-1)
    return x * cos + swapped * sin


def splits_axis_one(x, positions, base=10000.0):
    # x[:, :half] is the feature axis only for 2-D x.
    half = x.shape[1] // 2
    angles = _angles(positions, x.shape[-1], base)
    cos, sin = np.cos(angles), np.sin(angles)
    x1, x2 = x[:, :half], x[:, half:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=1)


def rotates_in_place(x, positions, base=10000.0):
    half = x.shape[-1] // 2
    angles = _angles(positions, x.shape[-1], base)
    cos, sin = np.cos(angles), np.sin(angles)
    x1, x2 = x[..., :half].copy(), x[..., half:].copy()
    x[..., :half] = x1 * cos - x2 * sin  # writes into the caller's array
    x[..., half:] = x2 * cos + x1 * sin
    return x
