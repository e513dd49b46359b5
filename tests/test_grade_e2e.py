"""The grader end to end: the real isolated runner, the CLI (CliRunner and real processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attn_drill.cli import app
from attn_drill.grading.grade import grade_file
from attn_drill.problems import builtin_problems
from tests.conftest import HAS_TORCH, REPO, needs_torch, run_cli
from tests.helpers import code_track_params

FIXTURES = REPO / "tests" / "fixtures" / "solutions"
PACK = REPO
runner = CliRunner()

@pytest.mark.parametrize("problem_id,track", code_track_params())
def test_every_reference_passes_through_the_real_runner(problem_id: str, track: str) -> None:
    if track == "torch" and not HAS_TORCH:
        pytest.skip("PyTorch is not installed")
    problem = builtin_problems()[problem_id]
    report = grade_file(problem.reference_path(track), problem_id=problem_id, track=track)
    assert report.passed, [(c.name, c.message) for c in report.checks if not c.passed]
    assert report.diagnosis == []


@pytest.fixture(scope="module")
def detached_module_report():
    if not HAS_TORCH:
        pytest.skip("PyTorch is not installed")
    return grade_file(FIXTURES / "self_attention_module_detached.py")


@needs_torch
def test_module_written_differently_passes_and_detached_one_has_no_gradient(
        detached_module_report) -> None:
    good = grade_file(FIXTURES / "self_attention_module_einsum.py")
    assert good.passed, [(c.name, c.message) for c in good.checks if not c.passed]
    bad = detached_module_report
    assert not bad.passed
    gradients = next(c for c in bad.checks if c.kind == "property:gradients")
    assert not gradients.passed and "no gradient reached x" in gradients.message
    assert "no-gradient" in [d.id for d in bad.diagnosis]


@needs_torch
def test_module_save_cases_snippet_reproduces_missing_gradients(
        tmp_path: Path, detached_module_report) -> None:
    import subprocess
    import sys

    from attn_drill.grading.savecases import save_failing_cases

    folders = save_failing_cases(detached_module_report, tmp_path / "cases")
    assert (folders[0] / "grad_output.npy").is_file()
    run = subprocess.run([sys.executable, str(folders[-1] / "repro.py")], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 1, run.stderr  # the case still fails
    assert "grad x: missing" in run.stdout


def test_learner_traceback_shows_only_learner_frames() -> None:
    report = grade_file(FIXTURES / "softmax_raises.py")
    assert not report.passed
    assert "softmax_raises.py" in report.learner_traceback
    assert "helper" in report.learner_traceback
    assert "attn_drill" not in report.learner_traceback.replace("attn-drill", "")


def test_printing_is_truncated_and_never_fails() -> None:
    report = grade_file(FIXTURES / "softmax_chatty.py")
    assert report.passed
    assert report.output_truncated
    assert "debugging softmax" in report.stdout
    assert len(report.stdout) < 64 * 1024


def test_endless_loop_times_out_as_a_failure() -> None:
    report = grade_file(FIXTURES / "softmax_forever.py", timeout=1.0)
    assert not report.passed
    assert report.error_kind == "timeout"
    runs = next(c for c in report.checks if c.kind == "runs")
    assert "1 s" in runs.message


def test_sys_exit_is_a_failure_not_a_pass() -> None:
    report = grade_file(FIXTURES / "softmax_exits.py")
    assert not report.passed
    assert report.score < 0.5


# -- the CLI ---------------------------------------------------------------------------------


def test_cli_grade_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "softmax.py"
    good.write_text((PACK / "solutions" / "softmax_numpy.py").read_text())
    passed = runner.invoke(app, ["grade", str(good), "--no-record"])
    assert passed.exit_code == 0, passed.output
    assert "PASSED" in passed.output
    failed = runner.invoke(app, ["grade", str(FIXTURES / "sdpa_no_scale.py"), "--no-record"])
    assert failed.exit_code == 1
    assert "missing-scale" in failed.output
    for args in (["grade", str(tmp_path / "nope.py")],
                 ["grade", str(good), "--problem", "nope"],
                 ["grade", str(good), "--track", "jax"],
                 ["grade", str(good), "--track", "torch"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output


def test_cli_json_is_one_document(tmp_path: Path) -> None:
    result = runner.invoke(app, ["grade", str(FIXTURES / "softmax_naive.py"), "--json",
                                 "--no-record", "--seed", "3"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)  # fails if anything else was printed
    assert document["problem"] == "softmax" and document["seed"] == 3
    assert document["passed"] is False and 0 < document["score"] < 1
    assert [d["id"] for d in document["diagnosis"]] == ["unstable-softmax"]
    assert isinstance(document["duration_s"], float)
    chatty = runner.invoke(app, ["grade", str(FIXTURES / "softmax_chatty.py"), "--json",
                                 "--no-record"])
    assert chatty.exit_code == 0
    assert json.loads(chatty.stdout)["output_truncated"] is True


def test_cli_chinese_feedback() -> None:
    result = runner.invoke(app, ["grade", str(FIXTURES / "sdpa_kt.py"), "--lang", "zh",
                                 "--no-record"])
    assert result.exit_code == 1
    assert "未通过" in result.output
    assert "支持前置的批量维度" in result.output
    assert "no-batch-dims" in result.output


def test_cli_save_cases_and_record(tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    result = runner.invoke(app, ["grade", str(FIXTURES / "softmax_naive.py"),
                                 "--save-cases", str(cases)])
    assert result.exit_code == 1, result.output
    folders = sorted(p for p in cases.iterdir() if p.is_dir())
    assert folders
    assert all((f / "repro.py").is_file() and (f / "input_x.npy").is_file() for f in folders)
    from attn_drill.progress import has_passed

    assert has_passed("softmax") is False


def test_real_process_grade_json_and_exit_code(tmp_path: Path) -> None:
    good = tmp_path / "softmax.py"
    good.write_text((PACK / "solutions" / "softmax_numpy.py").read_text())
    result = run_cli("grade", str(good), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["passed"] is True
    bad = run_cli("grade", str(FIXTURES / "softmax_syntax.py"))
    assert bad.returncode == 1
    assert "line 5" in bad.stdout
    assert "Traceback (most recent call last)" not in bad.stderr


def test_signature_problem_reported_by_the_runner_fails_defines(tmp_path: Path) -> None:
    # Defined by assignment, so only calling it reveals that `axis` is not accepted.
    path = tmp_path / "softmax.py"
    path.write_text("import numpy as np\n\n"
                    "softmax = lambda x: np.exp(x - x.max(-1, keepdims=True)) / "
                    "np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)\n")
    report = grade_file(path)
    defines = report.checks[0]
    assert not defines.passed
    assert "signature" in defines.message


def test_empty_file_fails_and_binary_file_is_a_usage_error(tmp_path: Path) -> None:
    empty = tmp_path / "softmax.py"
    empty.write_text("")
    result = runner.invoke(app, ["grade", str(empty), "--no-record", "--json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["checks"][0]["passed"] is False
    assert "softmax" in document["checks"][0]["message"]
    binary = tmp_path / "self_attention.py"
    binary.write_bytes(b"\xff\xfe\x00def \x81\x82")
    unreadable = runner.invoke(app, ["grade", str(binary), "--no-record"])
    assert unreadable.exit_code == 2
    assert "UTF-8" in unreadable.output
