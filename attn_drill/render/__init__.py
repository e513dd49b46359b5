"""Rendering: the only part of attn-drill that imports rich.

Library modules return data (reports, problems, progress); these functions draw them. Colour
follows the terminal and NO_COLOR (rich honours it), and everything fits 80 columns.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.segment import Segment

_stdout: Console | None = None
_stderr: Console | None = None
_TRAILING_SPACES = re.compile(r"[ \t]+$", re.MULTILINE)


# A space that wrapping never breaks at: rich wraps at whitespace, and this private-use
# character is one cell wide but not whitespace. `_Console` turns it back into a space as it
# writes, so inline code, formulas and commands stay on one line and copy out unchanged.
KEEP_SPACE = "\ue000"
_INLINE = re.compile(
    r"`[^`\n]+`"  # inline code and formulas: `attn-drill hint softmax`, `Var(q·k) = d_k`
    r"|attn-drill [a-z]+(?: --?[a-z-]+)*(?: [A-Za-z0-9_./-]+)?"  # a command to type
    r"|(?:seed|种子) \d+"  # "seed 0" is one value
)


def keep_together(text: str) -> str:
    """`text` whose spaces never become line breaks."""
    return text.replace(" ", KEEP_SPACE)


def protect_inline(text: str) -> str:
    """`text` with its inline code, formulas and commands kept whole when wrapped."""
    return _INLINE.sub(lambda match: keep_together(match.group(0)), text)


def markdown(text: str) -> Any:
    """A Markdown renderable whose inline code is never split across lines."""
    from rich.markdown import Markdown

    return Markdown(protect_inline(text))


class _Console(Console):
    """rich pads table cells and wrapped lines to the full width with spaces; in a terminal
    they are invisible, but piped into a file or another program every line ends in a run of
    spaces. Without a terminal (no colour codes either) they are cut off at each line end.
    Spaces kept together for wrapping (`KEEP_SPACE`) become spaces again here."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        rendered = super()._render_buffer(buffer).replace(KEEP_SPACE, " ")
        if self.is_terminal:
            return rendered
        return _TRAILING_SPACES.sub("", rendered)


def console() -> Console:
    global _stdout
    if _stdout is None or _stdout.file is not sys.stdout:
        _stdout = _Console(file=sys.stdout, highlight=False)
    return _stdout


def err_console() -> Console:
    global _stderr
    if _stderr is None or _stderr.file is not sys.stderr:
        _stderr = _Console(file=sys.stderr, highlight=False)
    return _stderr


def print_json(document: Any) -> None:
    """Exactly one JSON document on stdout, nothing else (CONTRACT: --json)."""
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def localized(table: dict[str, dict[str, str]], lang: str, key: str, **values: Any) -> str:
    """`table[lang][key]` filled with `values` (English when the language is unknown)."""
    return table.get(lang, table["en"])[key].format(**values)


def error(message: str) -> None:
    from rich.markup import escape

    err_console().print(f"[bold red]error:[/] {escape(message)}")


def info(message: str) -> None:
    console().print(message)
