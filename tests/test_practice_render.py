"""The practice screens as text: content, both languages, 80 columns, no colour codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from attn_drill.grading.report import CheckResult, Diagnosis, GradeReport
from attn_drill.practice import HintStep, reference_source
from attn_drill.problems import get_problem
from attn_drill.render.practice import PracticeScreen, hint_panel

SOFTMAX = get_problem("softmax")
PATH = Path("attn-drill-work/softmax.py")


@pytest.fixture(autouse=True)
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")


def _report(passed: bool) -> GradeReport:
    checks = [CheckResult("matches reference (fixed cases)", True),
              CheckResult("numerically stable for large scores", passed,
                          "" if passed else "your output contains 3 NaN")]
    diagnosis = [] if passed else [Diagnosis("unstable-softmax", "exp() overflows", hint=2)]
    return GradeReport(problem="softmax", track="numpy", passed=passed,
                       score=1.0 if passed else 0.5, seed=0, version="0.1.0", duration_s=0.2,
                       checks=checks, diagnosis=diagnosis, title=SOFTMAX.title.en)


def _fits(output: str, width: int = 80) -> None:
    too_wide = [line for line in output.splitlines() if len(line) > width]
    assert not too_wide, too_wide
    assert "\x1b[" not in output  # NO_COLOR and not a terminal: plain text


def test_failed_report_points_at_the_hint_until_it_is_seen(
        capsys: pytest.CaptureFixture[str]) -> None:
    screen = PracticeScreen("en")
    screen.report(_report(False), SOFTMAX, PATH, hint_level=0)
    out = capsys.readouterr().out
    assert "hint 2 of 3 is the one about “Softmax without subtracting the maximum”" in \
        " ".join(out.split())
    assert "q quit" in out.splitlines()[-1]
    _fits(out)
    screen.report(_report(False), SOFTMAX, PATH, hint_level=2)
    seen = capsys.readouterr().out
    assert " ".join(SOFTMAX.hints[1].en.replace("`", "").split()) in " ".join(seen.split())


def test_pass_screen_shows_reference_and_going_further(
        capsys: pytest.CaptureFixture[str]) -> None:
    PracticeScreen("en").passed(_report(True), SOFTMAX, "numpy", PATH,
                                reference_source(SOFTMAX, "numpy"))
    out = capsys.readouterr().out
    assert "Passed!" in out and "Reference solution" in out
    assert "np.max(x, axis=axis, keepdims=True)" in out
    assert "Going further" in out and "logsumexp" in out
    assert "n / Enter" in out.splitlines()[-1]
    _fits(out)


def test_chinese_screens(capsys: pytest.CaptureFixture[str]) -> None:
    screen = PracticeScreen("zh")
    screen.statement(SOFTMAX, "numpy", PATH, created=True, has_work=False,
                     review_concepts=("unstable-softmax",))
    out = capsys.readouterr().out
    assert "数值稳定的 softmax" in out and "已为你创建文件" in out
    assert "复习回顾" in out and "softmax 没有减去最大值" in out
    assert "q 退出" in out
    screen.passed(_report(True), SOFTMAX, "numpy", PATH, reference_source(SOFTMAX, "numpy"))
    assert "通过了" in capsys.readouterr().out


def test_compact_list_marks_the_current_problem(capsys: pytest.CaptureFixture[str]) -> None:
    rows: list[dict[str, object]] = [
        {"id": "softmax", "title": "Numerically stable softmax", "status": "passed"},
        {"id": "scaled-dot-product-attention", "title": "A very long title " * 6,
         "status": "todo"},
    ]
    PracticeScreen("en").problem_list(rows, "scaled-dot-product-attention")
    out = capsys.readouterr().out
    current = next(line for line in out.splitlines() if "scaled-dot-product-attention" in line)
    assert current.startswith("▶") and "todo" in current
    assert any(line.startswith("  passed") for line in out.splitlines())
    _fits(out)


def test_hint_panel_levels_and_exhausted(capsys: pytest.CaptureFixture[str]) -> None:
    hint_panel(HintStep("softmax", 2, 3, exhausted=False), SOFTMAX, "en")
    out = capsys.readouterr().out
    assert "Hint 2/3" in out and "Hint 1/3" not in out
    hint_panel(HintStep("softmax", 3, 3, exhausted=True), SOFTMAX, "en")
    out = capsys.readouterr().out
    assert "No more hints" in out and all(f"Hint {n}/3" in out for n in (1, 2, 3))
    _fits(out)


def test_practice_report_offers_keys_not_commands(capsys: pytest.CaptureFixture[str]) -> None:
    """The loop has its own keys; the command suggestion that ends `grade` is left out."""
    from attn_drill.render.report import grade_report

    grade_report(_report(False), "en")
    assert "attn-drill hint softmax" in capsys.readouterr().out
    PracticeScreen("en").report(_report(False), SOFTMAX, PATH, hint_level=0)
    assert "Fix the first" not in capsys.readouterr().out


def test_compact_list_in_chinese_shows_chinese_statuses(
        capsys: pytest.CaptureFixture[str]) -> None:
    from rich.cells import cell_len

    rows: list[dict[str, object]] = [
        {"id": "softmax", "title": "数值稳定的 softmax", "status": "passed",
         "changed_since_pass": True},
        {"id": "self-attention", "title": "从输入序列计算自注意力", "status": "attempted"},
        {"id": "causal-attention", "title": "因果自注意力", "status": "todo"},
    ]
    PracticeScreen("zh").problem_list(rows, "self-attention")
    lines = capsys.readouterr().out.splitlines()
    by_id = {row["id"]: next(line for line in lines if f" {row['id']} " in line)
             for row in rows}
    assert "已通过*" in by_id["softmax"] and "已尝试" in by_id["self-attention"]
    assert "未开始" in by_id["causal-attention"]
    assert not any(word in "\n".join(lines) for word in ("passed", "attempted", "todo"))
    # The ids still line up in one column (statuses padded by display width).
    columns = {cell_len(line[:line.index(f" {pid} ")]) for pid, line in by_id.items()}
    assert len(columns) == 1, by_id


def _python_tokens(source: str) -> list[tuple[int, str]]:
    """The program's tokens without comments, strings and layout."""
    import io
    import tokenize

    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
            tokenize.DEDENT, tokenize.STRING, tokenize.ENDMARKER}
    return [(t.type, t.string) for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type not in skip]


@pytest.mark.parametrize("width", [80, 60])
def test_soft_wrapped_references_stay_the_same_python(width: int) -> None:
    import ast

    from attn_drill.problems import builtin_problems
    from attn_drill.render.practice import soft_wrap_python

    checked = 0
    for problem in builtin_problems().values():
        for track in problem.tracks:
            path, source = reference_source(problem, track)
            if path.suffix != ".py":
                continue
            wrapped = soft_wrap_python(source, width)
            ast.parse(wrapped)
            assert _python_tokens(wrapped) == _python_tokens(source), path
            for line in wrapped.splitlines():
                if line.lstrip().startswith("#"):
                    assert len(line) <= width, (path, line)
            checked += 1
    assert checked >= 5


def test_every_reference_reads_at_80_columns_without_wrapping_to_the_edge() -> None:
    """Comments and docstrings are re-wrapped; code lines are written to fit, so `solution`
    and the pass screen never wrap a line of the reference back to column 0."""
    from rich.cells import cell_len

    from attn_drill.problems import builtin_problems
    from attn_drill.render.practice import soft_wrap_python

    for problem in builtin_problems().values():
        for track in problem.tracks:
            path, source = reference_source(problem, track)
            if path.suffix != ".py":
                continue
            too_long = [line for line in soft_wrap_python(source, 80).splitlines()
                        if cell_len(line) > 80]
            assert not too_long, (path, too_long)


def test_pass_screen_reference_is_readable_python_at_80_columns(
        capsys: pytest.CaptureFixture[str]) -> None:
    """No box, no wrapping back to the left edge: the block between the rules is Python."""
    cross = get_problem("cross-attention")
    ref_path, source = reference_source(cross, "numpy")
    assert max(len(line) for line in source.splitlines()) > 80  # a long comment to wrap
    PracticeScreen("en").passed(_report(True), cross, "numpy", PATH, (ref_path, source))
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Reference solution"))
    end = next(i for i in range(start + 1, len(lines)) if set(lines[i]) == {"─"})
    block = "\n".join(line.rstrip() for line in lines[start + 1:end])
    assert _python_tokens(block) == _python_tokens(source)
    assert all(len(line) <= 80 for line in lines)


def test_already_passed_statement_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    PracticeScreen("en").statement(SOFTMAX, "numpy", PATH, created=False, has_work=True,
                                   already_passed=True)
    out = " ".join(capsys.readouterr().out.split())
    assert "You have already passed softmax." in out
    assert "Saving your file grades it again; press n to move on." in out
    PracticeScreen("zh").statement(SOFTMAX, "numpy", PATH, created=False, has_work=True,
                                   already_passed=True)
    assert "你已经通过了 softmax" in capsys.readouterr().out


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_model_answer_hides_its_header_line(capsys: pytest.CaptureFixture[str],
                                            lang: str) -> None:
    from attn_drill.render.practice import solution_view

    explain = get_problem("explain-sqrt-dk")
    ref_path, source = reference_source(explain, "text", lang)
    assert source.lstrip().startswith("# attn-drill:")  # the marker the grader reads
    solution_view(explain, "text", source, ref_path, lang)
    shown = capsys.readouterr().out
    assert "attn-drill: explain-sqrt-dk" not in shown
    # the title in the asked language (the model answer itself holds both languages)
    title = shown.lstrip().splitlines()[0]
    assert title.startswith("Reference solution" if lang == "en" else "参考答案"), title
    PracticeScreen(lang).passed(_report(True), explain, "text", PATH, (ref_path, source))
    assert "attn-drill: explain-sqrt-dk" not in capsys.readouterr().out


def test_every_screen_ends_with_the_status_line_then_the_keys(
        capsys: pytest.CaptureFixture[str]) -> None:
    screen = PracticeScreen("en")
    screen.statement(SOFTMAX, "numpy", PATH, created=True, has_work=False)
    lines = capsys.readouterr().out.rstrip().splitlines()
    assert lines[-2].strip() == "softmax  numpy track · not graded yet"
    assert lines[-1].endswith("q quit")
    screen.report(_report(False), SOFTMAX, PATH, hint_level=0)
    lines = capsys.readouterr().out.rstrip().splitlines()
    assert lines[-2].strip() == "softmax  numpy track · FAILED · score 50%"
    assert "v details" in lines[-1] and "p back" in lines[-1]
    screen.hint(HintStep("softmax", 1, 3, exhausted=False), SOFTMAX)
    lines = capsys.readouterr().out.rstrip().splitlines()
    assert lines[-2].strip() == "softmax  numpy track · FAILED · score 50%"  # stays
    screen.note("unchanged", name="softmax.py")
    out = capsys.readouterr().out
    assert "unchanged since the last grade -- press g" in " ".join(out.split())
    assert "FAILED · score 50%" in out
    _fits(out)


def test_the_status_line_in_chinese(capsys: pytest.CaptureFixture[str]) -> None:
    screen = PracticeScreen("zh")
    screen.report(_report(False), SOFTMAX, PATH, hint_level=0)
    lines = capsys.readouterr().out.rstrip().splitlines()
    assert lines[-2].strip() == "softmax  numpy 赛道 · 未通过 · 得分 50%"
    assert lines[-1].endswith("q 退出")


def test_the_report_in_practice_is_short_and_v_is_the_full_one(
        capsys: pytest.CaptureFixture[str]) -> None:
    screen = PracticeScreen("en")
    screen.report(_report(False), SOFTMAX, PATH, hint_level=0)
    short = capsys.readouterr().out
    assert "✓" not in short and "numerically stable for large scores" in short
    screen.report(_report(False), SOFTMAX, PATH, hint_level=0, verbose=True)
    full = capsys.readouterr().out
    assert "✓ matches reference (fixed cases)" in full


def test_the_list_has_a_line_per_track_and_a_cursor(capsys: pytest.CaptureFixture[str]) -> None:
    rows: list[dict[str, object]] = [
        {"id": "softmax", "title": "Numerically stable softmax",
         "track_status": {"numpy": "passed"}},
        {"id": "causal-attention", "title": "Causal attention",
         "track_status": {"numpy": "passed", "torch": "todo"}, "changed_tracks": ["numpy"]},
    ]
    PracticeScreen("en").problem_list(rows, "causal-attention", selected=("causal-attention",
                                                                         "torch"),
                                      current_track="torch")
    lines = capsys.readouterr().out.splitlines()
    numpy_line = next(line for line in lines if "causal-attention  numpy" in line)
    torch_line = next(line for line in lines if "causal-attention  torch" in line)
    assert "passed*" in numpy_line and not numpy_line.startswith("▶")
    assert torch_line.startswith("▶") and "todo" in torch_line
    assert lines[-1].startswith("↑/↓ or j/k move") and lines[-1].endswith("q quit")
