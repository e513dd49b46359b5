"""The summary behind `attn-drill progress`: solved problems per topic and track, streak,
weak concepts, quiz cards due and questions waiting on flagged concepts.

Its own module, above both the store (attn_drill.progress) and the quiz bank, so neither of
those imports the other.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from attn_drill import progress as store_module
from attn_drill.errors import StoreError
from attn_drill.progress import (
    CorruptStoreError,
    Store,
    TrackProgress,
    _Damaged,
    _local_date,
    _track_progress,
    _utc_text,
    move_aside,
)

RECENT_FAILURES = 50  # how many recent failed grades "weakest concepts" looks at
WEAK_CONCEPTS_SHOWN = 6


@dataclass(frozen=True)
class TopicProgress:
    topic: str
    track: str
    total: int  # problems of this topic with this track
    attempted: int  # of those, attempted or passed
    solved: int


@dataclass(frozen=True)
class WeakConcept:
    concept: str
    recent_failures: int  # failed grades among the recent ones that showed it
    flagged_why: str | None = None
    flagged_problem: str | None = None
    flagged_at: str | None = None  # UTC ISO time
    title: dict[str, str] = field(default_factory=dict)  # lang -> title, when a problem names it


@dataclass(frozen=True)
class FlaggedQuestions:
    """Quiz questions waiting because a grade flagged their concept (not counted in `due`)."""

    concept: str
    questions: int
    why: str
    problem: str | None
    flagged_at: str  # UTC ISO time


@dataclass(frozen=True)
class QuizProgress:
    reviews: int  # every answered question
    correct: int
    cards: int  # questions with a stored card
    due: int  # cards due now
    # Questions the next quiz asks because a failed grade flagged their concept (beyond the
    # due cards): without them `progress` would say "0 due" while the quiz has work waiting.
    flagged: list[FlaggedQuestions] = field(default_factory=list)

    @property
    def flagged_questions(self) -> int:
        return sum(f.questions for f in self.flagged)


@dataclass(frozen=True)
class ProblemRow:
    """A TrackProgress with what a view needs from the problem itself."""

    progress: TrackProgress
    topic: str | None
    title: dict[str, str]  # lang -> title; empty for a problem no longer in the pack
    hint_level: int


@dataclass(frozen=True)
class ProgressSummary:
    database: Path
    problems: list[ProblemRow]
    topics: list[TopicProgress]
    streak_days: int  # consecutive days with a grade, hint or quiz answer, up to today
    active_today: bool
    last_active: date | None
    weak_concepts: list[WeakConcept]
    quiz: QuizProgress
    backup: Path | None = None  # where a corrupt file was moved by --reset-corrupt

    @property
    def solved(self) -> int:
        return sum(1 for row in self.problems if row.progress.status == "passed")

    @property
    def is_empty(self) -> bool:
        return (
            not any(row.progress.attempts or row.progress.revealed for row in self.problems)
            and self.quiz.reviews == 0
            and self.last_active is None
        )

    def to_contract_json(self) -> dict[str, Any]:
        """CONTRACT.md's `progress --json` document (extra keys only inside its parts)."""
        return {
            "problems": [
                {
                    "id": row.progress.problem_id,
                    "track": row.progress.track,
                    "status": row.progress.status,
                    "attempts": row.progress.attempts,
                    "best_score": row.progress.best_score,
                    "changed_since_pass": row.progress.changed_since_pass,
                    "topic": row.topic,
                    "hint_level": row.hint_level,
                    "revealed": row.progress.revealed,
                    "last_attempt": row.progress.last_attempt,
                }
                for row in self.problems
            ],
            "quiz": {
                "reviews": self.quiz.reviews,
                "due": self.quiz.due,
                "correct": self.quiz.correct,
                "cards": self.quiz.cards,
                "streak_days": self.streak_days,
                "flagged": [c.concept for c in self.weak_concepts if c.flagged_why],
                "flagged_questions": self.quiz.flagged_questions,
                "flagged_concepts": [
                    {"concept": f.concept, "questions": f.questions, "why": f.why,
                     "problem": f.problem, "flagged_at": f.flagged_at}
                    for f in self.quiz.flagged
                ],
            },
        }


def _streak(days: set[date], today: date) -> int:
    """Consecutive active days ending today, or yesterday when today has no activity yet."""
    day = today if today in days else today - timedelta(days=1)
    count = 0
    while day in days:
        count += 1
        day -= timedelta(days=1)
    return count


def _summarise(conn: sqlite3.Connection, path: Path) -> ProgressSummary:
    from attn_drill.problems import pack_problems

    # quick_check reads every page: a truncated file shows up here, not halfway through.
    problems_found = [row[0] for row in conn.execute("PRAGMA quick_check")]
    if problems_found != ["ok"]:
        raise _Damaged(f"integrity check: {problems_found[0]}")

    pack = pack_problems()
    by_track = _track_progress(conn, {p.id: p.version for p in pack.values()})
    hints = dict(conn.execute("SELECT problem, MAX(level) FROM hints GROUP BY problem").fetchall())

    rows: list[ProblemRow] = []
    topic_counts: dict[tuple[str, str], list[int]] = {}
    for problem in pack.values():
        for track in problem.tracks:
            untouched = TrackProgress(problem_id=problem.id, track=track, status="todo")
            progress = by_track.pop((problem.id, track), untouched)
            rows.append(
                ProblemRow(
                    progress=progress,
                    topic=problem.topic,
                    title={"en": problem.title.en, "zh": problem.title.zh},
                    hint_level=int(hints.get(problem.id, 0)),
                )
            )
            counts = topic_counts.setdefault((problem.topic, track), [0, 0, 0])
            counts[0] += 1
            counts[1] += progress.status != "todo"
            counts[2] += progress.status == "passed"
    # Grades of problems no longer in the pack (renamed, or from another pack) still count.
    for (problem_id, _track), progress in sorted(by_track.items()):
        rows.append(
            ProblemRow(progress=progress, topic=None, title={},
                       hint_level=int(hints.get(problem_id, 0)))
        )
    topics = [
        TopicProgress(topic=topic, track=track, total=c[0], attempted=c[1], solved=c[2])
        for (topic, track), c in topic_counts.items()
    ]

    recent = Counter(
        concept
        for (concept,) in conn.execute(
            "SELECT d.concept FROM grade_diagnoses AS d JOIN "
            "(SELECT id FROM grades WHERE passed = 0 ORDER BY graded_at DESC, id DESC LIMIT ?) "
            "AS g ON d.grade_id = g.id",
            (RECENT_FAILURES,),
        )
    )
    flags = {
        concept: (why, problem, at)
        for concept, why, problem, at in conn.execute(
            "SELECT concept, why, problem, flagged_at FROM flags"
        )
    }
    titles: dict[str, dict[str, str]] = {}
    for problem in pack.values():
        for m in problem.misconceptions:
            titles.setdefault(m.id, {"en": m.title.en, "zh": m.title.zh})
    weak = [
        WeakConcept(
            concept=concept,
            recent_failures=recent.get(concept, 0),
            flagged_why=flags[concept][0] if concept in flags else None,
            flagged_problem=flags[concept][1] if concept in flags else None,
            flagged_at=flags[concept][2] if concept in flags else None,
            title=titles.get(concept, {}),
        )
        for concept in set(recent) | set(flags)
    ]
    weak.sort(key=lambda w: (-w.recent_failures, w.flagged_why is None, w.concept))

    now = store_module._now()  # through the module: tests move the clock there
    reviews, correct = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(correct), 0) FROM reviews"
    ).fetchone()
    cards, due = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(due <= ?), 0) FROM cards", (_utc_text(now),)
    ).fetchone()

    flagged_waiting = _flagged_questions(conn, flags, _utc_text(now))

    days = {
        _local_date(stamp)
        for (stamp,) in conn.execute(
            "SELECT graded_at FROM grades UNION SELECT reviewed_at FROM reviews "
            "UNION SELECT used_at FROM hints"
        )
    }
    today = now.astimezone().date()
    return ProgressSummary(
        database=path,
        problems=rows,
        topics=topics,
        streak_days=_streak(days, today),
        active_today=today in days,
        last_active=max(days) if days else None,
        weak_concepts=weak[:WEAK_CONCEPTS_SHOWN],
        quiz=QuizProgress(reviews=int(reviews), correct=int(correct), cards=int(cards),
                          due=int(due), flagged=flagged_waiting),
    )


def _flagged_questions(
    conn: sqlite3.Connection, flags: dict[str, tuple[str, str | None, str]], now: str
) -> list[FlaggedQuestions]:
    """Per flagged concept, the quiz questions on it that are not already due (the quiz's
    session plan asks exactly these after the due cards; see quiz.scheduler.plan_session)."""
    if not flags:
        return []
    from attn_drill.errors import AttnDrillError

    try:
        from attn_drill.quiz.bank import pack_bank

        entries = pack_bank().entries
    except AttnDrillError:  # a broken quiz file is reported by `quiz`; progress still works
        return []
    due_now = {qid for (qid,) in conn.execute("SELECT question_id FROM cards WHERE due <= ?",
                                              (now,))}
    counts: Counter[str] = Counter()
    for entry in entries:
        if entry.question.id in due_now:
            continue
        hit = next((c for c in entry.question.concepts if c in flags), None)
        if hit is not None:
            counts[hit] += 1
    waiting = [
        FlaggedQuestions(concept=concept, questions=n, why=flags[concept][0],
                         problem=flags[concept][1], flagged_at=flags[concept][2])
        for concept, n in counts.items()
    ]
    waiting.sort(key=lambda f: f.flagged_at, reverse=True)
    return waiting


def _summary_once(store: Store) -> ProgressSummary:
    with store.transaction(write=False) as conn:
        return _summarise(conn, store.path)


def progress_summary(reset_corrupt: bool = False, store: Store | None = None) -> ProgressSummary:
    """Everything `attn-drill progress` shows. With `reset_corrupt`, a damaged database is
    moved aside (see progress.move_aside) and a fresh one started; the summary names the
    backup."""
    store = Store() if store is None else store
    try:
        return _summary_once(store)
    except CorruptStoreError as exc:
        if not reset_corrupt:
            raise
        try:
            backup = move_aside(exc.path)
        except OSError as os_exc:
            raise StoreError(
                f"Could not move the damaged progress database {exc.path} aside: {os_exc}. "
                "Nothing was deleted."
            ) from None
    return replace(_summary_once(store), backup=backup)
