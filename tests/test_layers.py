"""The import layering of pyproject.toml holds (what .ci/run checks with `lint-imports`), and
each contract would catch an import that breaks it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytest.importorskip("importlinter")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    command = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    return subprocess.run([command, "--no-cache"], cwd=root, capture_output=True, text=True,
                          timeout=120)


def test_the_layers_and_the_lean_child_hold() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " kept, 0 broken" in result.stdout


@pytest.mark.parametrize("module,line,contract", [
    ("grading/grade.py", "from attn_drill.render import report as _unused", "face > loops"),
    ("grading/child.py", "import yaml as _unused", "the child imports"),
    ("progress.py", "from attn_drill.quiz import bank as _unused", "the progress store"),
])
def test_an_upward_import_breaks_a_contract(tmp_path: Path, module: str, line: str,
                                             contract: str) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "attn_drill", copy / "attn_drill",
                    ignore=shutil.ignore_patterns("__pycache__", "pack"))
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    target = copy / "attn_drill" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    result = lint_imports(copy)
    assert result.returncode == 1, result.stdout[-3000:]
    assert contract in result.stdout and "BROKEN" in result.stdout
