"""Loading the quiz bank: `quiz/*.yaml` of each active pack, one topic per file.

Errors are `PackError`s naming the file and the field, formatted like problem-file errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from attn_drill.errors import PackError, UsageError
from attn_drill.problems import BUILTIN_PACK, format_validation_error, read_yaml

if TYPE_CHECKING:
    from collections.abc import Sequence

    from attn_drill.quiz.model import Question, QuizFile

QUIZ_DIR = BUILTIN_PACK / "quiz"


@dataclass(frozen=True)
class BankEntry:
    """A question with the topic it belongs to."""

    topic: str
    question: Question


@dataclass(frozen=True)
class Bank:
    topics: dict[str, QuizFile]  # topic -> file model, sorted by topic

    @property
    def entries(self) -> list[BankEntry]:
        return [BankEntry(t, q) for t, f in self.topics.items() for q in f.questions]

    def by_id(self) -> dict[str, BankEntry]:
        return {e.question.id: e for e in self.entries}

    def for_topic(self, topic: str | None) -> list[BankEntry]:
        if topic is None:
            return self.entries
        if topic not in self.topics:
            known = ", ".join(self.topics) or "(none)"
            raise UsageError(f"Unknown quiz topic {topic!r}. Topics: {known}")
        return [BankEntry(topic, q) for q in self.topics[topic].questions]


def load_quiz_file(path: Path) -> QuizFile:
    from pydantic import ValidationError

    from attn_drill.quiz.model import QuizFile

    data = read_yaml(path)
    if not isinstance(data, dict):
        raise PackError(f"Invalid quiz file {path}: expected a mapping at the top level")
    try:
        quiz = QuizFile.model_validate(data)
    except ValidationError as exc:
        raise PackError(format_validation_error(path, exc, what="quiz")) from None
    if quiz.topic != path.stem:
        raise PackError(
            f"Invalid quiz file {path}: topic: {quiz.topic!r} must match the file name "
            f"({path.stem!r})"
        )
    return quiz


def load_bank(quiz_dir: Path | Sequence[Path] = QUIZ_DIR,
              problem_ids: set[str] | None = None) -> Bank:
    """Every quiz file in `quiz_dir` (or in each of several quiz directories, one per pack),
    checked across files: question ids and topics are unique over all of them.

    `problem_ids` are the coding problems a question's `problem` may name; None means the
    active packs' problems.
    """
    if problem_ids is None:
        from attn_drill.problems import pack_problems

        problem_ids = set(pack_problems())
    topics: dict[str, QuizFile] = {}
    topic_files: dict[str, Path] = {}
    seen: dict[str, Path] = {}
    dirs = [quiz_dir] if isinstance(quiz_dir, Path) else list(quiz_dir)
    paths = [path for directory in dirs if directory.is_dir()
             for path in sorted(directory.glob("*.yaml"))]
    for path in paths:
        quiz = load_quiz_file(path)
        if quiz.topic in topic_files:
            raise PackError(f"Invalid quiz file {path}: topic {quiz.topic!r} is already "
                            f"defined in {topic_files[quiz.topic]}")
        topic_files[quiz.topic] = path
        for index, question in enumerate(quiz.questions):
            where = f"questions.{index}"
            if question.id in seen:
                raise PackError(
                    f"Invalid quiz file {path}:\n  - {where}.id: {question.id!r} is already "
                    f"used in {seen[question.id]}"
                )
            seen[question.id] = path
            if question.problem is not None and question.problem not in problem_ids:
                raise PackError(
                    f"Invalid quiz file {path}:\n  - {where}.problem: unknown problem "
                    f"{question.problem!r}"
                )
        if any(q.rubric is not None and q.rubric.rules for q in quiz.questions):
            quiz = quiz.model_copy(
                update={"questions": [_with_rules(q, path) for q in quiz.questions]}
            )
        topics[quiz.topic] = quiz
    return Bank(dict(sorted(topics.items())))


def _with_rules(question: Question, path: Path) -> Question:
    """A text question whose rubric names `rules: <problem>` gets that problem's
    contradictions, guards and diagnoses (the problem is read from the quiz file's pack)."""
    from attn_drill.grading.rubric import with_rules
    from attn_drill.problems import load_problem_file

    rubric = question.rubric
    if rubric is None or rubric.rules is None:
        return question
    pack = path.parent.parent
    source = pack / "problems" / f"{rubric.rules}.yaml"
    if not source.is_file():
        raise PackError(
            f"Invalid quiz file {path}:\n  - {question.id}: rubric.rules: no problem "
            f"{rubric.rules!r} in {pack / 'problems'}"
        )
    problem = load_problem_file(source, pack)
    try:
        resolved = with_rules(rubric, {problem.id: problem})
    except PackError as exc:
        raise PackError(f"Invalid quiz file {path}:\n  - {question.id}: {exc.message}") from None
    return question.model_copy(update={"rubric": resolved})


@cache
def builtin_bank() -> Bank:
    return load_bank()


def pack_bank() -> Bank:
    """The questions of every active pack (the built-in bank when there is no extra pack)."""
    from attn_drill.packs import extra_packs

    extras = extra_packs()
    if not extras:
        return builtin_bank()
    return load_bank([QUIZ_DIR, *(pack / "quiz" for pack in extras)])
