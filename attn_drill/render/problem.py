"""Drawing problems: the `list` table and the `show` statement."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markdown import Markdown
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from attn_drill.render import console

if TYPE_CHECKING:
    from attn_drill.problems import Problem

STATUS_STYLE = {"passed": "green", "attempted": "yellow", "todo": "dim", "changed": "magenta"}
CHANGED_NOTE = {
    "en": "* passed before the problem changed: grade it again to confirm the pass.",
    "zh": "* 通过之后题目有改动：请重新评测一次，确认仍能通过。",
}
LABELS = {
    "en": {
        "formula": "Formula",
        "signature": "Signature",
        "shapes": "Shapes",
        "example": "Example",
        "constraints": "Constraints",
        "inputs": "Input",
        "output": "Output",
        "next": "Next: ",
    },
    "zh": {
        "formula": "公式",
        "signature": "函数签名",
        "shapes": "形状",
        "example": "示例",
        "constraints": "约束",
        "inputs": "输入",
        "output": "输出",
        "next": "下一步：",
    },
}


def problem_table(rows: list[dict[str, object]], lang: str) -> None:
    from rich import box

    # Below ~110 columns the title moves under the id so nothing wraps mid-word.
    compact = console().width < 110
    table = Table(
        title="attn-drill problems" if lang == "en" else "attn-drill 题目",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("id / title" if compact else "id", no_wrap=not compact, overflow="fold")
    if not compact:
        table.add_column("title", overflow="fold")
    for column in ("topic", "difficulty", "tracks", "status"):
        table.add_column(column, no_wrap=True)
    changed = False
    for row in rows:
        status = str(row["status"])
        style = STATUS_STYLE.get(status, "")
        if row.get("changed_since_pass"):
            status += "*"
            changed = True
        title = escape(str(row["title"]))
        cells = [f"{row['id']}\n[dim]{title}[/]"] if compact else [str(row["id"]), title]
        table.add_row(
            *cells,
            str(row["topic"]),
            str(row["difficulty"]),
            ", ".join(row["tracks"]),  # type: ignore[arg-type]
            f"[{style}]{status}[/]" if style else status,
        )
    console().print(table)
    if changed:
        console().print(f"[dim]{CHANGED_NOTE[lang]}[/]")


def problem_statement(problem: Problem, track: str, lang: str) -> None:
    labels = LABELS[lang]
    spec = problem.tracks[track]
    out = console()
    out.print(
        Panel(
            f"[bold]{escape(problem.title.get(lang))}[/]  [dim]{problem.id} · {track} · "
            f"{problem.topic} · {problem.difficulty}[/]",
            expand=False,
        )
    )
    out.print(Markdown(problem.statement.get(lang)))
    out.print(f"\n[bold]{labels['formula']}[/]")
    out.print(f"  {escape(problem.formula)}")
    if spec.signature:
        out.print(f"\n[bold]{labels['signature']}[/]")
        out.print(
            Syntax(
                spec.signature, "python", theme="ansi_dark", background_color="default",
                word_wrap=True,
            )
        )
    out.print(f"\n[bold]{labels['shapes']}[/]")
    out.print(Markdown(problem.shapes.get(lang)))
    for number, example in enumerate(problem.examples, start=1):
        out.print(f"\n[bold]{labels['example']} {number}[/]")
        out.print(f"  {labels['inputs']}:  {escape(example.inputs)}")
        out.print(f"  {labels['output']}: {escape(example.output)}")
        out.print(Markdown(example.explanation.get(lang)))
    out.print(f"\n[bold]{labels['constraints']}[/]")
    out.print(Markdown(problem.constraints.get(lang)))


def next_step(command: str, lang: str) -> None:
    console().print(f"{LABELS[lang]['next']}[bold]{escape(command)}[/]")
