"""Properties of rotary position embeddings that hold whatever the numbers are.

- `preserves-norm`: a rotation keeps the length of every row, so |output_i| = |x_i|.
- `relative-position`: rotated dot products depend only on the difference of positions, so
  shifting every position by the same amount leaves the Gram matrix output · outputᵀ of each
  batch element unchanged. Judged on a derived case: a graded case with its integer input
  (the positions) shifted, compared with the learner's own output on the original.

Both are judged on the learner's own outputs (no reference needed). A failure is reported as
the problem's `not-a-rotation` misconception. Trusted code on plain NumPy data.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from attn_drill.grading.report import CheckResult

if TYPE_CHECKING:
    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.grading.checks import DerivedCase, Evaluation
    from attn_drill.problems import TrackSpec

DERIVED_SHIFTED = "derived:shifted-positions"
POSITION_SHIFT = 7  # torch-track positions stay below 64 after the shift (cases draw <= 50)
DIAGNOSES = {"preserves-norm": "not-a-rotation", "relative-position": "not-a-rotation"}
NAMES = {
    "preserves-norm": ("keeps the norm of every row (a rotation)",
                       "保持每一行的范数不变（旋转）"),
    "relative-position": ("dot products depend only on the position difference",
                          "点积只取决于位置之差"),
}


def _tr(lang: str, en: str, zh: str) -> str:
    return zh if lang == "zh" else en


def derive_shifted_positions(spec: TrackSpec, cases: list[ConcreteCase]
                             ) -> list[tuple[ConcreteCase, DerivedCase]]:
    """A copy of the first random case with every position shifted by POSITION_SHIFT."""
    from attn_drill.grading.checks import DerivedCase

    if "relative-position" not in spec.properties or not spec.integer_inputs:
        return []
    name = spec.integer_inputs[0]
    for source in cases:
        if not source.is_random or name not in source.inputs:
            continue
        case = copy.deepcopy(source)
        case.name = f"{source.name} (positions shifted by {POSITION_SHIFT})"
        case.tags = [*source.tags, DERIVED_SHIFTED]
        case.inputs[name] = source.inputs[name] + POSITION_SHIFT
        return [(case, DerivedCase(case.name, DERIVED_SHIFTED, source.name, ""))]
    return []


def _rotated_input(ev: Evaluation, case: ConcreteCase, output: np.ndarray) -> np.ndarray | None:
    """The float input the output is a rotation of (the first with the output's shape)."""
    for value in case.inputs.values():
        if value.dtype.kind == "f" and value.shape == output.shape:
            return value
    return None


def _limits(ev: Evaluation, array: np.ndarray) -> tuple[float, float]:
    from attn_drill.grading.checks import tolerance

    rtol, atol = tolerance(ev, array)
    return rtol * 10, atol * 10


def check_preserves_norm(ev: Evaluation, lang: str) -> CheckResult | None:
    from attn_drill.grading.checks import learner_array

    name = property_label("preserves-norm", lang)
    output = ev.spec.outputs[0]
    failed: list[str] = []
    first = ""
    for case in ev.base_cases:
        got = learner_array(ev, case.name, output)
        if got is None or got.dtype.kind != "f":
            continue
        x = _rotated_input(ev, case, got)
        if x is None:
            continue  # a wrong shape: the shape check reports it
        rtol, atol = _limits(ev, got)
        before = np.linalg.norm(np.asarray(x, dtype=np.float64), axis=-1)
        after = np.linalg.norm(np.asarray(got, dtype=np.float64), axis=-1)
        with np.errstate(invalid="ignore"):
            bad = ~(np.abs(after - before) <= atol + rtol * before)
        if bad.any():
            failed.append(case.name)
            if not first:
                where = tuple(int(i) for i in np.argwhere(bad)[0])
                first = _tr(
                    lang,
                    f"case '{case.name}', row {where}: |x| = {before[where]:.6g} but "
                    f"|{output}| = {after[where]:.6g} ({int(bad.sum())} of {bad.size} rows "
                    "change length): a rotation keeps every row's length",
                    f"用例「{case.name}」，第 {where} 行：|x| = {before[where]:.6g}，但 "
                    f"|{output}| = {after[where]:.6g}（{bad.size} 行中有 {int(bad.sum())} 行长度"
                    "改变）：旋转不会改变每一行的长度")
    if not failed:  # (nothing returned at all: run_checks marks the vacuous pass as not run)
        return CheckResult(name, True, kind="property:preserves-norm")
    return CheckResult(name, False, first, kind="property:preserves-norm",
                       failed_cases=failed)


def _gram(array: np.ndarray) -> np.ndarray:
    a = np.asarray(array, dtype=np.float64)
    return a @ np.swapaxes(a, -1, -2)


def check_relative_position(ev: Evaluation, lang: str) -> CheckResult | None:
    from attn_drill.grading.compare import compare_arrays

    name = property_label("relative-position", lang)
    output = ev.spec.outputs[0]
    todo = [d for d in ev.derived.values() if d.kind == DERIVED_SHIFTED]
    if not todo:
        return None
    for derived in todo:
        source = ev.returned(derived.source)
        shifted = ev.returned(derived.name)
        before = None if source is None else source.arrays.get(output)
        after = None if shifted is None else shifted.arrays.get(output)
        if before is None or after is None:
            return CheckResult(name, False, _tr(
                lang, f"could not be checked: case '{derived.source}' did not return a result",
                f"无法检查：用例「{derived.source}」没有返回结果"),
                kind="property:relative-position", failed_cases=[derived.name], not_run=True)
        if before.shape != after.shape or before.ndim < 2 or before.dtype.kind != "f" \
                or after.dtype.kind != "f":
            continue  # the shape and dtype checks report these
        rtol, atol = _limits(ev, after)
        scale = float(before.shape[-1])  # a dot product sums d rounding errors
        comparison = compare_arrays(_gram(after), _gram(before), rtol=rtol, atol=atol * scale,
                                    dtype="float64" if after.dtype == np.float64 else "float32",
                                    case=derived.name, output=f"{output} · {output}ᵀ")
        if not comparison.ok:
            message = _tr(
                lang,
                f"adding {POSITION_SHIFT} to every position of case '{derived.source}' changed "
                f"the dot products between rows of `{output}`: with a rotation by position · "
                "frequency, q_i · k_j depends only on the difference of their positions",
                f"把用例「{derived.source}」的每个位置都加上 {POSITION_SHIFT} 后，`{output}` "
                "各行之间的点积变了：按 位置 · 频率 旋转时，q_i · k_j 只取决于两者位置之差")
            return CheckResult(name, False, message, kind="property:relative-position",
                               mismatch=comparison.table, failed_cases=[derived.name])
    return CheckResult(name, True, kind="property:relative-position")


@dataclass(frozen=True)
class Invariant:
    check: Any  # (Evaluation, lang) -> CheckResult | None
    diagnoses: str


INVARIANTS = {
    "preserves-norm": Invariant(check_preserves_norm, DIAGNOSES["preserves-norm"]),
    "relative-position": Invariant(check_relative_position, DIAGNOSES["relative-position"]),
}


def property_label(prop: str, lang: str) -> str:
    en, zh = NAMES[prop]
    return _tr(lang, en, zh)
