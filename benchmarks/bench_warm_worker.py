"""Warm worker re-grades (what `attn-drill practice` does on every save) next to cold runs.

Target on the 2-core reference machine: a torch-track re-grade through the warm worker, after
the first one, takes <= 0.2 s (runner only: no reference or diagnosis work).
Run: python benchmarks/bench_warm_worker.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import report

from attn_drill.grading.cases import build_cases
from attn_drill.grading.runner import run_submission
from attn_drill.grading.worker import WarmWorker
from attn_drill.problems import get_problem

REGRADES = 7


def _seconds(action: object) -> float:
    start = time.perf_counter()
    result = action()  # type: ignore[operator]
    elapsed = time.perf_counter() - start
    if result.fatal is not None:
        raise SystemExit(f"the reference failed to run: {result.fatal}")
    return elapsed


def measure(problem_id: str, track: str) -> list[tuple[str, float]]:
    problem = get_problem(problem_id)
    cases = build_cases(problem.tracks[track], 0)
    source = problem.reference_path(track)
    cold = _seconds(lambda: run_submission(source, problem, track, cases))
    started = time.perf_counter()
    worker = WarmWorker(track)
    start_up = time.perf_counter() - started
    try:
        first = _seconds(lambda: worker.run(source, problem, track, cases))
        again = [_seconds(lambda: worker.run(source, problem, track, cases))
                 for _ in range(REGRADES)]
    finally:
        worker.close()
    label = f"{problem_id} ({track})"
    return [
        (f"{label}: cold run_submission", cold),
        (f"{label}: warm worker start", start_up),
        (f"{label}: warm first grade", first),
        (f"{label}: warm re-grade (median of {REGRADES})", statistics.median(again)),
        (f"{label}: warm re-grade (worst)", max(again)),
    ]


def main() -> None:
    numpy_rows = measure("softmax", "numpy")
    torch_rows = measure("scaled-dot-product-attention", "torch")
    report(numpy_rows + torch_rows,
           [("torch warm re-grade seconds (median)", torch_rows[3][1], 0.2)])


if __name__ == "__main__":
    main()
