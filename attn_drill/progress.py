"""Progress store (placeholder until the SQLite store lands): every problem reads as todo."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from attn_drill.problems import Problem


def problem_statuses(problems: Iterable[Problem]) -> dict[str, str]:
    return {p.id: "todo" for p in problems}
