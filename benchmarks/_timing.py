"""Whole-process timing shared by the benchmark scripts: median wall time over several runs."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Sequence


def time_command(argv: Sequence[str], runs: int = 7, warmup: int = 1, **kwargs: object) -> float:
    """Median wall-clock seconds of running `argv` to completion (output discarded)."""
    samples = []
    for index in range(warmup + runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                       **kwargs)  # type: ignore[call-overload]
        elapsed = time.perf_counter() - start
        if index >= warmup:
            samples.append(elapsed)
    return statistics.median(samples)


def report(rows: list[tuple[str, float]], ratios: list[tuple[str, float, float]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds * 1000:8.1f} ms")
    for label, value, target in ratios:
        verdict = "ok" if value <= target else "OVER TARGET"
        print(f"{label}: {value:.2f} (target <= {target:.2f}) {verdict}")
