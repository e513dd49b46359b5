"""Shared by the batch and export tests: building a class of submissions, finding leftovers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures"
CORRECT_SOFTMAX = REPO / "solutions" / "softmax_numpy.py"
UNSTABLE_SOFTMAX = FIXTURES / "solutions" / "softmax_naive.py"
SLOW_SOFTMAX = """import time

import numpy as np

_calls = []


def softmax(x, axis=-1):
    if not _calls:  # slow once per grade, not once per case
        time.sleep({seconds})
    _calls.append(1)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
"""


def put(root: Path, relative: str, source: Path | str) -> Path:
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, Path):
        shutil.copyfile(source, target)
    else:
        target.write_text(source, encoding="utf-8")
    return target


def start_batch(*args: str, tmp: Path, **kwargs: object) -> subprocess.Popen[str]:
    """`attn-drill grade ...` as a real process whose temporary directory is `tmp`: every
    process of its grades (warm workers, forked children, daemons) carries HOME under it."""
    env = {**os.environ, "TMPDIR": str(tmp), "NO_COLOR": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "attn_drill", "grade", *args], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)  # type: ignore[call-overload]


def processes_under(tmp: Path) -> list[int]:
    """Processes (other than this one) whose environment has HOME inside `tmp`: the grading
    processes of a batch started with start_batch (their environment is scrubbed to HOME,
    PATH and a few more, and HOME is the grader's temporary directory or a job under it)."""
    needle = f"HOME={tmp}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(item.startswith(needle) for item in environ.split(b"\0")):
            found.append(int(entry))
    return found
