"""Grading a class: many submissions at once, through a pool of warm grading processes.

`discover` turns the paths a teacher gives into submissions (files found recursively in
directories, each with its student and problem), `run_batch` grades them with N threads, each
owning one warm worker per track (`grading.worker.WarmWorker`: a process that has imported
numpy/torch once and forks one fresh isolated child per grade, so every isolation rule of a
single grade holds per submission), and `BatchResult` holds what the JSON, CSV, summary and
exit code are made of.

With `--out DIR` every result is written as soon as it is known (one small JSON file per
submission, replaced atomically), so a batch that is interrupted or killed loses nothing that
had finished; `--resume` reloads those results instead of grading the same file again, as long
as the file, the options and the problem are unchanged.

Kept free of numpy/torch at import time; rich is never imported here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attn_drill import __version__
from attn_drill.errors import AttnDrillError, ExitCode, PackError, UsageError

if TYPE_CHECKING:
    from attn_drill.grading.report import GradeReport
    from attn_drill.problems import Problem

SUBMISSION_SUFFIXES = (".py", ".md", ".txt")
# Folders that never hold submissions: version control, caches, environments.
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "venv", ".venv", "site-packages"})
SEED_DOMAIN = b"attn-drill student seed v1"
RESULTS_DIR = "results"
HEADER_BYTES = 4096
THREAD_PREFIX = "attn-drill-batch"


# -- packs -----------------------------------------------------------------------------------


def load_problems(packs: Sequence[Path]) -> dict[str, Problem] | None:
    """Every problem of the built-in pack plus `packs` (the CLI passes
    `attn_drill.packs.extra_packs()`: --pack and ATTN_DRILL_PACKS); None when no external
    pack is used (the grader then parses only the YAML of the problem it grades)."""
    if not packs:
        return None
    from attn_drill.problems import builtin_problems, load_pack

    problems = dict(builtin_problems())
    for pack in packs:
        try:
            extra = load_pack(Path(pack))
        except PackError as exc:
            raise UsageError(f"{exc.message} (check it with: attn-drill validate {pack})") from None
        for problem_id, problem in extra.items():
            if problem_id in problems:
                raise UsageError(
                    f"Problem id {problem_id!r} of pack {pack} is already defined "
                    f"(in {problems[problem_id].pack_dir}); ids must be unique across packs.")
            problems[problem_id] = problem
    return problems


def problem_fingerprint(problem: Problem, track: str) -> str:
    """SHA-256 of the problem's YAML and of its reference for `track`: the same fingerprint
    means the same cases, checks and reference, so a regrade reproduces the result."""
    digest = hashlib.sha256()
    for path in (problem.source_path, problem.reference_path(track) if problem.pack_dir else None):
        if path is None:
            continue
        try:
            data = Path(path).read_bytes()
        except OSError:
            data = b""  # a text problem may have no reference file: the rubric is in the YAML
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


class ProblemCache(dict):  # type: ignore[type-arg]
    """The problems of a batch, each parsed once: for the built-in pack a problem is loaded
    from its own YAML the first time it is asked for (as one grade does), then kept."""

    def __init__(self, known: Iterable[Problem] = ()) -> None:
        super().__init__((problem.id, problem) for problem in known)
        self._lock = threading.Lock()

    def get(self, problem_id: str, default: Any = None) -> Any:  # type: ignore[override]
        try:
            return self[problem_id]
        except KeyError:
            return default

    def __missing__(self, problem_id: str) -> Problem:
        from attn_drill.grading.grade import _find_problem

        with self._lock:
            problem = _find_problem(problem_id, None)
            if problem is None:
                raise KeyError(problem_id)
            self[problem_id] = problem
            return problem

    def __iter__(self) -> Any:  # the whole pack, for "did you mean" suggestions
        from attn_drill.problems import builtin_problems

        return iter({**builtin_problems(), **dict(self.items())})


# -- students and seeds ----------------------------------------------------------------------


def student_seed(student: str, base_seed: int = 0) -> int:
    """A seed derived from the student's name with SHA-256 (stable across machines and runs,
    unlike Python's salted hash()); `base_seed` lets a teacher draw new cases each term."""
    digest = hashlib.sha256(
        SEED_DOMAIN + b"\0" + str(base_seed).encode() + b"\0" + student.encode("utf-8"))
    return int.from_bytes(digest.digest()[:8], "big") >> 1  # within --seed's 0 .. 2**63-1


def student_of(path: Path, root: Path | None) -> str:
    """The first path component below the directory given, or the folder holding a file given
    directly. A file lying directly in the directory given is its own student (its name
    without the suffix: `subs/alice.py` is alice's)."""
    if root is not None:
        relative = path.relative_to(root)
        return relative.parts[0] if len(relative.parts) > 1 else path.stem
    return path.resolve().parent.name or str(path.resolve().parent)


# -- discovery -------------------------------------------------------------------------------


@dataclass
class Submission:
    path: Path  # as found (the given directory joined with the relative path)
    student: str
    problem: Problem | None = None  # None: resolved (with its error) when it is graded
    header_track: str | None = None

    @property
    def file(self) -> str:
        return str(self.path)

    @property
    def key(self) -> str:
        """Names this submission's result in --out (stable across runs from any cwd)."""
        return hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:24]


@dataclass
class Discovery:
    submissions: list[Submission]
    skipped: list[str]


def _first_line(path: Path) -> str:
    if not path.is_file():  # a FIFO or a device: never opened here
        return ""
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEADER_BYTES)
    except OSError:
        return ""
    return head.decode("utf-8-sig", errors="replace").split("\n", 1)[0]


def _walk(directory: Path) -> Iterable[Path]:
    for current, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIPPED_DIRS)
        for name in sorted(filenames):
            path = Path(current) / name
            # Regular files only: opening a FIFO or a device found in a class folder would
            # block or never end.
            if (not name.startswith(".") and name.lower().endswith(SUBMISSION_SUFFIXES)
                    and path.is_file()):
                yield path


def discover(paths: Sequence[Path], *, problem_id: str | None,
             problems: dict[str, Problem] | None, exclude: Sequence[Path] = ()) -> Discovery:
    """Submissions under `paths`, in a stable order; files inside a directory whose problem
    cannot be told (a README, requirements.txt) are listed as skipped."""
    from attn_drill.errors import MissingFileError, UnknownProblemError
    from attn_drill.grading.grade import resolve_problem

    if problem_id is not None:  # an unknown --problem is a usage error before anything runs
        from attn_drill.grading.grade import _find_problem
        from attn_drill.problems import get_problem

        _find_problem(problem_id, problems) or get_problem(problem_id, problems)
    excluded = [e.resolve() for e in exclude]
    submissions: list[Submission] = []
    skipped: list[str] = []
    seen: set[Path] = set()
    for given in paths:
        given = Path(given)
        if not given.exists():
            raise MissingFileError(f"No such file or directory: {given}")
        candidates = [(p, given) for p in _walk(given)] if given.is_dir() else [(given, None)]
        for path, root in candidates:
            resolved = path.resolve()
            if resolved in seen or any(resolved.is_relative_to(e) for e in excluded):
                continue
            seen.add(resolved)
            submission = Submission(path, student_of(path, root))
            try:
                submission.problem, submission.header_track = resolve_problem(
                    path, _first_line(path), problem_id, problems)
            except UnknownProblemError:
                if root is not None:
                    skipped.append(str(path))
                    continue
                # A file named directly: reported as an error of that file when graded.
            submissions.append(submission)
    return Discovery(submissions, skipped)


# -- grading one submission --------------------------------------------------------------------


@dataclass(frozen=True)
class BatchOptions:
    problem_id: str | None = None
    track: str | None = None
    seed: int = 0
    seed_per_student: bool = False
    timeout: float = 10.0
    lang: str = "en"

    def signature(self) -> dict[str, Any]:
        """What must match for a kept result to stand for a new grade (--resume)."""
        return {"problem": self.problem_id, "track": self.track, "seed": self.seed,
                "seed_per_student": self.seed_per_student, "timeout": self.timeout,
                "lang": self.lang, "version": __version__}


def grade_submission(path: Path, *, problem_id: str | None, track: str | None, seed: int,
                     timeout: float, lang: str, problems: dict[str, Problem] | None,
                     runner_for: Callable[[str], Any] | None = None,
                     shared: dict[Any, Any] | None = None) -> GradeReport:
    """`grade_file` for one submission of a batch: external packs, and a runner chosen once
    the track is known (the warm worker of that track)."""
    from attn_drill.grading.grade import (
        TEXT_SUFFIXES,
        grade_code,
        grade_text,
        read_submission,
        resolve_problem,
        resolve_track,
    )

    started = time.perf_counter()
    path = Path(path)
    source = read_submission(path, text_answer=path.suffix.lower() in TEXT_SUFFIXES)
    problem, header_track = resolve_problem(path, source, problem_id, problems)
    track_name = resolve_track(problem, path, source, track, header_track)
    if track_name == "text":
        return grade_text(problem, path, source, seed=seed, lang=lang, started=started)
    if track_name == "torch":
        from attn_drill.errors import require_torch

        require_torch()
    runner = runner_for(track_name) if runner_for is not None else None
    if runner is None:
        from attn_drill.grading.grade import default_runner

        runner = default_runner()
    return grade_code(problem, track_name, path, source, seed=seed, timeout=timeout, lang=lang,
                      runner=runner, started=started, shared=shared)


def result_document(report: GradeReport, submission: Submission, *, seed_from_student: bool,
                    problems: dict[str, Problem] | None) -> dict[str, Any]:
    """The grade document plus what a class needs: file, student, fingerprint."""
    document = report.to_dict()
    document["file"] = submission.file
    document["student"] = submission.student
    document["fingerprint"] = fingerprint_of(report.problem, report.track, problems)
    document["seed_from_student"] = seed_from_student
    document["graded_at"] = _now()
    document["stdout"] = report.stdout  # already capped at a few KiB by the runner
    return document


def fingerprint_of(problem_id: str, track: str, problems: dict[str, Problem] | None) -> str:
    from attn_drill.grading.grade import _find_problem

    problem = _find_problem(problem_id, problems)
    if problem is None:
        return ""
    key = (problem_id, track, str(problem.source_path))
    with _FINGERPRINTS_LOCK:
        if key not in _fingerprints:
            _fingerprints[key] = problem_fingerprint(problem, track)
        return _fingerprints[key]


# Within one batch the pack does not change: each (problem, track) is hashed once.
_fingerprints: dict[tuple[str, str, str], str] = {}
_FINGERPRINTS_LOCK = threading.Lock()


def error_document(submission: Submission, code: ExitCode, message: str) -> dict[str, Any]:
    return {"file": submission.file, "student": submission.student,
            "error": {"exit_code": int(code), "message": message}, "graded_at": _now()}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# -- results kept in --out -------------------------------------------------------------------


class ResultStore:
    """One JSON file per finished submission under DIR/results/, written atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.results = self.directory / RESULTS_DIR
        try:
            self.results.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"--out {directory}: cannot create it ({exc.strerror or exc}).") from None

    def _path(self, submission: Submission) -> Path:
        return self.results / f"{submission.key}.json"

    def save(self, submission: Submission, source_sha256: str, options: dict[str, Any],
             document: dict[str, Any]) -> None:
        record = {"file": str(submission.path.resolve()), "source_sha256": source_sha256,
                  "options": options, "result": document}
        target = self._path(submission)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
        temporary.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, target)

    def load(self, submission: Submission, source_sha256: str, options: dict[str, Any]
             ) -> dict[str, Any] | None:
        """The kept result if it was graded from the same bytes with the same options."""
        try:
            record = json.loads(self._path(submission).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if (not isinstance(record, dict) or record.get("source_sha256") != source_sha256
                or record.get("options") != options or not isinstance(record.get("result"), dict)):
            return None
        result: dict[str, Any] = record["result"]
        fingerprint = result.get("fingerprint")
        if fingerprint and submission.problem is not None:
            track = result.get("track")
            if (isinstance(track, str) and track in submission.problem.tracks
                    and problem_fingerprint(submission.problem, track) != fingerprint):
                return None  # the problem changed since: grade again
        return result


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return ""
    return digest.hexdigest()


def default_jobs() -> int:
    """One worker per CPU this process may run on (a container's CPU set, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# -- the pool --------------------------------------------------------------------------------


class WorkerSlots:
    """Warm workers for the batch: each grading thread owns one per track, started when that
    thread first needs the track. `cancel_all` kills the grades in flight (interrupt)."""

    def __init__(self, factory: Callable[[str], Any] | None = None) -> None:
        self._factory = factory
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    def _create(self, track: str) -> Any:
        if self._factory is not None:
            return self._factory(track)
        from attn_drill.grading.worker import WarmWorker

        return WarmWorker(track)

    def runner(self, track: str) -> Any:
        workers: dict[str, Any] = getattr(self._local, "workers", None) or {}
        self._local.workers = workers
        if track not in workers:
            try:
                worker = self._create(track)
            except Exception:  # no warm process here: this thread grades with cold children
                worker = None
            workers[track] = worker
            if worker is not None:
                with self._lock:
                    self._all.append(worker)
        worker = workers[track]
        if worker is not None:
            target = worker.run
        else:
            from attn_drill.grading.runner import run_submission

            target = run_submission
        stopping = self.stopping

        def run(*args: Any, **kwargs: Any) -> Any:
            if stopping.is_set():
                raise _Stopped()
            return target(*args, **kwargs)

        return run

    def cancel_all(self) -> None:
        with self._lock:
            workers = list(self._all)
        for worker in workers:
            with contextlib.suppress(Exception):
                worker.cancel()

    def close_all(self) -> None:
        with self._lock:
            workers, self._all = list(self._all), []
        for worker in workers:
            with contextlib.suppress(Exception):
                worker.close()

    def peak_rss_bytes(self) -> list[int]:
        """Peak resident memory of each warm process so far (Linux; for benchmarks)."""
        peaks = []
        with self._lock:
            workers = list(self._all)
        for worker in workers:
            pid = getattr(worker, "pid", None)
            if pid is None:
                continue
            with contextlib.suppress(OSError, ValueError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]) * 1024)
        return peaks


class _Stopped(Exception):
    """The batch is stopping: this submission is not graded."""


@dataclass
class BatchResult:
    results: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reports: dict[str, GradeReport] = field(default_factory=dict)  # file -> report (graded now)
    resumed: int = 0
    interrupted: bool = False

    @property
    def summary(self) -> dict[str, int]:
        errors = sum(1 for r in self.results if "error" in r)
        passed = sum(1 for r in self.results if r.get("passed") is True)
        return {"total": len(self.results), "passed": passed,
                "failed": len(self.results) - passed - errors, "errors": errors}

    @property
    def exit_code(self) -> ExitCode:
        summary = self.summary
        return ExitCode.OK if summary["passed"] == summary["total"] else ExitCode.FAILED

    def to_dict(self) -> dict[str, Any]:
        return {"results": self.results, "skipped": self.skipped,
                "summary": {**self.summary, "per_problem": per_problem(self.results),
                            "misconceptions": common_misconceptions(self.results)}}


def per_problem(results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Passed / failed / errors for each (problem, track)."""
    table: dict[tuple[str, str], Counter[str]] = {}
    for result in results:
        if "error" in result:
            key = (str(result.get("problem") or "?"), str(result.get("track") or "?"))
            outcome = "errors"
        else:
            key = (str(result["problem"]), str(result["track"]))
            outcome = "passed" if result.get("passed") else "failed"
        table.setdefault(key, Counter())[outcome] += 1
    return [{"problem": problem, "track": track, "total": sum(counts.values()),
             "passed": counts["passed"], "failed": counts["failed"], "errors": counts["errors"]}
            for (problem, track), counts in sorted(table.items())]


def common_misconceptions(results: Iterable[dict[str, Any]], limit: int = 10
                          ) -> list[dict[str, Any]]:
    """The misconceptions diagnosed most often across the class (one count per submission)."""
    counts: Counter[tuple[str, str]] = Counter()
    titles: dict[tuple[str, str], str] = {}
    for result in results:
        if "error" in result:
            continue
        for item in result.get("diagnosis", []):
            key = (str(result["problem"]), str(item.get("id")))
            counts[key] += 1
            titles.setdefault(key, str(item.get("title") or ""))
    return [{"problem": problem, "id": misconception, "title": titles[(problem, misconception)],
             "count": count}
            for (problem, misconception), count in counts.most_common(limit)]


def run_batch(discovery: Discovery, options: BatchOptions, *, jobs: int,
              problems: dict[str, Problem] | None, store: ResultStore | None = None,
              resume: bool = False, on_result: Callable[[dict[str, Any]], None] | None = None,
              slots: WorkerSlots | None = None, keep_reports: bool = False) -> BatchResult:
    """Grade every submission with `jobs` threads and warm workers; results come back in the
    order of `discovery` whatever order they finish in. KeyboardInterrupt (SIGINT/SIGTERM)
    kills the grades in flight and every warm process before it propagates."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    submissions = discovery.submissions
    with _FINGERPRINTS_LOCK:
        _fingerprints.clear()  # the pack may have changed since an earlier batch
    if problems is None:
        problems = ProblemCache(s.problem for s in submissions if s.problem is not None)
    slots = slots or WorkerSlots()
    outcome = BatchResult(skipped=list(discovery.skipped))
    by_index: dict[int, dict[str, Any]] = {}
    signature = options.signature()
    todo: list[int] = []
    digests = [file_sha256(s.path) for s in submissions]
    for index, submission in enumerate(submissions):
        kept = store.load(submission, digests[index], signature) if (store and resume) else None
        if kept is not None:
            by_index[index] = kept
            outcome.resumed += 1
            if on_result is not None:
                on_result(kept)
        else:
            todo.append(index)

    # Cases, references and mutant outputs are computed once per problem and track when every
    # student gets the same seed (per-student seeds would keep one set per student).
    shared: dict[Any, Any] | None = None if options.seed_per_student else {}

    def grade_one(index: int) -> dict[str, Any]:
        submission = submissions[index]
        seed = (student_seed(submission.student, options.seed) if options.seed_per_student
                else options.seed)
        try:
            report = grade_submission(
                submission.path, problem_id=options.problem_id, track=options.track, seed=seed,
                timeout=options.timeout, lang=options.lang, problems=problems,
                runner_for=slots.runner, shared=shared)
        except _Stopped:
            raise
        except AttnDrillError as exc:
            return error_document(submission, exc.exit_code, exc.message)
        except Exception as exc:  # a bug of ours on this file: the others still get graded
            if slots.stopping.is_set():
                raise _Stopped() from None
            return error_document(
                submission, ExitCode.INTERNAL,
                f"internal error in attn-drill ({type(exc).__name__}: {exc}). This is a bug; "
                "please report it with the file that triggered it.")
        if slots.stopping.is_set():
            raise _Stopped()  # killed by the interrupt half way: not a real result
        document = result_document(report, submission, seed_from_student=options.seed_per_student,
                                   problems=problems)
        if keep_reports:
            outcome.reports[submission.file] = report
        return document

    def finish(index: int, document: dict[str, Any]) -> None:
        by_index[index] = document
        error = document.get("error")
        if store is not None and not (error and error.get("exit_code") == int(ExitCode.INTERNAL)):
            store.save(submissions[index], digests[index], signature, document)
        if on_result is not None:
            on_result(document)

    executor = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix=THREAD_PREFIX)
    try:
        pending = {executor.submit(grade_one, index): index for index in todo}
        while pending:
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                with contextlib.suppress(_Stopped):
                    finish(index, future.result())
        executor.shutdown(wait=True)
    except BaseException:
        outcome.interrupted = True
        _stop(slots, executor)
        raise
    finally:
        slots.close_all()
    outcome.results = [by_index[i] for i in sorted(by_index)]
    return outcome


def _stop(slots: WorkerSlots, executor: Any) -> None:
    """Interrupt: no new grade starts, grades in flight are killed until every thread ended."""
    slots.stopping.set()
    executor.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + 30
    threads = [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        slots.cancel_all()
        for thread in threads:
            thread.join(timeout=0.1)
