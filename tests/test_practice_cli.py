"""`hint`, `solution`, `reset` and `practice` through the CLI (CliRunner and a subprocess)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from attn_drill import progress
from attn_drill.cli import app
from attn_drill.problems import get_problem
from attn_drill.workspace import starter_text
from tests.conftest import run_cli
from tests.helpers import passed_report

runner = CliRunner()
REFERENCE = get_problem("softmax").reference_path("numpy").read_text()


PassedGrade = passed_report


def _reveals(problem_id: str) -> int:
    with progress._transaction(write=False) as conn:
        row = conn.execute("SELECT COUNT(*) FROM reveals WHERE problem = ?",
                           (problem_id,)).fetchone()
    return int(row[0])


# -- hint --------------------------------------------------------------------------------


def test_hint_unlocks_one_level_per_call_then_shows_all() -> None:
    hints = get_problem("softmax").hints
    outputs = []
    for _ in range(len(hints) + 1):
        result = runner.invoke(app, ["hint", "softmax"])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert "Hint 1/3" in outputs[0] and "Hint 2/3" not in outputs[0]
    assert "keepdims=True" in outputs[0]
    assert "Hint 2/3" in outputs[1] and "Hint 1/3" not in outputs[1]
    assert "Hint 3/3" in outputs[2]
    assert "No more hints" in outputs[3]
    assert all(f"Hint {n}/3" in outputs[3] for n in (1, 2, 3))
    assert progress.hint_level("softmax") == 3


def test_hint_in_chinese_and_unknown_problem() -> None:
    result = runner.invoke(app, ["hint", "softmax", "--lang", "zh"])
    assert result.exit_code == 0
    assert "提示 1/3" in result.output and "keepdims=True" in result.output
    unknown = runner.invoke(app, ["hint", "no-such-problem"])
    assert unknown.exit_code == 2 and "Traceback" not in unknown.output


# -- solution ----------------------------------------------------------------------------


def test_solution_before_a_pass_without_terminal_refuses() -> None:
    result = runner.invoke(app, ["solution", "softmax"])
    assert result.exit_code == 1
    assert "--yes" in result.output
    assert "np.max" not in result.output
    assert _reveals("softmax") == 0


def test_solution_with_yes_reveals_and_records() -> None:
    result = runner.invoke(app, ["solution", "softmax", "--yes"])
    assert result.exit_code == 0, result.output
    assert "def softmax" in result.output and "Reference solution" in result.output
    assert "log-softmax" in result.output.lower()  # the going-further note
    assert _reveals("softmax") == 1


def test_solution_plain_prints_only_the_source() -> None:
    result = runner.invoke(app, ["solution", "softmax", "--yes", "--plain"])
    assert result.exit_code == 0
    assert result.stdout == REFERENCE


def test_solution_after_a_pass_needs_no_confirmation_and_is_not_a_reveal() -> None:
    progress.record_grade(PassedGrade("softmax"))
    result = runner.invoke(app, ["solution", "softmax", "--plain"])
    assert result.exit_code == 0, result.output
    assert result.stdout == REFERENCE
    assert _reveals("softmax") == 0


def test_solution_pass_on_another_track_does_not_count() -> None:
    progress.record_grade(PassedGrade("softmax", track="torch"))
    result = runner.invoke(app, ["solution", "softmax"])
    assert result.exit_code == 1


@pytest.mark.parametrize(("answer", "code", "shown"), [("n\n", 1, False), ("y\n", 0, True)])
def test_solution_asks_in_a_terminal(monkeypatch: pytest.MonkeyPatch, answer: str, code: int,
                                     shown: bool) -> None:
    monkeypatch.setattr("attn_drill.practice._interactive", lambda: True)
    result = runner.invoke(app, ["solution", "softmax"], input=answer)
    assert result.exit_code == code, result.output
    assert "not passed softmax yet" in result.output
    assert ("def softmax" in result.output) is shown
    assert _reveals("softmax") == (1 if shown else 0)


# -- reset -------------------------------------------------------------------------------


def test_reset_with_yes_keeps_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "softmax.py"
    path.write_text("# my attempt\n")
    result = runner.invoke(app, ["reset", "softmax", "--dir", str(tmp_path), "--yes"])
    assert result.exit_code == 0, result.output
    assert path.read_text() == starter_text(get_problem("softmax"), "numpy", "en", path)
    backups = list(tmp_path.glob("softmax.py.*.bak"))
    assert len(backups) == 1 and backups[0].read_text() == "# my attempt\n"
    assert backups[0].name in result.output.replace("\n", "")
    # A second reset of a different attempt keeps both backups.
    path.write_text("# attempt two\n")
    assert runner.invoke(app, ["reset", "softmax", "--dir", str(tmp_path), "--yes"]
                         ).exit_code == 0
    contents = sorted(p.read_text() for p in tmp_path.glob("softmax.py.*.bak"))
    assert contents == ["# attempt two\n", "# my attempt\n"]


def test_reset_without_terminal_refuses_and_keeps_the_file(tmp_path: Path) -> None:
    path = tmp_path / "softmax.py"
    path.write_text("# my attempt\n")
    result = runner.invoke(app, ["reset", "softmax", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "--yes" in result.output
    assert path.read_text() == "# my attempt\n"
    assert not list(tmp_path.glob("*.bak"))


def test_reset_asks_in_a_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("attn_drill.practice._interactive", lambda: True)
    path = tmp_path / "softmax.py"
    path.write_text("# mine\n")
    declined = runner.invoke(app, ["reset", "softmax", "--dir", str(tmp_path)], input="n\n")
    assert declined.exit_code == 1 and path.read_text() == "# mine\n"
    accepted = runner.invoke(app, ["reset", "softmax", "--dir", str(tmp_path)], input="y\n")
    assert accepted.exit_code == 0 and "NotImplementedError" in path.read_text()
    assert [p.read_text() for p in tmp_path.glob("*.bak")] == ["# mine\n"]


def test_reset_of_a_missing_or_untouched_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["reset", "softmax", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "softmax.py").exists()
    again = runner.invoke(app, ["reset", "softmax", "--dir", str(tmp_path)])
    assert again.exit_code == 0 and "already the starter" in again.output
    assert not list(tmp_path.glob("*.bak"))


# -- practice without a terminal ----------------------------------------------------------


def test_practice_without_a_terminal_points_to_grade(tmp_path: Path) -> None:
    result = runner.invoke(app, ["practice", "softmax", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "terminal" in result.output and "attn-drill grade" in result.output
    assert not (tmp_path / "softmax.py").exists()


def test_practice_without_a_terminal_subprocess(tmp_path: Path) -> None:
    result = run_cli("practice", "--dir", str(tmp_path), input="", timeout=60)
    assert result.returncode == 2, result.stderr
    assert "attn-drill grade" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_text_problem_solution_shows_the_model_answer() -> None:
    from attn_drill.practice import reference_source

    problem = get_problem("explain-sqrt-dk")
    _path, source = reference_source(problem, "text", "zh")
    result = runner.invoke(app, ["solution", "explain-sqrt-dk", "--yes", "--plain",
                                 "--lang", "zh"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == source.strip()
    assert _reveals("explain-sqrt-dk") == 1


def test_text_reference_falls_back_to_the_rubric_ideas(tmp_path: Path) -> None:
    from attn_drill.practice import reference_source

    problem = get_problem("explain-sqrt-dk").model_copy(update={"pack_dir": tmp_path})
    assert problem.rubric is not None
    path, source = reference_source(problem, "text", "zh")
    assert path.suffix == ".md"
    for point in problem.rubric.points:
        assert point.label.zh in source and point.advice.zh in source
    with pytest.raises(Exception, match="no reference solution"):
        reference_source(get_problem("softmax").model_copy(update={"pack_dir": tmp_path}),
                         "numpy")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_solution_prompt_fits_80_columns(monkeypatch: pytest.MonkeyPatch, lang: str) -> None:
    """The terminal breaks a long prompt anywhere ("solut / ion"): the explanation goes
    through the word-wrapping console and the prompt itself stays short."""
    monkeypatch.setattr("attn_drill.practice._interactive", lambda: True)
    monkeypatch.setenv("COLUMNS", "80")
    result = runner.invoke(app, ["solution", "scaled-dot-product-attention", "--lang", lang],
                           input="n\n")
    assert result.exit_code == 1, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80, result.output
    prompt = next(line for line in result.output.splitlines() if "[y/N]" in line)
    assert prompt.startswith("Reveal the reference solution anyway?" if lang == "en"
                             else "仍然要查看参考答案吗？")


def test_the_starter_names_its_own_path_in_the_learners_language(tmp_path: Path) -> None:
    for lang, run in (("en", "Run: attn-drill grade"), ("zh", "运行：attn-drill grade")):
        folder = tmp_path / lang
        result = runner.invoke(app, ["start", "softmax", "--dir", str(folder), "--lang", lang])
        assert result.exit_code == 0, result.output
        text = (folder / "softmax.py").read_text()
        assert f"{run} {folder / 'softmax.py'}\n" in text


def _code_only(source: str) -> str:
    """The program without comments and docstrings (what runs)."""
    import ast

    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(
                getattr(body[0], "value", None), ast.Constant) and isinstance(
                body[0].value.value, str):
            body.pop(0)
    return ast.dump(tree)


def test_every_code_starter_has_chinese_comments_and_the_same_code() -> None:
    from attn_drill.problems import builtin_problems

    for problem in builtin_problems().values():
        for track, spec in problem.tracks.items():
            if track == "text":
                continue
            assert spec.starter_zh, f"{problem.id} [{track}] has no Chinese starter"
            assert _code_only(spec.starter_zh) == _code_only(spec.starter), problem.id
            comments = [line for line in spec.starter_zh.splitlines() if "# TODO" in line]
            assert comments and all(any("\u4e00" <= ch <= "\u9fff" for ch in line)
                                    for line in comments), comments


def test_start_in_chinese_writes_chinese_comments(tmp_path: Path) -> None:
    result = runner.invoke(app, ["start", "softmax", "--dir", str(tmp_path), "--lang", "zh"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "softmax.py").read_text()
    assert "# TODO：为了数值稳定" in text and "数值稳定的 softmax" in text
    from attn_drill.workspace import is_untouched

    assert is_untouched(tmp_path / "softmax.py", get_problem("softmax"), "numpy")


def test_the_text_starter_names_its_own_path(tmp_path: Path) -> None:
    result = runner.invoke(app, ["start", "explain-sqrt-dk", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "explain_sqrt_dk.md").read_text()
    assert f"attn-drill grade {tmp_path / 'explain_sqrt_dk.md'}" in text
    assert "<this file>" not in text
