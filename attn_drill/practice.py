"""The guided practice loop (`attn-drill practice`) and `hint`, `solution`, `reset`.

The loop is a small state machine fed by one queue of events (single key presses and saves
of the learner's file, see `attn_drill.watch`). Everything it talks to is injectable, so
tests drive it with a fake grader and a recording screen; `run_practice` wires the real
ones: `grade_file` with a warm worker process (no torch import per save), the progress
store, the terminal in single-key mode and a directory watcher.

Rules kept here:
- the learner's file is never overwritten: an existing file is reused as it is;
- progress is saved after every grade, before the report is drawn;
- the reference solution appears after a pass; before one, only on explicit confirmation,
  and that reveal is recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from attn_drill.errors import AttnDrillError, RefusedError, UnknownTrackError, UsageError
from attn_drill.grading.tracks import get_track

if TYPE_CHECKING:
    from attn_drill.curriculum import Recommendation
    from attn_drill.problems import Problem
    from attn_drill.render.practice import PracticeScreen
    from attn_drill.watch import Event

NOT_A_TERMINAL = {
    "en": "attn-drill practice needs an interactive terminal (stdin is not a TTY). "
    "To grade a file without one, run: attn-drill grade FILE",
    "zh": "attn-drill practice 需要一个交互式终端（标准输入不是 TTY）。"
    "如果只想评测文件，请运行：attn-drill grade FILE",
}
NEEDS_YES = {
    "solution": {
        "en": "You have not passed {id} yet, and there is no terminal to confirm revealing its "
        "solution. Pass --yes to reveal it anyway.",
        "zh": "你还没有通过 {id}，而且没有终端可以确认是否显示答案。如果仍要查看，请加上 --yes。",
    },
    "reset": {
        "en": "Resetting {path} needs confirmation and there is no terminal to ask. "
        "Pass --yes to reset it (a backup of your file is kept).",
        "zh": "重置 {path} 需要确认，但没有终端可以询问。"
        "请加上 --yes 来重置（会保留你的文件备份）。",
    },
}
QUIT_KEYS = {"q", "Q", "\x03", "\x04"}
UP, DOWN = "up", "down"  # arrow keys, as the key reader names them


def _interactive() -> bool:
    """Whether we can ask the learner something (stdin is a terminal). Patched in tests."""
    from attn_drill.watch import stdin_is_terminal

    return stdin_is_terminal()


# -- hints -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HintStep:
    """The result of asking for a hint.

    `level` is the 1-based hint now shown (the highest unlocked); `exhausted` means every hint
    had already been shown before this request, so there is nothing new to unlock.
    """

    problem_id: str
    level: int
    total: int
    exhausted: bool


def next_hint(problem: Problem) -> HintStep:
    """Unlock the next hint of `problem` and remember it in the progress store."""
    from attn_drill import progress

    total = len(problem.hints)
    seen = min(max(progress.hint_level(problem.id), 0), total)
    if seen >= total:
        return HintStep(problem.id, total, total, exhausted=True)
    level = seen + 1
    progress.record_hint(problem.id, level)
    return HintStep(problem.id, level, total, exhausted=False)


# -- solutions ---------------------------------------------------------------------------


MODEL_ANSWER_INTRO = {
    "en": "A complete answer states each of these ideas:",
    "zh": "完整的回答需要讲清楚下面每一点：",
}


def reference_source(problem: Problem, track: str, lang: str = "en") -> tuple[Path, str]:
    """The reference solution's path and text.

    For the text track a model answer file (`solutions/<stem>_text.md`) is used when the pack
    has one; otherwise the rubric's ideas, each with its explanation, serve as the reference.
    """
    from attn_drill.errors import PackError

    primary = problem.reference_path(track)
    for candidate in (primary, primary.with_suffix(".md"), primary.with_suffix(".txt")):
        try:
            return candidate, candidate.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise PackError(f"Cannot read the reference {candidate}: {exc}") from None
    if not get_track(track).runs_code and problem.rubric is not None:
        language = _lang(lang)
        lines = [f"# {problem.title.get(language)}", "", MODEL_ANSWER_INTRO[language], ""]
        for point in problem.rubric.points:
            colon = "：" if language == "zh" else ": "
            lines.append(f"- **{point.label.get(language)}**{colon}{point.advice.get(language)}")
        return primary.with_suffix(".md"), "\n".join(lines) + "\n"
    raise PackError(f"Problem {problem.id!r} has no reference solution for track {track!r} "
                    f"(expected {primary}).")


class CommandView(Protocol):
    """How `solution` and `reset` talk to the screen (the face implements it): messages by
    text key, a yes/no question, and the solution itself."""

    def say(self, key: str, style: str = "", **values: Any) -> None: ...

    def confirm(self, key: str, **values: Any) -> bool: ...

    def solution(self, problem: Problem, track: str, source: str, path: Path | None, *,
                 plain: bool) -> None: ...


def reveal_solution(problem_id: str, *, track: str | None, yes: bool, plain: bool,
                    lang: str, view: CommandView) -> int:
    """`attn-drill solution`: free after a pass; before one, only once confirmed (recorded)."""
    from attn_drill import progress
    from attn_drill.problems import get_problem

    problem = get_problem(problem_id)
    track_name, _ = problem.track(track)
    ref_path, source = reference_source(problem, track_name, lang)
    passed = progress.has_passed(problem.id, track_name)
    if not passed and not yes:
        if not _interactive():
            raise RefusedError(NEEDS_YES["solution"][_lang(lang)].format(id=problem.id))
        # The explanation is wrapped at word boundaries; the prompt itself stays short,
        # because the terminal would break a long prompt anywhere (mid-word).
        view.say("not_passed_yet", id=problem.id)
        if not view.confirm("reveal_prompt"):
            view.say("not_revealed", id=problem.id)
            return 1
    if not passed:
        progress.record_reveal(problem.id, track_name)
    view.solution(problem, track_name, source, ref_path, plain=plain)
    return 0


# -- reset -------------------------------------------------------------------------------


def reset_problem(problem_id: str, *, track: str | None, directory: Path | None, yes: bool,
                  lang: str, view: CommandView) -> int:
    """`attn-drill reset`: restore the starter file after confirmation, keeping a backup."""
    from attn_drill.problems import get_problem
    from attn_drill.workspace import is_untouched, reset_starter, starter_path, write_starter

    problem = get_problem(problem_id)
    track_name, _ = problem.track(track)
    path = starter_path(problem, track_name, directory)
    if not path.exists():
        write_starter(problem, track_name, directory, lang=lang)
        view.say("reset_wrote", path=path)
        return 0
    if is_untouched(path, problem, track_name):
        view.say("reset_untouched", path=path)
        return 0
    if not yes:
        if not _interactive():
            raise RefusedError(NEEDS_YES["reset"][_lang(lang)].format(path=path))
        if not view.confirm("reset_confirm", path=path):
            view.say("reset_kept", path=path)
            return 1
    restored, backup = reset_starter(problem, track_name, directory, lang=lang)
    view.say("reset_done", path=restored)
    if backup is not None:
        view.say("reset_backup", backup=backup)
    return 0


# -- the loop ----------------------------------------------------------------------------


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


Grader = Callable[[Path, "Problem", str], Any]  # (file, problem, track) -> GradeReport


@dataclass
class LoopState:
    problem: Problem
    track: str
    path: Path
    passed: bool = False  # the last grade in this session passed
    # The content last graded (or found on entering the problem): a file event with the same
    # content is not a new save (a second event for one save, or our own scaffolding).
    graded_digest: str | None = None
    review_concepts: tuple[str, ...] = ()
    # When a file event found the file gone (monotonic seconds); a note follows unless it
    # comes back quickly (editors that save by delete-and-recreate).
    missing_since: float | None = None
    missing_noted: bool = False
    # When the content last graded was saved (ns): a save of the same content at a later
    # time is a real save without changes, said so; the same time is a duplicate event.
    graded_mtime: int | None = None
    last_report: Any = None
    recommendation: Recommendation | None = None


@dataclass
class Picker:
    """The interactive list (`l`): one entry per problem and track, a cursor."""

    entries: list[tuple[str, str | None]]
    index: int = 0
    rows: list[dict[str, object]] = field(default_factory=list)


@dataclass
class PracticeLoop:
    """The practice state machine. `handle` processes one event; `run` drains the queue.

    Injected: `grade` (file, problem, track) -> report; `record` saves a report to progress;
    `recommend(exclude)` picks the next problem; `on_enter(path, track)` lets the caller
    point the file watcher at a new file before its statement is drawn, and
    `on_shown(path, track)` warm the right worker once it is; `clear_flag(concept)`
    unflags the concepts of a review problem once it is passed again.
    """

    first: Recommendation
    directory: Path
    lang: str
    screen: PracticeScreen
    grade: Grader
    record: Callable[[Any], None]
    recommend: Callable[[Collection[str]], Recommendation | None]
    # Called before a problem's statement is drawn (the watcher must already follow the new
    # file when the learner sees it and saves), then once it is on screen.
    on_enter: Callable[[Path, str], None] = lambda _path, _track: None
    on_shown: Callable[[Path, str], None] = lambda _path, _track: None
    clear_flag: Callable[[str], None] = lambda _concept: None
    list_rows: Callable[[], list[dict[str, object]]] = list
    # Stops a grade in flight (kills the graded process) when the learner quits meanwhile.
    cancel: Callable[[], None] = lambda: None
    # Whether the learner already passed (problem id, track): `practice ID` on a solved
    # problem says so on entering it.
    has_passed: Callable[[str, str], bool] = lambda _problem_id, _track: False
    # How long a deleted file may stay missing before the loop says so (seconds).
    missing_grace_s: float = 0.6
    session_done: set[str] = field(default_factory=set)
    state: LoopState | None = None
    # Problems left with n / Enter / the list, most recent last (p goes back to them).
    history: list[Recommendation] = field(default_factory=list)
    picker: Picker | None = None
    confirm_skip: bool = False
    # Practice files of earlier problems of this session -> the save last noted (mtime):
    # saving one of them is said once, not silently ignored.
    earlier_files: dict[str, int | None] = field(default_factory=dict)
    # Opens a problem by id (the list's Enter); None: get_problem.
    load_problem: Callable[[str], Problem] | None = None
    grades: int = 0
    quit_requested: bool = False
    events: queue.Queue[Event] | None = None  # set by run(); read while a grade runs

    # -- moving between problems ---------------------------------------------------------
    def enter(self, recommendation: Recommendation) -> None:
        from attn_drill.workspace import ensure_starter, is_untouched

        problem, track = recommendation.problem, recommendation.track
        path, created = ensure_starter(problem, track, self.directory, lang=self.lang)
        if self.state is not None and self.state.path != path:
            self.earlier_files[self.state.path.name] = _mtime(self.state.path)
        self.earlier_files.pop(path.name, None)
        self.picker = None
        self.confirm_skip = False
        self.state = LoopState(problem, track, path, review_concepts=recommendation.concepts,
                               graded_digest=_digest(path), graded_mtime=_mtime(path),
                               recommendation=recommendation)
        already_passed = False
        if recommendation.reason == "chosen":
            try:
                already_passed = bool(self.has_passed(problem.id, track))
            except AttnDrillError:
                already_passed = False
        extra = {"already_passed": True} if already_passed else {}
        self.on_enter(path, track)
        self.screen.statement(
            problem, track, path, created=created,
            has_work=not created and not is_untouched(path, problem, track),
            review_concepts=recommendation.concepts, **extra,
        )
        self.on_shown(path, track)  # after drawing: warming a worker may take a moment

    def next_problem(self) -> None:
        state = self._state
        self.session_done.add(state.problem.id)
        upcoming = self.recommend(self.session_done)
        if upcoming is None:
            self.screen.note("all_done", passed=state.passed, style="green")
            return
        self._leave()
        self.enter(upcoming)

    def _leave(self) -> None:
        """Remember the current problem so that p can come back to it."""
        state = self.state
        if state is not None and state.recommendation is not None:
            from attn_drill.curriculum import Recommendation

            self.history.append(Recommendation(state.problem, state.track, "chosen"))

    def previous_problem(self) -> None:
        state = self._state
        while self.history:
            earlier = self.history.pop()
            if (earlier.problem.id, earlier.track) != (state.problem.id, state.track):
                self.enter(earlier)
                return
        self.screen.note("no_previous", passed=state.passed)

    def _skip_needs_confirmation(self) -> bool:
        """n on a problem not passed (in this session or before) asks once."""
        state = self._state
        if state.passed or self.confirm_skip:
            return False
        try:
            if self.has_passed(state.problem.id, state.track):
                return False
        except AttnDrillError:
            pass
        self.confirm_skip = True
        self.screen.note("skip_confirm", passed=state.passed, id=state.problem.id)
        return True

    # -- the interactive list ------------------------------------------------------------
    def open_list(self) -> None:
        from attn_drill.catalog import list_entries

        state = self._state
        rows = self.list_rows()
        entries = [(pid, track) for pid, track, _s, _c, _t in list_entries(rows)]
        if not entries:
            self.screen.problem_list(rows, state.problem.id, passed=state.passed)
            return
        index = next((i for i, (pid, track) in enumerate(entries) if pid == state.problem.id
                      and track in (None, state.track)), 0)
        self.picker = Picker(entries, index, rows)
        self._draw_list()

    def _draw_list(self) -> None:
        state, picker = self._state, self.picker
        assert picker is not None
        self.screen.problem_list(picker.rows, state.problem.id, passed=state.passed,
                                 selected=picker.entries[picker.index],
                                 current_track=state.track)

    def _list_key(self, key: str) -> None:
        picker = self.picker
        assert picker is not None
        if key in ("j", DOWN):
            picker.index = min(picker.index + 1, len(picker.entries) - 1)
            self._draw_list()
        elif key in ("k", UP):
            picker.index = max(picker.index - 1, 0)
            self._draw_list()
        elif key == "\n":
            problem_id, track = picker.entries[picker.index]
            self.picker = None
            state = self._state
            if problem_id == state.problem.id and track in (None, state.track):
                self._redraw()
                return
            self.open_problem(problem_id, track)
        elif key in ("l", "L", "\x1b"):
            self.picker = None
            self._redraw()

    def open_problem(self, problem_id: str, track: str | None) -> None:
        from attn_drill.curriculum import Recommendation

        try:
            if self.load_problem is not None:
                problem = self.load_problem(problem_id)
            else:
                from attn_drill.problems import get_problem

                problem = get_problem(problem_id)
            track_name, _ = problem.track(track)
        except AttnDrillError as exc:
            self.screen.note("store_error", passed=self._state.passed, style="red",
                             error=exc.message)
            return
        self._leave()
        self.enter(Recommendation(problem, track_name, "chosen"))

    def _redraw(self) -> None:
        """Back from the list: the last report, or the statement when nothing was graded."""
        state = self._state
        if state.last_report is not None:
            self._show(state.last_report, verbose=False)
            return
        from attn_drill.workspace import is_untouched

        self.screen.statement(
            state.problem, state.track, state.path, created=False,
            has_work=not is_untouched(state.path, state.problem, state.track),
            review_concepts=state.review_concepts, passed=state.passed,
        )

    def _show(self, report: Any, *, verbose: bool) -> None:
        state = self._state
        extra = {"verbose": True} if verbose else {}
        if report.passed:
            self.screen.passed(report, state.problem, state.track, state.path,
                               self._reference(state), **extra)
        else:
            self.screen.report(report, state.problem, state.path, self._hint_level(state),
                               **extra)

    @property
    def _state(self) -> LoopState:
        assert self.state is not None, "enter() a problem first"
        return self.state

    # -- grading -------------------------------------------------------------------------
    def grade_now(self, *, only_if_changed: bool = False) -> None:
        state = self._state
        try:
            content = state.path.read_bytes()
        except FileNotFoundError:
            # Some editors delete and recreate the file; the next event brings it back. If it
            # stays gone, check_missing() says so after a short grace period.
            if not only_if_changed:
                self.screen.note("missing_file", passed=state.passed, path=state.path)
                state.missing_noted = True
            elif state.missing_since is None:
                import time

                state.missing_since = time.monotonic()
            return
        except OSError as exc:
            self.screen.grade_error(str(exc), state.path)
            return
        state.missing_since = None
        state.missing_noted = False
        digest = hashlib.sha256(content).hexdigest()
        if only_if_changed and digest == state.graded_digest:
            saved_at = _mtime(state.path)
            if saved_at is not None and saved_at != state.graded_mtime:
                # Saved again without a change: say so rather than seem to ignore the save.
                state.graded_mtime = saved_at
                self.screen.note("unchanged", passed=state.passed, name=state.path.name)
            return  # otherwise a second event for the same save
        self.screen.grading(state.path)
        try:
            report = self._grade_listening_for_quit(state)
            if report is None:  # the learner quit meanwhile: nothing to record or draw
                return
        except AttnDrillError as exc:
            state.graded_digest = digest
            self.screen.grade_error(exc.message, state.path)
            return
        except Exception as exc:  # a bug of ours: say so, keep the learner's session alive
            self.screen.grade_error(f"{type(exc).__name__}: {exc}", state.path, internal=True)
            return
        state.graded_digest = digest
        state.graded_mtime = _mtime(state.path)
        state.last_report = report
        self.grades += 1
        store_problem = None
        try:
            self.record(report)  # saved before anything is drawn
        except AttnDrillError as exc:
            store_problem = exc.message
        state.passed = bool(report.passed)
        if state.passed:
            self.session_done.add(state.problem.id)
            self._clear_reviewed(state)
            self.screen.passed(report, state.problem, state.track, state.path,
                               self._reference(state))
        else:
            self.screen.report(report, state.problem, state.path, self._hint_level(state))
        if store_problem is not None:
            self.screen.note("store_error", passed=state.passed, style="red",
                             error=store_problem)

    def check_missing(self, now: float | None = None) -> None:
        """Say once that the practice file was deleted, when it has stayed missing for
        `missing_grace_s` (called while the loop waits for events)."""
        import time

        state = self.state
        if state is None or state.missing_since is None or state.missing_noted:
            return
        moment = time.monotonic() if now is None else now
        if moment - state.missing_since < self.missing_grace_s:
            return
        if state.path.exists():  # recreated: its own event grades it
            state.missing_since = None
            return
        state.missing_noted = True
        self.screen.note("file_deleted", passed=state.passed, path=state.path)

    def _grade_listening_for_quit(self, state: LoopState) -> Any:
        """Grade in a thread while still reading keys, so q / Ctrl-C work during a long grade
        (an endless loop would otherwise hold the loop until the timeout). Other events wait
        for the grade and are handled after it. None when the learner quit."""
        from attn_drill.watch import KeyEvent

        if self.events is None:  # driven event by event (tests): grade in this thread
            return self.grade(state.path, state.problem, state.track)
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["report"] = self.grade(state.path, state.problem, state.track)
            except BaseException as exc:  # handed to the loop's thread below
                outcome["error"] = exc

        # Events already queued came before this grade in time: they wait for it, in order.
        # Only a quit key pressed while the grade runs stops it.
        earlier = self.events.qsize()
        worker = threading.Thread(target=work, name="attn-drill-grade", daemon=True)
        worker.start()
        waiting: list[Event] = []
        try:
            while worker.is_alive():
                try:
                    event = self.events.get(timeout=0.05)
                except queue.Empty:
                    continue
                if len(waiting) >= earlier and isinstance(event, KeyEvent) and (
                        event.key in QUIT_KEYS):
                    self.quit_requested = True
                    self.cancel()
                    worker.join(timeout=5)
                    return None
                waiting.append(event)
        finally:
            # Put the waiting events back ahead of anything that arrived meanwhile.
            later: list[Event] = []
            with contextlib.suppress(queue.Empty):
                while True:
                    later.append(self.events.get_nowait())
            for event in waiting + later:
                self.events.put(event)
        if "error" in outcome:
            raise outcome["error"]
        return outcome["report"]

    def _clear_reviewed(self, state: LoopState) -> None:
        """A review passed again: its flags are answered, so it stops coming back.

        Without this a solved problem whose concept stays flagged would be recommended first
        in every session until a quiz answer cleared the flag.
        """
        for concept in state.review_concepts:
            try:
                self.clear_flag(concept)
            except AttnDrillError:
                return
        state.review_concepts = ()

    def _reference(self, state: LoopState) -> tuple[Path, str] | None:
        try:
            return reference_source(state.problem, state.track, self.lang)
        except AttnDrillError:
            return None

    def _hint_level(self, state: LoopState) -> int:
        from attn_drill import progress

        try:
            return int(progress.hint_level(state.problem.id))
        except AttnDrillError:
            return 0

    # -- events --------------------------------------------------------------------------
    def handle(self, event: Event) -> bool:
        """Process one event; False means quit."""
        from attn_drill.watch import FileEvent, KeyEvent

        state = self._state
        if isinstance(event, FileEvent):
            if event.path.name == state.path.name:
                self.grade_now(only_if_changed=True)
            elif event.path.name in self.earlier_files:
                self._earlier_file_saved(event.path)
            return not self.quit_requested
        if not isinstance(event, KeyEvent):
            return True
        key = event.key
        if key in QUIT_KEYS:
            return False
        if self.picker is not None:
            self._list_key(key)
            return True
        if self.confirm_skip and key not in ("n", "N"):
            self.confirm_skip = False  # any other key: stay (and do what it says)
        if key in ("v", "V"):
            if state.last_report is None:
                self.screen.note("nothing_graded", passed=state.passed)
            else:
                self._show(state.last_report, verbose=True)
            return True
        if key in ("p", "P"):
            self.previous_problem()
            return True
        if key in ("h", "H"):
            try:
                step = next_hint(state.problem)
            except AttnDrillError as exc:
                self.screen.note("store_error", passed=state.passed, style="red",
                                 error=exc.message)
            else:
                self.screen.hint(step, state.problem, passed=state.passed)
        elif key in ("g", "G"):
            self.grade_now()
            return not self.quit_requested
        elif key in ("s", "S"):
            from attn_drill.workspace import is_untouched

            self.screen.statement(
                state.problem, state.track, state.path, created=False,
                has_work=not is_untouched(state.path, state.problem, state.track),
                review_concepts=state.review_concepts, passed=state.passed,
            )
        elif key in ("n", "N"):
            if not self._skip_needs_confirmation():
                self.next_problem()
        elif key == "\n" and state.passed:
            self.next_problem()
        elif key in ("l", "L"):
            self.open_list()
        return True

    def _earlier_file_saved(self, path: Path) -> None:
        """A save to the file of a problem left behind: said once per save."""
        saved_at = _mtime(path)
        if saved_at is None or saved_at == self.earlier_files.get(path.name):
            return
        self.earlier_files[path.name] = saved_at
        state = self._state
        self.screen.note("old_file_saved", passed=state.passed, old=path.name,
                         current=state.path.name)

    def run(self, events: queue.Queue[Event], *, poll_s: float = 0.25,
            should_stop: Callable[[], bool] = lambda: False) -> int:
        """Enter the first problem, then process events until the learner quits."""
        self.events = events
        self.enter(self.first)
        while not should_stop():
            try:
                event = events.get(timeout=poll_s)
            except queue.Empty:
                self.check_missing()
                continue
            if not self.handle(event):
                break
        self.screen.goodbye()
        return 0


# -- wiring ------------------------------------------------------------------------------


class WorkerPool:
    """One warm grading process per track, started in the background and closed at the end.

    `warm(track)` starts the zygote in a thread, so the learner can read the statement (and
    press keys) while numpy/torch load; `runner(track)` waits for it. If a warm worker
    cannot be started, grading falls back to a fresh process per grade (slower, same
    verdicts), so practice never breaks because of it.
    """

    def __init__(self, factory: Callable[[str], Any] | None = None) -> None:
        self._factory = factory
        self._workers: dict[str, Any] = {}
        self._starting: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._closed = False

    def _create(self, track: str) -> None:
        try:
            if self._factory is not None:
                worker = self._factory(track)
            else:
                from attn_drill.grading.worker import WarmWorker

                worker = WarmWorker(track)
        except Exception:  # missing module or a start-up failure: grade cold instead
            worker = None
        # The references are computed here, in the parent: importing what they need now
        # (while the learner reads) takes that cost off the first grade.
        with contextlib.suppress(Exception):
            get_track(track).import_for_references()
        with self._lock:
            closed = self._closed
            if not closed:
                self._workers[track] = worker
        if closed and worker is not None:
            _close_quietly(worker)  # the learner quit while it was starting

    def warm(self, track: str) -> None:
        if not get_track(track).runs_code:
            return  # text answers are graded in-process by the rubric: nothing to warm
        with self._lock:
            if self._closed or track in self._workers or track in self._starting:
                return
            thread = threading.Thread(target=self._create, args=(track,),
                                      name=f"attn-drill-warm-{track}", daemon=True)
            self._starting[track] = thread
        thread.start()

    def runner(self, track: str) -> Callable[..., Any] | None:
        if not get_track(track).runs_code:
            return None
        self.warm(track)
        with self._lock:
            thread = self._starting.get(track)
        if thread is not None:
            thread.join()
        with self._lock:
            worker = self._workers.get(track)
        return None if worker is None else worker.run  # type: ignore[no-any-return]

    def cancel(self) -> None:
        """Stop any grade in flight (the learner quit while it ran)."""
        with self._lock:
            workers = [w for w in self._workers.values() if w is not None]
        for worker in workers:
            with contextlib.suppress(Exception):
                worker.cancel()

    def close(self) -> None:
        """Close every worker; one still starting closes itself when ready (and a zygote
        also exits by itself once we are gone), so quitting never waits for torch."""
        with self._lock:
            self._closed = True
            workers = [w for w in self._workers.values() if w is not None]
            self._workers.clear()
        for worker in workers:
            _close_quietly(worker)


def _close_quietly(worker: Any) -> None:
    try:
        worker.close()
    except Exception:  # closing is best effort; the zygote also exits on EOF
        pass


def _lang(lang: str) -> str:
    return "zh" if lang == "zh" else "en"


def _first_recommendation(problem_id: str | None, track: str | None) -> Recommendation | None:
    from attn_drill.curriculum import Recommendation, recommend_next
    from attn_drill.problems import TRACKS, get_problem

    if track is not None and track not in TRACKS:
        raise UnknownTrackError(f"Unknown track {track!r}: use one of {', '.join(TRACKS)}.")
    if problem_id is None:
        return recommend_next(track)
    problem = get_problem(problem_id)
    track_name, _ = problem.track(track)
    return Recommendation(problem, track_name, "chosen")


def run_practice(problem_id: str | None, *, track: str | None, directory: Path | None,
                 lang: str, screen: PracticeScreen) -> int:
    """`attn-drill practice`: the interactive loop in this terminal, drawn on `screen` (the
    face's PracticeScreen). Returns the exit code."""
    import signal
    import sys

    from attn_drill import progress
    from attn_drill.curriculum import recommend_next
    from attn_drill.watch import FileWatcher, KeyReader, raw_terminal
    from attn_drill.workspace import DEFAULT_DIR

    if not _interactive():
        raise UsageError(NOT_A_TERMINAL[_lang(lang)])
    first = _first_recommendation(problem_id, track)
    if first is None:
        screen.say("all_done_exit", "green")
        return 0
    get_track(first.track).require()  # exit 2 with how to install the track's package
    workspace = (directory or DEFAULT_DIR).expanduser()
    try:
        workspace.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"Cannot create the workspace {workspace}: {exc.strerror or exc}"
                         ) from None

    events: queue.Queue[Event] = queue.Queue()
    watcher = FileWatcher(workspace, events)
    workers = WorkerPool()

    def grade(path: Path, problem: Problem, track_name: str) -> Any:
        from attn_drill.grading.grade import grade_file

        return grade_file(path, problem_id=problem.id, track=track_name, lang=lang,
                          runner=workers.runner(track_name))

    def on_enter(path: Path, _track_name: str) -> None:
        watcher.set_target(path)

    def on_shown(_path: Path, track_name: str) -> None:
        if watcher.error:
            screen.note("watch_error", error=watcher.error)
        # Start the grading process while the learner reads the statement.
        workers.warm(track_name)

    def list_rows() -> list[dict[str, object]]:
        from attn_drill.catalog import problem_rows

        return problem_rows(track=track, lang=lang)

    loop = PracticeLoop(
        first=first, directory=workspace, lang=lang, screen=screen, grade=grade,
        record=progress.record_grade,
        recommend=lambda exclude: recommend_next(track, exclude=exclude),
        on_enter=on_enter, on_shown=on_shown, list_rows=list_rows, clear_flag=progress.clear_flag,
        cancel=workers.cancel, has_passed=progress.has_passed,
    )

    def terminate(_signum: int, _frame: object) -> None:
        raise SystemExit(0)  # unwinds through the finally blocks: terminal restored

    previous = {sig: signal.signal(sig, terminate) for sig in (signal.SIGTERM, signal.SIGHUP)}
    fd = sys.stdin.fileno()
    keys = KeyReader(fd, events)
    try:
        with raw_terminal(fd):
            watcher.start()
            keys.start()
            try:
                return loop.run(events)
            except KeyboardInterrupt:  # e.g. SIGINT sent by another program
                screen.goodbye()
                return 0
    finally:
        keys.stop()
        watcher.stop()
        workers.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
