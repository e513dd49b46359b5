"""A child started before its job exists (what `attn-drill grade` does to save start-up time)
grades exactly like a cold one, falls back cleanly when it died, and never outlives a grade."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest

from attn_drill.errors import UnknownProblemError
from attn_drill.grading import grade as grade_module
from attn_drill.grading import runner as runner_module
from attn_drill.grading import sandbox
from attn_drill.grading.cases import build_cases
from attn_drill.grading.runner import prestart_child, run_submission
from attn_drill.problems import get_problem
from tests.test_runner import HOSTILE, process_gone

pytestmark = pytest.mark.skipif(not sandbox.IS_POSIX, reason="the runner needs POSIX")

SOFTMAX = get_problem("softmax")
CASES = build_cases(SOFTMAX.tracks["numpy"], 0)
REFERENCE = SOFTMAX.reference_path("numpy")


def _outputs(result: runner_module.RunResult) -> list[np.ndarray]:
    assert result.fatal is None, result.fatal
    return [case.returned.arrays["output"] for case in result.cases if case.returned]


def test_prestarted_child_gives_the_same_results_as_a_cold_one() -> None:
    early = prestart_child("numpy")
    assert early is not None and early.process is not None
    pid = early.process.pid
    warm = run_submission(REFERENCE, SOFTMAX, "numpy", CASES, prestarted=early)
    cold = run_submission(REFERENCE, SOFTMAX, "numpy", CASES)
    assert early.process is None  # handed over: it cannot be used twice
    assert len(_outputs(warm)) == len(CASES)
    for got, expected in zip(_outputs(warm), _outputs(cold), strict=True):
        np.testing.assert_array_equal(got, expected)
    assert process_gone(pid)


def test_prestarted_child_still_enforces_the_timeout() -> None:
    early = prestart_child("numpy")
    result = run_submission(HOSTILE / "infinite_loop.py", SOFTMAX, "numpy", CASES,
                            timeout_s=0.5, prestarted=early)
    assert result.fatal is not None and result.fatal.kind == "timeout"


def test_a_dead_prestarted_child_falls_back_to_a_fresh_one() -> None:
    early = prestart_child("numpy")
    assert early is not None and early.process is not None
    early.process.send_signal(signal.SIGKILL)
    early.process.wait(timeout=10)
    result = run_submission(REFERENCE, SOFTMAX, "numpy", CASES, prestarted=early)
    assert len(_outputs(result)) == len(CASES)


def test_an_unused_prestarted_child_is_killed_when_the_grade_stops_early(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[runner_module.PrestartedChild] = []
    pids: list[int] = []

    def recording_prestart(track_hint: str) -> runner_module.PrestartedChild | None:
        child = prestart_child(track_hint)
        assert child is not None and child.process is not None
        started.append(child)
        pids.append(child.process.pid)
        return child

    monkeypatch.setattr(runner_module, "prestart_child", recording_prestart)
    submission = tmp_path / "mine.py"
    submission.write_text("# attn-drill: no-such-problem\nimport numpy as np\n")
    assert started == []
    with pytest.raises(UnknownProblemError):
        grade_module.grade_file(submission)
    assert len(started) == 1
    assert started[0].process is None
    assert process_gone(pids[0])


def test_track_hint_follows_header_then_imports() -> None:
    hint = grade_module._track_hint
    assert hint("import numpy as np\n", None) == "numpy"
    assert hint("import torch\n", None) == "torch"
    assert hint("from torch import nn\n", None) == "torch"
    assert hint("# attn-drill: softmax track=numpy\nimport torch\n", None) == "numpy"
    assert hint("import torch\n", "numpy") == "numpy"


def test_code_grading_off_posix_is_a_clear_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from attn_drill.errors import UsageError

    monkeypatch.setattr(runner_module.os, "name", "nt")
    with pytest.raises(UsageError, match="WSL"):
        run_submission(REFERENCE, SOFTMAX, "numpy", CASES)
