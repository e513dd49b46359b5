"""Drawing `attn-drill lab sqrt-dk`: a terminal chart, a table and what the numbers mean.

plotext draws the chart; it is imported here only, so no other command pays for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from attn_drill.render import console, localized

if TYPE_CHECKING:
    from attn_drill.lab import LabRow

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Why divide by √d_k? {samples} samples per d_k, rows of {keys} keys, "
        "seed {seed}",
        "chart_variance": "variance of the score (log scale)",
        "chart_weight": "largest softmax weight in a row",
        "unscaled": "q·k",
        "scaled": "q·k/√d_k",
        "col_var": "Var",
        "col_max": "max w",
        "col_entropy": "entropy",
        "col_grad": "‖J‖",
        "legend": "Each measure twice: for q·k, then for /√d_k (scaled). max w: the largest "
        "softmax weight in a row; entropy in nats; ‖J‖: norm of the softmax Jacobian "
        "diag(p) − ppᵀ (how much gradient gets through). Averages over rows.",
        "entropy_max": "A uniform row of {keys} keys has entropy ln {keys} = {uniform:.2f}.",
        "explain": (
            "q and k have unit-variance entries, so q·k is a sum of d_k products of variance 1: "
            "its variance is d_k. Softmax then sees scores spread over ±√d_k: the largest one "
            "takes nearly all the weight (max weight → 1, entropy → 0), and the softmax's "
            "Jacobian diag(p) − ppᵀ shrinks towards 0, so almost no gradient reaches Q and K. "
            "Dividing by √d_k brings the variance back to 1 at every d_k: the weights, the "
            "entropy and the gradient stop depending on the head size. The scale is about "
            "saturation and gradients, not about overflow (a stable softmax never overflows)."
        ),
        "try": "Try: attn-drill lab sqrt-dk --d-k 4,16,64,256,1024,4096 --seed 1",
    },
    "zh": {
        "title": "为什么要除以 √d_k？——每个 d_k 用 {samples} 个样本实测"
        "（每行 {keys} 个键，随机种子 {seed}）",
        "chart_variance": "分数的方差（对数坐标）",
        "chart_weight": "一行中最大的 softmax 权重",
        "unscaled": "q·k",
        "scaled": "q·k/√d_k",
        "col_var": "方差",
        "col_max": "最大权重",
        "col_entropy": "熵",
        "col_grad": "‖J‖",
        "legend": "每个量测两次：先是 q·k，再是除以 √d_k 之后（/√d_k）。最大权重：一行中最大的 "
        "softmax 权重；熵以奈特为单位；‖J‖：softmax 雅可比矩阵 diag(p) − ppᵀ 的范数"
        "（能传回多少梯度）。均为各行的平均值。",
        "entropy_max": "{keys} 个键的均匀分布，熵为 ln {keys} = {uniform:.2f}。",
        "explain": (
            "q 和 k 的每个分量方差为 1，q·k 是 d_k 个方差为 1 的乘积之和，所以方差是 d_k。"
            "softmax 看到的分数分布在 ±√d_k 的范围内：最大的分数几乎拿走全部权重"
            "（最大权重 → 1，熵 → 0），softmax 的雅可比矩阵 diag(p) − ppᵀ 趋近于 0，"
            "几乎没有梯度能传回 Q 和 K。除以 √d_k 让方差在任何 d_k 下都回到 1："
            "权重、熵和梯度都不再随头的维度变化。缩放是为了避免饱和、保住梯度，"
            "而不是为了防止溢出（数值稳定的 softmax 本来就不会溢出）。"
        ),
        "try": "试试：attn-drill lab sqrt-dk --d-k 4,16,64,256,1024,4096 --seed 1",
    },
}


def _t(lang: str, key: str, **values: Any) -> str:
    return localized(TEXT, lang, key, **values)


def sqrt_dk_view(rows: Sequence[LabRow], *, samples: int, keys: int, seed: int,
                 lang: str) -> None:
    out = console()
    with out:  # one write: the chart, the table and the text appear together
        out.print(Text(_t(lang, "title", samples=samples, keys=keys, seed=seed), style="bold"))
        out.print()
        chart = _chart(rows, lang, width=min(out.width, 100))
        if chart:
            out.print(Text.from_ansi(chart))
            out.print()
        out.print(_table(rows, lang))
        out.print(escape(_t(lang, "legend")))
        out.print(escape(_t(lang, "entropy_max", keys=keys, uniform=math.log(keys))))
        out.print()
        out.print(escape(_t(lang, "explain")))
        out.print()
        out.print(f"[dim]{escape(_t(lang, 'try'))}[/]")


def _table(rows: Sequence[LabRow], lang: str) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("d_k", justify="right")
    for key in ("col_var", "col_max", "col_entropy", "col_grad"):
        table.add_column(f"{_t(lang, key)}\nq·k", justify="right")
        table.add_column(f"{_t(lang, key)}\n/√d_k", justify="right")
    for row in rows:
        table.add_row(
            str(row.d_k),
            f"{row.variance_unscaled:.1f}", f"{row.variance_scaled:.3f}",
            f"{row.max_weight_unscaled:.3f}", f"{row.max_weight_scaled:.3f}",
            f"{row.entropy_unscaled:.2f}", f"{row.entropy_scaled:.2f}",
            f"{row.grad_norm_unscaled:.3f}", f"{row.grad_norm_scaled:.3f}",
        )
    return table


def _chart(rows: Sequence[LabRow], lang: str, *, width: int) -> str:
    """Two side-by-side plots against log2(d_k); empty when there is one d_k only (a line
    needs two points) or the terminal is too narrow to read one."""
    if len(rows) < 2 or width < 60:
        return ""
    import plotext as plt

    console_ = console()
    plt.clear_figure()
    plt.subplots(1, 2)
    plt.plotsize(width - 2, 16)
    if console_.no_color or not console_.is_terminal:
        plt.theme("clear")
    x = [math.log2(row.d_k) for row in rows]
    labels = [str(row.d_k) for row in rows]
    unscaled, scaled = _t(lang, "unscaled"), _t(lang, "scaled")

    plt.subplot(1, 1)
    plt.title(_t(lang, "chart_variance"))
    plt.plot(x, [math.log10(max(row.variance_unscaled, 1e-12)) for row in rows],
             label=unscaled, marker="braille")
    plt.plot(x, [math.log10(max(row.variance_scaled, 1e-12)) for row in rows],
             label=scaled, marker="braille")
    plt.xticks(x, labels)
    top = max(math.log10(max(row.variance_unscaled, 1e-12)) for row in rows)
    ticks = list(range(0, math.ceil(top) + 1))
    plt.yticks(ticks, [f"1e{tick}" for tick in ticks])
    plt.xlabel("d_k")

    plt.subplot(1, 2)
    plt.title(_t(lang, "chart_weight"))
    plt.plot(x, [row.max_weight_unscaled for row in rows], label=unscaled, marker="braille")
    plt.plot(x, [row.max_weight_scaled for row in rows], label=scaled, marker="braille")
    plt.xticks(x, labels)
    plt.ylim(0, 1)
    plt.xlabel("d_k")
    return str(plt.build())
