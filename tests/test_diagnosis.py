"""Diagnosis: wrong submissions are named by the right misconception, from mutants, from failed
properties (even with no mutant to match) and from cheap patterns."""

from __future__ import annotations

from pathlib import Path

import pytest

from attn_drill.grading import diagnosis
from attn_drill.grading.grade import grade_file, run_in_process
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures" / "solutions"


def grade(path: Path, **kwargs: object):
    return grade_file(path, runner=run_in_process, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name,expected",
    [
        ("softmax_naive.py", "unstable-softmax"),
        ("softmax_inplace.py", "mutates-input"),
        ("sdpa_kt.py", "no-batch-dims"),
        ("sdpa_no_mask.py", "ignores-mask"),
        ("sdpa_no_scale.py", "missing-scale"),
        ("sdpa_tiny_fill.py", "mask-tiny-fill"),
        ("causal_leak.py", "causal-future-leak"),
        # raises on one batched mask case as well: that second problem must not hide the first
        ("mha_no_transpose.py", "heads-no-transpose"),
    ],
)
def test_hand_written_mistakes_are_diagnosed(name: str, expected: str) -> None:
    report = grade(FIXTURES / name)
    assert not report.passed
    assert report.diagnosis, [(c.name, c.message) for c in report.checks if not c.passed]
    assert report.diagnosis[0].id == expected, [d.id for d in report.diagnosis]


@pytest.mark.parametrize(
    "name,expected",
    [
        ("sdpa_kt.py", "no-batch-dims"),
        ("sdpa_no_mask.py", "ignores-mask"),
        ("sdpa_tiny_fill.py", "mask-tiny-fill"),
        ("softmax_inplace.py", "mutates-input"),
        ("causal_leak.py", "causal-future-leak"),
        ("softmax_naive.py", "unstable-softmax"),
    ],
)
def test_property_failures_are_diagnosed_without_any_mutant(
        monkeypatch: pytest.MonkeyPatch, name: str, expected: str) -> None:
    monkeypatch.setattr(diagnosis, "match_mutants", lambda ev: [])
    report = grade(FIXTURES / name)
    assert expected in [d.id for d in report.diagnosis]


def test_diagnosis_points_at_the_hint() -> None:
    report = grade(FIXTURES / "sdpa_no_mask.py")
    assert report.diagnosis[0].id == "ignores-mask"
    assert report.diagnosis[0].hint is not None
    message = report.diagnosis[0].message
    assert f"Hint {report.diagnosis[0].hint}" in message
    assert "attn-drill hint scaled-dot-product-attention" in message


def test_ignores_mask_evidence_lists_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diagnosis, "match_mutants", lambda ev: [])
    report = grade(FIXTURES / "sdpa_no_mask.py")
    item = next(d for d in report.diagnosis if d.id == "ignores-mask")
    assert "rows that should differ" in item.message
    assert "'worked example with a mask' (0,)" in item.message


def test_no_batch_dims_explains_k_transpose() -> None:
    report = grade(FIXTURES / "sdpa_kt.py")
    batch = next(c for c in report.checks if c.kind == "property:batch-dims")
    assert not batch.passed and "ValueError" in batch.message
    assert any(c.passed for c in report.checks if c.kind.startswith("match:"))
    item = next(d for d in report.diagnosis if d.id == "no-batch-dims")
    assert "K.T" in item.message and "swapaxes" in item.message


def test_diagnosis_follows_the_language() -> None:
    report = grade(FIXTURES / "sdpa_no_scale.py", lang="zh")
    assert report.diagnosis[0].id == "missing-scale"
    assert "第" in report.diagnosis[0].message and "条提示" in report.diagnosis[0].message
    assert any("\u4e00" <= ch <= "\u9fff" for ch in report.diagnosis[0].title)


def test_swapped_outputs_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "scaled_dot_product_attention.py"
    source = (FIXTURES / "sdpa_einsum.py").read_text()
    path.write_text(source.replace(
        'return np.einsum("...nm,...mv->...nv", weights, V), weights',
        'return weights, np.einsum("...nm,...mv->...nv", weights, V)'))
    report = grade(path)
    assert "swapped-outputs" in [d.id for d in report.diagnosis]


def test_constant_factor_is_noted_on_the_check(tmp_path: Path) -> None:
    path = tmp_path / "scaled_dot_product_attention.py"
    source = (FIXTURES / "sdpa_einsum.py").read_text()
    path.write_text(source.replace(
        'return np.einsum("...nm,...mv->...nv", weights, V), weights',
        'return np.einsum("...nm,...mv->...nv", weights, V) * np.sqrt(Q.shape[-1]), weights'))
    report = grade(path)
    random_check = next(c for c in report.checks if c.kind == "match:random")
    assert any("√d_k" in d for d in random_check.details), random_check.details


def test_rounded_output_is_found_and_named() -> None:
    from attn_drill.grading.cases import build_cases
    from attn_drill.grading.checks import compute_references, run_checks
    from attn_drill.grading.grade import evaluation_from_run
    from attn_drill.problems import get_problem

    problem = get_problem("softmax")
    cases = build_cases(problem.tracks["numpy"], 0)
    run = run_in_process(FIXTURES / "softmax_list.py", problem, "numpy", cases)
    ev = evaluation_from_run(problem, "numpy", 0, cases, {}, compute_references(
        problem, "numpy", cases), run, None, 10.0)
    checks = run_checks(ev)
    findings = diagnosis.collect_findings(ev, checks)
    assert "rounded-output" in findings.ids
    # softmax.yaml lists rounded-output, so the report names it
    assert "rounded-output" in [d.id for d in diagnosis.to_diagnoses(ev, findings, "en")]


def test_passing_submission_has_no_diagnosis_even_if_a_mutant_is_harmless() -> None:
    report = grade(REPO / "solutions" / "softmax_numpy.py",
                   problem_id="softmax")
    assert report.passed and report.diagnosis == []


def test_starter_file_gets_no_diagnosis(tmp_path: Path) -> None:
    from attn_drill.problems import get_problem
    from attn_drill.workspace import write_starter

    for problem_id in ("multi-head-attention", "softmax", "causal-attention"):
        path = write_starter(get_problem(problem_id), "numpy", tmp_path, force=True)
        report = grade(path)
        assert not report.passed
        assert report.diagnosis == [], (problem_id, [d.id for d in report.diagnosis])
        assert "NotImplementedError" in next(c for c in report.checks if c.kind == "runs").message
