import torch


def apply_rope(
    x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0
) -> torch.Tensor:
    """Rotary position embedding, half-split layout (GPT-NeoX, `rotate_half`).

    x: (..., n, d) with d even; positions: int64 (n,), the absolute position of each row.
    For i < d/2 the pair (x_i, x_{i + d/2}) is rotated by the angle positions · base^(-2i/d).
    Returns a tensor shaped like x.
    """
    d = x.size(-1)
    half = d // 2
    exponents = torch.arange(half, dtype=x.dtype, device=x.device) * (-2.0 / d)
    inv_freq = base**exponents  # (d/2,)
    # positions arrive as int64: convert before mixing them with float frequencies.
    angles = positions.to(x.dtype)[:, None] * inv_freq[None, :]  # (n, d/2)
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)
