"""Spaced repetition with FSRS (the `fsrs` package): ratings, card updates and session plans.

Every question is one FSRS card, stored as JSON through `attn_drill.progress`. The rating of
an answer follows from correctness and answer time, with thresholds per question kind (a
hand calculation takes longer than picking an option):

| kind     | Easy (right, at most) | Hard (right, more than) |
|----------|-----------------------|-------------------------|
| choice   | 10 s                  | 45 s                    |
| numeric  | 20 s                  | 90 s                    |
| text     | 60 s                  | 240 s                   |
| handcalc | 60 s                  | 240 s                   |

Wrong -> Again; right in between -> Good. A right answer after asking for the hint is at
best Hard: the learner did not recall it alone.

A session asks, in this order: cards that are due (earliest due first), questions on concepts
flagged by a failed grade (progress.flagged_concepts()), new questions (seeded shuffle), and,
if the quiz is still short, cards reviewed ahead of schedule (earliest due first).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    from attn_drill.quiz.bank import BankEntry

# kind -> (fast, slow) in seconds; see the module docstring.
RATING_THRESHOLDS: dict[str, tuple[float, float]] = {
    "choice": (10.0, 45.0),
    "numeric": (20.0, 90.0),
    "text": (60.0, 240.0),
    "handcalc": (60.0, 240.0),
}

AGAIN, HARD, GOOD, EASY = 1, 2, 3, 4  # fsrs.Rating values
RATING_NAMES = {AGAIN: "again", HARD: "hard", GOOD: "good", EASY: "easy"}


def rating_for(kind: str, correct: bool, duration_s: float, *, used_hint: bool = False) -> int:
    """The FSRS rating (1 Again, 2 Hard, 3 Good, 4 Easy) for one answer."""
    if not correct:
        return AGAIN
    fast, slow = RATING_THRESHOLDS.get(kind, RATING_THRESHOLDS["choice"])
    if used_hint or duration_s > slow:
        return HARD
    if duration_s <= fast:
        return EASY
    return GOOD


class ReviewStore(Protocol):
    """What the quiz needs from the progress store (attn_drill.progress implements it)."""

    def load_card(self, question_id: str) -> str | None: ...

    def record_review(
        self,
        question_id: str,
        topic: str,
        card_json: str,
        rating: int,
        correct: bool,
        duration_s: float,
        due_iso: str,
    ) -> None: ...

    def due_question_ids(self, now_iso: str) -> list[str]: ...

    def flagged_concepts(self) -> dict[str, str]: ...

    def clear_flag(self, concept: str) -> None: ...


class ProgressStore:
    """The real store: attn_drill.progress's module-level functions."""

    def load_card(self, question_id: str) -> str | None:
        from attn_drill import progress

        return progress.load_card(question_id)

    def record_review(
        self,
        question_id: str,
        topic: str,
        card_json: str,
        rating: int,
        correct: bool,
        duration_s: float,
        due_iso: str,
    ) -> None:
        from attn_drill import progress

        progress.record_review(
            question_id, topic, card_json, rating, correct, duration_s, due_iso
        )

    def due_question_ids(self, now_iso: str) -> list[str]:
        from attn_drill import progress

        return list(progress.due_question_ids(now_iso))

    def flagged_concepts(self) -> dict[str, str]:
        from attn_drill import progress

        return dict(progress.flagged_concepts())

    def clear_flag(self, concept: str) -> None:
        from attn_drill import progress

        progress.clear_flag(concept)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _card_id(question_id: str) -> int:
    # fsrs derives a new card's id from the clock (and sleeps a millisecond to keep them
    # unique); a stable id per question keeps stored cards reproducible instead.
    import zlib

    return zlib.crc32(question_id.encode("utf-8")) + 1


def _scheduler():  # -> fsrs.Scheduler
    import fsrs

    # No fuzzing: with a small bank, reproducible due dates matter more than spreading load.
    return fsrs.Scheduler(enable_fuzzing=False)


def card_due(card_json: str | None) -> datetime | None:
    """When a stored card is due (None for a question never answered or an unreadable card)."""
    if not card_json:
        return None
    import fsrs

    try:
        return fsrs.Card.from_json(card_json).due
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class ReviewOutcome:
    card_json: str
    rating: int
    due: datetime

    @property
    def due_iso(self) -> str:
        return self.due.isoformat()


def review(
    question_id: str, card_json: str | None, rating: int, now: datetime, duration_s: float
) -> ReviewOutcome:
    """Apply one rating to the question's card (a new card when it has none)."""
    import fsrs

    card = None
    if card_json:
        try:
            card = fsrs.Card.from_json(card_json)
        except (ValueError, KeyError, TypeError):
            card = None  # an unreadable card starts over rather than blocking the quiz
    if card is None:
        card = fsrs.Card(card_id=_card_id(question_id), due=now)
    updated, _log = _scheduler().review_card(
        card, fsrs.Rating(rating), review_datetime=now, review_duration=int(duration_s * 1000)
    )
    return ReviewOutcome(updated.to_json(), rating, updated.due)


# -- planning ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedQuestion:
    entry: BankEntry
    reason: str  # due | flagged | new | ahead
    due: datetime | None = None  # for due / ahead
    concept: str | None = None  # for flagged
    why: str | None = None  # for flagged: what flagged the concept


def plan_session(
    entries: Sequence[BankEntry],
    store: ReviewStore,
    *,
    count: int,
    now: datetime,
    rng: random.Random,
) -> list[PlannedQuestion]:
    """The questions of one session, in the order they are asked (see the module docstring)."""
    due_ids = set(store.due_question_ids(now.isoformat()))
    flagged = store.flagged_concepts()
    cards = {e.question.id: card_due(store.load_card(e.question.id)) for e in entries}

    def due_key(entry: BankEntry) -> tuple[datetime, str]:
        return (cards[entry.question.id] or now, entry.question.id)

    due = sorted(
        (
            e
            for e in entries
            if e.question.id in due_ids
            or ((d := cards[e.question.id]) is not None and d <= now)
        ),
        key=due_key,
    )
    plan = [PlannedQuestion(e, "due", cards[e.question.id]) for e in due]
    taken = {e.question.id for e in due}

    flagged_entries = []
    for e in entries:
        hit = next((c for c in e.question.concepts if c in flagged), None)
        if hit is not None and e.question.id not in taken:
            flagged_entries.append(PlannedQuestion(e, "flagged", concept=hit, why=flagged[hit]))
    rng.shuffle(flagged_entries)
    # Never-seen questions on a flagged concept first, then the rest: both are shuffled.
    flagged_entries.sort(key=lambda p: cards[p.entry.question.id] is not None)
    plan += flagged_entries
    taken |= {p.entry.question.id for p in flagged_entries}

    new = [e for e in entries if e.question.id not in taken and cards[e.question.id] is None]
    rng.shuffle(new)
    plan += [PlannedQuestion(e, "new") for e in new]
    taken |= {e.question.id for e in new}

    ahead = sorted((e for e in entries if e.question.id not in taken), key=due_key)
    plan += [PlannedQuestion(e, "ahead", cards[e.question.id]) for e in ahead]
    return plan[:count]


@dataclass(frozen=True)
class Upcoming:
    question_id: str
    topic: str
    due: datetime


def upcoming_reviews(
    entries: Sequence[BankEntry], store: ReviewStore, *, limit: int = 3
) -> tuple[list[Upcoming], int]:
    """The next cards to come due (earliest first) and how many questions are still new."""
    known: list[Upcoming] = []
    new = 0
    for e in entries:
        due = card_due(store.load_card(e.question.id))
        if due is None:
            new += 1
        else:
            known.append(Upcoming(e.question.id, e.topic, due))
    known.sort(key=lambda u: (u.due, u.question_id))
    return known[:limit], new
