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
        "forbidden": "Not allowed on this track (it would do the exercise for you)",
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
        "forbidden": "本赛道不允许使用（它们会替你完成练习）",
        "inputs": "输入",
        "output": "输出",
        "next": "下一步：",
    },
}


# Values shown in the table (the JSON keeps the English ids; filters take the English ids).
DIFFICULTY_TEXT = {
    "en": {"easy": "easy", "medium": "medium", "hard": "hard"},
    "zh": {"easy": "简单", "medium": "中等", "hard": "困难"},
}
STATUS_TEXT = {
    "en": {"todo": "todo", "attempted": "attempted", "passed": "passed"},
    "zh": {"todo": "未开始", "attempted": "已尝试", "passed": "已通过"},
}
TABLE_TEXT = {
    "en": {
        "title": "attn-drill problems",
        "id": "id",
        "id_title": "id / title",
        "title_col": "title",
        "topic": "topic",
        "difficulty": "difficulty",
        "tracks": "tracks",
        "status": "status",
        "no_match": "No problems match these filters.",
        "no_match_passed": "No passed problems yet. "
        "Start with: [bold]attn-drill practice[/]",
        "no_match_attempted": "No problem is in progress (attempted but not yet passed).",
        "no_match_todo": "No untouched problems left: you have started every one of them.",
        "no_match_hint": "See them all with: [bold]attn-drill list[/]",
    },
    "zh": {
        "title": "attn-drill 题目",
        "id": "编号",
        "id_title": "编号 / 标题",
        "title_col": "标题",
        "topic": "主题",
        "difficulty": "难度",
        "tracks": "轨道",
        "status": "状态",
        "no_match": "没有符合这些筛选条件的题目。",
        "no_match_passed": "还没有通过的题目。从这里开始：[bold]attn-drill practice[/]",
        "no_match_attempted": "没有进行中（尝试过但还没通过）的题目。",
        "no_match_todo": "没有未开始的题目了：每一道你都已经开始做了。",
        "no_match_hint": "查看全部题目：[bold]attn-drill list[/]",
    },
}


def difficulty_text(difficulty: str, lang: str) -> str:
    return DIFFICULTY_TEXT.get(lang, DIFFICULTY_TEXT["en"]).get(difficulty, difficulty)


def status_text(status: str, lang: str) -> str:
    return STATUS_TEXT.get(lang, STATUS_TEXT["en"]).get(status, status)


def no_problems(lang: str, status: str | None = None) -> None:
    """The friendly line instead of an empty table (e.g. `list --status passed` at the start)."""
    text = TABLE_TEXT["zh" if lang == "zh" else "en"]
    out = console()
    if status is not None and f"no_match_{status}" in text:
        out.print(text[f"no_match_{status}"])
    else:
        out.print(text["no_match"])
    out.print(text["no_match_hint"])


def problem_table(rows: list[dict[str, object]], lang: str, *, status: str | None = None
                  ) -> None:
    from rich import box
    from rich.text import Text

    lang = "zh" if lang == "zh" else "en"
    text = TABLE_TEXT[lang]
    if not rows:
        # Only a filter can leave nothing; when every row has one status, that was the filter.
        no_problems(lang, status)
        return
    # Below ~110 columns the title moves under the id so nothing wraps mid-word.
    compact = console().width < 110
    # The id is what the learner types: its column is never narrower than the longest id, so
    # an id is never split across lines (titles and track lists wrap at spaces instead).
    id_width = max(len(str(row["id"])) for row in rows)
    table = Table(title=text["title"], box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column(text["id_title"] if compact else text["id"], min_width=id_width,
                     no_wrap=not compact, overflow="fold")
    if not compact:
        table.add_column(text["title_col"], overflow="fold")
    table.add_column(text["topic"], no_wrap=True)
    table.add_column(text["difficulty"], no_wrap=True)
    table.add_column(text["tracks"])
    table.add_column(text["status"], no_wrap=True)
    changed = False
    for row in rows:
        status_id = str(row["status"])
        style = STATUS_STYLE.get(status_id, "")
        shown_status = status_text(status_id, lang)
        if row.get("changed_since_pass"):
            shown_status += "*"
            changed = True
        if compact:
            cell = Text(str(row["id"]))
            cell.append("\n")
            cell.append(str(row["title"]), style="dim")
            cells: list[object] = [cell]
        else:
            cells = [Text(str(row["id"]), no_wrap=True), Text(str(row["title"]))]
        table.add_row(
            *cells,
            str(row["topic"]),
            difficulty_text(str(row["difficulty"]), lang),
            ", ".join(row["tracks"]),  # type: ignore[arg-type]
            Text(shown_status, style=style),
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
    if spec.forbidden:
        out.print(f"\n[bold]{labels['forbidden']}[/]")
        for name in spec.forbidden:
            out.print(f"  • {escape(name)}")


def next_step(command: str, lang: str) -> None:
    console().print(f"{LABELS[lang]['next']}[bold]{escape(command)}[/]")
