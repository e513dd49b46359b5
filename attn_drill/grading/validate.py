"""`attn-drill validate [PATH]`: is a problem pack sound?

For every problem: the YAML matches the schema; for every code track, the reference passes
every check of its problem and reproduces published values; every mutant fails and is
diagnosed as its own misconception; every property has cases to run on and its diagnosis id is
listed. References and mutants are trusted, so they run in-process, but through the same
`run_checks` and `diagnose` the grader uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attn_drill.errors import MissingFileError, PackError

if TYPE_CHECKING:
    from attn_drill.problems import Problem

KNOWN_PROPERTIES = (
    "batch-dims", "mask", "stability", "no-mutation", "sums-to-one",
    "permutation-equivariance", "causal-future", "gradients", "preserves-norm",
    "relative-position",
)
# The misconception a failed property is reported as (grading/diagnosis.py).
PROPERTY_IDS = {
    "no-mutation": "mutates-input",
    "batch-dims": "no-batch-dims",
    "mask": "ignores-mask",
    "causal-future": "causal-future-leak",
    "gradients": "no-gradient",
    "stability": "unstable-softmax",
    "preserves-norm": "not-a-rotation",
    "relative-position": "not-a-rotation",
}


@dataclass
class ValidationItem:
    problem: str
    track: str
    subject: str
    ok: bool
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"problem": self.problem, "track": self.track, "subject": self.subject,
                "ok": self.ok, "message": self.message}


@dataclass
class ValidationResult:
    pack: str
    items: list[ValidationItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.items) and all(item.ok for item in self.items)

    @property
    def problems_found(self) -> list[ValidationItem]:
        return [item for item in self.items if not item.ok]

    def add(self, problem: str, track: str, subject: str, ok: bool, message: str = "") -> None:
        self.items.append(ValidationItem(problem, track, subject, ok, message))

    def to_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "ok": self.ok,
            "checked": len(self.items),
            "problems_found": len(self.problems_found),
            "items": [item.to_dict() for item in self.items],
            "notes": list(self.notes),
        }


def validate_pack(path: Path | None = None) -> ValidationResult:
    from attn_drill.problems import BUILTIN_PACK, load_problem_file

    pack_dir = Path(path) if path is not None else BUILTIN_PACK
    if not pack_dir.exists():
        raise MissingFileError(f"No such directory: {pack_dir}")
    if not (pack_dir / "problems").is_dir():
        raise PackError(f"{pack_dir} is not a problem pack: it has no problems/ directory")
    result = ValidationResult(pack=str(pack_dir))
    seen: dict[str, Path] = {}
    files = sorted((pack_dir / "problems").glob("*.yaml"))
    if not files:
        result.add("(pack)", "", "has problems", False, "problems/ holds no .yaml file")
    for file in files:
        try:
            problem = load_problem_file(file, pack_dir)
        except PackError as exc:
            result.add(file.stem, "", "schema", False, exc.message)
            continue
        if problem.id in seen:
            result.add(problem.id, "", "unique id", False, f"also defined in {seen[problem.id]}")
            continue
        seen[problem.id] = file
        result.add(problem.id, "", "schema", True)
        for track in problem.tracks:
            validate_track(problem, track, result)
    return result


def _torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def validate_track(problem: Problem, track: str, result: ValidationResult) -> None:
    spec = problem.tracks[track]
    if track == "text":
        validate_text(problem, result)
        return
    if track == "torch" and not _torch_available():
        result.notes.append(f"{problem.id} [torch]: skipped, PyTorch is not installed")
        return
    ok = True
    for prop in spec.properties:
        if prop not in KNOWN_PROPERTIES:
            result.add(problem.id, track, f"property {prop}", False,
                       f"unknown property; known: {', '.join(KNOWN_PROPERTIES)}")
            ok = False
        elif PROPERTY_IDS.get(prop) and problem.misconception(PROPERTY_IDS[prop]) is None:
            result.add(problem.id, track, f"property {prop}", False,
                       f"its failures are reported as {PROPERTY_IDS[prop]!r}, which is not in "
                       "'misconceptions'")
            ok = False
    reference = problem.reference_path(track)
    if not reference.is_file():
        result.add(problem.id, track, "reference", False, f"missing file {reference}")
        return
    try:
        _validate_code_track(problem, track, result)
    except Exception as exc:  # a broken pack file must be reported, not crash validate
        result.add(problem.id, track, "reference and mutants", False,
                   f"{type(exc).__name__}: {exc}")
        return
    if ok:
        result.add(problem.id, track, "properties", True)


def _evaluate(problem: Problem, track: str, target: Any, cases: list[Any],
              derived: dict[str, Any], references: dict[str, Any],
              mutant_cache: dict[str, Any], lang: str = "en") -> tuple[Any, list[Any], list[Any]]:
    from attn_drill.grading.checks import run_checks
    from attn_drill.grading.diagnosis import diagnose
    from attn_drill.grading.grade import evaluation_from_run, run_object_in_process

    run = run_object_in_process(target, problem, track, cases)
    ev = evaluation_from_run(problem, track, 0, cases, derived, references, run, None, 10.0)
    ev.mutant_cache = mutant_cache
    checks = run_checks(ev, lang)
    return ev, checks, diagnose(ev, checks, lang)


def _validate_code_track(problem: Problem, track: str, result: ValidationResult) -> None:
    import numpy as np

    from attn_drill.grading.cases import build_cases
    from attn_drill.grading.checks import (
        PROPERTY_TAGS,
        compute_references,
        derive_cases,
        reference_target,
    )
    from attn_drill.grading.diagnosis import mutant_targets

    spec = problem.tracks[track]
    try:
        cases = build_cases(spec, 0)
    except ValueError as exc:
        result.add(problem.id, track, "cases", False, str(exc))
        return
    extra, derived = derive_cases(spec, cases, 0)
    all_cases = cases + extra
    for prop, tag in PROPERTY_TAGS.items():
        if prop in spec.properties and not any(tag in c.tags for c in cases):
            result.add(problem.id, track, f"property {prop}", False,
                       f"no case is tagged {tag!r}, so it is never checked")
    for prop in ("permutation-equivariance", "causal-future", "relative-position"):
        if prop in spec.properties and not derived:
            result.add(problem.id, track, f"property {prop}", False,
                       "no random case to derive a test case from")
    references = compute_references(problem, track, all_cases)
    for case in cases:
        for output, published in case.expected.items():
            got = references[case.name].arrays.get(output)
            if got is None or got.shape != published.shape or not np.allclose(
                    got, published, rtol=1e-6, atol=1e-6):
                result.add(problem.id, track, f"published values of '{case.name}'", False,
                           f"the reference's `{output}` differs from the YAML's expected value")
    cache: dict[str, Any] = {}
    target = reference_target(problem, track)
    _, checks, _ = _evaluate(problem, track, target, all_cases, derived, references, cache)
    failed = [c for c in checks if not c.passed]
    result.add(problem.id, track, "reference passes every check", not failed,
               "; ".join(f"{c.name}: {c.message}" for c in failed) or f"{len(checks)} checks")
    mutants_path = problem.mutants_path(track)
    if spec.mutants and not mutants_path.is_file():
        result.add(problem.id, track, "mutants", False, f"missing file {mutants_path}")
        return
    loaded = {name: (misconception, mutant)
              for name, misconception, mutant in mutant_targets(problem, track)}
    for mutant in spec.mutants:
        subject = f"mutant {mutant.name} ({mutant.misconception})"
        if mutant.name not in loaded:
            result.add(problem.id, track, subject, False,
                       f"{mutant.name} is not defined in {mutants_path.name}")
            continue
        _, checks, diagnoses = _evaluate(problem, track, loaded[mutant.name][1], all_cases,
                                         derived, references, cache)
        failed = [c for c in checks if c.required and not c.passed]
        ids = [d.id for d in diagnoses]
        if not failed:
            result.add(problem.id, track, subject, False,
                       "passes every check: no graded case catches this mistake")
        elif mutant.misconception not in ids:
            seen = ", ".join(ids) if ids else "nothing"
            result.add(problem.id, track, subject, False,
                       f"fails ({', '.join(c.name for c in failed)}) but is diagnosed as {seen}")
        else:
            others = [i for i in ids if i != mutant.misconception]
            note = f"; also matches {', '.join(others)}" if others else ""
            result.add(problem.id, track, subject, True,
                       f"fails {len(failed)} check(s), diagnosed as itself{note}")


def validate_text(problem: Problem, result: ValidationResult) -> None:
    """A text track: the rubric's sample answers (if shipped) pass and an empty one fails."""
    from attn_drill.grading.rubric import grade_answer

    assert problem.rubric is not None
    assert problem.pack_dir is not None
    empty = grade_answer("", problem.rubric, "en")
    result.add(problem.id, "text", "empty answer fails", not empty.passed)
    for lang in ("en", "zh"):
        for name in (f"{problem.module_stem}_text_{lang}.md", f"{problem.module_stem}_text.md"):
            sample = problem.pack_dir / "solutions" / name
            if not sample.is_file():
                continue
            graded = grade_answer(sample.read_text(encoding="utf-8"), problem.rubric, lang)
            result.add(problem.id, "text", f"sample answer {name} passes", bool(graded.passed),
                       f"score {graded.score:.2f} of {graded.threshold:.2f}")
