"""The named checks of a grade, shared by `grade` (learner code in a child) and `validate`
(references and mutants run in-process).

Input: an `Evaluation` (cases, the learner's per-case outcomes, the parent's own reference
outputs). Output: a list of `CheckResult`, one line each. Everything here is trusted code
working on plain NumPy data; nothing here runs the submission.

Which cases feed which check:
- cases carrying the tag of a listed property (`batched` -> batch-dims, `mask` -> mask,
  `stability` -> stability: see grading.properties) are judged by that property's check only;
- the other fixed (literal) cases -> "matches reference (fixed cases)", the other random
  cases -> "matches reference (random, seed N)";
- derived cases (a permuted copy, copies with one later token changed) feed the
  permutation-equivariance and causal-future checks, judged against the learner's own outputs;
- each listed property adds its own line (grading.properties), in the YAML's order.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from attn_drill.grading.compare import (
    FLOAT_DTYPES,
    Comparison,
    compare_arrays,
    tolerance_for,
)
from attn_drill.grading.inputs import describe_shape
from attn_drill.grading.properties import PROPERTIES, plain_cases
from attn_drill.grading.report import CheckResult, Heatmap
from attn_drill.grading.tracks import get_track
from attn_drill.messages import Localisable, Message, msg

if TYPE_CHECKING:
    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.grading.harness import Returned
    from attn_drill.problems import Problem, TrackSpec

DERIVED_PERMUTED = "derived:permutation"
DERIVED_CAUSAL = "derived:causal-future"
LOAD_ERRORS = ("syntax", "import", "missing-name")
HEATMAP_MAX = 12


# -- what the checks look at ---------------------------------------------------------------


@dataclass
class CaseOutcome:
    """What the learner's code did on one case: returned data, or an error."""

    returned: Returned | None = None
    error: Any = None  # a LearnerError-like object: .kind, .message, .traceback


@dataclass
class DerivedCase:
    """A case the grader built from another one to test a property."""

    name: str
    kind: str  # DERIVED_PERMUTED or DERIVED_CAUSAL
    source: str
    seq_name: str
    permutation: list[int] = field(default_factory=list)
    cutoff: int = 0


@dataclass
class Evaluation:
    problem: Problem
    track: str
    spec: TrackSpec
    seed: int
    cases: list[ConcreteCase]  # graded cases followed by derived ones
    derived: dict[str, DerivedCase]
    outcomes: dict[str, CaseOutcome]
    references: dict[str, Returned]
    fatal: Any = None  # LearnerError-like when the whole run failed
    signature_problem: str | None = None
    timeout_s: float = 10.0
    mutant_cache: dict[str, Any] = field(default_factory=dict)  # validate reuses mutant runs
    source: str = ""  # the learner's file, for checks that read it (forbidden built-ins)

    @property
    def base_cases(self) -> list[ConcreteCase]:
        return [c for c in self.cases if c.name not in self.derived]

    def case(self, name: str) -> ConcreteCase:
        return next(c for c in self.cases if c.name == name)

    def returned(self, case_name: str) -> Returned | None:
        """What the learner's code returned on that case (None: it raised or never ran)."""
        outcome = self.outcomes.get(case_name)
        return None if outcome is None else outcome.returned

    def compared_outputs(self) -> list[str]:
        """Outputs compared with the reference (the module's eval output included)."""
        names = list(self.spec.outputs)
        if self.spec.call == "module":
            names.append("output@eval")
        return names

    def output_names(self, output: str) -> list[str]:
        return list(self.spec.output_dims.get(output.split("@")[0], []))


# -- the learner's source, read without running it -----------------------------------------


# What ast.parse raises for source it cannot turn into a tree: syntax errors, NUL bytes, and
# nesting deeper than the parser's stack (MemoryError / RecursionError).
UNPARSEABLE = (SyntaxError, ValueError, MemoryError, RecursionError)


def imports_torch(source: str) -> bool:
    """True when an import statement of the file imports torch (AST, never executed)."""
    try:
        tree = ast.parse(source)
    except UNPARSEABLE:
        import re

        return bool(re.search(r"^\s*(import\s+torch|from\s+torch)\b", source, re.MULTILINE))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
            a.name == "torch" or a.name.startswith("torch.") for a in node.names
        ):
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and (node.module == "torch" or node.module.startswith("torch."))
        ):
            return True
    return False


def _accepts(args: ast.arguments, positional: int, keywords: list[str], skip_self: bool) -> str:
    params = [*args.posonlyargs, *args.args]
    if skip_self and params:
        params = params[1:]
    names = [p.arg for p in params]
    if args.vararg is None and len(names) < positional:
        return f"takes {len(names)} positional parameters, the grader passes {positional}"
    required = len(names) - len(args.defaults)
    consumed = max(positional, 0)
    kwonly = [a.arg for a in args.kwonlyargs]
    for key in keywords:
        if key in names[consumed:] or key in kwonly or args.kwarg is not None:
            continue
        return f"has no parameter named {key!r}"
    missing = [n for n in names[consumed:required] if n not in keywords]
    if missing:
        return f"requires {', '.join(missing)}, which the grader does not pass"
    return ""


def signature_problem(source: str, spec: TrackSpec, cases: list[ConcreteCase]) -> str | None:
    """Why the entry point cannot be called the way the grader calls it (AST only), or None."""
    try:
        tree = ast.parse(source)
    except UNPARSEABLE:
        return None  # the runner reports the syntax error with the learner's line numbers
    by_keyword = set(spec.keyword_inputs)
    # Each distinct way a case calls the entry point (an optional argument may be passed by
    # position in one case and by keyword in another).
    calls = sorted({
        (len([k for k in c.inputs if k not in by_keyword]),
         tuple(sorted(k for k in (*c.args, *c.inputs) if k in by_keyword or k in c.args)))
        for c in cases
    }) or [(0, ())]
    for node in tree.body:
        if spec.call == "module" and isinstance(node, ast.ClassDef) and node.name == spec.entry:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "forward":
                    why = next((w for p, k in calls
                                if (w := _accepts(item.args, p, list(k), skip_self=True))), "")
                    return f"{spec.entry}.forward {why}" if why else None
            return None  # forward may come from a base class
        if (
            spec.call == "function"
            and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.name == spec.entry
        ):
            if isinstance(node, ast.AsyncFunctionDef):
                return f"{spec.entry} is `async def`; define a plain function"
            why = next((w for p, k in calls
                        if (w := _accepts(node.args, p, list(k), skip_self=False))), "")
            return f"{spec.entry} {why}" if why else None
    return None  # defined some other way (assignment, import): the runner will tell


# -- trusted calls -------------------------------------------------------------------------


_loaded: dict[str, Any] = {}


def load_trusted_module(path: Any, module_name: str) -> Any:
    """Load a pack file (reference or mutants) once per process."""
    from attn_drill.grading.harness import load_module_from_path

    key = str(path)
    if key not in _loaded:
        _loaded[key] = load_module_from_path(path, module_name)
    return _loaded[key]


def call_trusted(target: Any, spec: TrackSpec, case: ConcreteCase, track: str,
                 reference: bool = True) -> Returned:
    """Call trusted code (reference or mutant) with warnings silenced (overflow is expected)."""
    from attn_drill.grading.harness import call
    from attn_drill.grading.streams import unmeasured

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        # Only outputs are wanted here: measuring memory would slow the parent (tracemalloc
        # traces every thread) while it waits for the child.
        return call(target, spec, unmeasured(case), track, reference=reference)


def reference_target(problem: Problem, track: str) -> Any:
    spec = problem.tracks[track]
    module = load_trusted_module(
        problem.reference_path(track), f"_attn_drill_ref_{problem.module_stem}_{track}"
    )
    return getattr(module, spec.entry)


def compute_references(
    problem: Problem, track: str, cases: list[ConcreteCase]
) -> dict[str, Returned]:
    """The parent's own float64 outputs of the pack's reference on every case."""
    spec = problem.tracks[track]
    target = reference_target(problem, track)
    get_track(track).prepare_trusted_calls()
    return {case.name: call_trusted(target, spec, case, track) for case in cases}


# -- helpers over outcomes -----------------------------------------------------------------


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def explain_shape(shape: tuple[int, ...], names: list[str]) -> str:
    """`(2, 5, 24) = (batch, n, d_v)`: names aligned from the right, `...` read as batch."""
    usable = [n for n in names if not n.startswith("...")]
    open_ended = len(usable) < len(names)
    if not usable or len(shape) < len(usable) or (len(shape) > len(usable) and not open_ended):
        return _fmt_shape(shape)
    aligned = ["batch"] * (len(shape) - len(usable)) + usable
    return f"{_fmt_shape(shape)} = ({', '.join(aligned)})"


def ignored_rows(case: ConcreteCase, shape: tuple[int, ...]) -> np.ndarray | None:
    """Elements of an output that belong to fully masked query rows (not graded), or None."""
    mask = case.mask()
    if mask is None or mask.ndim < 2 or len(shape) < 2:
        return None
    empty = ~mask.any(axis=-1)  # (..., n)
    if not empty.any():
        return None
    while empty.ndim > len(shape) - 1:
        empty = empty.any(axis=-2)  # a head axis of the mask: masked in any head
    try:
        return np.broadcast_to(empty[..., None], shape)
    except ValueError:
        return None


def learner_array(ev: Evaluation, case: str, output: str) -> np.ndarray | None:
    returned = ev.returned(case)
    return None if returned is None else returned.arrays.get(output)


def reference_array(ev: Evaluation, case: str, output: str) -> np.ndarray | None:
    ref = ev.references.get(case)
    return None if ref is None else ref.arrays.get(output)


def dtype_of(array: np.ndarray) -> str:
    return array.dtype.name


def tolerance(ev: Evaluation, array: np.ndarray) -> tuple[float, float]:
    """rtol/atol for the dtype returned; the torch track's inputs are float32, so a float64
    result computed from them can only be as precise as float32."""
    tol = tolerance_for(ev.problem, get_track(ev.track).tolerance_dtype(dtype_of(array)))
    return tol.rtol, tol.atol


def tolerance_label(ev: Evaluation, array: np.ndarray) -> str:
    """The dtype whose tolerance judged `array` (see `tolerance`): float64's for float64 on
    the NumPy track, float32's for everything else (float16 included)."""
    return get_track(ev.track).tolerance_dtype(dtype_of(array))


ERROR_KINDS = ("timeout", "memory", "process-limit", "exited", "crashed", "bad-output")


def error_text(error: Any, timeout_s: float) -> Message | str:
    """One line describing a learner error, by kind (an exception: its own message)."""
    kind = getattr(error, "kind", "exception")
    message = getattr(error, "message", str(error))
    if kind not in ERROR_KINDS:
        return message
    return msg(f"error.{kind}", timeout=timeout_s, message=message)


# -- the checks ----------------------------------------------------------------------------


def shown_output(output: str) -> Message | str:
    """`output`, or for a module's second forward pass "`output` (eval mode)"."""
    if output.endswith("@eval"):
        return msg("output.eval", output=output[:-5])
    return f"`{output}`"


def _signature_display(spec: TrackSpec) -> str:
    text = spec.signature.strip()
    if spec.call == "module":
        return "class " + text.removeprefix("class ").split(":")[0].strip()
    if text.startswith("def "):
        text = text[4:]
    if text.startswith("class "):
        text = text[6:]
    return text.split("->")[0].strip().rstrip(":")


def check_defines(ev: Evaluation) -> CheckResult:
    name = msg("check.defines", signature=_signature_display(ev.spec))
    fatal = ev.fatal
    if fatal is not None and getattr(fatal, "kind", "") in LOAD_ERRORS:
        lead = msg(f"defines.{fatal.kind}", entry=ev.spec.entry)
        return CheckResult(name, False, msg("defines.load-failed", lead=lead,
                                            detail=fatal.message), kind="defines")
    if ev.signature_problem:
        return CheckResult(
            name, False,
            msg("defines.signature", problem=ev.signature_problem, signature=ev.spec.signature),
            kind="defines",
        )
    binding = _binding_error(ev)
    if binding:
        return CheckResult(name, False, binding, kind="defines")
    return CheckResult(name, True, kind="defines")


BINDING_MARKERS = ("the way the grader does it", "check its signature")


def _binding_error(ev: Evaluation) -> str:
    """A call that failed while binding arguments, as the runner reports it (inspect-level
    signature incompatibility), or ""."""
    for outcome in ev.outcomes.values():
        message = getattr(outcome.error, "message", "") if outcome.error is not None else ""
        if any(marker in message for marker in BINDING_MARKERS):
            return message
    return ""


def _not_run(name: Localisable | str, kind: str) -> CheckResult:
    return CheckResult(name, False, msg("check.not-run.unloaded"), kind=kind, not_run=True)


def check_runs(ev: Evaluation) -> CheckResult:
    name = msg("check.runs")
    failed = []
    first: Localisable | str = ""
    for case in ev.cases:
        outcome = ev.outcomes.get(case.name)
        if outcome is not None and outcome.error is None and outcome.returned is not None:
            continue
        error = outcome.error if outcome is not None and outcome.error is not None else ev.fatal
        failed.append(case.name)
        if not first:
            reason = (error_text(error, ev.timeout_s) if error is not None
                      else msg("runs.no-result"))
            first = msg("case.reason", case=case.name, reason=reason)
            first = first + integer_input_advice(ev, error)
    if not failed:
        return CheckResult(name, True, kind="runs")
    if len(failed) > 1:
        first = first + msg("runs.more", count=len(failed) - 1)
    return CheckResult(name, False, first, kind="runs", failed_cases=failed)


INTEGER_DTYPE_WORDS = ("long", "int64", "integer")


def integer_input_advice(ev: Evaluation, error: Any) -> Localisable | str:
    """When an error looks like an int/float mix-up and the problem passes int64 inputs
    (positions, lengths), say which they are and how to turn them into floats, else ""."""
    cases = ev.base_cases[:1]
    names = [k for c in cases for k in c.inputs if c.input_info(k).dtype == "int64"
             and c.input_info(k).pass_as == "array"]
    message = str(getattr(error, "message", "") or "").lower()
    if not names or not any(word in message for word in INTEGER_DTYPE_WORDS):
        return ""
    floats = [k for c in cases for k in c.inputs if c.input_info(k).dtype == "float"
              and c.input_info(k).pass_as == "array"]
    convert = get_track(ev.track).float_cast.format(name=names[0],
                                                    like=floats[0] if floats else "x")
    return msg("integers.advice", names=", ".join(f"`{n}`" for n in names), convert=convert)


def type_check_name(ev: Evaluation) -> Message:
    want_text = get_track(ev.track).returned_text
    outputs = ", ".join(ev.spec.outputs)
    if len(ev.spec.outputs) > 1:
        return msg("check.type.tuple", outputs=outputs, want=want_text)
    return msg("check.type", want=want_text)


def check_types(ev: Evaluation) -> CheckResult:
    track = get_track(ev.track)
    want, want_text = track.returned_kind, track.returned_text
    name = type_check_name(ev)
    failed = []
    first: Localisable | str = ""
    for case in ev.cases:
        returned = ev.returned(case.name)
        if returned is None:
            continue
        problem: Localisable | str = ""
        if returned.structure_error:
            problem = returned.structure_error
        else:
            for output in ev.spec.outputs:
                kind = returned.types.get(output, "missing")
                if kind == want:
                    continue
                if kind in track.type_advice:
                    problem = msg("output.reason", output=output,
                                  reason=msg(f"advice.{track.name}.{kind}"))
                else:
                    shown = kind.split(":", 1)[-1]
                    problem = msg("type.wrong-kind", output=output, shown=shown, want=want_text)
                break
        if problem:
            failed.append(case.name)
            if not first:
                first = problem
    if not failed:
        return CheckResult(name, True, kind="type")
    return CheckResult(name, False, first, kind="type", failed_cases=failed)


def check_shapes(ev: Evaluation) -> CheckResult:
    name = msg("check.shape")
    failed = []
    first: Localisable | str = ""
    for case in ev.cases:
        for output in ev.compared_outputs():
            got = learner_array(ev, case.name, output)
            expected = reference_array(ev, case.name, output)
            if got is None or expected is None or got.shape == expected.shape:
                continue
            if case.name not in failed:
                failed.append(case.name)
            if not first:
                input_shapes = ", ".join(
                    f"{k} {describe_shape(v)}" for k, v in case.inputs.items()
                )
                first = msg("shape.wrong", case=case.name, inputs=input_shapes,
                            output=shown_output(output), got=_fmt_shape(got.shape),
                            expected=explain_shape(expected.shape, ev.output_names(output)))
    if not failed:
        return CheckResult(name, True, kind="shape")
    return CheckResult(name, False, first, kind="shape", failed_cases=failed)


def check_dtypes(ev: Evaluation) -> CheckResult:
    name = msg("check.dtype")
    seen: set[str] = set()
    for case in ev.cases:
        for output in ev.compared_outputs():
            got = learner_array(ev, case.name, output)
            if got is None:
                unreadable = unreadable_output(ev, case.name, output)
                if unreadable:
                    return CheckResult(
                        name, False, msg("case.reason", case=case.name, reason=unreadable),
                        kind="dtype", failed_cases=[case.name])
                continue
            seen.add(dtype_of(got))
            if dtype_of(got) not in FLOAT_DTYPES:
                return CheckResult(
                    name, False,
                    msg("dtype.not-float", case=case.name, output=output, dtype=dtype_of(got)),
                    kind="dtype", failed_cases=[case.name],
                )
    message: Localisable | str = ""
    track = get_track(ev.track)
    other = sorted(seen - {track.result_dtype})
    if other:
        judged = "float32" if "float32" in {track.tolerance_dtype(d) for d in other} \
            else "float64"
        message = msg("dtype.judged", dtypes=", ".join(other), judged=judged)
    return CheckResult(name, True, message, kind="dtype")


def unreadable_output(ev: Evaluation, case: str, output: str) -> Message | str:
    """Why an output that came back as an array or tensor has no numbers to grade, or "" (it
    was not returned at all, or is not an array: the type check says so)."""
    returned = ev.returned(case)
    if returned is None:
        return ""
    types = returned.types
    base = output.split("@")[0]
    dtype = types.get(f"dtype:{output}") or types.get(f"dtype:{base}", "")
    shown = shown_output(output)
    want = get_track(ev.track).result_dtype_text
    if dtype == "bfloat16":
        return msg("unreadable.bfloat16", output=shown, want=want)
    if dtype:
        return msg("unreadable.dtype", output=shown, dtype=dtype, want=want)
    if types.get(base) in ("ndarray", "tensor"):
        return msg("unreadable.not-numeric", output=shown, want=want)
    return ""


@dataclass
class CaseVerdict:
    ok: bool
    reason: str = ""  # error | missing | shape | mismatch
    comparison: Comparison | None = None
    output: str = ""


def judge_case(ev: Evaluation, case: ConcreteCase, outputs: list[str]) -> CaseVerdict:
    """Learner vs reference on one case (fully masked rows ignored)."""
    returned = ev.returned(case.name)
    if returned is None:
        return CaseVerdict(False, "error")
    for output in outputs:
        expected = reference_array(ev, case.name, output)
        if expected is None:
            continue
        got = returned.arrays.get(output)
        if got is None:
            return CaseVerdict(False, "missing", output=output)
        if got.shape != expected.shape:
            return CaseVerdict(False, "shape", output=output)
        rtol, atol = tolerance(ev, got)
        comparison = compare_arrays(
            got, expected, rtol=rtol, atol=atol, dtype=tolerance_label(ev, got), case=case.name,
            output=output, ignore=ignored_rows(case, expected.shape),
        )
        if not comparison.ok:
            return CaseVerdict(False, "mismatch", comparison, output)
    return CaseVerdict(True)


def _heatmap_for(ev: Evaluation, cases: list[ConcreteCase]) -> Heatmap | None:
    """Learner vs reference weights of the (case, batch element) where they differ most, so
    the two drawings show the difference (a slice that happens to agree would look identical);
    the smaller table wins a tie."""
    if ev.spec.weights_output is not None:
        output = ev.spec.weights_output
    elif "sums-to-one" in ev.spec.properties and len(ev.spec.outputs) == 1:
        output = ev.spec.outputs[0]  # the output is itself a probability table (softmax)
    else:
        return None
    if len([n for n in ev.output_names(output) if not n.startswith("...")]) < 2:
        return None  # one weight per key (additive attention): no (n, m) table to draw
    best: tuple[float, int, Heatmap] | None = None
    for case in cases:
        got = learner_array(ev, case.name, output)
        expected = reference_array(ev, case.name, output)
        if got is None or expected is None or got.shape != expected.shape or got.ndim < 2:
            continue
        n, m = expected.shape[-2:]
        if n > HEATMAP_MAX or m > HEATMAP_MAX:
            continue
        try:
            mine = np.asarray(got, dtype=float).reshape(-1, n, m)
        except (TypeError, ValueError):
            continue
        theirs = np.asarray(expected, dtype=float).reshape(-1, n, m)
        for index in range(mine.shape[0]):
            diff = np.abs(mine[index] - theirs[index])
            worst = float("inf") if not np.isfinite(diff).all() else float(diff.max())
            if best is None or (worst, -n * m) > (best[0], -best[1]):
                best = (worst, n * m, Heatmap(case.name, mine[index].tolist(),
                                              theirs[index].tolist()))
    return None if best is None else best[2]


def _match_check(ev: Evaluation, name: Localisable | str, kind: str,
                 cases: list[ConcreteCase]) -> CheckResult:
    outputs = ev.compared_outputs()
    failed: list[ConcreteCase] = []
    first: CaseVerdict | None = None
    first_case = ""
    for case in cases:
        verdict = judge_case(ev, case, outputs)
        if not verdict.ok:
            failed.append(case)
            if first is None or (first.reason != "mismatch" and verdict.reason == "mismatch"):
                first, first_case = verdict, case.name
    if not failed:
        return CheckResult(name, True, kind=kind)
    assert first is not None
    if first.reason == "mismatch" and first.comparison and first.comparison.table:
        table = first.comparison.table
        message: Localisable = msg("case.output.reason", case=first_case,
                                   output=shown_output(first.output),
                                   reason=table.summary_message())
        if table.nan_count or table.inf_count:
            message += msg("match.nonfinite", nan=table.nan_count, inf=table.inf_count)
    elif first.reason == "shape":
        message = msg("match.wrong-shape", case=first_case)
    elif first.reason == "missing":
        reason = unreadable_output(ev, first_case, first.output) or msg(
            "match.unreadable", output=shown_output(first.output))
        message = msg("case.reason", case=first_case, reason=reason)
    else:
        outcome = ev.outcomes.get(first_case)
        error = outcome.error if outcome is not None and outcome.error else ev.fatal
        reason = error_text(error, ev.timeout_s) if error is not None else msg(
            "match.no-result")
        message = msg("case.reason", case=first_case, reason=reason)
    if len(failed) > 1:
        message += msg("match.count", failed=len(failed), total=len(cases))
    return CheckResult(
        name, False, message, kind=kind,
        mismatch=first.comparison.table if first.comparison else None,
        heatmap=_heatmap_for(ev, failed),
        failed_cases=[c.name for c in failed],
    )


def run_checks(ev: Evaluation, lang: str | None = "en") -> list[CheckResult]:
    """Every check line of a grade, in display order, as message ids and parameters (written
    in `lang` unless it is None: then the report renders them). The learner's numbers may be
    anything (complex, inf, nan): numpy's warnings about them are ours to silence."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        checks = _run_checks(ev)
    if lang is not None:
        for check in checks:
            check.localise(lang)
    return checks


def _run_checks(ev: Evaluation) -> list[CheckResult]:
    checks = [check_defines(ev)]
    # An incompatible signature still runs (its TypeErrors are worth seeing); a file that
    # could not be loaded cannot.
    loaded = ev.fatal is None or getattr(ev.fatal, "kind", "") not in LOAD_ERRORS
    basic = [
        (check_runs, msg("check.runs"), "runs"),
        (check_types, type_check_name(ev), "type"),
        (check_shapes, msg("check.shape"), "shape"),
        (check_dtypes, msg("check.dtype"), "dtype"),
    ]
    for func, label, kind in basic:
        checks.append(func(ev) if loaded else _not_run(label, kind))
    plain = plain_cases(ev)
    fixed = [c for c in plain if not c.is_random]
    random_cases = [c for c in plain if c.is_random]
    groups = [
        (fixed, msg("check.match.fixed"), "match:fixed"),
        (random_cases, msg("check.match.random", seed=ev.seed), "match:random"),
    ]
    for cases, label, kind in groups:
        if cases:
            checks.append(_match_check(ev, label, kind, cases) if loaded
                          else _not_run(label, kind))
    for prop_id in ev.spec.properties:
        prop = PROPERTIES[prop_id]
        result = prop.check(ev)
        if result is None:
            continue
        checks.append(result if loaded else _not_run(prop.label(ev), f"property:{prop_id}"))
    if loaded:
        _fail_where_not_evaluated(ev, checks)
    if loaded and not any(o.returned is not None for o in ev.outcomes.values()):
        # Checks that look only at returned values would pass vacuously.
        for check in checks:
            if check.passed and check.kind not in ("defines",):
                check.passed = False
                check.not_run = True
                check.message = msg("check.not-run.no-result")
    from attn_drill.grading.forbidden import check_forbidden

    forbidden = check_forbidden(ev, ev.source)
    if forbidden is not None:
        checks.insert(1, forbidden)  # right after `defines`: the first thing to fix
    return checks


# Checks that judge only what came back: a case that raised gives them nothing to look at.
EVALUATED_ON_RETURNS = ("type", "shape", "dtype", "property:no-mutation",
                        "property:sums-to-one")


def _fail_where_not_evaluated(ev: Evaluation, checks: list[CheckResult]) -> None:
    """CONTRACT: a check that could not be evaluated on a case (the submission raised there)
    counts as failed, so a function that crashes on most cases cannot collect the checks of
    the few it survives. The message says why, and `not_run` keeps it out of diagnoses."""
    unevaluated = [c.name for c in ev.base_cases if ev.returned(c.name) is None]
    if not unevaluated or len(unevaluated) == len(ev.base_cases):
        return  # none, or all: the caller's "no case returned a result" covers that
    for check in checks:
        if check.kind in EVALUATED_ON_RETURNS and check.passed:
            check.passed = False
            check.not_run = True
            check.failed_cases = list(unevaluated)
            count = len(unevaluated)
            check.message = msg("check.not-run.raised", count=count,
                                plural="s" if count > 1 else "", first=unevaluated[0])
