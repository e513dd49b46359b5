"""The runner and the warm worker as a normal user: no privilege drop, still bounded.

Our machines run as root, so this test makes an ordinary user out of a helper process (a
fresh uid without any capability; Python under a closed /root is made reachable in the
helper's own mount namespace, as on a machine with a world-readable Python) and grades
hostile files from there: the process cap must count that user's own processes, and
daemons must still be killed (environment mark for cold runs, subreaper for warm ones).
As a normal user the main test files exercise this path directly, so it is skipped then.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from attn_drill.grading import sandbox
from tests.test_runner import HOSTILE, process_gone


def _reachable_by_other_users(path: Path) -> bool:
    """An ordinary user can only start this interpreter if every directory above it is
    searchable by others (a venv under a 0700 temp directory is not)."""
    return all(os.stat(parent).st_mode & 0o001 for parent in path.absolute().parents)


pytestmark = [
    pytest.mark.skipif(not sandbox.privilege_drop_possible(),
                       reason="needs root (with mount rights) to create an ordinary user for "
                       "the test"),
    pytest.mark.skipif(not _reachable_by_other_users(Path(sys.executable)),
                       reason="this Python lies in a directory other users cannot enter, so "
                       "an ordinary user cannot start it"),
]

# Turns the running (root) helper into an ordinary user: a fresh uid with no capability, in a
# mount namespace of its own where the interpreter is reachable even under a closed /root.
BECOME_ORDINARY_USER = """
import json, sys
from pathlib import Path
from attn_drill.grading import confine, sandbox
assert confine.private_mount_namespace()
assert confine.expose_interpreter(confine.interpreter_trees())
confine.drop_bounding_set()
assert sandbox._drop_privileges(sandbox._unused_uid(), sandbox._nobody_gid())
assert not sandbox.can_drop_privileges() and confine.holds_no_capabilities()
"""

HELPER = BECOME_ORDINARY_USER + """
import subprocess
probe = subprocess.run([sys.executable, "-I", "-c", "pass"], capture_output=True, text=True)
if probe.returncode != 0:
    print(json.dumps({"skip": probe.stderr.strip()[-300:]}))
    sys.exit(0)
from attn_drill.grading.cases import build_cases
from attn_drill.grading.runner import run_submission
from attn_drill.grading.worker import WarmWorker
from attn_drill.problems import get_problem
problem = get_problem("softmax")
cases = build_cases(problem.tracks["numpy"], 0)
worker = WarmWorker("numpy")
out = {}
for mode, runner in (("cold", run_submission), ("warm", worker.run)):
    for name in ("daemon_grandchild", "fork_bomb"):
        result = runner(Path(sys.argv[1]) / f"{name}.py", problem, "numpy", cases, timeout_s=5)
        out[f"{mode}:{name}"] = {
            "fatal": result.fatal and result.fatal.kind,
            "errors": sorted({c.error.kind for c in result.cases if c.error}),
            "stdout": result.stdout[:200],
            "protections": result.protections,
        }
worker.close()
print(json.dumps(out))
"""


@pytest.fixture
def hostile_copies() -> Iterator[Path]:
    """The hostile files where the ordinary user can read them: the checkout may sit below a
    directory other users cannot enter (a fresh clone in a 0700 temp directory), and pytest's
    tmp_path is private to root."""
    directory = Path(tempfile.mkdtemp(prefix="attn-drill-hostile-", dir="/tmp"))
    try:
        directory.chmod(0o755)
        for name in ("daemon_grandchild", "fork_bomb"):
            copy = directory / f"{name}.py"
            shutil.copyfile(HOSTILE / f"{name}.py", copy)
            copy.chmod(0o644)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_as_a_normal_user_forks_are_capped_and_daemons_killed(hostile_copies: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-I", "-c", HELPER, str(hostile_copies)],
        capture_output=True, text=True, timeout=180, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    results = json.loads(completed.stdout)
    if "skip" in results:
        pytest.skip(f"an ordinary user cannot start this Python here: {results['skip']}")
    for mode in ("cold", "warm"):
        daemon = results[f"{mode}:daemon_grandchild"]
        assert daemon["fatal"] is None and daemon["errors"] == []
        assert daemon["protections"]["privilege-drop"] is False
        assert daemon["protections"]["process-limit"] is True
        pid = int(daemon["stdout"].split("DAEMON_PID=")[1].split()[0])
        assert process_gone(pid), f"{mode}: the daemon survived the grade"
        bomb = results[f"{mode}:fork_bomb"]
        assert bomb["errors"] == ["process-limit"], bomb
