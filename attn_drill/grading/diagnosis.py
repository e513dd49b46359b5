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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from attn_drill.grading.checks import (
    LOAD_ERRORS,
    Evaluation,
    call_trusted,
    ignored_rows,
    load_trusted_module,
    tolerance,
    tr,
)
from attn_drill.grading.compare import allclose
from attn_drill.grading.properties import failed_check, property_findings, tagged_properties
from attn_drill.grading.report import CheckResult, Diagnosis
from attn_drill.messages import join, text_of

if TYPE_CHECKING:
    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.grading.harness import Returned
    from attn_drill.problems import Problem

MUTANT_SLACK = 10.0  # a learner's version of a bug may round differently from ours


@dataclass
class Finding:
    id: str
    evidence: str = ""
    source: str = ""  # "mutant:<name>", "property:<name>", "pattern:<name>"


@dataclass
class Findings:
    items: list[Finding] = field(default_factory=list)

    def add(self, misconception: str, evidence: str = "", source: str = "") -> None:
        if all(f.id != misconception for f in self.items):
            self.items.append(Finding(misconception, evidence, source))

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


def pattern_findings(ev: Evaluation, checks: list[CheckResult], findings: Findings,
                     lang: str) -> None:
    numeric = [c for c in checks if not c.passed and (c.kind.startswith("match:") or c.kind in
               {f"property:{p.id}" for p in tagged_properties()})]
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
                findings.add("swapped-outputs", tr(
                    lang, "your first value is the weights and your second is the output",
                    "你返回的第一个值是权重，第二个才是输出"), "pattern:swapped")
            elif out_is_w:
                findings.add("returns-weights", tr(
                    lang, "your `output` equals the attention weights (multiply them by V)",
                    "你的 `output` 就是注意力权重（还需要乘以 V）"), "pattern:weights")
        for output in ev.spec.outputs:
            mine, theirs = got.get(output), ref.get(output)
            if mine is None or theirs is None:
                continue
            _numeric_patterns(ev, case, output, mine, theirs, findings, numeric, lang)


def _close(ev: Evaluation, got: np.ndarray | None, expected: np.ndarray | None) -> bool:
    if got is None or expected is None or got.shape != expected.shape:
        return False
    rtol, atol = tolerance(ev, got)
    return allclose(got, expected, rtol, atol)


def _note(checks: list[CheckResult], case: str, text: str) -> None:
    for check in checks:
        if case in check.failed_cases and text not in check.details:
            check.details.append(text)


def _numeric_patterns(ev: Evaluation, case: ConcreteCase, output: str, mine: np.ndarray,
                      theirs: np.ndarray, findings: Findings, numeric: list[CheckResult],
                      lang: str) -> None:
    rtol, atol = tolerance(ev, mine)
    if mine.shape == theirs.shape and not allclose(mine, theirs, rtol, atol):
        for digits in range(0, 7):
            if allclose(mine, np.round(theirs, digits), 0.0, 1e-12 + atol):
                findings.add("rounded-output", tr(
                    lang, f"`{output}` equals the reference rounded to {digits} decimals",
                    f"`{output}` 等于参考结果四舍五入到 {digits} 位小数"), "pattern:rounded")
                return
        finite = np.isfinite(theirs) & (np.abs(theirs) > 1e-6) & np.isfinite(mine)
        if finite.sum() >= 2:
            ratio = float(np.median(mine[finite] / theirs[finite]))
            if ratio != 0 and allclose(mine, theirs * ratio, rtol * 10, atol * 10):
                for label, value in _scale_dims(case).items():
                    if abs(ratio - value) <= 1e-3 * abs(value):
                        _note(numeric, case.name, tr(
                            lang, f"`{output}` is the right answer times {label} "
                            f"(= {value:.4g}): check where you scale",
                            f"`{output}` 等于正确结果乘以 {label}（= {value:.4g}）："
                            "检查缩放的位置"))
                        return
                _note(numeric, case.name, tr(
                    lang, f"`{output}` is the right answer times a constant {ratio:.4g}",
                    f"`{output}` 等于正确结果乘以常数 {ratio:.4g}"))
                return
    if mine.ndim >= 2 and theirs.ndim >= 2 and mine.shape == np.swapaxes(
            theirs, -1, -2).shape and allclose(
            mine, np.swapaxes(theirs, -1, -2), rtol, atol):
        _note(numeric, case.name, tr(
            lang, f"`{output}` is the right answer with its last two axes swapped",
            f"`{output}` 是正确结果交换了最后两个轴"))


# -- the whole diagnosis --------------------------------------------------------------------


def hint_pointer(problem_id: str, hint: int | None, lang: str) -> str:
    if hint is None:
        return ""
    return tr(lang, f" Hint {hint} covers this (`attn-drill hint {problem_id}`).",
              f"第 {hint} 条提示讲的就是这个（`attn-drill hint {problem_id}`）。")


def to_diagnoses(ev: Evaluation, findings: Findings, lang: str) -> list[Diagnosis]:
    diagnoses = []
    for finding in findings.items:
        known = ev.problem.misconception(finding.id)
        if known is None:
            continue
        message = known.explanation.get(lang).strip()
        if finding.evidence:
            evidence = text_of(finding.evidence, lang)
            message += tr(lang, f" Evidence: {evidence}.", f"依据：{evidence}。")
        message += hint_pointer(ev.problem.id, known.hint, lang)
        diagnoses.append(Diagnosis(id=finding.id, message=message, title=known.title.get(lang),
                                   hint=known.hint, source=finding.source))
    return diagnoses


def collect_findings(ev: Evaluation, checks: list[CheckResult], lang: str = "en") -> Findings:
    findings = Findings()
    if all(c.passed for c in checks if c.required):
        return findings
    forbidden = failed_check(checks, "forbidden")
    if forbidden is not None:
        findings.add("uses-builtin", join(forbidden.details, "; "), "forbidden")
    if ev.fatal is not None and getattr(ev.fatal, "kind", "") in LOAD_ERRORS:
        return findings
    numeric_failed = any(
        not c.passed and c.kind not in ("defines", "property:no-mutation") for c in checks
    )
    if numeric_failed:
        for name, misconception in match_mutants(ev):
            findings.add(misconception, tr(
                lang, "your outputs reproduce this mistake on every case where it gives a "
                "result of the right shape",
                "凡是这个错误能给出正确形状结果的用例，你的输出都与它一致"), f"mutant:{name}")
    property_findings(ev, checks, findings)
    if numeric_failed:
        pattern_findings(ev, checks, findings, lang)
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
