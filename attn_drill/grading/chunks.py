"""Calling a solution chunk by chunk, the way a decoder with a KV cache is used.

A track declares `chunked: {split: [...], carry: {input: output, ...}}` and a case lists
`chunks: [s_1, s_2, ...]`. The case's `split` inputs hold the whole stream of tokens; call k
receives the next s_k tokens of each (a slice along axis -2). A `carry` input starts from the
case's value (an empty cache, or a prefilled one) and is then replaced, call after call, by
the named output of the previous call, exactly as the submission returned it. So a cache that
is not updated, or grows on the wrong axis, shows up in the next call's result.

What comes back looks like one call: the other outputs of every call concatenated along axis
-2 (one row per token of the stream), and each carried output from the last call. Which call
went wrong is said in `structure_error` (a wrong type, or outputs whose shapes cannot be
joined). Used alike in the child (learner code) and the parent (references and mutants).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.grading.harness import Returned
    from attn_drill.problems import TrackSpec


def plan_of(spec: Any) -> tuple[list[str], dict[str, str]]:
    """(split inputs, carried input -> output) of a track; the child's spec is plain JSON."""
    plan = getattr(spec, "chunked", None)
    if plan is None:
        return [], {}
    if isinstance(plan, dict):
        return list(plan.get("split", [])), dict(plan.get("carry", {}))
    return list(plan.split), dict(plan.carry)


def _slice(value: Any, start: int, stop: int) -> Any:
    return value[..., start:stop, :]


def _join(parts: list[Any]) -> np.ndarray | None:
    """Concatenate per-call outputs along axis -2; None when they cannot be joined."""
    import numpy as np

    try:
        return np.concatenate(parts, axis=-2)
    except (ValueError, TypeError):
        return None


def call_in_chunks(target: Any, spec: TrackSpec, case: ConcreteCase, track: str,
                   inputs: dict[str, Any]) -> Returned:
    from attn_drill.grading.harness import Returned, _collect, split_inputs, to_numpy

    split, carry = plan_of(spec)
    outputs = list(spec.outputs)
    carried_values = {name: inputs[name] for name in carry}
    per_call: dict[str, list[Any]] = {name: [] for name in outputs if name not in carry.values()}
    last: Returned | None = None
    start = 0
    for number, size in enumerate(case.chunks, start=1):
        call_inputs = dict(inputs)
        for name in split:
            call_inputs[name] = _slice(inputs[name], start, start + size)
        call_inputs.update(carried_values)
        positional, keywords = split_inputs(call_inputs, spec)
        result = target(*positional, **keywords, **case.args)
        returned = _collect(result, outputs)
        last = returned
        where = f"call {number} of {len(case.chunks)} (tokens {start}..{start + size - 1})"
        if returned.structure_error:
            returned.structure_error = f"{where}: {returned.structure_error}"
            break
        values = result if isinstance(result, tuple) else (result,)
        by_name = dict(zip(outputs, values, strict=False))
        bad = next((name for name in outputs if name not in returned.arrays), None)
        if bad is not None:
            break  # the type and dtype checks report what came back instead
        for input_name, output_name in carry.items():
            carried_values[input_name] = by_name[output_name]
        for name in per_call:
            per_call[name].append(returned.arrays[name])
        start += size
    assert last is not None, "a chunked case needs at least one chunk"
    combined = Returned(types=dict(last.types), structure_error=last.structure_error)
    if combined.structure_error is None and all(len(v) == len(case.chunks)
                                                for v in per_call.values()):
        for name, parts in per_call.items():
            joined = _join(parts)
            if joined is None:
                shapes = ", ".join(str(tuple(p.shape)) for p in parts)
                combined.structure_error = (
                    f"`{name}` of the successive calls cannot be joined along the token axis "
                    f"(-2): shapes {shapes}")
                break
            combined.arrays[name] = joined
        for output_name in carry.values():
            combined.arrays[output_name] = last.arrays[output_name]
    combined.inputs_after = {k: to_numpy(v) for k, v in inputs.items()}  # type: ignore[misc]
    return combined
