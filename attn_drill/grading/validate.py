"""`attn-drill validate [PATH]`: is a problem pack sound? The one home of every pack rule.

Each finding names the file it is about and the rule (a stable id):
- `schema`: the YAML matches the problem model; `unique-id`: no id defined twice, and an extra
  pack does not redefine a built-in problem;
- `bilingual-text`: every text has a non-empty English and Chinese version, the Chinese one
  written in Chinese; `hints`: at least three hints;
- `canonical-ids`: a misconception the grader reports by name is listed under that name, and no
  id is a near-miss spelling of a known one (the same mistake keeps one id across problems);
- `starter`: each code track's starter parses, defines the entry and has TODOs to fill in;
- `cases`: fixed (literal) and random cases, unique case names, an output shape per output;
- `properties`: every property is known, has cases to run on, and its diagnosis id is listed;
- `reference`: the reference exists, passes every check and reproduces published values;
- `mutant`: every mutant fails and is diagnosed as its own misconception;
- `forbidden`: every forbidden built-in is caught when a submission uses it;
- `quiz`: the quiz files match the schema and link to problems that exist.
References and mutants are trusted, so they run in-process, but through the same `run_checks`
and `diagnose` the grader uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attn_drill.errors import MissingFileError, PackError
from attn_drill.grading.properties import PROPERTIES
from attn_drill.grading.tracks import get_track

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from attn_drill.problems import Problem


# Misconception ids the grader itself reports by name (properties and recognised patterns):
# a pack that means one of these mistakes must use exactly this id.
GRADER_IDS = frozenset({
    *(p.diagnoses for p in PROPERTIES.values() if p.diagnoses),
    "mask-tiny-fill", "missing-bias", "swapped-outputs", "rounded-output", "returns-weights",
    "missing-output-projection", "mask-after-softmax", "inverted-mask", "dropout-in-train",
    "uses-builtin",
    # named from partial evidence (grading/diagnosis.py): a crash, the axes, the diagonal
    "missing-keepdims", "max-sum-axes-differ", "causal-off-by-one", "softmax-wrong-axis",
    "global-normalisation",
})
MIN_HINTS = 3


@dataclass
class ValidationItem:
    problem: str
    track: str
    subject: str
    ok: bool
    message: str = ""
    rule: str = ""
    file: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"problem": self.problem, "track": self.track, "subject": self.subject,
                "ok": self.ok, "message": self.message, "rule": self.rule, "file": self.file}


@dataclass
class ValidationResult:
    pack: str
    items: list[ValidationItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # rule -> file, see `about`

    @property
    def ok(self) -> bool:
        return bool(self.items) and all(item.ok for item in self.items)

    @property
    def problems_found(self) -> list[ValidationItem]:
        return [item for item in self.items if not item.ok]

    def add(self, problem: str, track: str, subject: str, ok: bool, message: str = "", *,
            rule: str = "", file: Path | str = "") -> None:
        rule = rule or _rule_of(subject)
        file = file or self.files.get(rule) or self.files.get("", "")
        self.items.append(ValidationItem(problem, track, subject, ok, message, rule, str(file)))

    def about(self, problem: Problem, track: str = "") -> None:
        """The files that findings without an explicit file are about, from now on."""
        self.files = {"": str(problem.source_path or "")}
        if track and get_track(track).runs_code:
            self.files["reference"] = str(problem.reference_path(track))
            self.files["mutant"] = str(problem.mutants_path(track))


    def to_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "ok": self.ok,
            "checked": len(self.items),
            "problems_found": len(self.problems_found),
            "items": [item.to_dict() for item in self.items],
            "notes": list(self.notes),
        }


def _rule_of(subject: str) -> str:
    """The rule a finding belongs to, from its subject."""
    for prefix, rule in (("propert", "properties"), ("reference", "reference"),
                         ("published values", "reference"), ("mutant", "mutant"),
                         ("cases", "cases"), ("empty answer", "rubric"),
                         ("sample answer", "rubric"), ("schema", "schema")):
        if subject.startswith(prefix):
            return rule
    return subject.replace(" ", "-")


def validate_pack(path: Path | None = None, extra: Sequence[Path] = ()) -> ValidationResult:
    """Every rule on the pack at `path` (default: the built-in pack) and on each `extra` pack;
    raises (exit 2) only when a directory is not a pack at all."""
    from attn_drill.packs import BUILTIN_PACK

    pack_dirs = [Path(path) if path is not None else BUILTIN_PACK, *map(Path, extra)]
    for pack_dir in pack_dirs:
        if not pack_dir.exists():
            raise MissingFileError(f"No such directory: {pack_dir}")
        if not (pack_dir / "problems").is_dir():
            raise PackError(f"{pack_dir} is not a problem pack: it has no problems/ directory")
    result = ValidationResult(pack=", ".join(str(d) for d in pack_dirs))
    builtin_ids = {f.stem for f in (BUILTIN_PACK / "problems").glob("*.yaml")}
    vocabulary = set(GRADER_IDS) | _builtin_misconception_ids()
    seen: dict[str, Path] = {}
    for pack_dir in pack_dirs:
        is_builtin = pack_dir.resolve() == BUILTIN_PACK.resolve()
        _validate_pack_dir(pack_dir, result, seen, vocabulary,
                           set() if is_builtin else builtin_ids)
    return result


def _builtin_misconception_ids() -> set[str]:
    from attn_drill.problems import builtin_problems

    try:
        return {m.id for p in builtin_problems().values() for m in p.misconceptions}
    except PackError:  # validating a broken built-in pack: its own findings say why
        return set()


def _validate_pack_dir(pack_dir: Path, result: ValidationResult, seen: dict[str, Path],
                       vocabulary: set[str], reserved_ids: set[str]) -> None:
    from attn_drill.problems import load_problem_file, read_yaml

    files = sorted((pack_dir / "problems").glob("*.yaml"))
    if not files:
        result.add("(pack)", "", "has problems", False, "problems/ holds no .yaml file",
                   rule="schema", file=pack_dir / "problems")
    for file in files:
        try:
            data = read_yaml(file)
        except PackError as exc:
            result.add(file.stem, "", "schema", False, exc.message, rule="schema", file=file)
            continue
        if isinstance(data, dict):
            check_text_rules(file.stem, file, data, result)
        try:
            problem = load_problem_file(file, pack_dir)
        except PackError as exc:
            result.add(file.stem, "", "schema", False, exc.message, rule="schema", file=file)
            continue
        if problem.id in seen or problem.id in reserved_ids:
            where = seen.get(problem.id) or "the built-in pack"
            result.add(problem.id, "", "unique id", False, f"also defined in {where}",
                       rule="unique-id", file=file)
            continue
        seen[problem.id] = file
        result.add(problem.id, "", "schema", True, rule="schema", file=file)
        check_misconception_ids(problem, vocabulary, result)
        for track in problem.tracks:
            result.about(problem, track)
            if get_track(track).runs_code:
                check_track_layout(problem, track, result)
            validate_track(problem, track, result)
        result.files = {}
    check_quiz(pack_dir, set(seen) | reserved_ids, result)


def check_quiz(pack_dir: Path, problem_ids: set[str], result: ValidationResult) -> None:
    """`quiz`: the pack's quiz files match the schema and link to problems that exist."""
    from attn_drill.quiz.bank import load_bank

    quiz_dir = pack_dir / "quiz"
    if not quiz_dir.is_dir() or not any(quiz_dir.glob("*.yaml")):
        return
    try:
        bank = load_bank(quiz_dir, problem_ids=problem_ids)
    except PackError as exc:
        result.add("(quiz)", "", "quiz files", False, exc.message, rule="quiz", file=quiz_dir)
        return
    result.add("(quiz)", "", "quiz files", True, f"{len(bank.entries)} questions",
               rule="quiz", file=quiz_dir)
    from attn_drill.grading.rubric import check_rubric

    for entry in bank.entries:  # free-text rubrics: every phrase and pattern compiles
        rubric = entry.question.rubric
        broken = check_rubric(rubric) if rubric is not None else []
        if broken:
            result.add("(quiz)", "", f"rubric of {entry.question.id}", False, "; ".join(broken),
                       rule="quiz", file=quiz_dir / f"{entry.topic}.yaml")


# -- rules on the problem file itself ---------------------------------------------------------


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _is_prose(text: str) -> bool:
    """Three words in a row: a sentence to translate, not a formula or a shape like
    `Q: (n, d_k)` that reads the same in both languages."""
    import re

    return re.search(r"[A-Za-z]{2,}(?:\s+[A-Za-z]{2,}){2}", text) is not None


def _texts(data: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every `{en, zh}` text of a problem file's data, with its dotted path."""
    if isinstance(data, dict):
        if data and set(data) <= {"en", "zh"}:
            yield where, data
            return
        for key, value in data.items():
            yield from _texts(value, f"{where}.{key}" if where else str(key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _texts(value, f"{where}.{index}" if where else str(index))


def check_text_rules(problem_id: str, file: Path, data: dict[str, Any],
                     result: ValidationResult) -> None:
    """`bilingual-text` and `hints`, on the raw YAML so a missing translation is named as
    such (the schema would only call it a missing field)."""
    defects: list[str] = []
    for where, text in _texts(data):
        for lang in ("en", "zh"):
            value = text.get(lang)
            if not isinstance(value, str) or not value.strip():
                defects.append(f"{where}.{lang} is missing or empty")
        zh, en = text.get("zh"), text.get("en")
        if isinstance(zh, str) and zh.strip() and isinstance(en, str) and _is_prose(en) \
                and not _has_chinese(zh):
            defects.append(f"{where}.zh is not written in Chinese")
    result.add(problem_id, "", "bilingual text", not defects, "; ".join(defects),
               rule="bilingual-text", file=file)
    hints = data.get("hints")
    count = len(hints) if isinstance(hints, list) else 0
    result.add(problem_id, "", "hints", count >= MIN_HINTS,
               "" if count >= MIN_HINTS else f"{count} hint(s); at least {MIN_HINTS} are needed",
               rule="hints", file=file)


def _near_miss(name: str, known: set[str]) -> str | None:
    import difflib

    words = sorted(name.split("-"))
    for other in sorted(known - {name}):
        if sorted(other.split("-")) == words or \
                difflib.SequenceMatcher(None, name, other).ratio() >= 0.85:
            return other
    return None


def check_misconception_ids(problem: Problem, vocabulary: set[str],
                            result: ValidationResult) -> None:
    """`canonical-ids`: one mistake keeps one id across problems and packs."""
    defects = []
    for misconception in problem.misconceptions:
        if misconception.id in GRADER_IDS:
            continue
        other = _near_miss(misconception.id, vocabulary)
        if other is not None:
            defects.append(f"{misconception.id!r} looks like the known id {other!r}: "
                           "use one id for one mistake")
    result.add(problem.id, "", "canonical misconception ids", not defects, "; ".join(defects),
               rule="canonical-ids", file=problem.source_path or "")


def _top_level_names(source: str) -> set[str]:
    import ast

    tree = ast.parse(source)
    return {node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def check_track_layout(problem: Problem, track: str, result: ValidationResult) -> None:
    """`starter` and `cases` of one code track."""
    spec = problem.tracks[track]
    file = problem.source_path or ""
    try:
        names = _top_level_names(spec.starter)
        starter_defects = [] if spec.entry in names else [f"it does not define {spec.entry}"]
    except (SyntaxError, ValueError) as exc:
        starter_defects = [f"it does not parse ({exc})"]
    if "TODO" not in spec.starter:
        starter_defects.append("it has no TODO for the learner to fill in")
    result.add(problem.id, track, "starter", not starter_defects, "; ".join(starter_defects),
               rule="starter", file=file)
    case_defects = []
    if not any(not case.random for case in spec.cases):
        case_defects.append("no fixed case with literal inputs")
    if not any(case.is_random for case in spec.cases):
        case_defects.append("no random case")
    names = [case.name for case in spec.cases]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        case_defects.append(f"case names used twice: {', '.join(repeated)}")
    if spec.output_dims and set(spec.output_dims) != set(spec.outputs):
        case_defects.append("output_dims must give a shape for each of the outputs "
                            f"({', '.join(spec.outputs)})")
    result.add(problem.id, track, "cases", not case_defects, "; ".join(case_defects),
               rule="cases", file=file)


def validate_track(problem: Problem, track: str, result: ValidationResult) -> None:
    spec = problem.tracks[track]
    if spec.call == "text":
        validate_text(problem, result)
        return
    if not get_track(track).available():
        result.notes.append(f"{problem.id} [{track}]: skipped, "
                            f"{get_track(track).requires_label} is not installed")
        return
    ok = True
    for prop in spec.properties:  # every id is registered: the loader checked
        reported = PROPERTIES[prop].diagnoses
        if reported and problem.misconception(reported) is None:
            result.add(problem.id, track, f"property {prop}", False,
                       f"its failures are reported as {reported!r}, which is not in "
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
              mutant_cache: dict[str, Any], lang: str = "en",
              source: str = "") -> tuple[Any, list[Any], list[Any]]:
    from attn_drill.grading.checks import run_checks
    from attn_drill.grading.diagnosis import diagnose
    from attn_drill.grading.grade import evaluation_from_run, run_object_in_process

    run = run_object_in_process(target, problem, track, cases)
    ev = evaluation_from_run(problem, track, 0, cases, derived, references, run, None, 10.0)
    ev.mutant_cache = mutant_cache
    ev.source = source
    checks = run_checks(ev, lang)
    return ev, checks, diagnose(ev, checks, lang)


def _validate_code_track(problem: Problem, track: str, result: ValidationResult) -> None:
    import numpy as np

    from attn_drill.grading.cases import build_cases
    from attn_drill.grading.checks import compute_references, reference_target
    from attn_drill.grading.diagnosis import mutant_targets
    from attn_drill.grading.properties import PROPERTIES, derive_cases

    spec = problem.tracks[track]
    try:
        cases = build_cases(spec, 0)
    except ValueError as exc:
        result.add(problem.id, track, "cases", False, str(exc))
        return
    extra, derived = derive_cases(spec, cases, 0)
    all_cases = cases + extra
    for prop in (PROPERTIES[p] for p in spec.properties):
        if prop.tag is not None and not any(prop.tag in c.tags for c in cases):
            result.add(problem.id, track, f"property {prop.id}", False,
                       f"no case is tagged {prop.tag!r}, so it is never checked")
        if prop.derives and not derived:
            result.add(problem.id, track, f"property {prop.id}", False,
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
    reference_source = problem.reference_path(track).read_text(encoding="utf-8")
    _, checks, _ = _evaluate(problem, track, target, all_cases, derived, references, cache,
                             source=reference_source)
    if spec.forbidden:
        check_forbidden_rule(problem, track, result, lambda source: _evaluate(
            problem, track, target, all_cases, derived, references, cache, source=source))
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
                       f"fails {_count(len(failed), 'check')}, diagnosed as itself{note}")


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


IMPORT_FORMS = (
    "import {module}\n{module}.{attr}\n",
    "import {module} as lib\nlib.{attr}\n",
    "from {module} import {attr}\n",
    "from {module} import {attr} as renamed\n",
    "import {module} as lib\nthing = getattr(lib, '{attr}')\n",
)


def check_forbidden_rule(problem: Problem, track: str, result: ValidationResult,
                         evaluate: Any) -> None:
    """`forbidden`: each name exists in its library, and a submission using it (under every
    import form) fails the `forbidden` check and is diagnosed as `uses-builtin`."""
    from attn_drill.grading.forbidden import find_uses, resolve

    spec = problem.tracks[track]
    file = problem.source_path or ""
    if problem.misconception("uses-builtin") is None:
        result.add(problem.id, track, "forbidden built-ins", False,
                   "its uses are reported as 'uses-builtin', which is not in 'misconceptions'",
                   rule="forbidden", file=file)
    reference = problem.reference_path(track).read_text(encoding="utf-8")
    for name in spec.forbidden:
        defects = []
        try:
            resolve(name)
        except (ImportError, AttributeError):
            defects.append(f"{name} does not exist here, so the child cannot watch it "
                           "(a misspelt name, or its library is missing)")
        module, attr = name.rsplit(".", 1)
        for form in IMPORT_FORMS:
            snippet = form.format(module=module, attr=attr)
            if not any(use.name == name for use in find_uses(snippet, spec.forbidden)):
                defects.append(f"not found in: {snippet.strip()!r}")
        using = f"{reference}\n\nimport {module} as _lib\n_unused = _lib.{attr}\n"
        _, checks, diagnoses = evaluate(using)
        failed = [c for c in checks if c.kind == "forbidden" and not c.passed]
        if not failed:
            defects.append("the reference with a use of it added still passes the check")
        elif "uses-builtin" not in [d.id for d in diagnoses]:
            defects.append("a submission using it is not diagnosed as uses-builtin")
        result.add(problem.id, track, f"forbidden {name}", not defects, "; ".join(defects),
                   rule="forbidden", file=file)


def validate_text(problem: Problem, result: ValidationResult) -> None:
    """A text track: the rubric's sample answers (if shipped) pass and an empty one fails."""
    from attn_drill.grading.rubric import check_rubric, grade_answer

    assert problem.rubric is not None
    assert problem.pack_dir is not None
    broken = check_rubric(problem.rubric)
    result.add(problem.id, "text", "rubric phrases and patterns compile", not broken,
               "; ".join(broken))
    empty = grade_answer("", problem.rubric, "en")
    result.add(problem.id, "text", "empty answer fails", not empty.passed)
    for lang in ("en", "zh"):
        for name in (f"{problem.module_stem}_text_{lang}.md", f"{problem.module_stem}_text.md"):
            sample = problem.pack_dir / "solutions" / name
            if not sample.is_file():
                continue
            graded = grade_answer(sample.read_text(encoding="utf-8"), problem.rubric, lang)
            result.add(problem.id, "text", f"sample answer {name} passes (rubric in {lang})",
                       bool(graded.passed),
                       f"score {graded.score:.0%}, {graded.threshold:.0%} needed")
