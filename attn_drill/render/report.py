"""Drawing a grade report and a pack validation result (fits 80 columns, works with NO_COLOR)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from attn_drill.render import console

if TYPE_CHECKING:
    from attn_drill.grading.report import CheckResult, GradeReport, Heatmap, MismatchTable

STDOUT_LINES = 20
TRACEBACK_LINES = 15
STDERR_LINES = 8
SHADES = " ░▒▓█"

LABELS = {
    "en": {
        "passed": "PASSED", "failed": "FAILED", "score": "score", "time": "time",
        "track": "track", "diagnosis": "Likely misconception", "stdout": "Your program printed",
        "truncated": "(output truncated: only the first few KiB are kept)",
        "traceback": "Your code raised", "protections": "Protections that are off here",
        "index": "index", "got": "got", "expected": "expected", "yours": "yours",
        "reference": "reference", "weights": "Attention weights", "next_pass":
        "All checks passed. Next: attn-drill solution {id}  (compare with the reference)",
        "next_fail": "Fix the first ✗ and grade again; stuck? attn-drill hint {id}",
        "stderr": "Your program wrote to stderr", "optional": "(optional)", ":": ": ",
        "saved": "Saved {n} failing case(s) under {dir} (each folder has repro.py)",
        "saved_none": "No failing cases to save in {dir}",
        "grouped_load": "not run, because the file could not be loaded: {names}",
        "grouped_error": "not run, because every case failed as above: {names}",
    },
    "zh": {
        "passed": "通过", "failed": "未通过", "score": "得分", "time": "用时",
        "track": "赛道", "diagnosis": "可能的误区", "stdout": "你的程序输出",
        "truncated": "（输出已截断：只保留前几 KiB）",
        "traceback": "你的代码抛出了异常", "protections": "本机上未启用的保护措施",
        "index": "索引", "got": "你的结果", "expected": "期望", "yours": "你的",
        "reference": "参考", "weights": "注意力权重", "next_pass":
        "全部检查通过。下一步：attn-drill solution {id}（与参考答案对比）",
        "next_fail": "先修正第一个 ✗ 再重新评测；卡住了？attn-drill hint {id}",
        "stderr": "你的程序写到 stderr 的内容", "optional": "（可选）", ":": "：",
        "saved": "已把 {n} 个未通过的用例保存到 {dir}（每个文件夹里有 repro.py）",
        "saved_none": "没有未通过的用例需要保存到 {dir}",
        "grouped_load": "未运行，因为文件无法加载：{names}",
        "grouped_error": "未运行，因为每个用例都像上面那样失败了：{names}",
    },
}


# Plain words for the protection ids of a grade (the --json document keeps the ids).
PROTECTION_WORDS = {
    "isolated-process": ("your code runs inside the grader's own process",
                         "你的代码在评测程序自己的进程里运行"),
    "timeout": ("there is no time limit", "没有运行时间限制"),
    "output-cap": ("your program's output is not capped", "不限制你的程序输出的长度"),
    "kill-process-group": ("processes your code starts are not stopped afterwards",
                           "你的代码启动的进程结束后不会被清理"),
    "kill-escaped-processes": ("processes that leave their group are not stopped",
                               "脱离进程组的进程不会被清理"),
    "memory-limit": ("there is no memory limit", "没有内存限制"),
    "cpu-limit": ("there is no CPU-time limit", "没有 CPU 时间限制"),
    "file-size-limit": ("there is no limit on the size of files it writes",
                        "不限制写出的文件大小"),
    "privilege-drop": ("your code runs as your own user, not a separate one",
                       "你的代码以你自己的用户身份运行，而不是单独的用户"),
    "process-limit": ("there is no limit on how many processes it starts",
                      "不限制启动的进程数量"),
    "no-new-privileges": ("programs it starts may gain privileges",
                          "它启动的程序可能获得更高权限"),
    "read-restricted": ("your code can read files the grading user can read",
                        "你的代码能读取评测用户可以读取的文件"),
    "hide-references": ("your code could read the reference solutions",
                        "你的代码可以读取参考答案"),
}


def protection_words(ids: list[str], lang: str) -> list[str]:
    index = 1 if lang == "zh" else 0
    return [PROTECTION_WORDS[i][index] if i in PROTECTION_WORDS else i for i in ids]


def _labels(lang: str) -> dict[str, str]:
    return LABELS["zh" if lang == "zh" else "en"]


def _tail(text: str, limit: int) -> tuple[list[str], bool]:
    lines = text.rstrip("\n").splitlines()
    return (lines[:limit], len(lines) > limit)


def _number(value: float) -> str:
    return f"{value:.6g}"


def mismatch_table(table: MismatchTable, lang: str) -> Table:
    labels = _labels(lang)
    grid = Table(box=None, padding=(0, 2), show_edge=False, pad_edge=False)
    grid.add_column(labels["index"])
    grid.add_column(labels["got"], justify="right")
    grid.add_column(labels["expected"], justify="right")
    for row in table.rows:
        grid.add_row(str(row.index), _number(row.got), _number(row.expected))
    return grid


def _heat_cell(value: float) -> tuple[str, str]:
    if value != value:  # NaN
        return "??", "bold red"
    level = min(max(value, 0.0), 1.0)
    shade = SHADES[min(int(level * (len(SHADES) - 1) + 0.5), len(SHADES) - 1)]
    return shade * 2, f"color({232 + int(level * 23)})"


def heatmap_text(heat: Heatmap, lang: str) -> Text:
    """Two grids side by side: the learner's weights and the reference's."""
    labels = _labels(lang)
    width = len(heat.expected[0]) * 2 if heat.expected else 0
    text = Text()
    text.append(f"  {labels['weights']} ({heat.case}, 0 ░▒▓█ 1)\n", style="bold")
    text.append("  " + labels["yours"].ljust(width) + "   " + labels["reference"] + "\n")
    for mine, theirs in zip(heat.got, heat.expected, strict=True):
        text.append("  ")
        for value in mine:
            cell, style = _heat_cell(value)
            text.append(cell, style=style)
        text.append("   ")
        for value in theirs:
            cell, style = _heat_cell(value)
            text.append(cell, style=style)
        text.append("\n")
    return text


def _check_line(check: CheckResult, lang: str) -> Table:
    """✓/✗, the name and the message; wrapped lines hang under the name, not under the mark."""
    text = Text()
    text.append(check.name, style="" if check.passed else "bold")
    if not check.required:
        text.append(" " + _labels(lang)["optional"], style="dim")
    if check.message:
        text.append(" — " + check.message, style="dim" if check.passed else "")
    mark = Text("✓", style="green") if check.passed else Text("✗", style="bold red")
    return _hanging(mark, text, indent=2)


def _hanging(lead: Text, body: Text, *, indent: int) -> Table:
    """`lead` then `body`, every wrapped line of `body` starting under its first character."""
    grid = Table.grid(padding=(0, 1, 0, 0))
    grid.add_column(width=indent + len(lead.plain), justify="right", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row(lead, body)
    return grid


def _bare(message: str) -> str:
    """A check message without its case name and case counts, to compare failure reasons."""
    import re

    text = re.sub(r"^(case|用例)\s*[「'].*?[」']\s*[:：,，]?\s*", "", message.strip())
    return re.sub(r"\s*[（(][^()（）]*(cases?|用例)[^()（）]*[)）]\s*$", "", text).strip()


def _grouped(report: GradeReport) -> tuple[set[int], str]:
    """Indexes of the failed checks that only repeat one reason (the file could not be
    loaded, or every case failed the same way), and which of the two it is ("load",
    "error" or "")."""
    checks = report.checks
    load = [i for i, c in enumerate(checks) if c.not_run and c.kind != "defines" and any(
        other.kind == "defines" and not other.passed for other in checks)]
    if len(load) >= 2:
        return set(load), "load"
    runs = next((c for c in checks if c.kind == "runs" and not c.passed), None)
    if runs is None:
        return set(), ""
    reason = _bare(runs.message)
    repeated = {i for i, c in enumerate(checks) if c is not runs and not c.passed
                and (c.not_run or (reason and _bare(c.message) == reason))}
    failed_others = [i for i, c in enumerate(checks) if c is not runs and not c.passed]
    if len(repeated) >= 2 and len(repeated) == len(failed_others):
        return repeated, "error"
    return set(), ""


def _traceback_block(report: GradeReport, labels: dict[str, str]) -> list[Text]:
    lines, more = _tail(report.learner_traceback, TRACEBACK_LINES)
    block = [Text(labels["traceback"] + labels[":"].strip(), style="bold")]
    block += [Text("  " + line) for line in lines]
    if more:
        block.append(Text("  …"))
    return block


def grade_report(report: GradeReport, lang: str, *, next_steps: bool = True) -> None:
    """The full report. `next_steps=False` leaves out the closing command suggestion, for
    the practice loop, which offers its own keys instead."""
    out = console()
    labels = _labels(lang)
    verdict = labels["passed"] if report.passed else labels["failed"]
    header = Text()
    header.append(f"{report.problem}", style="bold")
    if report.title:
        header.append(f"  {report.title}")
    header.append(f"\n{labels['track']}{labels[':']}{report.track}   ")
    header.append(verdict, style="bold green" if report.passed else "bold red")
    header.append(f"   {labels['score']} {report.score:.0%}   "
                  f"{labels['time']} {report.duration_s:.2f} s")
    out.print(header)
    out.print()
    heatmap_shown = False  # one heatmap is informative; one per failed check is noise
    grouped, why = _grouped(report)
    traceback_first = why == "load" and bool(report.learner_traceback.strip())
    for index, check in enumerate(report.checks):
        if index in grouped:
            if index == min(grouped):
                if traceback_first:  # the learner's own error before what it stopped
                    out.print()
                    for line in _traceback_block(report, labels):
                        out.print(line, overflow="fold")
                    out.print()
                names = ("、" if lang == "zh" else ", ").join(
                    report.checks[i].name for i in sorted(grouped))
                key = "grouped_load" if why == "load" else "grouped_error"
                out.print(_hanging(Text("✗", style="bold red"),
                                   Text(labels[key].format(names=names)), indent=2))
            continue
        out.print(_check_line(check, lang))
        for detail in check.details:
            out.print(_hanging(Text("·"), Text(detail), indent=6))
        if not check.passed and check.mismatch is not None and check.mismatch.rows:
            out.print(Padding(mismatch_table(check.mismatch, lang), (0, 0, 0, 6), expand=False))
        if not check.passed and check.heatmap is not None and not heatmap_shown:
            out.print(heatmap_text(check.heatmap, lang))
            heatmap_shown = True
    if report.diagnosis:
        out.print()
        for item in report.diagnosis:
            title = f" — {item.title}" if item.title else ""
            out.print(Text(labels["diagnosis"] + labels[":"], style="bold yellow") +
                      Text(f"{item.id}{title}", style="bold"))
            out.print(Padding(Text(item.message), (0, 0, 0, 2)))
    if report.learner_traceback.strip() and not traceback_first:
        out.print()
        for line in _traceback_block(report, labels):
            out.print(line, overflow="fold")
    if report.stdout.strip():
        out.print()
        out.print(Text(labels["stdout"] + labels[":"].strip(), style="bold"))
        lines, more = _tail(report.stdout, STDOUT_LINES)
        for line in lines:
            out.print(Text("  │ " + line), overflow="fold")
        if more or report.output_truncated:
            out.print(Text("  " + labels["truncated"], style="dim"))
    elif report.output_truncated:
        out.print(Text(labels["truncated"], style="dim"))
    if report.stderr.strip():
        out.print()
        out.print(Text(labels["stderr"] + labels[":"].strip(), style="bold"))
        lines, more = _tail(report.stderr, STDERR_LINES)
        for line in lines:
            out.print(Text("  │ " + line), overflow="fold")
        if more:
            out.print(Text("  …"))
    if report.saved_cases_dir:
        out.print()
        count = len(report.saved_cases)
        text = (labels["saved"].format(n=count, dir=report.saved_cases_dir) if count
                else labels["saved_none"].format(dir=report.saved_cases_dir))
        out.print(Text(text), overflow="fold")
    if report.protections_off:
        out.print()
        joiner = "；" if lang == "zh" else "; "
        out.print(Padding(Text(labels["protections"] + labels[":"] + joiner.join(
            protection_words(report.protections_off, lang)), style="dim"), (0, 0, 0, 0),
                          expand=False))
    if next_steps:
        out.print()
        key = "next_pass" if report.passed else "next_fail"
        out.print(Text(labels[key].format(id=report.problem), style="dim"))


def validation_report(result: Any) -> None:
    """The `validate` view: one line per finding, then a summary."""
    out = console()
    out.print(Text(f"Validating {result.pack}", style="bold"))
    for item in result.items:
        mark = Text("  ✓ ", style="green") if item.ok else Text("  ✗ ", style="bold red")
        where = f"{item.problem}" + (f" [{item.track}]" if item.track else "")
        line = mark + Text(f"{where}: {item.subject}")
        if item.message:
            line.append(" — " + item.message, style="" if not item.ok else "dim")
        if not item.ok and getattr(item, "file", ""):
            line.append(f" [{item.rule}: {item.file}]", style="dim")
        out.print(line)
    for note in getattr(result, "notes", []):
        out.print(Text("  · " + note, style="dim"))
    failures = [i for i in result.items if not i.ok]
    out.print()
    if failures:
        out.print(Text(f"{len(failures)} problem(s) found in {len(result.items)} checks.",
                       style="bold red"))
    else:
        out.print(Text(f"Pack OK: {len(result.items)} checks passed.", style="bold green"))
