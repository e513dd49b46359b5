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
    PROPERTY_TAGS,
    Evaluation,
    call_trusted,
    ignored_rows,
    learner_array,
    load_trusted_module,
    reference_array,
    tolerance,
    tr,
)
from attn_drill.grading.compare import allclose
from attn_drill.grading.report import CheckResult, Diagnosis

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


# -- properties ----------------------------------------------------------------------------


def _failed(checks: list[CheckResult], kind: str) -> CheckResult | None:
    """The failed check of that kind, unless it failed only for lack of anything to check."""
    return next((c for c in checks if c.kind == kind and not c.passed and not c.not_run), None)


def _with_mask(case: ConcreteCase, make: Any) -> ConcreteCase | None:
    import copy

    for key, value in case.inputs.items():
        if value.dtype == bool:
            changed = copy.copy(case)
            changed.inputs = {**case.inputs, key: make(value)}
            return changed
    return None


def _mask_findings(ev: Evaluation, check: CheckResult, findings: Findings, lang: str) -> None:
    from attn_drill.grading.checks import reference_target

    target = reference_target(ev.problem, ev.track)
    ignores, inverted = True, True
    rows_changed: list[str] = []
    compared = 0
    for name in _mask_evidence_cases(ev, check):
        case = ev.case(name)
        learner = ev.returned(name)
        if learner is None:
            return
        unmasked = _with_mask(case, lambda m: np.ones_like(m))
        flipped = _with_mask(case, lambda m: ~m)
        if unmasked is None or flipped is None:
            return
        compared += 1
        free = call_trusted(target, ev.spec, unmasked, ev.track)
        if not same_outputs(ev, case, learner, free, slack=MUTANT_SLACK):
            ignores = False
        with np.errstate(all="ignore"):
            inverse = call_trusted(target, ev.spec, flipped, ev.track)
        if not same_outputs(ev, flipped, learner, inverse, slack=MUTANT_SLACK):
            inverted = False
        output = ev.spec.outputs[0]
        got = learner_array(ev, name, output)
        expected = reference_array(ev, name, output)
        if got is not None and expected is not None and got.shape == expected.shape \
                and got.ndim >= 2 and len(rows_changed) < 6:
            rtol, atol = tolerance(ev, got)
            with np.errstate(invalid="ignore"):
                diff = ~(np.abs(got - expected) <= atol + rtol * np.abs(expected))
            bad_rows = np.argwhere(diff.any(axis=-1))[:6]
            rows_changed += [_row_label(name, row) for row in bad_rows]
    if not compared:
        return
    where = _group_rows(rows_changed[:6])
    if ignores:
        findings.add("ignores-mask", tr(
            lang, f"your output equals attention without the mask; rows that should differ: "
            f"{where}", f"你的输出与不加掩码时完全相同；本应不同的行：{where}"),
            "property:mask")
    elif inverted:
        findings.add("inverted-mask", tr(
            lang, "your output equals attention with the mask inverted (True must mean "
            "\"may attend\")", "你的输出与把掩码取反后的结果相同（True 表示“可以关注”）"),
            "property:mask")
    else:
        before = (len(findings.items), len(check.details))
        if "weights" in ev.spec.outputs:
            _weight_mask_patterns(ev, check, findings, lang)
        if (len(findings.items), len(check.details)) == before and where:
            check.details.append(tr(
                lang, f"with the mask, these rows differ from the reference: {where}. Check "
                "that the mask is applied as given to every query row and batch element (how "
                "it broadcasts), before the softmax.",
                f"加上掩码后，这些行与参考结果不同：{where}。请检查掩码是否按原样作用到每一个"
                "查询行和每一个批次元素（注意广播方式），并且在 softmax 之前。"))


def _mask_evidence_cases(ev: Evaluation, check: CheckResult) -> list[str]:
    """The failed mask cases to reason about: those with ordinary scores when there are any
    (a stability case with huge hidden scores says more about the softmax than the mask)."""
    ordinary = [n for n in check.failed_cases if "stability" not in ev.case(n).tags]
    return ordinary or list(check.failed_cases)


def _row_label(case: str, row: Any) -> str:
    """A query row of a case, kept apart from the case name for `_group_rows`."""
    return f"{case}\x00{tuple(int(i) for i in row)}"


def _group_rows(labels: list[str]) -> str:
    """Query rows per case, in order: 'case a' (0, 1), (1, 3); 'case b' (2,)."""
    grouped: dict[str, list[str]] = {}
    for label in labels:
        case, _, row = label.partition("\x00")
        grouped.setdefault(case, []).append(row)
    return "; ".join(f"'{case}' " + ", ".join(rows) for case, rows in grouped.items())


def _weight_mask_patterns(ev: Evaluation, check: CheckResult, findings: Findings,
                          lang: str) -> None:
    leaked: list[str] = []
    leak_rows: list[str] = []
    largest_leak = 0.0
    zero_but_short = 0
    for name in _mask_evidence_cases(ev, check):
        case = ev.case(name)
        weights = learner_array(ev, name, "weights")
        mask = next((v for v in case.inputs.values() if v.dtype == bool), None)
        if weights is None or mask is None:
            continue
        try:
            blocked = np.broadcast_to(~mask, weights.shape)
        except ValueError:
            continue
        with np.errstate(invalid="ignore"):
            leaking = blocked & (np.abs(weights) > 1e-6)  # NaN is not a leak
        if leaking.any():
            leaked.append(name)
            largest_leak = max(largest_leak, float(np.nanmax(np.abs(weights[leaking]))))
            for row in np.argwhere(leaking.any(axis=-1))[:6 - len(leak_rows)]:
                leak_rows.append(_row_label(name, row))
        else:
            sums = weights.sum(axis=-1)
            if (sums < 1 - 1e-4).any():
                zero_but_short += 1
    if leaked and _reproduces_mutant_of(ev, "mask-tiny-fill", leaked):
        findings.add("mask-tiny-fill", tr(
            lang, "masked positions get the weight a score of about 0 would get, as with a "
            f"fill like -1e-12; rows: {_group_rows(leak_rows)}",
            f"被掩码的位置得到的权重和分数约为 0 时一样，就像用 -1e-12 这类值填充；涉及的行："
            f"{_group_rows(leak_rows)}"), "property:mask")
    elif leaked:
        # Masked positions get weight, but not as a near-zero fill would give: a weak fill
        # (-10), a mask taken from the wrong row or batch element, a mask added to the scores...
        # Name the rows; claim no misconception.
        weak = largest_leak < 1e-2
        check.details.append(tr(
            lang, f"positions where the mask is False still get weight (up to "
            f"{largest_leak:.3g}) in rows: {_group_rows(leak_rows)}. "
            + ("That is what a fill value that is not negative enough gives: use -inf or -1e9."
               if weak else "Check that the mask is applied as given to every query row and "
               "batch element (how it broadcasts), before the softmax."),
            f"掩码为 False 的位置仍然得到了权重（最大 {largest_leak:.3g}），涉及的行："
            f"{_group_rows(leak_rows)}。"
            + ("填充值不够负时就会这样：请用 -inf 或 -1e9。" if weak else
               "请检查掩码是否按原样作用到每一个查询行和每一个批次元素（注意广播方式），"
               "并且在 softmax 之前。")))
    elif zero_but_short:
        findings.add("mask-after-softmax", tr(
            lang, "masked weights are zero but the rows no longer sum to 1",
            "被掩码的权重为 0，但每行之和不再为 1"), "property:mask")


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


def _train_mode_findings(ev: Evaluation, checks: list[CheckResult], findings: Findings,
                         lang: str) -> None:
    """A module whose eval-mode output is right on every case while its train-mode output is
    wrong somewhere: something random (dropout) is active in train mode only."""
    if ev.spec.call != "module" or not any(
            not c.passed and (c.kind.startswith("match:") or c.kind.startswith("property:"))
            for c in checks):
        return
    output = ev.spec.outputs[0]
    eval_ok = train_wrong = 0
    for case in ev.base_cases:
        returned = ev.returned(case.name)
        if returned is None:
            continue
        train = returned.arrays.get(output)
        evaluated = returned.arrays.get(f"{output}@eval")
        ref_train = reference_array(ev, case.name, output)
        ref_eval = reference_array(ev, case.name, f"{output}@eval")
        if any(a is None for a in (train, evaluated, ref_train, ref_eval)):
            return
        if not _close(ev, evaluated, ref_eval):
            return  # eval mode is wrong too: a real bug, not a train-only difference
        eval_ok += 1
        if not _close(ev, train, ref_train):
            train_wrong += 1
    if eval_ok and train_wrong:
        findings.add("dropout-in-train", tr(
            lang, f"eval-mode output matches on all {eval_ok} cases, train-mode output differs "
            f"on {train_wrong}",
            f"eval 模式的输出在全部 {eval_ok} 个用例上一致，train 模式的输出在 {train_wrong} "
            "个用例上不同"), "pattern:train-only")


def _gradient_findings(ev: Evaluation, checks: list[CheckResult], findings: Findings) -> None:
    """Missing gradients are no-gradient only when forward used the tensor and the graph was
    cut; a parameter forward never uses is a missing bias or projection, and a module the
    grader could not load its weights into says so in the run check."""
    from attn_drill.grading.checks import gradient_gaps

    setup = [o.error.message for o in ev.outcomes.values()
             if o.error is not None and "has no bias: the grader loads" in str(o.error.message)]
    if setup:
        findings.add("missing-bias", setup[0].rstrip("."), "pattern:module-setup")
    failed = _failed(checks, "property:gradients")
    if failed is None:
        return
    gaps = gradient_gaps(ev)
    if gaps.backward_error:
        if "inplace operation" in gaps.backward_error:
            findings.add("mutates-input", failed.message, "property:gradients")
    elif gaps.detached:
        findings.add("no-gradient", failed.message, "property:gradients")
    elif gaps.unused:
        if any(name.startswith("W_o.") for name in gaps.unused) and all(
                name.startswith("W_o.") or name.endswith(".bias") for name in gaps.unused) and \
                any(name == "W_o.weight" for name in gaps.unused):
            findings.add("missing-output-projection", failed.message, "property:gradients")
        elif all(name.endswith(".bias") for name in gaps.unused):
            findings.add("missing-bias", failed.message, "property:gradients")
    elif failed.mismatch is None:
        findings.add("no-gradient", failed.message, "property:gradients")


def property_findings(ev: Evaluation, checks: list[CheckResult], findings: Findings,
                      lang: str) -> None:
    failed = _failed(checks, "property:no-mutation")
    if failed:
        findings.add("mutates-input", failed.message, "property:no-mutation")
    plain_ok = all(c.passed for c in checks if c.kind.startswith("match:"))
    failed = _failed(checks, "property:batch-dims")
    if failed and plain_ok:
        # Batched cases that also test a failing property (a batched mask case) are explained
        # by that property; only a batched case that fails on its own means no-batch-dims.
        other_failed = {PROPERTY_TAGS[p] for p in PROPERTY_TAGS if p != "batch-dims"
                        and _failed(checks, f"property:{p}")}
        own = [name for name in failed.failed_cases
               if not other_failed & set(ev.case(name).tags)]
        known = ev.problem.misconception("no-batch-dims")
        already_explained = known is not None and "swapaxes" in known.explanation.en
        # The `.T` / axis=1 explanation only when the evidence fits it: batched cases that
        # raise, or that reproduce the problem's own no-batch-dims mutant.
        raised = [name for name in own if ev.outcomes.get(name) is not None
                  and ev.outcomes[name].returned is None]
        mismatched = [name for name in own if name not in raised]
        supported = bool(raised) or (bool(mismatched) and _reproduces_mutant_of(
            ev, "no-batch-dims", mismatched))
        if own and not supported:
            failed.details.append(tr(
                lang, "the cases without batch axes pass, but the batched ones give different "
                "numbers: check that every batch element is computed from its own inputs (its "
                "own queries, keys and values), and that axes are counted from the end",
                "没有批次轴的用例都通过了，但带批次轴的用例结果不同：请检查每个批次元素是否只用"
                "它自己的输入（自己的查询、键和值）计算，以及轴是否从末尾数起"))
        elif own and already_explained:
            findings.add("no-batch-dims", failed.message, "property:batch-dims")
        elif own:
            findings.add("no-batch-dims", failed.message + tr(
                lang,
                ". With a batch dimension `K.T` reverses every axis ((b, m, d) becomes "
                "(d, m, b)); use np.swapaxes(K, -1, -2) or K.transpose(-2, -1), and count axes "
                "from the end (axis=-1)",
                "。有批量维度时 `K.T` 会把所有轴都倒过来（(b, m, d) 变成 (d, m, b)）；请用 "
                "np.swapaxes(K, -1, -2) 或 K.transpose(-2, -1)，并从末尾数轴（axis=-1）"),
                "property:batch-dims")
    _train_mode_findings(ev, checks, findings, lang)
    _gradient_findings(ev, checks, findings)
    failed = _failed(checks, "property:causal-future")
    if failed:
        findings.add("causal-future-leak", failed.message, "property:causal-future")
    from attn_drill.grading.invariants import INVARIANTS

    for prop, invariant in INVARIANTS.items():
        failed = _failed(checks, f"property:{prop}")
        if failed and (invariant.evidence is None or invariant.evidence(ev, failed)):
            findings.add(invariant.diagnoses, failed.message, f"property:{prop}")
    failed = _failed(checks, "property:stability")
    if failed and any(f.source.startswith("mutant:") and f.id != "unstable-softmax"
                      for f in findings.items):
        # A mutant already names why the large-score cases fail (one maximum for the whole
        # array, say): "you did not subtract the maximum" would be false for that code.
        failed = None
    # NaN on ordinary inputs too is some other bug, not overflow on large scores.
    nan_elsewhere = any(c.mismatch is not None and (c.mismatch.nan_count or c.mismatch.inf_count)
                        for c in checks if not c.passed and c.kind.startswith("match:"))
    if failed and not nan_elsewhere and failed.mismatch is not None and (
            failed.mismatch.nan_count or failed.mismatch.inf_count):
        masked = [name for name in failed.failed_cases
                  if any(v.dtype == bool for v in ev.case(name).inputs.values())]
        evidence = failed.message
        if masked and len(masked) == len(failed.failed_cases):
            evidence = tr(
                lang, "only cases whose hidden keys score far above the visible ones give NaN: "
                "a row maximum taken over the masked keys too (then multiplying by the mask) "
                "underflows every visible key to 0, and 0/0 is NaN. Fill the masked scores with "
                "-inf before taking the maximum. ",
                "只有被遮住的键分数远高于可见键的用例出现了 NaN：如果每行的最大值也算上了被遮住的"
                "键（之后再乘以掩码），所有可见键的 exp 都会下溢为 0，0/0 得到 NaN。请先把被遮住的"
                "分数填成 -inf，再取最大值。") + failed.message
        findings.add("unstable-softmax", evidence, "property:stability")
    elif failed and plain_ok:
        # Right on ordinary scores, wrong (but finite) on large distinct ones: clipped scores,
        # or a maximum that is not each row's own (the whole array's, a hidden position's).
        findings.add("unstable-softmax", tr(
            lang, "your answer is right for ordinary scores but wrong when one row holds very "
            "large or very negative, different scores (e.g. [1000, 999, 0] or [-1000, -999, "
            "-1001]): clipping the scores, or subtracting a maximum other than that row's own, "
            "changes the softmax. " + failed.message,
            "普通分数下你的结果正确，但当同一行里有很大或很负且互不相同的分数（如 [1000, 999, 0] "
            "或 [-1000, -999, -1001]）时就错了："
            "截断分数，或减去的不是该行自己的最大值，都会改变 softmax 的结果。" + failed.message),
            "property:stability")
    failed = _failed(checks, "property:mask")
    if failed and plain_ok:
        _mask_findings(ev, failed, findings, lang)


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
               {f"property:{p}" for p in PROPERTY_TAGS})]
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
            message += tr(lang, f" Evidence: {finding.evidence}.", f"依据：{finding.evidence}。")
        message += hint_pointer(ev.problem.id, known.hint, lang)
        diagnoses.append(Diagnosis(id=finding.id, message=message, title=known.title.get(lang),
                                   hint=known.hint, source=finding.source))
    return diagnoses


def collect_findings(ev: Evaluation, checks: list[CheckResult], lang: str = "en") -> Findings:
    findings = Findings()
    if all(c.passed for c in checks if c.required):
        return findings
    forbidden = _failed(checks, "forbidden")
    if forbidden is not None:
        findings.add("uses-builtin", "; ".join(forbidden.details), "forbidden")
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
    property_findings(ev, checks, findings, lang)
    if numeric_failed:
        pattern_findings(ev, checks, findings, lang)
    return findings


def diagnose(ev: Evaluation, checks: list[CheckResult], lang: str = "en") -> list[Diagnosis]:
    """Likely misconceptions of a failed grade (empty when none is recognised). numpy's
    warnings about the learner's numbers are silenced: they are not the learner's output."""
    import warnings

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return to_diagnoses(ev, collect_findings(ev, checks, lang), lang)
