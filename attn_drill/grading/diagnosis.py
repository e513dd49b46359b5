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


def _property_case(case: ConcreteCase) -> bool:
    """A case graded by a property (mask, stability, batch axes): a second, independent bug
    shows up there first."""
    return bool(set(PROPERTY_TAGS.values()) & set(case.tags))


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
    # Plain cases explained by a known mistake: batched cases that raise are a second one.
    explained = any(f.source.startswith(("mutant:", "partial:")) for f in findings.items)
    if failed and (plain_ok or explained):
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
        if not plain_ok:
            # Only a crash on batch axes that the known mistake does not make itself tells a
            # second bug from the first.
            explaining = [f.source.split(":", 1)[1] for f in findings.items
                          if f.source.startswith(("mutant:", "partial:"))]
            raised = [name for name in raised if any(
                (ev.mutant_cache.get(m) or {}).get(name) is not None for m in explaining)]
            own = raised
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
    off_by_one = _causal_off_by_one(ev, findings, lang)
    failed = _failed(checks, "property:causal-future")
    if failed and not off_by_one:
        findings.add("causal-future-leak", failed.message, "property:causal-future")
    from attn_drill.grading.invariants import INVARIANTS

    for prop, invariant in INVARIANTS.items():
        failed = _failed(checks, f"property:{prop}")
        if failed and (invariant.evidence is None or invariant.evidence(ev, failed)):
            findings.add(invariant.diagnoses, failed.message, f"property:{prop}")
    failed = _failed(checks, "property:stability")
    if failed and any(f.source.split(":")[0] in ("mutant", "pattern", "error")
                      and f.id != "unstable-softmax" for f in findings.items):
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
    elif failed and "weights" in ev.spec.outputs and any(
            f.source.startswith("partial:") for f in findings.items):
        # Another bug already explains the plain cases; what the weights do at the masked
        # positions can still name a second one.
        _weight_mask_patterns(ev, failed, findings, lang)


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
    for check in numeric:
        _rows_that_differ(ev, check, lang)
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


def error_findings(ev: Evaluation, findings: Findings, lang: str) -> None:
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
                findings.add("missing-keepdims", tr(
                    lang, f"on case '{case.name}' your code combined an array of shape "
                    f"{shown[0]} with one of shape {shown[1]}, the same array reduced over axis "
                    f"{axis}: a max or sum without keepdims=True loses that axis, so it no "
                    "longer lines up (and lines up wrongly when the sizes happen to match)",
                    f"在用例「{case.name}」上，你的代码把形状 {shown[0]} 的数组和形状 {shown[1]} "
                    f"的数组放在一起运算，后者正是前者沿轴 {axis} 约简后的结果：不带 "
                    "keepdims=True 的 max 或 sum 会丢掉这个轴，于是无法对齐（尺寸碰巧相等时则会"
                    "错误地对齐）"), "error:broadcast")
                return


def _softmax_input(ev: Evaluation, case: ConcreteCase) -> np.ndarray | None:
    """The scores of a softmax-like problem (one array in, one probability table out)."""
    arrays = [v for v in case.inputs.values() if v.dtype != bool]
    if len(ev.spec.outputs) != 1 or "sums-to-one" not in ev.spec.properties or \
            len(arrays) != 1:
        return None
    return np.asarray(arrays[0], dtype=np.float64)


def _axis_words(axis: str, lang: str) -> str:
    if axis == "all":
        return tr(lang, "the whole array (no axis)", "整个数组（不带轴）")
    if axis == "arg":
        return tr(lang, "`axis`", "`axis`")
    return tr(lang, f"axis={axis}", f"axis={axis}")


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


def axis_findings(ev: Evaluation, checks: list[CheckResult], findings: Findings,
                  lang: str) -> None:
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
        _softmax_axes(ev, usable, findings, lang)
    elif "weights" in ev.spec.outputs:
        _weights_axis(ev, usable, findings, lang)


def _softmax_axes(ev: Evaluation, cases: list[ConcreteCase], findings: Findings,
                  lang: str) -> None:
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
            findings.add("global-normalisation", tr(
                lang, f"your output is what a maximum over {_axis_words(max_axis, lang)} and "
                "a sum over the whole array give: the whole array sums to 1, not each slice",
                f"你的结果等于沿 {_axis_words(max_axis, lang)} 取最大值、对整个数组求和得到的"
                "结果：是整个数组之和为 1，而不是每个切片"), "pattern:softmax-axes")
            return
        findings.add("max-sum-axes-differ", tr(
            lang, f"your output is what a maximum over {_axis_words(max_axis, lang)} and a "
            f"sum over {_axis_words(sum_axis, lang)} give; both must use `axis`",
            f"你的结果等于沿 {_axis_words(max_axis, lang)} 取最大值、沿 "
            f"{_axis_words(sum_axis, lang)} 求和得到的结果；两者都必须使用 `axis`"),
            "pattern:softmax-axes")
        return
    fixed = [t for t in harmless if t not in ("arg", "all")]
    if fixed and "arg" not in harmless:
        findings.add("softmax-wrong-axis", tr(
            lang, f"your output is the softmax over axis={fixed[0]} on every case, whatever "
            "`axis` asks for", f"无论 `axis` 是多少，你的结果在每个用例上都是沿 "
            f"axis={fixed[0]} 的 softmax"), "pattern:softmax-axes")


def _weights_axis(ev: Evaluation, cases: list[ConcreteCase], findings: Findings,
                  lang: str) -> None:
    """Attention weights that sum to 1 over the queries (axis -2) instead of the keys."""
    over_queries = 0
    for case in cases:
        got = learner_array(ev, case.name, "weights")
        expected = reference_array(ev, case.name, "weights")
        if got is None or expected is None or got.shape != expected.shape or got.ndim < 2:
            return
        if got.shape[-1] == got.shape[-2] or any(v.dtype == bool for v in case.inputs.values()):
            continue  # square, or masked (a hidden column may be all zero): ambiguous
        with np.errstate(all="ignore"):
            by_keys = np.abs(got.sum(axis=-1) - 1.0) <= 1e-5
            by_queries = np.abs(got.sum(axis=-2) - 1.0) <= 1e-5
        if by_queries.all() and not by_keys.all():
            over_queries += 1
        else:
            return
    if over_queries:
        findings.add("softmax-wrong-axis", tr(
            lang, "your weights sum to 1 down each column (over the queries, axis -2); each "
            "query's row (over the keys, axis -1) must sum to 1",
            "你的权重是每一列（沿查询，轴 -2）之和为 1；应当是每个查询的一行（沿键，轴 -1）"
            "之和为 1"), "pattern:weights-axis")


def _rows_that_differ(ev: Evaluation, check: CheckResult, lang: str) -> None:
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
        note = tr(lang, f"only row{'s' if count > 1 else ''} {listed} (of {total}) differ; "
                  "the other rows match", f"只有第 {listed} 行（共 {total} 行）不同，其余行一致")
        if note not in check.details:
            check.details.append(note)


def _causal_off_by_one(ev: Evaluation, findings: Findings, lang: str) -> bool:
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
        findings.add("causal-off-by-one", tr(
            lang, "every position gets weight 0 on itself (the diagonal is masked, as with "
            "`triu(..., k=0)`), so position 0 has no key left: its row is NaN or spread over "
            "every key, future included",
            "每个位置对自己的权重都是 0（对角线被遮住了，就像 `triu(..., k=0)`），于是位置 0 "
            "没有任何可见的键：它那一行是 NaN，或平均分给了包括未来在内的所有键"),
            "pattern:causal-diagonal")
        return True
    if next_seen and next_seen == looked:
        findings.add("causal-off-by-one", tr(
            lang, "every position also attends to the next one (position i sees i + 1, as "
            "with `triu(..., k=2)`); only j ≤ i is allowed",
            "每个位置还关注了下一个位置（位置 i 看到了 i + 1，就像 `triu(..., k=2)`）；"
            "只允许 j ≤ i"), "pattern:causal-diagonal")
        return True
    return False


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
    error_findings(ev, findings, lang)
    if numeric_failed:
        for name, misconception in match_mutants(ev):
            findings.add(misconception, tr(
                lang, "your outputs reproduce this mistake on every case where it gives a "
                "result of the right shape",
                "凡是这个错误能给出正确形状结果的用例，你的输出都与它一致"), f"mutant:{name}")
        if not findings.items:
            for name, misconception in match_mutants_on_plain_cases(ev, set(findings.ids)):
                findings.add(misconception, tr(
                    lang, "your outputs reproduce this mistake on every case without a mask, "
                    "huge scores or batch axes; the cases that still differ show another one",
                    "在所有不带掩码、超大分数或批次轴的用例上，你的输出都与这个错误一致；"
                    "其余仍然不同的用例说明还有另一个错误"), f"partial:{name}")
        axis_findings(ev, checks, findings, lang)
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
