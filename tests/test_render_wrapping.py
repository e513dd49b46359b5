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
