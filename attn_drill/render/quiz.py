"""Drawing the quiz: the bank table, questions, prompts, feedback and the closing summary."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.prompt import Prompt
from rich.table import Table

from attn_drill.render import console, localized

if TYPE_CHECKING:
    from attn_drill.quiz.bank import Bank
    from attn_drill.quiz.session import PreparedQuestion, QuizOutcome, Verdict

LETTERS = "abcdef"

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "bank": "attn-drill quiz questions",
        "intro": "Quiz: {n} question(s). Type ? for a hint, q to stop (answers so far are kept).",
        "intro_piped": "Quiz: {n} question(s), one answer per line.",
        "question": "Question {number}/{total}",
        "due": "due for review (it was due {when})",
        "due_now": "due for review now",
        "ahead": "reviewed ahead of schedule (due {when})",
        "new": "new",
        "flagged": "asked because a grade flagged '{concept}' ({why})",
        "ask_choice": "Your answer (a-{last}, ? hint, q stop)",
        "ask_number": "Your answer (a number, ? hint, q stop)",
        "ask_text": "Your answer (one line, ? hint, q stop)",
        "no_hint": "No hint for this one: trust what you know.",
        "hint": "Hint",
        "bad_choice": "Answer with a letter a-{last} or a number 1-{n}.",
        "bad_number": "Answer with a number, e.g. 0.25 or -1.5.",
        "bad_text": "Write a short answer in one line.",
        "right": "Right!",
        "wrong": "Not quite.",
        "unreadable": "That answer could not be read, so it counts as wrong.",
        "answer_is": "The answer: {answer}",
        "worked": "Worked solution",
        "explanation": "Why",
        "related": "Related problem: attn-drill show {problem}",
        "next_review": "Next review {when}.",
        "met": "met",
        "missing": "missing",
        "too_short": "The answer is too short to show the ideas asked for.",
        "stopped": "Stopped. Your answers so far are saved.",
        "ended": "End of input: the quiz ends here; your answers so far are saved.",
        "summary": "Summary",
        "score": "Score: {right}/{total}",
        "no_answers": "No questions answered.",
        "next_due": "Next reviews:",
        "none_due": "No reviews scheduled yet.",
        "new_left": "{n} question(s) not seen yet.",
        "now": "now",
        "ago": "{amount} ago",
        "in": "in {amount}",
        "min": "{n} min",
        "hour": "{n} h",
        "day": "{n} day(s)",
        "col_id": "id",
        "col_topic": "topic",
        "col_kind": "kind",
        "col_langs": "langs",
        "col_difficulty": "difficulty",
        "chosen": "asked by id",
        "not_recorded": "not recorded (--no-record)",
    },
    "zh": {
        "bank": "attn-drill 测验题库",
        "intro": "测验：共 {n} 题。输入 ? 查看提示，输入 q 退出（已答的题会保存）。",
        "intro_piped": "测验：共 {n} 题，每行一个答案。",
        "question": "第 {number}/{total} 题",
        "due": "到期复习（{when}到期）",
        "due_now": "现在到期复习",
        "ahead": "提前复习（原定 {when}）",
        "new": "新题",
        "flagged": "出这道题是因为评分发现了“{concept}”的问题（{why}）",
        "flag_why": "{day} 对 {problem} 的评分",
        "ask_choice": "你的答案（a-{last}，? 提示，q 退出）",
        "ask_number": "你的答案（一个数，? 提示，q 退出）",
        "ask_text": "你的答案（一行，? 提示，q 退出）",
        "no_hint": "这道题没有提示，相信你自己。",
        "hint": "提示",
        "bad_choice": "请输入字母 a-{last} 或数字 1-{n}。",
        "bad_number": "请输入一个数，例如 0.25 或 -1.5。",
        "bad_text": "请用一行文字简短作答。",
        "right": "答对了！",
        "wrong": "不太对。",
        "unreadable": "无法识别这个答案，按答错处理。",
        "answer_is": "正确答案：{answer}",
        "worked": "详细解答",
        "explanation": "解析",
        "related": "相关编程题：attn-drill show {problem}",
        "next_review": "下次复习：{when}。",
        "met": "已答到",
        "missing": "缺少",
        "too_short": "答案太短，还不足以说明所问的要点。",
        "stopped": "已退出，已答的题都已保存。",
        "ended": "输入已结束，测验到此为止；已答的题都已保存。",
        "summary": "小结",
        "score": "得分：{right}/{total}",
        "no_answers": "本次没有作答。",
        "next_due": "接下来的复习：",
        "none_due": "还没有安排复习。",
        "new_left": "还有 {n} 道题没有做过。",
        "now": "现在",
        "ago": "{amount}前",
        "in": "{amount}后",
        "min": "{n} 分钟",
        "hour": "{n} 小时",
        "day": "{n} 天",
        "col_id": "编号",
        "col_topic": "主题",
        "col_kind": "题型",
        "col_langs": "语言",
        "col_difficulty": "难度",
        "chosen": "按编号提问",
        "not_recorded": "未记录（--no-record）",
    },
}


def _t(lang: str, key: str, **values: Any) -> str:
    return localized(TEXT, lang, key, **values)


def relative_time(when: datetime, now: datetime, lang: str) -> str:
    """`in 10 min`, `in 3 day(s)`, `now` / `10 分钟后`…"""
    import math

    seconds = (when - now).total_seconds()
    if -60 < seconds <= 0:
        return _t(lang, "now")
    magnitude = abs(seconds)
    # Round future times up: "in 1 min" for a card due in 40 s, never "now" before it is due.
    rounding = math.ceil if seconds > 0 else round
    if magnitude < 3600:
        amount = _t(lang, "min", n=max(1, rounding(magnitude / 60)))
    elif magnitude < 86400:
        amount = _t(lang, "hour", n=rounding(magnitude / 3600))
    else:
        amount = _t(lang, "day", n=rounding(magnitude / 86400))
    return _t(lang, "in" if seconds > 0 else "ago", amount=amount)


# -- the bank ------------------------------------------------------------------------------


def bank_table(rows: list[dict[str, Any]], bank: Bank, lang: str) -> None:
    table = Table(title=_t(lang, "bank"))
    for key in ("col_id", "col_topic", "col_kind", "col_difficulty", "col_langs"):
        table.add_column(_t(lang, key), overflow="fold")
    for row in rows:
        table.add_row(
            row["id"], row["topic"], row["kind"], row["difficulty"], ", ".join(row["langs"])
        )
    console().print(table)


# -- asking ------------------------------------------------------------------------------


def quiz_intro(n: int, interactive: bool, lang: str) -> None:
    console().print(_t(lang, "intro" if interactive else "intro_piped", n=n))


def _soft_wrap(lang: str) -> bool:
    """Chinese text has few spaces, and rich's word wrap breaks it only at the ones around
    Latin words (leaving ragged short lines): let the terminal wrap it character by
    character instead. English keeps rich's word wrap."""
    return lang == "zh"


def _reason(prepared: PreparedQuestion, lang: str) -> str:
    from attn_drill.quiz.scheduler import utc_now

    planned = prepared.planned
    if planned.reason == "flagged":
        return _t(lang, "flagged", concept=planned.concept, why=_why(planned.why or "", lang))
    if planned.reason in ("due", "ahead") and planned.due is not None:
        when = relative_time(planned.due, utc_now(), lang)
        if planned.reason == "due" and when == _t(lang, "now"):
            return _t(lang, "due_now")  # not "due since now"
        return _t(lang, planned.reason, when=when)
    if planned.reason == "chosen":
        return _t(lang, "chosen")
    return _t(lang, "new")


def _why(why: str, lang: str) -> str:
    """The progress store explains a flag in English ("grade of P on DAY showed C"): say it
    in Chinese when that is the language, and keep any other wording as it is."""
    import re

    match = re.fullmatch(r"grade of (\S+) on (\S+) showed \S+", why.strip())
    if lang != "zh" or match is None:
        return why
    return _t(lang, "flag_why", problem=match.group(1), day=match.group(2))


def question(
    prepared: PreparedQuestion, number: int, total: int, title: str, lang: str,
    *, to_stderr: bool = False,
) -> None:
    """The question; on stderr when stdout is kept for one JSON document (`--json`)."""
    from attn_drill.render import err_console

    out = err_console() if to_stderr else console()
    heading = _t(lang, "question", number=number, total=total)
    out.print()
    out.print(f"[bold]{escape(heading)}[/] · {escape(title)} · [dim]{prepared.id}[/]")
    wrap = _soft_wrap(lang)
    out.print(f"[dim]{escape(_reason(prepared, lang))}[/]", soft_wrap=wrap)
    out.print(escape(prepared.prompt), soft_wrap=wrap)
    for letter, option in zip(LETTERS, prepared.options, strict=False):
        out.print(_option_line(letter, option))


def _option_line(letter: str, option: str) -> Any:
    """`  a) text`, every wrapped line of the text under its first character (Chinese is
    folded by character inside that column, English at spaces)."""
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 1, 0, 0))
    grid.add_column(width=4, justify="right", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row(Text(f"{letter})"), Text(option))
    return grid


def answer_label(kind: str, n_options: int, lang: str) -> str:
    if kind == "choice":
        return _t(lang, "ask_choice", last=LETTERS[n_options - 1])
    if kind in ("numeric", "handcalc"):
        return _t(lang, "ask_number")
    return _t(lang, "ask_text")


def ask(label: str) -> str:
    """A rich prompt in a terminal (raises EOFError / KeyboardInterrupt as input() does)."""
    return Prompt.ask(escape(label), console=console(), default="", show_default=False)


def show_prompt_marker(label: str) -> None:
    """Without a terminal the answer is not echoed: print the label, the read line follows."""
    console().print(f"{escape(label)}: ", end="")


def echo_piped_answer(raw: str | None) -> None:
    console().print("" if raw is None else escape(raw))


def hint(text: str | None, lang: str) -> None:
    if text is None:
        console().print(f"[yellow]{escape(_t(lang, 'no_hint'))}[/]")
    else:
        console().print(f"[yellow]{escape(_t(lang, 'hint'))}:[/] {escape(text)}")


def unreadable(kind: str, n_options: int, lang: str) -> None:
    if kind == "choice":
        message = _t(lang, "bad_choice", last=LETTERS[n_options - 1], n=n_options)
    elif kind in ("numeric", "handcalc"):
        message = _t(lang, "bad_number")
    else:
        message = _t(lang, "bad_text")
    console().print(f"[yellow]{escape(message)}[/]")


def _label(value: Any, lang: str) -> str:
    """Rubric labels may come as plain text or as an L10n pair."""
    if isinstance(value, str):
        return value
    getter = getattr(value, "get", None)
    return str(getter(lang)) if callable(getter) else str(value)


def feedback(
    prepared: PreparedQuestion, verdict: Verdict | None, due: datetime | None, now: datetime,
    lang: str,
) -> None:
    """What was right or wrong, the explanation, and when the card comes back (`due` None:
    the answer was not recorded)."""
    assert verdict is not None
    out = console()
    wrap = _soft_wrap(lang)
    question_model = prepared.planned.entry.question
    if verdict.correct:
        out.print(f"[bold green]{escape(_t(lang, 'right'))}[/]")
    elif not verdict.readable:
        out.print(f"[bold red]{escape(_t(lang, 'unreadable'))}[/]")
    else:
        out.print(f"[bold red]{escape(_t(lang, 'wrong'))}[/]")
    if verdict.expected and not verdict.correct:
        out.print(escape(_t(lang, "answer_is", answer=verdict.expected)), soft_wrap=wrap)
    rubric = verdict.rubric
    if rubric is not None:
        message = getattr(rubric, "message", "")
        if message and not verdict.correct:
            out.print(f"[yellow]{escape(message)}[/]", soft_wrap=wrap)
        elif getattr(rubric, "too_short", False):
            out.print(f"[yellow]{escape(_t(lang, 'too_short'))}[/]")
        for point in getattr(rubric, "points", []):
            if point.met:
                label = escape(_label(point.label, lang))
                out.print(f"  [green]✓ {escape(_t(lang, 'met'))}:[/] {label}", soft_wrap=wrap)
            else:
                out.print(
                    f"  [red]✗ {escape(_t(lang, 'missing'))}:[/] "
                    f"{escape(_label(point.label, lang))} — {escape(_label(point.advice, lang))}",
                    soft_wrap=wrap,
                )
    if verdict.worked:
        out.print(f"[bold]{escape(_t(lang, 'worked'))}[/]")
        for line in verdict.worked:
            out.print(escape(line), soft_wrap=True)
    out.print(f"[bold]{escape(_t(lang, 'explanation'))}[/]")
    out.print(escape(question_model.explanation.get(lang)), soft_wrap=wrap)
    if question_model.problem:
        out.print(f"[dim]{escape(_t(lang, 'related', problem=question_model.problem))}[/]")
    if due is None:
        out.print(f"[dim]{escape(_t(lang, 'not_recorded'))}[/]")
    else:
        out.print(f"[dim]{escape(_t(lang, 'next_review', when=relative_time(due, now, lang)))}[/]")


def stopped(lang: str) -> None:
    console().print()
    console().print(escape(_t(lang, "stopped")))


def ended(lang: str) -> None:
    console().print()
    console().print(escape(_t(lang, "ended")))


# -- the end -----------------------------------------------------------------------------


def summary(outcome: QuizOutcome, bank: Bank, now: datetime, lang: str) -> None:
    out = console()
    out.print()
    out.print(f"[bold]{escape(_t(lang, 'summary'))}[/]")
    scores = outcome.by_topic()
    if not scores:
        out.print(escape(_t(lang, "no_answers")))
    else:
        right = sum(r for r, _ in scores.values())
        total = sum(t for _, t in scores.values())
        out.print(escape(_t(lang, "score", right=right, total=total)))
        for topic, (r, t) in scores.items():
            title = bank.topics[topic].title.get(lang) if topic in bank.topics else topic
            out.print(f"  {escape(topic)} ({escape(title)}): {r}/{t}")
    if outcome.upcoming:
        out.print(escape(_t(lang, "next_due")))
        for item in outcome.upcoming:
            when = relative_time(item.due, now, lang)
            out.print(f"  {escape(item.question_id)} [dim]({escape(item.topic)})[/] {escape(when)}")
    else:
        out.print(escape(_t(lang, "none_due")))
    if outcome.new_left:
        out.print(escape(_t(lang, "new_left", n=outcome.new_left)))


# -- reading answers ---------------------------------------------------------------------


class PipedInput:
    """One line per answer from stdin (no terminal)."""

    interactive = False

    def read(self, prompt: str) -> str | None:
        show_prompt_marker(prompt)
        try:
            line: str | None = sys.stdin.readline()
        except (OSError, ValueError, UnicodeDecodeError):
            line = "\n"  # an unreadable line is an unreadable answer
        answer = None if line == "" else (line or "").rstrip("\r\n")
        echo_piped_answer(answer)
        return answer


class TerminalInput:
    """rich prompts in a terminal; Ctrl-D ends like end of input, Ctrl-C like `q`."""

    interactive = True

    def read(self, prompt: str) -> str | None:
        try:
            return ask(prompt)
        except EOFError:
            return None
        except KeyboardInterrupt:
            return "q"


class FirstLineInput:
    """`quiz --question` without a terminal (or with --json): the answer is the first line of
    stdin, read once and not echoed; None when stdin is empty."""

    interactive = False

    def read(self, prompt: str) -> str | None:
        try:
            line = sys.stdin.readline()
        except (OSError, ValueError, UnicodeDecodeError):
            return ""  # an unreadable line is an unreadable answer
        return None if line == "" else line.rstrip("\r\n")
