"""The `attn-drill` command line: parse arguments, call the library, render. Nothing else.

Heavy imports (numpy, torch, pydantic, yaml) happen inside the commands that need them, so
`attn-drill --help` stays fast. `_guarded` is the one place that turns errors into exit codes.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
import typer.core

from attn_drill import __version__
from attn_drill.errors import AttnDrillError, ExitCode

# click's UsageError (typer may bundle its own click): the base of every bad-flag error.
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class _JsonUsageErrors(typer.core.TyperGroup):
    """Bad flags are found by click before a command runs; with `--json` the error still
    comes as the one JSON document on stdout (CONTRACT: every exit-2 path under --json)."""

    def invoke(self, ctx: Any) -> Any:
        protected = vars(ctx).get("_protected_args")  # click >= 8.2
        if protected is None:
            protected = getattr(ctx, "protected_args", [])
        words = [*protected, *ctx.args]  # read now: invoke() empties them
        try:
            return super().invoke(ctx)
        except _USAGE_ERROR as exc:
            if "--json" in words:
                from attn_drill.render import print_json

                print_json({"error": {"exit_code": int(ExitCode.USAGE),
                                      "message": exc.format_message()}})
            raise


app = typer.Typer(
    name="attn-drill",
    help="Practise attention mechanisms and get graded: problems, a strict grader with "
    "misconception feedback, a guided practice loop and spaced-repetition quizzes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_JsonUsageErrors,
)

F = TypeVar("F", bound=Callable[..., Any])

LangOpt = typer.Option(None, "--lang", help="Content language: en or zh.")
TrackOpt = typer.Option(None, "--track", help="Track: numpy, torch or text.")
JsonOpt = typer.Option(False, "--json", help="Print one JSON document on stdout, nothing else.")
DirOpt = typer.Option(None, "--dir", help="Workspace directory (default ./attn-drill-work).")
PackOpt = typer.Option(
    None, "--pack", metavar="DIR",
    help="Also use the problem pack in DIR (repeatable; ATTN_DRILL_PACKS adds more).",
)


def _guarded(func: F) -> F:
    """Map domain errors to their exit code and any other exception to exit 3; a command's
    `--pack` directories (none for commands without the option) are made active
    (attn_drill.packs) before it runs."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            from attn_drill.packs import use_packs

            use_packs(kwargs.get("packs"))  # each command sees exactly its own --pack dirs
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except AttnDrillError as exc:
            _report_error(exc.message, exc.exit_code, as_json=bool(kwargs.get("as_json")))
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except Exception as exc:  # a bug of ours: short message, never a traceback
            _report_error(
                f"internal error in attn-drill ({type(exc).__name__}: {exc}). This is a bug; "
                "please report it with the command you ran.",
                ExitCode.INTERNAL,
                as_json=bool(kwargs.get("as_json")),
            )
            raise typer.Exit(int(ExitCode.INTERNAL)) from None

    return wrapper  # type: ignore[return-value]


def _report_error(message: str, code: ExitCode, *, as_json: bool) -> None:
    """The message on stderr; with --json also one error document on stdout, so a program
    reading stdout always gets exactly one JSON document."""
    from attn_drill.render import error, print_json

    error(message)
    if as_json:
        print_json({"error": {"exit_code": int(code), "message": message}})


def _positive_seconds(value: float) -> float:
    import math

    if not math.isfinite(value) or value <= 0:
        raise typer.BadParameter("must be a finite number of seconds above 0")
    return value


def _version(value: bool) -> None:
    if value:
        typer.echo(f"attn-drill {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """attn-drill: practise and get graded on attention mechanisms."""


# -- problems ----------------------------------------------------------------------------


@app.command("list")
@_guarded
def list_cmd(
    track: str | None = typer.Option(None, "--track", help="Only problems with this track."),
    topic: str | None = typer.Option(None, "--topic", help="Only problems on this topic."),
    difficulty: str | None = typer.Option(None, "--difficulty", help="easy, medium or hard."),
    status: str | None = typer.Option(None, "--status", help="todo, attempted or passed."),
    lang: str | None = LangOpt,
    as_json: bool = JsonOpt,
    packs: list[Path] | None = PackOpt,
) -> None:
    """List the problems with your progress."""
    from attn_drill.catalog import problem_rows
    from attn_drill.settings import resolve_lang

    language = resolve_lang(lang)
    rows = problem_rows(
        track=track, topic=topic, difficulty=difficulty, status=status, lang=language
    )
    if as_json:
        from attn_drill.render import print_json

        print_json(rows)
        return
    from attn_drill.render.problem import problem_table

    problem_table(rows, language, status=status)


@app.command("show")
@_guarded
def show_cmd(
    problem_id: str = typer.Argument(..., metavar="ID", help="Problem id (see `list`)."),
    track: str | None = TrackOpt,
    lang: str | None = LangOpt,
    packs: list[Path] | None = PackOpt,
) -> None:
    """Show a problem: task, formula, signature and shapes, a worked example, constraints."""
    from attn_drill.problems import get_problem
    from attn_drill.render.problem import problem_statement
    from attn_drill.settings import resolve_lang

    language = resolve_lang(lang)
    problem = get_problem(problem_id)
    track_name, _ = problem.track(track)
    problem_statement(problem, track_name, language)


@app.command("start")
@_guarded
def start_cmd(
    problem_id: str = typer.Argument(..., metavar="ID", help="Problem id (see `list`)."),
    track: str | None = TrackOpt,
    directory: Path | None = DirOpt,
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    lang: str | None = LangOpt,
    packs: list[Path] | None = PackOpt,
) -> None:
    """Write a starter file for a problem (never overwrites without --force)."""
    from attn_drill.grading.tracks import get_track
    from attn_drill.problems import get_problem
    from attn_drill.render import info
    from attn_drill.render.problem import next_step
    from attn_drill.settings import resolve_lang
    from attn_drill.workspace import write_starter

    language = resolve_lang(lang)
    problem = get_problem(problem_id)
    track_name, _ = problem.track(track)
    get_track(track_name).require()  # exit 2 with how to install its optional package
    path = write_starter(problem, track_name, directory, force=force, lang=language)
    info(("Wrote " if language == "en" else "已写入 ") + str(path))
    next_step(f"attn-drill grade {path}", language)


# -- grading -----------------------------------------------------------------------------


@app.command("grade")
@_guarded
def grade_cmd(
    paths: list[Path] = typer.Argument(
        ..., metavar="PATH...", help="Your solution (.py, or .md/.txt for text problems); "
        "several files or directories grade a class (batch mode)."),
    problem_id: str | None = typer.Option(None, "--problem", help="Problem id."),
    track: str | None = TrackOpt,
    seed: int = typer.Option(0, "--seed", min=0, max=2**63 - 1,
                             help="Seed of the random cases (0 or more)."),
    timeout: float = typer.Option(10.0, "--timeout", callback=_positive_seconds,
                                  help="Seconds allowed in your code, all cases together."),
    lang: str | None = LangOpt,
    no_record: bool = typer.Option(False, "--no-record", help="Leave progress untouched."),
    save_cases: Path | None = typer.Option(
        None, "--save-cases", help="Write each failing case (.npy + a snippet) here."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v",
                                 help="Show every check in detail, not only the first failure."),
    as_json: bool = JsonOpt,
    jobs: int | None = typer.Option(None, "--jobs", "-j", min=1, max=256,
                                    help="Submissions graded at once (default: CPU count)."),
    csv_path: Path | None = typer.Option(None, "--csv", help="Write one CSV row per submission."),
    out_dir: Path | None = typer.Option(
        None, "--out", help="Keep each result in this directory as it finishes."),
    resume: bool = typer.Option(False, "--resume",
                                help="Skip submissions already graded in --out."),
    seed_per_student: bool = typer.Option(
        False, "--seed-per-student", help="Derive each student's seed from their name."),
    student: str | None = typer.Option(None, "--student",
                                       help="Grade every file as this student's."),
    fmt: str | None = typer.Option(None, "--format",
                                   help="Also write exercism, junit or gradescope results."),
    output: Path | None = typer.Option(None, "--output", help="Where --format writes."),
    expect: list[str] | None = typer.Option(
        None, "--expect", help="A problem the submission must contain (gradescope format)."),
    points: float = typer.Option(1.0, "--points", min=0.0,
                                 help="Points per problem (gradescope format)."),
    packs: list[Path] | None = PackOpt,
) -> None:
    """Grade a solution against the reference and explain what went wrong; with several
    files or a directory, grade a whole class."""
    from attn_drill.errors import UsageError
    from attn_drill.packs import extra_packs
    from attn_drill.settings import resolve_lang

    language = resolve_lang(lang)
    if fmt is not None:
        from attn_drill.formats import FORMATS

        if fmt not in FORMATS:
            raise UsageError(f"Unknown --format {fmt!r}: use one of {', '.join(FORMATS)}.")
        if output is None:
            raise UsageError(f"--format {fmt} needs --output PATH (where to write it).")
    if resume and out_dir is None:
        raise UsageError("--resume needs --out DIR (where the finished results are kept).")
    batch = (len(paths) > 1 or any(p.is_dir() for p in paths) or csv_path is not None
             or out_dir is not None or fmt == "gradescope")
    if batch:
        _grade_batch(paths, problem_id=problem_id, track=track, seed=seed, timeout=timeout,
                     lang=language, save_cases=save_cases, as_json=as_json, jobs=jobs,
                     csv_path=csv_path, out_dir=out_dir, resume=resume,
                     seed_per_student=seed_per_student, student=student, fmt=fmt,
                     output=output, expect=expect or [], points=points,
                     packs=list(extra_packs()))
        return
    file = paths[0]
    if seed_per_student:
        from attn_drill.batch import student_of, student_seed

        seed = student_seed(student or student_of(file, None), seed)
    from attn_drill.grading.grade import grade_file

    report = grade_file(
        file, problem_id=problem_id, track=track, seed=seed, timeout=timeout, lang=language
    )
    store_error: AttnDrillError | None = None
    if not no_record:
        from attn_drill.progress import record_grade

        try:
            record_grade(report)
        except AttnDrillError as exc:
            # The learner still sees their grade; the store problem is reported after it.
            store_error = exc
    if save_cases is not None:
        from attn_drill.grading.savecases import save_failing_cases

        save_failing_cases(report, save_cases)
    if fmt is not None and output is not None:
        from attn_drill.batch import Submission, result_document, student_of
        from attn_drill.formats import write_documents

        one = Submission(file, student or student_of(file, None))
        write_documents([result_document(report, one, seed_from_student=seed_per_student,
                                         problems=None)], fmt, output, several=False)
    if as_json:
        from attn_drill.render import print_json

        print_json(report.to_dict())
    else:
        from attn_drill.render.report import grade_report

        grade_report(report, language, verbose=verbose)
    if store_error is not None:
        raise store_error
    raise typer.Exit(int(ExitCode.OK if report.passed else ExitCode.FAILED))


def _grade_batch(paths: list[Path], *, problem_id: str | None, track: str | None, seed: int,
                 timeout: float, lang: str, save_cases: Path | None, as_json: bool,
                 jobs: int | None, csv_path: Path | None, out_dir: Path | None, resume: bool,
                 seed_per_student: bool, student: str | None, fmt: str | None,
                 output: Path | None, expect: list[str], points: float,
                 packs: list[Path]) -> None:
    """Batch mode of `grade`: no progress is recorded (a teacher grades others' files)."""
    import signal
    import time

    from attn_drill.batch import (
        BatchOptions,
        ResultStore,
        default_jobs,
        discover,
        load_problems,
        run_batch,
    )
    from attn_drill.errors import UsageError
    from attn_drill.render.batch import BatchProgress, batch_summary, written

    started = time.perf_counter()
    problems = load_problems(packs)
    exclude = [p for p in (out_dir, output if fmt not in (None, "gradescope") else None) if p]
    discovery = discover(paths, problem_id=problem_id, problems=problems, exclude=exclude)
    if student is not None:
        for submission in discovery.submissions:
            submission.student = student
    if not discovery.submissions and fmt != "gradescope":
        skipped = f" ({len(discovery.skipped)} file(s) skipped: no problem could be told from " \
            "their name or first line; pass --problem ID)" if discovery.skipped else ""
        raise UsageError(f"No submissions to grade in {', '.join(map(str, paths))}{skipped}.")
    store = ResultStore(out_dir) if out_dir is not None else None
    options = BatchOptions(problem_id=problem_id, track=track, seed=seed,
                           seed_per_student=seed_per_student, timeout=timeout, lang=lang)

    def terminate(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # the same clean stop as Ctrl-C

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        with BatchProgress(len(discovery.submissions), lang) as bar:
            outcome = run_batch(discovery, options, jobs=jobs or default_jobs(),
                                problems=problems, store=store, resume=resume,
                                on_result=bar.advance, keep_reports=save_cases is not None)
    except KeyboardInterrupt:
        from attn_drill.render import error, print_json

        kept = f"; finished results are kept in {out_dir}: rerun with --resume" if out_dir else ""
        error(f"interrupted{kept}.")
        if as_json:
            print_json({"error": {"exit_code": 130, "message": f"interrupted{kept}."}})
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if csv_path is not None:
        from attn_drill.formats import csv_text

        try:
            csv_path.write_text(csv_text(outcome.results), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--csv {csv_path}: cannot write ({exc.strerror or exc}).") from None
    if fmt is not None and output is not None:
        from attn_drill.formats import write_documents

        # One submission and a file name (e.g. an exercism runner's results.json): one file.
        several = not (len(outcome.results) == 1 and output.suffix in (".json", ".xml"))
        write_documents(outcome.results, fmt, output, several=several, expected=expect,
                        points=points, execution_time=time.perf_counter() - started)
    if save_cases is not None:
        from attn_drill.formats import output_name
        from attn_drill.grading.savecases import save_failing_cases

        taken: set[str] = set()
        for result in outcome.results:
            report = outcome.reports.get(str(result.get("file")))
            if report is not None and not report.passed:
                save_failing_cases(report, save_cases / output_name(result, taken))
    if as_json:
        from attn_drill.render import print_json

        print_json(outcome.to_dict())
    else:
        batch_summary(outcome, lang, out_dir=str(out_dir) if out_dir else None)
        for path in (csv_path, output):
            if path is not None:
                written(str(path), lang)
    raise typer.Exit(int(outcome.exit_code))


export_app = typer.Typer(help="Export problems for other graders (Gradescope).",
                         no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("gradescope")
@_guarded
def export_gradescope_cmd(
    problem_ids: list[str] = typer.Argument(..., metavar="ID...", help="Problems to grade."),
    output: Path = typer.Option(..., "--output", "-o", help="The autograder zip to write."),
    track: str | None = TrackOpt,
    timeout: float = typer.Option(10.0, "--timeout", callback=_positive_seconds,
                                  help="Seconds allowed in a submission, all cases together."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**63 - 1, help="Seed of the cases."),
    seed_per_student: bool = typer.Option(
        False, "--seed-per-student", help="Derive each student's seed from their Gradescope "
        "account (submission_metadata.json)."),
    points: float = typer.Option(1.0, "--points", min=0.0, help="Points per problem."),
    wheel: Path | None = typer.Option(
        None, "--wheel", help="An attn-drill wheel to bundle (default: built from this source)."),
    lang: str | None = LangOpt,
    packs: list[Path] | None = PackOpt,
) -> None:
    """Build a Gradescope autograder zip (setup.sh, run_autograder, wheel, packs)."""
    from attn_drill.batch import load_problems
    from attn_drill.gradescope import AutograderSpec, export_gradescope
    from attn_drill.packs import extra_packs
    from attn_drill.render.batch import written
    from attn_drill.settings import resolve_lang

    language = resolve_lang(lang)
    extra = list(extra_packs())  # --pack (made active by _guarded) and ATTN_DRILL_PACKS
    spec = AutograderSpec(problem_ids=tuple(problem_ids), track=track, timeout=timeout,
                          seed=seed, seed_per_student=seed_per_student, points=points,
                          lang=language)
    path = export_gradescope(spec, output, packs=extra, problems=load_problems(extra),
                             wheel=wheel)
    written(str(path), language)


@app.command("validate")
@_guarded
def validate_cmd(
    path: Path | None = typer.Argument(
        None, help="A problem pack directory (default: the built-in pack)."
    ),
    as_json: bool = JsonOpt,
    packs: list[Path] | None = PackOpt,
) -> None:
    """Check a problem pack (and every --pack): each pack rule, references pass, every mutant
    fails as itself. Without PATH: the built-in pack and the extra packs in use."""
    from attn_drill.grading.validate import validate_pack
    from attn_drill.packs import extra_packs

    result = validate_pack(path, extra=extra_packs() if path is None else packs or ())
    if as_json:
        from attn_drill.render import print_json

        print_json(result.to_dict())
    else:
        from attn_drill.render.report import validation_report

        validation_report(result)
    raise typer.Exit(int(ExitCode.OK if result.ok else ExitCode.FAILED))


# -- the learner's loop ------------------------------------------------------------------


@app.command("practice")
@_guarded
def practice_cmd(
    problem_id: str | None = typer.Argument(None, metavar="ID", help="Problem to practise."),
    track: str | None = TrackOpt,
    directory: Path | None = DirOpt,
    lang: str | None = LangOpt,
    packs: list[Path] | None = PackOpt,
) -> None:
    """Guided loop: next problem, scaffold a file, re-grade on save, hints, reveal after a pass."""
    from attn_drill.practice import run_practice
    from attn_drill.render.practice import PracticeScreen
    from attn_drill.settings import resolve_lang

    language = resolve_lang(lang)
    code = run_practice(problem_id, track=track, directory=directory, lang=language,
                        screen=PracticeScreen(language))
    raise typer.Exit(int(code))


@app.command("hint")
@_guarded
def hint_cmd(
    problem_id: str = typer.Argument(..., metavar="ID", help="Problem id."),
    lang: str | None = LangOpt,
    packs: list[Path] | None = PackOpt,
) -> None:
    """Show the next hint for a problem (one more level each time)."""
    from attn_drill.practice import next_hint
    from attn_drill.problems import get_problem
    from attn_drill.render.practice import hint_panel
    from attn_drill.settings import resolve_lang

    language = resolve_lang(lang)
    problem = get_problem(problem_id)
    hint_panel(next_hint(problem), problem, language)


@app.command("solution")
@_guarded
def solution_cmd(
    problem_id: str = typer.Argument(..., metavar="ID", help="Problem id."),
    track: str | None = TrackOpt,
    yes: bool = typer.Option(False, "--yes", help="Reveal without asking."),
    plain: bool = typer.Option(False, "--plain", help="Print only the source code."),
    lang: str | None = LangOpt,
    packs: list[Path] | None = PackOpt,
) -> None:
    """Show the reference solution (after a pass, or after you confirm)."""
    from attn_drill.practice import reveal_solution
    from attn_drill.render.practice import CommandScreen
    from attn_drill.settings import resolve_lang

    language = resolve_lang(lang)
    code = reveal_solution(problem_id, track=track, yes=yes, plain=plain, lang=language,
                           view=CommandScreen(language))
    raise typer.Exit(int(code))


@app.command("reset")
@_guarded
def reset_cmd(
    problem_id: str = typer.Argument(..., metavar="ID", help="Problem id."),
    track: str | None = TrackOpt,
    directory: Path | None = DirOpt,
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    lang: str | None = LangOpt,
    packs: list[Path] | None = PackOpt,
) -> None:
    """Restore the starter file, keeping a backup of yours."""
    from attn_drill.practice import reset_problem
    from attn_drill.render.practice import CommandScreen
    from attn_drill.settings import resolve_lang

    language = resolve_lang(lang)
    code = reset_problem(problem_id, track=track, directory=directory, yes=yes, lang=language,
                         view=CommandScreen(language))
    raise typer.Exit(int(code))


# -- self-study ----------------------------------------------------------------------------


@app.command("quiz")
@_guarded
def quiz_cmd(
    topic: str | None = typer.Option(None, "--topic", help="Only questions on this topic."),
    count: int = typer.Option(10, "-n", help="Number of questions."),
    lang: str | None = LangOpt,
    seed: int | None = typer.Option(None, "--seed", help="Seed for order and generated items."),
    list_bank: bool = typer.Option(False, "--list", help="List the question bank."),
    question: str | None = typer.Option(
        None, "--question", help="Ask only this question (an id from --list); without a "
        "terminal the answer is the first line of stdin."
    ),
    no_record: bool = typer.Option(
        False, "--no-record", help="With --question: check the answer without recording it."
    ),
    as_json: bool = JsonOpt,
    packs: list[Path] | None = PackOpt,
) -> None:
    """Spaced-repetition quiz on attention concepts (reads answers from stdin when piped)."""
    from attn_drill.errors import UsageError
    from attn_drill.quiz.bank import pack_bank
    from attn_drill.quiz.session import bank_rows, run_question_command, run_quiz_command
    from attn_drill.render import quiz as quiz_view
    from attn_drill.settings import resolve_lang
    from attn_drill.watch import stdin_is_terminal

    language = resolve_lang(lang)
    if list_bank:
        bank = pack_bank()
        rows = bank_rows(bank, topic)
        if as_json:
            from attn_drill.render import print_json

            print_json(rows)
        else:
            quiz_view.bank_table(rows, bank, language)
        return
    if question is not None:
        terminal = stdin_is_terminal()
        document = run_question_command(
            question_id=question, lang=language, seed=seed, as_json=as_json,
            record=not no_record, view=quiz_view,
            answer_input=quiz_view.TerminalInput() if terminal and not as_json
            else quiz_view.FirstLineInput(),
            show_question=terminal,
        )
        if document is not None:
            from attn_drill.render import print_json

            print_json(document)
        raise typer.Exit(0)
    if as_json:
        raise UsageError("--json goes with --list or --question (the quiz itself is "
                         "interactive).")
    answers = quiz_view.TerminalInput() if stdin_is_terminal() else quiz_view.PipedInput()
    code = run_quiz_command(topic=topic, count=count, lang=language, seed=seed,
                            view=quiz_view, answer_input=answers)
    raise typer.Exit(int(code))


@app.command("lab")
@_guarded
def lab_cmd(
    experiment: str = typer.Argument(..., metavar="LAB", help="Which lab: sqrt-dk."),
    d_k: str = typer.Option("16,64,256,1024", "--d-k", help="Comma-separated d_k values."),
    samples: int = typer.Option(20_000, "--samples", help="Random q·k samples per d_k."),
    keys: int = typer.Option(64, "--keys", help="Keys per softmax row."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives the same numbers."),
    lang: str | None = LangOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Measure live why attention scales by 1/√d_k: score variance, saturation, gradients."""
    from attn_drill.lab import check_experiment, parse_d_k, sqrt_dk
    from attn_drill.settings import resolve_lang

    check_experiment(experiment)
    rows = sqrt_dk(parse_d_k(d_k), samples=samples, keys=keys, seed=seed)
    if as_json:
        from attn_drill.render import print_json

        print_json({"rows": [row.as_dict() for row in rows]})
        return
    from attn_drill.render.lab import sqrt_dk_view

    sqrt_dk_view(rows, samples=samples, keys=keys, seed=seed, lang=resolve_lang(lang))


@app.command("progress")
@_guarded
def progress_cmd(
    lang: str | None = LangOpt,
    as_json: bool = JsonOpt,
    reset_corrupt: bool = typer.Option(
        False, "--reset-corrupt", help="If the progress database is corrupt, keep a copy of it "
        "and start a fresh one."
    ),
) -> None:
    """Your progress: solved problems per topic and track, streak, weak spots, cards due."""
    from attn_drill.settings import resolve_lang
    from attn_drill.summary import progress_summary

    language = resolve_lang(lang)
    summary = progress_summary(reset_corrupt=reset_corrupt)
    if as_json:
        from attn_drill.render import print_json

        print_json(summary.to_contract_json())
        return
    from attn_drill.render.progress import progress_view

    progress_view(summary, language)


@app.command("config")
@_guarded
def config_cmd(
    key: str | None = typer.Argument(None, help="Setting name, e.g. lang; omit to list all."),
    value: str | None = typer.Argument(None, help="New value; omit to read."),
) -> None:
    """List, read or set settings (e.g. `attn-drill config lang zh`)."""
    from attn_drill.settings import KNOWN_KEYS, get_setting, set_setting

    if key is None:
        from attn_drill.settings import resolve_lang

        # Every setting, its value, where the value comes from, and what it may be.
        for name, allowed in KNOWN_KEYS.items():
            saved = get_setting(name)
            shown = saved if saved is not None else (resolve_lang() if name == "lang" else "")
            origin = "saved" if saved is not None else "not saved: from the environment"
            typer.echo(f"{name} = {shown}   ({origin}; one of {', '.join(allowed)})")
        return
    if value is None:
        current = get_setting(key)
        if current is None and key == "lang":
            from attn_drill.settings import resolve_lang

            # Nothing saved: show the language in effect (from the environment).
            current = resolve_lang()
        typer.echo(current if current is not None else "")
        return
    set_setting(key, value)
    typer.echo(f"{key} = {value}")


def main() -> None:
    """Console-script entry point."""
    import os

    # One BLAS thread in this process too (the child already has one): the grader computes
    # references while its runner thread forks helpers, and OpenBLAS's fork handler waits for
    # worker threads that a large product in the main thread keeps busy: both would spin
    # forever. Set before anything imports numpy.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        sys.exit(130)
