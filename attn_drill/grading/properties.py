"""The graded properties: one object per property, registered in one place.

A property is something a correct solution satisfies beyond matching the reference on a case:
it does not modify its inputs, works with leading batch axes, respects the mask, and so on. A
problem's YAML lists the properties of each track (`properties: [...]`); loading a pack rejects
an id that is not registered here. Each property says:

- its name (a message id of `attn_drill.messages`),
- which cases it judges: cases carrying its `tag` (those are judged by it alone), or cases it
  derives from graded ones (a permuted copy, copies with one later token changed),
- how it checks (`check`: one `CheckResult`, or None when there is nothing to check),
- which misconception a failure names (`diagnoses`, validated against the problem's list), and
  how the evidence is read (`find`, called by `diagnosis.collect_findings`).

Kept free of heavy imports at module level (problem loading asks for the registered ids);
numpy and the grading helpers are imported where a property runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from attn_drill.grading.report import CheckResult
from attn_drill.messages import Message, msg

if TYPE_CHECKING:
    import numpy as np

    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.grading.checks import DerivedCase, Evaluation
    from attn_drill.grading.diagnosis import Findings
    from attn_drill.problems import TrackSpec


class Property:
    """One graded property. Subclasses set the class attributes and override what applies."""

    id: str = ""
    tag: str | None = None  # cases with this tag are judged by this property only
    diagnoses: str | None = None  # the misconception a failure is reported as
    derives: bool = False  # judged on cases derived from graded ones

    def label(self, ev: Evaluation) -> Message:
        return property_label(self.id)

    def check(self, ev: Evaluation) -> CheckResult | None:
        """The property's check line; None when there is nothing to check."""
        cases = property_cases(ev).get(self.id, [])
        if not cases:
            return None
        from attn_drill.grading.checks import _match_check

        return _match_check(ev, self.label(ev), f"property:{self.id}", cases)

    def derive(self, context: DeriveContext) -> list[tuple[ConcreteCase, DerivedCase]]:
        """Extra cases built from graded ones (with what each one tests)."""
        return []

    def find(self, ev: Evaluation, checks: list[CheckResult], findings: Findings,
             lang: str) -> None:
        """Read the misconception behind a failure of this property (or leave a detail)."""


def property_label(prop: str) -> Message:
    return msg(f"property.{prop}")


def failed_check(checks: list[CheckResult], kind: str) -> CheckResult | None:
    """The failed check of that kind, unless it failed only for lack of anything to check."""
    return next((c for c in checks if c.kind == kind and not c.passed and not c.not_run), None)


# -- the properties -------------------------------------------------------------------------


class NoMutation(Property):
    id = "no-mutation"
    diagnoses = "mutates-input"

    def check(self, ev: Evaluation) -> CheckResult | None:
        return check_no_mutation(ev)

    def find(self, ev: Evaluation, checks: list[CheckResult], findings: Findings,
             lang: str) -> None:
        failed = failed_check(checks, "property:no-mutation")
        if failed:
            findings.add("mutates-input", failed.message, "property:no-mutation",
                         failed.message_id)


class BatchDims(Property):
    id = "batch-dims"
    tag = "batched"
    diagnoses = "no-batch-dims"

    def find(self, ev: Evaluation, checks: list[CheckResult], findings: Findings,
             lang: str) -> None:
        from attn_drill.grading.diagnosis import _reproduces_mutant_of

        failed = failed_check(checks, "property:batch-dims")
        plain_ok = plain_cases_pass(checks)
        # Plain cases explained by a known mistake: batched cases that raise are a second one.
        explained = any(f.source.startswith(("mutant:", "partial:")) for f in findings.items)
        if not (failed and (plain_ok or explained)):
            return
        # Batched cases that also test a failing property (a batched mask case) are explained
        # by that property; only a batched case that fails on its own means no-batch-dims.
        other_failed = {p.tag for p in tagged_properties() if p.id != self.id
                        and failed_check(checks, f"property:{p.id}")}
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
            failed.details.append(msg("batch-dims.numbers-differ"))
        elif own and already_explained:
            findings.add("no-batch-dims", failed.message, "property:batch-dims")
        elif own:
            findings.add("no-batch-dims", failed.message + msg("batch-dims.transpose"),
                         "property:batch-dims")


class Gradients(Property):
    id = "gradients"
    diagnoses = "no-gradient"

    def check(self, ev: Evaluation) -> CheckResult | None:
        return check_gradients(ev)

    def find(self, ev: Evaluation, checks: list[CheckResult], findings: Findings,
             lang: str) -> None:
        # Both read what the module harness adds to a call (the eval-mode output, the notes
        # on missing gradients), and run whether or not the track lists the property.
        _train_mode_findings(ev, checks, findings)
        _gradient_findings(ev, checks, findings)


class PermutationEquivariance(Property):
    id = "permutation-equivariance"
    derives = True

    def check(self, ev: Evaluation) -> CheckResult | None:
        from attn_drill.grading.checks import DERIVED_PERMUTED

        return check_derived(ev, self.id, DERIVED_PERMUTED)

    def derive(self, context: DeriveContext) -> list[tuple[ConcreteCase, DerivedCase]]:
        import copy

        import numpy as np

        from attn_drill.grading.checks import DERIVED_PERMUTED, DerivedCase

        if not context.unmasked:
            return []
        source, seq_inputs = context.unmasked[0]
        seq, rng = context.seq, context.rng
        n = source.dims[seq]
        perm = rng.permutation(n)
        if (perm == np.arange(n)).all():
            perm = perm[::-1].copy()
        case = copy.deepcopy(source)
        case.name = f"{source.name} (sequence permuted)"
        case.tags = [*source.tags, DERIVED_PERMUTED]
        for name in seq_inputs:
            case.inputs[name] = np.take(source.inputs[name], perm, axis=-2)
        if case.grad_output is not None and case.grad_output.ndim >= 2:
            case.grad_output = np.take(case.grad_output, perm, axis=-2)
        return [(case, DerivedCase(case.name, DERIVED_PERMUTED, source.name, seq,
                                   permutation=perm.tolist()))]


class CausalFuture(Property):
    id = "causal-future"
    diagnoses = "causal-future-leak"
    derives = True

    def check(self, ev: Evaluation) -> CheckResult | None:
        from attn_drill.grading.checks import DERIVED_CAUSAL

        return check_derived(ev, self.id, DERIVED_CAUSAL)

    def derive(self, context: DeriveContext) -> list[tuple[ConcreteCase, DerivedCase]]:
        import copy

        from attn_drill.grading.checks import DERIVED_CAUSAL, DerivedCase

        options = context.causal or context.unmasked  # causal-attention itself has no mask
        if not options:
            return []
        # One copy per later token, with only that token changed: a leak from any token to
        # any earlier position shows up (changing a whole tail only checks the first half).
        source, seq_inputs = options[0]
        seq, rng = context.seq, context.rng
        derived = []
        for cutoff in range(1, source.dims[seq]):
            case = copy.deepcopy(source)
            case.name = f"{source.name} (token {cutoff} changed)"
            case.tags = [*source.tags, DERIVED_CAUSAL]
            for name in seq_inputs:
                changed = source.inputs[name].copy()
                token = changed[..., cutoff, :]
                changed[..., cutoff, :] = rng.standard_normal(token.shape) * 3.0
                case.inputs[name] = changed
            derived.append((case, DerivedCase(case.name, DERIVED_CAUSAL, source.name, seq,
                                              cutoff=cutoff)))
        return derived

    def find(self, ev: Evaluation, checks: list[CheckResult], findings: Findings,
             lang: str) -> None:
        from attn_drill.grading.diagnosis import _causal_off_by_one

        off_by_one = _causal_off_by_one(ev, findings)
        failed = failed_check(checks, "property:causal-future")
        if failed and not off_by_one:
            findings.add("causal-future-leak", failed.message, "property:causal-future",
                         failed.message_id)


class Stability(Property):
    id = "stability"
    tag = "stability"
    diagnoses = "unstable-softmax"

    def find(self, ev: Evaluation, checks: list[CheckResult], findings: Findings,
             lang: str) -> None:
        failed = failed_check(checks, "property:stability")
        if failed and any(f.source.split(":")[0] in ("mutant", "pattern", "error")
                          and f.id != "unstable-softmax" for f in findings.items):
            # A mutant already names why the large-score cases fail (one maximum for the
            # whole array, say): "you did not subtract the maximum" would be false for it.
            failed = None
        # NaN on ordinary inputs too is some other bug, not overflow on large scores.
        nan_elsewhere = any(c.mismatch is not None and (c.mismatch.nan_count
                                                        or c.mismatch.inf_count)
                            for c in checks if not c.passed and c.kind.startswith("match:"))
        if failed and not nan_elsewhere and failed.mismatch is not None and (
                failed.mismatch.nan_count or failed.mismatch.inf_count):
            masked = [name for name in failed.failed_cases
                      if ev.case(name).mask() is not None]
            evidence = failed.message
            if masked and len(masked) == len(failed.failed_cases):
                evidence = msg("stability.masked-nan") + failed.message
            findings.add("unstable-softmax", evidence, "property:stability")
        elif failed and plain_cases_pass(checks):
            # Right on ordinary scores, wrong (but finite) on large distinct ones: clipped
            # scores, or a maximum that is not each row's own (the whole array's, a hidden
            # position's).
            findings.add("unstable-softmax", msg("stability.large-scores") + failed.message,
                         "property:stability")


class Mask(Property):
    id = "mask"
    tag = "mask"
    diagnoses = "ignores-mask"

    def find(self, ev: Evaluation, checks: list[CheckResult], findings: Findings,
             lang: str) -> None:
        failed = failed_check(checks, "property:mask")
        if failed and plain_cases_pass(checks):
            _mask_findings(ev, failed, findings)
        elif failed and ev.spec.weights_output is not None and any(
                f.source.startswith("partial:") for f in findings.items):
            # Another bug already explains the plain cases; what the weights do at the masked
            # positions can still name a second one.
            _weight_mask_patterns(ev, failed, findings)


class SumsToOne(Property):
    id = "sums-to-one"

    def label(self, ev: Evaluation) -> Message:
        if ev.spec.weights_output is None:
            return msg("property.sums-to-one.axis")
        return property_label(self.id)

    def check(self, ev: Evaluation) -> CheckResult | None:
        return check_sums_to_one(ev)


# The registry. Its order is the order of derivation (one random stream) and of diagnosis
# (earlier findings can explain later failures); a track's check lines follow its YAML.
PROPERTIES: dict[str, Property] = {p.id: p for p in (
    NoMutation(), BatchDims(), Gradients(), PermutationEquivariance(), CausalFuture(),
    Stability(), Mask(), SumsToOne(),
)}


def _register_invariants() -> None:
    """The properties judged on how the call behaved (grading/invariants.py)."""
    from attn_drill.grading.invariants import INVARIANTS

    for prop in INVARIANTS:
        PROPERTIES[prop.id] = prop


def get_property(prop: str) -> Property:
    return PROPERTIES[prop]


def tagged_properties() -> list[Property]:
    return [p for p in PROPERTIES.values() if p.tag is not None]


# -- which cases each property judges ----------------------------------------------------------


def listed_tags(spec: Any) -> set[str]:
    """The case tags of the properties a track lists (those cases leave the plain checks)."""
    return {PROPERTIES[p].tag for p in spec.properties
            if p in PROPERTIES and PROPERTIES[p].tag is not None}  # type: ignore[misc]


def property_cases(ev: Evaluation) -> dict[str, list[ConcreteCase]]:
    """The tagged cases of each listed tagged property."""
    grouped: dict[str, list[ConcreteCase]] = {}
    listed = listed_tags(ev.spec)
    for prop in tagged_properties():
        if prop.id in ev.spec.properties:
            grouped[prop.id] = [c for c in ev.base_cases if prop.tag in c.tags]
    if grouped.get("batch-dims"):
        # A batched mask case that fails is the mask's failure: judge batching on the cases
        # that test nothing else, when there are any.
        only = [c for c in grouped["batch-dims"] if not (listed - {"batched"}) & set(c.tags)]
        grouped["batch-dims"] = only or grouped["batch-dims"]
    return grouped


def plain_cases(ev: Evaluation) -> list[ConcreteCase]:
    """Graded cases no listed property claims: judged by the "matches reference" checks."""
    tags = listed_tags(ev.spec)
    return [c for c in ev.base_cases if not tags & set(c.tags)]


def plain_cases_pass(checks: list[CheckResult]) -> bool:
    return all(c.passed for c in checks if c.kind.startswith("match:"))


def property_findings(ev: Evaluation, checks: list[CheckResult], findings: Findings,
                      lang: str = "en") -> None:
    """Every property's reading of the failed checks, in registry order (`lang` for readers
    that still write their evidence as text)."""
    for prop in PROPERTIES.values():
        prop.find(ev, checks, findings, lang)


# -- derived cases ---------------------------------------------------------------------------


@dataclass
class DeriveContext:
    """What the deriving properties draw from: the sequence dimension, one random stream, and
    the random graded cases usable as sources (with the inputs that carry the sequence)."""

    seq: str
    rng: Any
    unmasked: list[tuple[ConcreteCase, list[str]]] = field(default_factory=list)
    causal: list[tuple[ConcreteCase, list[str]]] = field(default_factory=list)
    sources: list[ConcreteCase] = field(default_factory=list)  # every graded case


def _sequence_inputs(case: ConcreteCase, case_spec: Any, seq: str) -> list[str]:
    """The generated inputs that carry the sequence axis (second to last) of a case."""
    return [
        name
        for name, input_spec in case_spec.random.items()
        if len(input_spec.shape) >= 2
        and input_spec.shape[-2] == seq
        and case.input_info(name).carries_sequence
    ]


def derive_cases(
    spec: TrackSpec, cases: list[ConcreteCase], seed: int
) -> tuple[list[ConcreteCase], dict[str, DerivedCase]]:
    """Extra cases for the listed deriving properties, built from graded cases."""
    import numpy as np

    seq = spec.sequence_dim
    derived_cases: list[ConcreteCase] = []
    derived: dict[str, DerivedCase] = {}
    if seq is None:
        return derived_cases, derived
    specs = {c.name: c for c in spec.cases}
    context = DeriveContext(seq, np.random.default_rng([seed, 7919]), sources=list(cases))
    for case in cases:
        case_spec = specs.get(case.name)
        if case_spec is None or not case.is_random or "stability" in case.tags:
            continue
        seq_inputs = _sequence_inputs(case, case_spec, seq)
        if not seq_inputs or case.dims.get(seq, 0) < 2:
            continue
        kinds = {s.kind for s in case_spec.random.values()}
        has_mask = any(case.input_info(name).is_mask for name in case.inputs)
        if not has_mask:
            context.unmasked.append((case, seq_inputs))
        if "causal" in case.tags or "causal-mask" in kinds:
            context.causal.append((case, seq_inputs))
    for prop in PROPERTIES.values():
        if prop.derives and prop.id in spec.properties:
            for case, info in prop.derive(context):
                derived_cases.append(case)
                derived[case.name] = info
    return derived_cases, derived


# -- how the properties check ------------------------------------------------------------------


def check_no_mutation(ev: Evaluation) -> CheckResult:
    import numpy as np

    from attn_drill.grading.tracks import get_track

    track = get_track(ev.track)
    name = property_label("no-mutation")
    failed = []
    first = ""
    for case in ev.base_cases:
        returned = ev.returned(case.name)
        if returned is None:
            continue
        for key, original in case.inputs.items():
            after = returned.inputs_after.get(key)
            if after is None:
                continue
            # what the child actually received: a plain Python value (an option passed as a
            # scalar or a list) travels as it is on every track
            plain = case.input_info(key).pass_as in ("scalar", "list")
            sent = original if plain else track.sent(original)
            if after.shape != sent.shape or not np.array_equal(after, sent, equal_nan=True):
                failed.append(case.name)
                if not first:
                    first = msg("no-mutation.changed", input=key, case=case.name,
                                fresh=msg(track.container_message))
                break
    if not failed:
        return CheckResult(name, True, kind="property:no-mutation")
    return CheckResult(name, False, first, kind="property:no-mutation", failed_cases=failed)


def _sum_axis(ev: Evaluation, case: ConcreteCase) -> tuple[str, int] | None:
    if ev.spec.weights_output is not None:
        return ev.spec.weights_output, -1
    if len(ev.spec.outputs) == 1:
        return ev.spec.outputs[0], int(case.args.get("axis", -1))
    return None


def check_sums_to_one(ev: Evaluation) -> CheckResult:
    import numpy as np

    from attn_drill.grading.checks import (
        ignored_rows,
        learner_array,
        reference_array,
        tolerance,
    )

    name = PROPERTIES["sums-to-one"].label(ev)
    failed = []
    first = ""
    for case in ev.base_cases:
        target = _sum_axis(ev, case)
        if target is None:
            break
        output, axis = target
        got = learner_array(ev, case.name, output)
        expected = reference_array(ev, case.name, output)
        if got is None or expected is None or got.shape != expected.shape:
            continue
        sums = np.asarray(got, dtype=np.float64).sum(axis=axis)
        rtol, atol = tolerance(ev, got)
        limit = atol + rtol * got.shape[axis] + 1e-12
        graded = np.ones(sums.shape, dtype=bool)
        skip = ignored_rows(case, expected.shape)
        if skip is not None and axis == -1:
            graded = ~skip[..., 0]
        with np.errstate(invalid="ignore"):
            bad = graded & ~(np.abs(sums - 1.0) <= limit)
        if bad.any():
            failed.append(case.name)
            if not first:
                where = tuple(int(i) for i in np.argwhere(bad)[0])
                value = float(sums[where])
                first = msg("sums-to-one.off", case=case.name, output=output, value=value,
                            axis=axis, index=where, bad=int(bad.sum()), size=bad.size)
    if not failed:
        return CheckResult(name, True, kind="property:sums-to-one")
    return CheckResult(name, False, first, kind="property:sums-to-one", failed_cases=failed)


def _derived_expectation(ev: Evaluation, derived: DerivedCase, output: str,
                         array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """What the learner's derived-case output must equal, from its own source output.

    Returns (expected, ignore) where ignore marks elements the property says nothing about.
    """
    import numpy as np

    from attn_drill.grading.checks import DERIVED_PERMUTED

    names = ev.output_names(output)
    seq_axes = [i - len(names) for i, n in enumerate(names) if n == derived.seq_name]
    seq_axes = [a for a in seq_axes if -a <= array.ndim]
    if derived.kind == DERIVED_PERMUTED:
        expected = array
        for axis in seq_axes:
            expected = np.take(expected, derived.permutation, axis=axis)
        return expected, None
    # causal: only positions before the cutoff (along the query axis) are constrained
    ignore = np.zeros(array.shape, dtype=bool)
    if seq_axes:
        query_axis = seq_axes[0]
        index = [slice(None)] * array.ndim
        index[query_axis] = slice(derived.cutoff, None)
        ignore[tuple(index)] = True
    return array, ignore


def _changed_rows(after: np.ndarray, expected: np.ndarray, ignore: np.ndarray | None,
                  rtol: float, atol: float) -> list[int]:
    """Query positions (axis -2) where `after` moved away from `expected`."""
    import numpy as np

    from attn_drill.grading.compare import close_elements

    bad = ~close_elements(after, expected, rtol, atol)
    if ignore is not None:
        bad &= ~ignore
    if bad.ndim < 2:
        return []
    per_row = bad.reshape(-1, *bad.shape[-2:]).any(axis=(0, 2))
    return [int(i) for i in np.flatnonzero(per_row)]


def check_derived(ev: Evaluation, prop: str, kind: str) -> CheckResult | None:
    from attn_drill.grading.checks import (
        DERIVED_PERMUTED,
        tolerance,
        tolerance_label,
    )
    from attn_drill.grading.compare import Comparison, compare_arrays

    name = property_label(prop)
    todo = [d for d in ev.derived.values() if d.kind == kind]
    if not todo:
        return None
    # causal-future: every changed token that reaches an earlier position, and those positions
    leaking_tokens: list[int] = []
    leaked_rows: set[int] = set()
    first_failure: tuple[DerivedCase, str, Comparison] | None = None
    failed_cases: list[str] = []
    for derived in todo:
        source = ev.outcomes.get(derived.source)
        result = ev.outcomes.get(derived.name)
        if (source is None or source.returned is None or result is None
                or result.returned is None):
            return CheckResult(name, False, msg("derived.no-source", case=derived.source),
                               kind=f"property:{prop}", failed_cases=[derived.name],
                               not_run=True)
        for output in ev.spec.outputs:
            before = source.returned.arrays.get(output)
            after = result.returned.arrays.get(output)
            if before is None or after is None:
                continue
            expected, ignore = _derived_expectation(ev, derived, output, before)
            if expected.shape != after.shape:
                continue  # the shape check reports this
            rtol, atol = tolerance(ev, after)
            comparison = compare_arrays(after, expected, rtol=rtol * 10, atol=atol * 10,
                                        dtype=tolerance_label(ev, after), case=derived.name,
                                        output=output,
                                        ignore=ignore)
            if comparison.ok:
                continue
            if kind == DERIVED_PERMUTED:
                message = msg("permutation.changed", case=derived.source, output=output)
                return CheckResult(name, False, message, kind=f"property:{prop}",
                                   mismatch=comparison.table, failed_cases=[derived.name])
            if first_failure is None:
                first_failure = (derived, output, comparison)
            if derived.name not in failed_cases:
                failed_cases.append(derived.name)
            if derived.cutoff not in leaking_tokens:
                leaking_tokens.append(derived.cutoff)
            leaked_rows.update(_changed_rows(after, expected, ignore, rtol * 10, atol * 10))
    if first_failure is None:
        return CheckResult(name, True, kind=f"property:{prop}")
    derived, output, comparison = first_failure
    rows = sorted(leaked_rows)
    tokens = ", ".join(str(t) for t in sorted(leaking_tokens))
    message = msg("causal.leak", plural="s" if len(leaking_tokens) > 1 else "", tokens=tokens,
                  case=derived.source, output=output, rows=rows)
    return CheckResult(name, False, message, kind=f"property:{prop}",
                       mismatch=comparison.table, failed_cases=failed_cases)


@dataclass
class GradientGaps:
    """Why gradients are missing, from the module harness's notes: parameters forward never
    used, parameters it used but cut off from the graph, and backward's own error."""

    unused: list[str] = field(default_factory=list)
    detached: list[str] = field(default_factory=list)
    backward_error: str = ""
    backward_case: str = ""


def gradient_gaps(ev: Evaluation) -> GradientGaps:
    from attn_drill.grading.harness import BACKWARD_ERROR, GRAD_NOTE

    gaps = GradientGaps()
    for case in ev.base_cases:
        returned = ev.returned(case.name)
        if returned is None:
            continue
        types = returned.types
        if BACKWARD_ERROR in types and not gaps.backward_error:
            gaps.backward_error, gaps.backward_case = types[BACKWARD_ERROR], case.name
        for key, note in types.items():
            if not key.startswith(GRAD_NOTE):
                continue
            target = gaps.unused if note == "unused" else gaps.detached
            if key[len(GRAD_NOTE):] not in target:
                target.append(key[len(GRAD_NOTE):])
    return gaps


def check_gradients(ev: Evaluation) -> CheckResult | None:
    from attn_drill.grading.checks import tolerance, tolerance_label
    from attn_drill.grading.compare import compare_arrays

    name = property_label("gradients")
    failed = []
    first = ""
    first_table = None
    missing: list[str] = []
    checked = False
    for case in ev.base_cases:
        ref = ev.references.get(case.name)
        returned = ev.returned(case.name)
        if ref is None:
            continue
        keys = [k for k in ref.arrays if k.startswith("grad:")]
        if not keys:
            continue
        checked = True
        if returned is None:
            failed.append(case.name)
            continue
        for key in keys:
            got = returned.arrays.get(key)
            if got is None:
                if key[5:] not in missing:
                    missing.append(key[5:])
                if case.name not in failed:
                    failed.append(case.name)
                continue
            expected = ref.arrays[key]
            if got.shape != expected.shape:
                got = got.reshape(expected.shape) if got.size == expected.size else got
            rtol, atol = tolerance(ev, got)
            comparison = compare_arrays(got, expected, rtol=rtol, atol=atol,
                                        dtype=tolerance_label(ev, got), case=case.name,
                                        output=key)
            if not comparison.ok:
                if case.name not in failed:
                    failed.append(case.name)
                if not first and comparison.table is not None:
                    first = msg("gradients.case", case=case.name, input=key[5:],
                                reason=comparison.table.summary_message())
                    first_table = comparison.table
    if not checked:
        return None
    if not failed:
        return CheckResult(name, True, kind="property:gradients")
    if not any(ev.returned(n) is not None for n in failed):
        # Nothing to take a gradient of: the run check says why.
        return CheckResult(name, False, msg("gradients.not-run"), kind="property:gradients",
                           failed_cases=failed, not_run=True)
    gaps = gradient_gaps(ev)
    if gaps.backward_error:
        inplace = "inplace operation" in gaps.backward_error
        first = msg("gradients.backward-raised", case=gaps.backward_case,
                    error=gaps.backward_error)
        if inplace:
            first = first + msg("gradients.backward-inplace")
        return CheckResult(name, False, first, kind="property:gradients", mismatch=first_table,
                           failed_cases=failed)
    if gaps.unused or gaps.detached:
        parts = []
        if gaps.unused:
            names = ", ".join(gaps.unused)
            parts.append(msg("gradients.unused", names=names,
                             them="them" if len(gaps.unused) > 1 else "it"))
        if gaps.detached:
            names = ", ".join(gaps.detached)
            parts.append(msg("gradients.detached", names=names,
                             them="them" if len(gaps.detached) > 1 else "it"))
        first = parts[0] if len(parts) == 1 else parts[0] + "; " + parts[1]
        return CheckResult(name, False, first, kind="property:gradients", mismatch=first_table,
                           failed_cases=failed)
    if missing:
        first = msg("gradients.missing", names=", ".join(missing))
    elif not first:
        first = msg("gradients.no-backward")
    return CheckResult(name, False, first, kind="property:gradients", mismatch=first_table,
                       failed_cases=failed)


def _with_mask(case: ConcreteCase, make: Any) -> ConcreteCase | None:
    import copy

    for key, value in case.inputs.items():
        if case.input_info(key).is_mask:
            changed = copy.copy(case)
            changed.inputs = {**case.inputs, key: make(value)}
            return changed
    return None


def _mask_findings(ev: Evaluation, check: CheckResult, findings: Findings) -> None:
    import numpy as np

    from attn_drill.grading.checks import (
        call_trusted,
        learner_array,
        reference_array,
        reference_target,
        tolerance,
    )
    from attn_drill.grading.diagnosis import MUTANT_SLACK, same_outputs

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
        flipped = _with_mask(case, lambda m: ~m if m.dtype == bool else (m == 0).astype(m.dtype))
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
        findings.add("ignores-mask", msg("mask.ignored", rows=where), "property:mask")
    elif inverted:
        findings.add("inverted-mask", msg("mask.inverted"), "property:mask")
    else:
        before = (len(findings.items), len(check.details))
        if ev.spec.weights_output is not None:
            _weight_mask_patterns(ev, check, findings)
        if (len(findings.items), len(check.details)) == before and where:
            check.details.append(msg("mask.rows-differ", rows=where))


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


def _weight_mask_patterns(ev: Evaluation, check: CheckResult, findings: Findings) -> None:
    import numpy as np

    from attn_drill.grading.checks import learner_array
    from attn_drill.grading.diagnosis import _reproduces_mutant_of

    leaked: list[str] = []
    leak_rows: list[str] = []
    largest_leak = 0.0
    zero_but_short = 0
    for name in _mask_evidence_cases(ev, check):
        case = ev.case(name)
        weights = learner_array(ev, name, ev.spec.weights_output or "weights")
        mask = case.mask()
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
        findings.add("mask-tiny-fill", msg("mask.tiny-fill", rows=_group_rows(leak_rows)),
                     "property:mask")
    elif leaked:
        # Masked positions get weight, but not as a near-zero fill would give: a weak fill
        # (-10), a mask taken from the wrong row or batch element, a mask added to the scores...
        # Name the rows; claim no misconception.
        weak = largest_leak < 1e-2
        check.details.append(msg("mask.leak.weak" if weak else "mask.leak",
                                 largest=largest_leak, rows=_group_rows(leak_rows)))
    elif zero_but_short:
        findings.add("mask-after-softmax", msg("mask.after-softmax"), "property:mask")


def _train_mode_findings(ev: Evaluation, checks: list[CheckResult],
                         findings: Findings) -> None:
    """A module whose eval-mode output is right on every case while its train-mode output is
    wrong somewhere: something random (dropout) is active in train mode only."""
    from attn_drill.grading.checks import reference_array
    from attn_drill.grading.diagnosis import _close

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
        findings.add("dropout-in-train", msg("train-mode.differs", eval_ok=eval_ok,
                                             train_wrong=train_wrong), "pattern:train-only")


def _gradient_findings(ev: Evaluation, checks: list[CheckResult], findings: Findings) -> None:
    """Missing gradients are no-gradient only when forward used the tensor and the graph was
    cut; a parameter forward never uses is a missing bias or projection, and a module the
    grader could not load its weights into says so in the run check."""
    setup = [o.error.message for o in ev.outcomes.values()
             if o.error is not None and "has no bias: the grader loads" in str(o.error.message)]
    if setup:
        findings.add("missing-bias", setup[0].rstrip("."), "pattern:module-setup")
    failed = failed_check(checks, "property:gradients")
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


_register_invariants()
