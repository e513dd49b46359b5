"""Drawing a grade report and a pack validation result (fits 80 columns, works with NO_COLOR)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from attn_drill.grading.report import CheckResult
from attn_drill.render import console, protect_inline

if TYPE_CHECKING:
    from attn_drill.grading.report import GradeReport, Heatmap, MismatchTable

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
        "checks_count": "({passed} of {total} checks)", "track_of": "{track} track",
        "difference": "difference", "also_fails": "also fails: {names}",
        "weights_yours": "Your attention weights:",
        "weights_expected": "The reference's attention weights:",
        "same_cause": " -- same cause",
        "more": "Every check in detail: add --verbose",
        "raised_at": "Where it failed:",
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
        "checks_count": "（{total} 项检查通过 {passed} 项）", "track_of": "{track} 赛道",
        "difference": "差值", "also_fails": "另外未通过：{names}",
        "weights_yours": "你的注意力权重：",
        "weights_expected": "参考答案的注意力权重：",
        "same_cause": "——同一原因",
        "more": "查看每项检查的详情：加上 --verbose",
        "raised_at": "你的代码出错的位置：",
    },
}


# Chinese names of the built-in pack's cases (the ids stay English in --json, --save-cases
# folders and `--verbose`'s tables of indexes); a case of another pack keeps its own name.
CASE_NAMES_ZH = {
    "(b, 1, n, m) padding bool mask, h = 6, g = 3": "(b, 1, n, m) 布尔填充掩码，h = 6，g = 3",
    "(b, 1, n, m) padding mask, h = 6, g = 3": "(b, 1, n, m) 填充掩码，h = 6，g = 3",
    "64 queries, 33908 keys (memory)": "64 个查询，33908 个键（内存）",
    "Deep-ML 53, identity input": "Deep-ML 53，单位矩阵输入",
    "Deep-ML 53, second input": "Deep-ML 53，第二组输入",
    "a prefilled cache of 3 tokens, chunks of 2 and 3": "预填 3 个词元的缓存，分块 2 和 3",
    "a prompt of 4 tokens, then decoding": "先是 4 个词元的提示，然后逐个解码",
    "a query with every entry negative": "一个所有元素都为负的查询",
    "all scores very negative": "所有分数都很负",
    "as many queries as examples (n = b)": "查询数等于样本数（n = b）",
    "base = 1000000 (positional)": "base = 1000000（按位置传入）",
    "base = 500 (keyword)": "base = 500（按关键字传入）",
    "batch and heads": "批次和头",
    "batch and heads, a prefilled cache of 2, chunks of 2, 1 and 2":
        "批次和头，预填 2 个词元的缓存，分块 2、1 和 2",
    "batched with a (b, n, m) padding mask": "带批次，(b, n, m) 填充掩码",
    "batched with a (b, n, n) padding mask": "带批次，(b, n, n) 填充掩码",
    "batched with a causal mask": "带批次，因果掩码",
    "batched with one (n, n) causal mask": "带批次，共用一个 (n, n) 因果掩码",
    "causal mask (1, 1, seq, seq), 3 heads": "因果掩码 (1, 1, seq, seq)，3 个头",
    "causal with padding (keyword)": "因果加填充（按关键字传入）",
    "causal with padding (positional)": "因果加填充（按位置传入）",
    "consecutive positions after a cache of 5 tokens": "缓存 5 个词元之后的连续位置",
    "distinct large scores in a row": "同一行中互不相同的大分数",
    "large equal logits": "相等的大 logits",
    "lengths m, 0 and in between": "长度为 m、0 和介于两者之间",
    "logits up to ±1e4": "最大到 ±1e4 的 logits",
    "masked scores far above the visible ones": "被遮住的分数远高于可见的分数",
    "multi-head: g = h = 4": "多头：g = h = 4",
    "multi-query: g = 1, h = 6": "多查询：g = 1，h = 6",
    "one batch axis": "一个批次轴",
    "one batch axis, chunks of 3, 1 and 2": "一个批次轴，分块 3、1 和 2",
    "one token at a time (s = 1) from an empty cache": "从空缓存开始，每次一个词元（s = 1）",
    "padding mask (batch, 1, 1, seq), 4 heads": "填充掩码 (batch, 1, 1, seq)，4 个头",
    "random (batch, 1, seq, seq) mask, 3 heads": "随机 (batch, 1, seq, seq) 掩码，3 个头",
    "random (n, m) bool mask, h = 8, g = 2": "随机 (n, m) 布尔掩码，h = 8，g = 2",
    "random (n, m) mask, h = 8, g = 2": "随机 (n, m) 掩码，h = 8，g = 2",
    "random 2-D rows": "随机二维行",
    "random 2-D with a random (n, m) bool mask": "随机二维，随机 (n, m) 布尔掩码",
    "random 2-D with a random (n, m) mask": "随机二维，随机 (n, m) 掩码",
    "random 2-D with a random (n, n) mask": "随机二维，随机 (n, n) 掩码",
    "random 2-D, 3 heads": "随机二维，3 个头",
    "random 2-D, as many encoder as decoder tokens": "随机二维，编码器与解码器 token 数相同",
    "random 2-D, axis=0": "随机二维，axis=0",
    "random 2-D, d_k != d_v": "随机二维，d_k != d_v",
    "random 2-D, different lengths and widths": "随机二维，长度和宽度都不同",
    "random 2-D, n != m": "随机二维，n != m",
    "random 2-D, n = m": "随机二维，n = m",
    "random 2-D, same width on both sides": "随机二维，两侧宽度相同",
    "random 4-D, axis=-2": "随机四维，axis=-2",
    "random 4-D, axis=1": "随机四维，axis=1",
    "random lengths": "随机长度",
    "random positions, default base": "随机位置，默认 base",
    "random single query, d_q != d_k != d_h": "随机单个查询，d_q != d_k != d_h",
    "random, blocks of 4, 3 and 5 keys": "随机，4、3、5 个键的块",
    "random, causal (keyword)": "随机，因果（按关键字传入）",
    "random, causal (positional)": "随机，因果（按位置传入）",
    "random, d_model != d_k != d_v": "随机，d_model != d_k != d_v",
    "random, h = 6, g = 3": "随机，h = 6，g = 3",
    "random, h = 8 query heads, g = 4 key/value heads": "随机，h = 8 个查询头，g = 4 个键/值头",
    "random, longer sequence": "随机，较长序列",
    "random, n != m": "随机，n != m",
    "random, no mask, 4 heads": "随机，无掩码，4 个头",
    "random, one batch axis": "随机，一个批次轴",
    "random, one batch axis (h = 6, g = 2)": "随机，一个批次轴（h = 6，g = 2）",
    "random, one batch axis, 4 heads": "随机，一个批次轴，4 个头",
    "random, one batch axis, window = 3": "随机，一个批次轴，window = 3",
    "random, one batch dim": "随机，一个批次维度",
    "random, seven blocks of uneven sizes": "随机，七个大小不一的块",
    "random, two batch axes": "随机，两个批次轴",
    "random, two batch axes (batch, heads)": "随机，两个批次轴（批次、头）",
    "random, two batch axes (h = 4, g = 2)": "随机，两个批次轴（h = 4，g = 2）",
    "random, two batch axes, 2 heads": "随机，两个批次轴，2 个头",
    "random, two batch axes, causal": "随机，两个批次轴，因果",
    "random, two batch axes, different widths": "随机，两个批次轴，宽度不同",
    "random, two batch axes, n = m": "随机，两个批次轴，n = m",
    "random, two batch axes, window = 2": "随机，两个批次轴，window = 2",
    "random, two batch dims": "随机，两个批次维度",
    "random, wide input, narrow keys": "随机，输入宽、键窄",
    "random, window = 3 of n = 8": "随机，n = 8 中 window = 3",
    "random, window = 4 of n = 9": "随机，n = 9 中 window = 4",
    "scores above 1000": "超过 1000 的分数",
    "scores above 800": "超过 800 的分数",
    "scores around ±1000": "约 ±1000 的分数",
    "small literal input with a 0/1 padding mask": "小的字面输入，0/1 填充掩码",
    "two batch axes with one (n, m) causal bool mask": "两个批次轴，共用一个 (n, m) 布尔因果掩码",
    "two batch axes with one (n, m) causal mask": "两个批次轴，共用一个 (n, m) 因果掩码",
    "two batch axes with one (n, m) mask for all": "两个批次轴，共用一个 (n, m) 掩码",
    "two batch dims with one (n, m) mask for all": "两个批次维度，共用一个 (n, m) 掩码",
    "two queries, three keys": "两个查询，三个键",
    "very negative distinct logits": "很负且互不相同的 logits",
    "window = 1: each position sees only itself": "window = 1：每个位置只看到自己",
    "window >= n: plain causal attention": "window >= n：普通的因果注意力",
    "worked example": "示例",
    "worked example (an empty example)": "示例（含一个空样本）",
    "worked example (blocks of 1 and 2 keys)": "示例（1 个键和 2 个键的块）",
    "worked example (h = 4, g = 2)": "示例（h = 4，g = 2）",
    "worked example (one call, t = 1, s = 2)": "示例（一次调用，t = 1，s = 2）",
    "worked example (window = 2)": "示例（window = 2）",
    "worked example with a 0/1 mask": "示例，0/1 掩码",
    "worked example with a causal mask": "示例，因果掩码",
    "worked example with a mask": "示例，带掩码",
    # breadth problems (positional-encoding, layer-norm, rms-norm, attention-module,
    # transformer-block, sparse-attention)
    "base = 100 (keyword)": "base = 100（按关键字传入）",
    "base = 500 (by position)": "base = 500（按位置传入）",
    "batched (b, h, n, d)": "带批次，(b, h, n, d)",
    "batched (b, n, d)": "带批次，(b, n, d)",
    "batched (batch, heads, seq, d_model)": "带批次，(batch, heads, seq, d_model)",
    "batched (batch, seq, d_model)": "带批次，(batch, seq, d_model)",
    "eps = 0.1": "eps = 0.1",
    "gamma, beta and eps passed by position": "gamma、beta 和 eps 按位置传入",
    "n = 1000, d_model = 96": "n = 1000，d_model = 96",
    "n = 50, d_model = 64": "n = 50，d_model = 64",
    "post-LN, (seq, d_model) without a batch axis": "post-LN，(seq, d_model)，没有批次轴",
    "post-LN, causal mask (1, 1, seq, seq)": "post-LN，因果掩码 (1, 1, seq, seq)",
    "post-LN, no mask": "post-LN，无掩码",
    "post-LN, padding mask (batch, 1, 1, seq)": "post-LN，填充掩码 (batch, 1, 1, seq)",
    "pre-LN, (batch, 1, seq, seq) mask": "pre-LN，(batch, 1, seq, seq) 掩码",
    "pre-LN, (seq, d_model) without a batch axis": "pre-LN，(seq, d_model)，没有批次轴",
    "pre-LN, 0/1 causal mask (1, 1, seq, seq)": "pre-LN，0/1 因果掩码 (1, 1, seq, seq)",
    "pre-LN, no mask": "pre-LN，无掩码",
    "random (seq, d_model)": "随机，(seq, d_model)",
    "rows of tiny mean square (eps matters)": "均方值极小的行（eps 的位置很关键）",
    "rows of tiny variance (eps matters)": "方差极小的行（eps 的位置很关键）",
    "small literal input, no batch axis": "小的字面输入，没有批次轴",
    "small literal input, post-LN": "小的字面输入，post-LN",
    "small literal input, pre-LN": "小的字面输入，pre-LN",
    "unsorted global tokens": "未排序的全局 token",
    "weight and eps passed by position": "weight 和 eps 按位置传入",
    "window 0 (itself plus global tokens)": "window 为 0（自己加上全局 token）",
    "window 2, global tokens 0 and 7": "window 为 2，全局 token 为 0 和 7",
    "window 3, no global tokens": "window 为 3，没有全局 token",
    "window >= n (full attention)": "window >= n（完整注意力）",
    "worked example, causal": "示例，因果",
}
_DERIVED_ZH = ((" (sequence permuted)", "（序列已打乱）"), (" (token ", "（第 "))


def case_name(name: str, lang: str) -> str:
    """A case's name in the learner's language (derived cases keep their suffix, translated)."""
    if lang != "zh":
        return name
    for suffix, words in _DERIVED_ZH:
        if suffix in name:
            base, _, rest = name.partition(suffix)
            if suffix == " (token ":
                rest = rest.replace(" changed)", " 个 token 已修改）")
            return CASE_NAMES_ZH.get(base, base) + words + rest
    return CASE_NAMES_ZH.get(name, name)


def _zh_cases(text: str, lang: str) -> str:
    """A message for the screen: case names quoted 「like this」 in Chinese in a Chinese
    message, and inline code, formulas and commands kept whole when it wraps."""
    if lang == "zh" and "「" in text:
        import re

        text = re.sub(r"「([^」]*)」", lambda m: "「" + case_name(m.group(1), lang) + "」", text)
    return protect_inline(text)


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
    "no-capabilities": ("your code keeps special privileges (capabilities)",
                        "你的代码保留了特殊权限（capabilities）"),
    "filesystem-allow-list": ("your code can read any file your user can read",
                              "你的代码能读取当前用户可读的任何文件"),
    "private-temp": ("files your code writes to /tmp may outlive the grade",
                     "你的代码写到 /tmp 的文件在评测后可能仍然存在"),
    "no-network": ("your code can use the network", "你的代码可以访问网络"),
    "ipc-scoped": ("your code can signal other processes of the same user",
                   "你的代码可以向同一用户的其他进程发送信号"),
    "syscall-filter": ("no system calls are filtered", "没有过滤系统调用"),
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


def mismatch_table(table: MismatchTable, lang: str, limit: int | None = None) -> Table:
    """The worst elements: index, yours, the reference's and their difference."""
    labels = _labels(lang)
    grid = Table(box=None, padding=(0, 2), show_edge=False, pad_edge=False)
    grid.add_column(labels["index"])
    grid.add_column(labels["got"], justify="right")
    grid.add_column(labels["expected"], justify="right")
    grid.add_column(labels["difference"], justify="right")
    for row in table.rows[:limit]:
        grid.add_row(str(row.index), _number(row.got), _number(row.expected),
                     _number(row.got - row.expected))
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
    text.append(f"  {labels['weights']} ({case_name(heat.case, lang)}, 0 ░▒▓█ 1)\n",
                style="bold")
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


def _check_line(check: CheckResult, lang: str, indent: int = 2) -> Table:
    """✓/✗, the name and the message; wrapped lines hang under the name, not under the mark."""
    text = Text()
    text.append(check.name, style="" if check.passed else "bold")
    if not check.required:
        text.append(" " + _labels(lang)["optional"], style="dim")
    if check.message:
        text.append(" — " + _zh_cases(check.message, lang), style="dim" if check.passed else "")
    mark = Text("✓", style="green") if check.passed else Text("✗", style="bold red")
    return _hanging(mark, text, indent=indent)


def _hanging(lead: Text, body: Text, *, indent: int) -> Table:
    """`lead` then `body`, every wrapped line of `body` starting under its first character."""
    from rich.cells import cell_len

    grid = Table.grid(padding=(0, 1, 0, 0))
    grid.add_column(width=indent + cell_len(lead.plain), justify="right", no_wrap=True)
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


def _header(report: GradeReport, lang: str, out: Any) -> None:
    """Verdict and score on the first line; problem, track and title on the second."""
    labels = _labels(lang)
    required = [c for c in report.checks if c.required]
    passed = sum(1 for c in required if c.passed)
    line = Text()
    verdict = labels["passed"] if report.passed else labels["failed"]
    line.append(verdict, style="bold green" if report.passed else "bold red")
    line.append(f"   {labels['score']} {report.score:.0%}" + ("" if lang == "zh" else " "))
    line.append(labels["checks_count"].format(passed=passed, total=len(required)), style="dim")
    line.append(f"   {labels['time']} {report.duration_s:.2f} s", style="dim")
    out.print(line)
    about = Text()
    about.append(report.problem, style="bold")
    about.append(" · " + labels["track_of"].format(track=report.track))
    if report.title:
        about.append(" · " + report.title)
    about.truncate(out.width, overflow="ellipsis")
    out.print(about, no_wrap=True, overflow="ellipsis")


def _heatmap_visible(heat: Heatmap) -> bool:
    """Whether the two drawings differ at all: identical shades would only say "the same"
    while the numbers differ (then the table of differences says more)."""
    for mine, theirs in zip(heat.got, heat.expected, strict=True):
        for a, b in zip(mine, theirs, strict=True):
            if _heat_cell(a)[0] != _heat_cell(b)[0]:
                return True
    return False


def _gutter_lines(text: str, limit: int, width: int) -> tuple[list[Text], bool]:
    """Output of the learner's program behind a `│` gutter that every wrapped piece keeps;
    at most `limit` lines on screen (True: some were left out)."""
    from rich.cells import chop_cells

    lines, more = _tail(text, limit)
    room = max(width - 4, 20)
    shown: list[Text] = []
    for line in lines:
        for piece in chop_cells(line.expandtabs(4), room) or [""]:
            if len(shown) == limit:
                return shown, True
            shown.append(Text("  │ " + piece))
    return shown, more


def _output_blocks(report: GradeReport, labels: dict[str, str], out: Any, *,
                   stdout_lines: int, stderr_lines: int) -> None:
    if report.stdout.strip():
        out.print()
        out.print(Text(labels["stdout"] + labels[":"].strip(), style="bold"))
        lines, more = _gutter_lines(report.stdout, stdout_lines, out.width)
        for line in lines:
            out.print(line, no_wrap=True, overflow="ignore", crop=False)
        if more or report.output_truncated:
            out.print(Text("  " + labels["truncated"], style="dim"))
    elif report.output_truncated:
        out.print(Text(labels["truncated"], style="dim"))
    if report.stderr.strip():
        out.print()
        out.print(Text(labels["stderr"] + labels[":"].strip(), style="bold"))
        lines, more = _gutter_lines(report.stderr, stderr_lines, out.width)
        for line in lines:
            out.print(line, no_wrap=True, overflow="ignore", crop=False)
        if more:
            out.print(Text("  │ …"))


# Protections every supported machine gives; the others depend on running as root or on the
# file system (privilege drop, hiding files), and saying on every report that they are off
# would only be noise. `--verbose` and `--json` list every one.
BASELINE_PROTECTIONS = ("isolated-process", "timeout", "output-cap", "kill-process-group",
                        "memory-limit", "cpu-limit", "file-size-limit")


def _protections(report: GradeReport, lang: str, out: Any, *, every: bool) -> None:
    labels = _labels(lang)
    shown = [p for p in report.protections_off if every or p in BASELINE_PROTECTIONS]
    if not shown:
        return
    out.print()
    joiner = "；" if lang == "zh" else "; "
    out.print(Text(labels["protections"] + labels[":"] + joiner.join(
        protection_words(shown, lang)), style="dim"))


def _saved_cases(report: GradeReport, labels: dict[str, str], out: Any) -> None:
    if report.saved_cases_dir:
        out.print()
        count = len(report.saved_cases)
        text = (labels["saved"].format(n=count, dir=report.saved_cases_dir) if count
                else labels["saved_none"].format(dir=report.saved_cases_dir))
        out.print(Text(text), overflow="fold")


def _first_sentence(message: str) -> str:
    import re

    found = re.search(r"(?<=[.。])\s", message)
    return message[:found.start()] if found else message


def _diagnoses(report: GradeReport, labels: dict[str, str], out: Any, *,
               short: bool = False, commands: bool = True) -> None:
    """Each named misconception with its explanation; in the short report the ones after the
    first keep only their first sentence (`--verbose` has the rest). Without `commands` (the
    practice loop, which has an `h` key and says which hint) the `attn-drill hint` pointer
    is left out."""
    from attn_drill.grading.diagnosis import hint_pointer

    for index, item in enumerate(report.diagnosis):
        title = f" — {item.title}" if item.title else ""
        out.print(_hanging(Text(labels["diagnosis"] + labels[":"].rstrip(), style="bold yellow"),
                           Text(f"{item.id}{title}", style="bold"), indent=0))
        message = item.message
        pointer = hint_pointer(report.problem, item.hint, report.lang or "en")
        if not commands and pointer and message.endswith(pointer):
            message = message[:-len(pointer)].rstrip()
        message = _first_sentence(message) if short and index else message
        out.print(Padding(Text(_zh_cases(message, report.lang or "en")), (0, 0, 0, 2)))


def grade_report(report: GradeReport, lang: str, *, next_steps: bool = True,
                 verbose: bool = False) -> None:
    """A grade report. The default fits one screen for a single mistake: verdict and score,
    the named misconception (or the first failing check), the first failing case's evidence,
    and one line naming the other failing checks. `verbose` shows every check in full.
    `next_steps=False` leaves out the closing command suggestion, for the practice loop,
    which offers its own keys instead."""
    if verbose:
        _full_report(report, lang, next_steps=next_steps)
    else:
        _short_report(report, lang, next_steps=next_steps)


def _short_message(check: CheckResult, lang: str) -> str:
    """A failed comparison in one or two lines: where, how many elements, how far."""
    table = check.mismatch
    if table is None or not check.message:
        return _zh_cases(check.message, lang)
    if lang == "zh":
        text = (f"用例「{case_name(table.case, lang)}」，`{table.output}`：{table.mismatched}"
                f" / {table.total} 个元素不匹配，最大绝对误差 {table.max_abs:.3g}")
    else:
        text = (f"case '{table.case}', `{table.output}`: {table.mismatched} of {table.total} "
                f"elements differ, max abs diff {table.max_abs:.3g}")
    if table.nan_count or table.inf_count:
        text += tr_(lang, f"; yours has {table.nan_count} NaN and {table.inf_count} inf",
                    f"；你的结果含 {table.nan_count} 个 NaN、{table.inf_count} 个 inf")
    cases = len(check.failed_cases)
    if cases > 1:
        text += tr_(lang, f" ({cases} cases fail)", f"（{cases} 个用例未通过）")
    return text


def tr_(lang: str, en: str, zh: str) -> str:
    return zh if lang == "zh" else en


SHORT_TABLE_ROWS = 3
SHORT_HEATMAP_ROWS = 8
SHORT_DETAILS = 2
SHORT_STDOUT_LINES = 4
SHORT_STDERR_LINES = 3


def _evidence_check(report: GradeReport) -> CheckResult | None:
    """The check whose evidence the short report shows: the first failed required check that
    failed on evidence (not merely "not run"), else the first failed check."""
    failed = [c for c in report.checks if not c.passed]
    required = [c for c in failed if c.required]
    for pool in (required, failed):
        for check in pool:
            if not check.not_run:
                return check
    return failed[0] if failed else None


def _where_it_raised(traceback: str) -> list[str]:
    """The learner's innermost frame: its `File ...` line and the code line (the error itself
    is in the failing check's message; the whole traceback is in `--verbose`)."""
    lines = traceback.rstrip("\n").splitlines()
    frames = [i for i, line in enumerate(lines) if line.lstrip().startswith('File "')]
    if not frames:
        return []
    last = frames[-1]
    shown = [lines[last].strip()]
    for line in lines[last + 1:last + 3]:
        stripped = line.strip()
        if stripped and set(stripped) <= set("^~ "):
            continue  # the column markers under the code
        if not line.startswith(" "):
            break  # the exception line
        shown.append("  " + stripped)
        break
    return shown


def _short_report(report: GradeReport, lang: str, *, next_steps: bool) -> None:
    out = console()
    labels = _labels(lang)
    _header(report, lang, out)
    shown = _evidence_check(report)
    if report.diagnosis:
        out.print()
        _diagnoses(report, labels, out, short=True, commands=next_steps)
    if shown is not None:
        out.print()
        line = Text()
        line.append(shown.name, style="bold")
        if not shown.required:
            line.append(" " + labels["optional"], style="dim")
        message = _short_message(shown, lang)
        if message:
            line.append(" — " + message)
        out.print(_hanging(Text("✗", style="bold red"), line, indent=0))
        # Details are leads for a failure nobody named; a named misconception says more.
        for detail in ([] if report.diagnosis else shown.details[:SHORT_DETAILS]):
            out.print(_hanging(Text("·"), Text(_zh_cases(detail, lang)), indent=2))
        heat = shown.heatmap
        if heat is not None and len(heat.got) <= SHORT_HEATMAP_ROWS and _heatmap_visible(heat):
            out.print(heatmap_text(heat, lang))
        elif shown.mismatch is not None and shown.mismatch.rows:
            out.print(Padding(mismatch_table(shown.mismatch, lang, limit=SHORT_TABLE_ROWS),
                              (0, 0, 0, 4), expand=False))
    where = _where_it_raised(report.learner_traceback)
    if where:
        out.print()
        out.print(Text(labels["raised_at"], style="bold"))
        for text_line in where:
            out.print(_hanging(Text(""), Text(text_line), indent=1))
    others = [c for c in report.checks if not c.passed and c is not shown]
    if report.is_written_answer:
        # A written answer: its ideas are a checklist, each met or still missing.
        for check in report.checks:
            if check is not shown:
                out.print(_check_line(CheckResult(check.name, check.passed,
                                                  required=check.required), lang, indent=0))
        others = []
    if others:
        _, why = _grouped(report)
        # One known mistake that reproduces every output explains every failure, unless the
        # code also raised somewhere (a second bug the mutant does not have).
        same = bool(why) or (len(report.diagnosis) == 1 and not report.error_kind and
                             report.diagnosis[0].source.startswith("mutant:"))
        names = ("、" if lang == "zh" else ", ").join(c.name for c in others)
        text = labels["also_fails"].format(names=names)
        if same:
            text += labels["same_cause"]
        out.print(_hanging(Text("✗", style="red"), Text(protect_inline(text), style="dim"),
                           indent=0))
    _output_blocks(report, labels, out, stdout_lines=SHORT_STDOUT_LINES,
                   stderr_lines=SHORT_STDERR_LINES)
    _saved_cases(report, labels, out)
    _protections(report, lang, out, every=False)
    if next_steps:
        out.print()
        key = "next_pass" if report.passed else "next_fail"
        out.print(Text(protect_inline(labels[key].format(id=report.problem)), style="dim"))
        if not report.passed:
            out.print(Text(labels["more"], style="dim"))


def _weights_matrices(heat: Heatmap, labels: dict[str, str], lang: str, out: Any) -> None:
    """Yours and the reference's weights of that case as labelled matrices with their
    numbers (as seed 000 draws them), when they are small enough to read."""
    from attn_drill.render.problem import MATRIX_MAX, weights_matrix

    if not heat.got or len(heat.got) > MATRIX_MAX or len(heat.got[0]) > MATRIX_MAX:
        return
    for key, weights in (("weights_yours", heat.got), ("weights_expected", heat.expected)):
        out.print(Padding(Text(labels[key], style="bold"), (0, 0, 0, 6)))
        out.print(Padding(weights_matrix(weights, lang), (0, 0, 0, 4)))


def _full_report(report: GradeReport, lang: str, *, next_steps: bool) -> None:
    """Every check with its details, tables and heatmap (`grade --verbose`, `v` in practice)."""
    out = console()
    labels = _labels(lang)
    _header(report, lang, out)
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
                                   Text(protect_inline(labels[key].format(names=names))),
                                   indent=2))
            continue
        out.print(_check_line(check, lang))
        for detail in check.details:
            out.print(_hanging(Text("·"), Text(_zh_cases(detail, lang)), indent=6))
        if not check.passed and check.mismatch is not None and check.mismatch.rows:
            out.print(Padding(mismatch_table(check.mismatch, lang), (0, 0, 0, 6), expand=False))
        if not check.passed and check.heatmap is not None and not heatmap_shown \
                and _heatmap_visible(check.heatmap):
            out.print(heatmap_text(check.heatmap, lang))
            _weights_matrices(check.heatmap, labels, lang, out)
            heatmap_shown = True
    if report.diagnosis:
        out.print()
        _diagnoses(report, labels, out, commands=next_steps)
    if report.learner_traceback.strip() and not traceback_first:
        out.print()
        for line in _traceback_block(report, labels):
            out.print(line, overflow="fold")
    _output_blocks(report, labels, out, stdout_lines=STDOUT_LINES, stderr_lines=STDERR_LINES)
    _saved_cases(report, labels, out)
    _protections(report, lang, out, every=True)
    if next_steps:
        out.print()
        key = "next_pass" if report.passed else "next_fail"
        out.print(Text(protect_inline(labels[key].format(id=report.problem)), style="dim"))


def validation_report(result: Any) -> None:
    """The `validate` view: one line per finding, then a summary."""
    out = console()
    out.print(Text(f"Validating {result.pack}", style="bold"))
    for item in result.items:
        mark = Text("  ✓", style="green") if item.ok else Text("  ✗", style="bold red")
        where = f"{item.problem}" + (f" [{item.track}]" if item.track else "")
        line = Text(f"{where}: {item.subject}")
        if item.message:
            line.append(" — " + item.message, style="" if not item.ok else "dim")
        if not item.ok and getattr(item, "file", ""):
            line.append(f" [{item.rule}: {item.file}]", style="dim")
        out.print(_hanging(mark, line, indent=0))
    for note in getattr(result, "notes", []):
        out.print(Text("  · " + note, style="dim"))
    failures = [i for i in result.items if not i.ok]
    out.print()
    if failures:
        found = f"{len(failures)} problem" + ("" if len(failures) == 1 else "s")
        out.print(Text(f"{found} found in {len(result.items)} checks.", style="bold red"))
    else:
        out.print(Text(f"Pack OK: {len(result.items)} checks passed.", style="bold green"))
