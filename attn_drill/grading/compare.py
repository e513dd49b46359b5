"""Numeric comparison: tolerances per returned dtype and pytest.approx-style mismatch statistics.

Everything is compared in float64 against a float64 reference. The tolerance follows the dtype
the submission *returned* (a float32 result is judged by float32 tolerances, never failed for
being float32).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attn_drill.grading.report import MismatchRow, MismatchTable

if TYPE_CHECKING:
    from attn_drill.problems import Problem, Tolerance

FLOAT_DTYPES = ("float64", "float32")


def tolerance_for(problem: Problem, dtype_name: str) -> Tolerance:
    """The problem's tolerance for a returned dtype (anything but float64 uses float32's)."""
    return problem.tolerances.for_dtype(dtype_name)


def _as_float64(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.float64:
        return array
    return np.asarray(array, dtype=np.float64)


def close_elements(
    got: np.ndarray, expected: np.ndarray, rtol: float, atol: float
) -> np.ndarray:
    """Elementwise |got - expected| <= atol + rtol * |expected|; NaN equals NaN, inf equals inf."""
    got64 = _as_float64(got)
    exp64 = _as_float64(expected)
    with np.errstate(invalid="ignore", over="ignore"):
        ok = np.abs(got64 - exp64) <= atol + rtol * np.abs(exp64)
    both_nan = np.isnan(got64) & np.isnan(exp64)
    same_inf = np.isinf(got64) & np.isinf(exp64) & (np.sign(got64) == np.sign(exp64))
    return ok | both_nan | same_inf


def allclose(
    got: np.ndarray | None,
    expected: np.ndarray | None,
    rtol: float,
    atol: float,
    ignore: np.ndarray | None = None,
) -> bool:
    """Same shape and every graded element within tolerance."""
    if got is None or expected is None or got.shape != expected.shape:
        return False
    try:
        ok = close_elements(got, expected, rtol, atol)
    except (TypeError, ValueError):
        return False
    if ignore is not None:
        ok = ok | ignore
    return bool(ok.all())


@dataclass
class Comparison:
    ok: bool
    shape_ok: bool
    table: MismatchTable | None = None


def compare_arrays(
    got: np.ndarray,
    expected: np.ndarray,
    *,
    rtol: float,
    atol: float,
    dtype: str,
    case: str,
    output: str,
    ignore: np.ndarray | None = None,
    worst: int = 5,
) -> Comparison:
    """Compare one output; on failure return mismatch statistics and the worst elements."""
    if got.shape != expected.shape:
        return Comparison(ok=False, shape_ok=False)
    try:
        ok = close_elements(got, expected, rtol, atol)
    except (TypeError, ValueError):
        return Comparison(ok=False, shape_ok=True)
    graded = np.ones(expected.shape, dtype=bool) if ignore is None else ~ignore
    bad = ~ok & graded
    if not bad.any():
        return Comparison(ok=True, shape_ok=True)
    got64 = _as_float64(got)
    exp64 = _as_float64(expected)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        diff = np.abs(got64 - exp64)
        diff = np.where(np.isnan(diff), np.inf, diff)
        rel = np.where(exp64 != 0, diff / np.abs(exp64), np.inf)
    diff_graded = np.where(graded, diff, 0.0)
    rel_graded = np.where(graded & (exp64 != 0), rel, 0.0)
    order = np.argsort(-diff_graded, axis=None, kind="stable")[:worst]
    rows = []
    for flat in order:
        if not bad.flat[flat]:
            continue
        index = tuple(int(i) for i in np.unravel_index(int(flat), expected.shape))
        rows.append(MismatchRow(index=index, got=float(got64.flat[flat]),
                                expected=float(exp64.flat[flat])))
    ignored_rows = 0
    if ignore is not None and ignore.ndim >= 1 and ignore.any():
        ignored_rows = int(ignore.reshape(-1, ignore.shape[-1]).all(axis=-1).sum())
    table = MismatchTable(
        case=case,
        output=output,
        mismatched=int(bad.sum()),
        total=int(graded.sum()),
        max_abs=float(diff_graded.max()),
        max_rel=float(rel_graded.max()),
        rtol=rtol,
        atol=atol,
        dtype=dtype,
        rows=rows,
        nan_count=int((np.isnan(got64) & graded).sum()),
        inf_count=int((np.isinf(got64) & graded).sum()),
        ignored_rows=ignored_rows,
    )
    return Comparison(ok=False, shape_ok=True, table=table)
