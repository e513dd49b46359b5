"""Randomized hand-calculation items: small integer Q, K, V and one number to compute.

The learner computes one attention weight (row i, column j of softmax(QKᵀ/√d_k)) or one
output entry (row i, column j of softmax(QKᵀ/√d_k)·V) to a few decimals, optionally with a
causal mask (query i sees keys j ≤ i) or with two heads (Q, K and V split column-wise, each
head scaled by its own √d_k, outputs concatenated). Items come from a `random.Random`, so a
quiz `--seed` reproduces them; `worked_solution` spells out every step (scores, scaled
scores, softmax row, weighted sum).

Answers are accepted within one unit of the last asked decimal (0.01 for 2 decimals). The
prompt asks for at least 3 decimals in intermediate steps: an item is only kept when that
working, rounded at the end, is accepted (rounding the softmax row to 2 decimals first can
miss by more than 0.01, and is not promised to pass).

An item is redrawn when it teaches nothing or cannot tell right working from wrong:
- the asked row is degenerate (every visible key scores the same) or saturated (a weight
  above 0.97), the asked column of V is constant over the visible keys, or a causal item
  asks about the first row (one visible key) or a masked weight (always 0);
- a known wrong method lands within tolerance of the answer, even after rounding
  (`wrong_values`: no scale, dividing by d_k, a plain average, softmax over the wrong axis;
  for a causal item no mask and masking after the softmax; for two heads the whole width
  of Q and K, √d_model, the other head's weights).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attn_drill.quiz.model import HandcalcSpec

Matrix = tuple[tuple[int, ...], ...]
SATURATED = 0.97  # a weight above this makes the answer a copy (0, 1 or a row of V)
INTERMEDIATE_DECIMALS = 3  # what the prompt asks the learner to keep while working
MAX_DRAWS = 2000  # draws are cheap; a spec that never yields a good item is a pack error


@dataclass(frozen=True)
class HandcalcItem:
    """One generated exercise. `row` and `col` are 0-based; text shows them 1-based.

    With `heads` = 2, Q and K have 2·d_k columns and V 2·d_v: head h uses columns
    h·d_k ... (h+1)·d_k − 1 of Q and K and h·d_v ... of V; `col` indexes the concatenated
    output, so it also picks the head.
    """

    target: str  # weight | output
    q: Matrix
    k: Matrix
    v: Matrix
    row: int
    col: int
    decimals: int
    causal: bool = False
    heads: int = 1

    @property
    def d_k(self) -> int:
        """The per-head key dimension (the one under the square root)."""
        return len(self.q[0]) // self.heads

    @property
    def d_v(self) -> int:
        return len(self.v[0]) // self.heads if self.v else 0

    @property
    def head(self) -> int:
        return self.col // self.d_v if self.heads > 1 and self.target == "output" else 0

    @property
    def tolerance(self) -> float:
        return 10.0 ** (-self.decimals)

    def visible(self, row: int) -> list[int]:
        """The keys query `row` may attend to."""
        n = len(self.k)
        return list(range(row + 1)) if self.causal else list(range(n))

    def scores(self, head: int | None = None, *, whole_width: bool = False) -> list[list[int]]:
        """Raw dot products q_i·k_j over one head's columns (or all columns)."""
        head = self.head if head is None else head
        return _dot_products(self.q, self.k, head, self.heads, whole_width)

    def weight_matrix(
        self,
        *,
        head: int | None = None,
        divisor: float | None = None,
        by_column: bool = False,
        causal: bool | None = None,
        whole_width: bool = False,
    ) -> list[list[float]]:
        """softmax(scores / divisor) with the mask; the defaults give the right weights.

        `by_column` normalises over the queries instead of the keys (the wrong axis)."""
        raw = self.scores(head, whole_width=whole_width)
        divisor = math.sqrt(self.d_k) if divisor is None else divisor
        causal = self.causal if causal is None else causal
        n = len(raw)
        out = [[0.0] * n for _ in range(n)]
        for a in range(n):
            cells = [(b, a) if by_column else (a, b) for b in range(n)]
            cells = [(i, j) for i, j in cells if not causal or j <= i]
            top = max(raw[i][j] for i, j in cells) / divisor
            exps = [math.exp(raw[i][j] / divisor - top) for i, j in cells]
            total = sum(exps)
            for (i, j), e in zip(cells, exps, strict=True):
                out[i][j] = e / total
        return out

    def weights(self) -> list[list[float]]:
        """The asked head's softmax(QKᵀ/√d_k) (masked when causal)."""
        return self.weight_matrix()

    def row_weights(
        self,
        *,
        head: int | None = None,
        divisor: float | None = None,
        by_column: bool = False,
        causal: bool | None = None,
        whole_width: bool = False,
    ) -> list[float]:
        """The asked row of `weight_matrix(...)`, computed alone (checks run it many times)."""
        raw = self.scores(head, whole_width=whole_width)
        divisor = math.sqrt(self.d_k) if divisor is None else divisor
        causal = self.causal if causal is None else causal
        i = self.row
        n = len(raw)
        keys = range(i + 1) if causal else range(n)
        out = [0.0] * n
        if by_column:
            for j in keys:
                queries = range(j, n) if causal else range(n)
                top = max(raw[r][j] for r in queries) / divisor
                total = sum(math.exp(raw[r][j] / divisor - top) for r in queries)
                out[j] = math.exp(raw[i][j] / divisor - top) / total
            return out
        top = max(raw[i][j] for j in keys) / divisor
        exps = [math.exp(raw[i][j] / divisor - top) for j in keys]
        total = sum(exps)
        for j, e in zip(keys, exps, strict=True):
            out[j] = e / total
        return out

    def _value(self, row: list[float]) -> float:
        if self.target == "weight":
            return row[self.col]
        return sum(w * vj[self.col] for w, vj in zip(row, self.v, strict=True))

    def exact(self) -> float:
        """The exact value the learner approximates."""
        return self._value(self.row_weights())

    def answer(self) -> float:
        """The expected answer, rounded to the asked decimals."""
        return round(self.exact(), self.decimals)

    def is_correct(self, value: float) -> bool:
        return math.isfinite(value) and abs(value - self.exact()) <= self.tolerance + 1e-12

    def wrong_values(self) -> dict[str, float]:
        """What known wrong methods give for this item (see the module docstring)."""
        visible = self.visible(self.row)
        wrong = {
            "no-scale": self._value(self.row_weights(divisor=1.0)),
            "divide-by-d_k": self._value(self.row_weights(divisor=float(self.d_k))),
            "wrong-axis": self._value(self.row_weights(by_column=True)),
        }
        if self.target == "weight":
            wrong["plain-average"] = 1.0 / len(visible)
        else:
            column = [self.v[j][self.col] for j in visible]
            wrong["plain-average"] = sum(column) / len(column)
        if self.causal:
            wrong["no-mask"] = self._value(self.row_weights(causal=False))
            full = self.row_weights(causal=False)
            wrong["mask-after-softmax"] = self._value(
                [w if j <= self.row else 0.0 for j, w in enumerate(full)]
            )
            if self.target == "output":
                every = [vj[self.col] for vj in self.v]
                wrong["average-of-all-keys"] = sum(every) / len(every)
        if self.heads > 1:
            d_model = len(self.q[0])
            wrong["whole-width"] = self._value(self.row_weights(whole_width=True))
            wrong["sqrt-d_model"] = self._value(self.row_weights(divisor=math.sqrt(d_model)))
            wrong["whole-width-sqrt-d_model"] = self._value(
                self.row_weights(whole_width=True, divisor=math.sqrt(d_model))
            )
            wrong["other-head"] = self._value(self.row_weights(head=1 - self.head))
        return wrong

    def rounded_working(self, places: int = INTERMEDIATE_DECIMALS) -> float:
        """The answer worked with every intermediate number rounded to `places` decimals
        (scaled scores, exponentials, weights), then rounded to the asked decimals."""
        raw = self.scores()[self.row]
        visible = self.visible(self.row)
        scaled = {j: round(raw[j] / math.sqrt(self.d_k), places) for j in visible}
        top = max(scaled.values())
        exps = {j: round(math.exp(x - top), places) for j, x in scaled.items()}
        total = sum(exps.values())
        weights = {j: round(e / total, places) for j, e in exps.items()}
        if self.target == "weight":
            value = weights.get(self.col, 0.0)
        else:
            value = sum(w * self.v[j][self.col] for j, w in weights.items())
        return round(value, self.decimals)

    def problems(self, *, first_only: bool = False) -> list[str]:
        """Why this item would teach little or fail to tell right from wrong (empty: fine);
        `first_only` stops at the first reason (generation only needs to know whether)."""
        found: list[str] = []
        visible = self.visible(self.row)
        if len(visible) < 2:
            found.append("one visible key")
            return found
        raw = self.scores()[self.row]
        if len({raw[j] for j in visible}) == 1:
            found.append("every visible key scores the same")
        weights = self.row_weights()
        if self.target == "weight":
            if self.col not in visible:
                found.append("a masked weight")
            elif not 1 - SATURATED < weights[self.col] < SATURATED:
                found.append("saturated weight")
        else:
            if max(weights) >= SATURATED:
                found.append("saturated row")
            if len({self.v[j][self.col] for j in visible}) == 1:
                found.append("constant column of V")
        if found and first_only:
            return found
        exact = self.exact()
        margin = self.tolerance + 0.5 * self.tolerance + 1e-9  # also after rounding
        for name, value in self.wrong_values().items():
            if abs(value - exact) <= margin:
                found.append(f"wrong method lands within tolerance: {name}")
        if not self.is_correct(self.rounded_working()):
            found.append("3-decimal working is not accepted")
        return found


@lru_cache(maxsize=64)
def _dot_products(
    q: Matrix, k: Matrix, head: int, heads: int, whole_width: bool
) -> list[list[int]]:
    # cached: checking an item asks for the same scores under several wrong methods
    width = len(q[0]) // heads
    cols = range(len(q[0])) if whole_width else range(head * width, (head + 1) * width)
    return [[sum(qi[c] * kj[c] for c in cols) for kj in k] for qi in q]


def _matrix(rng: random.Random, rows: int, cols: int, low: int, high: int) -> Matrix:
    return tuple(tuple(rng.randint(low, high) for _ in range(cols)) for _ in range(rows))


def generate_item(spec: HandcalcSpec, rng: random.Random) -> HandcalcItem:
    """A fresh item for `spec`, drawn from `rng` only (so a seed reproduces it).

    Draws are repeated until `HandcalcItem.problems` is empty (see the module docstring);
    a spec that yields no such item in `MAX_DRAWS` draws keeps its last draw, which the
    bank's tests would catch.
    """
    item: HandcalcItem | None = None
    for _ in range(MAX_DRAWS):
        n = rng.randint(*spec.tokens)
        d_k = rng.randint(*spec.d_k)
        d_v = rng.randint(*spec.d_v)
        low, high = spec.values
        width = spec.heads * d_k
        q = _matrix(rng, n, width, low, high)
        k = _matrix(rng, n, width, low, high)
        v = _matrix(rng, n, spec.heads * d_v, low, high) if spec.target == "output" else ()
        causal = spec.mask == "causal"
        row = rng.randrange(1, n) if causal and n > 1 else rng.randrange(n)
        if spec.target == "weight":
            col = rng.randrange(row + 1) if causal else rng.randrange(n)
        else:
            col = rng.randrange(spec.heads * d_v)
        item = HandcalcItem(spec.target, q, k, v, row, col, spec.decimals, causal, spec.heads)
        if n == 1 or not item.problems(first_only=True):
            break
    assert item is not None
    return item


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
    zh = lang == "zh"
    lines.append(
        f"d_k = {item.d_k}。行、列从 1 开始编号。" if zh
        else f"d_k = {item.d_k}. Rows and columns count from 1."
    )
    if item.heads > 1:
        dk, dv = item.d_k, item.d_v
        lines.append(
            f"两个头：头 1 用 Q、K 的第 {_span(1, dk)} 列和 V 的第 {_span(1, dv)} 列，"
            f"头 2 用 Q、K 的第 {_span(dk + 1, 2 * dk)} 列和 V 的第 {_span(dv + 1, 2 * dv)} 列；"
            "每个头各自除以 √d_k，"
            "输出是两个头的输出拼接而成（没有 W_o）。"
            if zh
            else f"Two heads: head 1 uses columns {_span(1, dk)} of Q and K and {_span(1, dv)} "
            f"of V, head 2 columns {_span(dk + 1, 2 * dk)} of Q and K and "
            f"{_span(dv + 1, 2 * dv)} of V; each head divides by its own √d_k, and the output is "
            "the two heads' outputs side by side (no W_o)."
        )
    if item.causal:
        lines.append(
            "使用因果掩码：第 i 个查询只能关注第 j ≤ i 个键。" if zh
            else "A causal mask applies: query i attends only to keys j ≤ i."
        )
    masked = "（带掩码）" if item.causal and zh else (" (masked)" if item.causal else "")
    if zh:
        if item.target == "weight":
            lines.append(
                f"求注意力权重矩阵 softmax(QKᵀ/√d_k){masked or ' '}第 {i} 行第 {j} 列的值"
                f"（第 {i} 个查询对第 {j} 个键的权重），保留 {item.decimals} 位小数。"
            )
        else:
            output = "拼接后的输出" if item.heads > 1 else "输出 softmax(QKᵀ/√d_k)·V"
            gap = "" if masked or item.heads > 1 else " "
            lines.append(
                f"求{output}{masked}{gap}第 {i} 行第 {j} 列的值，保留 {item.decimals} 位小数。"
            )
        lines.append(
            f"中间步骤至少保留 {INTERMEDIATE_DECIMALS} 位小数，最后再四舍五入"
            f"（误差在 {item.tolerance:g} 以内算对）。"
        )
    else:
        if item.target == "weight":
            lines.append(
                f"What is row {i}, column {j} of the weights softmax(QKᵀ/√d_k){masked} (how "
                f"much query {i} attends to key {j})? Give {item.decimals} decimals."
            )
        else:
            output = "the concatenated output" if item.heads > 1 else (
                "the output softmax(QKᵀ/√d_k)·V"
            )
            lines.append(
                f"What is row {i}, column {j} of {output}{masked}? Give {item.decimals} decimals."
            )
        lines.append(
            f"Keep at least {INTERMEDIATE_DECIMALS} decimals in intermediate steps and round "
            f"only the answer (within {item.tolerance:g} counts as right)."
        )
    return "\n".join(lines)


def _span(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}–{last}"


def _num(x: float, places: int = 4) -> str:
    text = f"{x:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _signed(x: int) -> str:
    return f"({x})" if x < 0 else str(x)


def worked_solution(item: HandcalcItem, lang: str) -> list[str]:
    """Every step for the asked row: scores, scaled scores, softmax row, weighted sum."""
    zh = lang == "zh"
    i = item.row
    head = item.head
    cols = range(head * item.d_k, (head + 1) * item.d_k)
    q_row = [item.q[i][c] for c in cols]
    keys = [[key[c] for c in cols] for key in item.k]
    visible = item.visible(i)
    scores = item.scores()[i]
    root = math.sqrt(item.d_k)
    # √4 = 2 is exact; √8 ≈ 2.8284 is not: say which.
    root_sign = "=" if math.isqrt(item.d_k) ** 2 == item.d_k else "≈"
    weights = item.row_weights()
    lines: list[str] = []
    if item.heads > 1:
        first, last = head * item.d_k + 1, (head + 1) * item.d_k
        v_first, v_last = head * item.d_v + 1, (head + 1) * item.d_v
        lines.append(
            f"0. 输出第 {item.col + 1} 列属于头 {head + 1}：只用 Q、K 的第 {_span(first, last)} 列"
            f"和 V 的第 {_span(v_first, v_last)} 列。"
            if zh
            else f"0. Output column {item.col + 1} belongs to head {head + 1}: use only columns "
            f"{_span(first, last)} of Q and K and {_span(v_first, v_last)} of V."
        )
    lines.append(
        f"1. 第 {i + 1} 个查询与每个键的点积 s_j = q_{i + 1}·k_j："
        if zh
        else f"1. Scores of query {i + 1}: s_j = q_{i + 1}·k_j"
    )
    for j, (key, score) in enumerate(zip(keys, scores, strict=True)):
        if j not in visible:
            lines.append(
                f"   s_{j + 1}：被掩码遮住（j > i），记为 −∞" if zh
                else f"   s_{j + 1}: masked (j > i), taken as −∞"
            )
            continue
        terms = " + ".join(f"{_signed(a)}×{_signed(b)}" for a, b in zip(q_row, key, strict=True))
        lines.append(f"   s_{j + 1} = {terms} = {score}")
    scaled = [scores[j] / root for j in visible]
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
        terms = " + ".join(
            f"{_num(weights[j])}×{_signed(column[j])}" for j in visible
        )
        lines.append(
            f"4. 用这些权重对 V 的第 {item.col + 1} 列加权求和："
            if zh
            else f"4. Weighted sum of column {item.col + 1} of V with these weights:"
        )
        lines.append(f"   {terms} = {_num(item.exact())}")
    answer = f"{item.answer():.{item.decimals}f}"
    lines.append(f"答案：{answer}" if zh else f"Answer: {answer}")
    return lines
