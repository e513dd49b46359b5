"""Where problem packs are: the one place that locates the built-in pack and the extra ones.

A pack is a directory laid out as the repository's top level: `problems/<id>.yaml`,
`solutions/<id_>_<track>.py`, `mutants/<id_>_<track>.py` and `quiz/<topic>.yaml`. A wheel
carries the built-in pack inside the package (`attn_drill/pack/`, copied there at build time);
a source checkout or an editable install reads it from the repository itself.

Extra packs (a teacher's or a community's) come from `ATTN_DRILL_PACKS` (directories separated
by `os.pathsep`) and from `--pack DIR` options, which the command line hands to `use_packs`
once per command. Everything that lists or finds problems asks `active_packs()`.

Kept free of heavy imports: `grade` locates a problem's YAML before anything else loads.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from attn_drill.errors import UsageError

_PACKAGE = Path(__file__).resolve().parent
ENV_VAR = "ATTN_DRILL_PACKS"


def _builtin_pack() -> Path:
    installed = _PACKAGE / "pack"
    if (installed / "problems").is_dir():
        return installed
    return _PACKAGE.parent  # the repository: a source checkout or an editable install


BUILTIN_PACK = _builtin_pack()

# Packs named by --pack for this command (the environment's come on top of these).
_option_packs: tuple[Path, ...] = ()


def check_pack_dir(directory: Path, origin: str) -> Path:
    """The pack directory, resolved; a UsageError (exit 2) when it is not a pack."""
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise UsageError(f"{origin}: no such directory: {path}")
    if not (path / "problems").is_dir():
        raise UsageError(f"{origin}: {path} is not a problem pack (it has no problems/ directory)")
    return path.resolve()


def env_packs() -> tuple[Path, ...]:
    """The directories listed in ATTN_DRILL_PACKS (empty entries are ignored)."""
    value = os.environ.get(ENV_VAR, "")
    return tuple(check_pack_dir(Path(part), ENV_VAR) for part in value.split(os.pathsep)
                 if part.strip())


def extra_packs() -> tuple[Path, ...]:
    """Every pack beside the built-in one, each once: --pack first, then ATTN_DRILL_PACKS."""
    builtin = BUILTIN_PACK.resolve()
    seen: list[Path] = []
    for pack in (*_option_packs, *env_packs()):
        if pack != builtin and pack not in seen:
            seen.append(pack)
    return tuple(seen)


def active_packs() -> tuple[Path, ...]:
    """The built-in pack, then the extra ones."""
    return (BUILTIN_PACK, *extra_packs())


def use_packs(directories: Iterable[Path] | None) -> None:
    """Make `--pack` directories active for the rest of this process (one CLI command)."""
    global _option_packs
    _option_packs = tuple(check_pack_dir(Path(d), "--pack") for d in directories or ())


@contextlib.contextmanager
def packs_in_use(directories: Iterable[Path]) -> Iterator[tuple[Path, ...]]:
    """`use_packs` for a block of library code (and tests); restores the previous packs."""
    global _option_packs
    before = _option_packs
    use_packs(directories)
    try:
        yield active_packs()
    finally:
        _option_packs = before
