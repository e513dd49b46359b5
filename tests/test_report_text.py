"""The grade report as text: 80 columns, wrapped messages, each failure said once, check
names that do not depend on the submission, saved cases named."""

from __future__ import annotations

from pathlib import Path

import pytest

from attn_drill.grading.grade import grade_file
from tests.helpers import SDPA_RETURNING, grade_source
from tests.test_stability_checks import SDPA_MASK_MULT, SOFTMAX_CLIP

# -- 3: the report at 80 columns --------------------------------------------------------------


def render(report, lang: str, capsys: pytest.CaptureFixture[str],
           monkeypatch: pytest.MonkeyPatch, verbose: bool = True) -> str:
    """The full (`--verbose`) report unless told otherwise: these tests look at every check."""
    from attn_drill.render.report import grade_report

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    grade_report(report, lang, verbose=verbose)
    return capsys.readouterr().out


def test_wrapped_check_messages_hang_under_the_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    source = SDPA_MASK_MULT.replace(" / np.sqrt(Q.shape[-1])", "").replace(  # missing-scale
        "    e = np.exp(s - s.max(axis=-1, keepdims=True))\n    if mask is not None:\n"
        "        e = e * mask\n",
        "    if mask is not None:\n        s = np.where(mask, s, -np.inf)\n"
        "    e = np.exp(s - s.max(axis=-1, keepdims=True))\n")
    assert "np.where" in source
    report = grade_source(tmp_path, source, "scaled-dot-product-attention")
    lines = render(report, "en", capsys, monkeypatch).splitlines()
    start = next(i for i, line in enumerate(lines) if "✗ matches reference" in line)
    assert lines[start + 1].startswith("    ") and lines[start + 1][4] != " ", lines[start + 1]
    diagnosis = next(i for i, line in enumerate(lines) if line.startswith("Likely"))
    body = [line for line in lines[diagnosis + 1:diagnosis + 4]]
    assert all(line.startswith("  ") and line[2] != " " for line in body), body


def test_a_file_that_cannot_load_is_said_once_after_its_syntax_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.py"
    path.write_text("def softmax(x, axis=-1)\n    return x\n")
    report = grade_file(path, problem_id="softmax")  # the real runner: it keeps the traceback
    out = render(report, "en", capsys, monkeypatch)
    assert out.count("could not be loaded") == 1, out
    assert out.index("SyntaxError: expected") < out.index("could not be loaded")
    flat = " ".join(out.split())
    assert "output shapes" in flat and "matches reference (fixed cases)" in flat


def test_every_case_failing_the_same_way_is_said_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    source = "def softmax(x, axis=-1):\n    raise ValueError('not yet')\n"
    report = grade_source(tmp_path, source, "softmax")
    out = render(report, "en", capsys, monkeypatch)
    checks_part = " ".join(out.split("Your code raised")[0].split())
    assert checks_part.count("ValueError: not yet") == 1, out
    assert "every case failed as above" in checks_part


@pytest.mark.parametrize("lang,words", [
    ("en", "your code can read files the grading user can read"),
    ("zh", "你的代码能读取评测用户可以读取的文件"),
])
def test_protections_are_named_in_plain_words(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        lang: str, words: str) -> None:
    report = grade_source(tmp_path, SOFTMAX_CLIP, "softmax", lang=lang)
    report.protections_off = ["read-restricted"]
    out = "".join(render(report, lang, capsys, monkeypatch).split())
    assert "".join(words.split()) in out and "read-restricted" not in out
    assert report.to_dict()["protections_off"] == ["read-restricted"]


def test_heatmap_shows_the_case_where_the_weights_differ_most(tmp_path: Path) -> None:
    import numpy as np

    report = grade_source(tmp_path, SDPA_MASK_MULT.replace(
        "w = e / e.sum(axis=-1, keepdims=True)",
        "w = e / e.sum(axis=-1, keepdims=True)\n"
        "    if w.ndim == 3: w = w.copy(); w[-1] = 1.0 / w.shape[-1]"),
        "scaled-dot-product-attention")
    heat = next(c.heatmap for c in report.checks if c.heatmap is not None)
    got, expected = np.array(heat.got, dtype=float), np.array(heat.expected, dtype=float)
    assert not np.allclose(got, expected, equal_nan=True)


@pytest.mark.parametrize("problem", ["softmax", "scaled-dot-product-attention",
                                     "multi-head-attention"])
def test_check_names_do_not_depend_on_whether_the_file_loads(tmp_path: Path,
                                                            problem: str) -> None:
    from attn_drill.problems import get_problem

    reference = get_problem(problem).reference_path("numpy").read_text(encoding="utf-8")
    good = grade_source(tmp_path, reference, problem, "numpy")
    broken = grade_source(tmp_path, "def broken(:\n", problem, "numpy")
    assert good.passed and not broken.passed
    assert [c.name for c in broken.checks] == [c.name for c in good.checks]


def test_rich_report_says_where_cases_were_saved(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from attn_drill.grading.savecases import save_failing_cases
    from attn_drill.render.report import grade_report

    report = grade_source(tmp_path, SDPA_RETURNING.format(result="o + 1e-6, w"),
                          "scaled-dot-product-attention", "numpy")
    save_failing_cases(report, tmp_path / "cases")
    grade_report(report, "en")
    shown = " ".join(capsys.readouterr().out.split())
    assert "Saved" in shown and "cases" in shown and "repro.py" in shown
    assert report.to_dict()["saved_cases"] == report.saved_cases
