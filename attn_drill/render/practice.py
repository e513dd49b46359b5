"""Drawing the practice loop and the `hint` / `solution` / `reset` commands.

Every screen of the loop ends with a status line (problem, track, verdict, score) and the key
legend, so both are visible whatever scrolled past. A new grade clears the terminal first, so
each report replaces the previous one instead of piling up. Text fits 80 columns and reads
without colour (NO_COLOR).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from attn_drill.render import console, localized, markdown

if TYPE_CHECKING:
    from rich.markdown import Markdown

    from attn_drill.practice import HintStep
    from attn_drill.problems import Problem

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "hint": "Hint {level}/{total}",
        "no_more_hints": "No more hints: you have seen all {total}. Here they are together:",
        "hint_more": "Next time: hint {next} of {total} (`attn-drill hint {id}`).",
        "keys": "h hint · g grade · v details · s statement · n next · p back · l list · "
        "q quit",
        "keys_passed": "n / Enter next · p back · h hint · g grade · v details · l list · "
        "q quit",
        "keys_list": "↑/↓ or j/k move · Enter open · Esc or l back · q quit",
        "status_none": "not graded yet",
        "status_track": "{track} track",
        "skip_confirm": "You have not passed {id} yet. Press n again to skip it, or any other "
        "key to stay.",
        "no_previous": "There is no earlier problem in this session to go back to.",
        "unchanged": "{name} is unchanged since the last grade -- press g to grade it again.",
        "old_file_saved": "You saved {old}, but you are practising {current} now: that save "
        "is not graded here. Press p to go back to it.",
        "nothing_graded": "Nothing graded yet: save your file or press g.",
        "list_title": "Problems (status per track)",
        "file": "Your file: {path}",
        "file_created": "Created your file: {path}",
        "file_reused": "Continuing with your file: {path}",
        "file_has_work": "It already contains your work: press g to grade it now.",
        "edit_and_save": "Edit it in your editor and save: every save is graded here.",
        "review": "Back for review: you were recently caught on {concepts}. To redo it from "
        "scratch: attn-drill reset {id} (your file is backed up).",
        "grading": "Grading {name} …",
        "passed": "Passed! Well done: every required check is green.",
        "reference": "Reference solution",
        "going_further": "Going further",
        "next_prompt": "Press n or Enter for the next problem, q to quit.",
        "diagnosed_hint": "Stuck? Press h for the next hint; hint {hint} of {total} is the one "
        "about “{title}”.",
        "diagnosed_hint_seen": "Hint {hint} of {total}, which you have seen, is the one about "
        "“{title}”:",
        "press_h": "Stuck? Press h for a hint.",
        "grade_error": "Could not grade your file:",
        "missing_file": "{path} does not exist (yet). Save it from your editor, or press n.",
        "all_done": "No more problems to practise here: every problem is solved "
        "and nothing is due for review. Press q to quit, or l to list them.",
        "all_done_exit": "Nothing to practise: every problem is solved and nothing is due for "
        "review. Pick one to redo with: attn-drill practice ID",
        "internal": "Grading failed because of a bug in attn-drill ({error}). "
        "Please report it. You can keep working; press g to try again.",
        "store_error": "Could not save your progress: {error}",
        "watch_error": "Saves cannot be detected here ({error}); press g to grade.",
        "list_current": "You are practising: {id}",
        "bye": "Progress saved. Resume any time with: attn-drill practice",
        "solution_title": "Reference solution · {id} · {track}",
        "not_passed_confirm": "You have not passed {id} yet. Reveal the reference solution "
        "anyway?",
        "not_passed_yet": "You have not passed {id} yet.",
        "reveal_prompt": "Reveal the reference solution anyway?",
        "file_deleted": "{path} was deleted. Save it again from your editor to carry on, "
        "or press n for the next problem.",
        "already_passed": "You have already passed {id}. Saving your file grades it again; "
        "press n to move on.",
        "not_revealed": "Not revealed. Keep going: `attn-drill hint {id}` gives the next hint.",
        "reset_done": "Restored the starter file {path}",
        "reset_backup": "Your previous file was kept as {backup}",
        "reset_wrote": "There was no file yet; wrote the starter {path}",
        "reset_untouched": "{path} is already the starter file; nothing to reset.",
        "reset_confirm": "Replace {path} with the starter file? (a backup of yours is kept)",
        "reset_kept": "Left {path} unchanged.",
    },
    "zh": {
        "hint": "提示 {level}/{total}",
        "no_more_hints": "没有更多提示了：{total} 条提示你都看过了。下面把它们放在一起：",
        "hint_more": "下次：第 {next}/{total} 条提示（`attn-drill hint {id}`）。",
        "keys": "h 提示 · g 评测 · v 详情 · s 题目 · n 下一题 · p 上一题 · l 列表 · q 退出",
        "keys_passed": "n / 回车 下一题 · p 上一题 · h 提示 · g 评测 · v 详情 · l 列表 · q 退出",
        "keys_list": "↑/↓ 或 j/k 移动 · 回车 打开 · Esc 或 l 返回 · q 退出",
        "status_none": "尚未评测",
        "status_track": "{track} 赛道",
        "skip_confirm": "你还没有通过 {id}。再按一次 n 跳过它，按其他键留下。",
        "no_previous": "本次练习中没有可以返回的上一题。",
        "unchanged": "{name} 自上次评测以来没有变化——按 g 重新评测。",
        "old_file_saved": "你保存了 {old}，但现在练习的是 {current}：那次保存不会在这里评测。"
        "按 p 返回那一题。",
        "nothing_graded": "还没有评测过：保存文件或按 g。",
        "list_title": "题目（各赛道状态）",
        "file": "你的文件：{path}",
        "file_created": "已为你创建文件：{path}",
        "file_reused": "继续使用你的文件：{path}",
        "file_has_work": "文件里已经有你写的代码：按 g 立即评测。",
        "edit_and_save": "在编辑器里修改并保存：每次保存都会在这里自动评测。",
        "review": "复习回顾：你最近在 {concepts} 上出过错。想从头再做一遍：attn-drill reset {id}"
        "（会备份你的文件）。",
        "grading": "正在评测 {name} …",
        "passed": "通过了！干得好：所有必需的检查都已通过。",
        "reference": "参考答案",
        "going_further": "延伸阅读",
        "next_prompt": "按 n 或回车进入下一题，按 q 退出。",
        "diagnosed_hint": "卡住了？按 h 查看下一条提示；"
        "第 {hint}/{total} 条提示讲的正是「{title}」。",
        "diagnosed_hint_seen": "你已经看过的第 {hint}/{total} 条提示讲的正是「{title}」：",
        "press_h": "卡住了？按 h 查看提示。",
        "grade_error": "无法评测你的文件：",
        "missing_file": "{path} 还不存在。请在编辑器中保存它，或按 n 换一题。",
        "all_done": "这里没有可以练习的题目了：所有题目都已通过，也没有需要复习的内容。"
        "按 q 退出，或按 l 查看列表。",
        "all_done_exit": "没有需要练习的题目：所有题目都已通过，也没有需要复习的内容。"
        "想重做某一题：attn-drill practice ID",
        "internal": "由于 attn-drill 自身的缺陷，评测失败（{error}）。请报告这个问题。"
        "你可以继续练习，按 g 重试。",
        "store_error": "无法保存你的进度：{error}",
        "watch_error": "这里无法检测文件保存（{error}）；请按 g 评测。",
        "list_current": "你正在练习：{id}",
        "bye": "进度已保存。随时可以用 attn-drill practice 继续。",
        "solution_title": "参考答案 · {id} · {track}",
        "not_passed_confirm": "你还没有通过 {id}。仍然要查看参考答案吗？",
        "not_passed_yet": "你还没有通过 {id}。",
        "reveal_prompt": "仍然要查看参考答案吗？",
        "file_deleted": "{path} 被删除了。在编辑器里重新保存它就能继续，或按 n 换下一题。",
        "already_passed": "你已经通过了 {id}。保存文件会重新评测；按 n 进入下一题。",
        "not_revealed": "没有显示答案。继续加油：`attn-drill hint {id}` 会给出下一条提示。",
        "reset_done": "已恢复初始文件 {path}",
        "reset_backup": "你原来的文件已备份为 {backup}",
        "reset_wrote": "之前还没有文件；已写入初始文件 {path}",
        "reset_untouched": "{path} 已经是初始文件，无需重置。",
        "reset_confirm": "用初始文件替换 {path} 吗？（会保留你的文件备份）",
        "reset_kept": "{path} 保持不变。",
    },
}


def text(lang: str, key: str, **values: Any) -> str:
    """A learner-facing message in `lang` (English when the language is unknown)."""
    return localized(TEXT, lang, key, **values)


# -- hints -------------------------------------------------------------------------------


def hint_panel(step: HintStep, problem: Problem, lang: str) -> None:
    """The hint just unlocked, or every hint once they are all used up."""
    out = console()
    total = len(problem.hints)
    if step.exhausted:
        out.print(escape(text(lang, "no_more_hints", total=total)))
        for number, hint in enumerate(problem.hints, start=1):
            out.print(_hint_box(hint.get(lang), text(lang, "hint", level=number, total=total)))
        return
    hint = problem.hints[step.level - 1]
    out.print(_hint_box(hint.get(lang), text(lang, "hint", level=step.level, total=total)))


def _hint_box(body: str, title: str) -> Panel:
    return Panel(markdown(body), title=escape(title), title_align="left", border_style="cyan")


# -- solutions ---------------------------------------------------------------------------


def soft_wrap_python(source: str, width: int) -> str:
    """Python source whose lines fit `width` where that can be done without changing the
    program: a long comment is re-wrapped into comment lines at its own indentation, a long
    trailing comment moves onto comment lines above its code, and a long docstring or string
    line continues at its indentation. Code itself is never split (rare; the terminal wraps
    it). The result is still valid Python, so it reads (and copies) as Python at 80 columns
    instead of wrapping back to the left edge.
    """
    import io
    import textwrap
    import tokenize

    lines = source.splitlines()
    comments: dict[int, int] = {}  # line number (1-based) -> column of its comment
    strings: set[int] = set()  # lines inside a multi-line string (docstrings)
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.start[1]
            elif token.type == tokenize.STRING and token.end[0] > token.start[0]:
                strings.update(range(token.start[0] + 1, token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return source  # not Python we can read: show it as it is

    def comment_lines(indent: str, body: str) -> list[str]:
        room = max(width - len(indent) - 2, 20)
        return [f"{indent}# {part}" for part in textwrap.wrap(body, room)] or [f"{indent}#"]

    result: list[str] = []
    for number, line in enumerate(lines, start=1):
        if len(line) <= width:
            result.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        column = comments.get(number)
        if column is not None:
            body = line[column:].lstrip("#").strip()
            code = line[:column].rstrip()
            if code:
                result.extend(comment_lines(indent, body))
                result.append(code)
            else:
                result.extend(comment_lines(line[:column], body))
        elif number in strings and line.strip():
            room = max(width - len(indent), 20)
            result.extend(indent + part for part in textwrap.wrap(line.strip(), room))
        else:
            result.append(line)
    return "\n".join(result) + ("\n" if source.endswith("\n") else "")


def strip_answer_header(source: str) -> str:
    """A model answer without its `# attn-drill: ...` header line (a marker for the grader,
    which Markdown would otherwise show as a big heading)."""
    lines = source.splitlines(keepends=True)
    while lines and lines[0].lstrip().lower().startswith("# attn-drill:"):
        lines.pop(0)
        while lines and not lines[0].strip():
            lines.pop(0)
    return "".join(lines)


def _code(source: str, path: Path | None, width: int = 80) -> Syntax | Markdown:
    """Python highlighted; a model answer (text track, Markdown) rendered as Markdown."""
    if path is not None and path.suffix in (".md", ".txt"):
        return markdown(strip_answer_header(source))
    return Syntax(
        soft_wrap_python(source.rstrip("\n"), width), "python", theme="ansi_dark",
        background_color="default", word_wrap=True,
    )


def _reference_block(title: str, source: str, path: Path | None) -> None:
    """The reference under a titled rule, without a box: code keeps the full width and its
    own indentation, so wrapped comments stay comments and it copies out cleanly."""
    from rich.rule import Rule

    out = console()
    out.print(Rule(escape(title), align="left", style="green"))
    out.print(_code(source, path, out.width))
    out.print(Rule(style="green"))


def solution_view(problem: Problem, track: str, source: str, source_path: Path | None,
                  lang: str) -> None:
    """The reference solution, highlighted, then the problem's "going further" note."""
    _reference_block(text(lang, "solution_title", id=problem.id, track=track), source,
                     source_path)
    _going_further(problem, lang)


def plain_source(source: str) -> None:
    """Only the code: `solution --plain` output can be redirected straight into a file."""
    sys.stdout.write(source if source.endswith("\n") else source + "\n")
    sys.stdout.flush()


def _going_further(problem: Problem, lang: str) -> None:
    if problem.going_further is None:
        return
    console().print(
        Panel(
            markdown(problem.going_further.get(lang)),
            title=escape(text(lang, "going_further")),
            title_align="left",
            border_style="magenta",
        )
    )


def message(body: str, style: str = "") -> None:
    console().print(f"[{style}]{escape(body)}[/]" if style else escape(body))


# -- the practice loop's screens ---------------------------------------------------------


_Draw = TypeVar("_Draw", bound=Callable[..., None])


def _in_one_write(draw: _Draw) -> _Draw:
    """Buffer everything a screen method prints and write it at once when it returns: the
    terminal never shows a report half drawn (no flicker, and a reader of the screen sees the
    key legend only together with everything above it)."""

    @functools.wraps(draw)
    def drawn(*args: Any, **kwargs: Any) -> None:
        with console():
            draw(*args, **kwargs)

    return drawn  # type: ignore[return-value]


class PracticeScreen:
    """What the practice loop draws, one method per moment of the loop; each screen reaches
    the terminal in one write."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        # What the status line says: problem, track and the last verdict (None: not graded).
        self.problem_id = ""
        self.track = ""
        self.last: Any = None

    def _t(self, key: str, **values: Any) -> str:
        return text(self.lang, key, **values)

    def say(self, key: str, style: str = "", **values: Any) -> None:
        message(self._t(key, **values), style)

    @_in_one_write
    def clear(self) -> None:
        console().clear()

    def status_line(self) -> Text:
        """One line that ends every screen: problem, track, verdict and score."""
        from attn_drill.render.report import LABELS

        line = Text()
        if not self.problem_id:
            return line
        line.append(f" {self.problem_id} ", style="bold reverse")
        line.append(" " + self._t("status_track", track=self.track) + " · ")
        if self.last is None:
            line.append(self._t("status_none"), style="dim")
        else:
            words = LABELS["zh" if self.lang == "zh" else "en"]
            passed = bool(getattr(self.last, "passed", False))
            line.append(words["passed"] if passed else words["failed"],
                        style="bold green" if passed else "bold red")
            score = getattr(self.last, "score", None)
            if isinstance(score, (int, float)):
                line.append(f" · {words['score']} {score:.0%}")
        line.truncate(console().width, overflow="ellipsis")
        return line

    @_in_one_write
    def legend(self, passed: bool = False, keys: str = "") -> None:
        out = console()
        out.print()
        status = self.status_line()
        if status.plain:
            out.print(status, no_wrap=True, overflow="ellipsis")
        out.print(f"[dim]{escape(self._t(keys or ('keys_passed' if passed else 'keys')))}[/]")

    @_in_one_write
    def statement(self, problem: Problem, track: str, path: Path, *, created: bool,
                  has_work: bool, review_concepts: tuple[str, ...] = (),
                  passed: bool = False, already_passed: bool = False) -> None:
        from attn_drill.render.problem import problem_statement

        if (problem.id, track) != (self.problem_id, self.track):
            self.problem_id, self.track, self.last = problem.id, track, None
        self.clear()
        problem_statement(problem, track, self.lang)
        out = console()
        out.print()
        if already_passed:
            message(self._t("already_passed", id=problem.id), "green")
        if review_concepts:
            titles = [_concept_title(problem, c, self.lang) for c in review_concepts]
            message(self._t("review", concepts=", ".join(titles), id=problem.id), "yellow")
        out.print(
            f"[bold]{escape(self._t('file_created' if created else 'file_reused', path=path))}[/]"
        )
        if has_work:
            message(self._t("file_has_work"))
        message(self._t("edit_and_save"))
        self.legend(passed)

    @_in_one_write
    def grading(self, path: Path) -> None:
        console().print(f"[dim]{escape(self._t('grading', name=path.name))}[/]")

    def _graded(self, report: Any, problem: Problem, track: str | None = None) -> None:
        self.problem_id = problem.id
        self.track = track or getattr(report, "track", "") or self.track
        self.last = report

    @_in_one_write
    def report(self, report: Any, problem: Problem, path: Path, hint_level: int,
               verbose: bool = False) -> None:
        """A failed grade: the short report (every check with `verbose`), then which hint
        addresses each diagnosis, the status line and the keys."""
        from attn_drill.render.report import grade_report

        self._graded(report, problem)
        self.clear()
        message(self._t("file", path=path), "dim")
        grade_report(report, self.lang, next_steps=False, verbose=verbose)
        console().print()
        pointed = False
        for diagnosis in getattr(report, "diagnosis", []) or []:
            misconception = problem.misconception(diagnosis.id)
            if misconception is None or misconception.hint is None:
                continue
            pointed = True
            title = misconception.title.get(self.lang)
            if misconception.hint <= hint_level:
                hint = problem.hints[misconception.hint - 1].get(self.lang)
                message(self._t("diagnosed_hint_seen", title=title, hint=misconception.hint,
                                total=len(problem.hints)), "cyan")
                console().print(markdown(hint))
            else:
                message(self._t("diagnosed_hint", title=title, hint=misconception.hint,
                                total=len(problem.hints)), "cyan")
        if not pointed:
            message(self._t("press_h"), "cyan")
        self.legend()

    @_in_one_write
    def passed(self, report: Any, problem: Problem, track: str, path: Path,
               reference: tuple[Path, str] | None, verbose: bool = False) -> None:
        """A pass: the report, congratulations, the reference, one note to go further."""
        from attn_drill.render.report import grade_report

        self._graded(report, problem, track)
        self.clear()
        message(self._t("file", path=path), "dim")
        grade_report(report, self.lang, next_steps=False, verbose=verbose)
        out = console()
        out.print()
        out.print(Panel(f"[bold green]{escape(self._t('passed'))}[/]", border_style="green"))
        if reference is not None:
            ref_path, source = reference
            _reference_block(self._t("reference"), source, ref_path)
        _going_further(problem, self.lang)
        out.print(f"[bold]{escape(self._t('next_prompt'))}[/]")
        self.legend(passed=True)

    @_in_one_write
    def grade_error(self, error: str, path: Path, *, internal: bool = False) -> None:
        self.clear()
        message(self._t("file", path=path), "dim")
        if internal:
            message(self._t("internal", error=error), "bold red")
        else:
            message(self._t("grade_error"), "bold red")
            message(error)
        self.legend()

    @_in_one_write
    def hint(self, step: HintStep, problem: Problem, passed: bool = False) -> None:
        console().print()
        hint_panel(step, problem, self.lang)
        self.legend(passed)

    @_in_one_write
    def problem_list(self, rows: list[dict[str, object]], current_id: str,
                     passed: bool = False, selected: tuple[str, str | None] | None = None,
                     current_track: str | None = None) -> None:
        """The problems, one line per problem and track with that track's own status; the
        problem being practised marked ▶, the line the cursor is on highlighted."""
        from rich.cells import cell_len

        from attn_drill.render.problem import STATUS_STYLE, status_text

        self.clear()
        out = console()
        out.print(Text(self._t("list_title"), style="bold"))
        from attn_drill.catalog import list_entries

        entries = list_entries(rows)
        id_width = max((len(pid) for pid, _t, _s, _c, _title in entries), default=0)
        track_width = max((len(t or "") for _p, t, _s, _c, _title in entries), default=0)
        shown = [status_text(status, self.lang) + ("*" if changed else "")
                 for _p, _t, status, changed, _title in entries]
        status_width = max((cell_len(s) for s in shown), default=0)

        def is_current(problem_id: str, track: str | None) -> bool:
            return problem_id == current_id and (current_track is None or track is None
                                                 or track == current_track)

        # In a terminal, only as many lines as fit above the footer, around the cursor (or
        # the problem being practised), so the line that matters never scrolls away.
        first, last = 0, len(entries)
        room = out.height - LIST_FOOTER_LINES
        if out.is_terminal and len(entries) > room > 0:
            focus = next((i for i, (pid, track, *_rest) in enumerate(entries)
                          if (selected is not None and (pid, track) == selected)
                          or (selected is None and is_current(pid, track))), 0)
            first = min(max(focus - room // 2, 0), len(entries) - room)
            last = first + room
        if first:
            out.print(Text(f"  ↑ {first} …", style="dim"))
        for (problem_id, track, status, _changed, title), status_shown in zip(
                entries[first:last], shown[first:last], strict=True):
            current = is_current(problem_id, track)
            chosen = selected is not None and (problem_id, track) == selected
            line = Text("▶ " if current else "  ")
            padding = " " * (status_width - cell_len(status_shown) + 1)
            line.append(status_shown + padding, style=STATUS_STYLE.get(status, ""))
            line.append(f"{problem_id:<{id_width}}  ", style="bold" if current else "")
            if track_width:
                line.append(f"{track or '':<{track_width}}  ", style="dim")
            line.append(title)
            if chosen:
                line.stylize("reverse")
            line.truncate(out.width, overflow="ellipsis")
            out.print(line, no_wrap=True, overflow="ellipsis")
        if last < len(entries):
            out.print(Text(f"  ↓ {len(entries) - last} …", style="dim"))
        out.print()
        message(self._t("list_current", id=current_id), "bold")
        self.legend(passed, keys="keys_list" if selected is not None else "")

    @_in_one_write
    def note(self, key: str, passed: bool = False, style: str = "yellow", **values: Any
             ) -> None:
        console().print()
        message(self._t(key, **values), style)
        self.legend(passed)

    @_in_one_write
    def goodbye(self) -> None:
        console().print()
        message(self._t("bye"))


# Lines of the list screen besides the problems: title, "↑"/"↓" markers, a blank line, the
# current problem, the status line and the keys (which may wrap once), with one to spare.
LIST_FOOTER_LINES = 10


def _concept_title(problem: Problem, concept: str, lang: str) -> str:
    misconception = problem.misconception(concept)
    return misconception.title.get(lang) if misconception is not None else concept


class CommandScreen:
    """The screen of `solution` and `reset` (practice.CommandView)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def say(self, key: str, style: str = "", **values: Any) -> None:
        message(text(self.lang, key, **values), style)

    def confirm(self, key: str, **values: Any) -> bool:
        import typer

        return bool(typer.confirm(text(self.lang, key, **values), default=False))

    def solution(self, problem: Problem, track: str, source: str, path: Path | None, *,
                 plain: bool) -> None:
        if plain:
            plain_source(source)
        else:
            solution_view(problem, track, source, path, self.lang)
