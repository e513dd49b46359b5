"""Properties judged on what the learner's code did rather than on a reference output.

- `preserves-norm`: a rotation keeps the length of every row, so |output_i| = |x_i|.
- `relative-position`: rotated dot products depend only on the difference of positions, so
  shifting every position by the same amount leaves the Gram matrix output · outputᵀ of each
  batch element unchanged. Judged on a derived case: a graded case with its integer input
  (the positions) shifted, compared with the learner's own output on the original.
  A failure of either is reported as the problem's `not-a-rotation` misconception.
- `reads-blocks-once`: an iterator of blocks (grading/streams.py) is read to the end, once.
  Reading it again is reported as `consumes-twice`.
- `bounded-memory`: on cases tagged `memory`, the peak traced allocation during the call stays
  below a quarter of the bytes of all blocks: no stored copy of the blocks, no full score
  matrix. Reported as `stores-all-blocks`.

Trusted code on plain NumPy data.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from attn_drill.grading.report import CheckResult

if TYPE_CHECKING:
    import numpy as np

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
    "reads-blocks-once": ("reads the iterator of blocks once, to the end",
                          "把块的迭代器从头到尾读且只读一遍"),
    "bounded-memory": ("memory stays below a quarter of all keys and values",
                       "内存占用低于全部键和值的四分之一"),
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
    import numpy as np

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
    import numpy as np

    a = np.asarray(array, dtype=np.float64)
    return a @ np.swapaxes(a, -1, -2)


def check_relative_position(ev: Evaluation, lang: str) -> CheckResult | None:
    import numpy as np

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


def _streamed(ev: Evaluation) -> list[tuple[ConcreteCase, dict[str, str]]]:
    from attn_drill.grading.streams import READ

    found = []
    for case in ev.base_cases:
        returned = ev.returned(case.name)
        if returned is not None and READ in returned.types:
            found.append((case, returned.types))
    return found


def check_reads_blocks_once(ev: Evaluation, lang: str) -> CheckResult | None:
    from attn_drill.grading.streams import PASSES, READ, plan_of

    name = property_label("reads-blocks-once", lang)
    argument = plan_of(ev.spec)[0] or "the blocks"
    failed: list[str] = []
    first = ""
    for case in ev.base_cases:  # calls that raised after reading the iterator twice
        if _raised_after_reread(ev, case.name):
            failed.append(case.name)
            if not first:
                first = _tr(
                    lang, f"case '{case.name}': `{argument}` was iterated again after it was "
                    "used up, and the call then failed (see the run check)",
                    f"用例「{case.name}」：`{argument}` 用完之后又被遍历了一次，随后调用失败"
                    "（见运行检查）")
    for case, notes in _streamed(ev):
        read, total = (int(x) for x in notes[READ].split("/"))
        passes = int(notes.get(PASSES, "0"))
        problem = ""
        if passes > 1:
            problem = _tr(
                lang, f"`{argument}` was iterated again after it was used up ({passes} passes): "
                "a one-shot iterator yields nothing the second time, so a second pass (max "
                "first, then the sums) sees no blocks",
                f"`{argument}` 用完之后又被遍历了一次（共 {passes} 遍）：一次性迭代器第二次什么"
                "也不会给出，所以第二遍（先求最大值、再求和）看不到任何块")
        elif read < total:
            problem = _tr(
                lang, f"only {read} of the {total} blocks of `{argument}` were read: every block "
                "holds keys the answer depends on",
                f"`{argument}` 的 {total} 个块只读了 {read} 个：每个块里都有答案依赖的键")
        if problem:
            failed.append(case.name)
            if not first:
                first = _tr(lang, f"case '{case.name}': ", f"用例「{case.name}」：") + problem
    if not failed:
        return CheckResult(name, True, kind="property:reads-blocks-once")
    return CheckResult(name, False, first, kind="property:reads-blocks-once",
                       failed_cases=failed)


def _mib(count: float) -> str:
    return f"{count / 2**20:.2f} MiB"


def check_bounded_memory(ev: Evaluation, lang: str) -> CheckResult | None:
    from attn_drill.grading.streams import MEMORY_TAG, PEAK, TRACING, block_bytes

    name = property_label("bounded-memory", lang)
    measured = [(case, notes) for case, notes in _streamed(ev) if MEMORY_TAG in case.tags]
    if not measured:
        return None
    failed: list[str] = []
    first = ""
    for case, notes in measured:
        total = block_bytes(case, ev.spec, ev.track)
        budget = total / 4
        if notes.get(TRACING) == "stopped":
            problem = _tr(lang, "memory tracing was switched off during the call, so the "
                          "memory use could not be measured", "调用期间内存跟踪被关闭了，无法测量"
                          "内存用量")
        elif PEAK not in notes or int(notes[PEAK]) <= budget:
            continue
        else:
            q = next((v for v in case.inputs.values() if v.ndim >= 2), None)
            n = q.shape[-2] if q is not None else 0
            m = sum(case.chunks)
            scores = n * m * (4 if ev.track == "torch" else 8)
            problem = _tr(
                lang, f"the call used up to {_mib(int(notes[PEAK]))} at once; the budget is "
                f"{_mib(budget)}, a quarter of all keys and values ({_mib(total)}). A full "
                f"({n}, {m}) score matrix alone takes {_mib(scores)}: keep one block, the "
                "running maximum, the running sum and the output accumulator, nothing more",
                f"调用期间同时占用了最多 {_mib(int(notes[PEAK]))}；预算是 {_mib(budget)}，即全部键"
                f"和值（{_mib(total)}）的四分之一。单是一个完整的 ({n}, {m}) 分数矩阵就要 "
                f"{_mib(scores)}：只保留当前块、运行中的最大值、运行中的和以及输出累加器")
        failed.append(case.name)
        if not first:
            first = _tr(lang, f"case '{case.name}': ", f"用例「{case.name}」：") + problem
    if not failed:
        return CheckResult(name, True, kind="property:bounded-memory")
    return CheckResult(name, False, first, kind="property:bounded-memory",
                       failed_cases=failed)


def _raised_after_reread(ev: Evaluation, case_name: str) -> bool:
    from attn_drill.grading.streams import REREAD

    outcome = ev.outcomes.get(case_name)
    error = None if outcome is None else outcome.error
    return error is not None and REREAD in str(getattr(error, "message", ""))


def _reread(ev: Evaluation, check: CheckResult) -> bool:
    from attn_drill.grading.streams import PASSES

    for name in check.failed_cases:
        returned = ev.returned(name)
        if returned is not None and int(returned.types.get(PASSES, "0")) > 1:
            return True
        if _raised_after_reread(ev, name):
            return True
    return False


@dataclass(frozen=True)
class Invariant:
    check: Any  # (Evaluation, lang) -> CheckResult | None
    diagnoses: str
    # (Evaluation, failed check) -> whether the failure is evidence for `diagnoses`
    evidence: Any = None


INVARIANTS = {
    "preserves-norm": Invariant(check_preserves_norm, DIAGNOSES["preserves-norm"]),
    "relative-position": Invariant(check_relative_position, DIAGNOSES["relative-position"]),
    "reads-blocks-once": Invariant(check_reads_blocks_once, "consumes-twice", _reread),
    "bounded-memory": Invariant(check_bounded_memory, "stores-all-blocks"),
}


def property_label(prop: str, lang: str) -> str:
    en, zh = NAMES[prop]
    return _tr(lang, en, zh)
