"""The one-shot iterator of blocks a solution receives, and the memory it uses meanwhile.

An input of role `blocks` (grading.inputs) holds tuples of arrays (blocks of keys and values,
say); the solution receives a `OneShotBlocks` over them: each block converted for the track
as it is yielded, a fresh copy each time, so a solution that keeps the blocks really holds
them, and one that reads the iterator twice gets nothing the second time.

The iterator counts what happened and the call reports it in `Returned.types`:
`blocks-read` ("read/total") and `blocks-passes` (how many times iteration ran to the end).
Cases tagged `memory` are run under tracemalloc (which sees NumPy's buffers): `peak-bytes` is
the peak traced allocation during the call, `tracing` says "stopped" when the solution turned
tracing off. The properties that judge these live in `invariants.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from attn_drill.grading.cases import ConcreteCase

MEMORY_TAG = "memory"
READ = "blocks-read"
PASSES = "blocks-passes"
PEAK = "peak-bytes"
TRACING = "tracing"
REREAD = "was then iterated again"  # in an error's note: the iterator was read twice


class OneShotBlocks:
    """An iterator over blocks that can be used up once, like a generator reading a file."""

    def __init__(self, items: list[tuple[Any, ...]], convert: Any, name: str = "") -> None:
        self._items = items
        self._convert = convert
        self.name = name
        self.read = 0
        self.passes = 0  # StopIteration raised: 1 for one full pass, more when re-read

    def __iter__(self) -> OneShotBlocks:
        return self

    def __next__(self) -> tuple[Any, ...]:
        if self.read >= len(self._items):
            self.passes += 1
            raise StopIteration
        item = self._items[self.read]
        self.read += 1
        return tuple(self._convert(part) for part in item)

    def notes(self) -> dict[str, str]:
        return {READ: f"{self.read}/{len(self._items)}", PASSES: str(self.passes)}

    def annotate(self, exc: BaseException) -> None:
        """Leave a note on an exception the solution raised, when the iterator explains it
        (read by the child's error report)."""
        name = self.name or "the blocks"
        if self.passes > 1:
            note = (f" `{name}` had been read to the end and {REREAD}: it is a one-shot "
                    "iterator, so the second pass got no blocks")
        elif self.read == 0:
            note = f" `{name}` had not been read at all"
        else:
            return
        try:  # an exception without a __dict__ stays as it is
            exc.attn_drill_note = note  # type: ignore[attr-defined]
        except AttributeError:
            pass


def call_measured(target: Any, positional: list[Any], keywords: dict[str, Any],
                  case: ConcreteCase) -> tuple[Any, dict[str, str]]:
    """Call the target; on a `memory` case, with tracemalloc's peak of the call noted."""
    notes: dict[str, str] = {}
    if MEMORY_TAG not in case.tags:
        return target(*positional, **keywords, **case.args), notes
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
    return result, notes


def unmeasured(case: ConcreteCase) -> ConcreteCase:
    """The case without its memory measurement (for calls whose outputs alone matter)."""
    if MEMORY_TAG not in case.tags:
        return case
    import dataclasses

    return dataclasses.replace(case, tags=[t for t in case.tags if t != MEMORY_TAG])


def item_bytes(track: str) -> int:
    """Bytes of one float as the track sends it (float32 tensors on torch, else float64)."""
    import numpy as np

    from attn_drill.grading.tracks import get_track

    return int(get_track(track).sent(np.zeros(1)).itemsize)


def block_bytes(case: ConcreteCase, track: str) -> int:
    """Bytes of all blocks together, as the solution receives them."""
    from attn_drill.grading.inputs import Blocks

    itemsize = item_bytes(track)
    return sum(int(part.size) * itemsize for value in case.inputs.values()
               if isinstance(value, Blocks) for item in value.items for part in item)


def block_input(case: ConcreteCase) -> str:
    """The name of the case's iterator input ("" without one)."""
    from attn_drill.grading.inputs import Blocks

    return next((k for k, v in case.inputs.items() if isinstance(v, Blocks)), "")


def violations(spec: Any, case: ConcreteCase, notes: dict[str, str], track: str) -> set[str]:
    """The stream properties (`reads-blocks-once`, `bounded-memory`) one call broke, from the
    notes it left in `Returned.types`."""
    broken: set[str] = set()
    if READ in notes:
        read, total = (int(x) for x in notes[READ].split("/"))
        if int(notes.get(PASSES, "0")) > 1 or read < total:
            broken.add("reads-blocks-once")
    if notes.get(TRACING) == "stopped" or (
            PEAK in notes and int(notes[PEAK]) > block_bytes(case, track) / 4):
        broken.add("bounded-memory")
    return broken
