"""Both kinds of install find the built-in pack: `pip install .` (the pack copied into the
wheel as attn_drill/pack/) and `pip install -e .` (read from the repository). Each builds
into a fresh virtual environment that borrows this one's dependencies (no downloads, no
build isolation), then lists and validates from another directory."""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _venv(root: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True,
                   timeout=120)
    python = root / "bin" / "python"
    # The new environment borrows this one's packages (pip, setuptools, typer, numpy...).
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig."
                              "get_paths()['purelib'])"], capture_output=True, text=True,
                             check=True).stdout.strip()
    (Path(purelib) / "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


def _install_and_list(tmp_path: Path, *pip_args: str) -> tuple[dict[str, str], list[str]]:
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", "__pycache__", "*.egg-info", "build", ".pytest_cache", ".ruff_cache"))
    python = _venv(tmp_path / "venv")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", *pip_args, str(source)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [str(python), "-c", "import json, attn_drill, attn_drill.packs as p; print(json.dumps("
         "{'package': attn_drill.__file__, 'pack': str(p.BUILTIN_PACK)}))"],
        capture_output=True, text=True, timeout=60, cwd=elsewhere)
    assert where.returncode == 0, where.stderr
    listed = subprocess.run([str(python), "-m", "attn_drill", "list", "--json"],
                            capture_output=True, text=True, timeout=120, cwd=elsewhere)
    assert listed.returncode == 0, listed.stderr
    return json.loads(where.stdout), [row["id"] for row in json.loads(listed.stdout)]


def test_a_normal_install_carries_the_pack_inside_the_package(tmp_path: Path) -> None:
    location, ids = _install_and_list(tmp_path)
    pack = Path(location["pack"])
    assert pack == Path(location["package"]).parent / "pack"
    assert (pack / "problems" / "softmax.yaml").is_file()
    assert (pack / "solutions" / "softmax_numpy.py").is_file()
    assert (pack / "mutants" / "softmax_numpy.py").is_file()
    assert any((pack / "quiz").glob("*.yaml"))
    assert "softmax" in ids and "self-attention-module" in ids


def test_an_editable_install_reads_the_pack_from_the_checkout(tmp_path: Path) -> None:
    location, ids = _install_and_list(tmp_path, "-e")
    assert Path(location["pack"]) == tmp_path / "src"
    assert "softmax" in ids and "explain-sqrt-dk" in ids
