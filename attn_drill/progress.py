"""The learner's progress: one SQLite file in the data home (see settings.data_home()).

`Store(path)` is that file as an object (one method per record or query, each one short
transaction); the module-level functions are the same methods on the default file. The summary
behind `attn-drill progress` lives in attn_drill.summary, which joins the store and the quiz
bank (so this module never imports the quiz).

What is kept: every grade (problem, track, passed, score, diagnosis ids, duration, time, the
problem's YAML version), hint levels used, solutions revealed, quiz reviews, the quiz's card
states (fsrs Card JSON + due time) and flagged concepts (misconceptions a failed grade showed,
until a quiz answer on them is right).

How it stays safe:
- WAL journal, `busy_timeout` and `BEGIN IMMEDIATE`: two attn-drill processes writing at once
  wait for each other instead of failing, and readers never block writers.
- Every write is one short transaction, so a process killed mid-write leaves either the whole
  record or none of it.
- A `schema_version` table and forward migrations (`MIGRATIONS`): an older file is upgraded in
  place inside one transaction; a file from a newer attn-drill is left untouched.
- A damaged file (not SQLite, truncated, someone else's schema) is never changed or deleted
  without consent: the error names the file and `attn-drill progress --reset-corrupt`, which
  moves it aside as `<name>.corrupt-<time>` and starts a fresh one.

Only the stdlib is imported at module level, so `attn-drill list` stays fast. Times are stored
as fixed-width UTC ISO-8601 text, so text order is time order.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from attn_drill.errors import StoreError

if TYPE_CHECKING:
    from attn_drill.problems import Problem

DATABASE_NAME = "progress.sqlite3"
BUSY_TIMEOUT_S = 15.0


# -- errors ------------------------------------------------------------------------------


class CorruptStoreError(StoreError):
    """The file is not a usable attn-drill database; `--reset-corrupt` may move it aside."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"The progress database {path} is damaged or is not an attn-drill database "
            f"({reason}). Nothing was changed. To keep a copy of it and start a fresh one, "
            "run: attn-drill progress --reset-corrupt"
        )
        self.path = path
        self.reason = reason


class NewerStoreError(StoreError):
    """The file was written by a newer attn-drill: we must not touch it."""

    def __init__(self, path: Path, found: int) -> None:
        super().__init__(
            f"The progress database {path} was written by a newer attn-drill (schema version "
            f"{found}; this version understands up to {SCHEMA_VERSION}). Nothing was changed. "
            "Upgrade attn-drill (pip install -U attn-drill) to use it."
        )
        self.path = path
        self.found = found


class UnreadableStoreError(StoreError):
    """The file cannot be opened or written at all (permissions, a folder in its place):
    moving it aside would not help, so no reset is offered."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"Cannot use the progress database {path} ({reason}). Check that it is a file you "
            "can read and write, in a folder you can write to (set ATTN_DRILL_HOME to use "
            "another folder)."
        )
        self.path = path


class BusyStoreError(StoreError):
    def __init__(self, path: Path) -> None:
        super().__init__(
            f"The progress database {path} is busy: another attn-drill process kept it locked "
            f"for more than {BUSY_TIMEOUT_S:g} s. Nothing was recorded; try again."
        )
        self.path = path


# -- time --------------------------------------------------------------------------------


def _now() -> datetime:
    """The current time (tests replace this to travel through days)."""
    return datetime.now(timezone.utc)


def _utc_text(moment: datetime | str) -> str:
    """Fixed-width UTC text (microseconds always present) so SQL text order is time order."""
    if isinstance(moment, str):
        text = moment.strip()
        if text.endswith(("Z", "z")):  # Python 3.10's fromisoformat does not read "Z"
            text = text[:-1] + "+00:00"
        moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:  # naive times are UTC by convention (fsrs uses UTC)
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _local_date(stored: str) -> date:
    return datetime.fromisoformat(stored).astimezone().date()


# -- schema and migrations ----------------------------------------------------------------


def _execute_script(conn: sqlite3.Connection, script: str) -> None:
    """Run statements one by one: `executescript` would COMMIT the migration's transaction
    first, and a migration must be all-or-nothing."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {statement.strip()[:60]}")


def _migration_1(conn: sqlite3.Connection) -> None:
    """The initial schema (attn-drill 0.1 before the diagnosis table)."""
    _execute_script(
        conn,
        """
        CREATE TABLE schema_version (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            version INTEGER NOT NULL
        );
        INSERT INTO schema_version (id, version) VALUES (1, 0);
        CREATE TABLE grades (
            id INTEGER PRIMARY KEY,
            problem TEXT NOT NULL,
            track TEXT NOT NULL,
            passed INTEGER NOT NULL,
            score REAL NOT NULL,
            diagnosis TEXT NOT NULL DEFAULT '[]',  -- JSON list of misconception ids
            duration_s REAL NOT NULL,
            graded_at TEXT NOT NULL,
            problem_version TEXT NOT NULL
        );
        CREATE TABLE hints (
            id INTEGER PRIMARY KEY,
            problem TEXT NOT NULL,
            level INTEGER NOT NULL,
            used_at TEXT NOT NULL
        );
        CREATE TABLE reveals (
            id INTEGER PRIMARY KEY,
            problem TEXT NOT NULL,
            track TEXT NOT NULL,
            revealed_at TEXT NOT NULL
        );
        CREATE TABLE reviews (
            id INTEGER PRIMARY KEY,
            question_id TEXT NOT NULL,
            topic TEXT NOT NULL,
            rating INTEGER NOT NULL,
            correct INTEGER NOT NULL,
            duration_s REAL NOT NULL,
            reviewed_at TEXT NOT NULL
        );
        CREATE TABLE cards (
            question_id TEXT PRIMARY KEY,
            card_json TEXT NOT NULL,
            due TEXT NOT NULL
        );
        CREATE TABLE flags (
            concept TEXT PRIMARY KEY,
            why TEXT NOT NULL,
            problem TEXT,
            flagged_at TEXT NOT NULL
        );
        """
    )


def _migration_2(conn: sqlite3.Connection) -> None:
    """Diagnosis ids move from a JSON column to their own indexed table.

    "Weakest concepts" counts ids over recent failures; a table makes that one SQL query and
    keeps ids queryable without JSON parsing. Existing grades keep their ids and row ids.
    SQLite cannot drop a column everywhere we run, so `grades` is rebuilt the portable way.
    """
    _execute_script(
        conn,
        """
        CREATE TABLE grade_diagnoses (
            grade_id INTEGER NOT NULL,
            concept TEXT NOT NULL,
            PRIMARY KEY (grade_id, concept)
        );
        CREATE INDEX grade_diagnoses_by_concept ON grade_diagnoses (concept);
        """
    )
    rows = conn.execute("SELECT id, diagnosis FROM grades").fetchall()
    pairs: list[tuple[int, str]] = []
    for grade_id, diagnosis in rows:
        try:
            ids = json.loads(diagnosis or "[]")
        except ValueError:
            ids = []
        if isinstance(ids, list):
            pairs.extend((grade_id, str(concept)) for concept in ids if concept)
    conn.executemany(
        "INSERT OR IGNORE INTO grade_diagnoses (grade_id, concept) VALUES (?, ?)", pairs
    )
    _execute_script(
        conn,
        """
        CREATE TABLE grades_new (
            id INTEGER PRIMARY KEY,
            problem TEXT NOT NULL,
            track TEXT NOT NULL,
            passed INTEGER NOT NULL,
            score REAL NOT NULL,
            duration_s REAL NOT NULL,
            graded_at TEXT NOT NULL,
            problem_version TEXT NOT NULL
        );
        INSERT INTO grades_new (id, problem, track, passed, score, duration_s, graded_at,
                                problem_version)
            SELECT id, problem, track, passed, score, duration_s, graded_at, problem_version
            FROM grades;
        DROP TABLE grades;
        ALTER TABLE grades_new RENAME TO grades;
        CREATE INDEX grades_by_problem ON grades (problem, track);
        CREATE INDEX cards_by_due ON cards (due);
        """
    )


# Forward migrations, in order: MIGRATIONS[n - 1] turns schema n - 1 into schema n. Never edit
# a released one (old files were made by it); add a new one instead.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_migration_1, _migration_2)
SCHEMA_VERSION = len(MIGRATIONS)

# What the current schema must contain (checked on every open, so a foreign or damaged
# schema is reported instead of failing later with "no such column").
EXPECTED_COLUMNS: dict[str, set[str]] = {
    "schema_version": {"id", "version"},
    "grades": {"id", "problem", "track", "passed", "score", "duration_s", "graded_at",
               "problem_version"},
    "grade_diagnoses": {"grade_id", "concept"},
    "hints": {"id", "problem", "level", "used_at"},
    "reveals": {"id", "problem", "track", "revealed_at"},
    "reviews": {"id", "question_id", "topic", "rating", "correct", "duration_s", "reviewed_at"},
    "cards": {"question_id", "card_json", "due"},
    "flags": {"concept", "why", "problem", "flagged_at"},
}


def _stored_version(conn: sqlite3.Connection) -> int | None:
    """The schema version in the file; None for an empty file; raises for a foreign one."""
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "schema_version" not in names:
        if names:
            raise _Damaged("it has no schema_version table")
        return None
    row = conn.execute("SELECT version FROM schema_version WHERE id = 1").fetchone()
    if row is None or not isinstance(row[0], int) or row[0] < 0:
        raise _Damaged("its schema_version table has no valid version")
    return int(row[0])


def apply_migrations(conn: sqlite3.Connection, *, target: int = SCHEMA_VERSION) -> int:
    """Bring the file up to `target` inside one write transaction; returns the version found
    (greater than `target` means a newer attn-drill wrote it, and nothing was changed).

    The caller holds no transaction. Re-reading the version under the write lock makes two
    processes opening a fresh or old file at once migrate it exactly once.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = _stored_version(conn) or 0
        for number in range(before + 1, target + 1):
            MIGRATIONS[number - 1](conn)
            conn.execute("UPDATE schema_version SET version = ? WHERE id = 1", (number,))
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    return before


def _check_schema(conn: sqlite3.Connection) -> None:
    found: dict[str, set[str]] = {}
    for table, column in conn.execute(
        "SELECT m.name, p.name FROM sqlite_master AS m, pragma_table_info(m.name) AS p "
        "WHERE m.type = 'table'"
    ):
        found.setdefault(table, set()).add(column)
    for table, columns in EXPECTED_COLUMNS.items():
        missing = columns - found.get(table, set())
        if missing:
            what = f"table {table}" if table not in found else f"{table}.{sorted(missing)[0]}"
            raise _Damaged(f"{what} is missing")


# -- connections -------------------------------------------------------------------------


class _Damaged(Exception):
    """Internal: the open file is not a usable attn-drill database (reason in args[0])."""


def database_path() -> Path:
    """Where the progress database lives (inside ATTN_DRILL_HOME when that is set)."""
    from attn_drill.settings import data_home

    return data_home() / DATABASE_NAME


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # the original error is the one worth reporting


def _open(path: Path) -> sqlite3.Connection:
    """A connection to an up-to-date, schema-checked database (created if missing)."""
    # timeout= is SQLite's busy_timeout: a locked file makes us wait, not fail.
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so every transaction is explicit.
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        version = _stored_version(conn)
        if version is not None and version > SCHEMA_VERSION:
            raise NewerStoreError(path, version)
        if version != SCHEMA_VERSION:
            # WAL is a property of the file: set it once, when creating or upgrading, and
            # never on a file we are not going to change.
            _switch_to_wal(conn)
            found = apply_migrations(conn)
            if found > SCHEMA_VERSION:  # a newer attn-drill upgraded it while we waited
                raise NewerStoreError(path, found)
        _check_schema(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _switch_to_wal(conn: sqlite3.Connection) -> None:
    """`PRAGMA journal_mode = WAL` does not wait on the busy timeout: while another process
    is creating or migrating the same new file it fails at once with "database is locked".
    Retry it for as long as any other lock would be waited for."""
    import time

    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _classify(path: Path, exc: sqlite3.Error) -> StoreError:
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return BusyStoreError(path)
    if "unable to open" in lowered or "readonly" in lowered or "read-only" in lowered:
        return UnreadableStoreError(path, text)
    return CorruptStoreError(path, text)


@contextmanager
def _transaction(*, write: bool) -> Iterator[sqlite3.Connection]:
    """`Store().transaction` on the default database."""
    with Store().transaction(write=write) as conn:
        yield conn


# -- the store ---------------------------------------------------------------------------


class Store:
    """The progress database at `path` (default: `progress.sqlite3` in the data home), used
    as sqlite-utils uses a Database: make one, call its methods. Every method is one short
    transaction; nothing stays open between calls.

    The module-level functions below (`record_grade`, `has_passed`, ...) are the same methods
    on the default database.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = None if path is None else Path(path)

    @property
    def path(self) -> Path:
        if self._path is not None:
            return self._path
        try:
            return database_path()
        except OSError as exc:
            raise StoreError(
                f"Cannot create the attn-drill data folder ({exc}). Set ATTN_DRILL_HOME to a "
                "folder you can write to."
            ) from None

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One short transaction on the store: BEGIN IMMEDIATE for writes (take the write lock
        up front, so concurrent writers queue on busy_timeout), a snapshot for reads."""
        path = self.path
        try:
            conn = _open(path)
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
            finally:
                conn.close()
        except _Damaged as exc:
            raise CorruptStoreError(path, str(exc)) from None
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise  # misuse of sqlite3 by attn-drill itself: a bug, not a damaged file
        except sqlite3.Error as exc:
            raise _classify(path, exc) from None

    def record_grade(self, report: GradeLike) -> None:
        """Store one grade; a failed grade flags the misconceptions it diagnosed."""
        at = _now()
        stamp = _utc_text(at)
        concepts = list(dict.fromkeys(d.id for d in report.diagnosis if d.id))
        with self.transaction(write=True) as conn:
            cursor = conn.execute(
                "INSERT INTO grades (problem, track, passed, score, duration_s, graded_at, "
                "problem_version) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (report.problem, report.track, int(bool(report.passed)), float(report.score),
                 float(report.duration_s), stamp, report.problem_version),
            )
            conn.executemany(
                "INSERT INTO grade_diagnoses (grade_id, concept) VALUES (?, ?)",
                [(cursor.lastrowid, concept) for concept in concepts],
            )
            if not report.passed:
                day = at.astimezone().date().isoformat()
                conn.executemany(
                    "INSERT INTO flags (concept, why, problem, flagged_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (concept) DO UPDATE SET why = excluded.why, "
                    "problem = excluded.problem, flagged_at = excluded.flagged_at",
                    [(concept, f"grade of {report.problem} on {day} showed {concept}",
                      report.problem, stamp) for concept in concepts],
                )

    def record_hint(self, problem_id: str, level: int) -> None:
        """Remember that the learner saw hint `level` (1-based) of a problem."""
        with self.transaction(write=True) as conn:
            conn.execute(
                "INSERT INTO hints (problem, level, used_at) VALUES (?, ?, ?)",
                (problem_id, int(level), _utc_text(_now())),
            )

    def hint_level(self, problem_id: str) -> int:
        """The highest hint level the learner has seen for a problem (0 when none)."""
        with self.transaction(write=False) as conn:
            row = conn.execute(
                "SELECT COALESCE(MAX(level), 0) FROM hints WHERE problem = ?", (problem_id,)
            ).fetchone()
        return int(row[0])

    def record_reveal(self, problem_id: str, track: str) -> None:
        """Remember that the reference solution of a problem's track was shown."""
        with self.transaction(write=True) as conn:
            conn.execute(
                "INSERT INTO reveals (problem, track, revealed_at) VALUES (?, ?, ?)",
                (problem_id, track, _utc_text(_now())),
            )

    def has_passed(self, problem_id: str, track: str | None = None) -> bool:
        """Whether any recorded grade of the problem (on `track`, or any track) passed."""
        query = "SELECT 1 FROM grades WHERE problem = ? AND passed = 1"
        params: tuple[str, ...] = (problem_id,)
        if track is not None:
            query += " AND track = ?"
            params += (track,)
        with self.transaction(write=False) as conn:
            return conn.execute(query + " LIMIT 1", params).fetchone() is not None

    def load_card(self, question_id: str) -> str | None:
        """The stored fsrs Card of a question as JSON, or None if it was never reviewed."""
        with self.transaction(write=False) as conn:
            row = conn.execute(
                "SELECT card_json FROM cards WHERE question_id = ?", (question_id,)
            ).fetchone()
        return None if row is None else str(row[0])

    def record_review(self,
        question_id: str,
        topic: str,
        card_json: str,
        rating: int,
        correct: bool,
        duration_s: float,
        due_iso: str,
    ) -> None:
        """Store one answered quiz question and the card's new state, in one transaction."""
        due = _utc_text(due_iso)
        with self.transaction(write=True) as conn:
            conn.execute(
                "INSERT INTO reviews (question_id, topic, rating, correct, duration_s, "
                "reviewed_at) VALUES (?, ?, ?, ?, ?, ?)",
                (question_id, topic, int(rating), int(bool(correct)), float(duration_s),
                 _utc_text(_now())),
            )
            conn.execute(
                "INSERT INTO cards (question_id, card_json, due) VALUES (?, ?, ?) "
                "ON CONFLICT (question_id) DO UPDATE SET card_json = excluded.card_json, "
                "due = excluded.due",
                (question_id, card_json, due),
            )

    def due_question_ids(self, now_iso: str) -> list[str]:
        """Questions whose card is due at `now_iso` (ISO-8601), the most overdue first."""
        with self.transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT question_id FROM cards WHERE due <= ? ORDER BY due, question_id",
                (_utc_text(now_iso),),
            ).fetchall()
        return [row[0] for row in rows]

    def flagged_concepts(self) -> dict[str, str]:
        """Flagged misconception ids -> why they were flagged, the most recent first."""
        with self.transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT concept, why FROM flags ORDER BY flagged_at DESC").fetchall()
        return {concept: why for concept, why in rows}

    def flag_times(self) -> dict[str, str]:
        """Flagged misconception ids -> when they were last flagged (UTC ISO text, comparable
        as text with `last_pass_times`)."""
        with self.transaction(write=False) as conn:
            rows = conn.execute("SELECT concept, flagged_at FROM flags").fetchall()
        return {concept: at for concept, at in rows}

    def last_pass_times(self) -> dict[tuple[str, str], str]:
        """(problem id, track) -> when it was last passed (UTC ISO text).

        A passed problem comes back for review only when one of its misconceptions was flagged
        after this time: the failures that led up to the pass do not count.
        """
        with self.transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT problem, track, MAX(graded_at) FROM grades WHERE passed = 1 "
                "GROUP BY problem, track"
            ).fetchall()
        return {(problem, track): at for problem, track, at in rows}

    def clear_flag(self, concept: str) -> None:
        """Unflag a concept (the quiz calls this after a right answer on it)."""
        with self.transaction(write=True) as conn:
            conn.execute("DELETE FROM flags WHERE concept = ?", (concept,))

    def problem_progress(self, problems: Iterable[Problem]) -> dict[str, ProblemProgress]:
        """Per problem: status over all tracks, attempts, best score, and whether a pass predates
        the current version of its YAML (then status stays "passed" and changed_since_pass is
        True, so filters keep working and views can say "passed before the problem changed")."""
        selected = list(problems)
        versions = {p.id: p.version for p in selected}
        with self.transaction(write=False) as conn:
            by_track = _track_progress(conn, versions)
        result: dict[str, ProblemProgress] = {}
        for problem in selected:
            tracks = {
                t: by_track[(problem.id, t)] for t in problem.tracks if (problem.id, t) in by_track
            }
            result[problem.id] = _combine(problem.id, tracks)
        return result

    def problem_statuses(self, problems: Iterable[Problem]) -> dict[str, str]:
        """Problem id -> "todo" | "attempted" | "passed" (the values of `list --status`).

        "passed" means some track passed, even if the YAML changed since: filtering keeps it.
        Whether the pass predates the change is `problem_progress(...)[id].changed_since_pass`.
        """
        return {pid: info.status for pid, info in self.problem_progress(problems).items()}

    def move_aside(self) -> Path:
        """Move this (damaged) database aside; see `move_aside`."""
        return move_aside(self.path)


# -- recording (the module-level functions are the default database's Store) -------------


class _DiagnosisLike(Protocol):
    id: str


class GradeLike(Protocol):
    """What record_grade reads from a grading.report.GradeReport."""

    problem: str
    track: str
    passed: bool
    score: float
    duration_s: float
    problem_version: str

    @property
    def diagnosis(self) -> Sequence[_DiagnosisLike]: ...


def record_grade(report: GradeLike) -> None:
    """`Store().record_grade` on the default database."""
    Store().record_grade(report)


def record_hint(problem_id: str, level: int) -> None:
    """`Store().record_hint` on the default database."""
    Store().record_hint(problem_id, level)


def hint_level(problem_id: str) -> int:
    """`Store().hint_level` on the default database."""
    return Store().hint_level(problem_id)


def record_reveal(problem_id: str, track: str) -> None:
    """`Store().record_reveal` on the default database."""
    Store().record_reveal(problem_id, track)


def has_passed(problem_id: str, track: str | None = None) -> bool:
    """`Store().has_passed` on the default database."""
    return Store().has_passed(problem_id, track)


# -- the quiz's cards, reviews and flags ---------------------------------------------------


def load_card(question_id: str) -> str | None:
    """`Store().load_card` on the default database."""
    return Store().load_card(question_id)


def record_review(
    question_id: str,
    topic: str,
    card_json: str,
    rating: int,
    correct: bool,
    duration_s: float,
    due_iso: str,
) -> None:
    """`Store().record_review` on the default database."""
    Store().record_review(question_id, topic, card_json, rating, correct, duration_s, due_iso)


def due_question_ids(now_iso: str) -> list[str]:
    """`Store().due_question_ids` on the default database."""
    return Store().due_question_ids(now_iso)


def flagged_concepts() -> dict[str, str]:
    """`Store().flagged_concepts` on the default database."""
    return Store().flagged_concepts()


def flag_times() -> dict[str, str]:
    """`Store().flag_times` on the default database."""
    return Store().flag_times()


def last_pass_times() -> dict[tuple[str, str], str]:
    """`Store().last_pass_times` on the default database."""
    return Store().last_pass_times()


def clear_flag(concept: str) -> None:
    """`Store().clear_flag` on the default database."""
    Store().clear_flag(concept)


# -- per-problem status --------------------------------------------------------------------


@dataclass(frozen=True)
class TrackProgress:
    """One problem on one track."""

    problem_id: str
    track: str
    status: str  # todo | attempted | passed
    attempts: int = 0
    best_score: float | None = None
    changed_since_pass: bool = False  # passed, but only on an older version of the YAML
    last_attempt: str | None = None  # UTC ISO time
    revealed: bool = False


@dataclass(frozen=True)
class ProblemProgress:
    """A problem over all its tracks (what `list` shows)."""

    problem_id: str
    status: str  # todo | attempted | passed (passed on any track)
    attempts: int
    best_score: float | None
    changed_since_pass: bool  # a passed track was passed only before the YAML changed
    tracks: dict[str, TrackProgress] = field(default_factory=dict)


def _track_progress(
    conn: sqlite3.Connection, versions: dict[str, str]
) -> dict[tuple[str, str], TrackProgress]:
    """Every (problem, track) with a recorded grade or reveal. `versions` maps problem ids to
    their current Problem.version, to tell whether a pass predates an edit of the YAML."""
    passed_versions: dict[tuple[str, str], set[str]] = {}
    for problem, track, version in conn.execute(
        "SELECT DISTINCT problem, track, problem_version FROM grades WHERE passed = 1"
    ):
        passed_versions.setdefault((problem, track), set()).add(version)
    revealed = {
        (problem, track) for problem, track in conn.execute("SELECT problem, track FROM reveals")
    }
    result: dict[tuple[str, str], TrackProgress] = {}
    for problem, track, attempts, best, any_pass, last in conn.execute(
        "SELECT problem, track, COUNT(*), MAX(score), MAX(passed), MAX(graded_at) "
        "FROM grades GROUP BY problem, track"
    ):
        current = versions.get(problem, "unknown")
        passes = passed_versions.get((problem, track), set())
        changed = bool(any_pass) and current != "unknown" and current not in passes
        result[(problem, track)] = TrackProgress(
            problem_id=problem,
            track=track,
            status="passed" if any_pass else "attempted",
            attempts=int(attempts),
            best_score=float(best),
            changed_since_pass=changed,
            last_attempt=last,
            revealed=(problem, track) in revealed,
        )
    for key in revealed - set(result):
        result[key] = TrackProgress(problem_id=key[0], track=key[1], status="todo", revealed=True)
    return result


def problem_progress(problems: Iterable[Problem]) -> dict[str, ProblemProgress]:
    """`Store().problem_progress` on the default database."""
    return Store().problem_progress(problems)


def _combine(problem_id: str, tracks: dict[str, TrackProgress]) -> ProblemProgress:
    statuses = {t.status for t in tracks.values()}
    attempts = sum(t.attempts for t in tracks.values())
    scores = [t.best_score for t in tracks.values() if t.best_score is not None]
    if "passed" in statuses:
        status = "passed"
    elif attempts:
        status = "attempted"
    else:
        status = "todo"
    return ProblemProgress(
        problem_id=problem_id,
        status=status,
        attempts=attempts,
        best_score=max(scores) if scores else None,
        changed_since_pass=any(t.changed_since_pass for t in tracks.values()),
        tracks=tracks,
    )


def problem_statuses(problems: Iterable[Problem]) -> dict[str, str]:
    """`Store().problem_statuses` on the default database."""
    return Store().problem_statuses(problems)


def move_aside(path: Path) -> Path:
    """Rename a damaged database (and its -wal/-shm companions) to `<name>.corrupt-<time>`.

    Renaming keeps every byte: the backup, with its WAL beside it under the matching name,
    opens exactly as the damaged file did.
    """
    stamp = _now().astimezone().strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    while backup.exists():
        counter += 1
        backup = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
    for suffix in ("-wal", "-shm", ""):
        companion = Path(f"{path}{suffix}")
        if companion.exists():
            os.replace(companion, Path(f"{backup}{suffix}"))
    return backup
