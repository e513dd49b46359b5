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


@pytest.mark.parametrize("width", [24, 40, 61, 80])
def test_inline_code_and_commands_are_never_split(width: int,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from rich.text import Text

    from attn_drill.render import KEEP_SPACE, _Console, protect_inline

    message = ("Hint 3 covers this (`attn-drill hint scaled-dot-product-attention`); the "
               "formula is `Var(q · k) = d_k` and the cases use seed 0. Stuck? attn-drill "
               "hint softmax")
    out = _Console(width=width, highlight=False)
    out.print(Text(protect_inline(message)))
    lines = capsys.readouterr().out.splitlines()
    joined = "\n".join(lines)
    assert KEEP_SPACE not in joined  # the placeholder never reaches the terminal
    for whole in ("`Var(q · k) = d_k`", "seed 0", "attn-drill hint softmax"):
        assert any(whole in line for line in lines), (whole, lines)
    if width >= 50:
        assert any("`attn-drill hint scaled-dot-product-attention`" in line for line in lines)
    # Nothing lost (a span wider than the line is folded where it must be).
    assert "".join(joined.split()) == "".join(message.split())


@pytest.mark.parametrize("lang, whole", [("en", "attn-drill hint scaled-dot-product-attention"),
                                         ("zh", "种子 0")])
def test_a_report_at_80_columns_keeps_commands_and_values_whole(
        lang: str, whole: str, tmp_path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from attn_drill.grading.grade import grade_file
    from attn_drill.render.report import grade_report

    submission = tmp_path / "scaled_dot_product_attention.py"
    submission.write_text(
        "import numpy as np\n\n\n"
        "def scaled_dot_product_attention(Q, K, V, mask=None):\n"
        "    scores = Q @ np.swapaxes(K, -1, -2)\n"
        "    if mask is not None:\n"
        "        scores = np.where(mask, scores, -1e9)\n"
        "    w = np.exp(scores - scores.max(-1, keepdims=True))\n"
        "    w = w / w.sum(-1, keepdims=True)\n"
        "    return w @ V, w\n")
    monkeypatch.setenv("COLUMNS", "80")
    report = grade_file(submission, problem_id="scaled-dot-product-attention", lang=lang)
    grade_report(report, lang)
    lines = capsys.readouterr().out.splitlines()
    assert any(whole in line for line in lines), lines
