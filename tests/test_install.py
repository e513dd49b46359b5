"""Both kinds of install find the built-in pack: `pip install .` (the pack copied into the
wheel as attn_drill/pack/) and `pip install -e .` (read from the repository). Each builds
into a fresh virtual environment that borrows this one's dependencies (no downloads, no
build isolation), then lists and validates from another directory."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _is_attn_drill(name: str) -> bool:
    """This project's own entries in a site-packages directory: the package, its metadata and
    an editable install's hooks."""
    normalized = name.lower().replace("-", "_")
    return normalized == "attn_drill" or normalized.startswith(("attn_drill-", "attn_drill.")) \
        or (normalized.startswith("__editable__") and "attn_drill" in normalized)


def _borrowed(root: Path) -> Path:
    """This environment's packages (pip, setuptools, typer, numpy...) without attn-drill: links
    to every entry of its site-packages but the project's own, so the new environment imports
    the attn-drill it installed, never the one this environment has (installed from a wheel in
    CI, editable here)."""
    borrowed = root / "borrowed"
    borrowed.mkdir()
    for directory in site.getsitepackages():
        if not Path(directory).is_dir():
            continue
        for entry in sorted(Path(directory).iterdir()):
            link = borrowed / entry.name
            if _is_attn_drill(entry.name) or entry.suffix == ".pth" or link.exists():
                continue
            link.symlink_to(entry)
    return borrowed


def _venv(root: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True,
                   timeout=120)
    python = root / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig."
                              "get_paths()['purelib'])"], capture_output=True, text=True,
                             check=True).stdout.strip()
    (Path(purelib) / "borrowed.pth").write_text(f"{_borrowed(root.parent)}\n")
    return python


def _clean_env() -> dict[str, str]:
    """No import path of this environment leaks into the new one."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _install_and_list(tmp_path: Path, *pip_args: str) -> tuple[dict[str, str], list[str]]:
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", "__pycache__", "*.egg-info", "build", ".pytest_cache", ".ruff_cache"))
    python = _venv(tmp_path / "venv")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", *pip_args, str(source)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path, env=_clean_env())
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [str(python), "-c", "import json, attn_drill, attn_drill.packs as p; print(json.dumps("
         "{'package': attn_drill.__file__, 'pack': str(p.BUILTIN_PACK)}))"],
        capture_output=True, text=True, timeout=60, cwd=elsewhere, env=_clean_env())
    assert where.returncode == 0, where.stderr
    listed = subprocess.run([str(python), "-m", "attn_drill", "list", "--json"],
                            capture_output=True, text=True, timeout=120, cwd=elsewhere,
                            env=_clean_env())
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
