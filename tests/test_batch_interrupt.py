"""A batch stopped half way (SIGINT, SIGTERM or SIGKILL) leaves no process behind, and a rerun
with --resume grades only what had not finished, losing nothing."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.batch_helpers import SLOW_SOFTMAX, processes_under, put, start_batch

STUDENTS = [f"s{index:02d}" for index in range(8)]


def _class(root: Path) -> Path:
    subs = root / "subs"
    for student in STUDENTS:
        put(subs, f"{student}/softmax.py", SLOW_SOFTMAX.format(seconds=1.0))
    return subs


def _wait_for_results(out: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list((out / "results").glob("*.json"))) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} results appeared in {out}")


def _no_process_left(scratch: Path) -> None:
    deadline = time.monotonic() + 10
    while processes_under(scratch) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_under(scratch) == []


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL, signal.SIGTERM])
def test_stopping_half_way_then_resume_loses_nothing(tmp_path: Path, how: signal.Signals
                                                     ) -> None:
    subs = _class(tmp_path)
    out = tmp_path / "out"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    process = start_batch(str(subs), "--jobs", "2", "--out", str(out), "--json", tmp=scratch)
    _wait_for_results(out, 2)
    assert processes_under(scratch), "the warm workers should be running"
    process.send_signal(how)
    stdout, _ = process.communicate(timeout=60)
    if how == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
    else:
        assert process.returncode == 130
        assert json.loads(stdout)["error"]["exit_code"] == 130
    _no_process_left(scratch)
    kept = {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")}
    assert 2 <= len(kept) < len(STUDENTS)
    assert not list((out / "results").glob(".*"))  # no half-written result

    rerun = start_batch(str(subs), "--jobs", "2", "--out", str(out), "--resume", "--json",
                        tmp=scratch)
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    document = json.loads(stdout)
    assert sorted(r["student"] for r in document["results"]) == STUDENTS
    assert document["summary"]["passed"] == len(STUDENTS)
    after = {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")}
    assert len(after) == len(STUDENTS)
    assert all(after[name] == stamp for name, stamp in kept.items())  # not graded again
    _no_process_left(scratch)
