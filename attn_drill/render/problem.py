"""Drawing problems: the `list` table and the `show` statement."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from attn_drill.render import console, markdown

if TYPE_CHECKING:
    from rich.console import Group

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
        "track": "{track} track",
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
        "track": "{track} 赛道",
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
        "track_status": "status by track",
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
        "tracks": "赛道",
        "status": "状态",
        "track_status": "各赛道状态",
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


def track_status_text(row: dict[str, object], lang: str) -> Text:
    """`numpy  passed` / `torch  todo`, one line per track, each in its status colour; a pass
    from before the problem changed carries a `*`."""
    statuses = row.get("track_status") or {t: row.get("status", "todo")
                                           for t in row.get("tracks", [])}  # type: ignore[union-attr]
    changed = set(row.get("changed_tracks") or [])  # type: ignore[arg-type]
    width = max((len(str(t)) for t in statuses), default=0)  # type: ignore[union-attr]
    text = Text()
    for index, (track, status) in enumerate(statuses.items()):  # type: ignore[union-attr]
        if index:
            text.append("\n")
        text.append(f"{track:<{width}}  ")
        text.append(status_text(str(status), lang) + ("*" if track in changed else ""),
                    style=STATUS_STYLE.get(str(status), ""))
    return text


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
    else:
        # Narrow: the topic goes under the difficulty (long topics such as
        # positional-encoding would otherwise push the table past 80 columns).
        table.add_column(f"{text['difficulty']} / {text['topic']}", no_wrap=True)
    # One line per track, never cut: a pass on numpy is not a pass on torch.
    table.add_column(text["track_status"], no_wrap=True)
    changed = False
    for row in rows:
        if compact:
            cell = Text(str(row["id"]))
            cell.append("\n")
            cell.append(str(row["title"]), style="dim")
            level = Text(difficulty_text(str(row["difficulty"]), lang))
            level.append("\n")
            level.append(str(row["topic"]), style="dim")
            cells: list[object] = [cell, level]
        else:
            cells = [Text(str(row["id"]), no_wrap=True), Text(str(row["title"])),
                     str(row["topic"]), difficulty_text(str(row["difficulty"]), lang)]
        table.add_row(*cells, track_status_text(row, lang))
        changed = changed or bool(row.get("changed_since_pass"))
    console().print(table)
    if changed:
        console().print(f"[dim]{CHANGED_NOTE[lang]}[/]")


def problem_statement(problem: Problem, track: str, lang: str) -> None:
    labels = LABELS[lang]
    spec = problem.tracks[track]
    out = console()
    out.print(
        Panel(
            f"[bold]{escape(problem.title.get(lang))}[/]  [dim]{problem.id} · "
            f"{escape(LABELS[lang]['track'].format(track=track))} · {problem.topic} · "
            f"{difficulty_text(problem.difficulty, lang)}[/]",
            expand=False,
        )
    )
    out.print(markdown(problem.statement.get(lang)))
    out.print(f"\n[bold]{labels['formula']}[/]")
    for part in formula_lines(problem.formula, out.width - 2):
        out.print(Text("  " + part), overflow="fold")
    if spec.signature:
        out.print(f"\n[bold]{labels['signature']}[/]")
        out.print(
            Syntax(
                spec.signature, "python", theme="ansi_dark", background_color="default",
                word_wrap=True,
            )
        )
    out.print(f"\n[bold]{labels['shapes']}[/]")
    out.print(markdown(problem.shapes.get(lang)))
    for number, example in enumerate(problem.examples, start=1):
        out.print(f"\n[bold]{labels['example']} {number}[/]")
        out.print(_labelled(labels["inputs"], example.inputs, labels))
        out.print(_labelled(labels["output"], example.output, labels))
        weights = example_weights(example.output)
        if weights is not None:
            out.print(weights_matrix(weights, lang))
        out.print(markdown(example.explanation.get(lang)))
    out.print(f"\n[bold]{labels['constraints']}[/]")
    out.print(markdown(problem.constraints.get(lang)))
    if spec.forbidden:
        out.print(f"\n[bold]{labels['forbidden']}[/]")
        for name in spec.forbidden:
            out.print(f"  • {escape(name)}")


MATRIX_MAX = 12  # larger tables are not readable in a terminal
MATRIX_TITLE = {
    "en": "Attention weights: row qi = query position i, column kj = key position j",
    "zh": "注意力权重：第 qi 行 = 查询位置 i，第 kj 列 = 键位置 j",
}


def example_weights(output: str) -> list[list[float]] | None:
    """The `weights = [[...]]` matrix of a worked example's printed output, or None (no
    weights, not a 2-D table of numbers, or too large to draw)."""
    import ast
    import re

    found = re.search(r"(?:^|[\s,])weights\s*=\s*(\[\s*\[.*?\]\s*\])", output)
    if found is None:
        return None
    try:
        value = ast.literal_eval(found.group(1))
    except (ValueError, SyntaxError):
        return None
    if not (isinstance(value, list) and value and all(isinstance(r, list) for r in value)):
        return None
    width = len(value[0])
    if not 0 < width <= MATRIX_MAX or len(value) > MATRIX_MAX or any(
            len(r) != width or not all(isinstance(v, (int, float)) for v in r) for r in value):
        return None
    return [[float(v) for v in row] for row in value]


def weights_matrix(weights: list[list[float]], lang: str) -> Group:
    """A labelled matrix of attention weights, as seed 000 draws them: one row per query
    position, one column per key position; the larger the weight, the stronger the cell."""
    from rich import box
    from rich.console import Group
    from rich.padding import Padding
    from rich.text import Text

    table = Table(box=box.SIMPLE, pad_edge=False, show_edge=False)
    table.add_column("")
    for column in range(len(weights[0])):
        table.add_column(f"k{column + 1}", justify="right")
    for row_number, row in enumerate(weights, start=1):
        cells = []
        for value in row:
            style = "bold" if value >= 0.5 else ("" if value >= 0.2 else "dim")
            cells.append(Text(f"{value:.2f}", style=style))
        table.add_row(f"q{row_number}", *cells)
    title = Text(MATRIX_TITLE["zh" if lang == "zh" else "en"], style="italic")
    return Group(Padding(title, (0, 0, 0, 2)), Padding(table, (0, 0, 0, 2)))


def _labelled(label: str, value: str, labels: dict[str, str]) -> Table:
    """`  Input:  value`, a long value wrapping under itself rather than at the margin."""
    from rich.cells import cell_len

    width = max(cell_len(labels["inputs"]), cell_len(labels["output"])) + 3
    grid = Table.grid(padding=(0, 1, 0, 0))
    grid.add_column(width=width, no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row(Text("  " + label + ":"), Text(value))
    return grid


def formula_lines(formula: str, width: int) -> list[str]:
    """A formula split at its own separators (`,  ` and `;  `) rather than at any space:
    each clause stays whole on its line, never broken inside `softmax(Q Kᵀ / √d_k)`."""
    import re

    from rich.cells import cell_len

    if cell_len(formula) <= width:
        return [formula]
    clauses = [c.strip() for c in re.split(r"(?<=[,;])\s{2,}", formula) if c.strip()]
    lines: list[str] = []
    for clause in clauses:
        if lines and cell_len(lines[-1] + "  " + clause) <= width:
            lines[-1] += "  " + clause
        else:
            lines.append(clause)
    return lines


def next_step(command: str, lang: str) -> None:
    console().print(f"{LABELS[lang]['next']}[bold]{escape(command)}[/]")
