"""The progress file under stress: migrations, damaged and newer files, concurrent writers,
and writers killed mid-transaction."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attn_drill import progress
from attn_drill.cli import app
from attn_drill.errors import StoreError, UsageError
from attn_drill.summary import progress_summary
from tests.conftest import REPO, run_cli
from tests.helpers import failed_report

runner = CliRunner()


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".corrupt-*"))


# -- migrations ------------------------------------------------------------------------------


def make_version_1_database(path: Path) -> None:
    """A file exactly as attn-drill with schema 1 left it, with some history in it."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        progress.MIGRATIONS[0](conn)
        conn.execute("UPDATE schema_version SET version = 1")
        conn.executemany(
            "INSERT INTO grades (id, problem, track, passed, score, diagnosis, duration_s, "
            "graded_at, problem_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (7, "softmax", "numpy", 0, 0.25, '["unstable-softmax", "softmax-wrong-axis"]',
                 0.5, "2030-01-01T10:00:00.000000+00:00", "aaaaaaaaaaaa"),
                (9, "softmax", "numpy", 1, 1.0, "[]", 0.4, "2030-01-02T10:00:00.000000+00:00",
                 "aaaaaaaaaaaa"),
                (12, "causal-attention", "torch", 0, 0.5, "not json", 0.3,
                 "2030-01-03T10:00:00.000000+00:00", "bbbbbbbbbbbb"),
            ],
        )
        conn.execute("INSERT INTO hints (problem, level, used_at) VALUES ('softmax', 2, "
                     "'2030-01-01T09:00:00.000000+00:00')")
        conn.execute("INSERT INTO reveals (problem, track, revealed_at) VALUES ('softmax', "
                     "'numpy', '2030-01-02T11:00:00.000000+00:00')")
        conn.execute("INSERT INTO reviews (question_id, topic, rating, correct, duration_s, "
                     "reviewed_at) VALUES ('q1', 'scaling', 3, 1, 2.5, "
                     "'2030-01-02T12:00:00.000000+00:00')")
        conn.execute("INSERT INTO cards (question_id, card_json, due) VALUES ('q1', "
                     "'{\"card_id\": 1}', '2030-01-05T12:00:00.000000+00:00')")
        conn.execute("INSERT INTO flags (concept, why, problem, flagged_at) VALUES "
                     "('unstable-softmax', 'grade of softmax on 2030-01-01 showed "
                     "unstable-softmax', 'softmax', '2030-01-01T10:00:00.000000+00:00')")
        conn.execute("COMMIT")
    finally:
        conn.close()


def test_a_version_1_database_migrates_without_loss() -> None:
    path = progress.database_path()
    make_version_1_database(path)

    assert progress.hint_level("softmax") == 2  # any call upgrades the file first

    assert query(path, "SELECT version FROM schema_version") == [(progress.SCHEMA_VERSION,)]
    assert query(path, "PRAGMA integrity_check") == [("ok",)]
    assert query(
        path, "SELECT id, problem, track, passed, score, duration_s, graded_at, problem_version "
        "FROM grades ORDER BY id"
    ) == [
        (7, "softmax", "numpy", 0, 0.25, 0.5, "2030-01-01T10:00:00.000000+00:00", "aaaaaaaaaaaa"),
        (9, "softmax", "numpy", 1, 1.0, 0.4, "2030-01-02T10:00:00.000000+00:00", "aaaaaaaaaaaa"),
        (12, "causal-attention", "torch", 0, 0.5, 0.3, "2030-01-03T10:00:00.000000+00:00",
         "bbbbbbbbbbbb"),
    ]
    assert "diagnosis" not in {row[1] for row in query(path, "PRAGMA table_info(grades)")}
    assert sorted(query(path, "SELECT grade_id, concept FROM grade_diagnoses")) == [
        (7, "softmax-wrong-axis"), (7, "unstable-softmax"),
    ]
    assert progress.has_passed("softmax", "numpy")
    assert progress.load_card("q1") == '{"card_id": 1}'
    assert progress.due_question_ids("2030-01-06T00:00:00Z") == ["q1"]
    assert progress.flagged_concepts() == {
        "unstable-softmax": "grade of softmax on 2030-01-01 showed unstable-softmax"
    }
    summary = progress_summary()
    assert summary.quiz.reviews == 1
    weak = {w.concept: w.recent_failures for w in summary.weak_concepts}
    assert weak == {"unstable-softmax": 1, "softmax-wrong-axis": 1}
    softmax = next(r for r in summary.problems if r.progress.problem_id == "softmax")
    assert (softmax.progress.attempts, softmax.progress.revealed) == (2, True)

    # New records land next to the old ones.
    progress.record_hint("softmax", 3)
    assert query(path, "SELECT COUNT(*) FROM hints") == [(2,)]


def test_migrations_run_once_and_resume_from_the_stored_version() -> None:
    path = progress.database_path()
    progress.record_hint("softmax", 1)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert progress.apply_migrations(conn) == progress.SCHEMA_VERSION  # nothing to do
    finally:
        conn.close()
    assert query(path, "SELECT COUNT(*) FROM hints") == [(1,)]


def test_a_failed_migration_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    path = progress.database_path()
    make_version_1_database(path)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(progress, "MIGRATIONS", (progress.MIGRATIONS[0], broken))
    with pytest.raises(StoreError):
        progress.hint_level("softmax")
    assert query(path, "SELECT version FROM schema_version") == [(1,)]
    tables = {row[0] for row in query(path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert "half_done" not in tables and "grade_diagnoses" not in tables
    assert query(path, "SELECT COUNT(*) FROM grades") == [(3,)]


# -- newer, damaged and busy files --------------------------------------------------------------


def test_a_database_from_a_newer_attn_drill_is_left_alone() -> None:
    path = progress.database_path()
    progress.record_hint("softmax", 1)
    newer = progress.SCHEMA_VERSION + 1
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE schema_version SET version = ?", (newer,))
    conn.close()
    before = path.read_bytes()

    with pytest.raises(progress.NewerStoreError) as caught:
        progress.record_grade(_Report())
    assert str(path) in caught.value.message and "newer attn-drill" in caught.value.message

    for args in (["progress"], ["progress", "--reset-corrupt"], ["list"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "newer attn-drill" in result.output and "Traceback" not in result.output
    assert path.read_bytes() == before
    assert backups(path) == []
    assert query(path, "SELECT version FROM schema_version") == [(newer,)]


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is my shopping list, not a database\n" * 100)


def _truncated(path: Path) -> None:
    progress.record_grade(_Report())
    for _ in range(30):
        progress.record_review("q", "t", "{}" * 200, 3, True, 1.0, "2030-01-01T00:00:00Z")
    size = path.stat().st_size
    assert not Path(f"{path}-wal").exists()  # everything is in the main file
    with path.open("r+b") as handle:
        handle.truncate(size // 2)


def _foreign(path: Path) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE recipes (name TEXT, minutes INTEGER)")
        conn.execute("INSERT INTO recipes VALUES ('dumplings', 40)")
    conn.close()


def _missing_table(path: Path) -> None:
    progress.record_hint("softmax", 1)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DROP TABLE cards")
    conn.close()


_Report = failed_report


@pytest.mark.parametrize(
    "damage", [_garbage, _truncated, _foreign, _missing_table],
    ids=["not-sqlite", "truncated", "foreign-schema", "missing-table"],
)
def test_a_damaged_database_is_kept_until_the_learner_agrees(
    damage: Callable[[Path], None],
) -> None:
    path = progress.database_path()
    damage(path)
    damaged = path.read_bytes()

    result = runner.invoke(app, ["progress"])
    assert result.exit_code == 2, result.output
    assert str(path) in result.output.replace("\n", "")
    assert "--reset-corrupt" in result.output
    assert "Traceback" not in result.output
    assert path.read_bytes() == damaged and backups(path) == []

    listed = runner.invoke(app, ["list"])  # other commands say the same, and change nothing
    assert listed.exit_code == 2 and "--reset-corrupt" in listed.output
    assert path.read_bytes() == damaged

    reset = runner.invoke(app, ["progress", "--reset-corrupt"])
    assert reset.exit_code == 0, reset.output
    (backup,) = backups(path)
    assert backup.read_bytes() == damaged
    assert "kept as" in reset.output
    assert query(path, "PRAGMA integrity_check") == [("ok",)]
    progress.record_hint("softmax", 2)
    assert progress.hint_level("softmax") == 2
    again = runner.invoke(app, ["progress", "--reset-corrupt"])  # a healthy file stays
    assert again.exit_code == 0 and backups(path) == [backup]
    assert progress.hint_level("softmax") == 2


def test_reset_json_is_still_one_document() -> None:
    path = progress.database_path()
    _garbage(path)
    result = runner.invoke(app, ["progress", "--json", "--reset-corrupt"])
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)) == {"problems", "quiz"}
    assert len(backups(path)) == 1


def test_a_locked_database_says_busy_not_corrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    path = progress.database_path()
    progress.record_hint("softmax", 1)
    monkeypatch.setattr(progress, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(progress.BusyStoreError) as caught:
            progress.record_hint("softmax", 2)
        assert "busy" in caught.value.message and "--reset-corrupt" not in caught.value.message
        assert progress.hint_level("softmax") == 1  # readers are not blocked by a writer (WAL)
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    progress.record_hint("softmax", 2)
    assert progress.hint_level("softmax") == 2


# -- real processes -----------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from types import SimpleNamespace as N
    from attn_drill.progress import record_grade, record_review

    worker, count, go = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    deadline = time.monotonic() + 30
    while not go.exists():  # start together, so the writes really overlap
        if time.monotonic() > deadline:
            sys.exit(3)
        time.sleep(0.002)
    for i in range(count):
        record_grade(N(problem=f"w{worker}", track="numpy", passed=i % 2 == 0, score=i / count,
                       duration_s=0.01, problem_version="v",
                       diagnosis=[N(id=f"c{worker}-{i}")]))
        record_review(f"q{worker}-{i}", "t", "{}", 3, True, 0.5, "2030-01-01T00:00:00Z")
    """
)


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    workers, count = 3, 50
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(w), str(count), str(go)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for w in range(workers)
    ]
    time.sleep(0.3)  # let them import; the database does not exist yet, so they race to create it
    go.touch()
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=90)
            assert proc.returncode == 0, err[-2000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    path = progress.database_path()
    per_worker = dict(query(path, "SELECT problem, COUNT(*) FROM grades GROUP BY problem"))
    assert per_worker == {f"w{w}": count for w in range(workers)}
    assert query(path, "SELECT COUNT(DISTINCT concept) FROM grade_diagnoses") == [
        (workers * count,)
    ]
    assert query(path, "SELECT COUNT(*) FROM reviews") == [(workers * count,)]
    assert query(path, "SELECT COUNT(*) FROM cards") == [(workers * count,)]
    assert query(path, "SELECT version FROM schema_version") == [(progress.SCHEMA_VERSION,)]


KILLED_WRITER = textwrap.dedent(
    """
    from types import SimpleNamespace as N
    from attn_drill.progress import record_grade

    report = N(problem="softmax", track="numpy", passed=False, score=0.5, duration_s=0.01,
               problem_version="v", diagnosis=[N(id="a"), N(id="b"), N(id="c")])
    while True:
        record_grade(report)
    """
)


def test_a_writer_killed_mid_transaction_leaves_whole_records(tmp_path: Path) -> None:
    path = progress.database_path()
    progress.record_hint("softmax", 1)  # the file exists, so the count below can poll it
    seen = 0
    for round_number in range(3):
        proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER], cwd=REPO,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while query(path, "SELECT COUNT(*) FROM grades")[0][0] < seen + 20:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the writer made no progress"
                time.sleep(0.01)
            time.sleep(0.003 * round_number)  # land at a different point of a transaction
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
            if proc.stderr:
                proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        assert query(path, "PRAGMA integrity_check") == [("ok",)]
        grades = query(path, "SELECT COUNT(*) FROM grades")[0][0]
        assert grades >= seen + 20
        # Whole transactions only: every grade has its three diagnoses, and nothing else.
        assert query(
            path, "SELECT COUNT(*) FROM grades WHERE (SELECT COUNT(*) FROM grade_diagnoses "
            "WHERE grade_id = grades.id) != 3"
        ) == [(0,)]
        assert query(path, "SELECT COUNT(*) FROM grade_diagnoses") == [(3 * grades,)]
        seen = grades
    progress.record_hint("softmax", 2)  # still writable afterwards
    assert progress_summary().weak_concepts[0].recent_failures > 0


def test_a_path_that_cannot_be_opened_is_not_called_corrupt() -> None:
    path = progress.database_path()
    path.mkdir()  # a folder where the file should be
    result = runner.invoke(app, ["progress", "--reset-corrupt"])
    assert result.exit_code == 2, result.output
    assert "Cannot use the progress database" in result.output
    assert "--reset-corrupt" not in result.output
    assert path.is_dir() and backups(path) == []


def test_a_data_home_that_is_a_file_gives_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("ATTN_DRILL_HOME", str(blocker))
    with pytest.raises(UsageError, match="ATTN_DRILL_HOME"):
        progress.record_hint("softmax", 1)
    assert blocker.read_text() == "x"
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 2 and "ATTN_DRILL_HOME" in result.output


def test_progress_as_a_real_process_on_a_damaged_file() -> None:
    path = progress.database_path()
    _garbage(path)
    refused = run_cli("progress", "--json", timeout=60)
    assert refused.returncode == 2
    # --json: one document on stdout even now, the error document
    assert json.loads(refused.stdout)["error"]["exit_code"] == 2
    assert str(path) in refused.stderr.replace("\n", "") and "--reset-corrupt" in refused.stderr
    reset = run_cli("progress", "--reset-corrupt", env={"COLUMNS": "80"}, timeout=60)
    assert reset.returncode == 0, reset.stderr
    assert len(backups(path)) == 1 and "kept as" in reset.stdout



def test_a_new_database_locked_by_another_writer_is_waited_for(tmp_path: Path) -> None:
    """Switching a new file to WAL does not wait on the busy timeout: while another process
    holds a write lock on the file (it is creating it too) the switch fails at once with
    "database is locked". The store must wait, as for any other lock, not report it busy."""
    import threading

    path = progress.database_path()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # the other writer's lock, released half a second later
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    try:
        progress.record_hint("softmax", 1)
    finally:
        release.join()
        other.close()
    assert progress.hint_level("softmax") == 1


def test_a_store_is_its_own_file(tmp_path: Path) -> None:
    """Store(path) works on that file only; the module functions are the default Store."""
    from attn_drill.progress import Store
    from attn_drill.summary import progress_summary

    class_a, class_b = Store(tmp_path / "a.sqlite3"), Store(tmp_path / "b.sqlite3")
    class_a.record_grade(failed_report("missing-scale"))
    class_a.record_hint("softmax", 2)
    assert class_a.flagged_concepts() and not class_b.flagged_concepts()
    assert (class_a.hint_level("softmax"), class_b.hint_level("softmax")) == (2, 0)
    assert not progress.database_path().exists()
    assert progress_summary(store=class_a).database == tmp_path / "a.sqlite3"
    progress.record_hint("softmax", 1)
    assert progress.Store().path == progress.database_path()
    assert progress.Store().hint_level("softmax") == 1 and class_b.hint_level("softmax") == 0
