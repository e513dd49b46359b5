"""Where problem packs are: the one place that locates the built-in pack.

A pack is a directory laid out as the repository's top level: `problems/<id>.yaml`,
`solutions/<id_>_<track>.py`, `mutants/<id_>_<track>.py` and `quiz/<topic>.yaml`. A wheel
carries the built-in pack inside the package (`attn_drill/pack/`, copied there at build time);
a source checkout or an editable install reads it from the repository itself.

Kept free of heavy imports: `grade` locates a problem's YAML before anything else loads.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _builtin_pack() -> Path:
    installed = _PACKAGE / "pack"
    if (installed / "problems").is_dir():
        return installed
    return _PACKAGE.parent  # the repository: a source checkout or an editable install


BUILTIN_PACK = _builtin_pack()
