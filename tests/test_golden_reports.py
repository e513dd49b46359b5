"""Golden `grade --json` documents for the fixture submissions (tests/fixtures/solutions): one
expected document per fixture in tests/fixtures/expected/, as exercism's test runners keep an
expected results.json beside each example.

What is compared is what must not drift silently: the verdict, the score, which checks ran and
passed, and the diagnosis ids. Volatile fields (durations, versions, file paths, isolation
layers of this machine) and the wording of messages are left out. After an intended change,
regenerate with `ATTN_DRILL_UPDATE_GOLDEN=1 python -m pytest tests/test_golden_reports.py` and
review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from attn_drill.grading.grade import grade_file, run_in_process
from tests.conftest import HAS_TORCH, REPO

SUBMISSIONS = REPO / "tests" / "fixtures" / "solutions"
EXPECTED = REPO / "tests" / "fixtures" / "expected"
UPDATE = os.environ.get("ATTN_DRILL_UPDATE_GOLDEN") == "1"
# Fixtures whose point is what a real process does (exiting, looping, printing megabytes):
# the in-process runner cannot grade them; tests/test_grade_e2e.py does, for real.
NEEDS_A_PROCESS = {"softmax_exits.py", "softmax_forever.py"}


def _submissions() -> list[Any]:
    params = []
    for path in sorted(SUBMISSIONS.iterdir()):
        if path.name in NEEDS_A_PROCESS or path.suffix not in (".py", ".md", ".txt"):
            continue
        uses_torch = path.suffix == ".py" and "import torch" in path.read_text(encoding="utf-8")
        marks = [pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed")] \
            if uses_torch else []
        params.append(pytest.param(path, id=path.name, marks=marks))
    return params


def stable_view(document: dict[str, Any]) -> dict[str, Any]:
    """The fields of a `grade --json` document that a golden file pins down."""
    return {
        "problem": document["problem"],
        "track": document["track"],
        "passed": document["passed"],
        "score": document["score"],
        "seed": document["seed"],
        "checks": [
            {"check": check.get("kind") or check.get("id") or check["name"],
             "passed": check["passed"], "required": check.get("required", True)}
            for check in document["checks"]
        ],
        "diagnosis": [item["id"] for item in document["diagnosis"]],
    }


@pytest.mark.parametrize("submission", _submissions())
def test_grade_json_matches_the_golden_file(submission: Path) -> None:
    report = grade_file(submission, runner=run_in_process)  # type: ignore[arg-type]
    got = stable_view(json.loads(json.dumps(report.to_dict())))
    golden = EXPECTED / f"{submission.name}.json"
    if UPDATE or not golden.exists():
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n",
                          encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"{golden} was missing and has been written: review and commit it")
    expected = json.loads(golden.read_text(encoding="utf-8"))
    assert got == expected


def test_every_golden_file_has_its_submission() -> None:
    stale = [p.name for p in EXPECTED.glob("*.json")
             if not (SUBMISSIONS / p.name.removesuffix(".json")).exists()]
    assert not stale, f"golden files without a submission: {stale}"


def test_the_stable_view_ignores_volatile_fields() -> None:
    document = {"problem": "softmax", "track": "numpy", "passed": False, "score": 0.5,
                "seed": 0, "duration_s": 0.4, "version": "0.1.0", "file": "/tmp/a.py",
                "checks": [{"kind": "runs", "name": "runs", "passed": True,
                            "message": "took 0.2 s"}],
                "diagnosis": [{"id": "missing-scale", "message": "..."}]}
    changed = {**document, "duration_s": 9.9, "version": "9", "file": "/elsewhere.py",
               "checks": [{**document["checks"][0], "message": "took 0.3 s"}]}
    assert stable_view(document) == stable_view(changed)
    assert stable_view(document) != stable_view({**document, "passed": True})
