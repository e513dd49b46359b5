"""`attn-drill lab sqrt-dk`: measure, live, why attention divides the scores by √d_k.

For each d_k the lab draws unit-variance queries and keys and measures
- the variance of q·k (it grows like d_k) and of q·k/√d_k (it stays near 1);
- over rows of `keys` scores (one query against that many keys), the largest softmax weight
  and the row's entropy, with and without the scale: unscaled rows saturate towards one-hot;
- the norm of the softmax's Jacobian, diag(p) − ppᵀ, which is what the gradient flows
  through: a saturated row passes almost no gradient back to the scores.

Pure NumPy and deterministic for a seed (each d_k has its own stream, so the numbers for one
d_k do not depend on which others are asked for). Rendering lives in render/lab.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from attn_drill.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

EXPERIMENTS = ("sqrt-dk",)
DEFAULT_D_K = (16, 64, 256, 1024)
DEFAULT_SAMPLES = 20_000
DEFAULT_KEYS = 64
# Rows of queries/keys drawn at once: bounds memory (chunk · keys · d_k floats) at any d_k.
_CHUNK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class LabRow:
    d_k: int
    variance_unscaled: float
    variance_scaled: float
    max_weight_unscaled: float
    max_weight_scaled: float
    entropy_unscaled: float
    entropy_scaled: float
    grad_norm_unscaled: float
    grad_norm_scaled: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def parse_d_k(text: str) -> tuple[int, ...]:
    """`--d-k 16,64,256`: positive integers, comma-separated (a usage error otherwise)."""
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = int(part)
        except ValueError:
            raise UsageError(f"--d-k: {part!r} is not a whole number "
                             "(give a comma-separated list such as 16,64,256)") from None
        if not 1 <= value <= 65_536:
            raise UsageError(f"--d-k: {value} is out of range (1 to 65536)")
        values.append(value)
    if not values:
        raise UsageError("--d-k: give at least one value, e.g. 16,64,256")
    return tuple(values)


def check_experiment(name: str) -> None:
    if name not in EXPERIMENTS:
        raise UsageError(f"unknown lab {name!r}; available: {', '.join(EXPERIMENTS)}")


def sqrt_dk(d_ks: tuple[int, ...] = DEFAULT_D_K, *, samples: int = DEFAULT_SAMPLES,
            keys: int = DEFAULT_KEYS, seed: int = 0) -> list[LabRow]:
    """One row of measurements per d_k."""
    if samples < 2:
        raise UsageError("--samples must be at least 2")
    if keys < 2:
        raise UsageError("--keys must be at least 2")
    if seed < 0:
        raise UsageError("--seed must be 0 or more")
    return [_measure(d_k, samples=samples, keys=keys, seed=seed) for d_k in d_ks]


def _measure(d_k: int, *, samples: int, keys: int, seed: int) -> LabRow:
    import numpy as np

    rng = np.random.default_rng([seed, d_k])
    scale = 1.0 / np.sqrt(d_k)

    dots = np.empty(samples)
    chunk = max(1, _CHUNK_ELEMENTS // d_k)
    for start in range(0, samples, chunk):
        stop = min(samples, start + chunk)
        q = rng.standard_normal((stop - start, d_k))
        k = rng.standard_normal((stop - start, d_k))
        dots[start:stop] = np.einsum("nd,nd->n", q, k)

    # As many rows of `keys` scores as the sample budget allows (at least one).
    rows = max(1, samples // keys)
    stats = {True: np.zeros(3), False: np.zeros(3)}  # scaled? -> sums of max, entropy, grad
    row_chunk = max(1, _CHUNK_ELEMENTS // (keys * d_k))
    for start in range(0, rows, row_chunk):
        count = min(rows, start + row_chunk) - start
        q = rng.standard_normal((count, 1, d_k))
        k = rng.standard_normal((count, keys, d_k))
        scores = np.einsum("rod,rkd->rk", q, k)
        for scaled in (False, True):
            stats[scaled] += _row_statistics(scores * scale if scaled else scores)
    unscaled, scaled_stats = stats[False] / rows, stats[True] / rows
    return LabRow(
        d_k=d_k,
        variance_unscaled=float(dots.var()),
        variance_scaled=float((dots * scale).var()),
        max_weight_unscaled=float(unscaled[0]),
        max_weight_scaled=float(scaled_stats[0]),
        entropy_unscaled=float(unscaled[1]),
        entropy_scaled=float(scaled_stats[1]),
        grad_norm_unscaled=float(unscaled[2]),
        grad_norm_scaled=float(scaled_stats[2]),
    )


def _row_statistics(scores: np.ndarray) -> np.ndarray:
    """Sums over rows of: the largest weight, the entropy (nats), and the Frobenius norm of
    the softmax Jacobian J = diag(p) − ppᵀ, using ‖J‖² = Σp² − 2Σp³ + (Σp²)²."""
    import numpy as np

    shifted = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    weights /= weights.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(weights > 0, weights * np.log(weights), 0.0).sum(axis=-1)
    square = (weights**2).sum(axis=-1)
    cube = (weights**3).sum(axis=-1)
    grad_norm = np.sqrt(np.maximum(square - 2 * cube + square**2, 0.0))
    return np.array([weights.max(axis=-1).sum(), entropy.sum(), grad_norm.sum()])
