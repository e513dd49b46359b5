"""Starter files in the learner's workspace: write, restore, back up."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from attn_drill.errors import RefusedError, UsageError

if TYPE_CHECKING:
    from attn_drill.problems import Problem

DEFAULT_DIR = Path("attn-drill-work")


def starter_filename(problem: Problem, track: str) -> str:
    stem = problem.module_stem
    if problem.tracks[track].call == "text":
        return f"{stem}.md"
    # Two code tracks of one problem need distinct files in one directory: the default
    # track's keeps the plain name.
    plain = len(problem.tracks) == 1 or track == problem.track(None)[0]
    return f"{stem}.py" if plain else f"{stem}_{track}.py"


RUN_LINE = {"en": "Run: attn-drill grade {path}", "zh": "运行：attn-drill grade {path}"}


def starter_text(problem: Problem, track: str, lang: str = "en", path: Path | None = None
                 ) -> str:
    """The starter file's text; its "Run:" line names `path` (the file being written), so it
    can be copied as it is."""
    spec = problem.tracks[track]
    header = f"# attn-drill: {problem.id}" + (f" track={track}" if len(problem.tracks) > 1 else "")
    shown = str(path) if path is not None else starter_filename(problem, track)
    if spec.call == "text":
        return f"{header}\n\n{spec.starter.rstrip().replace('<this file>', shown)}\n"
    task = problem.title.get(lang)
    body = (spec.starter_zh if lang == "zh" and spec.starter_zh else spec.starter).rstrip()
    run = RUN_LINE["zh" if lang == "zh" else "en"].format(path=shown)
    return f'{header}\n"""{task}\n\n{run}\n"""\n\n{body}\n'


def starter_path(problem: Problem, track: str, directory: Path | None) -> Path:
    return (directory or DEFAULT_DIR) / starter_filename(problem, track)


def write_starter(
    problem: Problem, track: str, directory: Path | None, *, force: bool = False, lang: str = "en"
) -> Path:
    """Write the starter file; refuse (exit 1) to overwrite unless `force`."""
    path = starter_path(problem, track, directory)
    if path.exists() and not force:
        raise RefusedError(f"{path} already exists; use --force to overwrite it.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, starter_text(problem, track, lang, path))
    except OSError as exc:
        raise UsageError(f"Cannot write {path}: {exc.strerror or exc}") from None
    return path


def ensure_starter(
    problem: Problem, track: str, directory: Path | None, *, lang: str = "en"
) -> tuple[Path, bool]:
    """The problem's file in the workspace, written only if missing: the learner's existing
    work is never overwritten. Returns (path, created)."""
    path = starter_path(problem, track, directory)
    if path.exists():
        return path, False
    return write_starter(problem, track, directory, lang=lang), True


def is_untouched(path: Path, problem: Problem, track: str) -> bool:
    """True when the file still holds a starter text (in either language) or is missing."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return True
    except (OSError, UnicodeDecodeError):
        return False
    return any(text == starter_text(problem, track, lang, shown)
               for lang in ("en", "zh") for shown in (path, None))


def backup_path(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.name}.{stamp}.bak")
    counter = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{stamp}-{counter}.bak")
        counter += 1
    return candidate


def reset_starter(problem: Problem, track: str, directory: Path | None, lang: str = "en"
                  ) -> tuple[Path, Path | None]:
    """Restore the starter file, keeping a copy of the learner's file. Returns (path, backup)."""
    path = starter_path(problem, track, directory)
    backup = None
    try:
        if path.exists():
            backup = backup_path(path)
            shutil.copy2(path, backup)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, starter_text(problem, track, lang, path))
    except OSError as exc:
        raise UsageError(f"Cannot reset {path}: {exc.strerror or exc}") from None
    return path, backup


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
