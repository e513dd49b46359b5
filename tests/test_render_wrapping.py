"""Wrapping at 80 columns: continuation lines hang under their text, not under the mark."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("option", [
    "Because the variance of the dot product grows linearly with d_k, so the softmax "
    "saturates and its gradients vanish for large dimensions",
    "因为点积的方差随 d_k 线性增长，softmax 会饱和，梯度在维度较大时几乎消失，所以要除以 √d_k"
    "让方差回到 1 左右，训练才能稳定进行下去",
])
def test_quiz_options_wrap_under_their_text(option: str, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.cells import cell_len

    from attn_drill.render import console
    from attn_drill.render.quiz import _option_line

    monkeypatch.setenv("COLUMNS", "80")
    console().print(_option_line("b", option))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 2 and lines[0].startswith("  b) ")
    assert all(line.startswith("     ") and line[5] != " " for line in lines[1:]), lines
    assert max(cell_len(line) for line in lines) <= 80
    assert "".join(line[5:] for line in lines).replace(" ", "") == option.replace(" ", "")


def test_formulas_break_only_between_their_clauses() -> None:
    from rich.cells import cell_len

    from attn_drill.problems import builtin_problems
    from attn_drill.render.problem import formula_lines

    broken = 0
    for problem in builtin_problems().values():
        lines = formula_lines(problem.formula, 78)
        assert " ".join(lines).split() == problem.formula.split()  # nothing lost
        for line in lines:
            assert cell_len(line) <= 78, line
            assert line.count("(") == line.count(")"), line  # no group cut in two
        broken += len(lines) > 1
    assert broken  # some formulas of the pack are longer than a line


def test_long_example_values_wrap_under_themselves(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from attn_drill.problems import get_problem
    from attn_drill.render.problem import problem_statement

    monkeypatch.setenv("COLUMNS", "80")
    problem_statement(get_problem("scaled-dot-product-attention"), "numpy", "en")
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  Input:")
                 and "mask =" in " ".join(lines[i:i + 3]))
    assert lines[start + 1].startswith(" " * 10) and lines[start + 1][10] != " "


def test_a_wrapped_misconception_title_hangs_under_its_id(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from attn_drill.grading.report import Diagnosis, GradeReport
    from attn_drill.render.report import grade_report

    monkeypatch.setenv("COLUMNS", "80")
    report = GradeReport(problem="cross-attention", track="numpy", passed=False, score=0.1,
                         seed=0, version="0", duration_s=0.1, diagnosis=[Diagnosis(
                             "cross-kv-from-decoder", "Keys and values come from the encoder.",
                             title="Keys and values taken from the decoder instead")])
    grade_report(report, "en")
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Likely misconception: "))
    assert lines[at + 1].startswith(" " * 22) and lines[at + 1][22] != " ", lines[at:at + 2]
