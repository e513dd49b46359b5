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
    """Rows of `{id, title, topic, difficulty, tracks, status, track_status,
    changed_since_pass, changed_tracks}` in curriculum order. `status` is the best over the
    problem's tracks (what `--status` filters on); `track_status` maps each track to its own
    (a pass on numpy is not a pass on torch)."""
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
        per_track = progress[problem.id].tracks
        rows.append(
            {
                "id": problem.id,
                "title": problem.title.get(lang),
                "topic": problem.topic,
                "difficulty": problem.difficulty,
                "tracks": list(problem.tracks),
                "status": state,
                "track_status": {
                    name: per_track[name].status if name in per_track else "todo"
                    for name in problem.tracks
                },
                # A pass from before the problem's YAML changed: still "passed" (filters keep
                # it) but flagged, so views can ask for a re-grade.
                "changed_since_pass": progress[problem.id].changed_since_pass,
                "changed_tracks": [name for name in problem.tracks if name in per_track
                                   and per_track[name].changed_since_pass],
            }
        )
    return rows


def list_entries(rows: list[dict[str, object]]
                 ) -> list[tuple[str, str | None, str, bool, str]]:
    """(problem id, track, status, passed before the problem changed, title): one entry per
    track of each row (a row without `track_status` is one entry for the problem)."""
    entries: list[tuple[str, str | None, str, bool, str]] = []
    for row in rows:
        problem_id, title = str(row.get("id", "")), str(row.get("title", ""))
        per_track = row.get("track_status")
        changed_tracks = set(row.get("changed_tracks") or [])  # type: ignore[arg-type]
        if isinstance(per_track, dict) and per_track:
            for track, status in per_track.items():
                entries.append((problem_id, str(track), str(status), track in changed_tracks,
                                title))
        else:
            entries.append((problem_id, None, str(row.get("status", "todo")),
                            bool(row.get("changed_since_pass")), title))
    return entries
