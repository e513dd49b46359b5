"""Run the real-terminal practice tests many times in a row beside CPU-bound load.

A test that reads a terminal must wait for the last thing a screen draws; this script is the
proof that the tmux tests do, on a busy machine. Not part of the default suite (it takes
minutes).

    python benchmarks/stress_tmux.py            # 50 rounds, 3 busy processes
    python benchmarks/stress_tmux.py --runs 10 --busy 2

Exit status 0 when every round passed, 1 otherwise (the failing round's output is printed).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _burn(stop: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    value = 0
    while not stop.is_set():
        for i in range(100_000):
            value = (value + i * i) % 1_000_003


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--busy", type=int, default=3, help="CPU-bound processes beside")
    args = parser.parse_args()

    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True)
               for _ in range(args.busy)]
    for burner in burners:
        burner.start()
    started = time.monotonic()
    failures = 0
    try:
        for run in range(1, args.runs + 1):
            with tempfile.TemporaryDirectory() as home:
                env = {**os.environ, "ATTN_DRILL_HOME": home}
                result = subprocess.run(
                    [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                     str(ROOT / "tests" / "test_practice_tmux.py")],
                    cwd=ROOT, env=env, capture_output=True, text=True, check=False,
                )
            # A skipped test (no tmux) proves nothing: count it as a failure.
            ok = result.returncode == 0 and "skipped" not in result.stdout
            print(f"round {run:>3}/{args.runs}: {'ok' if ok else 'FAILED'}", flush=True)
            if not ok:
                failures += 1
                print(result.stdout[-6000:], result.stderr[-2000:], sep="\n", flush=True)
    finally:
        stop.set()
        for burner in burners:
            burner.join(timeout=5)
    minutes = (time.monotonic() - started) / 60
    print(f"{args.runs - failures}/{args.runs} rounds passed with {args.busy} busy "
          f"processes beside ({minutes:.1f} min)")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
