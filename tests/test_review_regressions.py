"""Regressions found by reviewing the CLI against the contract and by adversarial grading."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from attn_drill.cli import app

runner = CliRunner()


def test_output_with_an_extra_axis_fails_cleanly_instead_of_crashing(tmp_path: Path) -> None:
    """A 1-D softmax returned as (1, n) once crashed the transposition pattern (exit 3)."""
    submission = tmp_path / "softmax.py"
    submission.write_text(
        "import numpy as np\n\n\n"
        "def softmax(x, axis=-1):\n"
        "    x = np.atleast_2d(x)\n"
        "    e = np.exp(x - x.max(axis=axis, keepdims=True))\n"
        "    return e / e.sum(axis=axis, keepdims=True)\n"
    )
    result = runner.invoke(app, ["grade", str(submission), "--json", "--no-record"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["passed"] is False


def test_learner_warnings_name_the_learners_file(tmp_path: Path) -> None:
    """Warnings used to show the private copy in a temporary directory."""
    from attn_drill.grading.grade import grade_file

    submission = tmp_path / "softmax.py"
    submission.write_text(
        "import numpy as np\n\n\n"
        "def softmax(x, axis=-1):\n"
        "    e = np.exp(x)\n"
        "    return e / e.sum(axis=axis, keepdims=True)\n"
    )
    report = grade_file(submission)
    assert "RuntimeWarning" in report.stderr
    assert str(submission) in report.stderr
    assert "attn-drill-grade-" not in report.stderr
