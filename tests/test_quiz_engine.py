"""Quiz engine units: the bank model, hand calculations, option shuffling, answer parsing,
ratings and FSRS scheduling (no CLI here; see test_quiz_cli.py)."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from attn_drill.errors import PackError, UsageError
from attn_drill.quiz.bank import Bank, BankEntry, load_bank
from attn_drill.quiz.handcalc import generate_item, item_prompt, worked_solution
from attn_drill.quiz.model import HandcalcSpec, Question
from attn_drill.quiz.scheduler import (
    AGAIN,
    EASY,
    GOOD,
    HARD,
    RATING_THRESHOLDS,
    card_due,
    plan_session,
    rating_for,
    review,
)
from attn_drill.quiz.session import check_answer, parse_choice, parse_number, prepare

BANK_YAML = """\
topic: alpha
title: {en: "Alpha", zh: "阿尔法"}
questions:
  - id: alpha-choice
    kind: choice
    concepts: [missing-scale]
    problem: softmax
    prompt: {en: "Which one?", zh: "哪一个？"}
    options:
      - {en: "first", zh: "第一"}
      - {en: "second", zh: "第二"}
      - {en: "third", zh: "第三"}
      - {en: "fourth", zh: "第四"}
    answer: 2
    hint: {en: "the third", zh: "第三个"}
    explanation: {en: "Third is right.", zh: "第三个对。"}
  - id: alpha-number
    kind: numeric
    prompt: {en: "A quarter?", zh: "四分之一？"}
    answer: 0.25
    tolerance: 0.01
    explanation: {en: "0.25", zh: "0.25"}
  - id: alpha-weight
    kind: handcalc
    concepts: [softmax-wrong-axis]
    prompt: {en: "Compute.", zh: "计算。"}
    handcalc: {target: weight, tokens: [2, 3], d_k: [2, 4], decimals: 2}
    explanation: {en: "Rows sum to one.", zh: "每行和为一。"}
"""


HANDCALC_LINE = "    handcalc: {target: weight, tokens: [2, 3], d_k: [2, 4], decimals: 2}\n"
TWO_OPTIONS = "    options: [{en: a, zh: a}, {en: b, zh: b}]\n"
HINT_LINE = '    hint: {en: "the third", zh: "第三个"}\n'


class MemoryStore:
    """The ReviewStore protocol in memory."""

    def __init__(self, flags: dict[str, str] | None = None) -> None:
        self.cards: dict[str, str] = {}
        self.reviews: list[tuple[str, int, bool]] = []
        self.flags = dict(flags or {})

    def load_card(self, question_id: str) -> str | None:
        return self.cards.get(question_id)

    def record_review(self, question_id, topic, card_json, rating, correct, duration_s, due_iso):
        self.cards[question_id] = card_json
        self.reviews.append((question_id, rating, correct))

    def due_question_ids(self, now_iso: str) -> list[str]:
        now = datetime.fromisoformat(now_iso)
        due = [(card_due(c), q) for q, c in self.cards.items()]
        return [q for d, q in sorted(due) if d is not None and d <= now]

    def flagged_concepts(self) -> dict[str, str]:
        return dict(self.flags)

    def clear_flag(self, concept: str) -> None:
        self.flags.pop(concept, None)


def write_bank(root: Path, *files: tuple[str, str]) -> Path:
    quiz_dir = root / "quiz"
    quiz_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files:
        (quiz_dir / name).write_text(text, encoding="utf-8")
    return quiz_dir


@pytest.fixture
def bank(tmp_path: Path) -> Bank:
    return load_bank(write_bank(tmp_path, ("alpha.yaml", BANK_YAML)), {"softmax"})


# -- the bank model ------------------------------------------------------------------------


def test_bank_loads_every_kind(bank: Bank) -> None:
    kinds = {e.question.id: e.question.kind for e in bank.entries}
    assert kinds == {
        "alpha-choice": "choice", "alpha-number": "numeric", "alpha-weight": "handcalc"
    }
    assert bank.by_id()["alpha-choice"].topic == "alpha"
    with pytest.raises(UsageError, match="alpha"):
        bank.for_topic("nope")


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("    answer: 2\n", "    answer: 4\n", "answer"),
        ("    answer: 2\n", "", "answer"),
        ("    tolerance: 0.01\n", "", "tolerance"),
        (HANDCALC_LINE, "", "handcalc"),
        ("    problem: softmax\n", "    problem: no-such-problem\n", "problem"),
        ("  - id: alpha-number\n", "  - id: alpha-choice\n", "id"),
        ("    kind: numeric\n", "    kind: essay\n", "kind"),
        ("topic: alpha\n", "topic: beta\n", "topic"),
        ("    tolerance: 0.01\n", "    tolerance: 0.01\n" + TWO_OPTIONS, "options"),
        (HINT_LINE, '    hint: {en: "the third"}\n', "hint.zh"),
    ],
)
def test_bank_errors_name_file_and_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    assert old in BANK_YAML
    quiz_dir = write_bank(tmp_path, ("alpha.yaml", BANK_YAML.replace(old, new, 1)))
    with pytest.raises(PackError) as info:
        load_bank(quiz_dir, {"softmax"})
    assert "alpha.yaml" in info.value.message
    assert field in info.value.message


def test_duplicate_ids_across_files_are_rejected(tmp_path: Path) -> None:
    other = BANK_YAML.replace("topic: alpha", "topic: beta").replace("alpha-number", "beta-n")
    quiz_dir = write_bank(tmp_path, ("alpha.yaml", BANK_YAML), ("beta.yaml", other))
    with pytest.raises(PackError, match=r"beta\.yaml[\s\S]*alpha-choice[\s\S]*already"):
        load_bank(quiz_dir, {"softmax"})


def test_invalid_yaml_is_a_pack_error(tmp_path: Path) -> None:
    quiz_dir = write_bank(tmp_path, ("alpha.yaml", "topic: [unclosed\n"))
    with pytest.raises(PackError, match=r"alpha\.yaml"):
        load_bank(quiz_dir, set())


# -- hand calculations -----------------------------------------------------------------------


def independent_value(item) -> float:
    """softmax(QKᵀ/√d_k)[V] computed without the engine's code: einsum, no max shift."""
    q = np.asarray(item.q, dtype=float)
    k = np.asarray(item.k, dtype=float)
    scores = np.einsum("id,jd->ij", q, k) / math.sqrt(q.shape[1])
    e = np.exp(scores)
    weights = e / e.sum(axis=1)[:, None]
    if item.target == "weight":
        return float(weights[item.row, item.col])
    return float(np.einsum("j,jv->v", weights[item.row], np.asarray(item.v, dtype=float))[item.col])


@pytest.mark.parametrize("target", ["weight", "output"])
def test_handcalc_answers_match_an_independent_computation(target: str) -> None:
    spec = HandcalcSpec(target=target, tokens=(2, 3), d_k=(2, 4), d_v=(1, 3), decimals=2)
    for seed in range(300):
        item = generate_item(spec, random.Random(seed))
        n, d_k = len(item.q), len(item.q[0])
        assert 2 <= n <= 3 and 2 <= d_k <= 4
        assert len(item.k) == n and all(len(r) == d_k for r in item.k)
        assert all(-2 <= x <= 2 for m in (item.q, item.k, item.v) for r in m for x in r)
        truth = independent_value(item)
        assert item.answer() == pytest.approx(round(truth, 2), abs=1e-9), seed
        assert item.is_correct(round(truth, 2))
        assert item.is_correct(truth + 0.009)
        assert not item.is_correct(truth + 0.02)
        assert not item.is_correct(truth - 0.02)


def test_handcalc_is_reproducible_and_varies_with_the_seed() -> None:
    spec = HandcalcSpec(target="output")
    first = generate_item(spec, random.Random(7))
    assert first == generate_item(spec, random.Random(7))
    assert len({generate_item(spec, random.Random(s)) for s in range(20)}) > 15


def test_worked_solution_shows_every_step_in_both_languages() -> None:
    item = generate_item(HandcalcSpec(target="output", decimals=3), random.Random(3))
    en = "\n".join(worked_solution(item, "en"))
    zh = "\n".join(worked_solution(item, "zh"))
    q_row = item.q[item.row]
    first_score = sum(a * b for a, b in zip(q_row, item.k[0], strict=True))
    assert "s_1 = " in en and f"= {first_score}\n" in en
    assert "Divide by √d_k" in en and "Softmax" in en and "Weighted sum" in en
    assert f"Answer: {item.answer():.3f}" in en
    assert "除以 √d_k" in zh and "加权求和" in zh and f"答案：{item.answer():.3f}" in zh
    prompt = item_prompt(item, "zh")
    assert "Q = " in prompt and "V = " in prompt and "保留 3 位小数" in prompt


# -- choices and parsing ---------------------------------------------------------------------


def _planned(bank: Bank, question_id: str):
    from attn_drill.quiz.scheduler import PlannedQuestion

    return PlannedQuestion(bank.by_id()[question_id], "new")


def test_option_shuffling_keeps_the_right_answer(bank: Bank) -> None:
    question: Question = bank.by_id()["alpha-choice"].question
    orders = set()
    for seed in range(40):
        for lang in ("en", "zh"):
            prepared = prepare(_planned(bank, "alpha-choice"), lang, random.Random(seed))
            assert sorted(prepared.options) == sorted(o.get(lang) for o in question.options)
            assert prepared.options[prepared.correct_option] == question.options[2].get(lang)
            letter = "abcd"[prepared.correct_option]
            assert check_answer(prepared, letter, lang).correct
            assert check_answer(prepared, letter.upper(), lang).correct
            assert check_answer(prepared, str(prepared.correct_option + 1), lang).correct
            wrong = "abcd"[(prepared.correct_option + 1) % 4]
            assert not check_answer(prepared, wrong, lang).correct
            orders.add(tuple(prepared.options))
    assert len(orders) > 10  # really shuffled


@pytest.mark.parametrize(
    ("raw", "index"),
    [("a", 0), ("A", 0), (" b ", 1), ("(c)", 2), ("d)", 3), ("1", 0), ("4.", 3), ("b because", 1),
     ("e", None), ("5", None), ("0", None), ("", None), ("??", None), ("ab", None)],
)
def test_parse_choice(raw: str, index: int | None) -> None:
    assert parse_choice(raw, 4) == index


@pytest.mark.parametrize(
    ("raw", "value"),
    [("0.25", 0.25), ("-1.5", -1.5), (".5", 0.5), ("0,25", 0.25), ("1/4", 0.25), ("25%", 0.25),
     ("−0.5", -0.5), ("1,050,624", 1050624), ("1050624", 1050624), ("-2,500.5", -2500.5),
     ("0,250", 0.25), ("1,2,3", None), ("abc", None), ("", None), ("nan", None), ("inf", None),
     ("1/0", None), ("64 MiB", 64), ("64MiB", 64), ("1,050,624 params", 1050624),
     ("4 个", 4), ("MiB", None), ("3 heads 2", None)],
)
def test_parse_number(raw: str, value: float | None) -> None:
    got = parse_number(raw)
    assert got == (pytest.approx(value) if value is not None else None)


def test_numeric_tolerance(bank: Bank) -> None:
    prepared = prepare(_planned(bank, "alpha-number"), "en", random.Random(0))
    assert check_answer(prepared, "0.259", "en").correct
    assert not check_answer(prepared, "0.27", "en").correct
    verdict = check_answer(prepared, "a quarter", "en")
    assert not verdict.correct and not verdict.readable


def test_large_integer_answers_are_shown_and_accepted_exactly() -> None:
    from attn_drill.quiz.scheduler import PlannedQuestion

    question = Question.model_validate({
        "id": "param-count", "kind": "numeric", "answer": 1050624, "tolerance": 0,
        "prompt": {"en": "How many?", "zh": "多少个？"},
        "explanation": {"en": "4(d² + d)", "zh": "4(d² + d)"},
    })
    prepared = prepare(PlannedQuestion(BankEntry("t", question), "new"), "en", random.Random(0))
    assert prepared.answer_line == "1050624"
    for line in ("1050624", "1,050,624", "1050624.0"):
        assert check_answer(prepared, line, "en").correct
    verdict = check_answer(prepared, "1050625", "en")
    assert not verdict.correct and verdict.expected == "1050624"


# -- ratings and scheduling ------------------------------------------------------------------


def test_rating_follows_correctness_and_time() -> None:
    fast, slow = RATING_THRESHOLDS["choice"]
    assert rating_for("choice", False, 1.0) == AGAIN
    assert rating_for("choice", True, fast) == EASY
    assert rating_for("choice", True, (fast + slow) / 2) == GOOD
    assert rating_for("choice", True, slow + 1) == HARD
    assert rating_for("choice", True, 1.0, used_hint=True) == HARD
    # a hand calculation may take longer than a choice before it counts as slow
    assert rating_for("handcalc", True, slow + 1) != HARD


NOW = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


def test_a_failed_card_comes_before_a_passed_one(bank: Bank) -> None:
    store = MemoryStore()
    failed = review("alpha-number", None, AGAIN, NOW, 3.0)
    passed = review("alpha-choice", None, GOOD, NOW, 3.0)
    assert failed.due < passed.due
    store.cards = {"alpha-number": failed.card_json, "alpha-choice": passed.card_json}
    later = NOW + timedelta(days=30)  # both are due: the earlier due (failed) comes first
    plan = plan_session(bank.entries, store, count=3, now=later, rng=random.Random(0))
    assert [p.entry.question.id for p in plan[:2]] == ["alpha-number", "alpha-choice"]
    assert [p.reason for p in plan] == ["due", "due", "new"]
    # right after the reviews nothing is due: the new question first, then the failed card
    plan = plan_session(bank.entries, store, count=3, now=NOW, rng=random.Random(0))
    assert [p.entry.question.id for p in plan] == ["alpha-weight", "alpha-number", "alpha-choice"]
    assert [p.reason for p in plan] == ["new", "ahead", "ahead"]


def test_card_json_round_trips_and_accumulates(bank: Bank) -> None:
    first = review("alpha-choice", None, GOOD, NOW, 2.0)
    second = review("alpha-choice", first.card_json, GOOD, first.due, 2.0)
    assert second.due - first.due > first.due - NOW  # intervals grow with each success
    assert card_due(second.card_json) == second.due
    assert card_due("not json") is None
    again = review("alpha-choice", second.card_json, AGAIN, second.due, 2.0)
    assert again.due - second.due < timedelta(hours=1)


def test_flagged_concepts_make_questions_due(bank: Bank) -> None:
    store = MemoryStore(flags={"softmax-wrong-axis": "a grade of softmax summed over rows"})
    for question_id in ("alpha-weight", "alpha-number", "alpha-choice"):
        store.cards[question_id] = review(question_id, None, EASY, NOW, 1.0).card_json
    plan = plan_session(bank.entries, store, count=3, now=NOW, rng=random.Random(1))
    assert plan[0].entry.question.id == "alpha-weight"
    assert plan[0].reason == "flagged"
    assert plan[0].concept == "softmax-wrong-axis"
    assert plan[0].why == "a grade of softmax summed over rows"
    assert {p.reason for p in plan[1:]} == {"ahead"}


def test_plan_is_reproducible_with_a_seed(bank: Bank) -> None:
    entries = [BankEntry("alpha", q.question) for q in bank.entries] * 1
    a = plan_session(entries, MemoryStore(), count=3, now=NOW, rng=random.Random(5))
    b = plan_session(entries, MemoryStore(), count=3, now=NOW, rng=random.Random(5))
    assert [p.entry.question.id for p in a] == [p.entry.question.id for p in b]
    orders = {
        tuple(p.entry.question.id for p in plan_session(
            entries, MemoryStore(), count=3, now=NOW, rng=random.Random(s)))
        for s in range(30)
    }
    assert len(orders) > 1


# -- terminal sessions (scripted) -------------------------------------------------------------


class ScriptedTerminal:
    """Stands in for the rich prompt: answers from a list, like a learner at a terminal."""

    interactive = True

    def __init__(self, lines: list[str]) -> None:
        self.lines = list(lines)
        self.prompts: list[str] = []

    def read(self, prompt: str) -> str | None:
        self.prompts.append(prompt)
        return self.lines.pop(0) if self.lines else None


def test_terminal_asks_again_instead_of_marking_unreadable_answers_wrong(
    bank: Bank, capsys: pytest.CaptureFixture[str]
) -> None:
    from attn_drill.quiz.session import preview_session, run_quiz_command
    from attn_drill.render import quiz as view

    store = MemoryStore()
    prepared = preview_session(topic=None, count=2, lang="en", seed=9, bank=bank, store=store)
    lines = []
    for p in prepared:
        lines += ["what?", p.answer_line]  # first an unreadable line, then the right answer
    lines.append("q")
    terminal = ScriptedTerminal(lines)
    code = run_quiz_command(topic=None, count=3, lang="en", seed=9, view=view, bank=bank,
                            store=store, answer_input=terminal)
    out = capsys.readouterr().out
    assert code == 0
    assert [r[2] for r in store.reviews] == [True, True]
    assert "could not be read" not in out
    assert "Answer with" in out  # the terminal explained what it expects
    assert "Stopped" in out and "Score: 2/2" in out
    assert len(terminal.prompts) == 5


def test_terminal_input_maps_ctrl_d_and_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    from attn_drill.render import quiz as view
    from attn_drill.render.quiz import TerminalInput

    def raise_(exc: type[BaseException]):
        def ask(label: str) -> str:
            raise exc

        return ask

    monkeypatch.setattr(view, "ask", raise_(EOFError))
    assert TerminalInput().read("x") is None
    monkeypatch.setattr(view, "ask", raise_(KeyboardInterrupt))
    assert TerminalInput().read("x") == "q"
    monkeypatch.setattr(view, "ask", lambda label: " b ")
    assert TerminalInput().read("x") == " b "


def test_relative_time_reads_naturally() -> None:
    from attn_drill.render.quiz import relative_time

    assert relative_time(NOW + timedelta(seconds=40), NOW, "en") == "in 1 min"
    assert relative_time(NOW, NOW, "en") == "now"
    assert relative_time(NOW + timedelta(days=8), NOW, "en") == "in 8 day(s)"
    assert relative_time(NOW + timedelta(hours=3), NOW, "zh") == "3 小时后"
    assert relative_time(NOW - timedelta(days=2), NOW, "zh") == "2 天前"


@pytest.mark.parametrize(("row", "sign", "root"), [((1, 0, 1, 0), "=", "2"),
                                                   ((1, 0, 1), "≈", "1.7321")])
def test_worked_solution_says_equal_for_an_exact_square_root(
        row: tuple[int, ...], sign: str, root: str) -> None:
    from attn_drill.quiz.handcalc import HandcalcItem

    d_k = len(row)
    item = HandcalcItem(target="output", q=(row, row), k=(row, tuple(reversed(row))),
                        v=((1, 2), (3, 4)), row=0, col=0, decimals=2)
    en = "\n".join(worked_solution(item, "en"))
    zh = "\n".join(worked_solution(item, "zh"))
    assert f"√d_k = √{d_k} {sign} {root}" in en and f"√d_k = √{d_k} {sign} {root}" in zh
    other = "≈" if sign == "=" else "="
    assert f"√{d_k} {other} " not in en


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_due_reason_reads_naturally(bank: Bank, lang: str) -> None:
    from attn_drill.quiz.scheduler import PlannedQuestion, utc_now
    from attn_drill.render.quiz import _reason

    entry = bank.entries[0]
    now_due = prepare(PlannedQuestion(entry, "due", utc_now()), lang, random.Random(0))
    text = _reason(now_due, lang)
    assert "since" not in text and "自" not in text
    assert text == ("due for review now" if lang == "en" else "现在到期复习")
    earlier = prepare(PlannedQuestion(entry, "due", utc_now() - timedelta(days=2)), lang,
                      random.Random(0))
    assert _reason(earlier, lang) == ("due for review (it was due 2 day(s) ago)"
                                      if lang == "en" else "到期复习（2 天前到期）")
