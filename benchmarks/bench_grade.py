"""End-to-end `attn-drill grade` for a NumPy and a torch problem, next to the import floors.

Targets on the 2-core reference machine: NumPy grade <= 0.5 s end to end; torch grade
<= 1.4x `python -c "import torch"`. Run: python benchmarks/bench_grade.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import report, time_command

PACK = Path(__file__).resolve().parents[1] / "solutions"


def main() -> None:
    python = sys.executable
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ATTN_DRILL_HOME": home}
        numpy_solution = Path(home) / "softmax.py"
        numpy_solution.write_text(
            "# attn-drill: softmax\n" + (PACK / "softmax_numpy.py").read_text()
        )
        torch_solution = Path(home) / "sdpa_torch.py"
        torch_solution.write_text(
            "# attn-drill: scaled-dot-product-attention track=torch\n"
            + (PACK / "scaled_dot_product_attention_torch.py").read_text()
        )
        grade = [python, "-m", "attn_drill", "grade", "--no-record"]
        rows = [
            ('python -c "import numpy"', time_command([python, "-c", "import numpy"])),
            ('python -c "import torch"', time_command([python, "-c", "import torch"], runs=5)),
            ("grade softmax (numpy)", time_command([*grade, str(numpy_solution)], env=env)),
            ("grade sdpa (torch)", time_command([*grade, str(torch_solution)], runs=5, env=env)),
        ]
    report(
        rows,
        [
            ("numpy grade seconds", rows[2][1], 0.5),
            ("torch grade / torch import", rows[3][1] / rows[1][1], 1.4),
        ],
    )


if __name__ == "__main__":
    main()
