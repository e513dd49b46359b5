"""The problem model (pydantic) and loading of problem packs.

A *pack* is a directory with `problems/*.yaml` (one problem per file), `solutions/*.py`
(reference implementations, one file per problem and track) and `mutants/*.py` (known-wrong
variants, each tagged in the YAML with the misconception it embodies). `attn_drill.packs`
locates the built-in pack (inside the wheel, or the repository's top level in a checkout).

Loading errors never surface as pydantic tracebacks: `PackError` names the file and the field.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from attn_drill.errors import PackError, UnknownProblemError, UnknownTrackError, UsageError
from attn_drill.packs import BUILTIN_PACK, extra_packs

if TYPE_CHECKING:
    from collections.abc import Iterable

TRACKS = ("numpy", "torch", "text")
Track = Literal["numpy", "torch", "text"]
KEBAB = r"^[a-z0-9]+(-[a-z0-9]+)*$"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class L10n(Model):
    """A piece of learner-facing text in English and Chinese."""

    en: str
    zh: str

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


class Misconception(Model):
    id: str = Field(pattern=KEBAB)
    title: L10n
    explanation: L10n
    hint: int | None = Field(default=None, ge=1, description="1-based hint that addresses it")


class Example(Model):
    inputs: str = Field(description="Python-literal inputs, small enough to check by hand")
    output: str
    explanation: L10n


def _registered_generator(value: str) -> str:
    from attn_drill.grading.inputs import GENERATORS

    if value not in GENERATORS:
        raise ValueError(f"unknown input kind {value!r}; known: {', '.join(GENERATORS)}")
    return value


class InputSpec(Model):
    """How the grader generates one random input (`kind`: grading.inputs.GENERATORS).

    `shape` uses names resolved against the case's `dims` (or literal ints). Masks are boolean
    with True meaning "may attend"; every generated mask row keeps at least one key.
    `integers` draws from [low, high]; `arange` counts up from `low` along the last axis;
    `blocks` makes one tuple per entry of `sizes`, its `parts` shaped with `block` bound to
    that size.
    """

    shape: list[int | str] = Field(default_factory=list)
    kind: Annotated[str, AfterValidator(_registered_generator)] = "normal"
    scale: float = 1.0
    low: int | str = 0  # a number, or the name of one of the case's dims
    high: int | str = 1
    sizes: list[int] = Field(default_factory=list)
    parts: dict[str, InputSpec] = Field(default_factory=dict)


class InputDecl(Model):
    """What one input of a track is (grading.inputs): unset fields follow the role, then the
    values (a boolean literal or mask generator is the mask, anything else float data)."""

    role: Literal[
        "data", "weight", "mask", "positions", "lengths", "cache", "blocks", "option"
    ] | None = None
    dtype: Literal["float", "int64", "bool"] | None = None
    pass_as: Literal["array", "list", "scalar", "iterator"] | None = None
    grad: bool | None = Field(default=None, description="torch track: take its gradient")


class Case(Model):
    """A graded case: either literal `inputs` (fixed) or generated from `random` specs."""

    name: str
    tags: list[str] = Field(default_factory=list)
    dims: dict[str, int] = Field(default_factory=dict)
    inputs: dict[str, Any] = Field(default_factory=dict)
    random: dict[str, InputSpec] = Field(default_factory=dict)
    args: dict[str, Any] = Field(default_factory=dict, description="extra keyword arguments")
    init: dict[str, Any] = Field(default_factory=dict, description="module constructor args")
    params: dict[str, InputSpec] = Field(
        default_factory=dict, description="module parameters the grader loads (name -> spec)"
    )
    expected: dict[str, Any] = Field(
        default_factory=dict, description="published values the reference must reproduce"
    )
    chunks: list[int] = Field(
        default_factory=list,
        description="sizes along axis -2: one call per chunk (tracks with `chunked`)",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Case:
        if not self.inputs and not self.random:
            raise ValueError(f"case {self.name!r} needs literal 'inputs' or 'random' specs")
        overlap = set(self.inputs) & set(self.random)
        if overlap:
            raise ValueError(f"case {self.name!r} defines {sorted(overlap)} twice")
        return self

    @property
    def is_random(self) -> bool:
        return bool(self.random or self.params)


class Tolerance(Model):
    rtol: float = Field(gt=0)
    atol: float = Field(ge=0)


class Tolerances(Model):
    float64: Tolerance = Tolerance(rtol=1e-7, atol=1e-9)
    float32: Tolerance = Tolerance(rtol=1.3e-5, atol=1e-5)

    def for_dtype(self, dtype_name: str) -> Tolerance:
        return self.float64 if dtype_name == "float64" else self.float32


class MutantSpec(Model):
    name: str = Field(description="function or class in the track's mutants file")
    misconception: str = Field(pattern=KEBAB)


def _registered_property(value: str) -> str:
    """A property id the grader knows (grading.properties holds the registry)."""
    from attn_drill.grading.properties import PROPERTIES

    if value not in PROPERTIES:
        raise ValueError(f"unknown property {value!r}; known: {', '.join(PROPERTIES)}")
    return value


PropertyId = Annotated[str, AfterValidator(_registered_property)]


class ChunkPlan(Model):
    """How a chunked case calls the entry (see grading/chunks.py): `split` inputs are cut
    along axis -2 into the case's chunks; each `carry` input is replaced by the named output
    of the previous call."""

    split: list[str] = Field(min_length=1)
    carry: dict[str, str] = Field(default_factory=dict)


class TrackSpec(Model):
    signature: str = ""
    entry: str = Field(default="", description="name the submission must define")
    call: Literal["function", "module", "text"] = "function"
    outputs: list[str] = Field(default_factory=lambda: ["output"])
    output_dims: dict[str, list[str]] = Field(
        default_factory=dict, description="symbolic shape per output, e.g. [batch, n, d_v]"
    )
    starter: str
    # The starter with Chinese comments and docstrings (same code), for learners using zh.
    starter_zh: str = ""
    inputs: dict[str, InputDecl] = Field(
        default_factory=dict, description="role / dtype of inputs (grading.inputs)")
    sequence: str | None = Field(
        default=None, description="the sequence dimension (default: the second-to-last name "
        "of the first output's output_dims)")
    attention_weights: str | None = Field(
        default=None, description="the output holding attention weights (rows sum to 1); "
        "default: `weights` when it is an output")
    gradient_outputs: list[str] = Field(
        default_factory=list, description="torch track: outputs the gradient checks' loss "
        "covers (default: the first output only)")
    keyword_inputs: list[str] = Field(
        default_factory=list,
        description="inputs passed by keyword instead of position (e.g. `mask` after `num_heads`)",
    )
    chunked: ChunkPlan | None = None
    properties: list[PropertyId] = Field(default_factory=list)
    cases: list[Case] = Field(default_factory=list)
    mutants: list[MutantSpec] = Field(default_factory=list)
    forbidden: list[str] = Field(
        default_factory=list,
        description="qualified names of library callables a submission may not use",
    )

    @field_validator("forbidden")
    @classmethod
    def _qualified_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not re.match(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$", name):
                raise ValueError(f"{name!r} is not a qualified name such as torch.nn.Linear")
        return names

    @model_validator(mode="after")
    def _callable_tracks_need_entry(self) -> TrackSpec:
        if self.call != "text" and not (self.entry and self.signature and self.cases):
            raise ValueError("code tracks need 'entry', 'signature' and at least one case")
        used = {name for case in self.cases for name in (*case.inputs, *case.random)}
        undeclared = [name for name in self.inputs if name not in used]
        if self.cases and undeclared:
            raise ValueError(f"inputs {undeclared} are declared but no case has them")
        unknown = [name for name in self.gradient_outputs if name not in self.outputs]
        if unknown:
            raise ValueError(f"gradient_outputs {unknown} are not outputs "
                             f"({', '.join(self.outputs)})")
        if self.attention_weights is not None and self.attention_weights not in self.outputs:
            raise ValueError(f"attention_weights {self.attention_weights!r} is not one of "
                             f"the outputs ({', '.join(self.outputs)})")
        return self

    @property
    def sequence_dim(self) -> str | None:
        """The dimension name of the sequence axis (derived cases permute / change it)."""
        if self.sequence is not None:
            return self.sequence
        names = self.output_dims.get(self.outputs[0], []) if self.outputs else []
        return names[-2] if len(names) >= 2 else None

    @property
    def weights_output(self) -> str | None:
        """The output that holds attention weights, if any."""
        if self.attention_weights is not None:
            return self.attention_weights
        return "weights" if "weights" in self.outputs else None


class RubricPoint(Model):
    """One idea a good answer contains.

    `concepts` is a list of groups; the point is met when every group is matched, and a group
    is matched when any of its phrases (English or Chinese, case-insensitive) appears.
    """

    id: str = Field(pattern=KEBAB)
    label: L10n
    advice: L10n
    concepts: list[list[str]] = Field(min_length=1)
    weight: float = 1.0
    required: bool = False


# A regular expression over normalised text (see attn_drill.grading.rubric), or a list of
# alternatives joined with "|" (lets YAML anchors share pieces such as "after scaling").
RubricPattern = str | list[str]


class RubricContradiction(Model):
    """A statement of the opposite of rubric ideas, looked for clause by clause; when found,
    the listed points are not met and the answer fails (grading.rubric, "Opposites")."""

    points: list[str] = Field(min_length=1, description="rubric point ids it contradicts")
    subject: RubricPattern
    reverse: RubricPattern | None = None  # None: the subject alone states the opposite
    unless: RubricPattern | None = None  # searched in the clause: then it is no contradiction
    context: RubricPattern | None = None  # in the sentence before the clause's end: exempt
    reach: int = Field(default=48, ge=0, description="most characters between the two words")
    reverse_first: bool = False  # the reverse words must come before the subject (a cause)
    claim_only: bool = True  # a negation, purpose or contrast before the words exempts them


class RubricGuard(Model):
    """A failing condition: the answer mentions one of `mentions` and meets none of
    `met_none` (e.g. overflow given as the only consequence of an unscaled softmax)."""

    id: str = Field(pattern=KEBAB)
    mentions: list[str] = Field(min_length=1)
    met_none: list[str] = Field(default_factory=list)
    message: L10n


class RubricDiagnosis(Model):
    """A misconception id recognised in an answer when every given condition holds."""

    id: str = Field(pattern=KEBAB)
    when: Literal["failed", "always"] = "failed"
    met_any: list[str] = Field(default_factory=list)  # at least one of these points met
    met_none: list[str] = Field(default_factory=list)  # none of these points met
    mentions: list[str] = Field(default_factory=list)  # some phrase occurs (not negated)
    mentions_none: list[str] = Field(default_factory=list)  # no phrase occurs
    guard: str | None = None  # this guard failed the answer
    unless: list[str] = Field(default_factory=list)  # ids diagnosed by earlier entries
    on_contradiction: bool = False  # also when a point was stated the wrong way round


class Rubric(Model):
    points: list[RubricPoint] = Field(min_length=1)
    threshold: float = Field(gt=0, description="total weight needed to pass")
    min_chars: int = 40
    # Each group: at least one of these point ids must be met (beside `required` points).
    require_any: list[list[str]] = Field(default_factory=list)
    contradictions: list[RubricContradiction] = Field(default_factory=list)
    guards: list[RubricGuard] = Field(default_factory=list)
    diagnoses: list[RubricDiagnosis] = Field(default_factory=list)
    # A problem id: its rubric's contradictions, guards and diagnoses apply here too (a quiz
    # question explaining the same idea as a pack's explain problem); resolved at load.
    rules: str | None = Field(default=None, pattern=KEBAB)

    @model_validator(mode="after")
    def _known_point_ids(self) -> Rubric:
        ids = {p.id for p in self.points}
        named = [i for group in self.require_any for i in group]
        named += [i for rule in self.contradictions for i in rule.points]
        for diagnosis in self.diagnoses:
            named += diagnosis.met_any + diagnosis.met_none
        for guard in self.guards:
            named += guard.met_none
        unknown = sorted(set(named) - ids)
        if unknown and self.rules is None:
            raise ValueError(f"unknown rubric point ids: {', '.join(unknown)}")
        return self


class Problem(Model):
    id: str = Field(pattern=KEBAB)
    title: L10n
    topic: str = Field(pattern=KEBAB)
    difficulty: Literal["easy", "medium", "hard"]
    order: int = Field(description="position in the curriculum (lower comes first)")
    statement: L10n
    formula: str
    shapes: L10n
    constraints: L10n
    examples: list[Example] = Field(min_length=1)
    hints: list[L10n] = Field(min_length=3)
    misconceptions: list[Misconception] = Field(default_factory=list)
    tracks: dict[Track, TrackSpec]
    tolerances: Tolerances = Tolerances()
    rubric: Rubric | None = None
    going_further: L10n | None = None
    source_path: Path | None = Field(default=None, exclude=True)
    pack_dir: Path | None = Field(default=None, exclude=True)

    @field_validator("tracks")
    @classmethod
    def _some_track(cls, tracks: dict[str, TrackSpec]) -> dict[str, TrackSpec]:
        if not tracks:
            raise ValueError("a problem needs at least one track")
        return tracks

    @model_validator(mode="after")
    def _consistent(self) -> Problem:
        ids = [m.id for m in self.misconceptions]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"misconceptions: {', '.join(repeated)} listed more than once")
        known = set(ids)
        for track_name, track in self.tracks.items():
            names = [mutant.name for mutant in track.mutants]
            if len(names) != len(set(names)):
                raise ValueError(f"tracks.{track_name}: a mutant name is listed twice")
            for mutant in track.mutants:
                if mutant.misconception not in known:
                    raise ValueError(
                        f"tracks.{track_name}: mutant {mutant.name!r} names misconception "
                        f"{mutant.misconception!r}, which is not in 'misconceptions'"
                    )
        if "text" in self.tracks and self.rubric is None:
            raise ValueError("a text track needs a 'rubric'")
        for m in self.misconceptions:
            if m.hint is not None and m.hint > len(self.hints):
                raise ValueError(
                    f"misconception {m.id!r} points at hint {m.hint}, which is missing"
                )
        return self

    # -- derived -----------------------------------------------------------------------
    @property
    def module_stem(self) -> str:
        return self.id.replace("-", "_")

    def track(self, name: str | None) -> tuple[str, TrackSpec]:
        """The named track, or the only one; raises UnknownTrackError otherwise."""
        if name is None:
            if len(self.tracks) == 1:
                only = next(iter(self.tracks))
                return only, self.tracks[only]
            name = "numpy" if "numpy" in self.tracks else next(iter(self.tracks))
        if name not in self.tracks:
            raise UnknownTrackError(
                f"Problem {self.id!r} has no {name!r} track; "
                f"its tracks are: {', '.join(self.tracks)}."
            )
        return name, self.tracks[name]

    def reference_path(self, track: str) -> Path:
        assert self.pack_dir is not None
        return self.pack_dir / "solutions" / f"{self.module_stem}_{track}.py"

    def mutants_path(self, track: str) -> Path:
        assert self.pack_dir is not None
        return self.pack_dir / "mutants" / f"{self.module_stem}_{track}.py"

    def misconception(self, misconception_id: str) -> Misconception | None:
        return next((m for m in self.misconceptions if m.id == misconception_id), None)

    @cached_property
    def version(self) -> str:
        """A short hash of what is graded: each track's signature, cases, properties and
        forbidden list, the tolerances, the rubric's logic and the reference files. Grades
        record it so that a pass from before a change to the grading shows as stale; wording
        (statement, hints, titles, explanations, starters) is left out, so fixing a typo
        does not."""
        if self.source_path is None:
            return "unknown"
        import json

        graded: dict[str, Any] = {
            "tracks": {
                name: _without_wording(spec.model_dump(mode="json", exclude={"starter", "mutants"}))
                for name, spec in sorted(self.tracks.items())
            },
            "tolerances": self.tolerances.model_dump(mode="json"),
            "rubric": _without_wording(self.rubric.model_dump(mode="json"))
            if self.rubric is not None else None,
            "references": {
                name: _code_fingerprint(path.read_bytes())
                for name in sorted(self.tracks) if name != "text"
                for path in [self.reference_path(name)] if path.is_file()
            },
        }
        text = json.dumps(graded, sort_keys=True, ensure_ascii=True, default=repr)
        return hashlib.sha256(text.encode("ascii")).hexdigest()[:12]


def _code_fingerprint(source: bytes) -> str:
    """A hash of what a reference computes: its syntax tree without docstrings, so that
    re-wrapping a line, editing a comment or a docstring leaves the problem's version alone."""
    import ast

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return hashlib.sha256(source).hexdigest()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def _without_wording(data: Any) -> Any:
    """`data` without its learner-facing texts (every `{en, zh}` pair)."""
    if isinstance(data, dict):
        if data and set(data) <= {"en", "zh"}:
            return None
        return {key: _without_wording(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_without_wording(value) for value in data]
    return data


# -- loading -----------------------------------------------------------------------------


def format_validation_error(path: Path, error: ValidationError, what: str = "problem",
                            text: str | None = None) -> str:
    """One line per schema violation, naming the file and the field (shared by the quiz);
    with the file's `text`, also the line the field is on."""
    lines = [f"Invalid {what} file {path}:"]
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        line = yaml_line(text, item["loc"]) if text is not None else None
        at = f" (line {line})" if line is not None else ""
        lines.append(f"  - {where}{at}: {item['msg']}")
    return "\n".join(lines)


def yaml_line(text: str, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at `loc` (mapping keys and list indices), or of the
    deepest node on the way that exists; None when the text cannot be composed."""
    import yaml

    try:
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line = node.start_mark.line + 1
    for step in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((value for key, value in node.value if key.value == str(step)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) \
                and 0 <= step < len(node.value):
            child = node.value[step]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, turning every failure into a PackError naming the file."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PackError(f"Cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PackError(f"Cannot read {path}: it is not UTF-8 text") from None
    try:
        # libyaml's C loader parses the pack several times faster than the pure-Python one.
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PackError(f"Invalid YAML in {path}{where}: {problem}") from None


def load_problem_file(path: Path, pack_dir: Path) -> Problem:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise PackError(f"Invalid problem file {path}: expected a mapping at the top level")
    try:
        problem = Problem.model_validate({**data, "source_path": path, "pack_dir": pack_dir})
    except ValidationError as exc:
        text = path.read_text(encoding="utf-8")
        raise PackError(format_validation_error(path, exc, text=text)) from None
    if path.stem != problem.id:
        raise PackError(
            f"Invalid problem file {path}: id {problem.id!r} must match the file name "
            f"({path.stem!r})"
        )
    return problem


def load_pack(pack_dir: Path) -> dict[str, Problem]:
    """All problems of a pack, keyed by id, in curriculum order."""
    problems_dir = pack_dir / "problems"
    if not problems_dir.is_dir():
        raise PackError(f"{pack_dir} is not a problem pack: it has no problems/ directory")
    problems: dict[str, Problem] = {}
    for path in sorted(problems_dir.glob("*.yaml")):
        problem = load_problem_file(path, pack_dir)
        if problem.id in problems:
            raise PackError(f"Duplicate problem id {problem.id!r} in {path}")
        problems[problem.id] = problem
    return dict(sorted(problems.items(), key=lambda item: (item[1].order, item[0])))


@cache
def builtin_problems() -> dict[str, Problem]:
    return load_pack(BUILTIN_PACK)


def pack_problems() -> dict[str, Problem]:
    """The problems of every active pack (`attn_drill.packs.active_packs`), in curriculum
    order; an extra pack that redefines a problem id is a usage error."""
    extras = extra_packs()
    return _with_extra_packs(extras) if extras else builtin_problems()


@cache
def _with_extra_packs(extras: tuple[Path, ...]) -> dict[str, Problem]:
    merged = dict(builtin_problems())
    origin = dict.fromkeys(merged, BUILTIN_PACK)
    for pack in extras:
        for problem_id, problem in load_pack(pack).items():
            if problem_id in merged:
                built_in = "the built-in pack" if origin[problem_id] == BUILTIN_PACK \
                    else f"the pack {origin[problem_id]}"
                raise UsageError(
                    f"Problem id {problem_id!r} of the pack {pack} is already defined by "
                    f"{built_in}: give the problem another id."
                )
            merged[problem_id] = problem
            origin[problem_id] = pack
    return dict(sorted(merged.items(), key=lambda item: (item[1].order, item[0])))


def get_problem(problem_id: str, problems: dict[str, Problem] | None = None) -> Problem:
    bank = pack_problems() if problems is None else problems
    try:
        return bank[problem_id]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(problem_id, list(bank), n=3)
        suggestion = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownProblemError(
            f"Unknown problem {problem_id!r}.{suggestion} Run `attn-drill list` to see them all."
        ) from None


def filter_problems(
    problems: Iterable[Problem],
    *,
    track: str | None = None,
    topic: str | None = None,
    difficulty: str | None = None,
) -> list[Problem]:
    return [
        p
        for p in problems
        if (track is None or track in p.tracks)
        and (topic is None or p.topic == topic)
        and (difficulty is None or p.difficulty == difficulty)
    ]


HEADER = re.compile(r"^#\s*attn-drill:\s*(?P<id>[a-z0-9-]+)(?:\s+track=(?P<track>[a-z]+))?\s*$")


def parse_header(first_line: str) -> tuple[str | None, str | None]:
    """`# attn-drill: <id> [track=<track>]` -> (id, track)."""
    match = HEADER.match(first_line.strip())
    if not match:
        return None, None
    return match.group("id"), match.group("track")
