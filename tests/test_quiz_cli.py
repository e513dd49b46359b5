"""`attn-drill quiz` end to end: CliRunner flows with piped answers (CONTRACT: "Quiz without
a terminal") against a small fixture bank and the real progress store, plus real subprocess
runs against the built-in bank."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attn_drill import progress
from attn_drill.cli import app
from attn_drill.quiz import bank as bank_module
from attn_drill.quiz.bank import Bank, load_bank
from attn_drill.quiz.session import preview_session
from attn_drill.summary import progress_summary
from tests.conftest import run_cli
from tests.helpers import failed_report

ALPHA = """\
topic: alpha
title: {en: "Alpha basics", zh: "阿尔法基础"}
questions:
  - id: alpha-choice
    kind: choice
    concepts: [missing-scale]
    problem: softmax
    prompt:
      en: "Which divisor keeps the score variance near one?"
      zh: "除以哪个数能让分数的方差接近一？"
    options:
      - {en: "d_k", zh: "d_k"}
      - {en: "sqrt(d_k)", zh: "sqrt(d_k)"}
      - {en: "d_model", zh: "d_model"}
    answer: 1
    hint: {en: "Variance of a sum of d_k terms.", zh: "想想 d_k 项之和的方差。"}
    explanation: {en: "The dot product has variance d_k.", zh: "点积的方差是 d_k。"}
  - id: alpha-number
    kind: numeric
    prompt: {en: "softmax([0, 0]) first entry?", zh: "softmax([0, 0]) 的第一个值？"}
    answer: 0.5
    tolerance: 0.01
    explanation: {en: "Equal scores, equal weights.", zh: "分数相同，权重相同。"}
"""

BETA = """\
topic: beta
title: {en: "Beta by hand", zh: "手算"}
questions:
  - id: beta-output
    kind: handcalc
    prompt: {en: "Compute by hand.", zh: "请手算。"}
    handcalc: {target: output, tokens: [2, 3], d_k: [2, 3], decimals: 2}
    explanation: {en: "Weights times values.", zh: "权重乘以值。"}
  - id: beta-explain
    kind: text
    prompt: {en: "Why scale?", zh: "为什么要缩放？"}
    rubric:
      threshold: 1
      min_chars: 10
      points:
        - id: variance
          label: {en: "variance grows with d_k", zh: "方差随 d_k 增大"}
          advice: {en: "Say what happens to the variance.", zh: "说明方差的变化。"}
          concepts: [[variance, 方差], [grow, 增大, 变大]]
    explanation: {en: "Large scores saturate softmax.", zh: "分数太大会让 softmax 饱和。"}
"""


@pytest.fixture
def fixture_bank(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bank:
    quiz_dir = tmp_path / "quiz"
    quiz_dir.mkdir()
    (quiz_dir / "alpha.yaml").write_text(ALPHA, encoding="utf-8")
    (quiz_dir / "beta.yaml").write_text(BETA, encoding="utf-8")
    bank = load_bank(quiz_dir, {"softmax"})
    monkeypatch.setattr(bank_module, "builtin_bank", lambda: bank)
    return bank


def quiz(*args: str, input: str):
    return CliRunner().invoke(app, ["quiz", *args], input=input)


def right_answers(seed: int, count: int, topic: str | None = None, lang: str = "en") -> list[str]:
    """The right line for each question `quiz --seed` will ask, from the current store."""
    prepared = preview_session(topic=topic, count=count, lang=lang, seed=seed)
    return [p.answer_line or "the variance grows with d_k" for p in prepared]


def question_ids(seed: int, count: int, topic: str | None = None) -> list[str]:
    return [p.id for p in preview_session(topic=topic, count=count, lang="en", seed=seed)]


def reviews() -> int:
    return progress_summary().quiz.reviews


def test_all_correct(fixture_bank: Bank) -> None:
    answers = right_answers(seed=3, count=4)
    ids = question_ids(seed=3, count=4)
    result = quiz("--seed", "3", "-n", "4", input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "Score: 4/4" in result.output
    assert "alpha (Alpha basics): 2/2" in result.output
    assert "beta (Beta by hand): 2/2" in result.output
    assert "Traceback" not in result.output
    assert reviews() == 4
    tomorrow = (datetime.now(timezone.utc) + timedelta(hours=12)).isoformat()
    assert progress.due_question_ids(tomorrow) == []  # all right and fast: days away
    assert all(progress.load_card(i) is not None for i in ids)
    assert "Next reviews:" in result.output


def wrong_answer(prepared) -> str:
    if prepared.kind == "choice":
        return next(x for x in "abc" if x != prepared.answer_line)
    return "no idea at all" if prepared.kind == "text" else "-12345"


def test_some_wrong_are_scheduled_sooner(fixture_bank: Bank) -> None:
    prepared = preview_session(topic=None, count=4, lang="en", seed=5)
    ids = [p.id for p in prepared]
    answers = right_answers(seed=5, count=4)
    answers[1] = wrong_answer(prepared[1])
    answers[3] = wrong_answer(prepared[3])
    result = quiz("--seed", "5", "-n", "4", input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "Score: 2/4" in result.output
    assert result.output.count("Not quite.") == 2
    in_an_hour = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert set(progress.due_question_ids(in_an_hour)) == {ids[1], ids[3]}
    assert reviews() == 4


def test_quit_midway_keeps_progress(fixture_bank: Bank) -> None:
    first, second = question_ids(seed=1, count=2)
    answer = right_answers(seed=1, count=1)[0]
    result = quiz("--seed", "1", input=f"{answer}\nq\nnot read\n")
    assert result.exit_code == 0, result.output
    assert "Stopped. Your answers so far are saved." in result.output
    assert "Score: 1/1" in result.output
    assert reviews() == 1
    assert progress.load_card(first) is not None
    assert progress.load_card(second) is None
    # the next quiz starts with what is still new, not with the question just answered
    assert question_ids(seed=1, count=4)[0] != first
    assert first not in question_ids(seed=1, count=3)


def test_lang_zh(fixture_bank: Bank) -> None:
    answers = right_answers(seed=2, count=4, topic="alpha", lang="zh")
    result = quiz("--topic", "alpha", "--lang", "zh", "--seed", "2",
                  input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "除以哪个数能让分数的方差接近一？" in result.output
    assert "第 1/2 题" in result.output
    assert "得分：2/2" in result.output
    assert "解析" in result.output
    assert "Score" not in result.output


def test_unreadable_answers_count_as_wrong(fixture_bank: Bank) -> None:
    result = quiz("--topic", "alpha", "--seed", "0", input="zzz\n\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("That answer could not be read, so it counts as wrong.") == 2
    assert "Score: 0/2" in result.output
    assert reviews() == 2
    soon = (datetime.now(timezone.utc) + timedelta(minutes=30)).isoformat()
    assert set(progress.due_question_ids(soon)) == {"alpha-choice", "alpha-number"}


def test_end_of_input_ends_cleanly(fixture_bank: Bank) -> None:
    first = right_answers(seed=4, count=1)[0]
    result = quiz("--seed", "4", "-n", "3", input=first + "\n")
    assert result.exit_code == 0, result.output
    assert "End of input" in result.output
    assert "Score: 1/1" in result.output
    assert reviews() == 1
    empty = quiz("--seed", "4", input="")
    assert empty.exit_code == 0, empty.output
    assert "No questions answered." in empty.output
    assert reviews() == 1


def test_hint_then_answer(fixture_bank: Bank) -> None:
    answer = right_answers(seed=0, count=2, topic="alpha")
    ids = question_ids(seed=0, count=2, topic="alpha")
    lines = [*answer]
    lines.insert(ids.index("alpha-choice"), "?")
    result = quiz("--topic", "alpha", "--seed", "0", input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    assert "Variance of a sum of d_k terms." in result.output
    assert "Score: 2/2" in result.output  # the hint line is not an answer


@pytest.mark.parametrize(
    ("lang", "words"),
    [("en", ["Worked solution", "Divide by √d_k", "Weighted sum", "Score: 0/2"]),
     ("zh", ["详细解答", "除以 √d_k", "加权求和", "得分：0/2"])],
)
def test_handcalc_shows_worked_solution(fixture_bank: Bank, lang: str, words: list[str]) -> None:
    ids = question_ids(seed=8, count=2, topic="beta")
    lines = ["999" if i == "beta-output" else "whatever" for i in ids]
    result = quiz("--topic", "beta", "--seed", "8", "--lang", lang, input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    for word in words:
        assert word in result.output


def test_flagged_concept_comes_first_and_is_cleared(fixture_bank: Bank) -> None:
    progress.record_grade(failed_report("missing-scale"))
    assert "missing-scale" in progress.flagged_concepts()
    assert question_ids(seed=11, count=1) == ["alpha-choice"]
    answer = right_answers(seed=11, count=1)[0]
    result = quiz("--seed", "11", "-n", "1", input=answer + "\n")
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "asked because a grade flagged 'missing-scale' (grade of softmax on" in flat
    assert "missing-scale" not in progress.flagged_concepts()
    progress.record_grade(failed_report("missing-scale"))
    zh = quiz("--seed", "11", "-n", "1", "--lang", "zh", input="x\n")
    flat_zh = "".join(zh.output.split())
    assert "出这道题是因为评分发现了“missing-scale”的问题（" in flat_zh
    assert "对softmax的评分" in flat_zh
    assert "missing-scale" in progress.flagged_concepts()  # a wrong answer keeps the flag


def test_unknown_topic_lists_topics(fixture_bank: Bank) -> None:
    result = quiz("--topic", "gamma", input="")
    assert result.exit_code == 2
    assert "gamma" in result.output and "alpha, beta" in result.output
    assert reviews() == 0


@pytest.mark.parametrize("args", [["-n", "0"], ["--json"]])
def test_bad_flags_are_usage_errors(fixture_bank: Bank, args: list[str]) -> None:
    result = quiz(*args, input="")
    assert result.exit_code == 2


def test_list_json_shape(fixture_bank: Bank) -> None:
    result = CliRunner().invoke(app, ["quiz", "--list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    ids = [r["id"] for r in rows]
    assert ids == ["alpha-choice", "alpha-number", "beta-output", "beta-explain"]
    for row in rows:
        # the contract's fields, plus the difficulty tag (untagged questions are medium)
        assert set(row) == {"id", "topic", "kind", "langs", "difficulty"}
        assert row["langs"] == ["en", "zh"]
        assert row["difficulty"] == "medium"
    assert {r["id"]: r["kind"] for r in rows}["beta-output"] == "handcalc"
    assert {r["topic"] for r in rows} == {"alpha", "beta"}
    plain = CliRunner().invoke(app, ["quiz", "--list"])
    assert plain.exit_code == 0 and "beta-explain" in plain.output


# -- real processes on the built-in bank -------------------------------------------------


def test_builtin_bank_lists_and_runs_piped() -> None:
    listed = run_cli("quiz", "--list", "--json", timeout=60)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert rows and all(
        set(r) == {"id", "topic", "kind", "langs", "difficulty"} for r in rows
    )
    assert {r["difficulty"] for r in rows} == {"easy", "medium", "hard"}
    assert len({r["id"] for r in rows}) == len(rows)
    ran = run_cli("quiz", "-n", "3", "--seed", "1", input="a\n0.5\n", timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert "Traceback" not in ran.stdout + ran.stderr
    assert "Summary" in ran.stdout
    counted = run_cli("progress", "--json", timeout=60)
    assert json.loads(counted.stdout)["quiz"]["reviews"] == 2


def test_free_text_is_graded_by_the_rubric(fixture_bank: Bank) -> None:
    ids = question_ids(seed=6, count=2, topic="beta")
    position = ids.index("beta-explain")
    lines = ["999", "999"]
    lines[position] = "Scores just get normalised somehow."
    result = quiz("--topic", "beta", "--seed", "6", input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    assert "✗ missing: variance grows with d_k — Say what happens to the variance." in result.output
    ids = question_ids(seed=6, count=2, topic="beta")  # both were answered: order by due now
    lines = ["点积的方差会随着 d_k 增大。" if i == "beta-explain" else "999" for i in ids]
    zh = quiz("--topic", "beta", "--seed", "6", "--lang", "zh", input="\n".join(lines) + "\n")
    assert zh.exit_code == 0, zh.output
    assert "✓ 已答到: 方差随 d_k 增大" in zh.output
    assert "得分：1/2" in zh.output


def test_seed_reproduces_order_shuffling_and_items(
    fixture_bank: Bank, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run_in_fresh_home(name: str, seed: str) -> list[str]:
        monkeypatch.setenv("ATTN_DRILL_HOME", str(tmp_path / name))
        result = quiz("--seed", seed, input="x\nx\nx\nx\n")
        assert result.exit_code == 0, result.output
        # everything but the clock-dependent "next review" lines
        return [line for line in result.output.splitlines() if "review" not in line.lower()]

    first = run_in_fresh_home("one", "21")
    assert first == run_in_fresh_home("two", "21")
    assert any(line.startswith("Q = ") for line in first)
    others = [run_in_fresh_home(f"other-{s}", str(s)) for s in range(3)]
    assert any(o != first for o in others)
