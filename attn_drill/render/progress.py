"""Drawing `attn-drill progress`: totals, streak, per-topic counts, problems, weak spots, quiz."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from attn_drill.render import console
from attn_drill.render.problem import CHANGED_NOTE, STATUS_STYLE, status_text

if TYPE_CHECKING:
    from attn_drill.summary import ProgressSummary, WeakConcept

TEXT = {
    "en": {
        "title": "Your attn-drill progress",
        "solved": "Solved {solved} of {total} problem tracks.",
        "streak": "Streak: {days} in a row{today}.",
        "streak_today": ", including today",
        "streak_none": "Streak: none running. Grade a solution or answer a quiz question today.",
        "empty": "No progress yet. Start with: [bold]attn-drill practice[/]",
        "topics": "By topic",
        "topic": "topic",
        "track": "track",
        "solved_col": "solved",
        "attempted_col": "attempted",
        "problems": "Problems",
        "problem": "problem",
        "status": "status",
        "attempts": "attempts",
        "best": "best",
        "hints": "hints",
        "revealed": " (solution seen)",
        "weak": "Weak spots",
        "weak_seen": "in {n} of your recent failed grades",
        "weak_flagged": "flagged: {why}",
        "weak_why": "grade of {problem} on {day} showed it",
        "quiz": "Quiz: {reviews} answered, {correct} right; {cards}, {due} due now.",
        "flagged_waiting": "{n} waiting because the grade of {problem} showed {concept} "
        "— run [bold]attn-drill quiz[/]",
        "flagged_waiting_plain": "{n} waiting because {why} — run [bold]attn-drill quiz[/]",
        "next": "Next: ",
        "backup": "The damaged database was kept as {backup}; a fresh one was started.",
        "database": "Progress file: {path}",
    },
    "zh": {
        "title": "你的 attn-drill 学习进度",
        "solved": "已完成 {solved} / {total} 个题目赛道。",
        "streak": "连续学习：{days} 天{today}。",
        "streak_today": "（含今天）",
        "streak_none": "目前没有连续学习记录。今天评测一次代码或答一道测验题就能开始。",
        "empty": "还没有学习记录。先从这里开始：[bold]attn-drill practice[/]",
        "topics": "按主题",
        "topic": "主题",
        "track": "赛道",
        "solved_col": "已通过",
        "attempted_col": "已尝试",
        "problems": "题目",
        "problem": "题目",
        "status": "状态",
        "attempts": "评测次数",
        "best": "最高分",
        "hints": "提示",
        "revealed": "（看过答案）",
        "weak": "薄弱环节",
        "weak_seen": "最近失败的评测中出现 {n} 次",
        "weak_flagged": "已标记：{why}",
        "weak_why": "{day} 评测 {problem} 时发现",
        "quiz": "测验：共答 {reviews} 题，答对 {correct} 题；卡片 {cards} 张，现在到期 {due} 张。",
        "flagged_waiting": "有 {n} 道测验题在等你：{problem} 的评测发现了 {concept}"
        "——运行 [bold]attn-drill quiz[/]",
        "flagged_waiting_plain": "有 {n} 道测验题在等你（{why}）——运行 [bold]attn-drill quiz[/]",
        "next": "下一步：",
        "backup": "损坏的数据库已保留为 {backup}，并已新建一个空的数据库。",
        "database": "进度文件：{path}",
    },
}



def _count(n: int, word: str, lang: str) -> str:
    """"1 day" / "3 days" in English; Chinese text carries its own measure words."""
    if lang == "zh":
        return str(n)
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _day(stored: str) -> str:
    return datetime.fromisoformat(stored).astimezone().date().isoformat()


def _weak_text(concept: WeakConcept, lang: str) -> str:
    text = TEXT[lang]
    title = concept.title.get(lang)
    if not title:
        name = concept.concept
    elif lang == "zh":
        name = f"{escape(title)}（{concept.concept}）"
    else:
        name = f"{escape(title)} ({concept.concept})"
    parts: list[str] = []
    if concept.recent_failures:
        parts.append(text["weak_seen"].format(n=concept.recent_failures))
    if concept.flagged_why is not None:
        if lang == "en" or not (concept.flagged_problem and concept.flagged_at):
            why = concept.flagged_why
        else:
            why = text["weak_why"].format(
                problem=concept.flagged_problem, day=_day(concept.flagged_at)
            )
        parts.append(text["weak_flagged"].format(why=escape(why)))
    separator, colon = ("; ", ": ") if lang == "en" else ("；", "：")
    return f"[bold]{name}[/]{colon}" + separator.join(parts)


def progress_view(summary: ProgressSummary, lang: str) -> None:
    lang = "zh" if lang == "zh" else "en"
    text = TEXT[lang]
    out = console()
    out.print(f"[bold]{text['title']}[/]")
    if summary.backup is not None:
        out.print(f"[yellow]{escape(text['backup'].format(backup=summary.backup))}[/]")
    if summary.is_empty:
        out.print(text["empty"])
    out.print(text["solved"].format(solved=summary.solved, total=len(summary.problems)))
    if summary.streak_days:
        today = text["streak_today"] if summary.active_today else ""
        days = _count(summary.streak_days, "day", lang)
        out.print(text["streak"].format(days=days, today=today))
    else:
        out.print(text["streak_none"])

    if summary.topics:
        topics = Table(title=text["topics"], title_justify="left")
        for column in (text["topic"], text["track"], text["solved_col"], text["attempted_col"]):
            topics.add_column(column, overflow="fold")
        for topic in summary.topics:
            topics.add_row(
                topic.topic, topic.track, f"{topic.solved}/{topic.total}",
                f"{topic.attempted}/{topic.total}",
            )
        out.print(topics)

    changed = False
    problems = Table(title=text["problems"], title_justify="left")
    for column in (text["problem"], text["track"], text["status"], text["attempts"],
                   text["best"], text["hints"]):
        problems.add_column(column, overflow="fold")
    for row in summary.problems:
        progress = row.progress
        status = status_text(progress.status, lang)
        if progress.changed_since_pass:
            status += "*"
            changed = True
        style = STATUS_STYLE.get(progress.status, "")
        best = "" if progress.best_score is None else f"{progress.best_score:.0%}"
        problems.add_row(
            escape(progress.problem_id) + (text["revealed"] if progress.revealed else ""),
            progress.track,
            f"[{style}]{status}[/]" if style else status,
            str(progress.attempts),
            best,
            str(row.hint_level) if row.hint_level else "",
        )
    out.print(problems)
    if changed:
        out.print(f"[dim]{CHANGED_NOTE[lang]}[/]")

    if summary.weak_concepts:
        out.print(f"\n[bold]{text['weak']}[/]")
        # A grid keeps wrapped lines indented under their bullet at 80 columns.
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for concept in summary.weak_concepts:
            grid.add_row("  •", _weak_text(concept, lang))
        out.print(grid)

    quiz = summary.quiz
    out.print(
        "\n" + text["quiz"].format(
            reviews=quiz.reviews, correct=quiz.correct, cards=_count(quiz.cards, "card", lang),
            due=quiz.due,
        )
    )
    for flagged in quiz.flagged:
        if flagged.problem:
            line = text["flagged_waiting"].format(
                n=_count(flagged.questions, "question", lang), problem=escape(flagged.problem),
                concept=escape(flagged.concept))
        else:
            line = text["flagged_waiting_plain"].format(
                n=_count(flagged.questions, "question", lang), why=escape(flagged.why))
        out.print(line)
    has_flags = quiz.flagged_questions > 0 or any(c.flagged_why for c in summary.weak_concepts)
    command = "attn-drill quiz" if quiz.due or has_flags else "attn-drill practice"
    out.print(f"{text['next']}[bold]{command}[/]")
    out.print(f"[dim]{escape(text['database'].format(path=summary.database))}[/]")
