"""Naming the misconception behind a failed grade.

Three sources of evidence, all computed in the parent (trusted code only):
1. mutants: the problem's known-wrong variants run on the *same inputs* the learner saw; a
   mutant whose outputs the learner reproduces on every case names the misconception;
2. failed properties: mutated inputs, batch dimensions, masks, the future, gradients, NaN;
3. cheap patterns without mutants: output equals the weights, outputs swapped, rounded output,
   a transposed output, an output off by a constant factor such as sqrt(d_k).

Only ids listed in the problem's YAML `misconceptions` are reported (validate checks that each
mutant's id is there); observations without an id go into the failing check's details.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from attn_drill.grading.checks import (
    LOAD_ERRORS,
    Evaluation,
    call_trusted,
    ignored_rows,
    learner_array,
    load_trusted_module,
    reference_array,
    tolerance,
)
from attn_drill.grading.compare import allclose
from attn_drill.grading.properties import failed_check, property_findings, tagged_properties
from attn_drill.grading.report import CheckResult, Diagnosis
from attn_drill.messages import Localisable, join, msg, params_json, text_of

if TYPE_CHECKING:
    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.grading.harness import Returned
    from attn_drill.problems import Problem

MUTANT_SLACK = 10.0  # a learner's version of a bug may round differently from ours


@dataclass
class Finding:
    id: str
    evidence: str | Localisable = ""
    source: str = ""  # "mutant:<name>", "property:<name>", "pattern:<name>"
    message_id: str = ""  # the evidence's catalog id when the evidence is already text


@dataclass
class Findings:
    items: list[Finding] = field(default_factory=list)

    def add(self, misconception: str, evidence: str | Localisable = "",
            source: str = "", message_id: str = "") -> None:
        """`message_id`: the catalog id of `evidence` when it is a check's message already
        written in the report's language."""
        if all(f.id != misconception for f in self.items):
            self.items.append(Finding(misconception, evidence, source, message_id))

    @property
    def ids(self) -> list[str]:
        return [f.id for f in self.items]


# -- mutants -------------------------------------------------------------------------------


def _graded_keys(ev: Evaluation, *returned: Returned | None) -> list[str]:
    keys = list(ev.compared_outputs())
    for item in returned:
        if item is not None:
            keys += [k for k in item.arrays if k.startswith("grad:") and k not in keys]
    return keys


def same_outputs(ev: Evaluation, case: ConcreteCase, a: Returned, b: Returned,
                 rtol: float | None = None, atol: float | None = None,
                 slack: float = 1.0) -> bool:
    """Every graded output of `a` matches `b` (missing in both counts as equal)."""
    for key in _graded_keys(ev, a, b):
        x, y = a.arrays.get(key), b.arrays.get(key)
        if x is None and y is None:
            continue
        if x is None or y is None or x.shape != y.shape:
            return False
        r, t = tolerance(ev, x) if rtol is None or atol is None else (rtol, atol)
        if not allclose(x, y, r * slack, t * slack, ignored_rows(case, y.shape)):
            return False
    return True


def mutant_targets(problem: Problem, track: str) -> list[tuple[str, str, Any]]:
    """(name, misconception, callable) for every mutant of the track that can be loaded."""
    spec = problem.tracks[track]
    if not spec.mutants:
        return []
    path = problem.mutants_path(track)
    if not path.is_file():
        return []
    module = load_trusted_module(path, f"_attn_drill_mut_{problem.module_stem}_{track}")
    found = []
    for mutant in spec.mutants:
        target = getattr(module, mutant.name, None)
        if target is not None:
            found.append((mutant.name, mutant.misconception, target))
    return found


def mutant_outputs(ev: Evaluation, target: Any) -> dict[str, Returned | None]:
    """The mutant's outputs on every graded case (None where it raised)."""
    results: dict[str, Returned | None] = {}
    for case in ev.base_cases:
        try:
            results[case.name] = call_trusted(target, ev.spec, case, ev.track)
        except Exception:  # a mutant failing on a case is evidence, not an error of ours
            results[case.name] = None
    return results


def learner_matches_mutant(ev: Evaluation, outputs: dict[str, Returned | None]) -> bool:
    """The learner reproduces the mutant wherever the learner returned something, and on at
    least one case where the mutant is wrong (a raise where the mutant raises counts too).

    Neutral cases: where only the learner raised (a second bug elsewhere must not hide the one
    the mutant pins down), and where the mutant raised or gave a wrong shape while the learner
    is right (the bug cannot give numbers on those inputs, e.g. mismatched lengths)."""
    learner_values = 0
    informative = 0
    for case in ev.base_cases:
        mutant = outputs.get(case.name)
        outcome = ev.outcomes.get(case.name)
        learner = outcome.returned if outcome is not None else None
        if learner is None:
            error_kind = getattr(getattr(outcome, "error", None), "kind", "")
            if mutant is None and error_kind == "exception":
                informative += 1
            continue
        reference = ev.references.get(case.name)
        if (mutant is None or not _same_shapes(ev, mutant, reference)) and \
                reference is not None and same_outputs(ev, case, learner, reference):
            continue  # the mutant's bug cannot run here and the learner got it right: neutral
        if mutant is None or not same_outputs(ev, case, learner, mutant, slack=MUTANT_SLACK):
            return False
        learner_values += 1
        if reference is None or not same_outputs(ev, case, mutant, reference, rtol=1e-9,
                                                 atol=1e-11):
            informative += 1
    return learner_values > 0 and informative > 0


def _same_shapes(ev: Evaluation, a: Returned, b: Returned | None) -> bool:
    if b is None:
        return True
    for key in ev.compared_outputs():
        x, y = a.arrays.get(key), b.arrays.get(key)
        if x is not None and y is not None and x.shape != y.shape:
            return False
    return True


def match_mutants(ev: Evaluation) -> list[tuple[str, str]]:
    """(mutant name, misconception) of every mutant the learner's outputs reproduce."""
    matched = []
    for name, misconception, target in mutant_targets(ev.problem, ev.track):
        if name not in ev.mutant_cache:
            ev.mutant_cache[name] = mutant_outputs(ev, target)
        if learner_matches_mutant(ev, ev.mutant_cache[name]):
            matched.append((name, misconception))
    return matched


def _property_case(case: ConcreteCase) -> bool:
    """A case graded by a property (mask, stability, batch axes): a second, independent bug
    shows up there first."""
    return bool({p.tag for p in tagged_properties()} & set(case.tags))


def learner_matches_mutant_on_plain_cases(ev: Evaluation,
                                          outputs: dict[str, Returned | None]) -> bool:
    """The learner reproduces the mutant on every plain case (no mask, no huge scores, no
    batch axes) where it returned something, and the mutant is wrong on at least one of them:
    the mutant's bug is there, and the property cases that still differ hold another one."""
    informative = 0
    for case in ev.base_cases:
        if _property_case(case):
            continue
        learner = ev.returned(case.name)
        if learner is None:
            continue
        mutant = outputs.get(case.name)
        reference = ev.references.get(case.name)
        if mutant is None or not same_outputs(ev, case, learner, mutant, slack=MUTANT_SLACK):
            return False
        if reference is not None and not same_outputs(ev, case, mutant, reference, rtol=1e-9,
                                                      atol=1e-11):
            informative += 1
    return informative > 0


def match_mutants_on_plain_cases(ev: Evaluation, exclude: set[str]) -> list[tuple[str, str]]:
    """Mutants the learner reproduces on the plain cases only (two bugs in one file)."""
    matched = []
    for name, misconception, _target in mutant_targets(ev.problem, ev.track):
        if misconception in exclude or name not in ev.mutant_cache:
            continue
        if learner_matches_mutant_on_plain_cases(ev, ev.mutant_cache[name]):
            matched.append((name, misconception))
    return matched


# -- what properties read from mutants (grading.properties holds the properties) -----------


def _reproduces_mutant_of(ev: Evaluation, misconception: str, case_names: list[str]) -> bool:
    """The learner matches the problem's mutant for `misconception` on each named case."""
    for name, tagged, target in mutant_targets(ev.problem, ev.track):
        if tagged != misconception:
            continue
        if name not in ev.mutant_cache:
            ev.mutant_cache[name] = mutant_outputs(ev, target)
        outputs = ev.mutant_cache[name]
        matched = True
        for case_name in case_names:
            mutant = outputs.get(case_name)
            learner = ev.returned(case_name)
            if mutant is None or learner is None or not same_outputs(
                    ev, ev.case(case_name), learner, mutant, slack=MUTANT_SLACK):
                matched = False
                break
        if matched:
            return True
    return False


# -- cheap patterns ------------------------------------------------------------------------


def _scale_dims(case: ConcreteCase) -> dict[str, float]:
    factors: dict[str, float] = {}
    for name in ("d_k", "d_head", "d"):
        if name in case.dims:
            d = float(case.dims[name])
            factors.update({f"√{name}": math.sqrt(d), name: d,
                            f"1/√{name}": 1 / math.sqrt(d), f"1/{name}": 1 / d})
            break
    return factors


def pattern_findings(ev: Evaluation, checks: list[CheckResult], findings: Findings) -> None:
    numeric = [c for c in checks if not c.passed and (c.kind.startswith("match:") or c.kind in
               {f"property:{p.id}" for p in tagged_properties()})]
    for check in numeric:
        _rows_that_differ(ev, check)
    seen_cases = [name for c in numeric for name in c.failed_cases]
    for name in seen_cases[:3]:
        case = ev.case(name)
        returned = ev.returned(name)
        if returned is None:
            continue
        got = returned.arrays
        ref = ev.references[name].arrays
        if {"output", "weights"} <= set(ev.spec.outputs):
            out_is_w = _close(ev, got.get("output"), ref.get("weights"))
            w_is_out = _close(ev, got.get("weights"), ref.get("output"))
            if out_is_w and w_is_out:
                findings.add("swapped-outputs", msg("pattern.swapped-outputs"),
                             "pattern:swapped")
            elif out_is_w:
                findings.add("returns-weights", msg("pattern.returns-weights"),
                             "pattern:weights")
        for output in ev.spec.outputs:
            mine, theirs = got.get(output), ref.get(output)
            if mine is None or theirs is None:
                continue
            _numeric_patterns(ev, case, output, mine, theirs, findings, numeric)


def _close(ev: Evaluation, got: np.ndarray | None, expected: np.ndarray | None) -> bool:
    if got is None or expected is None or got.shape != expected.shape:
        return False
    rtol, atol = tolerance(ev, got)
    return allclose(got, expected, rtol, atol)


def _add_detail(check: CheckResult, note: Localisable) -> None:
    """Add `note` unless the check already says the same words (two cases may give numbers
    that differ only beyond the digits shown)."""
    shown = text_of(note, "en")
    if all(text_of(detail, "en") != shown for detail in check.details):
        check.details.append(note)


def _note(checks: list[CheckResult], case: str, note: Localisable) -> None:
    for check in checks:
        if case in check.failed_cases:
            _add_detail(check, note)


def _numeric_patterns(ev: Evaluation, case: ConcreteCase, output: str, mine: np.ndarray,
                      theirs: np.ndarray, findings: Findings, numeric: list[CheckResult]) -> None:
    rtol, atol = tolerance(ev, mine)
    if mine.shape == theirs.shape and not allclose(mine, theirs, rtol, atol):
        for digits in range(0, 7):
            if allclose(mine, np.round(theirs, digits), 0.0, 1e-12 + atol):
                findings.add("rounded-output", msg("pattern.rounded", output=output,
                                                   digits=digits), "pattern:rounded")
                return
        finite = np.isfinite(theirs) & (np.abs(theirs) > 1e-6) & np.isfinite(mine)
        if finite.sum() >= 2:
            ratio = float(np.median(mine[finite] / theirs[finite]))
            if ratio != 0 and allclose(mine, theirs * ratio, rtol * 10, atol * 10):
                for label, value in _scale_dims(case).items():
                    if abs(ratio - value) <= 1e-3 * abs(value):
                        _note(numeric, case.name, msg(
                            "pattern.scaled-by-dimension", output=output, label=label,
                            value=value))
                        return
                _note(numeric, case.name, msg("pattern.scaled-by-constant", output=output,
                                              ratio=ratio))
                return
    if mine.ndim >= 2 and theirs.ndim >= 2 and mine.shape == np.swapaxes(
            theirs, -1, -2).shape and allclose(
            mine, np.swapaxes(theirs, -1, -2), rtol, atol):
        _note(numeric, case.name, msg("pattern.transposed", output=output))


# -- partial evidence: crashes, normalisation axes, rows, the causal diagonal -------------


_BROADCAST = re.compile(r"could not be broadcast together with (?:remapped )?shapes"
                        r"((?:\s*\[?\([0-9, ]*\)\]?)+)")
_SHAPE = re.compile(r"\(([0-9, ]*)\)")


def _shapes_in(message: str) -> list[tuple[int, ...]]:
    found = _BROADCAST.search(message)
    if found is None:
        return []
    return [tuple(int(d) for d in part.replace(" ", "").split(",") if d)
            for part in _SHAPE.findall(found.group(1))]


def _dropped_axis(full: tuple[int, ...], reduced: tuple[int, ...]) -> int | None:
    """The axis of `full` that `reduced` lacks (a reduction without keepdims), or None."""
    if len(reduced) != len(full) - 1:
        return None
    for axis in range(len(full) - 1, -1, -1):
        if full[:axis] + full[axis + 1:] == reduced:
            return axis - len(full)
    return None


_REDUCTION = re.compile(r"\b(a?max|sum|nansum|nanmax|logsumexp|mean)\s*\(")


def _raised_on_a_reduction(traceback: str) -> bool | None:
    """Whether the learner's line that raised reduces an array (None: no traceback)."""
    lines = [line.strip() for line in traceback.splitlines()]
    code = [line for line in lines if line and not line.startswith(("File ", "Traceback"))
            and not set(line) <= set("^~ ") and ":" not in line.split("(")[0]]
    if not code:
        return None
    return bool(_REDUCTION.search(code[-1]))


def error_findings(ev: Evaluation, findings: Findings) -> None:
    """What the learner's own exceptions say: a broadcasting error between an array and the
    same array with one axis reduced away is a max or sum taken without keepdims=True."""
    for case in ev.base_cases:
        outcome = ev.outcomes.get(case.name)
        error = getattr(outcome, "error", None)
        if error is None or getattr(error, "kind", "") != "exception":
            continue
        shapes = _shapes_in(str(getattr(error, "message", "")))
        reduces = _raised_on_a_reduction(str(getattr(error, "traceback", "") or ""))
        for full in shapes:
            for reduced in shapes:
                axis = _dropped_axis(full, reduced)
                # A mask or head axis missing elsewhere gives such shapes too: only a line that
                # reduces (max, sum) or, without a traceback, the last axis says keepdims.
                if axis is None or not (reduces or (reduces is None and axis == -1)):
                    continue
                shown = [f"({', '.join(map(str, s))}{',' if len(s) == 1 else ''})"
                         for s in (full, reduced)]
                findings.add("missing-keepdims", msg(
                    "keepdims.broadcast", case=case.name, full=shown[0], reduced=shown[1],
                    axis=axis), "error:broadcast")
                return


def _softmax_input(ev: Evaluation, case: ConcreteCase) -> np.ndarray | None:
    """The scores of a softmax-like problem (one array in, one probability table out)."""
    arrays = [v for v in case.inputs.values()
              if isinstance(v, np.ndarray) and v.dtype != bool]
    if len(ev.spec.outputs) != 1 or "sums-to-one" not in ev.spec.properties or \
            len(arrays) != 1:
        return None
    return np.asarray(arrays[0], dtype=np.float64)


def _axis_words(axis: str) -> Localisable:
    if axis == "all":
        return msg("axis.whole-array")
    if axis == "arg":
        return msg("axis.argument")
    return msg("axis.fixed", axis=axis)


def _axis_labels(axis: int | None, wanted: int, ndim: int) -> set[str]:
    """The ways a learner may have written `axis`: the argument, a fixed non-negative axis,
    a fixed negative one, or none at all."""
    if axis is None:
        return {"all"}
    labels = {str(axis % ndim), str(axis % ndim - ndim)}
    if axis % ndim == wanted % ndim:
        labels.add("arg")
    return labels


def _candidate_softmax(x: np.ndarray, max_axis: int | None, sum_axis: int | None
                       ) -> np.ndarray:
    keep = x.ndim > 0
    shifted = x - np.max(x, axis=max_axis, keepdims=keep)
    exps = np.exp(shifted)
    return exps / np.sum(exps, axis=sum_axis, keepdims=keep)


def axis_findings(ev: Evaluation, checks: list[CheckResult], findings: Findings) -> None:
    """Which axis the learner normalised over. For a softmax: find the axes of the max and of
    the sum that reproduce the learner's output on every case (two different axes is its own
    mistake). For attention weights: the axis along which they sum to 1."""
    if any(f.id in ("softmax-wrong-axis", "global-normalisation", "max-sum-axes-differ")
           for f in findings.items):
        return
    usable = [c for c in ev.base_cases if ev.returned(c.name) is not None
              and "stability" not in c.tags]
    if not usable:
        return
    if _softmax_input(ev, usable[0]) is not None:
        _softmax_axes(ev, usable, findings)
    elif "weights" in ev.spec.outputs:
        _weights_axis(ev, usable, findings)


def _softmax_axes(ev: Evaluation, cases: list[ConcreteCase], findings: Findings) -> None:
    output = ev.spec.outputs[0]
    # (max axis, sum axis) as the learner may have written them (see _axis_labels); the
    # same pair must explain every case, whatever its rank and `axis`.
    pairs: set[tuple[str, str]] | None = None
    informative = False
    for case in cases:
        x = _softmax_input(ev, case)
        got = learner_array(ev, case.name, output)
        expected = reference_array(ev, case.name, output)
        if x is None or got is None or expected is None or got.shape != x.shape or x.ndim < 1:
            return
        rtol, atol = tolerance(ev, got)
        wanted = int(case.args.get("axis", -1))
        axes: list[int | None] = [*range(x.ndim), None]
        here: set[tuple[str, str]] = set()
        for max_axis in axes:
            for sum_axis in axes:
                candidate = _candidate_softmax(x, max_axis, sum_axis)
                if np.isfinite(candidate).all() and allclose(
                        got, candidate, rtol * MUTANT_SLACK, atol * MUTANT_SLACK):
                    here |= {(m, t) for m in _axis_labels(max_axis, wanted, x.ndim)
                             for t in _axis_labels(sum_axis, wanted, x.ndim)}
        pairs = here if pairs is None else pairs & here
        if not allclose(got, expected, rtol, atol):
            informative = True
        if not pairs:
            return
    if not pairs or not informative or ("arg", "arg") in pairs:
        return
    # A maximum that is constant along the summed axis (the same axis, or the whole array)
    # cancels out: then only the sum's axis matters.
    harmless = sorted(t for m, t in pairs if m in (t, "all"))
    differ = sorted((pair for pair in pairs if pair[0] != pair[1]),
                    key=lambda pair: ("arg" not in pair, pair))
    if differ and not harmless:
        max_axis, sum_axis = differ[0]
        if sum_axis == "all" and ev.problem.misconception("global-normalisation") is not None:
            findings.add("global-normalisation", msg(
                "softmax-axes.global", max_axis=_axis_words(max_axis)), "pattern:softmax-axes")
            return
        findings.add("max-sum-axes-differ", msg(
            "softmax-axes.differ", max_axis=_axis_words(max_axis),
            sum_axis=_axis_words(sum_axis)), "pattern:softmax-axes")
        return
    fixed = [t for t in harmless if t not in ("arg", "all")]
    if fixed and "arg" not in harmless:
        findings.add("softmax-wrong-axis", msg("softmax-axes.fixed", axis=fixed[0]),
                     "pattern:softmax-axes")


def _weights_axis(ev: Evaluation, cases: list[ConcreteCase], findings: Findings) -> None:
    """Attention weights that sum to 1 over the queries (axis -2) instead of the keys."""
    over_queries = 0
    for case in cases:
        got = learner_array(ev, case.name, "weights")
        expected = reference_array(ev, case.name, "weights")
        if got is None or expected is None or got.shape != expected.shape or got.ndim < 2:
            return
        if got.shape[-1] == got.shape[-2] or any(
                isinstance(v, np.ndarray) and v.dtype == bool for v in case.inputs.values()):
            continue  # square, or masked (a hidden column may be all zero): ambiguous
        with np.errstate(all="ignore"):
            by_keys = np.abs(got.sum(axis=-1) - 1.0) <= 1e-5
            by_queries = np.abs(got.sum(axis=-2) - 1.0) <= 1e-5
        if by_queries.all() and not by_keys.all():
            over_queries += 1
        else:
            return
    if over_queries:
        findings.add("softmax-wrong-axis", msg("weights-axis.queries"),
                     "pattern:weights-axis")


def _rows_that_differ(ev: Evaluation, check: CheckResult) -> None:
    """Name the query rows that differ when only some do (row 0 alone, the last rows...)."""
    table = check.mismatch
    if table is None or not table.case or table.case not in {c.name for c in ev.cases}:
        return
    got = learner_array(ev, table.case, table.output)
    expected = reference_array(ev, table.case, table.output)
    if got is None or expected is None or got.shape != expected.shape or got.ndim < 2:
        return
    rtol, atol = tolerance(ev, got)
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(got - expected) <= atol + rtol * np.abs(expected))
    rows = bad.reshape(-1, *bad.shape[-2:]).any(axis=(0, 2))
    count, total = int(rows.sum()), rows.size
    if 0 < count < total and count <= 6:
        listed = ", ".join(str(int(i)) for i in np.flatnonzero(rows))
        _add_detail(check, msg("pattern.rows-differ", plural="s" if count > 1 else "",
                               rows=listed, total=total))


def _causal_off_by_one(ev: Evaluation, findings: Findings) -> bool:
    """A causal mask shifted by one: the diagonal hidden (`triu(k=0)`: no position sees itself,
    and row 0 sees nothing), or the next position let through (`triu(k=2)`)."""
    if "causal-future" not in ev.spec.properties or "weights" not in ev.spec.outputs or \
            ev.problem.misconception("causal-off-by-one") is None:
        return False
    hidden, next_seen, looked = 0, 0, 0
    for case in ev.base_cases:
        got = learner_array(ev, case.name, "weights")
        expected = reference_array(ev, case.name, "weights")
        if got is None or expected is None or got.shape != expected.shape or got.ndim < 2 \
                or got.shape[-1] != got.shape[-2] or got.shape[-1] < 3:
            continue
        looked += 1
        n = got.shape[-1]
        with np.errstate(invalid="ignore"):
            # Rows 1.. (row 0 has nothing left when the diagonal is hidden): each position's
            # weight on itself, where the reference gives it a visible one.
            mine = np.diagonal(got, axis1=-2, axis2=-1)[..., 1:]
            theirs = np.diagonal(expected, axis1=-2, axis2=-1)[..., 1:]
            visible = theirs > 1e-3
            if visible.any() and (np.abs(np.nan_to_num(mine[visible], nan=1.0)) <= 1e-6).all():
                hidden += 1
                continue
            # Weight (NaN is no evidence) where the reference has none.
            leak = (np.nan_to_num(np.abs(got), nan=0.0) > 1e-12) & (expected == 0)
            next_one = np.eye(n, k=1, dtype=bool)
            rows_seeing_next = (leak & next_one).reshape(-1, n, n).any(axis=(0, 2)).sum()
            if leak.any() and not (leak & ~next_one).any() and rows_seeing_next >= (n - 1) / 2:
                next_seen += 1
            elif not leak.any():
                looked -= 1  # nothing shows through here (huge scores): no evidence either way
    if not looked:
        return False
    if hidden == looked:
        findings.add("causal-off-by-one", msg("causal.diagonal-hidden"),
                     "pattern:causal-diagonal")
        return True
    if next_seen and next_seen == looked:
        findings.add("causal-off-by-one", msg("causal.next-seen"),
                     "pattern:causal-diagonal")
        return True
    return False


# -- the whole diagnosis --------------------------------------------------------------------


def hint_pointer(problem_id: str, hint: int | None, lang: str) -> str:
    if hint is None:
        return ""
    return text_of(msg("diagnosis.hint", hint=hint, problem=problem_id), lang)


def to_diagnoses(ev: Evaluation, findings: Findings, lang: str) -> list[Diagnosis]:
    diagnoses = []
    for finding in findings.items:
        known = ev.problem.misconception(finding.id)
        if known is None:
            continue
        message = known.explanation.get(lang).strip()
        if finding.evidence:
            message += text_of(msg("diagnosis.evidence", evidence=finding.evidence), lang)
        message += hint_pointer(ev.problem.id, known.hint, lang)
        evidence = finding.evidence if isinstance(finding.evidence, Localisable) else None
        diagnoses.append(Diagnosis(
            id=finding.id, message=message, title=known.title.get(lang), hint=known.hint,
            source=finding.source,
            message_id=finding.message_id or (evidence.id if evidence is not None else ""),
            message_params=params_json(getattr(evidence, "params", None)
                                       or getattr(evidence, "parts", None))))
    return diagnoses


def collect_findings(ev: Evaluation, checks: list[CheckResult], lang: str = "en") -> Findings:
    findings = Findings()
    if all(c.passed for c in checks if c.required):
        return findings
    forbidden = failed_check(checks, "forbidden")
    if forbidden is not None:
        findings.add("uses-builtin", join(forbidden.details, "; "), "forbidden",
                     forbidden.message_id)
    if ev.fatal is not None and getattr(ev.fatal, "kind", "") in LOAD_ERRORS:
        return findings
    numeric_failed = any(
        not c.passed and c.kind not in ("defines", "property:no-mutation") for c in checks
    )
    error_findings(ev, findings)
    if numeric_failed:
        for name, misconception in match_mutants(ev):
            findings.add(misconception, msg("mutant.reproduced"), f"mutant:{name}")
        if not findings.items:
            for name, misconception in match_mutants_on_plain_cases(ev, set(findings.ids)):
                findings.add(misconception, msg("mutant.reproduced-on-plain-cases"),
                             f"partial:{name}")
        axis_findings(ev, checks, findings)
    property_findings(ev, checks, findings, lang)
    if numeric_failed:
        pattern_findings(ev, checks, findings)
    return findings


def diagnose(ev: Evaluation, checks: list[CheckResult], lang: str = "en") -> list[Diagnosis]:
    """Likely misconceptions of a failed grade (empty when none is recognised). numpy's
    warnings about the learner's numbers are silenced: they are not the learner's output."""
    import warnings

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        diagnoses = to_diagnoses(ev, collect_findings(ev, checks, lang), lang)
    for check in checks:
        if isinstance(check.name, str):  # already written in `lang`: so are its new details
            check.details = [text_of(d, lang) for d in check.details]
    return diagnoses
