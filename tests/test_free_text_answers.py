"""Free-text grading gets the direction right: answers that state an idea the wrong way round,
keyword lists and self-rejecting answers fail; right answers in the usual phrasings (K and V,
LaTeX, "d_k times the variance", 不区分) pass. Each kind in both languages, several wordings.

The rules behind these verdicts are data in the pack (the rubric's `contradictions`,
`require_any`, `guards` and `diagnoses`); `test_rubric_engine_knows_no_problem` and the
temporary rubric below show the engine itself holds none of one problem's knowledge.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from attn_drill.errors import PackError
from attn_drill.grading.rubric import grade_answer
from attn_drill.packs import BUILTIN_PACK
from attn_drill.problems import Rubric, load_problem_file
from attn_drill.quiz.bank import load_bank

CJK = re.compile(r"[\u4e00-\u9fff]")


def _quiz_rubric(question_id: str) -> Rubric:
    rubric = load_bank().by_id()[question_id].question.rubric
    assert rubric is not None
    return rubric


def _explain_rubric() -> Rubric:
    problem = load_problem_file(BUILTIN_PACK / "problems" / "explain-sqrt-dk.yaml", BUILTIN_PACK)
    assert problem.rubric is not None
    return problem.rubric


def _grade(answer: str, rubric: Rubric):
    return grade_answer(answer, rubric, "zh" if CJK.search(answer) else "en")


# -- self-cross-explain: the roles swapped, and K / V abbreviations ---------------------------

CROSS_SWAPPED = [
    "In cross-attention the queries come from the encoder, while the keys and values come from "
    "the decoder, so the decoder can look at the source sentence.",
    "Cross-attention takes its queries from the encoder output and its keys and values from the "
    "decoder states; this lets the decoder attend to relevant input tokens.",
    "The encoder provides the queries and the decoder provides the keys and values, which lets "
    "each target position focus on the relevant source words.",
    "Here Q is produced by the encoder and K, V are computed from the decoder, which lets the "
    "decoder look at the source.",
    "The queries are the encoder's outputs and K, V are the decoder's states, so the decoder "
    "can read the input sentence.",
    "交叉注意力的查询来自编码器，键和值来自解码器，这样解码器就能关注源序列中相关的部分。",
    "在交叉注意力中，编码器提供查询，解码器提供键和值，让解码器可以读取输入序列的信息。",
    "Q 由编码器的输出计算，K 和 V 来自解码器，于是解码器能利用输入序列的相关信息。",
]
CROSS_RIGHT = [
    "Queries come from the decoder; K and V come from the encoder output, so every target "
    "position can attend to the relevant source tokens.",
    "Q is computed from the decoder state, and K, V from the encoder output; this lets the "
    "decoder focus on the relevant source tokens while generating.",
    "The decoder's queries attend to the encoder's keys and values, so each generated token can "
    "look at the relevant parts of the input sentence.",
    "Each decoder query is compared with keys from the encoder, and the values from the encoder "
    "are mixed, so the decoder can focus on relevant input.",
    "Unlike self-attention, where queries, keys and values all come from the decoder, "
    "cross-attention takes its queries from the decoder and its keys and values from the "
    "encoder, so the decoder can use the source.",
    "查询由解码器的隐藏状态计算，K 和 V 来自编码器的输出，因此每个目标位置都能关注源句中相关的词。",
    "解码器的 Q 去查询编码器输出的 K 和 V，所以生成每个词时都能从输入序列中提取相关信息。",
    "解码器提供查询，编码器的输出提供键和值，使解码器在生成时能利用源序列中相关的信息。",
]


@pytest.mark.parametrize("answer", CROSS_SWAPPED)
def test_cross_attention_with_the_roles_swapped_fails(answer: str) -> None:
    result = _grade(answer, _quiz_rubric("self-cross-explain"))
    assert not result.passed and result.contradicted, answer


@pytest.mark.parametrize("answer", CROSS_RIGHT)
def test_cross_attention_right_answers_pass(answer: str) -> None:
    result = _grade(answer, _quiz_rubric("self-cross-explain"))
    assert result.passed, (answer, [p.id for p in result.points if p.met], result.contradicted)


# -- masking-explain: a mask that lets tokens see the future ---------------------------------

MASK_FUTURE = [
    "The causal mask lets every token see the future tokens; it is added as −inf to the scores "
    "before the softmax so that exp(−inf) = 0.",
    "A causal mask allows each position to attend to later positions, and it is applied before "
    "the softmax as −inf, giving zero weight.",
    "With the mask, each word gets to see the following words; the scores are set to −inf "
    "before softmax, so their weight is 0.",
    "因果掩码让每个位置都能看到后面的 token，在 softmax "
    "之前把分数设为 −inf，因为 exp(−inf) = 0，权重为零。",
    "掩码使模型可以关注未来的词；它在 softmax 之前加到分数上，exp(−inf)=0 所以权重为 0。",
]
MASK_RIGHT = [
    "The causal mask stops position i from attending to later positions j > i; setting those "
    "scores to −inf before the softmax gives them weight exp(−inf) = 0 and the rest still sums "
    "to 1.",
    "Without the mask a token could see the future; so we set future scores to −inf before the "
    "softmax, which makes their weight zero.",
    "Each token can only see itself and earlier tokens, never the future: the blocked scores "
    "become −inf before the softmax, and exp(−inf) = 0.",
    "The mask prevents tokens from seeing future ones: masked scores are set to −inf before "
    "softmax so their weight is 0.",
    "因果掩码保证位置 i 只能关注 j ≤ i 的位置，看不到未来；在 softmax 之前把这些分数设为 −inf，"
    "exp(−inf)=0，权重为零。",
    "如果没有掩码，模型会看到后面的词；所以在 softmax "
    "之前把未来位置的分数设为 −inf，它们的权重就是 0。",
]


@pytest.mark.parametrize("answer", MASK_FUTURE)
def test_a_mask_that_shows_the_future_fails(answer: str) -> None:
    result = _grade(answer, _quiz_rubric("masking-explain"))
    assert not result.passed and "no-future" in result.contradicted, answer


@pytest.mark.parametrize("answer", MASK_RIGHT)
def test_masking_right_answers_pass(answer: str) -> None:
    result = _grade(answer, _quiz_rubric("masking-explain"))
    assert result.passed, (answer, [p.id for p in result.points if p.met], result.contradicted)


# -- scaling-explain: stability / overflow is not the reason ---------------------------------

SCALING_STABILITY = [
    "For numerical stability: the dot products grow with d_k and could overflow, so dividing by "
    "√d_k makes the variance 1.",
    "Because q·k has variance d_k, large d_k means large numbers and overflow in exp; dividing by "
    "√d_k keeps the variance at 1 for stability.",
    "The variance of q·k grows with d_k, so we divide by √d_k for numerical stability and the "
    "variance is 1 again.",
    "为了数值稳定：d_k 越大点积越大，容易溢出，所以除以 √d_k 让方差变为 1。",
    "点积的方差随 d_k 增大，为了防止数值溢出、保持稳定，除以 √d_k 使方差回到 1。",
    "q·k 的方差随 d_k 线性增长，除以 √d_k 是为了数值稳定，让方差回到 1。",
]
SCALING_RIGHT = [
    "The variance of q·k grows with d_k, which pushes the softmax into saturation where its "
    "gradients vanish; dividing by √d_k brings the variance back to 1.",
    "The dot products' variance is d_k, so for big heads the softmax becomes nearly one-hot and "
    "learning stalls because gradients are tiny.",
    r"Since $\mathrm{Var}(q \cdot k) = d_k$, unscaled scores saturate the softmax and its "
    r"gradients vanish; dividing by $\sqrt{d_k}$ fixes it.",
    "d_k 越大，q·k 的方差越大，softmax 会饱和、梯度消失；除以 √d_k 让方差回到 1。",
    "维度越高点积的方差越大，softmax 变得接近 one-hot，梯度几乎为 0，所以要除以 √d_k。",
]


@pytest.mark.parametrize("answer", SCALING_STABILITY)
def test_stability_or_overflow_is_not_a_reason_for_the_scale(answer: str) -> None:
    result = _grade(answer, _quiz_rubric("scaling-explain"))
    assert not result.passed, answer
    assert not {"softmax-saturates", "vanishing-gradients"} & {p.id for p in result.points if p.met}


@pytest.mark.parametrize("answer", SCALING_RIGHT)
def test_scaling_right_answers_pass(answer: str) -> None:
    result = _grade(answer, _quiz_rubric("scaling-explain"))
    assert result.passed, (answer, [p.id for p in result.points if p.met], result.message)


def test_scaling_question_says_which_idea_is_missing() -> None:
    result = grade_answer(
        "The variance of q·k grows with d_k, so we divide by √d_k to keep the variance at 1.",
        _quiz_rubric("scaling-explain"),
        "en",
    )
    assert not result.passed
    assert "Softmax saturates / Gradients vanish" in result.message


# -- formula-qkv-explain: the roles of K and V swapped -----------------------------------------

QKV_SWAPPED = [
    "The query is what a position looks for; the values are compared with the query to give "
    "scores; the output is a weighted sum of the keys.",
    "Q asks what to find, V is matched against Q to score relevance, and the keys are averaged "
    "into the output.",
    "查询表示要找什么；值与查询做点积打分；输出是对键做加权平均得到的。",
]
QKV_RIGHT = [
    "The query is what a position looks for; keys are compared with the query to give scores; "
    "values are the content averaged into the output.",
    "Q: what this token is looking for. K: matched against Q by a dot product to score "
    "relevance. V: the information that the weights mix into the output.",
    "查询表示当前位置要找什么；键与查询做点积，得到相关性分数；值是被加权平均、传到输出的内容。",
]


@pytest.mark.parametrize("answer", QKV_SWAPPED)
def test_q_k_v_with_swapped_roles_fail(answer: str) -> None:
    result = _grade(answer, _quiz_rubric("formula-qkv-explain"))
    assert not result.passed and result.contradicted, answer


@pytest.mark.parametrize("answer", QKV_RIGHT)
def test_q_k_v_right_answers_pass(answer: str) -> None:
    assert _grade(answer, _quiz_rubric("formula-qkv-explain")).passed, answer


# -- pe-explain: 不区分 ------------------------------------------------------------------------

PE_RIGHT = [
    "自注意力本身不区分 token 的顺序，打乱输入只会让输出跟着打乱；"
    "原始 Transformer 把不同频率的正弦和余弦编码加到词嵌入上。",
    "自注意力对词的先后不区分，"
    "所以需要位置编码：原论文用正弦、余弦函数生成位置向量，与输入嵌入相加。",
    "注意力分辨不了词序，原始 Transformer 就把正弦余弦位置编码加到输入嵌入上。",
    "Self-attention by itself does not distinguish the order of the tokens, so the original "
    "Transformer adds sinusoidal encodings of each position to the embeddings.",
]
PE_WRONG = [
    "The Transformer adds positional encodings to the embeddings.",
    "Transformer 把位置编码加到嵌入上。",
]


@pytest.mark.parametrize("answer", PE_RIGHT)
def test_positional_encoding_right_answers_pass(answer: str) -> None:
    result = _grade(answer, _quiz_rubric("pe-explain"))
    assert result.passed, (answer, [p.id for p in result.points if p.met])


@pytest.mark.parametrize("answer", PE_WRONG)
def test_positional_encoding_without_the_reason_fails(answer: str) -> None:
    assert not _grade(answer, _quiz_rubric("pe-explain")).passed


# -- explain-sqrt-dk ---------------------------------------------------------------------------

KEYWORD_LISTS = [
    "variance grows with d_k，softmax saturates and becomes one-hot，gradients vanish，divide by "
    "√d_k restores unit variance，dividing by d_k makes weights uniform",
    "variance grows with d_k; softmax saturates, one-hot; gradients vanish; divide by √d_k, unit "
    "variance; d_k itself too small, uniform",
    "variance, d_k, grows, softmax, saturates, one-hot, gradients, vanish, √d_k, unit variance, "
    "uniform",
    "方差，d_k，增大，softmax，饱和，梯度，消失，除以√d_k，方差为1，除以d_k，均匀，区分不开",
    "方差；d_k；线性增长；softmax；饱和；梯度；消失；除以√d_k；方差回到1；均匀",
    "| cause | effect |\n|---|---|\n| variance of q·k "
    "grows with d_k | softmax saturates, one-hot |\n"
    "| saturated softmax | gradients vanish |\n| divide by √d_k | variance back to 1 |",
    "| idea | keywords |\n|---|---|\n| variance | d_k, grows, linear |\n"
    "| softmax | saturates, one-hot |\n| gradient | vanishes, tiny |\n"
    "| fix | √d_k, unit variance |",
    "| 要点 | 关键词 |\n|---|---|\n| 方差 | 随 d_k 增大 |\n| softmax | 饱和 |\n| 梯度 | 消失 |\n"
    "| 缩放 | 除以 √d_k，方差回到 1 |",
]


@pytest.mark.parametrize("answer", KEYWORD_LISTS)
def test_keyword_lists_with_commas_semicolons_or_tables_fail(answer: str) -> None:
    result = _grade(answer, _explain_rubric())
    assert not result.passed and result.keyword_list, answer


# Terse, but each says what causes what: clauses joined by a causal word are not a list.
TERSE_CAUSAL = [
    "Variance of q·k grows with d_k, large scores, softmax saturates, gradients vanish, so "
    "scale by 1/sqrt(d_k) to keep variance 1.",
    "q·k variance grows with d_k, scores get large, softmax saturates, gradients vanish, "
    "which is why we divide by √d_k to keep the variance at 1.",
]
# A keyword list stays a list when a causal word is tacked on between its nouns.
KEYWORD_LISTS_WITH_SO = [
    "variance d_k, softmax saturation, one-hot, vanishing gradients, therefore divide by "
    "sqrt d_k, unit variance",
    "variance, d_k, saturation, one-hot, gradient, vanishing, so √d_k, unit variance",
]


@pytest.mark.parametrize("answer", TERSE_CAUSAL)
def test_terse_answers_that_say_what_causes_what_pass(answer: str) -> None:
    result = _grade(answer, _explain_rubric())
    assert result.passed and not result.keyword_list, answer


@pytest.mark.parametrize("answer", KEYWORD_LISTS_WITH_SO)
def test_keyword_lists_with_a_causal_word_still_fail(answer: str) -> None:
    result = _grade(answer, _explain_rubric())
    assert not result.passed and result.keyword_list, answer


CHAIN = ("The variance of q·k grows linearly with d_k, so large scores saturate the softmax into "
         "a one-hot distribution and its gradients vanish. ")
MULTIPLIED = [
    CHAIN + "We multiply the dot product q·k by √d_k so its variance goes back to 1.",
    CHAIN + "To fix it, multiply QK^T by \\sqrt{d_k} so that the variance is 1 again.",
    CHAIN + "So we multiply every score in the matrix by the factor √d_k.",
    CHAIN + "Multiplying each of the raw scores by sqrt(d_k) restores unit variance.",
    "q·k 的方差随 d_k 线性增长，分数很大时 softmax 饱和，"
    "梯度消失。所以把点积矩阵 QK^T 乘以根号 d_k，方差就回到 1。",
    "q·k 的方差随 d_k 线性增长，softmax 会饱和，"
    "梯度消失。因此将每个分数都乘以 √d_k，方差恢复为 1。",
]


@pytest.mark.parametrize("answer", MULTIPLIED)
def test_multiplying_by_sqrt_dk_with_an_object_between_fails(answer: str) -> None:
    result = _grade(answer, _explain_rubric())
    assert not result.passed and "restores-unit-variance" in result.contradicted, answer


@pytest.mark.parametrize(
    "fix",
    [
        "So we multiply the scores by 1/√d_k, which brings the variance back to 1.",
        "We multiply Q by K^T divided by √d_k, which brings the variance back to 1.",
        "We multiply Q with K^T and then divide by √d_k, which brings the variance back to 1.",
        "我们把 Q 和 K^T 相乘，再除以 √d_k，方差就回到 1。",
    ],
)
def test_multiplying_then_dividing_still_passes(fix: str) -> None:
    assert _grade(CHAIN + fix, _explain_rubric()).passed, fix


FULL = ("The variance of q·k grows linearly with d_k, so large scores saturate the softmax into "
        "a one-hot distribution and its gradients vanish. Dividing by √d_k brings the variance "
        "back to 1.")
FULL_ZH = "q·k 的方差随 d_k 线性增长，分数很大时 softmax 饱和，梯度消失。除以 √d_k 让方差回到 1。"
SELF_REJECTING = [
    FULL + "\n\nActually, everything I wrote above is wrong. The scale is just a convention.",
    FULL + "\n\nNone of this is true, though: the real reason is that it looks nicer.",
    FULL + "\n\nBut all of the above is nonsense. It is a historical accident.",
    FULL_ZH + "\n\n不过，以上说的全都是错的，缩放只是一个习惯。",
    FULL_ZH + "\n\n其实上面写的这些都不对。除以 √d_k 只是约定俗成。",
]


@pytest.mark.parametrize("answer", SELF_REJECTING)
def test_an_answer_rejecting_all_of_itself_later_fails(answer: str) -> None:
    result = _grade(answer, _explain_rubric())
    assert not result.passed, answer
    assert {"variance-grows-with-dk", "vanishing-gradients"} <= set(result.rejected)


def test_a_later_paragraph_rejecting_one_claim_keeps_the_rest() -> None:
    answer = (FULL + "\n\nSome people say the scale prevents overflow. That is all wrong: "
              "overflow is handled by subtracting the maximum.")
    assert _grade(answer, _explain_rubric()).passed


VARIANCE_PHRASINGS = [
    r"Suppose the entries of $q$ and $k$ are i.i.d. with zero mean and unit variance. The dot "
    r"product $q \cdot k = \sum_{i=1}^{d_k} q_i k_i$ then has variance $d_k$ times that of each "
    r"term, so $\mathrm{Var}(q \cdot k) = d_k$. With large logits the softmax becomes nearly "
    r"one-hot and the gradient through it is close to zero. Dividing by $\sqrt{d_k}$ brings the "
    r"variance back to one.",
    r"Take $q_i \sim \mathcal{N}(0,\sigma^2)$ and $k_i \sim \mathcal{N}(0,\sigma^2)$. Then "
    r"$\text{Var}\left(\sum_{i=1}^{d_k} q_i \cdot k_i\right) = \sigma^4 \cdot d_k$. Without "
    r"scaling back to about $\sigma^2$, the softmax puts weight 1 on one element and 0 on the "
    r"rest, and the gradients through it are close to 0, so learning stalls.",
    r"If every entry has variance $\sigma^2$, the logit $q^\top k$ has variance $d_k\sigma^4$, "
    r"i.e. $d_k$ times the variance of one product. Unscaled, one key takes almost all the "
    r"weight, and the softmax gradient is almost zero. That is why we divide by $\sqrt{d_k}$.",
    "The sum of d_k products has a variance that is d_k times bigger than a single product's. "
    "That makes the softmax saturate, and a saturated softmax passes back tiny gradients. We "
    "divide by √d_k to bring the variance back to 1.",
    "Var(q·k) = d_k·σ⁴. Hence softmax saturates and gradients vanish for large d_k. Dividing "
    "by √d_k restores the scale.",
    r"q·k 的方差是单个乘积方差的 d_k 倍，即 $\mathrm{Var}(q \cdot k) = d_k$。分数很大时 softmax "
    r"饱和，梯度接近 0。除以 $\sqrt{d_k}$ 后方差回到 1。",
    r"q·k = \sum_i q_i k_i 一共 d_k 项，方差是 d_k 倍。softmax 因此饱和，梯度消失。除以 \sqrt{d_k} "
    r"让方差回到 1。",
]


@pytest.mark.parametrize("answer", VARIANCE_PHRASINGS)
def test_usual_phrasings_of_the_variance_argument_pass(answer: str) -> None:
    result = _grade(answer, _explain_rubric())
    assert result.passed, (answer, [p.id for p in result.points if p.met], result.message)
    assert "variance-grows-with-dk" in {p.id for p in result.points if p.met}


# -- the engine is generic: rules are data -----------------------------------------------------


def test_rubric_engine_knows_no_problem() -> None:
    """No point id, misconception id or topic word of one problem is written in the engine."""
    source = (Path(__file__).parents[1] / "attn_drill" / "grading" / "rubric.py").read_text(
        encoding="utf-8"
    )
    code = "\n".join(
        line for line in source.splitlines() if not line.lstrip().startswith("#")
    ).split('"""', 2)[2]  # the module docstring describes examples; the code must not use them
    for word in ("variance-grows", "softmax-saturates", "vanishing-gradients",
                 "unit-variance", "overflow-not-saturation", "only-normalises", "溢出"):
        assert word not in code, word


def _toy_rubric(**extra: object) -> Rubric:
    return Rubric.model_validate(
        {
            "threshold": 1,
            "min_chars": 5,
            "points": [
                {
                    "id": "hot-tea",
                    "label": {"en": "Tea is hot", "zh": "茶是热的"},
                    "advice": {"en": "Say the tea is hot.", "zh": "说茶是热的。"},
                    "concepts": [["tea", "茶"], ["hot", "warm", "热"]],
                }
            ],
            **extra,
        }
    )


def test_a_new_rubric_brings_its_own_contradictions_guards_and_diagnoses() -> None:
    plain = _toy_rubric()
    ruled = _toy_rubric(
        contradictions=[{"points": ["hot-tea"], "subject": r"\btea\b", "reverse": r"\bcold\b"}],
        guards=[{"id": "coffee", "mentions": ["coffee"], "met_none": ["hot-tea"],
                 "message": {"en": "Coffee is not tea.", "zh": "咖啡不是茶。"}}],
        diagnoses=[{"id": "thinks-tea-is-cold", "on_contradiction": True, "mentions": ["cold"]}],
        require_any=[["hot-tea"]],
    )
    answer = "The tea is warm in the morning. Later the tea is cold."
    assert grade_answer(answer, plain, "en").passed
    result = grade_answer(answer, ruled, "en")
    assert not result.passed and result.contradicted == ["hot-tea"]
    assert result.diagnosis == ["thinks-tea-is-cold"]
    coffee = grade_answer("I only drink coffee, strong and black.", ruled, "en")
    assert coffee.guards == ["coffee"] and coffee.message == "Coffee is not tea."


def test_a_rubric_naming_an_unknown_point_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown rubric point ids: nope"):
        _toy_rubric(require_any=[["nope"]])


def test_quiz_rules_from_an_unknown_problem_are_a_pack_error(tmp_path: Path) -> None:
    quiz = tmp_path / "quiz"
    quiz.mkdir()
    (tmp_path / "problems").mkdir()
    (quiz / "tea.yaml").write_text(
        "topic: tea\ntitle: {en: Tea, zh: 茶}\nquestions:\n"
        "  - id: tea-explain\n    kind: text\n    prompt: {en: Why?, zh: 为什么？}\n"
        "    explanation: {en: Because., zh: 因为。}\n"
        "    rubric:\n      threshold: 1\n      rules: no-such-problem\n      points:\n"
        "        - id: hot\n          label: {en: Hot, "
        "zh: 热}\n          advice: {en: Hot, zh: 热}\n"
        "          concepts: [[hot]]\n",
        encoding="utf-8",
    )
    with pytest.raises(PackError, match="no-such-problem"):
        load_bank(quiz, set())


def test_the_quiz_scaling_question_shares_the_problem_rules() -> None:
    quiz = _quiz_rubric("scaling-explain")
    problem = _explain_rubric()
    assert quiz.rules is None  # resolved at load
    assert len(quiz.contradictions) == len(problem.contradictions) > 0
    assert [g.id for g in quiz.guards] == [g.id for g in problem.guards]


def test_check_rubric_reports_a_broken_contradiction_pattern() -> None:
    from attn_drill.grading.rubric import check_rubric

    broken = _toy_rubric(contradictions=[{"points": ["hot-tea"], "subject": "(unclosed"}])
    assert any("contradictions 1" in problem for problem in check_rubric(broken))
    assert check_rubric(_explain_rubric()) == []
    for question_id in ("self-cross-explain", "masking-explain", "scaling-explain"):
        assert check_rubric(_quiz_rubric(question_id)) == []


HONEST_WITH_COMMAS = [
    "In short: bigger d_k, bigger variance of q·k (it is d_k), sharper softmax, smaller "
    "gradients. So we divide by √d_k, which brings the variance back to 1.",
    "Why √d_k? Because q·k = Σ q_i k_i over d_k terms, each with variance 1, so Var(q·k) = d_k. "
    "Big variance, big logits; big logits, saturated softmax; saturated softmax, vanishing "
    "gradients. Dividing by √d_k gives variance 1.",
    "| step | what happens |\n|---|---|\n| 1 | The variance of q·k grows linearly with d_k. |\n"
    "| 2 | Large scores push the softmax into saturation. |\n| 3 | Then its gradients vanish. |\n"
    "| 4 | Dividing by √d_k brings the variance back to 1. |",
    "| 步骤 | 说明 |\n|---|---|\n| 1 | q·k 的方差随 d_k 线性增长 |\n"
    "| 2 | 分数过大时 softmax 饱和 |\n| 3 | 饱和导致梯度消失 |\n| 4 | 除以 √d_k 让方差回到 1 |",
    "d_k 大，q·k 的方差就大，softmax 饱和，梯度消失，所以要除以 √d_k，让方差回到 1。",
    "Large d_k, large variance of q·k, a peaky softmax, vanishing gradients: that is why we "
    "scale by 1/√d_k, which restores unit variance.",
    "For large d_k, the dot products grow large, so the softmax saturates, and its gradients "
    "vanish; dividing by √d_k, not by d_k, keeps the variance of the scores at 1.",
    "d_k 越大，q·k 的方差越大，softmax 就越容易饱和，梯度也就越小；所以要除以 √d_k，"
    "让方差回到 1，而不是除以 d_k，那样会缩得太小。",
    "q·k 的方差随 d_k 线性增长，softmax 会饱和，梯度消失。所以我们把分数乘以 1/√d_k，方差回到 1。",
]


@pytest.mark.parametrize("answer", HONEST_WITH_COMMAS)
def test_honest_answers_with_commas_tables_and_reciprocals_pass(answer: str) -> None:
    result = _grade(answer, _explain_rubric())
    assert result.passed and not result.keyword_list, (answer, result.message)


def test_validate_reports_a_broken_pattern_in_a_quiz_rubric(tmp_path: Path) -> None:
    from attn_drill.grading.validate import ValidationResult, check_quiz

    quiz = tmp_path / "quiz"
    quiz.mkdir()
    (quiz / "tea.yaml").write_text(
        "topic: tea\ntitle: {en: Tea, zh: 茶}\nquestions:\n"
        "  - id: tea-explain\n    kind: text\n    prompt: {en: Why?, zh: 为什么？}\n"
        "    explanation: {en: Because., zh: 因为。}\n"
        "    rubric:\n      threshold: 1\n"
        "      contradictions: [{points: [hot], subject: '(unclosed'}]\n      points:\n"
        "        - id: hot\n          label: {en: Hot, zh: 热}\n"
        "          advice: {en: Hot, zh: 热}\n          concepts: [[hot]]\n",
        encoding="utf-8",
    )
    result = ValidationResult(pack=str(tmp_path))
    check_quiz(tmp_path, set(), result)
    failed = result.problems_found
    assert [(item.rule, item.subject) for item in failed] == [("quiz", "rubric of tea-explain")]
    assert "contradictions 1" in failed[0].message and failed[0].file.endswith("tea.yaml")


LATEX_REVERSED = [
    (r"As $d_k$ grows, $\mathrm{Var}(q \cdot k)$ decreases, so the softmax saturates and its "
     r"gradients vanish. Dividing by $\sqrt{d_k}$ brings the variance back to 1.",
     "variance-grows-with-dk"),
    (r"$\mathrm{Var}(q \cdot k) = d_k$, so large scores saturate the softmax and the gradients "
     r"explode. Dividing by $\sqrt{d_k}$ restores unit variance.", "vanishing-gradients"),
    (r"随着 $d_k$ 增大，$\mathrm{Var}(q \cdot k)$ 变小，softmax 饱和，梯度消失。"
     r"除以 $\sqrt{d_k}$ 让方差回到 1。", "variance-grows-with-dk"),
    (r"$\mathrm{Var}(q \cdot k) = d_k$，分数很大时 softmax 饱和，梯度变得很大。"
     r"除以 $\sqrt{d_k}$ 让方差回到 1。", "vanishing-gradients"),
]


@pytest.mark.parametrize(("answer", "point"), LATEX_REVERSED)
def test_reversed_claims_written_in_latex_fail(answer: str, point: str) -> None:
    result = _grade(answer, _explain_rubric())
    assert not result.passed and point in result.contradicted, (answer, result.contradicted)
