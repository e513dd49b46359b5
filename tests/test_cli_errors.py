"""Regressions found by reviewing the CLI against the contract and by adversarial grading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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


def test_bad_timeout_and_seed_are_usage_errors(tmp_path: Path) -> None:
    submission = tmp_path / "softmax.py"
    submission.write_text("import numpy as np\n\n\ndef softmax(x, axis=-1):\n    return x\n")
    for flags in (["--timeout", "nan"], ["--timeout", "inf"], ["--timeout", "0"],
                  ["--timeout", "-1"], ["--seed", "-5"]):
        result = runner.invoke(app, ["grade", str(submission), *flags])
        assert result.exit_code == 2, (flags, result.output)
    progress = runner.invoke(app, ["progress", "--json"])
    assert all(row["attempts"] == 0 for row in json.loads(progress.stdout)["problems"])


def test_json_errors_are_one_json_document_on_stdout(tmp_path: Path) -> None:
    result = runner.invoke(app, ["grade", str(tmp_path / "missing.py"), "--json"])
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["error"]["exit_code"] == 2
    assert "missing.py" in document["error"]["message"]
    listed = runner.invoke(app, ["list", "--track", "jax", "--json"])
    assert listed.exit_code == 2 and "error" in json.loads(listed.stdout)


def test_config_lang_shows_the_language_in_effect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert runner.invoke(app, ["config", "lang"]).stdout.strip() == "zh"
    runner.invoke(app, ["config", "lang", "en"])
    assert runner.invoke(app, ["config", "lang"]).stdout.strip() == "en"
