"""Which problem to practise next.

The curriculum is the problems' `order` (softmax -> scaled dot-product -> self-attention ->
masks -> multi-head -> module -> explain). The recommendation is the first problem, in that
order, that is either unsolved or due for review: a solved problem comes back when one of its
misconceptions was flagged in the progress store AFTER the problem's last pass (a later
failed grade, on this or another problem, flagged it and no correct quiz answer has cleared
it since). The failures that led up to a pass do not bring the problem back.

`recommend` is pure (progress comes in as arguments) so it is easy to test; `recommend_next`
asks the progress store.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from attn_drill.problems import Problem

Reason = Literal["chosen", "new", "review"]


@dataclass(frozen=True)
class Recommendation:
    problem: Problem
    track: str
    reason: Reason
    concepts: tuple[str, ...] = field(default=())  # flagged misconceptions behind a review


def practice_track(problem: Problem, track: str | None, *, torch_available: bool = True
                   ) -> str | None:
    """The track to practise `problem` on, or None when it cannot be practised here.

    With an explicit track only problems offering it qualify. Without one, the problem's
    default track is used; a torch-only problem is skipped when torch is not installed.
    """
    if track is not None:
        return track if track in problem.tracks else None
    name, _ = problem.track(None)
    if name == "torch" and not torch_available:
        return None
    return name


def recommend(
    problems: Iterable[Problem],
    *,
    track: str | None,
    passed: Callable[[str, str], bool],
    flagged: Mapping[str, str],
    exclude: Collection[str] = (),
    torch_available: bool = True,
    flagged_at: Mapping[str, str] | None = None,
    last_passed: Callable[[str, str], str | None] | None = None,
) -> Recommendation | None:
    """The first problem in curriculum order that is unsolved or flagged for review.

    `passed(problem_id, track)` tells whether the learner passed it; `flagged` maps flagged
    misconception ids to why; `exclude` holds ids already handled this session (skipped or
    just solved), so `n` moves on instead of offering the same problem again.

    With `flagged_at` (concept -> when flagged) and `last_passed(problem_id, track)` (when
    last passed), a flag counts for a passed problem only when it is newer than that pass;
    times are comparable text (fixed-width UTC ISO). Without them every flag counts.
    """
    ordered = sorted(problems, key=lambda p: (p.order, p.id))
    for problem in ordered:
        if problem.id in exclude:
            continue
        track_name = practice_track(problem, track, torch_available=torch_available)
        if track_name is None:
            continue
        if not passed(problem.id, track_name):
            return Recommendation(problem, track_name, "new")
        concepts = tuple(
            m.id for m in problem.misconceptions
            if m.id in flagged and _flag_after_pass(m.id, problem.id, track_name,
                                                    flagged_at, last_passed)
        )
        if concepts:
            return Recommendation(problem, track_name, "review", concepts)
    return None


def _flag_after_pass(concept: str, problem_id: str, track: str,
                     flagged_at: Mapping[str, str] | None,
                     last_passed: Callable[[str, str], str | None] | None) -> bool:
    if flagged_at is None or last_passed is None:
        return True
    passed_at = last_passed(problem_id, track)
    flag_time = flagged_at.get(concept)
    if passed_at is None or flag_time is None:
        return True
    return flag_time > passed_at


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def recommend_next(track: str | None = None, *, exclude: Collection[str] = ()
                   ) -> Recommendation | None:
    """`recommend` over the active packs' problems with the learner's stored progress."""
    from attn_drill import progress
    from attn_drill.problems import pack_problems

    flagged = progress.flagged_concepts()
    flagged_at = progress.flag_times()
    passes = progress.last_pass_times()
    return recommend(
        pack_problems().values(),
        track=track,
        passed=lambda problem_id, track_name: progress.has_passed(problem_id, track_name),
        flagged=flagged,
        exclude=exclude,
        torch_available=torch_installed(),
        flagged_at=flagged_at,
        last_passed=lambda problem_id, track_name: passes.get((problem_id, track_name)),
    )
