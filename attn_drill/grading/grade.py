"""`attn-drill grade FILE`: pick the problem and track, run the submission, check, diagnose.

The submission runs in an isolated child (`grading.runner.run_submission`); everything that
decides the verdict (references, comparisons, mutants) runs here in the parent. For torch
problems the child is started first and the parent imports torch and computes the references
while it runs (the machine has 2 cores).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attn_drill import __version__
from attn_drill.errors import UnknownProblemError, UnknownTrackError
from attn_drill.grading.submission import shown_path

if TYPE_CHECKING:
    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.grading.report import GradeReport
    from attn_drill.problems import Problem

Runner = Callable[..., Any]
TEXT_SUFFIXES = (".md", ".txt", ".markdown")


def run_object_in_process(target: Any, problem: Problem, track: str,
                          cases: list[ConcreteCase]) -> Any:
    """Run an already loaded callable on every case in this process (trusted code only:
    references and mutants for `validate`, in-process fakes in tests)."""
    import numpy as np

    from attn_drill.grading.harness import call
    from attn_drill.grading.runner import CaseRun, LearnerError, RunResult

    spec = problem.tracks[track]
    runs = []
    started = time.perf_counter()
    for case in cases:
        begin = time.perf_counter()
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                returned = call(target, spec, case, track, reference=False)
            runs.append(CaseRun(case.name, returned, None, time.perf_counter() - begin))
        except Exception as exc:
            error = LearnerError("exception", f"{type(exc).__name__}: {exc}",
                                 _outside_frames(exc))
            runs.append(CaseRun(case.name, None, error, time.perf_counter() - begin))
    return RunResult(cases=runs, fatal=None, stdout="", stderr="", output_truncated=False,
                      learner_seconds=time.perf_counter() - started, protections={})


def _outside_frames(exc: BaseException) -> str:
    """The traceback without attn-drill's own frames (what the learner's code did)."""
    import traceback

    package = str(Path(__file__).resolve().parents[1])
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(package) or "/pack/" in f.filename]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames),
             *traceback.format_exception_only(type(exc), exc)]
    return "".join(lines)


def run_in_process(source: Path, problem: Problem, track: str, cases: list[ConcreteCase], *,
                   timeout_s: float = 10.0) -> Any:
    """`run_submission`'s interface without the child process (trusted files only)."""
    from attn_drill.grading.harness import load_module_from_path
    from attn_drill.grading.runner import LearnerError, RunResult

    spec = problem.tracks[track]

    def failed(kind: str, message: str) -> RunResult:
        return RunResult(cases=[], fatal=LearnerError(kind, message), stdout="", stderr="",
                         output_truncated=False, learner_seconds=0.0, protections={})

    try:
        module = load_module_from_path(source, f"_attn_drill_inproc_{source.stem}")
    except SyntaxError as exc:
        return failed("syntax", f"{exc.msg} (line {exc.lineno})")
    except Exception as exc:
        return failed("import", f"{type(exc).__name__}: {exc}")
    target = getattr(module, spec.entry, None)
    if target is None:
        return failed("missing-name", f"no `{spec.entry}` is defined at the top level")
    return run_object_in_process(target, problem, track, cases)


def default_runner() -> Runner:
    from attn_drill.grading.runner import run_submission

    return run_submission


# -- picking the problem and the track -------------------------------------------------------


def read_submission(path: Path, *, text_answer: bool = False) -> str:
    """The file's text; exit 2 (MissingFileError) when it is missing, not a regular file,
    larger than 64 MiB or undecodable (see grading/submission.py)."""
    from attn_drill.grading.submission import read_submission as read

    return read(path, text_answer=text_answer)


def _find_problem(problem_id: str, problems: dict[str, Problem] | None) -> Problem | None:
    """One problem by id; with only the built-in pack, only its own YAML file is parsed (a
    grade does not need the other problems)."""
    import re

    from attn_drill.packs import extra_packs
    from attn_drill.problems import BUILTIN_PACK, KEBAB, load_problem_file, pack_problems

    if problems is None and extra_packs():
        problems = pack_problems()  # every pack, so an id clash is refused here too
    if problems is not None:
        return problems.get(problem_id)
    path = BUILTIN_PACK / "problems" / f"{problem_id}.yaml"
    if not re.match(KEBAB, problem_id) or not path.is_file():
        return None
    return load_problem_file(path, BUILTIN_PACK)


def resolve_problem(path: Path, source: str, problem_id: str | None,
                    problems: dict[str, Problem] | None = None) -> tuple[Problem, str | None]:
    """(problem, header track) from --problem, else the header, else the file name."""
    from attn_drill.problems import get_problem, parse_header

    first_line = source.splitlines()[0] if source else ""
    header_id, header_track = parse_header(first_line)
    named = problem_id if problem_id is not None else header_id
    if named is not None:
        return _find_problem(named, problems) or get_problem(named, problems), header_track
    stem = path.stem.replace("_", "-")
    candidates = [stem]
    for track in ("numpy", "torch", "text"):
        if stem.endswith(f"-{track}"):
            candidates.append(stem[: -len(track) - 1])
    for candidate in candidates:
        found = _find_problem(candidate, problems)
        if found is not None:
            return found, header_track
    raise UnknownProblemError(
        f"Cannot tell which problem {shown_path(path.name)} solves: {stem!r} is not a problem "
        "id. Pass --problem ID, or start the file with a line `# attn-drill: <id>`. Run "
        "`attn-drill list` to see the ids."
    )


def resolve_track(problem: Problem, path: Path, source: str, explicit: str | None,
                  header_track: str | None) -> str:
    from attn_drill.grading.checks import imports_torch
    from attn_drill.problems import TRACKS

    for given in (explicit, header_track):
        if given is not None:
            if given not in TRACKS:
                raise UnknownTrackError(
                    f"Unknown track {given!r}: use one of {', '.join(TRACKS)}.")
            return problem.track(given)[0]
    if len(problem.tracks) == 1:
        return next(iter(problem.tracks))
    if path.suffix.lower() in TEXT_SUFFIXES and "text" in problem.tracks:
        return "text"
    wanted = "torch" if imports_torch(source) else "numpy"
    return problem.track(wanted)[0]


# -- grading ---------------------------------------------------------------------------------


def grade_file(
    path: Path,
    *,
    problem_id: str | None = None,
    track: str | None = None,
    seed: int = 0,
    timeout: float = 10.0,
    lang: str = "en",
    runner: Runner | None = None,
) -> GradeReport:
    """Grade one submission file and return the full report (never raises for a bad
    submission; raises errors.py exceptions for usage problems)."""
    started = time.perf_counter()
    path = Path(path)
    _check_timeout(timeout)
    is_text_file = path.suffix.lower() in TEXT_SUFFIXES
    source = read_submission(path, text_answer=is_text_file)
    prestarted = None
    if runner is None and not is_text_file:
        # Start the child now: its interpreter start and numpy/torch imports overlap ours.
        import functools

        from attn_drill.grading.runner import prestart_child, run_submission
        from attn_drill.grading.tracks import TRACKS

        hint = _track_hint(source, track)
        prestarted = prestart_child(hint)
        runner = functools.partial(run_submission, prestarted=prestarted)
        if hint in TRACKS:
            # The parent needs the track's imports for the references: start them now,
            # beside the child's own, instead of after the problem is loaded.
            TRACKS[hint].import_in_background()
    try:
        problem, header_track = resolve_problem(path, source, problem_id)
        track_name = resolve_track(problem, path, source, track, header_track)
        if problem.tracks[track_name].call == "text":
            return grade_text(problem, path, source, seed=seed, lang=lang, started=started)
        from attn_drill.grading.tracks import get_track

        get_track(track_name).require()
        return grade_code(problem, track_name, path, source, seed=seed, timeout=timeout,
                          lang=lang, runner=runner or default_runner(), started=started)
    finally:
        if prestarted is not None:
            prestarted.discard()


def _check_timeout(timeout: float) -> None:
    """Any finite number of seconds above 0 (CONTRACT.md); the CLI checks it too, this is
    for callers of the library."""
    import math

    from attn_drill.errors import UsageError

    try:
        valid = math.isfinite(timeout) and timeout > 0
    except TypeError:
        valid = False
    if not valid:
        raise UsageError(f"--timeout must be a finite number of seconds above 0, not {timeout!r}.")


def _track_hint(source: str, explicit: str | None) -> str:
    """A cheap guess of the track, only to choose what the early child imports (a wrong
    guess costs time, never correctness: the child imports what its job needs)."""
    import re

    if explicit is not None:
        return explicit
    first_line = source.split("\n", 1)[0]
    header = re.search(r"track=(\w+)", first_line) if "attn-drill:" in first_line else None
    if header is not None:
        return header.group(1)
    return "torch" if re.search(r"^\s*(import|from)\s+torch\b", source, re.MULTILINE) else "numpy"


@dataclass
class SharedCases:
    """What every grade of one (problem, track, seed) computes alike: the cases, the
    references and the mutants' outputs on them. A batch grading many files with one seed
    computes them once (`grade_code(..., shared=...)`); nothing in a grade modifies them."""

    cases: list[ConcreteCase]
    extra: list[ConcreteCase]
    derived: dict[str, Any]
    references: dict[str, Any]
    mutant_cache: dict[str, Any] = field(default_factory=dict)


def grade_code(problem: Problem, track: str, path: Path, source: str, *, seed: int,
               timeout: float, lang: str, runner: Runner, started: float,
               shared: dict[tuple[str, str, str, int], SharedCases] | None = None
               ) -> GradeReport:
    from concurrent.futures import ThreadPoolExecutor

    from attn_drill.grading.cases import build_cases
    from attn_drill.grading.checks import compute_references, run_checks, signature_problem
    from attn_drill.grading.diagnosis import diagnose
    from attn_drill.grading.properties import derive_cases

    spec = problem.tracks[track]
    key = (problem.id, str(problem.source_path), track, seed)
    known = shared.get(key) if shared is not None else None
    if known is not None:
        cases, extra, derived = known.cases, known.extra, known.derived
    else:
        cases = build_cases(spec, seed)
        extra, derived = derive_cases(spec, cases, seed)
    all_cases = cases + extra
    # The child starts first; the parent computes the references (and, for torch, pays the
    # torch import) while the learner's code runs.
    from attn_drill.grading.streams import MEMORY_TAG

    # Large cases (tagged memory) wait for the child: a big matrix product here runs on
    # OpenBLAS's worker threads, and a fork by the runner thread meanwhile can hang both.
    heavy = [c for c in all_cases if MEMORY_TAG in c.tags]
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(runner, path.resolve(), problem, track, all_cases,
                             timeout_s=timeout)
        references = (known.references if known is not None
                      else compute_references(problem, track, [
                          c for c in all_cases if MEMORY_TAG not in c.tags]))
        run = future.result()
    if known is None and heavy:
        references.update(compute_references(problem, track, heavy))
    if shared is not None and known is None:
        known = shared.setdefault(key, SharedCases(cases, extra, derived, references))
    ev = evaluation_from_run(problem, track, seed, all_cases, derived, references, run,
                             signature_problem(source, spec, cases), timeout)
    ev.source = source
    if known is not None:
        ev.mutant_cache = known.mutant_cache
    # Message ids, written in `lang` with the ids kept (the diagnosis reads the text too).
    checks = run_checks(ev, lang)
    diagnosis = diagnose(ev, checks, lang)
    return build_report(ev, run, checks, diagnosis, path=path, lang=lang, started=started)


def evaluation_from_run(problem: Problem, track: str, seed: int, cases: list[ConcreteCase],
                        derived: dict[str, Any], references: dict[str, Any], run: Any,
                        signature_issue: str | None, timeout: float) -> Any:
    """The checks' view of one run (shared by grade and validate)."""
    from attn_drill.grading.checks import CaseOutcome, Evaluation

    outcomes = {
        case_run.name: CaseOutcome(returned=case_run.returned, error=case_run.error)
        for case_run in run.cases
    }
    return Evaluation(
        problem=problem, track=track, spec=problem.tracks[track], seed=seed, cases=cases,
        derived=derived, outcomes=outcomes, references=references, fatal=run.fatal,
        signature_problem=signature_issue, timeout_s=timeout,
    )


def _first_error(run: Any) -> Any:
    if run.fatal is not None:
        return run.fatal
    for case_run in run.cases:
        if case_run.error is not None:
            return case_run.error
    return None


def build_report(ev: Any, run: Any, checks: list[Any], diagnosis: list[Any], *, path: Path,
                 lang: str, started: float) -> GradeReport:
    from attn_drill.grading.report import GradeReport, score_of
    from attn_drill.grading.savecases import failing_cases

    for check in checks:
        check.localise(lang)
    passed, score = score_of(checks)
    error = _first_error(run)
    protections = getattr(run, "protections", {}) or {}
    report = GradeReport(
        problem=ev.problem.id,
        track=ev.track,
        passed=passed,
        score=score,
        seed=ev.seed,
        version=__version__,
        duration_s=0.0,
        checks=checks,
        diagnosis=diagnosis,
        problem_version=ev.problem.version,
        file=shown_path(path),
        entry=ev.spec.entry,
        call=ev.spec.call,
        lang=lang,
        title=ev.problem.title.get(lang),
        learner_seconds=float(getattr(run, "learner_seconds", 0.0) or 0.0),
        stdout=getattr(run, "stdout", "") or "",
        stderr=getattr(run, "stderr", "") or "",
        output_truncated=bool(getattr(run, "output_truncated", False)),
        error_kind=getattr(error, "kind", "") if error is not None else "",
        learner_traceback=getattr(error, "traceback", "") if error is not None else "",
        protections_off=sorted(k for k, on in protections.items() if not on),
    )
    report.failing_cases = failing_cases(ev, checks)
    report.duration_s = time.perf_counter() - started
    return report


def grade_text(problem: Problem, path: Path, source: str, *, seed: int, lang: str,
               started: float) -> GradeReport:
    """The text track: the answer is graded against the problem's rubric (no child process)."""
    from attn_drill.grading.report import CheckResult, Diagnosis, GradeReport, score_of
    from attn_drill.grading.rubric import grade_answer
    from attn_drill.messages import msg
    from attn_drill.problems import parse_header

    lines = source.splitlines()
    if lines and parse_header(lines[0])[0] is not None:
        lines = lines[1:]
    answer = "\n".join(lines).strip()
    assert problem.rubric is not None  # the schema guarantees a rubric for text tracks
    result = grade_answer(answer, problem.rubric, lang)
    checks: list[CheckResult] = []
    if result.too_short:
        checks.append(CheckResult(
            msg("text.length"), False, msg("text.too-short", chars=problem.rubric.min_chars),
            kind="text:length"))
    for point in result.points:
        checks.append(CheckResult(
            point.label, bool(point.met),
            "" if point.met else msg("text.missing", advice=point.advice),
            required=bool(point.required), kind=f"rubric:{point.id}"))
    checks.append(CheckResult(
        msg("text.threshold"), bool(result.passed),
        result.message or msg("text.score", score=result.score, threshold=result.threshold),
        kind="text:threshold"))
    for check in checks:
        check.localise(lang)
    passed, score = score_of(checks)
    diagnosis = []
    for misconception_id in getattr(result, "diagnosis", []) or []:
        known = problem.misconception(misconception_id)
        if known is not None:
            diagnosis.append(Diagnosis(
                id=known.id, message=known.explanation.get(lang).strip(),
                title=known.title.get(lang), hint=known.hint))
    report = GradeReport(
        problem=problem.id, track="text", passed=passed and bool(result.passed), score=score,
        seed=seed, version=__version__, duration_s=0.0, checks=checks, diagnosis=diagnosis,
        problem_version=problem.version, file=shown_path(path), call="text", lang=lang,
        title=problem.title.get(lang),
    )
    report.duration_s = time.perf_counter() - started
    return report
