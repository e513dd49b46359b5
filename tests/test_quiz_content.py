"""What the quiz and the problems teach is accurate, and the Chinese text is consistent.

Each test holds one corrected statement in place (the sentence that was wrong, or the fact
that makes the corrected one right), so a later edit cannot quietly bring the error back.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from attn_drill.packs import BUILTIN_PACK
from attn_drill.problems import Problem, load_pack
from attn_drill.quiz.bank import load_bank
from attn_drill.quiz.model import Question

QUESTIONS: dict[str, Question] = {e.question.id: e.question for e in load_bank().entries}
PROBLEMS: dict[str, Problem] = load_pack(BUILTIN_PACK)


def _misconception(problem: str, misconception: str) -> str:
    found = next(m for m in PROBLEMS[problem].misconceptions if m.id == misconception)
    return found.explanation.en + "\n" + found.explanation.zh


def _everything(question_id: str) -> str:
    q = QUESTIONS[question_id]
    parts = [q.prompt.en, q.prompt.zh, q.explanation.en, q.explanation.zh]
    for option in q.options or []:
        parts += [option.en, option.zh]
    return "\n".join(parts)


# -- the tiny mask fill replaces the score ---------------------------------------------------


@pytest.mark.parametrize(
    "problem", ["scaled-dot-product-attention", "multi-head-attention", "self-attention-module"]
)
def test_tiny_mask_fill_is_explained_as_a_replaced_score(problem: str) -> None:
    text = _misconception(problem, "mask-tiny-fill")
    assert "replace" in text and "替换" in text and "exp(0)/Σ" in text
    for wrong in ("barely changes", "hardly changes", "usual weight", "几乎不改变", "原有权重"):
        assert wrong not in text


def test_tiny_mask_fill_changes_the_output_materially() -> None:
    """The fact behind the text: filling with -1e-12 gives neither the masked nor the
    unmasked output."""
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(4, 4)) * 2
    values = rng.normal(size=(4, 3))
    allowed = np.tril(np.ones((4, 4), dtype=bool))

    def attend(s: np.ndarray) -> np.ndarray:
        e = np.exp(s - s.max(-1, keepdims=True))
        return (e / e.sum(-1, keepdims=True)) @ values

    tiny = attend(np.where(allowed, scores, -1e-12))
    assert np.abs(tiny - attend(np.where(allowed, scores, -np.inf))).max() > 0.1
    assert np.abs(tiny - attend(scores)).max() > 0.1
    text = QUESTIONS["impl-ignores-mask"].explanation
    assert "nearly identical" not in text.en and "outputs do change" in text.en
    assert "几乎相同" not in text.zh


# -- single statements -----------------------------------------------------------------------


def test_split_without_transpose_shows_with_any_two_tokens_and_heads() -> None:
    text = _everything("multi-head-split-transpose")
    assert "n ≠ d_k" not in text and "more than one token and more than one head" in text
    x = np.arange(2 * 8, dtype=float).reshape(1, 2, 8)  # 2 tokens, d_model 8, 2 heads
    wrong = x.reshape(1, 2, 2, 4)  # view(batch, heads, seq, d_k)
    right = x.reshape(1, 2, 2, 4).transpose(0, 2, 1, 3)
    assert not np.array_equal(wrong, right)


def test_softmax_axis_is_not_said_to_hide_on_square_inputs() -> None:
    text = _everything("softmax-axis")
    assert "square" not in text and "方阵" not in text
    assert "shape stays the same" in text


def test_pre_ln_final_layernorm_adds_parameters() -> None:
    text = _everything("rln-pre-vs-post")
    assert "same parameters" not in text and "参数量相同" not in text
    assert "2·d_model" in text


def test_score_memory_agrees_with_flash_attention() -> None:
    big_o = _everything("cx-big-o")
    flash = _everything("cx-flash")
    assert "O(n) extra memory" in big_o and "tiling" in big_o
    assert "O(n)" in flash


def test_hard_attention_still_computes_every_score() -> None:
    text = QUESTIONS["variants-soft-vs-hard"].explanation
    assert "still computes every score" in text.en and "仍然要算出所有分数" in text.zh


def test_additive_dims_has_no_defensible_distractor() -> None:
    text = _everything("additive-dims")
    options = " ".join(o.en for o in QUESTIONS["additive-dims"].options or [])
    assert "padding" not in options
    assert "padding with zeros would run" in text


def test_captioning_does_not_require_cross_attention() -> None:
    q = QUESTIONS["self-cross-applications"]
    assert q.options is not None and isinstance(q.answer, int)
    assert "encoder-decoder" in q.options[q.answer].en
    assert "decoder-only vision-language" in q.explanation.en and "LLaVA" in q.explanation.zh


def test_pe_value_cos_is_stored_to_the_asked_four_decimals() -> None:
    q = QUESTIONS["pe-value-cos"]
    assert "4 decimals" in q.prompt.en
    assert q.answer == round(math.cos(3 / 10000 ** (2 / 4)), 4) == 0.9996


def test_missing_scale_is_not_said_to_go_unnoticed() -> None:
    text = _misconception("self-attention", "missing-scale")
    assert "barely notice" not in text and "几乎看不出来" not in text


def test_llama_2_uses_gqa_only_in_its_largest_models() -> None:
    going = PROBLEMS["multi-head-attention"].going_further
    assert going is not None
    assert "34B and 70B" in going.en and "34B、70B" in going.zh
    assert "Llama 2/3" not in going.en


def test_tanh_bounds_hidden_units_not_the_score() -> None:
    q = QUESTIONS["additive-without-tanh"]
    options = " ".join(o.en for o in q.options or [])
    assert "scores to (−1, 1)" not in options and "scores are no longer squashed" not in options
    assert "‖v‖₁" in q.explanation.en and "‖v‖₁" in q.explanation.zh


@pytest.mark.parametrize(
    "implausible",
    [
        "float64 cannot represent 1000",
        "masked_fill only works on float64",
        "Lists are more precise than arrays",
        "so that the argmax gets a gradient",
        "adds the positional encoding back",
    ],
)
def test_implausible_distractors_are_gone(implausible: str) -> None:
    for q in QUESTIONS.values():
        assert implausible not in _everything(q.id), q.id


# -- Chinese -----------------------------------------------------------------------------------

# English Q/K/V words in Chinese prose (not in code, glosses in brackets or formulas like q·W)
_ENGLISH_QKV = re.compile(r"(?<![`\w（(/·])\b(?:value|key|query)\b(?![`\w）)/·_])")


def _zh_texts() -> list[tuple[str, str]]:
    texts: list[tuple[str, str]] = []
    for q in QUESTIONS.values():
        texts += [(q.id, q.prompt.zh), (q.id, q.explanation.zh)]
        texts += [(q.id, o.zh) for o in q.options or []]
        if q.rubric is not None:
            texts += [(q.id, p.label.zh) for p in q.rubric.points]
    for p in PROBLEMS.values():
        texts += [(p.id, p.statement.zh)] + [(p.id, m.explanation.zh) for m in p.misconceptions]
    return texts


def test_chinese_text_names_q_k_v_in_chinese() -> None:
    for where, text in _zh_texts():
        outside_code = "".join(text.split("`")[::2])
        # "查询（query）、键（key）和值（value）" glosses the English word in brackets: fine
        assert not _ENGLISH_QKV.search(outside_code), (where, text)


def test_one_kind_of_chinese_quotation_marks() -> None:
    for path in [*Path(BUILTIN_PACK, "quiz").glob("*.yaml"),
                 *Path(BUILTIN_PACK, "problems").glob("*.yaml")]:
        text = path.read_text(encoding="utf-8")
        assert "「" not in text and "」" not in text, path.name


def test_chinese_statements_keep_spaces_around_latin_text() -> None:
    gap = re.compile(r"[a-zA-Z0-9`][\u4e00-\u9fff]|[\u4e00-\u9fff][a-zA-Z0-9`]")
    for p in PROBLEMS.values():
        for text in [p.statement.zh, *(e.explanation.zh for e in p.examples)]:
            match = gap.search(text)
            assert match is None, (p.id, text[max(0, match.start() - 10) : match.end() + 10])


@pytest.mark.parametrize(
    ("question_id", "giveaways"),
    [
        ("heatmap-interpretation", ["可以直接下结论", "影响最大", "一定"]),
        ("softmax-global-normalisation", ["所以行和变小", "每行的最大值"]),
        ("pe-why-needed", ["无法区分", "完全相同"]),
    ],
)
def test_chinese_distractors_add_nothing_the_english_lacks(
    question_id: str, giveaways: list[str]
) -> None:
    q = QUESTIONS[question_id]
    assert q.options is not None and isinstance(q.answer, int)
    wrong = [o.zh for i, o in enumerate(q.options) if i != q.answer]
    for word in giveaways:
        assert not any(word in option for option in wrong), word


def test_the_hand_calculation_prompt_speaks_chinese() -> None:
    import random

    from attn_drill.quiz.handcalc import generate_item, item_prompt

    for q in QUESTIONS.values():
        if q.handcalc is not None:
            prompt = item_prompt(generate_item(q.handcalc, random.Random(0)), "zh")
            assert "query" not in prompt and "key" not in prompt, q.id


# -- coverage and difficulty -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question_id", "words"),
    [
        ("variants-sparse-global-random", ["random links", "Luong", "global tokens"]),
        ("scaling-not-overflow", ["overflow", "row max", "saturation"]),
        ("ed-fixed-context-bottleneck", ["fixed-size vector", "every encoder state"]),
        ("variants-vit-patches", ["16 × 16", "DETR", "captioning"]),
        ("variants-detr-queries", ["object queries"]),
        ("multi-head-data-flow-shapes", ["(2, 8, 10, 10)", "transpose"]),
        ("cx-score-multiply-adds", ["n²·d_model"]),
    ],
)
def test_coverage_questions_exist_with_bilingual_explanations(
    question_id: str, words: list[str]
) -> None:
    q = QUESTIONS[question_id]
    text = _everything(question_id)
    for word in words:
        assert word in text, word
    assert q.explanation.en and re.search(r"[\u4e00-\u9fff]", q.explanation.zh)


def test_every_builtin_question_states_its_difficulty() -> None:
    for path in Path(BUILTIN_PACK, "quiz").glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        ids = re.findall(r"^  - id: (\S+)\n    kind: \w+\n    difficulty: (easy|medium|hard)$",
                         text, re.M)
        assert len(ids) == len(re.findall(r"^  - id: ", text, re.M)), path.name
    levels = [q.difficulty for q in QUESTIONS.values()]
    assert levels.count("hard") >= 5 and levels.count("easy") >= 5
    hard_kinds = {q.kind for q in QUESTIONS.values() if q.difficulty == "hard"}
    assert {"handcalc", "numeric", "choice"} <= hard_kinds
