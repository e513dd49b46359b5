"""Which problem `practice` recommends: curriculum order, review of flagged concepts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from attn_drill.curriculum import practice_track, recommend
from attn_drill.problems import get_problem

if TYPE_CHECKING:
    from attn_drill.problems import Problem


def _variant(problem_id: str, order: int, tracks: tuple[str, ...] = ("numpy",),
             misconceptions: tuple[str, ...] = ()) -> Problem:
    """A copy of the softmax problem under another id, order, tracks and misconceptions."""
    base = get_problem("softmax")
    numpy_spec = base.tracks["numpy"]
    kept = [m for m in base.misconceptions if m.id in misconceptions]
    return base.model_copy(update={
        "id": problem_id,
        "order": order,
        "tracks": {name: numpy_spec for name in tracks},
        "misconceptions": kept,
    })


@pytest.fixture
def bank() -> list[Problem]:
    # Deliberately listed out of order: the curriculum order is `order`, not list position.
    return [
        _variant("multi-head", 50, ("numpy",), ("softmax-wrong-axis",)),
        _variant("softmax", 10, ("numpy",), ("unstable-softmax", "mutates-input")),
        _variant("module", 60, ("torch",)),
        _variant("sdpa", 20, ("numpy", "torch"), ("softmax-wrong-axis",)),
    ]


def _passed(*ids: str):
    solved = set(ids)
    return lambda problem_id, _track: problem_id in solved


def test_first_unsolved_in_curriculum_order(bank: list[Problem]) -> None:
    first = recommend(bank, track=None, passed=_passed(), flagged={})
    assert first is not None and (first.problem.id, first.reason) == ("softmax", "new")
    after_softmax = recommend(bank, track=None, passed=_passed("softmax"), flagged={})
    assert after_softmax is not None and after_softmax.problem.id == "sdpa"
    assert after_softmax.track == "numpy"  # the default track of a two-track problem


def test_everything_solved_gives_none(bank: list[Problem]) -> None:
    solved = _passed("softmax", "sdpa", "multi-head", "module")
    assert recommend(bank, track=None, passed=solved, flagged={}) is None


def test_flagged_concept_brings_a_solved_problem_back(bank: list[Problem]) -> None:
    solved = _passed("softmax", "sdpa")
    flagged = {"unstable-softmax": "failed softmax: exp overflow"}
    again = recommend(bank, track=None, passed=solved, flagged=flagged)
    assert again is not None
    assert (again.problem.id, again.reason, again.concepts) == (
        "softmax", "review", ("unstable-softmax",))
    # An unrelated flag does not bring softmax back: the next unsolved problem comes first.
    other = recommend(bank, track=None, passed=solved, flagged={"missing-scale": "x"})
    assert other is not None and other.problem.id == "multi-head"


def test_review_keeps_curriculum_order_against_unsolved(bank: list[Problem]) -> None:
    # sdpa (order 20) is flagged and solved; multi-head (50) is unsolved: sdpa comes first.
    solved = _passed("softmax", "sdpa")
    pick = recommend(bank, track=None, passed=solved, flagged={"softmax-wrong-axis": "x"})
    assert pick is not None and (pick.problem.id, pick.reason) == ("sdpa", "review")


def test_exclude_skips_problems_handled_this_session(bank: list[Problem]) -> None:
    pick = recommend(bank, track=None, passed=_passed(), flagged={}, exclude={"softmax"})
    assert pick is not None and pick.problem.id == "sdpa"
    flagged = {"unstable-softmax": "x"}
    pick = recommend(bank, track=None, passed=_passed("softmax"), flagged=flagged,
                     exclude={"softmax"})
    assert pick is not None and pick.problem.id == "sdpa"


def test_track_filter_and_torch_availability(bank: list[Problem]) -> None:
    torch_first = recommend(bank, track="torch", passed=_passed(), flagged={})
    assert torch_first is not None
    assert (torch_first.problem.id, torch_first.track) == ("sdpa", "torch")
    solved = _passed("softmax", "sdpa", "multi-head")
    assert recommend(bank, track=None, passed=solved, flagged={}, torch_available=False) is None
    with_torch = recommend(bank, track=None, passed=solved, flagged={})
    assert with_torch is not None and with_torch.problem.id == "module"


def test_passed_is_asked_per_track(bank: list[Problem]) -> None:
    def numpy_only(problem_id: str, track: str) -> bool:
        return track == "numpy"

    pick = recommend(bank, track="torch", passed=numpy_only, flagged={})
    assert pick is not None and (pick.problem.id, pick.track) == ("sdpa", "torch")


def test_practice_track_rules(bank: list[Problem]) -> None:
    by_id = {p.id: p for p in bank}
    assert practice_track(by_id["softmax"], "torch") is None
    assert practice_track(by_id["sdpa"], None) == "numpy"
    assert practice_track(by_id["module"], None, torch_available=False) is None
    assert practice_track(by_id["module"], None) == "torch"


def test_recommend_next_reads_the_progress_store() -> None:
    from attn_drill import progress
    from attn_drill.curriculum import recommend_next
    from tests.helpers import failed_report, passed_report

    first = recommend_next()
    assert first is not None and (first.problem.id, first.reason) == ("softmax", "new")
    progress.record_grade(failed_report("unstable-softmax"))
    progress.record_grade(passed_report())
    # The failures that led up to the pass do not bring it straight back.
    after_pass = recommend_next()
    assert after_pass is not None and after_pass.problem.id != "softmax"
    assert after_pass.reason == "new"
    # A later failure elsewhere showing the same misconception does.
    progress.record_grade(failed_report("unstable-softmax", problem="self-attention"))
    review = recommend_next()
    assert review is not None
    assert (review.problem.id, review.reason, review.concepts) == (
        "softmax", "review", ("unstable-softmax",))
    moved_on = recommend_next(exclude={"softmax"})
    assert moved_on is not None and moved_on.problem.id != "softmax"
    progress.clear_flag("unstable-softmax")
    after_quiz = recommend_next()
    assert after_quiz is not None and after_quiz.problem.id != "softmax"


def test_flags_before_the_last_pass_do_not_bring_a_problem_back(bank: list[Problem]) -> None:
    solved = _passed("softmax", "sdpa")
    passes = {"softmax": "2026-01-01T10:00:00.000000+00:00",
              "sdpa": "2026-01-01T11:00:00.000000+00:00"}
    flagged = {"unstable-softmax": "why", "softmax-wrong-axis": "why"}

    def last_passed(problem_id: str, _track: str) -> str | None:
        return passes.get(problem_id)

    older = {"unstable-softmax": "2026-01-01T09:59:00.000000+00:00",
             "softmax-wrong-axis": "2026-01-01T10:30:00.000000+00:00"}
    pick = recommend(bank, track=None, passed=solved, flagged=flagged, flagged_at=older,
                     last_passed=last_passed)
    # Both flags predate the pass of the problem they belong to: straight on to new work.
    assert pick is not None and (pick.problem.id, pick.reason) == ("multi-head", "new")
    newer = {"unstable-softmax": "2026-01-01T09:59:00.000000+00:00",
             "softmax-wrong-axis": "2026-01-01T12:00:00.000000+00:00"}
    pick = recommend(bank, track=None, passed=solved, flagged=flagged, flagged_at=newer,
                     last_passed=last_passed)
    assert pick is not None and (pick.problem.id, pick.reason, pick.concepts) == (
        "sdpa", "review", ("softmax-wrong-axis",))


def test_builtin_curriculum_walks_the_issue_order() -> None:
    from attn_drill.problems import builtin_problems

    bank = list(builtin_problems().values())
    walked: list[str] = []
    while (pick := recommend(bank, track=None, passed=_passed(), flagged={},
                             exclude=walked)) is not None:
        walked.append(pick.problem.id)
    assert len(walked) == len(bank)
    # CONTRACT.md "Curriculum order": the √d_k explanation right after self-attention.
    milestones = ["softmax", "scaled-dot-product-attention", "self-attention",
                  "explain-sqrt-dk", "causal-attention", "multi-head-attention",
                  "self-attention-module"]
    positions = [walked.index(problem_id) for problem_id in milestones]
    assert positions == sorted(positions), walked
