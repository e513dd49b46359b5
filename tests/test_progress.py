"""The progress API: grades, statuses, hints, reveals, quiz cards, flags, the summary and
the `progress` / `list` commands that show it."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
import types
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attn_drill import progress
from attn_drill.cli import app
from attn_drill.problems import builtin_problems
from attn_drill.summary import ProblemRow, ProgressSummary, progress_summary
from tests.helpers import FakeDiagnosis, FakeReport, failed_report, passed_report

runner = CliRunner()


failed = failed_report
passed = passed_report


@pytest.fixture
def utc() -> Iterator[None]:
    """Local time = UTC, so "days" in streaks and flags do not depend on the machine."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def travel(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr(progress, "_now", lambda: moment)


def rows(sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(progress.database_path()) as conn:
        result = conn.execute(sql).fetchall()
    conn.close()
    return result


def summary_row(summary: ProgressSummary, problem: str, track: str) -> ProblemRow:
    wanted = (problem, track)
    return next(r for r in summary.problems if (r.progress.problem_id, r.progress.track) == wanted)


# -- the file ------------------------------------------------------------------------------


def test_database_lives_in_attn_drill_home(isolated_home: Path) -> None:
    progress.record_hint("softmax", 1)
    assert progress.database_path() == isolated_home / "progress.sqlite3"
    assert (isolated_home / "progress.sqlite3").is_file()
    assert rows("PRAGMA journal_mode") == [("wal",)]
    assert rows("SELECT version FROM schema_version") == [(progress.SCHEMA_VERSION,)]


# -- grades, statuses, flags ---------------------------------------------------------------


def test_record_grade_stores_every_field_and_flags_failures(utc: None) -> None:
    progress.record_grade(failed("unstable-softmax", "softmax-wrong-axis", "unstable-softmax"))
    (grade,) = rows("SELECT problem, track, passed, score, duration_s, problem_version FROM grades")
    assert grade == ("softmax", "numpy", 0, 0.5, 0.25, builtin_problems()["softmax"].version)
    assert sorted(rows("SELECT concept FROM grade_diagnoses")) == [
        ("softmax-wrong-axis",), ("unstable-softmax",)
    ]
    today = datetime.now(timezone.utc).date().isoformat()
    assert progress.flagged_concepts() == {
        "unstable-softmax": f"grade of softmax on {today} showed unstable-softmax",
        "softmax-wrong-axis": f"grade of softmax on {today} showed softmax-wrong-axis",
    }


def test_a_passing_grade_flags_nothing() -> None:
    report = passed()
    report.diagnosis = [FakeDiagnosis("rounded-output")]  # an advisory note on a pass
    progress.record_grade(report)
    assert progress.flagged_concepts() == {}
    assert rows("SELECT concept FROM grade_diagnoses") == [("rounded-output",)]


def test_clear_flag_only_clears_that_concept() -> None:
    progress.record_grade(failed("missing-scale", "inverted-mask"))
    progress.clear_flag("missing-scale")
    progress.clear_flag("never-flagged")
    assert list(progress.flagged_concepts()) == ["inverted-mask"]


def test_statuses_go_from_todo_to_attempted_to_passed() -> None:
    problems = list(builtin_problems().values())
    assert set(progress.problem_statuses(problems).values()) == {"todo"}
    progress.record_grade(failed())
    assert progress.problem_statuses(problems)["softmax"] == "attempted"
    progress.record_grade(passed())
    progress.record_grade(failed())  # a later failure does not undo the pass
    statuses = progress.problem_statuses(problems)
    assert statuses["softmax"] == "passed"
    assert {s for pid, s in statuses.items() if pid != "softmax"} == {"todo"}


def test_has_passed_by_track() -> None:
    assert not progress.has_passed("softmax")
    progress.record_grade(failed())
    assert not progress.has_passed("softmax")
    progress.record_grade(passed())
    assert progress.has_passed("softmax")
    assert progress.has_passed("softmax", "numpy")
    assert not progress.has_passed("softmax", "torch")
    assert not progress.has_passed("causal-attention")


def test_a_pass_before_the_yaml_changed_is_kept_but_marked() -> None:
    softmax = builtin_problems()["softmax"]
    progress.record_grade(passed(version="0123456789ab"))
    info = progress.problem_progress([softmax])["softmax"]
    assert info.status == "passed"
    assert info.changed_since_pass is True
    assert info.tracks["numpy"].changed_since_pass is True
    assert progress.problem_statuses([softmax]) == {"softmax": "passed"}
    progress.record_grade(passed())  # passed again on the current version
    again = progress.problem_progress([softmax])["softmax"]
    assert (again.status, again.changed_since_pass, again.attempts) == ("passed", False, 2)


def test_problem_progress_counts_attempts_and_best_score() -> None:
    softmax = builtin_problems()["softmax"]
    assert progress.problem_progress([softmax])["softmax"] == progress.ProblemProgress(
        problem_id="softmax", status="todo", attempts=0, best_score=None,
        changed_since_pass=False, tracks={},
    )
    for score in (0.25, 0.75, 0.5):
        progress.record_grade(failed(score=score))
    info = progress.problem_progress([softmax])["softmax"]
    assert (info.status, info.attempts, info.best_score) == ("attempted", 3, 0.75)


# -- hints and reveals -----------------------------------------------------------------------


def test_hint_level_is_the_highest_level_seen() -> None:
    assert progress.hint_level("softmax") == 0
    progress.record_hint("softmax", 1)
    progress.record_hint("softmax", 3)
    progress.record_hint("softmax", 2)
    assert progress.hint_level("softmax") == 3
    assert progress.hint_level("causal-attention") == 0
    assert rows("SELECT COUNT(*) FROM hints") == [(3,)]


def test_record_reveal_shows_in_the_summary() -> None:
    progress.record_reveal("softmax", "numpy")
    summary = progress_summary()
    assert summary_row(summary, "softmax", "numpy").progress.revealed is True
    assert rows("SELECT problem, track FROM reveals") == [("softmax", "numpy")]


# -- quiz cards and reviews --------------------------------------------------------------------


def test_cards_round_trip_and_come_due() -> None:
    import fsrs

    assert progress.load_card("q-sqrt") is None
    card = fsrs.Card()
    card_json = card.to_json()
    progress.record_review("q-sqrt", "scaling", card_json, 3, True, 4.5, "2030-01-02T00:00:00Z")
    progress.record_review("q-mask", "masking", "{}", 1, False, 2.0, "2030-01-01T00:00:00+00:00")
    assert progress.load_card("q-sqrt") == card_json
    assert fsrs.Card.from_json(progress.load_card("q-sqrt")).card_id == card.card_id
    assert progress.due_question_ids("2029-12-31T23:59:59+00:00") == []
    assert progress.due_question_ids("2030-01-01T00:00:00+00:00") == ["q-mask"]
    # Mixed spellings of UTC (naive, Z, +08:00) compare as times, not as text.
    assert progress.due_question_ids("2030-01-02T08:00:00+08:00") == ["q-mask", "q-sqrt"]
    assert progress.due_question_ids("2030-01-05T00:00:00") == ["q-mask", "q-sqrt"]
    # A new review replaces the card's state and due time but keeps every review.
    progress.record_review("q-mask", "masking", '{"v": 2}', 3, True, 1.0, "2031-01-01T00:00:00Z")
    assert progress.load_card("q-mask") == '{"v": 2}'
    assert progress.due_question_ids("2030-06-01T00:00:00Z") == ["q-sqrt"]
    assert rows("SELECT question_id, topic, rating, correct, duration_s FROM reviews") == [
        ("q-sqrt", "scaling", 3, 1, 4.5), ("q-mask", "masking", 1, 0, 2.0),
        ("q-mask", "masking", 3, 1, 1.0),
    ]


# -- the summary -----------------------------------------------------------------------------


def test_streak_counts_consecutive_active_days(utc: None, monkeypatch: pytest.MonkeyPatch) -> None:
    day1 = datetime(2030, 3, 10, 12, tzinfo=timezone.utc)
    travel(monkeypatch, day1 - timedelta(days=3))  # an older day, with a gap after it
    progress.record_hint("softmax", 1)
    for offset, act in enumerate(
        [lambda: progress.record_grade(failed()), lambda: progress.record_hint("softmax", 2),
         lambda: progress.record_review("q", "t", "{}", 3, True, 1.0, "2031-01-01T00:00:00Z")]
    ):
        travel(monkeypatch, day1 + timedelta(days=offset))
        act()
    summary = progress_summary()
    assert (summary.streak_days, summary.active_today) == (3, True)
    travel(monkeypatch, day1 + timedelta(days=3))  # nothing yet today: the streak still holds
    summary = progress_summary()
    assert (summary.streak_days, summary.active_today) == (3, False)
    assert summary.last_active == (day1 + timedelta(days=2)).date()
    travel(monkeypatch, day1 + timedelta(days=4))  # a whole day missed
    assert progress_summary().streak_days == 0


def test_weakest_concepts_come_from_recent_failures_and_flags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import attn_drill.summary

    monkeypatch.setattr(attn_drill.summary, "RECENT_FAILURES", 3)
    progress.record_grade(failed("missing-bias"))  # too old to count once 3 newer exist
    progress.clear_flag("missing-bias")
    progress.record_grade(failed("missing-scale", "inverted-mask"))
    progress.record_grade(failed("missing-scale"))
    progress.record_grade(passed())
    progress.record_grade(failed("missing-scale"))
    progress.clear_flag("inverted-mask")
    weak = {w.concept: w for w in progress_summary().weak_concepts}
    assert [w for w in weak] == ["missing-scale", "inverted-mask"]
    assert weak["missing-scale"].recent_failures == 3
    assert weak["missing-scale"].flagged_why is not None
    assert weak["inverted-mask"].recent_failures == 1
    assert weak["inverted-mask"].flagged_why is None
    assert "missing-bias" not in weak


def test_summary_counts_topics_reviews_and_due_cards(monkeypatch: pytest.MonkeyPatch) -> None:
    pack = builtin_problems()
    progress.record_grade(failed())
    progress.record_grade(passed())
    progress.record_grade(failed(problem="retired-problem"))  # no longer in the pack
    past = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    future = (datetime.now(timezone.utc) + timedelta(days=3)).isoformat()
    progress.record_review("q1", "softmax", "{}", 3, True, 1.0, past)
    progress.record_review("q1", "softmax", "{}", 1, False, 1.0, past)
    progress.record_review("q2", "softmax", "{}", 3, True, 1.0, future)
    summary = progress_summary()
    assert (summary.quiz.reviews, summary.quiz.correct, summary.quiz.cards, summary.quiz.due) == (
        3, 2, 2, 1
    )
    expected_tracks = sum(len(p.tracks) for p in pack.values())
    assert len(summary.problems) == expected_tracks + 1
    assert summary.solved == 1
    softmax = summary_row(summary, "softmax", "numpy").progress
    assert (softmax.status, softmax.attempts, softmax.best_score) == ("passed", 2, 1.0)
    retired = summary_row(summary, "retired-problem", "numpy")
    assert (retired.topic, retired.progress.status) == (None, "attempted")
    wanted = (pack["softmax"].topic, "numpy")
    topic = next(t for t in summary.topics if (t.topic, t.track) == wanted)
    assert topic.solved == 1 and topic.attempted >= 1
    assert topic.total == sum(
        1 for p in pack.values() if p.topic == topic.topic and "numpy" in p.tracks
    )


def test_contract_json_shape() -> None:
    progress.record_grade(failed("missing-scale"))
    progress.record_grade(failed())
    progress.record_review("q1", "softmax", "{}", 3, True, 1.0, "2000-01-01T00:00:00Z")
    document = progress_summary().to_contract_json()
    assert set(document) == {"problems", "quiz"}
    assert {"reviews", "due"} <= set(document["quiz"])
    assert (document["quiz"]["reviews"], document["quiz"]["due"]) == (1, 1)
    for item in document["problems"]:
        assert {"id", "track", "status", "attempts", "best_score"} <= set(item)
        assert item["status"] in ("todo", "attempted", "passed")
    softmax = next(i for i in document["problems"] if (i["id"], i["track"]) == ("softmax", "numpy"))
    assert (softmax["attempts"], softmax["best_score"], softmax["status"]) == (2, 0.5, "attempted")
    json.dumps(document)  # plain JSON types only


# -- through the CLI ---------------------------------------------------------------------------


def test_progress_json_through_the_cli() -> None:
    progress.record_grade(passed())
    result = runner.invoke(app, ["progress", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == {"problems", "quiz"}
    softmax = next(i for i in document["problems"] if i["id"] == "softmax")
    assert (softmax["status"], softmax["attempts"], softmax["best_score"]) == ("passed", 1, 1.0)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_progress_view_fits_80_columns_without_colour(
    lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    progress.record_grade(passed(version="0123456789ab"))
    progress.record_grade(failed("missing-scale", "softmax-wrong-axis", problem="softmax"))
    progress.record_hint("softmax", 2)
    result = runner.invoke(app, ["progress", "--lang", lang])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "\x1b[" not in result.stdout
    assert "softmax-wrong-axis" in result.stdout
    if lang == "en":
        assert "passed*" in result.stdout and "Streak: 1 day in a row" in result.stdout
        assert "Weak spots" in result.stdout
    else:
        assert "已通过*" in result.stdout and "连续学习：1 天" in result.stdout
        assert "薄弱环节" in result.stdout


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_progress_counts_quiz_questions_waiting_on_a_flag(
    lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from attn_drill.quiz.bank import builtin_bank

    on_concept = [e for e in builtin_bank().entries if "missing-scale" in e.question.concepts]
    assert on_concept, "the quiz bank has questions on missing-scale"
    progress.record_grade(failed("missing-scale", problem="scaled-dot-product-attention"))
    result = runner.invoke(app, ["progress", "--json"])
    assert result.exit_code == 0, result.output
    quiz = json.loads(result.stdout)["quiz"]
    assert quiz["due"] == 0  # still the cards due: a flag is not a due card
    assert quiz["flagged_questions"] == len(on_concept)
    (concept,) = quiz["flagged_concepts"]
    assert (concept["concept"], concept["problem"], concept["questions"]) == (
        "missing-scale", "scaled-dot-product-attention", len(on_concept))
    # A question already due is counted once, as due, not again as flagged.
    progress.record_review(on_concept[0].question.id, on_concept[0].topic, "{}", 1, False,
                           1.0, "2000-01-01T00:00:00Z")
    summary = progress_summary()
    assert (summary.quiz.due, summary.quiz.flagged_questions) == (1, len(on_concept) - 1)

    monkeypatch.setenv("COLUMNS", "200")
    shown = runner.invoke(app, ["progress", "--lang", lang]).stdout
    n = len(on_concept) - 1
    if lang == "en":
        assert (f"{n} questions waiting because the grade of scaled-dot-product-attention "
                "showed missing-scale — run attn-drill quiz") in shown
    else:
        assert (f"有 {n} 道测验题在等你：scaled-dot-product-attention 的评测发现了 "
                "missing-scale——运行 attn-drill quiz") in shown


def _ids_whole(output: str, ids: list[str]) -> None:
    """Every id appears unbroken on one line of a listing (the learner types it)."""
    import re

    for problem_id in ids:
        pattern = re.compile(rf"(?<![\w-]){re.escape(problem_id)}(?![\w-])")
        assert any(pattern.search(line) for line in output.splitlines()), (problem_id, output)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("with_pass", [False, True])
def test_list_at_80_columns_never_splits_an_id(
    lang: str, with_pass: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    if with_pass:  # a pass from an older YAML version: status "passed*", the widest
        progress.record_grade(passed("scaled-dot-product-attention", version="old"))
        progress.record_grade(passed("self-attention-module", track="torch", version="old"))
    result = runner.invoke(app, ["list", "--lang", lang])
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    ids = list(builtin_problems())
    _ids_whole(result.stdout, ids)
    if lang == "zh":
        assert "简单" in result.stdout and "未开始" in result.stdout
        assert "medium" not in result.stdout and "todo" not in result.stdout
        if with_pass:
            assert "已通过*" in result.stdout
    elif with_pass:
        assert "passed*" in result.stdout
    # JSON values stay the English ids whatever the language.
    rows = json.loads(runner.invoke(app, ["list", "--lang", lang, "--json"]).stdout)
    assert {row["difficulty"] for row in rows} <= {"easy", "medium", "hard"}
    assert {row["status"] for row in rows} <= {"todo", "attempted", "passed"}


def test_list_piped_through_a_real_process_keeps_ids_whole() -> None:
    import subprocess

    progress.record_grade(passed("scaled-dot-product-attention", version="old"))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    for lang in ("en", "zh"):
        result = subprocess.run([sys.executable, "-m", "attn_drill", "list", "--lang", lang],
                                capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, result.stderr
        assert max(len(line) for line in result.stdout.splitlines()) <= 80
        _ids_whole(result.stdout, list(builtin_problems()))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_list_with_no_match_prints_a_friendly_line(lang: str) -> None:
    result = runner.invoke(app, ["list", "--status", "passed", "--lang", lang])
    assert result.exit_code == 0, result.output
    expected = "No passed problems yet" if lang == "en" else "还没有通过的题目"
    assert expected in result.stdout and "attn-drill practice" in result.stdout
    assert "─" not in result.stdout  # no empty table drawn


def test_progress_view_of_an_empty_store() -> None:
    result = runner.invoke(app, ["progress", "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "No progress yet" in result.stdout
    assert "attn-drill practice" in result.stdout


def test_list_shows_and_filters_progress() -> None:
    progress.record_grade(passed(version="0123456789ab"))
    listed = runner.invoke(app, ["list", "--json"])
    assert listed.exit_code == 0, listed.output
    softmax = next(r for r in json.loads(listed.stdout) if r["id"] == "softmax")
    assert (softmax["status"], softmax["changed_since_pass"]) == ("passed", True)
    only_passed = json.loads(runner.invoke(app, ["list", "--status", "passed", "--json"]).stdout)
    assert [r["id"] for r in only_passed] == ["softmax"]
    table = runner.invoke(app, ["list"])
    assert "passed*" in table.stdout and "grade it again" in table.stdout
    progress.record_grade(passed())
    table = runner.invoke(app, ["list"])
    assert "passed*" not in table.stdout and "passed" in table.stdout


def _install_fake_grader(monkeypatch: pytest.MonkeyPatch, report: FakeReport) -> None:
    """grade_file returning `report`, whether or not the real grader is importable yet."""

    def to_dict(self: FakeReport) -> dict[str, object]:
        return {"problem": self.problem, "passed": self.passed}

    monkeypatch.setattr(FakeReport, "to_dict", to_dict, raising=False)
    try:
        import attn_drill.grading.grade as module
    except ImportError:
        module = types.ModuleType("attn_drill.grading.grade")
        monkeypatch.setitem(sys.modules, "attn_drill.grading.grade", module)
    monkeypatch.setattr(module, "grade_file", lambda *a, **k: report, raising=False)


def test_grade_no_record_leaves_progress_untouched(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _install_fake_grader(monkeypatch, failed("missing-scale"))
    source = tmp_path / "softmax.py"
    source.write_text("# attn-drill: softmax\n")
    skipped = runner.invoke(app, ["grade", str(source), "--no-record", "--json"])
    assert skipped.exit_code == 1, skipped.output
    assert not progress.database_path().exists()
    recorded = runner.invoke(app, ["grade", str(source), "--json"])
    assert recorded.exit_code == 1, recorded.output
    assert rows("SELECT problem, passed FROM grades") == [("softmax", 0)]
    assert list(progress.flagged_concepts()) == ["missing-scale"]


def test_real_grades_are_recorded_unless_no_record(tmp_path: Path) -> None:
    """End to end with the real grader: a naive softmax fails as unstable-softmax."""
    pytest.importorskip("attn_drill.grading.grade")
    source = tmp_path / "softmax.py"
    source.write_text(
        "# attn-drill: softmax\nimport numpy as np\n\n\ndef softmax(x, axis=-1):\n"
        "    e = np.exp(x)\n    return e / e.sum(axis=axis, keepdims=True)\n"
    )
    skipped = runner.invoke(app, ["grade", str(source), "--no-record", "--json"])
    assert skipped.exit_code == 1, skipped.output
    assert not progress.database_path().exists()
    recorded = runner.invoke(app, ["grade", str(source), "--json"])
    assert recorded.exit_code == 1, recorded.output
    report = json.loads(recorded.stdout)
    diagnosed = {d["id"] for d in report["diagnosis"]}
    assert rows("SELECT problem, track, passed, score, problem_version FROM grades") == [
        ("softmax", "numpy", 0, report["score"], builtin_problems()["softmax"].version)
    ]
    assert set(progress.flagged_concepts()) == diagnosed
    assert "unstable-softmax" in diagnosed


def test_list_gives_the_status_of_each_track(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass on numpy is not a pass on torch: `track_status` keeps them apart, `status` is
    the best of them (what --status filters on), and the table shows one line per track."""
    monkeypatch.setenv("COLUMNS", "80")
    progress.record_grade(passed("scaled-dot-product-attention", track="numpy"))
    progress.record_grade(failed(problem="causal-attention"))
    rows = {row["id"]: row for row in json.loads(runner.invoke(app, ["list", "--json"]).stdout)}
    sdpa = rows["scaled-dot-product-attention"]
    assert sdpa["status"] == "passed"
    assert sdpa["track_status"] == {"numpy": "passed", "torch": "todo"}
    assert rows["causal-attention"]["track_status"] == {"numpy": "attempted", "torch": "todo"}
    assert rows["softmax"]["track_status"] == {"numpy": "todo"}
    for lang, words in (("en", ("passed", "todo")), ("zh", ("已通过", "未开始"))):
        table = runner.invoke(app, ["list", "--lang", lang]).stdout
        lines = table.splitlines()
        at = next(i for i, line in enumerate(lines) if "scaled-dot-product-attention" in line)
        assert lines[at].rstrip().endswith(f"numpy  {words[0]}"), lines[at]
        assert lines[at + 1].rstrip().endswith(f"torch  {words[1]}"), lines[at + 1]
        assert all(line == line.rstrip() for line in lines)  # no padding when piped
