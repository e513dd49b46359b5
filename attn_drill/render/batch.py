"""Drawing a batch grade: a progress bar on a terminal and the class summary."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from attn_drill.render import console, localized

if TYPE_CHECKING:
    from attn_drill.batch import BatchResult

LABELS = {
    "en": {
        "grading": "grading", "title": "Results per problem", "problem": "problem",
        "track": "track", "total": "total", "passed": "passed", "failed": "failed",
        "errors": "errors", "misconceptions": "Most frequent misconceptions",
        "count": "submissions", "misconception": "misconception",
        "not_passed": "Submissions that did not pass", "student": "student", "file": "file",
        "why": "first problem", "score": "score",
        "totals": "{total} graded: {passed} passed, {failed} failed, {errors} could not be graded",
        "skipped": "{n} file(s) skipped (no problem could be told from their name or header)",
        "resumed": "{n} result(s) reloaded from {dir}", "more": "… and {n} more (see --csv/--json)",
        "written": "Wrote {path}",
    },
    "zh": {
        "grading": "评测中", "title": "各题结果", "problem": "题目", "track": "赛道",
        "total": "总数", "passed": "通过", "failed": "未通过", "errors": "出错",
        "misconceptions": "最常见的误区", "count": "份数", "misconception": "误区",
        "not_passed": "未通过的提交", "student": "学生", "file": "文件", "why": "第一个问题",
        "score": "得分",
        "totals": "共评测 {total} 份：{passed} 份通过，{failed} 份未通过，{errors} 份无法评测",
        "skipped": "跳过 {n} 个文件（无法从文件名或首行判断题目）",
        "resumed": "从 {dir} 重新载入 {n} 份结果", "more": "……还有 {n} 份（见 --csv/--json）",
        "written": "已写入 {path}",
    },
}
SHOWN_FAILURES = 30


def _t(lang: str, key: str, **values: Any) -> str:
    return localized(LABELS, lang, key, **values)


class BatchProgress:
    """A progress bar on stderr while a batch runs, only when stderr is a terminal."""

    def __init__(self, total: int, lang: str) -> None:
        self._progress: Progress | None = None
        if total and sys.stderr.isatty():
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("[green]✓ {task.fields[passed]}[/] [red]✗ {task.fields[failed]}[/]"),
                TimeElapsedColumn(), console=Console(file=sys.stderr), transient=True)
            self._task = self._progress.add_task(_t(lang, "grading"), total=total, passed=0,
                                                 failed=0)
        self.passed = self.failed = 0

    def __enter__(self) -> BatchProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, result: dict[str, Any]) -> None:
        if result.get("passed") is True:
            self.passed += 1
        else:
            self.failed += 1
        if self._progress is not None:
            self._progress.update(self._task, advance=1, passed=self.passed, failed=self.failed)


def _first_problem(result: dict[str, Any]) -> str:
    if "error" in result:
        return str(result["error"].get("message", "")).splitlines()[0][:80] if result[
            "error"].get("message") else ""
    for item in result.get("diagnosis", []):
        return str(item.get("title") or item.get("id"))
    for check in result.get("checks", []):
        if not check.get("passed"):
            return str(check.get("name", ""))
    return ""


def batch_summary(outcome: BatchResult, lang: str, *, out_dir: str | None = None) -> None:
    """Per problem counts, the most frequent misconceptions and who did not pass."""
    out = console()
    document = outcome.to_dict()
    summary = document["summary"]
    table = Table(title=_t(lang, "title"), title_justify="left")
    for key in ("problem", "track", "total", "passed", "failed", "errors"):
        table.add_column(_t(lang, key), justify="left" if key in ("problem", "track") else "right")
    for row in summary["per_problem"]:
        table.add_row(escape(row["problem"]), row["track"], str(row["total"]),
                      f"[green]{row['passed']}[/]", f"[red]{row['failed']}[/]",
                      f"[yellow]{row['errors']}[/]")
    out.print(table)
    if summary["misconceptions"]:
        common = Table(title=_t(lang, "misconceptions"), title_justify="left")
        common.add_column(_t(lang, "problem"))
        common.add_column(_t(lang, "misconception"))
        common.add_column(_t(lang, "count"), justify="right")
        for item in summary["misconceptions"]:
            label = item["id"] + (f" — {item['title']}" if item["title"] else "")
            common.add_row(escape(item["problem"]), escape(label), str(item["count"]))
        out.print(common)
    not_passed = [r for r in outcome.results if r.get("passed") is not True]
    if not_passed:
        failures = Table(title=_t(lang, "not_passed"), title_justify="left")
        for key in ("student", "file", "score", "why"):
            failures.add_column(_t(lang, key), overflow="fold",
                                justify="right" if key == "score" else "left")
        for result in not_passed[:SHOWN_FAILURES]:
            score = "—" if "error" in result else f"{float(result.get('score', 0)):.0%}"
            failures.add_row(escape(str(result.get("student", ""))),
                             escape(str(result.get("file", ""))), score,
                             escape(_first_problem(result)))
        out.print(failures)
        if len(not_passed) > SHOWN_FAILURES:
            out.print(_t(lang, "more", n=len(not_passed) - SHOWN_FAILURES))
    out.print(_t(lang, "totals", **{k: summary[k] for k in ("total", "passed", "failed",
                                                             "errors")}))
    if outcome.skipped:
        out.print(_t(lang, "skipped", n=len(outcome.skipped)))
    if outcome.resumed and out_dir:
        out.print(_t(lang, "resumed", n=outcome.resumed, dir=escape(out_dir)))


def written(path: str, lang: str) -> None:
    console().print(_t(lang, "written", path=escape(path)))
