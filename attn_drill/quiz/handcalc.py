"""Randomized hand-calculation items: small integer Q, K, V and one number to compute.

The learner computes one attention weight (row i, column j of softmax(QKᵀ/√d_k)) or one
output entry (row i, column j of softmax(QKᵀ/√d_k)·V) to a few decimals. Items come from a
`random.Random`, so a quiz `--seed` reproduces them; the right value is computed with NumPy,
and `worked_solution` spells out every step (scores, scaled scores, softmax row, weighted sum).

Answers are accepted within one unit of the last asked decimal (0.01 for 2 decimals): a
learner who rounds the softmax row before the weighted sum still lands inside.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attn_drill.quiz.model import HandcalcSpec

Matrix = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class HandcalcItem:
    """One generated exercise. `row` and `col` are 0-based; text shows them 1-based."""

    target: str  # weight | output
    q: Matrix
    k: Matrix
    v: Matrix
    row: int
    col: int
    decimals: int

    @property
    def d_k(self) -> int:
        return len(self.q[0])

    @property
    def tolerance(self) -> float:
        return 10.0 ** (-self.decimals)

    def weights(self) -> list[list[float]]:
        """softmax(QKᵀ/√d_k), computed with NumPy (float64)."""
        import numpy as np

        q = np.array(self.q, dtype=np.float64)
        k = np.array(self.k, dtype=np.float64)
        scores = q @ k.T / np.sqrt(self.d_k)
        scores -= scores.max(axis=-1, keepdims=True)
        e = np.exp(scores)
        return (e / e.sum(axis=-1, keepdims=True)).tolist()

    def exact(self) -> float:
        """The exact value the learner approximates."""
        import numpy as np

        weights = np.array(self.weights())
        if self.target == "weight":
            return float(weights[self.row, self.col])
        output = weights @ np.array(self.v, dtype=np.float64)
        return float(output[self.row, self.col])

    def answer(self) -> float:
        """The expected answer, rounded to the asked decimals."""
        return round(self.exact(), self.decimals)

    def is_correct(self, value: float) -> bool:
        return math.isfinite(value) and abs(value - self.exact()) <= self.tolerance + 1e-12


def _matrix(rng: random.Random, rows: int, cols: int, low: int, high: int) -> Matrix:
    return tuple(tuple(rng.randint(low, high) for _ in range(cols)) for _ in range(rows))


def generate_item(spec: HandcalcSpec, rng: random.Random) -> HandcalcItem:
    """A fresh item for `spec`, drawn from `rng` only (so a seed reproduces it).

    Draws where the asked row is degenerate (every key scores the same, so every weight is
    1/n) or saturated (one weight above 0.97, so the answer is just 0 or 1 or a copy of V)
    teach little, so they are redrawn; after 50 draws the last one is kept.
    """
    n = rng.randint(*spec.tokens)
    d_k = rng.randint(*spec.d_k)
    d_v = rng.randint(*spec.d_v)
    low, high = spec.values
    item: HandcalcItem | None = None
    for _ in range(50):
        q = _matrix(rng, n, d_k, low, high)
        k = _matrix(rng, n, d_k, low, high)
        v = _matrix(rng, n, d_v, low, high) if spec.target == "output" else ()
        row = rng.randrange(n)
        col = rng.randrange(n if spec.target == "weight" else d_v)
        item = HandcalcItem(spec.target, q, k, v, row, col, spec.decimals)
        if n == 1 or _instructive(item):
            break
    assert item is not None
    return item


def _instructive(item: HandcalcItem) -> bool:
    scores = {sum(a * b for a, b in zip(item.q[item.row], key, strict=True)) for key in item.k}
    if len(scores) == 1:
        return False
    weights = item.weights()[item.row]
    if item.target == "weight":
        return 0.03 < weights[item.col] < 0.97
    return max(weights) < 0.97


# -- text -----------------------------------------------------------------------------------


def format_matrix(name: str, m: Matrix) -> list[str]:
    """`name = [[..], ..]` laid out one row per line, aligned."""
    width = max((len(str(x)) for r in m for x in r), default=1)
    rows = ["[" + ", ".join(str(x).rjust(width) for x in r) + "]," for r in m]
    rows[-1] = rows[-1].rstrip(",")
    pad = " " * (len(name) + 4)
    lines = [f"{name} = [{rows[0]}"] + [f"{pad}{r}" for r in rows[1:]]
    lines[-1] += "]"
    return lines


def item_prompt(item: HandcalcItem, lang: str) -> str:
    """The data and the exact question, in the chosen language."""
    lines = format_matrix("Q", item.q) + format_matrix("K", item.k)
    if item.target == "output":
        lines += format_matrix("V", item.v)
    i, j = item.row + 1, item.col + 1
    if lang == "zh":
        lines.append(f"d_k = {item.d_k}。行、列从 1 开始编号。")
        if item.target == "weight":
            lines.append(
                f"求注意力权重矩阵 softmax(QKᵀ/√d_k) 第 {i} 行第 {j} 列的值"
                f"（第 {i} 个 query 对第 {j} 个 key 的权重），保留 {item.decimals} 位小数。"
            )
        else:
            lines.append(
                f"求输出 softmax(QKᵀ/√d_k)·V 第 {i} 行第 {j} 列的值，"
                f"保留 {item.decimals} 位小数。"
            )
    else:
        lines.append(f"d_k = {item.d_k}. Rows and columns count from 1.")
        if item.target == "weight":
            lines.append(
                f"What is row {i}, column {j} of the weights softmax(QKᵀ/√d_k) (how much "
                f"query {i} attends to key {j})? Give {item.decimals} decimals."
            )
        else:
            lines.append(
                f"What is row {i}, column {j} of the output softmax(QKᵀ/√d_k)·V? "
                f"Give {item.decimals} decimals."
            )
    return "\n".join(lines)


def _num(x: float, places: int = 4) -> str:
    text = f"{x:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _signed(x: int) -> str:
    return f"({x})" if x < 0 else str(x)


def worked_solution(item: HandcalcItem, lang: str) -> list[str]:
    """Every step for the asked row: scores, scaled scores, softmax row, weighted sum."""
    zh = lang == "zh"
    i = item.row
    q_row = item.q[i]
    scores = [sum(a * b for a, b in zip(q_row, key, strict=True)) for key in item.k]
    root = math.sqrt(item.d_k)
    # √4 = 2 is exact; √8 ≈ 2.8284 is not: say which.
    root_sign = "=" if math.isqrt(item.d_k) ** 2 == item.d_k else "≈"
    scaled = [s / root for s in scores]
    weights = item.weights()[i]
    lines: list[str] = []
    lines.append(
        f"1. 第 {i + 1} 个 query 与每个 key 的点积 s_j = q_{i + 1}·k_j："
        if zh
        else f"1. Scores of query {i + 1}: s_j = q_{i + 1}·k_j"
    )
    for j, (key, s) in enumerate(zip(item.k, scores, strict=True), start=1):
        terms = " + ".join(f"{_signed(a)}×{_signed(b)}" for a, b in zip(q_row, key, strict=True))
        lines.append(f"   s_{j} = {terms} = {s}")
    lines.append(
        f"2. 除以 √d_k = √{item.d_k} {root_sign} {_num(root)}："
        f"[{', '.join(_num(x) for x in scaled)}]"
        if zh
        else f"2. Divide by √d_k = √{item.d_k} {root_sign} {_num(root)}: "
        f"[{', '.join(_num(x) for x in scaled)}]"
    )
    exps = [math.exp(x - max(scaled)) for x in scaled]
    total = sum(exps)
    lines.append(
        "3. 对这一行做 softmax（先减去最大值，再取 exp 并归一化）："
        if zh
        else "3. Softmax of the row (subtract the max, exponentiate, normalise):"
    )
    lines.append(
        f"   exp(s - max) = [{', '.join(_num(e) for e in exps)}], "
        + ("总和" if zh else "sum")
        + f" = {_num(total)}"
    )
    lines.append(f"   softmax = [{', '.join(_num(w) for w in weights)}]")
    if item.target == "weight":
        lines.append(
            f"   第 {item.col + 1} 列即所求：{_num(weights[item.col])}"
            if zh
            else f"   Column {item.col + 1} is the weight asked for: {_num(weights[item.col])}"
        )
    else:
        column = [r[item.col] for r in item.v]
        terms = " + ".join(f"{_num(w)}×{_signed(v)}" for w, v in zip(weights, column, strict=True))
        lines.append(
            f"4. 用这些权重对 V 的第 {item.col + 1} 列加权求和："
            if zh
            else f"4. Weighted sum of column {item.col + 1} of V with these weights:"
        )
        lines.append(f"   {terms} = {_num(item.exact())}")
    answer = f"{item.answer():.{item.decimals}f}"
    lines.append(f"答案：{answer}" if zh else f"Answer: {answer}")
    return lines
