"""Generated hand calculations can only be passed by the right working.

For every hand-calculation question of the bank (plain, causal and two-head), 2,000 items are
drawn and recomputed here in plain Python, independently of attn_drill.quiz.handcalc: none is
trivial (degenerate or saturated row, constant column of V, a masked or one-key row), none is
passed by a known wrong method (no scale, ÷ d_k, plain average, softmax over the wrong axis,
no mask, masking after the softmax, the whole width or √d_model for a head, the other head),
and working with 3 decimals, as the prompt asks, is accepted.
"""

from __future__ import annotations

import math
import random

import pytest

from attn_drill.quiz.bank import load_bank
from attn_drill.quiz.handcalc import HandcalcItem, generate_item, item_prompt
from attn_drill.quiz.model import HandcalcSpec

SAMPLES = 2000
SPECS = {
    e.question.id: e.question.handcalc
    for e in load_bank().entries
    if e.question.handcalc is not None
}


def test_the_bank_has_causal_and_two_head_hand_calculations() -> None:
    assert any(s.mask == "causal" for s in SPECS.values())
    assert any(s.heads == 2 for s in SPECS.values())
    assert {s.target for s in SPECS.values()} == {"weight", "output"}


def _softmax(values: list[float]) -> list[float]:
    """exp(v - max) / sum, with -inf entries getting exactly 0."""
    top = max(values)
    exps = [math.exp(v - top) if v != -math.inf else 0.0 for v in values]
    total = math.fsum(exps)
    return [e / total for e in exps]


def _methods(item: HandcalcItem, spec: HandcalcSpec) -> tuple[float, dict[str, float], int]:
    """(right value, wrong methods' values, visible keys) computed from scratch, in plain
    Python over whole matrices (a different route from the engine's one-row computation)."""
    heads = spec.heads
    n = len(item.q)
    d_k = len(item.q[0]) // heads
    d_v = len(item.v[0]) // heads if item.v else 0
    head = item.col // d_v if item.target == "output" and heads > 1 else 0
    causal = spec.mask == "causal"

    def weights(h: int, divisor: float, *, whole: bool = False, masked: bool = causal,
                by_column: bool = False) -> list[list[float]]:
        cols = range(len(item.q[0])) if whole else range(h * d_k, (h + 1) * d_k)
        scores = [[sum(item.q[i][c] * item.k[j][c] for c in cols) / divisor
                   if not masked or j <= i else -math.inf for j in range(n)] for i in range(n)]
        if not by_column:
            return [_softmax(row) for row in scores]
        columns = [_softmax([scores[i][j] for i in range(n)]) for j in range(n)]
        return [[columns[j][i] for j in range(n)] for i in range(n)]

    def pick(w: list[list[float]]) -> float:
        if item.target == "weight":
            return w[item.row][item.col]
        return math.fsum(w[item.row][j] * item.v[j][item.col] for j in range(n))

    root = math.sqrt(d_k)
    right = pick(weights(head, root))
    visible = item.row + 1 if causal else n
    wrong = {
        "no scale": pick(weights(head, 1.0)),
        "divide by d_k": pick(weights(head, d_k)),
        "wrong axis": pick(weights(head, root, by_column=True)),
    }
    if item.target == "weight":
        wrong["plain average"] = 1 / visible
    else:
        column = [item.v[j][item.col] for j in range(n)]
        wrong["plain average"] = math.fsum(column[:visible]) / visible
        wrong["average of every key"] = math.fsum(column) / n
    if causal:
        full = weights(head, root, masked=False)
        wrong["no mask"] = pick(full)
        wrong["mask after softmax"] = pick(
            [[w if j <= i else 0.0 for j, w in enumerate(row)] for i, row in enumerate(full)]
        )
    if heads > 1:
        d_model = len(item.q[0])
        wrong["whole width"] = pick(weights(head, root, whole=True))
        wrong["sqrt d_model"] = pick(weights(head, math.sqrt(d_model)))
        wrong["whole width and sqrt d_model"] = pick(weights(head, math.sqrt(d_model), whole=True))
        wrong["other head"] = pick(weights(1 - head, root))
    return right, wrong, visible


def _three_decimal_working(item: HandcalcItem, spec: HandcalcSpec) -> float:
    """A careful learner: 3 decimals for scaled scores, exponentials and weights."""
    heads = spec.heads
    d_k = len(item.q[0]) // heads
    d_v = len(item.v[0]) // heads if item.v else 1
    head = item.col // d_v if item.target == "output" and heads > 1 else 0
    cols = range(head * d_k, (head + 1) * d_k)
    keys = range(item.row + 1) if spec.mask == "causal" else range(len(item.k))
    scaled = [round(sum(item.q[item.row][c] * item.k[j][c] for c in cols) / math.sqrt(d_k), 3)
              for j in keys]
    exps = [round(math.exp(s - max(scaled)), 3) for s in scaled]
    w = [round(e / sum(exps), 3) for e in exps]
    if item.target == "weight":
        return round(w[item.col], item.decimals)
    return round(sum(wj * item.v[j][item.col] for wj, j in zip(w, keys, strict=True)),
                 item.decimals)


@pytest.mark.parametrize("question_id", sorted(SPECS))
def test_no_generated_item_is_trivial_or_passed_by_a_wrong_method(question_id: str) -> None:
    spec = SPECS[question_id]
    rng = random.Random(f"handcalc-{question_id}")
    for _ in range(SAMPLES):
        item = generate_item(spec, rng)
        right, wrong, visible = _methods(item, spec)
        assert item.exact() == pytest.approx(right, abs=1e-12)
        assert visible >= 2, item
        tolerance = item.tolerance
        if item.target == "weight":
            assert item.col < visible and 0.03 < right < 0.97, item
        else:
            column = [item.v[j][item.col] for j in range(visible)]
            assert len(set(column)) > 1, ("constant column of V", item)
        for name, value in wrong.items():
            # neither the wrong value nor the wrong value rounded to the asked decimals passes
            assert not item.is_correct(value), (name, item)
            assert not item.is_correct(round(value, item.decimals)), (name, item)
            assert abs(value - right) > tolerance, (name, item)
        assert item.is_correct(_three_decimal_working(item, spec)), item


def test_an_item_with_a_constant_column_or_an_unscaled_match_is_flagged() -> None:
    constant = HandcalcItem("output", q=((1, 0), (0, 1)), k=((1, 0), (0, 2)),
                            v=((3, 1), (3, 2)), row=0, col=0, decimals=2)
    assert "constant column of V" in constant.problems()
    # Equal scores except one key whose raw and scaled scores give the same weight: q·k = 0.
    same = HandcalcItem("weight", q=((1, 1), (0, 0)), k=((1, -1), (-1, 1)), v=(),
                        row=0, col=0, decimals=2)
    assert any("no-scale" in p for p in same.problems())
    first_row = HandcalcItem("weight", q=((1, 2), (2, 1)), k=((1, 0), (0, 1)), v=(),
                             row=0, col=0, decimals=2, causal=True)
    assert first_row.problems() == ["one visible key"]


@pytest.mark.parametrize(("lang", "words"), [
    ("en", ["Keep at least 3 decimals in intermediate steps", "causal mask", "j ≤ i"]),
    ("zh", ["中间步骤至少保留 3 位小数", "因果掩码", "查询", "键"]),
])
def test_prompts_ask_for_three_decimals_and_name_the_mask(lang: str, words: list[str]) -> None:
    spec = next(s for s in SPECS.values() if s.mask == "causal")
    prompt = item_prompt(generate_item(spec, random.Random(1)), lang)
    for word in words:
        assert word in prompt, word
    if lang == "zh":
        assert "query" not in prompt and "key" not in prompt


def test_two_head_prompt_and_working_name_the_head() -> None:
    from attn_drill.quiz.handcalc import worked_solution

    spec = next(s for s in SPECS.values() if s.heads == 2)
    item = generate_item(spec, random.Random(5))
    assert "Two heads" in item_prompt(item, "en") and "两个头" in item_prompt(item, "zh")
    steps = "\n".join(worked_solution(item, "en"))
    assert f"belongs to head {item.head + 1}" in steps
    assert f"Answer: {item.answer():.2f}" in steps
