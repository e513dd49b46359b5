"""One quiz session: plan the questions, ask them, check answers, schedule the cards.

In a terminal the questions are asked with rich prompts; when stdin is not a terminal the
quiz reads one line per answer (CONTRACT: "Quiz without a terminal"): an unreadable answer
counts as wrong and end of input ends the quiz cleanly (exit 0) with what was answered
recorded. In both modes `?` shows the hint (that line is not an answer) and `q` stops the
quiz, keeping what was answered.

`quiz --question ID` (`run_question_command`) asks one question by id; without a terminal
its answer is the first line of stdin, taken as it is, and `--no-record` checks it without
storing anything (the session's `record`).
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from attn_drill.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from attn_drill.problems import Rubric
    from attn_drill.quiz.bank import Bank
    from attn_drill.quiz.handcalc import HandcalcItem
    from attn_drill.quiz.scheduler import PlannedQuestion, ReviewStore, Upcoming

LETTERS = "abcdef"
THOUSANDS = re.compile(r"[-+]?[1-9]\d{0,2}(,\d{3})+(\.\d*)?")
NUMBER_THEN_UNIT = re.compile(r"[-+]?[\d.,/]+%?[A-Za-z\u4e00-\u9fff]+")
UNIT_SUFFIX = re.compile(r"[A-Za-z\u4e00-\u9fff]+$")
STOP_WORDS = {"q", "quit", "exit", "退出"}
HINT_MARKS = {"?", "？"}
HINT_WORDS = {"hint", "提示"}  # also accepted, except as a free-text answer


# -- answers -----------------------------------------------------------------------------


def parse_choice(raw: str, n_options: int) -> int | None:
    """`a`, `A`, `(b)`, `c)`, `2`, `2.` -> 0-based option index; None when unreadable."""
    text = raw.strip().lower()
    match = re.fullmatch(r"\(?([a-z]|\d+)\s*[).:：、]?(\s.*)?", text)
    if not match:
        return None
    token = match.group(1)
    index = int(token) - 1 if token.isdigit() else ord(token) - ord("a")
    return index if 0 <= index < n_options else None


def parse_number(raw: str) -> float | None:
    """`0.25`, `-1.5`, `.5`, `0,25`, `1/4`, `25%`, `64 MiB` -> float; None when unreadable.

    A trailing unit word is ignored: the prompt names the unit the answer is in, and learners
    naturally repeat it ("64 MiB", "4 个").
    """
    text = raw.strip().replace("−", "-").replace("，", ",").replace(" ", "")
    text = UNIT_SUFFIX.sub("", text) if NUMBER_THEN_UNIT.fullmatch(text) else text
    if not text:
        return None
    percent = text.endswith("%")
    if percent:
        text = text[:-1]
    if THOUSANDS.fullmatch(text):
        text = text.replace(",", "")  # 1,050,624
    elif text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")  # a decimal comma: 0,25
    try:
        if "/" in text:
            top, bottom = text.split("/", 1)
            value = float(top) / float(bottom)
        else:
            value = float(text)
    except (ValueError, ZeroDivisionError):
        return None
    if not math.isfinite(value):
        return None
    return value / 100 if percent else value


def grade_text_answer(text: str, rubric: Rubric, lang: str) -> Any:
    """The rubric grader shared with the text track (returns a grading.rubric.RubricResult)."""
    from attn_drill.grading.rubric import grade_answer

    return grade_answer(text, rubric, lang)


@dataclass(frozen=True)
class PreparedQuestion:
    """A planned question made concrete: language chosen, options shuffled, item generated."""

    planned: PlannedQuestion
    prompt: str
    options: list[str] = field(default_factory=list)
    correct_option: int | None = None  # index into the shuffled options
    item: HandcalcItem | None = None

    @property
    def id(self) -> str:
        return self.planned.entry.question.id

    @property
    def kind(self) -> str:
        return self.planned.entry.question.kind

    @property
    def topic(self) -> str:
        return self.planned.entry.topic

    @property
    def answer_line(self) -> str:
        """A line that answers this question right ("" for free text: a rubric decides)."""
        question = self.planned.entry.question
        if self.kind == "choice":
            assert self.correct_option is not None
            return LETTERS[self.correct_option]
        if self.kind == "handcalc":
            assert self.item is not None
            return f"{self.item.answer():.{self.item.decimals}f}"
        if self.kind == "numeric":
            assert question.answer is not None
            return _fmt(float(question.answer))
        return ""


def prepare(planned: PlannedQuestion, lang: str, rng: random.Random) -> PreparedQuestion:
    """Shuffle a choice question's options (tracking the right one), generate a hand calc."""
    question = planned.entry.question
    prompt = question.prompt.get(lang)
    if question.kind == "choice":
        assert question.options is not None and isinstance(question.answer, int)
        order = list(range(len(question.options)))
        rng.shuffle(order)
        options = [question.options[i].get(lang) for i in order]
        return PreparedQuestion(planned, prompt, options, order.index(question.answer))
    if question.kind == "handcalc":
        from attn_drill.quiz.handcalc import generate_item, item_prompt

        assert question.handcalc is not None
        item = generate_item(question.handcalc, rng)
        return PreparedQuestion(planned, f"{prompt}\n\n{item_prompt(item, lang)}", item=item)
    return PreparedQuestion(planned, prompt)


@dataclass(frozen=True)
class Verdict:
    readable: bool
    correct: bool
    expected: str  # the right answer, as shown to the learner
    rubric: Any = None  # the RubricResult of a text answer
    worked: list[str] = field(default_factory=list)  # hand-calculation steps


def _fmt(value: float) -> str:
    """Enough digits to be the stored answer exactly (1050624, not 1.05062e+06)."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.12g}"


def check_answer(prepared: PreparedQuestion, raw: str, lang: str) -> Verdict:
    question = prepared.planned.entry.question
    if question.kind == "choice":
        assert prepared.correct_option is not None
        right = prepared.correct_option
        expected = f"{LETTERS[right]}) {prepared.options[right]}"
        picked = parse_choice(raw, len(prepared.options))
        return Verdict(picked is not None, picked == right, expected)
    if question.kind == "numeric":
        assert question.answer is not None and question.tolerance is not None
        target = float(question.answer)
        expected = _fmt(target)
        value = parse_number(raw)
        ok = value is not None and abs(value - target) <= question.tolerance + 1e-12
        return Verdict(value is not None, ok, expected)
    if question.kind == "handcalc":
        from attn_drill.quiz.handcalc import worked_solution

        item = prepared.item
        assert item is not None
        expected = f"{item.answer():.{item.decimals}f}"
        value = parse_number(raw)
        ok = value is not None and item.is_correct(value)
        return Verdict(value is not None, ok, expected, worked=worked_solution(item, lang))
    assert question.rubric is not None
    text = raw.strip()
    if not text:
        return Verdict(False, False, "")
    result = grade_text_answer(text, question.rubric, lang)
    return Verdict(True, bool(result.passed), "", rubric=result)


def is_readable(prepared: PreparedQuestion, raw: str) -> bool:
    """Whether a line can be judged at all (a terminal asks again when it cannot)."""
    kind = prepared.kind
    if kind == "choice":
        return parse_choice(raw, len(prepared.options)) is not None
    if kind in ("numeric", "handcalc"):
        return parse_number(raw) is not None
    return bool(raw.strip())


# -- input -------------------------------------------------------------------------------


class AnswerInput(Protocol):
    interactive: bool

    def read(self, prompt: str) -> str | None:
        """One answer line, or None at end of input."""
        ...


class QuizView(Protocol):
    """What a quiz session shows (the face implements it: attn_drill.render.quiz)."""

    def quiz_intro(self, n: int, interactive: bool, lang: str) -> None: ...

    def question(self, prepared: PreparedQuestion, number: int, total: int, title: str,
                 lang: str, *, to_stderr: bool = False) -> None: ...

    def answer_label(self, kind: str, n_options: int, lang: str) -> str: ...

    def hint(self, text: str | None, lang: str) -> None: ...

    def unreadable(self, kind: str, n_options: int, lang: str) -> None: ...

    def feedback(self, prepared: PreparedQuestion, verdict: Verdict | None,
                 due: datetime | None, now: datetime, lang: str) -> None: ...

    def show_prompt_marker(self, label: str) -> None: ...

    def echo_piped_answer(self, raw: str | None) -> None: ...

    def stopped(self, lang: str) -> None: ...

    def ended(self, lang: str) -> None: ...

    def summary(self, outcome: QuizOutcome, bank: Bank, now: datetime, lang: str) -> None: ...


class NoInput:
    """For sessions that only prepare questions."""

    interactive = False

    def read(self, prompt: str) -> str | None:
        return None


# -- the session -------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerRecord:
    question_id: str
    topic: str
    kind: str
    correct: bool
    readable: bool
    used_hint: bool
    rating: int
    duration_s: float
    due: datetime
    answer: str = ""
    verdict: Verdict | None = None
    recorded: bool = True


@dataclass
class QuizOutcome:
    planned: int
    answers: list[AnswerRecord] = field(default_factory=list)
    stopped: bool = False  # the learner typed q
    ended: bool = False  # end of input
    upcoming: list[Upcoming] = field(default_factory=list)
    new_left: int = 0

    def by_topic(self) -> dict[str, tuple[int, int]]:
        """topic -> (correct, answered)."""
        scores: dict[str, tuple[int, int]] = {}
        for a in self.answers:
            right, total = scores.get(a.topic, (0, 0))
            scores[a.topic] = (right + int(a.correct), total + 1)
        return scores


@dataclass
class QuizSession:
    bank: Bank
    store: ReviewStore
    lang: str
    rng: random.Random
    input: AnswerInput
    view: QuizView | None = None  # needed by `run`, not by `prepare`
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = field(default=lambda: _utc_now())
    record: bool = True  # False: answers are checked but nothing is stored (--no-record)

    def prepare(self, *, topic: str | None, count: int) -> list[PreparedQuestion]:
        """The session's questions, in order, made concrete (all random draws happen here)."""
        from attn_drill.quiz.scheduler import plan_session

        entries = self.bank.for_topic(topic)
        plan = plan_session(entries, self.store, count=count, now=self.now(), rng=self.rng)
        return [prepare(planned, self.lang, self.rng) for planned in plan]

    def run(self, *, topic: str | None, count: int) -> QuizOutcome:
        from attn_drill.quiz.scheduler import upcoming_reviews

        view = self.view
        assert view is not None, "a session that runs needs a view"
        prepared_questions = self.prepare(topic=topic, count=count)
        total = len(prepared_questions)
        outcome = QuizOutcome(planned=total)
        view.quiz_intro(total, self.input.interactive, self.lang)
        for number, prepared in enumerate(prepared_questions, start=1):
            title = self.bank.topics[prepared.topic].title.get(self.lang)
            view.question(prepared, number, total, title, self.lang)
            status = self._ask(prepared, outcome)
            if status != "answered":
                break
        outcome.upcoming, outcome.new_left = upcoming_reviews(self.bank.entries, self.store)
        view.summary(outcome, self.bank, self.now(), self.lang)
        return outcome

    def _ask(self, prepared: PreparedQuestion, outcome: QuizOutcome) -> str:
        view = self.view
        assert view is not None
        question = prepared.planned.entry.question
        used_hint = False
        started = self.clock()
        while True:
            label = view.answer_label(prepared.kind, len(prepared.options), self.lang)
            raw = self.input.read(label)
            if raw is None:
                outcome.ended = True
                view.ended(self.lang)
                return "ended"
            word = raw.strip().lower()
            if word in STOP_WORDS:
                outcome.stopped = True
                view.stopped(self.lang)
                return "stopped"
            if word in HINT_MARKS or (word in HINT_WORDS and prepared.kind != "text"):
                used_hint = True
                view.hint(question.hint.get(self.lang) if question.hint else None, self.lang)
                continue
            if self.input.interactive and not is_readable(prepared, raw):
                view.unreadable(prepared.kind, len(prepared.options), self.lang)
                continue
            break
        duration = max(0.0, self.clock() - started)
        record = self.answer(prepared, raw, used_hint=used_hint, duration=duration)
        outcome.answers.append(record)
        view.feedback(
            prepared, record.verdict, record.due if record.recorded else None, self.now(),
            self.lang,
        )
        return "answered"

    def answer(
        self, prepared: PreparedQuestion, raw: str, *, used_hint: bool = False,
        duration: float = 0.0,
    ) -> AnswerRecord:
        """Check one answer and, when the session records, schedule the card and clear the
        flags of the concepts it tests (a right answer)."""
        from attn_drill.quiz.scheduler import rating_for, review

        question = prepared.planned.entry.question
        verdict = check_answer(prepared, raw, self.lang)
        rating = rating_for(prepared.kind, verdict.correct, duration, used_hint=used_hint)
        now = self.now()
        result = review(prepared.id, self.store.load_card(prepared.id), rating, now, duration)
        if self.record:
            self.store.record_review(
                prepared.id, prepared.topic, result.card_json, rating, verdict.correct,
                duration, result.due_iso,
            )
            if verdict.correct:
                flagged = self.store.flagged_concepts()
                for concept in question.concepts:
                    if concept in flagged:
                        self.store.clear_flag(concept)
        return AnswerRecord(
            prepared.id, prepared.topic, prepared.kind, verdict.correct, verdict.readable,
            used_hint, rating, duration, result.due, raw, verdict, self.record,
        )


def _utc_now() -> datetime:
    from attn_drill.quiz.scheduler import utc_now

    return utc_now()


# -- the command -------------------------------------------------------------------------


def bank_rows(bank: Bank, topic: str | None = None) -> list[dict[str, Any]]:
    """`quiz --list --json`: one entry per question with id, topic, kind, langs (CONTRACT.md)
    and difficulty."""
    return [
        {
            "id": e.question.id,
            "topic": e.topic,
            "kind": e.question.kind,
            "langs": e.question.langs,
            "difficulty": e.question.difficulty,
        }
        for e in bank.for_topic(topic)
    ]


def run_quiz_command(
    *,
    topic: str | None,
    count: int,
    lang: str,
    seed: int | None,
    view: QuizView,
    answer_input: AnswerInput,
    bank: Bank | None = None,
    store: ReviewStore | None = None,
) -> int:
    """`attn-drill quiz`; returns the exit code (0 when the quiz ran, whatever the score)."""
    from attn_drill.quiz.bank import pack_bank

    bank = pack_bank() if bank is None else bank
    if count < 1:
        raise UsageError(f"-n must be at least 1 (got {count}).")
    if not bank.entries:
        raise UsageError("The question bank is empty: there is nothing to quiz on.")
    bank.for_topic(topic)  # an unknown topic is a usage error before anything is asked
    session = _session(bank, store, lang, seed, answer_input)
    session.view = view
    session.run(topic=topic, count=count)
    return int(ExitCode.OK)


def _session(
    bank: Bank, store: ReviewStore | None, lang: str, seed: int | None, answer_input: AnswerInput,
    *, record: bool = True,
) -> QuizSession:
    if store is None:
        from attn_drill.quiz.scheduler import ProgressStore

        store = ProgressStore()
    return QuizSession(
        bank=bank, store=store, lang=lang, rng=random.Random(seed), input=answer_input,
        record=record,
    )


def question_document(record: AnswerRecord | None, prepared: PreparedQuestion,
                      lang: str) -> dict[str, Any]:
    """`quiz --question ID --json`: {id, correct, answer, expected, explanation} (CONTRACT.md)
    and kind, topic, difficulty, prompt, options, readable, recorded, the worked solution of a
    hand calculation and the rubric's verdict on a free-text answer."""
    question = prepared.planned.entry.question
    verdict = record.verdict if record is not None else None
    expected: str | None = prepared.answer_line or None
    if question.kind == "choice" and prepared.correct_option is not None:
        right = prepared.correct_option
        expected = f"{LETTERS[right]}) {prepared.options[right]}"
    document: dict[str, Any] = {
        "id": prepared.id,
        "correct": bool(record and record.correct),
        "answer": None if record is None else record.answer,
        "expected": expected,
        "explanation": question.explanation.get(lang),
        "kind": prepared.kind,
        "topic": prepared.topic,
        "difficulty": question.difficulty,
        "prompt": prepared.prompt,
        "options": list(prepared.options),
        "readable": bool(record and record.readable),
        "recorded": bool(record and record.recorded),
    }
    if verdict is not None and verdict.worked:
        document["worked"] = list(verdict.worked)
    if verdict is not None and verdict.rubric is not None:
        document["rubric"] = verdict.rubric.to_dict()
    return document


def run_question_command(
    *,
    question_id: str,
    lang: str,
    seed: int | None,
    as_json: bool,
    record: bool,
    view: QuizView,
    answer_input: AnswerInput,
    show_question: bool = True,
    bank: Bank | None = None,
    store: ReviewStore | None = None,
) -> dict[str, Any] | None:
    """`attn-drill quiz --question ID`: ask that one question (a hand calculation drawn from
    `seed`); the answer is recorded like any review unless `record` is False. With `as_json`
    nothing but the returned document is meant for stdout: the question goes to stderr when
    `show_question` (someone is typing), and the face prints the document. An unknown id is a
    usage error (exit 2)."""
    from attn_drill.quiz.bank import pack_bank
    from attn_drill.quiz.scheduler import PlannedQuestion

    bank = pack_bank() if bank is None else bank
    entries = bank.by_id()
    entry = entries.get(question_id)
    if entry is None:
        import difflib

        close = difflib.get_close_matches(question_id, list(entries), n=3)
        suggestion = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UsageError(
            f"Unknown quiz question {question_id!r}.{suggestion} "
            "`attn-drill quiz --list` shows every id."
        )
    session = _session(bank, store, lang, seed, answer_input, record=record)
    session.view = view
    prepared = prepare(PlannedQuestion(entry, "chosen"), lang, session.rng)
    title = bank.topics[prepared.topic].title.get(lang)
    if as_json:
        if show_question:
            view.question(prepared, 1, 1, title, lang, to_stderr=True)
        raw = answer_input.read("")
        answered = None if raw is None else session.answer(prepared, raw)
        return question_document(answered, prepared, lang)
    view.question(prepared, 1, 1, title, lang)
    if answer_input.interactive:
        session._ask(prepared, QuizOutcome(planned=1))  # hints and re-asking, as in a quiz
        return None
    view.show_prompt_marker(view.answer_label(prepared.kind, len(prepared.options), lang))
    raw = answer_input.read("")
    view.echo_piped_answer(raw)
    if raw is None:
        view.ended(lang)
        return None
    answered = session.answer(prepared, raw)
    view.feedback(prepared, answered.verdict, answered.due if record else None, session.now(),
                  lang)
    return None


def preview_session(
    *,
    topic: str | None,
    count: int,
    lang: str,
    seed: int,
    bank: Bank | None = None,
    store: ReviewStore | None = None,
) -> list[PreparedQuestion]:
    """The questions `quiz --seed SEED` would ask now, with their right answers (for
    teachers preparing a class, and for tests that answer a seeded quiz)."""
    from attn_drill.quiz.bank import pack_bank

    bank = pack_bank() if bank is None else bank
    session = _session(bank, store, lang, seed, NoInput())
    return session.prepare(topic=topic, count=count)
