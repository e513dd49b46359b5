"""The result of one grade, as plain data.

`GradeReport` is the single result of `grade_file`: the terminal view
(`attn_drill.render.report.grade_report`) and the `--json` document (`GradeReport.to_dict`)
are two renderings of it. Nothing here imports numpy at module level, so the report can be
built and rendered without touching the numeric stack twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from attn_drill.messages import Localisable, Message, msg, params_json, text_of


@dataclass
class MismatchRow:
    """One of the worst elements of a failed comparison."""

    index: tuple[int, ...]
    got: float
    expected: float


@dataclass
class MismatchTable:
    """pytest.approx-style statistics of one output of one case that did not match."""

    case: str
    output: str
    mismatched: int
    total: int
    max_abs: float
    max_rel: float
    rtol: float
    atol: float
    dtype: str
    rows: list[MismatchRow] = field(default_factory=list)
    nan_count: int = 0
    inf_count: int = 0
    ignored_rows: int = 0  # fully masked rows that were not graded

    @property
    def percent(self) -> float:
        return 100.0 * self.mismatched / self.total if self.total else 0.0

    def summary_message(self) -> Message:
        return msg("mismatch.summary", mismatched=self.mismatched, total=self.total,
                   percent=self.percent, max_abs=self.max_abs, max_rel=self.max_rel,
                   rtol=self.rtol, atol=self.atol, dtype=self.dtype)

    def summary(self, lang: str = "en") -> str:
        return self.summary_message().render(lang)


@dataclass
class Heatmap:
    """The learner's and the reference's attention weights of one small case, side by side."""

    case: str
    got: list[list[float]]
    expected: list[list[float]]


@dataclass
class CheckResult:
    """One named line of the report. Required checks decide `passed` and the score.

    The grader fills `name`, `message` and `details` with messages (ids and parameters,
    attn_drill.messages); `localise(lang)` writes them in one language at the edge and keeps
    the ids, so verdicts and ids are the same whatever the language."""

    name: str | Localisable
    passed: bool
    message: str | Localisable = ""
    required: bool = True
    kind: str = ""  # "defines", "runs", "type", "shape", "dtype", "match", "property:<name>", ...
    details: list[str | Localisable] = field(default_factory=list)
    mismatch: MismatchTable | None = None
    heatmap: Heatmap | None = None
    failed_cases: list[str] = field(default_factory=list)
    not_run: bool = False  # failed because nothing could be checked (no evidence of a bug)
    message_id: str = ""  # the id of `message` once localised ("" for plain text)
    message_params: Any = None

    @property
    def id(self) -> str:
        """A stable, language-independent id: the kind with `-` for `:` (`match-random`)."""
        return self.kind.replace(":", "-")

    def localise(self, lang: str) -> None:
        if isinstance(self.message, Localisable) and not self.message_id:
            self.message_id = self.message.id
            self.message_params = params_json(getattr(self.message, "params", None)
                                              or getattr(self.message, "parts", None))
        self.name = text_of(self.name, lang)
        self.message = text_of(self.message, lang) if self.message else ""
        self.details = [text_of(d, lang) for d in self.details]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "passed": self.passed,
            "message": self.message,
            "message_id": self.message_id or None,
            "required": self.required,
            "kind": self.kind,
            "failed_cases": list(self.failed_cases),
        }


@dataclass
class Diagnosis:
    """A recognised misconception: a stable id from the problem's YAML and an explanation."""

    id: str
    message: str
    title: str = ""
    hint: int | None = None
    source: str = ""  # what recognised it: "mutant:<name>", "property:<name>", "pattern:<name>"
    message_id: str = ""  # the catalog id of the evidence in `message` ("" when there is none)
    message_params: Any = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "message": self.message,
                                "message_id": self.message_id or None}
        if self.title:
            data["title"] = self.title
        if self.hint is not None:
            data["hint"] = self.hint
        if self.source:
            data["source"] = self.source
        return data


@dataclass
class FailingCase:
    """Everything `--save-cases` needs to reproduce one failing case outside the grader."""

    name: str
    inputs: dict[str, Any]  # name -> np.ndarray, in call order
    args: dict[str, Any]
    expected: dict[str, Any]  # output name -> np.ndarray
    got: dict[str, Any]
    init: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    grad_output: Any = None  # upstream gradient of a module's backward check
    error: str = ""
    passed_as: dict[str, str] = field(default_factory=dict)  # input -> array/list/scalar/...
    chunks: list[int] = field(default_factory=list)  # one call per chunk (grading/chunks.py)


@dataclass
class GradeReport:
    problem: str
    track: str
    passed: bool
    score: float
    seed: int
    version: str
    duration_s: float
    checks: list[CheckResult] = field(default_factory=list)
    diagnosis: list[Diagnosis] = field(default_factory=list)
    problem_version: str = "unknown"
    file: str = ""
    entry: str = ""
    call: str = "function"
    lang: str = "en"
    title: str = ""
    learner_seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""
    output_truncated: bool = False
    error_kind: str = ""  # kind of the first learner error (exception, timeout, syntax, ...)
    learner_traceback: str = ""
    protections_off: list[str] = field(default_factory=list)
    failing_cases: list[FailingCase] = field(default_factory=list)
    saved_cases_dir: str = ""  # set by savecases.save_failing_cases (`--save-cases DIR`)
    saved_cases: list[str] = field(default_factory=list)  # one folder per failing case

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    @property
    def is_written_answer(self) -> bool:
        """A text answer graded by a rubric: its checks are a checklist of ideas."""
        from attn_drill.grading.tracks import TRACKS

        track = TRACKS.get(self.track)
        return self.call == "text" or (track is not None and not track.runs_code)

    def to_dict(self) -> dict[str, Any]:
        """The CONTRACT's `grade --json` document (plus a few extra fields)."""
        return {
            "problem": self.problem,
            "track": self.track,
            "passed": self.passed,
            "score": round(self.score, 4),
            "seed": self.seed,
            "version": self.version,
            "duration_s": round(self.duration_s, 3),
            "checks": [c.to_dict() for c in self.checks],
            "diagnosis": [d.to_dict() for d in self.diagnosis],
            "problem_version": self.problem_version,
            "file": self.file,
            "learner_seconds": round(self.learner_seconds, 3),
            "output_truncated": self.output_truncated,
            "error_kind": self.error_kind or None,
            "protections_off": list(self.protections_off),
            **({"saved_cases": list(self.saved_cases)} if self.saved_cases_dir else {}),
        }


def score_of(checks: list[CheckResult]) -> tuple[bool, float]:
    """(passed, score): every required check passed; fraction of required checks passed."""
    required = [c for c in checks if c.required]
    if not required:
        return False, 0.0
    passed = sum(1 for c in required if c.passed)
    return passed == len(required), passed / len(required)
