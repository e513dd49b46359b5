"""Known-wrong RoPE variants (torch); each is tagged in the YAML."""

import torch


def _angles(x, positions, base, exponent_step=2.0):
    d = x.size(-1)
    inv_freq = base ** (torch.arange(d // 2, dtype=x.dtype) * (-exponent_step / d))
    return positions.to(x.dtype)[:, None] * inv_freq[None, :]


def _half_split(x, angles, sign=1.0):
    half = x.size(-1) // 2
    cos, sin = angles.cos(), sign * angles.sin()
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def interleaved_pairs(x, positions, base=10000.0):
    angles = _angles(x, positions, base)
    cos, sin = angles.cos(), angles.sin()
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1).flatten(-2)


def exponent_i_over_d(x, positions, base=10000.0):
    return _half_split(x, _angles(x, positions, base, exponent_step=1.0))


def rotates_backwards(x, positions, base=10000.0):
    return _half_split(x, _angles(x, positions, base), sign=-1.0)


def ignores_positions(x, positions, base=10000.0):
    return _half_split(x, _angles(x, torch.arange(x.size(-2)), base))


def ignores_base(x, positions, base=10000.0):
    return _half_split(x, _angles(x, positions, 10000.0))


def rotate_half_without_minus(x, positions, base=10000.0):
    half = x.size(-1) // 2
    angles = _angles(x, positions, base)
    cos, sin = torch.cat([angles.cos()] * 2, dim=-1), torch.cat([angles.sin()] * 2, dim=-1)
    swapped = torch.cat([x[..., half:], x[..., :half]], dim=-1)
    return x * cos + swapped * sin


def splits_dim_one(x, positions, base=10000.0):
    half = x.size(1) // 2
    angles = _angles(x, positions, base)
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x[:, :half], x[:, half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=1)


def rotates_in_place(x, positions, base=10000.0):
    half = x.size(-1) // 2
    angles = _angles(x, positions, base)
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x[..., :half].clone(), x[..., half:].clone()
    x[..., :half] = x1 * cos - x2 * sin
    x[..., half:] = x2 * cos + x1 * sin
    return x


def detached_from_graph(x, positions, base=10000.0):
    return _half_split(x.detach(), _angles(x, positions, base))
