"""`attn-drill grade` of each LLM-attention problem's reference, next to the import floors.

Targets on the 2-core reference machine: a NumPy grade <= 5x `python -c "import numpy"`, a
torch grade <= 1.6x `python -c "import torch"`, per problem and track.
Run: python benchmarks/bench_llm_problems.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import report, time_command

REPO = Path(__file__).resolve().parents[1]
PROBLEMS = {
    "grouped-query-attention": ("numpy", "torch"),
    "sliding-window-attention": ("numpy", "torch"),
    "linear-attention": ("numpy",),
    "attention-backward": ("numpy",),
    "rope": ("numpy", "torch"),
    "padded-attention": ("numpy", "torch"),
    "kv-cache": ("numpy", "torch"),
    "flash-attention": ("numpy",),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    python = sys.executable
    rows = [
        ('python -c "import numpy"', time_command([python, "-c", "import numpy"], runs=runs)),
        ('python -c "import torch"', time_command([python, "-c", "import torch"], runs=runs)),
    ]
    ratios = []
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ATTN_DRILL_HOME": home}
        for problem_id, tracks in PROBLEMS.items():
            stem = problem_id.replace("-", "_")
            for track in tracks:
                solution = Path(home) / f"{stem}_{track}.py"
                solution.write_text(f"# attn-drill: {problem_id} track={track}\n"
                                    + (REPO / "solutions" / f"{stem}_{track}.py").read_text())
                seconds = time_command([python, "-m", "attn_drill", "grade", "--no-record",
                                        str(solution)], runs=runs, env=env)
                rows.append((f"grade {problem_id} ({track})", seconds))
                floor, target = (rows[0][1], 5.0) if track == "numpy" else (rows[1][1], 1.6)
                ratios.append((f"{problem_id} ({track}) / import {track}", seconds / floor,
                               target))
    report(rows, ratios)


if __name__ == "__main__":
    main()
