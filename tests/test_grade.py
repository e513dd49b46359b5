"""grade_file: problem/track detection, checks, scores, JSON, rendering (in-process runner).

These tests inject `run_in_process` as the runner so they exercise every check quickly;
tests/test_grade_e2e.py runs the same grader through the real isolated child process.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from attn_drill.errors import (
    MissingDependencyError,
    MissingFileError,
    UnknownProblemError,
    UnknownTrackError,
)
from attn_drill.grading.grade import grade_file, run_in_process
from tests.conftest import REPO, needs_torch

FIXTURES = REPO / "tests" / "fixtures" / "solutions"
PACK = REPO


def grade(path: Path, **kwargs: object):
    return grade_file(path, runner=run_in_process, **kwargs)  # type: ignore[arg-type]


def copy_as(tmp_path: Path, source: Path, name: str, header: str | None = None) -> Path:
    text = source.read_text(encoding="utf-8")
    if header is not None:
        text = header + "\n" + text
    target = tmp_path / name
    target.write_text(text, encoding="utf-8")
    return target


# -- correct-but-different solutions pass ---------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "softmax_logsumexp.py",
        "softmax_float32.py",
        "softmax_loops.py",
        "sdpa_einsum.py",  # -1e9 fill
        "sdpa_loops.py",  # -inf fill, explicit loops
        "sdpa_float32.py",
        "causal_loops.py",
        "self_attention_einsum.py",
        "mha_heads_loop.py",
        "additive_loops.py",
        "cross_attention_einsum.py",
    ],
)
def test_correct_but_different_numpy_solutions_pass(name: str) -> None:
    report = grade(FIXTURES / name)
    failed = [(c.name, c.message) for c in report.checks if not c.passed]
    assert report.passed, failed
    assert report.score == 1.0
    assert report.diagnosis == []


def test_float32_result_is_judged_with_float32_tolerance() -> None:
    report = grade(FIXTURES / "sdpa_float32.py")
    dtype_check = next(c for c in report.checks if c.kind == "dtype")
    assert dtype_check.passed
    assert "float32" in dtype_check.message


# -- problem and track detection -----------------------------------------------------------


def test_problem_from_file_stem(tmp_path: Path) -> None:
    path = copy_as(tmp_path, PACK / "solutions" / "softmax_numpy.py", "softmax.py")
    assert grade(path).problem == "softmax"


def test_problem_from_stem_with_underscores_and_track_suffix(tmp_path: Path) -> None:
    path = copy_as(tmp_path, FIXTURES / "sdpa_einsum.py", "scaled_dot_product_attention.py")
    report = grade(path)
    assert (report.problem, report.track) == ("scaled-dot-product-attention", "numpy")


def test_header_beats_file_name_and_flag_beats_header(tmp_path: Path) -> None:
    path = copy_as(tmp_path, PACK / "solutions" / "softmax_numpy.py", "anything.py",
                   header="# attn-drill: softmax")
    assert grade(path).problem == "softmax"
    with pytest.raises(UnknownTrackError):
        grade(path, problem_id="softmax", track="torch")
    other = grade(path, problem_id="self-attention")
    assert other.problem == "self-attention"
    assert not other.passed  # softmax code does not define self_attention


@needs_torch
def test_track_from_torch_import_statement(tmp_path: Path) -> None:
    path = copy_as(tmp_path, PACK / "solutions" / "scaled_dot_product_attention_torch.py",
                   "mine.py", header="# attn-drill: scaled-dot-product-attention")
    assert grade(path).track == "torch"
    numpy_path = copy_as(tmp_path, FIXTURES / "sdpa_einsum.py", "numpy_one.py")
    # a comment mentioning torch is not an import statement
    numpy_path.write_text(numpy_path.read_text() + "\n# import torch would be slower\n")
    assert grade(numpy_path).track == "numpy"


def test_unknown_problem_and_missing_file_are_usage_errors(tmp_path: Path) -> None:
    unknown = tmp_path / "no_such_problem.py"
    unknown.write_text("def f():\n    pass\n")
    with pytest.raises(UnknownProblemError):
        grade(unknown)
    with pytest.raises(UnknownProblemError):
        grade(unknown, problem_id="not-a-problem")
    with pytest.raises(MissingFileError):
        grade(tmp_path / "missing.py")
    with pytest.raises(MissingFileError):
        grade(tmp_path)
    with pytest.raises(UnknownTrackError):
        grade(PACK / "solutions" / "softmax_numpy.py", problem_id="softmax", track="jax")


def test_torch_track_without_torch_is_exit_2(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    path = copy_as(tmp_path, FIXTURES / "sdpa_einsum.py", "x.py")
    with pytest.raises(MissingDependencyError) as info:
        grade(path, problem_id="scaled-dot-product-attention", track="torch")
    assert "pip install" in info.value.message


def test_numpy_grade_never_imports_torch_in_the_parent() -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from attn_drill.grading.grade import grade_file, run_in_process\n"
        f"r = grade_file(Path({str(FIXTURES / 'sdpa_einsum.py')!r}), runner=run_in_process)\n"
        "assert r.passed\n"
        "from attn_drill.grading.validate import validate_pack\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# -- failing submissions -----------------------------------------------------------------


def test_syntax_error_fails_every_check_with_the_line() -> None:
    report = grade(FIXTURES / "softmax_syntax.py")
    assert not report.passed
    assert report.score == 0.0
    assert "line 5" in report.checks[0].message
    assert report.diagnosis == []


def test_incompatible_signature_is_named_and_still_run() -> None:
    report = grade(FIXTURES / "softmax_wrong_signature.py")
    defines = report.checks[0]
    assert not defines.passed and "axis" in defines.message
    runs = next(c for c in report.checks if c.kind == "runs")
    assert "TypeError" in runs.message


def test_exception_is_reported_with_the_case_and_learner_traceback() -> None:
    report = grade(FIXTURES / "softmax_raises.py")
    runs = next(c for c in report.checks if c.kind == "runs")
    assert not runs.passed
    assert "learner-side failure in helper" in runs.message
    assert "worked example" in runs.message
    assert report.error_kind == "exception"


def test_list_result_fails_type_check_with_advice() -> None:
    report = grade(FIXTURES / "softmax_list.py")
    type_check = next(c for c in report.checks if c.kind == "type")
    assert not type_check.passed
    assert "list" in type_check.message and "NumPy array" in type_check.message


@needs_torch
def test_torch_track_returning_numpy_fails_the_type_and_gradient_checks() -> None:
    # Values are still compared (only the type is wrong); leaving torch also cuts the graph.
    report = grade(FIXTURES / "sdpa_torch_numpy_return.py")
    failed = [c.kind for c in report.checks if not c.passed]
    assert failed == ["type", "property:gradients"]
    assert 0 < report.score < 1


def test_shape_mismatch_is_explained_with_dimension_names() -> None:
    report = grade(FIXTURES / "sdpa_weights_only.py")
    shape = next(c for c in report.checks if c.kind == "shape")
    assert not shape.passed
    assert "expected (2, 2) = (n, d_v)" in shape.message


def test_batched_shape_names_include_batch() -> None:
    from attn_drill.grading.checks import explain_shape

    assert explain_shape((2, 5, 24), ["...", "n", "d_v"]) == "(2, 5, 24) = (batch, n, d_v)"
    assert explain_shape((5, 24), ["...", "n", "d_v"]) == "(5, 24) = (n, d_v)"
    assert explain_shape((3, 5, 24), ["n", "d_v"]) == "(3, 5, 24)"


def test_nan_outputs_are_called_out_and_mismatch_table_filled() -> None:
    report = grade(FIXTURES / "softmax_naive.py")
    stability = next(c for c in report.checks if c.kind == "property:stability")
    assert not stability.passed
    assert "NaN" in stability.message
    table = stability.mismatch
    assert table is not None and table.nan_count > 0
    assert table.mismatched <= table.total and table.rows
    assert "Mismatched elements" in stability.message


def test_score_is_fraction_of_required_checks() -> None:
    report = grade(FIXTURES / "softmax_inplace.py")
    required = [c for c in report.checks if c.required]
    assert report.score == pytest.approx(sum(c.passed for c in required) / len(required))
    assert not report.passed


def test_fake_runner_timeout_is_a_failure_not_an_error(tmp_path: Path) -> None:
    from attn_drill.grading.runner import LearnerError, RunResult

    def timed_out(source, problem, track, cases, *, timeout_s=10.0):
        return RunResult(cases=[], fatal=LearnerError("timeout", "time limit"), stdout="",
                         stderr="", output_truncated=False, learner_seconds=timeout_s)

    path = copy_as(tmp_path, PACK / "solutions" / "softmax_numpy.py", "softmax.py")
    report = grade_file(path, runner=timed_out, timeout=0.5)
    assert not report.passed
    runs = next(c for c in report.checks if c.kind == "runs")
    assert "0.5 s" in runs.message
    assert report.error_kind == "timeout"


def test_runner_receives_derived_cases_and_resolved_path(tmp_path: Path) -> None:
    seen = {}

    def spy(source, problem, track, cases, *, timeout_s=10.0):
        seen["source"] = source
        seen["names"] = [c.name for c in cases]
        return run_in_process(source, problem, track, cases, timeout_s=timeout_s)

    report = grade_file(FIXTURES / "causal_loops.py", runner=spy)
    assert report.passed
    assert Path(seen["source"]).is_absolute()
    assert any(n.endswith("(token 1 changed)") for n in seen["names"])


# -- JSON and rendering ------------------------------------------------------------------


def test_json_document_has_the_contract_fields() -> None:
    report = grade(FIXTURES / "sdpa_no_scale.py")
    document = json.loads(json.dumps(report.to_dict()))
    assert {"problem", "track", "passed", "score", "seed", "version", "duration_s", "checks",
            "diagnosis"} <= set(document)
    assert document["passed"] is False
    assert all({"name", "passed", "message"} <= set(c) for c in document["checks"])
    assert document["diagnosis"][0]["id"] == "missing-scale"
    assert "message" in document["diagnosis"][0]


def test_report_renders_in_80_columns_without_colour(capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from attn_drill.render.report import grade_report

    monkeypatch.setenv("COLUMNS", "80")
    report = grade(FIXTURES / "sdpa_tiny_fill.py")
    grade_report(report, "en", verbose=True)
    out = capsys.readouterr().out
    assert "\x1b[" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    flat = " ".join(out.split())  # rich wraps long lines at 80 columns
    assert "✗" in out and "✓" in out
    assert "Mismatched elements" in flat
    assert "mask-tiny-fill" in flat
    # the weights heatmap of a small case: both sides labelled
    assert "yours" in out and "reference" in out


def test_report_in_chinese(capsys: pytest.CaptureFixture[str]) -> None:
    from attn_drill.render.report import grade_report

    report = grade(FIXTURES / "sdpa_no_scale.py", lang="zh")
    grade_report(report, "zh")
    out = capsys.readouterr().out
    assert "未通过" in out
    assert "与参考答案一致" in out
    assert "可能的误区" in out


def test_seed_changes_random_cases_only() -> None:
    a = grade(FIXTURES / "sdpa_no_scale.py", seed=0)
    b = grade(FIXTURES / "sdpa_no_scale.py", seed=5)
    assert a.seed == 0 and b.seed == 5
    assert any("seed 5" in c.name for c in b.checks)
    assert a.failing_cases[0].name == b.failing_cases[0].name  # fixed case first in both
    first_random = next(c for c in a.failing_cases if "random" in c.name)
    other = next(c for c in b.failing_cases if c.name == first_random.name)
    assert not np.array_equal(first_random.inputs["Q"], other.inputs["Q"])


# -- text track ----------------------------------------------------------------------------


@pytest.mark.parametrize("name,lang", [("explain_sqrt_dk_en.md", "en"),
                                       ("explain_sqrt_dk_zh.md", "zh")])
def test_text_answers_in_both_languages_pass(name: str, lang: str) -> None:
    report = grade(FIXTURES / name, lang=lang)
    assert report.track == "text"
    assert report.passed, [(c.name, c.message) for c in report.checks if not c.passed]


def test_thin_text_answer_fails_with_what_to_add(tmp_path: Path) -> None:
    report = grade(FIXTURES / "explain_sqrt_dk_thin.md")
    assert not report.passed
    missing = [c for c in report.checks if not c.passed and c.kind.startswith("rubric:")]
    assert missing and all(c.message.startswith("missing:") for c in missing)
    empty = tmp_path / "explain_sqrt_dk.md"
    empty.write_text("")
    assert not grade(empty).passed


def test_save_cases_writes_npy_and_a_runnable_snippet(tmp_path: Path) -> None:
    from attn_drill.grading.savecases import save_failing_cases

    source = tmp_path / "work" / "scaled_dot_product_attention.py"
    source.parent.mkdir()
    shutil.copy(FIXTURES / "sdpa_no_scale.py", source)
    report = grade(source)
    folders = save_failing_cases(report, tmp_path / "cases")
    assert folders
    first = folders[0]
    assert (first / "input_Q.npy").is_file()
    assert (first / "expected_output.npy").is_file()
    assert (first / "got_weights.npy").is_file()
    got = np.load(first / "got_output.npy")
    expected = np.load(first / "expected_output.npy")
    assert got.shape == expected.shape and not np.allclose(got, expected)
    run = subprocess.run([sys.executable, str(first / "repro.py")], capture_output=True,
                         text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 1, run.stderr  # the case still fails
    assert "output: max abs diff" in run.stdout and "close: False" in run.stdout


def test_position_dependent_attention_fails_permutation_equivariance() -> None:
    bad = grade(FIXTURES / "self_attention_positional.py")
    check = next(c for c in bad.checks if c.kind == "property:permutation-equivariance")
    assert not check.passed and "token" in check.message
    good = grade(FIXTURES / "self_attention_einsum.py")
    assert next(c for c in good.checks
                if c.kind == "property:permutation-equivariance").passed


def test_causal_future_check_names_the_earlier_positions() -> None:
    report = grade(FIXTURES / "causal_leak.py")
    check = next(c for c in report.checks if c.kind == "property:causal-future")
    assert not check.passed
    assert "earlier positions [0, 1, 2, 3, 4, 5]" in check.message


def test_fully_masked_rows_are_not_graded() -> None:
    import copy

    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.grading.checks import (
        CaseOutcome,
        Evaluation,
        compute_references,
        judge_case,
    )
    from attn_drill.problems import get_problem

    problem = get_problem("scaled-dot-product-attention")
    rng = np.random.default_rng(0)
    mask = np.ones((3, 4), dtype=bool)
    mask[1] = False  # query 1 may attend to nothing: any answer is acceptable there
    case = ConcreteCase(name="fully masked row", tags=["mask"], dims={},
                        inputs={"Q": rng.standard_normal((3, 16)),
                                "K": rng.standard_normal((4, 16)),
                                "V": rng.standard_normal((4, 5)), "mask": mask})
    references = compute_references(problem, "numpy", [case])
    learner = copy.deepcopy(references[case.name])
    learner.arrays["output"][1] = np.nan
    learner.arrays["weights"][1] = np.nan
    ev = Evaluation(problem=problem, track="numpy", spec=problem.tracks["numpy"], seed=0,
                    cases=[case], derived={}, outcomes={case.name: CaseOutcome(learner)},
                    references=references)
    assert judge_case(ev, case, ["output", "weights"]).ok
    learner.arrays["output"][0, 0] += 1.0  # a graded row that is wrong still fails
    verdict = judge_case(ev, case, ["output", "weights"])
    assert not verdict.ok and verdict.comparison is not None
    assert verdict.comparison.table is not None and verdict.comparison.table.ignored_rows == 1
