"""`--save-cases`: each failing case is written with a repro script that judges like the grader."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.conftest import needs_torch
from tests.helpers import SDPA_RETURNING, grade_source
from tests.test_torch_grading import MODULE_CACHE

# -- 4: --save-cases judges like the grader and says where it wrote -----------------------------

def _save_and_run(tmp_path: Path, source: str, problem: str, track: str = "numpy"):
    import subprocess
    import sys

    from attn_drill.grading.savecases import save_failing_cases

    report = grade_source(tmp_path, source, problem, track)
    assert not report.passed
    folders = save_failing_cases(report, tmp_path / "cases")
    assert folders and report.saved_cases_dir == str(tmp_path / "cases")
    assert report.saved_cases == [str(f) for f in folders]
    run = subprocess.run([sys.executable, str(folders[0] / "repro.py")], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    return report, run


def test_repro_uses_the_float64_tolerance_of_the_grader(tmp_path: Path) -> None:
    # off by 1e-6: within float32's tolerance, outside float64's
    source = SDPA_RETURNING.format(result="o + 1e-6, w")
    _, run = _save_and_run(tmp_path, source, "scaled-dot-product-attention")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "close: False" in run.stdout and "for float64" in run.stdout


def test_repro_names_nan_and_exits_1(tmp_path: Path) -> None:
    source = SDPA_RETURNING.format(result="o * np.nan, w")
    _, run = _save_and_run(tmp_path, source, "scaled-dot-product-attention")
    assert run.returncode == 1
    assert "NaN value(s) where numbers are expected" in run.stdout
    assert "RuntimeWarning" not in run.stderr


def test_repro_exits_0_once_the_solution_is_fixed(tmp_path: Path) -> None:
    source = SDPA_RETURNING.format(result="o + 1e-6, w")
    report, _ = _save_and_run(tmp_path, source, "scaled-dot-product-attention")
    import subprocess
    import sys

    (tmp_path / "submission.py").write_text(
        textwrap.dedent(SDPA_RETURNING.format(result="o, w")), encoding="utf-8")
    run = subprocess.run([sys.executable, str(Path(report.saved_cases[0]) / "repro.py")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "passes now" in run.stdout


@needs_torch
def test_module_repro_checks_train_grads_and_eval(tmp_path: Path) -> None:
    _, run = _save_and_run(tmp_path, MODULE_CACHE, "self-attention-module", "torch")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "output (eval mode)" in run.stdout and "still fails" in run.stdout
