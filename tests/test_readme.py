"""README starts with the two commands a fresh machine needs, and CI runs its test command."""

from __future__ import annotations

import re

from tests.conftest import REPO


def _first_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block is not None, "README has no bash block"
    return [line for line in block.group(1).splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_readme_starts_with_an_install_and_run_and_an_install_and_test_command() -> None:
    run, test = _first_commands()
    for command in (run, test):
        assert command.startswith("python3 -m venv .venv && . .venv/bin/activate && ")
        assert 'pip install "torch==2.13.0"' in command  # the CPU build, never an unpinned one
    assert run.endswith("attn-drill practice")
    assert test.endswith("python -m pytest")


def test_ci_runs_the_readmes_test_command_and_installs_everything_itself() -> None:
    test_command = _first_commands()[1].rsplit("&& ", 1)[1]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    ci_lines = [line.strip() for line in ci.splitlines() if not line.lstrip().startswith("#")]
    assert test_command in ci_lines
    assert any('pip install --quiet "torch==2.13.0"' in line for line in ci_lines)
    assert any(".[torch,dev]" in line for line in ci_lines)
