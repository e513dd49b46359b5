"""The practice loop driven by events, with a fake grader and a recording screen."""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from attn_drill.curriculum import Recommendation
from attn_drill.errors import UsageError
from attn_drill.practice import PracticeLoop
from attn_drill.problems import get_problem
from attn_drill.watch import FileEvent, KeyEvent
from attn_drill.workspace import starter_text
from tests.helpers import FakeDiagnosis, FakeReport

CORRECT = "import numpy as np\n\ndef softmax(x, axis=-1):\n    e = np.exp(x - x.max(axis, keepdims=True))\n    return e / e.sum(axis, keepdims=True)\n"  # noqa: E501
NAIVE = "import numpy as np\n\ndef softmax(x, axis=-1):\n    return np.exp(x) / np.exp(x).sum(axis, keepdims=True)\n"  # noqa: E501


class RecordingScreen:
    """Stands in for PracticeScreen: remembers what was drawn, in order."""

    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            self.log.append((name, (args, kwargs)))

        return record

    def names(self) -> list[str]:
        return [name for name, _ in self.log]


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The progress store's hint functions; an in-memory stand-in until the store has them."""
    from attn_drill import progress

    if not hasattr(progress, "record_hint"):
        levels: dict[str, int] = {}
        monkeypatch.setattr(progress, "hint_level", lambda pid: levels.get(pid, 0),
                            raising=False)
        monkeypatch.setattr(progress, "record_hint",
                            lambda pid, level: levels.__setitem__(pid, level), raising=False)
    return progress


def fake_grade_by_content(log: list[tuple[str, Any]]):
    """Passes iff the file calls `.max(`: a stand-in for the real grader."""

    def grade(path: Path, problem: Any, track: str) -> FakeReport:
        source = path.read_text()
        log.append(("grade", (path.name, track)))
        if ".max(" in source:
            return FakeReport(problem.id, True, score=1.0)
        return FakeReport(problem.id, False, [FakeDiagnosis("unstable-softmax")], 0.5)

    return grade


@pytest.fixture
def loop_parts(tmp_path: Path, store: Any) -> Any:
    log: list[tuple[str, Any]] = []
    screen = RecordingScreen(log)
    recommended: list[set[str]] = []

    def recommend(exclude: Any) -> Recommendation | None:
        recommended.append(set(exclude))
        return None

    loop = PracticeLoop(
        first=Recommendation(get_problem("softmax"), "numpy", "chosen"),
        directory=tmp_path,
        lang="en",
        screen=screen,  # type: ignore[arg-type]
        grade=fake_grade_by_content(log),
        record=lambda report: log.append(("record", report.passed)),
        recommend=recommend,
        list_rows=lambda: [{"id": "softmax"}],
    )

    @dataclass
    class Parts:
        loop: PracticeLoop
        log: list[tuple[str, Any]]
        screen: RecordingScreen
        recommended: list[set[str]]
        path: Path

    return Parts(loop, log, screen, recommended, tmp_path / "softmax.py")


def _names(log: list[tuple[str, Any]]) -> list[str]:
    return [name for name, _ in log if name not in ("grading", "legend")]


def test_enter_scaffolds_the_file_and_shows_the_statement(loop_parts: Any) -> None:
    loop_parts.loop.enter(loop_parts.loop.first)
    assert loop_parts.path.read_text() == starter_text(get_problem("softmax"), "numpy", "en",
                                                       loop_parts.path)
    assert f"Run: attn-drill grade {loop_parts.path}\n" in loop_parts.path.read_text()
    name, (_args, kwargs) = loop_parts.log[0]
    assert name == "statement" and kwargs["created"] is True and kwargs["has_work"] is False


def test_scaffolding_is_not_graded_as_a_save(loop_parts: Any) -> None:
    loop_parts.loop.enter(loop_parts.loop.first)
    loop_parts.loop.handle(FileEvent(loop_parts.path))
    assert "grade" not in _names(loop_parts.log)


def test_existing_work_is_reused_never_overwritten(loop_parts: Any) -> None:
    loop_parts.path.write_text(NAIVE)
    loop_parts.loop.enter(loop_parts.loop.first)
    assert loop_parts.path.read_text() == NAIVE
    _name, (_args, kwargs) = loop_parts.log[0]
    assert kwargs["created"] is False and kwargs["has_work"] is True


def test_save_regrades_records_before_drawing_and_skips_duplicates(loop_parts: Any) -> None:
    loop = loop_parts.loop
    loop.enter(loop.first)
    loop_parts.path.write_text(NAIVE)
    assert loop.handle(FileEvent(loop_parts.path))
    assert _names(loop_parts.log)[1:] == ["grade", "record", "report"]
    # A second event for the same content (editors often write twice) is not re-graded...
    loop.handle(FileEvent(loop_parts.path))
    assert _names(loop_parts.log).count("grade") == 1
    # ...but `g` always grades.
    loop.handle(KeyEvent("g"))
    assert _names(loop_parts.log).count("grade") == 2
    # Saves of other files in the workspace are ignored.
    loop.handle(FileEvent(loop_parts.path.with_name("notes.py")))
    assert _names(loop_parts.log).count("grade") == 2


def test_failed_report_gets_the_hint_level(loop_parts: Any) -> None:
    loop = loop_parts.loop
    loop.enter(loop.first)
    loop.handle(KeyEvent("h"))
    loop_parts.path.write_text(NAIVE)
    loop.handle(FileEvent(loop_parts.path))
    _name, (args, _kwargs) = [entry for entry in loop_parts.log if entry[0] == "report"][-1]
    report, problem, _path, hint_level = args
    assert report.passed is False and problem.id == "softmax" and hint_level == 1


def test_pass_shows_reference_then_enter_moves_on(loop_parts: Any) -> None:
    loop = loop_parts.loop
    loop.enter(loop.first)
    loop.handle(KeyEvent("\n"))  # Enter before a pass does nothing
    assert loop_parts.recommended == []
    loop_parts.path.write_text(CORRECT)
    loop.handle(FileEvent(loop_parts.path))
    name, (args, _kwargs) = loop_parts.log[-1]
    assert name == "passed"
    reference = args[4]
    assert reference is not None
    ref_path, source = reference
    assert ref_path.name == "softmax_numpy.py" and "def softmax" in source
    loop.handle(KeyEvent("\n"))
    assert loop_parts.recommended == [{"softmax"}]
    assert loop_parts.log[-1][0] == "note"  # recommend() said nothing is left


def test_next_skips_to_the_recommended_problem(loop_parts: Any, tmp_path: Path) -> None:
    loop = loop_parts.loop
    sdpa_like = get_problem("softmax").model_copy(update={"id": "other-problem"})
    loop.recommend = lambda exclude: Recommendation(sdpa_like, "numpy", "new")
    loop.enter(loop.first)
    loop.handle(KeyEvent("n"))  # not passed: asks first
    assert loop.state is not None and loop.state.problem.id == "softmax"
    assert loop_parts.log[-1][0] == "note" and loop_parts.log[-1][1][0] == ("skip_confirm",)
    loop.handle(KeyEvent("n"))
    assert loop.state is not None and loop.state.problem.id == "other-problem"
    assert (tmp_path / "other_problem.py").exists()
    assert "softmax" in loop.session_done


def test_hints_are_progressive_and_remembered(loop_parts: Any) -> None:
    loop = loop_parts.loop
    loop.enter(loop.first)
    for _ in range(4):
        loop.handle(KeyEvent("h"))
    steps = [args[0] for name, (args, _kw) in loop_parts.log if name == "hint"]
    assert [(s.level, s.exhausted) for s in steps] == [(1, False), (2, False), (3, False),
                                                       (3, True)]
    from attn_drill import progress

    assert progress.hint_level("softmax") == 3


@pytest.mark.parametrize("key", ["q", "\x03", "\x04"])
def test_quit_keys_end_the_run_with_exit_0(loop_parts: Any, key: str) -> None:
    events: queue.Queue[Any] = queue.Queue()
    events.put(KeyEvent("s"))
    events.put(KeyEvent(key))
    events.put(KeyEvent("g"))  # never reached
    assert loop_parts.loop.run(events, poll_s=0.05) == 0
    names = _names(loop_parts.log)
    assert names == ["statement", "statement", "goodbye"]


def test_run_processes_a_save_then_quits(loop_parts: Any) -> None:
    loop_parts.path.parent.mkdir(parents=True, exist_ok=True)
    events: queue.Queue[Any] = queue.Queue()
    loop_parts.path.write_text(CORRECT)
    # An event for the file as it was when the problem was entered (e.g. our own scaffolding
    # seen late by the watcher) is not a save; `g` grades it anyway.
    events.put(FileEvent(loop_parts.path))
    events.put(KeyEvent("g"))
    events.put(KeyEvent("l"))
    events.put(KeyEvent("q"))
    assert loop_parts.loop.run(events, poll_s=0.05) == 0
    assert _names(loop_parts.log) == ["statement", "grade", "record", "passed", "problem_list",
                                      "goodbye"]


def test_grader_errors_keep_the_session_alive(loop_parts: Any) -> None:
    loop = loop_parts.loop
    loop.enter(loop.first)

    def broken(path: Path, problem: Any, track: str) -> Any:
        raise UsageError("cannot read your file")

    loop.grade = broken
    assert loop.handle(KeyEvent("g"))
    name, (args, kwargs) = loop_parts.log[-1]
    assert name == "grade_error" and args[0] == "cannot read your file"
    assert not kwargs.get("internal")

    def buggy(path: Path, problem: Any, track: str) -> Any:
        raise RuntimeError("oops")

    loop.grade = buggy
    assert loop.handle(KeyEvent("g"))
    name, (args, kwargs) = loop_parts.log[-1]
    assert name == "grade_error" and kwargs["internal"] is True and "oops" in args[0]


def test_missing_file_is_reported_on_g_and_ignored_on_save(loop_parts: Any) -> None:
    loop = loop_parts.loop
    loop.enter(loop.first)
    loop_parts.path.unlink()
    loop.handle(FileEvent(loop_parts.path))
    assert "note" not in _names(loop_parts.log)
    loop.handle(KeyEvent("g"))
    name, (args, _kwargs) = loop_parts.log[-1]
    assert name == "note" and args[0] == "missing_file"


def test_a_deleted_file_is_noticed_when_it_happens(loop_parts: Any) -> None:
    loop = loop_parts.loop
    loop.enter(loop.first)
    loop_parts.path.unlink()
    loop.handle(FileEvent(loop_parts.path))
    started = time.monotonic()
    loop.check_missing(now=started)  # within the grace period: maybe an editor's re-save
    assert "note" not in _names(loop_parts.log)
    loop.check_missing(now=started + 5)
    name, (args, kwargs) = loop_parts.log[-1]
    assert name == "note" and args[0] == "file_deleted"
    assert kwargs["path"] == loop_parts.path
    loop.check_missing(now=started + 10)  # said once, not on every poll
    assert [n for n, (a, _k) in loop_parts.log if n == "note"] == ["note"]
    # Saved again: graded as usual, and a later deletion is noticed again.
    loop_parts.path.write_text(CORRECT)
    loop.handle(FileEvent(loop_parts.path))
    assert "passed" in _names(loop_parts.log)


def test_a_file_recreated_quickly_is_not_reported_missing(loop_parts: Any) -> None:
    loop = loop_parts.loop
    loop.enter(loop.first)
    loop_parts.path.unlink()
    loop.handle(FileEvent(loop_parts.path))
    loop_parts.path.write_text(NAIVE)
    loop.check_missing(now=time.monotonic() + 5)
    assert "note" not in _names(loop_parts.log)


@pytest.mark.parametrize(("reason", "said"), [("chosen", True), ("new", False)])
def test_practice_id_on_a_passed_problem_says_it_is_passed(
        loop_parts: Any, reason: str, said: bool) -> None:
    loop = loop_parts.loop
    asked: list[tuple[str, str]] = []
    loop.has_passed = lambda problem_id, track: asked.append((problem_id, track)) or True
    loop.enter(Recommendation(get_problem("softmax"), "numpy", reason))  # type: ignore[arg-type]
    name, (_args, kwargs) = loop_parts.log[0]
    assert name == "statement"
    assert kwargs.get("already_passed", False) is said
    assert asked == ([("softmax", "numpy")] if said else [])


def test_passing_a_review_problem_clears_its_flags(loop_parts: Any) -> None:
    loop = loop_parts.loop
    cleared: list[str] = []
    loop.clear_flag = cleared.append
    loop.first = Recommendation(get_problem("softmax"), "numpy", "review", ("unstable-softmax",))
    loop.enter(loop.first)
    _name, (_args, kwargs) = loop_parts.log[0]
    assert kwargs["review_concepts"] == ("unstable-softmax",)
    loop_parts.path.write_text(NAIVE)
    loop.handle(FileEvent(loop_parts.path))
    assert cleared == []  # a failed attempt leaves the flag
    loop_parts.path.write_text(CORRECT)
    loop.handle(FileEvent(loop_parts.path))
    assert cleared == ["unstable-softmax"]


class FakeWorker:
    def __init__(self, track: str, started: list[str], closed: list[str]) -> None:
        self.track = track
        self.closed = closed
        started.append(track)

    def run(self, *args: Any, **kwargs: Any) -> str:
        return f"warm {self.track}"

    def close(self) -> None:
        self.closed.append(self.track)


def test_worker_pool_warms_once_per_track_and_falls_back_when_it_cannot() -> None:
    from attn_drill.practice import WorkerPool

    started: list[str] = []
    closed: list[str] = []

    def factory(track: str) -> FakeWorker:
        if track == "torch":
            raise RuntimeError("cannot fork safely")
        return FakeWorker(track, started, closed)

    pool = WorkerPool(factory)
    pool.warm("numpy")
    pool.warm("numpy")
    run = pool.runner("numpy")
    assert run is not None and run() == "warm numpy"
    assert started == ["numpy"]
    assert pool.runner("torch") is None  # grades cold instead
    assert pool.runner("text") is None
    pool.close()
    assert closed == ["numpy"]
    pool.warm("numpy")  # after close nothing new starts
    assert started == ["numpy"]


def test_worker_started_after_close_closes_itself() -> None:
    import threading

    from attn_drill.practice import WorkerPool

    release = threading.Event()
    started: list[str] = []
    closed: list[str] = []

    def slow_factory(track: str) -> FakeWorker:
        release.wait(timeout=5)
        return FakeWorker(track, started, closed)

    pool = WorkerPool(slow_factory)
    pool.warm("torch")
    pool.close()  # returns at once: quitting does not wait for a slow start
    release.set()
    deadline = time.monotonic() + 5
    while not closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert started == ["torch"] and closed == ["torch"]


def test_quit_during_a_long_grade_cancels_it_and_records_nothing(loop_parts: Any) -> None:
    """q (or Ctrl-C) must work while a grade runs, not only after the grade's timeout."""
    import queue
    import threading
    import time

    released = threading.Event()
    started = threading.Event()
    loop = loop_parts.loop

    def slow_grade(path: Path, problem: Any, track: str) -> FakeReport:
        started.set()
        released.wait(timeout=30)  # an endless loop in the learner's code, until cancelled
        return FakeReport(problem.id, False)

    loop.grade = slow_grade
    loop.cancel = released.set
    events: queue.Queue[Any] = queue.Queue()
    loop_parts.path.write_text(NAIVE)
    events.put(KeyEvent("g"))

    def press_q_once_grading() -> None:
        started.wait(timeout=10)
        events.put(KeyEvent("q"))

    threading.Thread(target=press_q_once_grading, daemon=True).start()
    begin = time.monotonic()
    assert loop.run(events, poll_s=0.05) == 0
    assert time.monotonic() - begin < 10
    assert released.is_set()  # the grade in flight was cancelled
    assert "record" not in _names(loop_parts.log)


def test_events_during_a_grade_are_handled_after_it(loop_parts: Any) -> None:
    import queue

    loop = loop_parts.loop
    events: queue.Queue[Any] = queue.Queue()
    grade = loop.grade

    def grade_then_queue_a_hint(path: Path, problem: Any, track: str) -> Any:
        events.put(KeyEvent("h"))  # pressed while grading
        return grade(path, problem, track)

    loop.grade = grade_then_queue_a_hint
    log = loop_parts.log

    class QuitAfterTheHint(RecordingScreen):
        def hint(self, *args: Any, **kwargs: Any) -> None:
            log.append(("hint", (args, kwargs)))
            events.put(KeyEvent("q"))

    loop.screen = QuitAfterTheHint(log)  # type: ignore[assignment]
    loop_parts.path.write_text(NAIVE)
    events.put(KeyEvent("g"))
    assert loop.run(events, poll_s=0.05) == 0
    names = _names(loop_parts.log)
    assert names.index("record") < names.index("hint")


# -- keys a learner expects: v, l, n, p; saves without changes; saves to an earlier file ----


def _two_problem_loop(loop_parts: Any) -> Any:
    loop = loop_parts.loop
    other = get_problem("softmax").model_copy(update={"id": "other-problem"})
    loop.recommend = lambda exclude: Recommendation(other, "numpy", "new")
    loop.load_problem = lambda pid: other if pid == "other-problem" else get_problem(pid)
    loop.list_rows = lambda: [
        {"id": "softmax", "title": "Softmax", "track_status": {"numpy": "attempted"}},
        {"id": "other-problem", "title": "Other", "track_status": {"numpy": "todo",
                                                                   "torch": "todo"}},
    ]
    return loop


def test_v_shows_the_last_report_with_every_check(loop_parts: Any) -> None:
    loop = loop_parts.loop
    loop.enter(loop.first)
    loop.handle(KeyEvent("v"))
    assert loop_parts.log[-1][1][0] == ("nothing_graded",)
    loop_parts.path.write_text(NAIVE)
    loop.handle(FileEvent(loop_parts.path))
    loop.handle(KeyEvent("v"))
    name, (args, kwargs) = loop_parts.log[-1]
    assert name == "report" and kwargs == {"verbose": True} and args[0].passed is False
    assert _names(loop_parts.log).count("grade") == 1  # shown again, not re-graded


def test_l_opens_a_list_moved_with_arrows_and_j_k_and_enter_opens_the_entry(
        loop_parts: Any) -> None:
    loop = _two_problem_loop(loop_parts)
    loop.enter(loop.first)
    loop.handle(KeyEvent("l"))
    name, (_args, kwargs) = loop_parts.log[-1]
    assert name == "problem_list" and kwargs["selected"] == ("softmax", "numpy")
    loop.handle(KeyEvent("down"))
    assert loop_parts.log[-1][1][1]["selected"] == ("other-problem", "numpy")
    loop.handle(KeyEvent("j"))
    assert loop_parts.log[-1][1][1]["selected"] == ("other-problem", "torch")
    loop.handle(KeyEvent("j"))  # the last entry stays selected
    assert loop_parts.log[-1][1][1]["selected"] == ("other-problem", "torch")
    loop.handle(KeyEvent("k"))
    loop.handle(KeyEvent("up"))
    loop.handle(KeyEvent("down"))
    assert loop_parts.log[-1][1][1]["selected"] == ("other-problem", "numpy")
    loop.handle(KeyEvent("h"))  # letters other than the list's do nothing while it is open
    assert loop_parts.log[-1][0] == "problem_list"
    loop.handle(KeyEvent("\n"))
    assert loop.state is not None and loop.state.problem.id == "other-problem"
    assert loop_parts.log[-1][0] == "statement"
    # p goes back to the problem left.
    loop.handle(KeyEvent("p"))
    assert loop.state.problem.id == "softmax"
    loop.handle(KeyEvent("p"))
    assert loop_parts.log[-1][1][0] == ("no_previous",)


def test_escape_closes_the_list_and_redraws_what_was_there(loop_parts: Any) -> None:
    loop = _two_problem_loop(loop_parts)
    loop.enter(loop.first)
    loop.handle(KeyEvent("l"))
    loop.handle(KeyEvent("\x1b"))
    assert loop.picker is None and loop_parts.log[-1][0] == "statement"
    assert loop.state is not None and loop.state.problem.id == "softmax"


def test_n_asks_before_skipping_and_any_other_key_cancels(loop_parts: Any) -> None:
    loop = _two_problem_loop(loop_parts)
    loop.enter(loop.first)
    loop.handle(KeyEvent("n"))
    assert loop_parts.log[-1][1][0] == ("skip_confirm",)
    loop.handle(KeyEvent("s"))  # stays, and the key does what it says
    assert loop_parts.log[-1][0] == "statement"
    loop.handle(KeyEvent("n"))
    assert loop.state is not None and loop.state.problem.id == "softmax"
    loop.handle(KeyEvent("n"))
    assert loop.state.problem.id == "other-problem"


def test_n_after_a_pass_moves_on_without_asking(loop_parts: Any) -> None:
    loop = _two_problem_loop(loop_parts)
    loop.enter(loop.first)
    loop_parts.path.write_text(CORRECT)
    loop.handle(FileEvent(loop_parts.path))
    loop.handle(KeyEvent("n"))
    assert loop.state is not None and loop.state.problem.id == "other-problem"


def test_a_save_without_changes_is_said_and_a_duplicate_event_is_not(loop_parts: Any) -> None:
    import os

    loop = loop_parts.loop
    loop.enter(loop.first)
    loop_parts.path.write_text(NAIVE)
    loop.handle(FileEvent(loop_parts.path))
    loop.handle(FileEvent(loop_parts.path))  # the same save seen twice: nothing
    assert _names(loop_parts.log)[-1] == "report"
    later = loop_parts.path.stat().st_mtime_ns + 2_000_000_000
    os.utime(loop_parts.path, ns=(later, later))  # saved again, same content
    loop.handle(FileEvent(loop_parts.path))
    name, (args, kwargs) = loop_parts.log[-1]
    assert name == "note" and args[0] == "unchanged" and kwargs["name"] == "softmax.py"
    assert _names(loop_parts.log).count("grade") == 1


def test_saving_the_file_of_a_problem_left_behind_is_reported(loop_parts: Any) -> None:
    import os

    loop = _two_problem_loop(loop_parts)
    loop.enter(loop.first)
    loop.handle(KeyEvent("n"))
    loop.handle(KeyEvent("n"))
    assert loop.state is not None and loop.state.problem.id == "other-problem"
    loop_parts.path.write_text(NAIVE)
    later = loop_parts.path.stat().st_mtime_ns + 2_000_000_000
    os.utime(loop_parts.path, ns=(later, later))
    loop.handle(FileEvent(loop_parts.path))
    name, (args, kwargs) = loop_parts.log[-1]
    assert name == "note" and args[0] == "old_file_saved"
    assert kwargs["old"] == "softmax.py" and kwargs["current"] == "other_problem.py"
    loop.handle(FileEvent(loop_parts.path))  # the same save again: said once
    assert [n for n, (a, _k) in loop_parts.log if n == "note" and a == ("old_file_saved",)
            ] == ["note"]
    assert "grade" not in _names(loop_parts.log)
