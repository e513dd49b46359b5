"""Properties judged on what the learner's code did rather than on a reference output
(registered in grading/properties.py; their texts are in attn_drill/messages.py).

- `preserves-norm`: a rotation keeps the length of every row, so |output_i| = |x_i|.
- `relative-position`: rotated dot products depend only on the difference of positions, so
  shifting every position by the same amount leaves the Gram matrix output · outputᵀ of each
  batch element unchanged. Judged on a derived case: a graded case with its `positions` input
  shifted, compared with the learner's own output on the original.
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
from typing import TYPE_CHECKING

from attn_drill.grading.properties import DeriveContext, Property, failed_check, property_label
from attn_drill.grading.report import CheckResult
from attn_drill.messages import Localisable, msg

if TYPE_CHECKING:
    import numpy as np

    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.grading.checks import DerivedCase, Evaluation
    from attn_drill.grading.diagnosis import Findings

DERIVED_SHIFTED = "derived:shifted-positions"
POSITION_SHIFT = 7  # torch-track positions stay below 64 after the shift (cases draw <= 50)


def _rotated_input(case: ConcreteCase, output: np.ndarray) -> np.ndarray | None:
    """The float input the output is a rotation of (the first with the output's shape)."""
    for value in case.inputs.values():
        if getattr(value, "dtype", None) is not None and value.dtype.kind == "f" \
                and value.shape == output.shape:
            return value
    return None


def _limits(ev: Evaluation, array: np.ndarray) -> tuple[float, float]:
    from attn_drill.grading.checks import tolerance

    rtol, atol = tolerance(ev, array)
    return rtol * 10, atol * 10


def _failed_result(prop: str, failed: list[str], first: Localisable | str) -> CheckResult:
    if not failed:  # (nothing returned at all: run_checks marks the vacuous pass as not run)
        return CheckResult(property_label(prop), True, kind=f"property:{prop}")
    return CheckResult(property_label(prop), False, first, kind=f"property:{prop}",
                       failed_cases=failed)


class PreservesNorm(Property):
    id = "preserves-norm"
    diagnoses = "not-a-rotation"

    def check(self, ev: Evaluation) -> CheckResult | None:
        import numpy as np

        from attn_drill.grading.checks import learner_array

        output = ev.spec.outputs[0]
        failed: list[str] = []
        first: Localisable | str = ""
        for case in ev.base_cases:
            got = learner_array(ev, case.name, output)
            if got is None or got.dtype.kind != "f":
                continue
            x = _rotated_input(case, got)
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
                    first = msg("case.reason", case=case.name, reason=msg(
                        "preserves-norm.changed", row=str(where), before=float(before[where]),
                        output=output, after=float(after[where]), bad=int(bad.sum()),
                        rows=int(bad.size)))
        return _failed_result(self.id, failed, first)

    def find(self, ev: Evaluation, checks: list[CheckResult], findings: Findings,
             lang: str) -> None:
        _plain_find(self, checks, findings)


def _plain_find(prop: Property, checks: list[CheckResult], findings: Findings) -> None:
    failed = failed_check(checks, f"property:{prop.id}")
    if failed and prop.diagnoses:
        findings.add(prop.diagnoses, failed.message, f"property:{prop.id}", failed.message_id)


def _gram(array: np.ndarray) -> np.ndarray:
    import numpy as np

    a = np.asarray(array, dtype=np.float64)
    return a @ np.swapaxes(a, -1, -2)


class RelativePosition(Property):
    id = "relative-position"
    diagnoses = "not-a-rotation"
    derives = True

    def derive(self, context: DeriveContext) -> list[tuple[ConcreteCase, DerivedCase]]:
        """A copy of the first random case with every position shifted by POSITION_SHIFT."""
        from attn_drill.grading.checks import DerivedCase

        for source in context.sources:
            names = list(source.inputs_with_role("positions"))
            if not source.is_random or not names:
                continue
            case = copy.deepcopy(source)
            case.name = f"{source.name} (positions shifted by {POSITION_SHIFT})"
            case.tags = [*source.tags, DERIVED_SHIFTED]
            for name in names:
                case.inputs[name] = source.inputs[name] + POSITION_SHIFT
            return [(case, DerivedCase(case.name, DERIVED_SHIFTED, source.name, ""))]
        return []

    def check(self, ev: Evaluation) -> CheckResult | None:
        import numpy as np

        from attn_drill.grading.compare import compare_arrays

        name = property_label(self.id)
        kind = f"property:{self.id}"
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
                return CheckResult(name, False, msg("relative-position.no-result",
                                                    case=derived.source),
                                   kind=kind, failed_cases=[derived.name], not_run=True)
            if before.shape != after.shape or before.ndim < 2 or before.dtype.kind != "f" \
                    or after.dtype.kind != "f":
                continue  # the shape and dtype checks report these
            rtol, atol = _limits(ev, after)
            scale = float(before.shape[-1])  # a dot product sums d rounding errors
            comparison = compare_arrays(
                _gram(after), _gram(before), rtol=rtol, atol=atol * scale,
                dtype="float64" if after.dtype == np.float64 else "float32",
                case=derived.name, output=f"{output} · {output}ᵀ")
            if not comparison.ok:
                message = msg("relative-position.changed", shift=POSITION_SHIFT,
                              case=derived.source, output=output)
                return CheckResult(name, False, message, kind=kind, mismatch=comparison.table,
                                   failed_cases=[derived.name])
        return CheckResult(name, True, kind=kind)

    def find(self, ev: Evaluation, checks: list[CheckResult], findings: Findings,
             lang: str) -> None:
        _plain_find(self, checks, findings)


def _streamed(ev: Evaluation) -> list[tuple[ConcreteCase, dict[str, str]]]:
    from attn_drill.grading.streams import READ

    found = []
    for case in ev.base_cases:
        returned = ev.returned(case.name)
        if returned is not None and READ in returned.types:
            found.append((case, returned.types))
    return found


def _raised_after_reread(ev: Evaluation, case_name: str) -> bool:
    from attn_drill.grading.streams import REREAD

    outcome = ev.outcomes.get(case_name)
    error = None if outcome is None else outcome.error
    return error is not None and REREAD in str(getattr(error, "message", ""))


class ReadsBlocksOnce(Property):
    id = "reads-blocks-once"
    diagnoses = "consumes-twice"

    def check(self, ev: Evaluation) -> CheckResult | None:
        from attn_drill.grading.streams import PASSES, READ, block_input

        failed: list[str] = []
        first: Localisable | str = ""
        for case in ev.base_cases:  # calls that raised after reading the iterator twice
            if _raised_after_reread(ev, case.name):
                failed.append(case.name)
                if not first:
                    first = msg("case.reason", case=case.name, reason=msg(
                        "blocks.reread-raised", argument=block_input(case) or "blocks"))
        for case, notes in _streamed(ev):
            argument = block_input(case) or "blocks"
            read, total = (int(x) for x in notes[READ].split("/"))
            passes = int(notes.get(PASSES, "0"))
            problem: Localisable | str = ""
            if passes > 1:
                problem = msg("blocks.reread", argument=argument, passes=passes)
            elif read < total:
                problem = msg("blocks.partly-read", argument=argument, read=read, total=total)
            if problem:
                failed.append(case.name)
                if not first:
                    first = msg("case.reason", case=case.name, reason=problem)
        return _failed_result(self.id, failed, first)

    def find(self, ev: Evaluation, checks: list[CheckResult], findings: Findings,
             lang: str) -> None:
        from attn_drill.grading.streams import PASSES

        failed = failed_check(checks, f"property:{self.id}")
        if failed is None:
            return
        for name in failed.failed_cases:
            returned = ev.returned(name)
            if (returned is not None and int(returned.types.get(PASSES, "0")) > 1) \
                    or _raised_after_reread(ev, name):
                findings.add("consumes-twice", failed.message, f"property:{self.id}",
                             failed.message_id)
                return


def _mib(count: float) -> str:
    return f"{count / 2**20:.2f} MiB"


class BoundedMemory(Property):
    id = "bounded-memory"
    diagnoses = "stores-all-blocks"

    def check(self, ev: Evaluation) -> CheckResult | None:
        from attn_drill.grading.inputs import Blocks
        from attn_drill.grading.streams import (
            MEMORY_TAG,
            PEAK,
            TRACING,
            block_bytes,
            item_bytes,
        )

        measured = [(case, notes) for case, notes in _streamed(ev) if MEMORY_TAG in case.tags]
        if not measured:
            return None
        failed: list[str] = []
        first: Localisable | str = ""
        for case, notes in measured:
            total = block_bytes(case, ev.track)
            budget = total / 4
            if notes.get(TRACING) == "stopped":
                problem: Localisable = msg("memory.tracing-stopped")
            elif PEAK not in notes or int(notes[PEAK]) <= budget:
                continue
            else:
                q = next((v for v in case.inputs.values()
                          if not isinstance(v, Blocks) and v.ndim >= 2), None)
                n = q.shape[-2] if q is not None else 0
                m = sum(part.shape[-2] for v in case.inputs.values() if isinstance(v, Blocks)
                        for part in (item[0] for item in v.items))
                scores = n * m * item_bytes(ev.track)
                problem = msg("memory.over-budget", peak=_mib(int(notes[PEAK])),
                              budget=_mib(budget), total=_mib(total), n=n, m=m,
                              scores=_mib(scores))
            failed.append(case.name)
            if not first:
                first = msg("case.reason", case=case.name, reason=problem)
        return _failed_result(self.id, failed, first)

    def find(self, ev: Evaluation, checks: list[CheckResult], findings: Findings,
             lang: str) -> None:
        _plain_find(self, checks, findings)


INVARIANTS: tuple[Property, ...] = (
    PreservesNorm(), RelativePosition(), ReadsBlocksOnce(), BoundedMemory(),
)
