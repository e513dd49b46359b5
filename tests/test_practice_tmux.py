"""End to end: `attn-drill practice` in a real terminal (tmux), with the real grader.

The test plays the learner: it waits for the statement, saves a naive softmax (no max
subtraction) into the scaffolded file and expects the failure with its diagnosis, then saves
a correct one the way editors do (write a temporary file, rename it over) and expects the
pass and the reference solution; `q` must end the program with exit code 0 and the pass must
be in the progress store. Every wait polls `capture-pane` under a deadline.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
pytestmark = [
    pytest.mark.tmux,
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed: the real-terminal test "
                       "of `attn-drill practice` needs it"),
]

NAIVE = """\
# attn-drill: softmax
import numpy as np


def softmax(x, axis=-1):
    exps = np.exp(x)
    return exps / exps.sum(axis=axis, keepdims=True)
"""
CORRECT = """\
# attn-drill: softmax
import numpy as np


def softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    exps = np.exp(shifted)
    return exps / exps.sum(axis=axis, keepdims=True)
"""
WAIT_S = 90.0  # generous: the machine may be busy; a hang still ends here


class Terminal:
    """One tmux server on a private socket running one 80x30 window."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        assert TMUX is not None
        self.socket = f"attn-drill-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.env = env
        # remain-on-exit keeps the last screen readable after the program ends.
        self._tmux("new-session", "-d", "-x", "80", "-y", "30", "-s", "practice", command,
                   ";", "set-option", "-w", "-t", "practice", "remain-on-exit", "on")

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(
            [str(TMUX), "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True, text=True, env=self.env, timeout=30,
        )
        if result.returncode != 0:
            raise AssertionError(f"tmux {args[0]} failed: {result.stderr.strip()}")
        return result.stdout

    def screen(self) -> str:
        """The window plus its scroll-back, wrapped lines joined."""
        return self._tmux("capture-pane", "-p", "-J", "-S", "-300", "-t", "practice")

    def visible(self) -> str:
        """Only the 30 rows on screen now (no scroll-back)."""
        return self._tmux("capture-pane", "-p", "-t", "practice")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "practice", *keys)

    def close(self) -> None:
        subprocess.run([str(TMUX), "-L", self.socket, "kill-server"], capture_output=True,
                       env=self.env, timeout=30)


def _wait_for(terminal: Terminal, predicate, what: str, timeout: float = WAIT_S,
              screen=None) -> str:
    deadline = time.monotonic() + timeout
    read = screen or terminal.screen
    screen = ""
    while time.monotonic() < deadline:
        screen = read()
        if predicate(screen):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{screen}")


def _latest(screen: str, marker: str) -> str:
    """What was drawn since the last screen starting with `marker` (a redraw)."""
    index = screen.rfind(marker)
    return screen[index:] if index >= 0 else ""


def _save_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.editor-tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _start(tmp_path: Path, home: Path, *args: str) -> tuple[Terminal, Path, Path]:
    """Run `attn-drill practice ARGS` in tmux; its exit status and the terminal's mode
    afterwards (`stty -a`) land in files."""
    exit_file = tmp_path / "exit-status"
    stty_file = tmp_path / "stty-after"
    env = {
        **os.environ,
        "ATTN_DRILL_HOME": str(home),
        "NO_COLOR": "1",
        "LANG": "C.UTF-8",
        "TERM": "xterm-256color",
    }
    env.pop("COLUMNS", None)  # the terminal's own width (80) must be used
    env.pop("LINES", None)
    practice = " ".join(shlex.quote(part) for part in (
        sys.executable, "-m", "attn_drill", "practice", *args))
    script = (f"{practice}; echo EXIT=$? > {shlex.quote(str(exit_file))}; "
              f"stty -a > {shlex.quote(str(stty_file))}.tmp; "
              f"mv {shlex.quote(str(stty_file))}.tmp {shlex.quote(str(stty_file))}")
    return Terminal(f"sh -c {shlex.quote(script)}", env), exit_file, stty_file


def _wait_for_exit(terminal: Terminal, exit_file: Path, stty_file: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not (exit_file.exists() and stty_file.exists()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert exit_file.exists(), f"practice did not exit:\n{terminal.screen()}"
    assert exit_file.read_text().strip() == "EXIT=0", terminal.screen()
    modes = stty_file.read_text().split()
    assert "icanon" in modes and "echo" in modes and "isig" in modes, modes  # restored


def test_ctrl_c_quits_cleanly_and_restores_the_terminal(tmp_path: Path,
                                                         isolated_home: Path) -> None:
    terminal, exit_file, stty_file = _start(
        tmp_path, isolated_home, "softmax", "--dir", str(tmp_path / "work"), "--lang", "zh")
    try:
        _wait_for(terminal, lambda s: "q 退出" in s, "the statement in Chinese")
        assert "数值稳定的 softmax" in terminal.screen()
        terminal.keys("h")
        _wait_for(terminal, lambda s: "提示 1/3" in s, "the first hint")
        terminal.keys("C-c")
        _wait_for_exit(terminal, exit_file, stty_file)
        assert "Traceback" not in terminal.screen()
    finally:
        terminal.close()
    from attn_drill import progress

    assert progress.hint_level("softmax") == 1


def test_practice_in_a_real_terminal(tmp_path: Path, isolated_home: Path) -> None:
    pytest.importorskip("attn_drill.grading.grade", reason="the real grader is not there yet")
    work = tmp_path / "work"
    terminal, exit_file, stty_file = _start(
        tmp_path, isolated_home, "softmax", "--dir", str(work), "--lang", "en")
    try:
        solution = work / "softmax.py"
        _wait_for(terminal, lambda s: "Created your file" in s and "q quit" in s,
                  "the statement and the key legend")
        assert solution.exists()
        assert "Numerically stable softmax" in terminal.screen()

        solution.write_text(NAIVE)
        failed = _wait_for(
            terminal,
            # The key legend is the last thing a report draws: wait for it, not only for
            # the diagnosis above it.
            lambda s: all(part in _latest(s, "Your file:") for part in (
                "Softmax without subtracting the maximum", "q quit")),
            "the failed grade with its diagnosis and the key legend",
        )
        latest = _latest(failed, "Your file:")
        assert "Passed!" not in latest
        assert "unstable-softmax" in latest and "press h" in latest.lower()

        _save_atomically(solution, CORRECT)
        passed = _wait_for(
            terminal,
            lambda s: all(part in _latest(s, "Your file:") for part in ("Passed!", "n / Enter")),
            "the pass and the reference solution",
        )
        latest = _latest(passed, "Your file:")
        assert "Reference solution" in latest
        assert "np.max(x, axis=axis, keepdims=True)" in latest  # the reference's own line
        assert "Going further" in latest

        terminal.keys("q")
        _wait_for_exit(terminal, exit_file, stty_file)
        assert "Traceback" not in terminal.screen()
    finally:
        terminal.close()

    from attn_drill import progress

    assert progress.has_passed("softmax", "numpy")
    assert progress.flagged_concepts().get("unstable-softmax")


SDPA_NO_SCALE = """\
# attn-drill: scaled-dot-product-attention track=numpy
import numpy as np


def scaled_dot_product_attention(Q, K, V, mask=None):
    scores = Q @ np.swapaxes(K, -1, -2)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = exps / exps.sum(axis=-1, keepdims=True)
    return weights @ V, weights
"""
SDPA_MASK_AFTER_SOFTMAX = """\
# attn-drill: scaled-dot-product-attention track=numpy
import numpy as np


def scaled_dot_product_attention(Q, K, V, mask=None):
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = exps / exps.sum(axis=-1, keepdims=True)
    if mask is not None:
        weights = weights * mask
    return weights @ V, weights
"""


def test_a_failed_grade_fits_one_80x30_screen(tmp_path: Path, isolated_home: Path) -> None:
    """The verdict, the named misconception, the status line and the keys are all on the
    visible screen at once (no scrolling) for the two most common attention mistakes; `v`
    then shows every check, the keys still at the bottom."""
    pytest.importorskip("attn_drill.grading.grade", reason="the real grader is not there yet")
    work = tmp_path / "work"
    terminal, exit_file, stty_file = _start(
        tmp_path, isolated_home, "scaled-dot-product-attention", "--track", "numpy",
        "--dir", str(work), "--lang", "en")
    try:
        solution = work / "scaled_dot_product_attention.py"
        _wait_for(terminal, lambda s: "q quit" in s, "the statement and the key legend")
        for source, misconception in ((SDPA_NO_SCALE, "missing-scale"),
                                      (SDPA_MASK_AFTER_SOFTMAX, "mask-after-softmax")):
            _save_atomically(solution, source)
            # Only the visible 30 rows count, and the keys are the last thing drawn.
            visible = _wait_for(
                terminal,
                lambda s, m=misconception: all(part in s for part in (m, "q quit")),
                f"the {misconception} report with its keys on the visible screen",
                screen=terminal.visible)
            assert "FAILED   score " in visible, visible
            assert "scaled-dot-product-attention  numpy track · FAILED · score" in visible
            assert "Traceback" not in visible
        terminal.keys("v")
        _wait_for(terminal, lambda s: all(part in _latest(s, "Your file:") for part in (
            "✓ defines", "q quit")), "every check after v")
        assert terminal.visible().rstrip().endswith("q quit"), terminal.visible()
        terminal.keys("q")
        _wait_for_exit(terminal, exit_file, stty_file)
    finally:
        terminal.close()


def test_the_list_opens_with_l_and_enter_switches_problem(tmp_path: Path,
                                                          isolated_home: Path) -> None:
    work = tmp_path / "work"
    terminal, exit_file, stty_file = _start(
        tmp_path, isolated_home, "softmax", "--dir", str(work), "--lang", "en")
    try:
        _wait_for(terminal, lambda s: "q quit" in s, "the statement and the key legend")
        terminal.keys("l")
        listed = _wait_for(terminal, lambda s: "Esc or l back" in s, "the list and its keys",
                           screen=terminal.visible)
        assert "scaled-dot-product-attention  numpy" in listed
        assert "scaled-dot-product-attention  torch" in listed
        terminal.keys("j")  # the next entry: scaled-dot-product-attention on numpy
        terminal.keys("Enter")
        _wait_for(terminal, lambda s: "Created your file" in s and "q quit" in s
                  and "scaled-dot-product-attention  numpy track" in s,
                  "the next problem's statement", screen=terminal.visible)
        assert (work / "scaled_dot_product_attention.py").exists()
        terminal.keys("p")
        _wait_for(terminal, lambda s: "Continuing with your file" in s and "q quit" in s
                  and " softmax  numpy track" in s, "softmax again after p",
                  screen=terminal.visible)
        terminal.keys("q")
        _wait_for_exit(terminal, exit_file, stty_file)
    finally:
        terminal.close()
