"""Shared test helpers: grading a small source in-process, and the one fake grade report."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attn_drill.grading.grade import grade_file, run_in_process

NP_SOFTMAX = """
import numpy as np


def sm(s, axis=-1):
    s = s - s.max(axis=axis, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=axis, keepdims=True)
"""

SDPA_RETURNING = NP_SOFTMAX + """
def scaled_dot_product_attention(Q, K, V, mask=None):
    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    w = sm(s)
    o = w @ V
    return {result}
"""


def grade_source(tmp_path: Path, source: str, problem: str, track: str | None = None,
                 **kwargs: object) -> Any:
    """Grade `source` (dedented) as `problem` with the quick in-process runner."""
    path = tmp_path / "submission.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return grade_file(path, problem_id=problem, track=track, runner=run_in_process,
                      **kwargs)  # type: ignore[arg-type]


def failed_kinds(report: Any) -> list[str]:
    return [c.kind for c in report.checks if not c.passed]


def diagnosis_ids(report: Any) -> list[str]:
    return [d.id for d in report.diagnosis]


@dataclass
class FakeDiagnosis:
    id: str
    message: str = ""


@dataclass
class FakeReport:
    """The fields of grading.report.GradeReport that recording and the practice loop read."""

    problem: str = "softmax"
    passed: bool = False
    diagnosis: list[FakeDiagnosis] = field(default_factory=list)
    score: float = 0.5
    track: str = "numpy"
    duration_s: float = 0.25
    problem_version: str = ""

    def __post_init__(self) -> None:
        if not self.problem_version:
            from attn_drill.problems import builtin_problems

            pack = builtin_problems()
            self.problem_version = pack[self.problem].version if self.problem in pack else "x"


def failed_report(*concepts: str, problem: str = "softmax", score: float = 0.5) -> FakeReport:
    return FakeReport(problem=problem, passed=False, score=score,
                      diagnosis=[FakeDiagnosis(c) for c in concepts])


def passed_report(problem: str = "softmax", track: str = "numpy",
                  version: str = "") -> FakeReport:
    return FakeReport(problem=problem, track=track, passed=True, score=1.0,
                      problem_version=version)


def code_track_params() -> list[Any]:
    """(problem id, track) of every code track of the built-in pack, as pytest params with
    the torch tracks marked: tests loop over the loaded pack, never over a list of ids."""
    import pytest

    from attn_drill.problems import builtin_problems
    from tests.conftest import needs_torch

    return [
        pytest.param(problem.id, track, id=f"{problem.id}-{track}",
                     marks=[needs_torch] * (track == "torch"))
        for problem in builtin_problems().values()
        for track in problem.tracks
        if track != "text"
    ]
