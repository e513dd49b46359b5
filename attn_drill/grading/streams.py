"""Passing a stream of blocks to a solution, and measuring the memory it uses meanwhile.

A track declares `blocks: {input: kv_blocks, parts: [K, V]}` and a case lists `chunks:
[B_1, B_2, ...]`. The case's `parts` inputs hold every key and value; the solution receives,
in their place, one argument `kv_blocks`: a one-shot iterator yielding `(K_j, V_j)`, the next
B_j rows (axis -2) of each part, each a fresh copy made as it is yielded. So a solution that
keeps the blocks really holds them, and one that reads the iterator twice gets nothing the
second time.

The iterator counts what happened and the call reports it in `Returned.types`:
`blocks-read` ("read/total") and `blocks-passes` (how many times iteration ran to the end).
Cases tagged `memory` are run under tracemalloc (which sees NumPy's buffers): `peak-bytes` is
the peak traced allocation during the call, `tracing` says "stopped" when the solution turned
tracing off. The checks that judge these live in `invariants.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.grading.harness import Returned
    from attn_drill.problems import TrackSpec

MEMORY_TAG = "memory"
READ = "blocks-read"
PASSES = "blocks-passes"
PEAK = "peak-bytes"
TRACING = "tracing"
REREAD = "was then iterated again"  # in an error's note: the iterator was read twice


def plan_of(spec: Any) -> tuple[str, list[str]]:
    """(argument name, part inputs) of a track's blocks plan; ("", []) without one."""
    plan = getattr(spec, "blocks", None)
    if plan is None:
        return "", []
    if isinstance(plan, dict):  # the child's spec is plain JSON
        return str(plan.get("input", "")), list(plan.get("parts", []))
    return plan.input, list(plan.parts)


def passed_names(spec: Any, case: ConcreteCase) -> list[str]:
    """The case's inputs as the solution sees them: a blocks plan's parts become its one
    iterator argument (in the place of the first part)."""
    name, parts = plan_of(spec)
    if not name or not case.chunks:
        return list(case.inputs)
    return [name if key == parts[0] else key for key in case.inputs if key not in parts[1:]]


class OneShotBlocks:
    """An iterator over blocks that can be used up once, like a generator reading a file."""

    def __init__(self, parts: list[Any], sizes: list[int]) -> None:
        self._parts = parts
        self._bounds = []
        start = 0
        for size in sizes:
            self._bounds.append((start, start + size))
            start += size
        self.read = 0
        self.passes = 0  # StopIteration raised: 1 for one full pass, more when re-read

    def __iter__(self) -> OneShotBlocks:
        return self

    def __next__(self) -> tuple[Any, ...]:
        if self.read >= len(self._bounds):
            self.passes += 1
            raise StopIteration
        start, stop = self._bounds[self.read]
        self.read += 1
        return tuple(_fresh(part[..., start:stop, :]) for part in self._parts)


def _fresh(view: Any) -> Any:
    return view.clone() if hasattr(view, "clone") else view.copy()  # tensor / ndarray


def call_with_blocks(target: Any, spec: TrackSpec, case: ConcreteCase, track: str,
                     inputs: dict[str, Any]) -> Returned:
    from attn_drill.grading.harness import _collect, split_inputs, to_numpy

    name, parts = plan_of(spec)
    blocks = OneShotBlocks([inputs[p] for p in parts], list(case.chunks))
    call_inputs: dict[str, Any] = {}
    for key, value in inputs.items():
        if key == parts[0]:
            call_inputs[name] = blocks
        elif key not in parts:
            call_inputs[key] = value
    positional, keywords = split_inputs(call_inputs, spec)
    try:
        result, notes = _call_measured(target, positional, keywords, case)
    except BaseException as exc:
        note = _stream_note(blocks, name)
        if note:
            try:  # read by the child's error report; an exception without a __dict__ stays as is
                exc.attn_drill_note = note  # type: ignore[attr-defined]
            except AttributeError:
                pass
        raise
    returned = _collect(result, spec.outputs)
    returned.types.update(notes)
    returned.types[READ] = f"{blocks.read}/{len(case.chunks)}"
    returned.types[PASSES] = str(blocks.passes)
    # Only what the solution was given can have been changed by it.
    returned.inputs_after = {k: to_numpy(v) for k, v in inputs.items()  # type: ignore[misc]
                             if k not in parts}
    return returned


def _stream_note(blocks: OneShotBlocks, name: str) -> str:
    """What the iterator had been through when the solution raised, if that explains it."""
    if blocks.passes > 1:
        return (f" `{name}` had been read to the end and {REREAD}: it is a one-shot iterator, "
                "so the second pass got no blocks")
    if blocks.read == 0:
        return f" `{name}` had not been read at all"
    return ""


def _call_measured(target: Any, positional: list[Any], keywords: dict[str, Any],
                   case: ConcreteCase) -> tuple[Any, dict[str, str]]:
    measure = MEMORY_TAG in case.tags
    notes: dict[str, str] = {}
    if measure:
        import tracemalloc

        started_here = not tracemalloc.is_tracing()
        tracemalloc.start()
        tracemalloc.reset_peak()
        try:
            result = target(*positional, **keywords, **case.args)
        finally:
            if tracemalloc.is_tracing():
                notes[PEAK] = str(tracemalloc.get_traced_memory()[1])
                if started_here:
                    tracemalloc.stop()
            else:
                notes[TRACING] = "stopped"
    else:
        result = target(*positional, **keywords, **case.args)
    return result, notes


def unmeasured(case: ConcreteCase) -> ConcreteCase:
    """The case without its memory measurement (for calls whose outputs alone matter)."""
    if MEMORY_TAG not in case.tags:
        return case
    import dataclasses

    return dataclasses.replace(case, tags=[t for t in case.tags if t != MEMORY_TAG])


def block_bytes(case: ConcreteCase, spec: Any, track: str) -> int:
    """Bytes of all blocks together, as the solution receives them."""
    _, parts = plan_of(spec)
    itemsize = 4 if track == "torch" else 8
    return sum(int(case.inputs[p].size) * itemsize for p in parts if p in case.inputs)


def violations(spec: Any, case: ConcreteCase, notes: dict[str, str], track: str) -> set[str]:
    """The stream properties (`reads-blocks-once`, `bounded-memory`) one call broke, from the
    notes it left in `Returned.types`."""
    broken: set[str] = set()
    if READ in notes:
        read, total = (int(x) for x in notes[READ].split("/"))
        if int(notes.get(PASSES, "0")) > 1 or read < total:
            broken.add("reads-blocks-once")
    if notes.get(TRACING) == "stopped" or (
            PEAK in notes and int(notes[PEAK]) > block_bytes(case, spec, track) / 4):
        broken.add("bounded-memory")
    return broken
