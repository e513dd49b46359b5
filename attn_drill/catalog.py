"""Problem listings joined with the learner's progress (what `list` shows)."""

from __future__ import annotations

from attn_drill.errors import UsageError
from attn_drill.problems import TRACKS, filter_problems, pack_problems

STATUSES = ("todo", "attempted", "passed")
DIFFICULTIES = ("easy", "medium", "hard")


def problem_rows(
    *,
    track: str | None = None,
    topic: str | None = None,
    difficulty: str | None = None,
    status: str | None = None,
    lang: str = "en",
) -> list[dict[str, object]]:
    """Rows of `{id, title, topic, difficulty, tracks, status, changed_since_pass}` in
    curriculum order."""
    if track is not None and track not in TRACKS:
        raise UsageError(f"Unknown track {track!r}: use one of {', '.join(TRACKS)}.")
    if difficulty is not None and difficulty not in DIFFICULTIES:
        choices = ", ".join(DIFFICULTIES)
        raise UsageError(f"Unknown difficulty {difficulty!r}: use one of {choices}.")
    if status is not None and status not in STATUSES:
        raise UsageError(f"Unknown status {status!r}: use one of {', '.join(STATUSES)}.")
    problems = pack_problems()
    if topic is not None and topic not in {p.topic for p in problems.values()}:
        known = sorted({p.topic for p in problems.values()})
        raise UsageError(f"Unknown topic {topic!r}: topics are {', '.join(known)}.")
    selected = filter_problems(problems.values(), track=track, topic=topic, difficulty=difficulty)
    from attn_drill.progress import problem_progress

    progress = problem_progress(selected)
    rows: list[dict[str, object]] = []
    for problem in selected:
        state = progress[problem.id].status
        if status is not None and state != status:
            continue
        rows.append(
            {
                "id": problem.id,
                "title": problem.title.get(lang),
                "topic": problem.topic,
                "difficulty": problem.difficulty,
                "tracks": list(problem.tracks),
                "status": state,
                # A pass from before the problem's YAML changed: still "passed" (filters keep
                # it) but flagged, so views can ask for a re-grade.
                "changed_since_pass": progress[problem.id].changed_since_pass,
            }
        )
    return rows
