"""The built-in quiz bank (quiz/*.yaml): loads, is big and bilingual enough,
links only to real problems, and every answer is right.

Numeric answers are recomputed here from first principles (not copied from the YAML), and
every free-text rubric is checked against reference answers written here in both languages
(they must pass) and against empty, off-topic and half-right answers (they must fail).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from attn_drill.grading.rubric import grade_answer
from attn_drill.problems import L10n, builtin_problems
from attn_drill.quiz.bank import QUIZ_DIR, Bank, load_bank
from attn_drill.quiz.model import Question

# The problems of the built-in pack: the only ids a question may link to.
PACK_PROBLEMS = set(builtin_problems())

# Every misconception a coding problem of the pack diagnoses; the bank should let a learner
# practise each one (dropout left on is a module-writing slip and calling the library's own
# attention a rule of the exercise, not ideas to quiz).
CANONICAL_MISCONCEPTIONS = {
    m.id for p in builtin_problems().values() if "text" not in p.tracks
    for m in p.misconceptions
} - {"dropout-in-train", "uses-builtin"}


@pytest.fixture(scope="module")
def bank() -> Bank:
    return load_bank(QUIZ_DIR, problem_ids=PACK_PROBLEMS)


@pytest.fixture(scope="module")
def questions(bank: Bank) -> dict[str, Question]:
    return {entry.question.id: entry.question for entry in bank.entries}


def _texts(question: Question) -> list[tuple[str, L10n]]:
    """Every learner-facing bilingual text of a question, named for error messages."""
    texts: list[tuple[str, L10n]] = [
        ("prompt", question.prompt),
        ("explanation", question.explanation),
    ]
    if question.hint is not None:
        texts.append(("hint", question.hint))
    for index, option in enumerate(question.options or []):
        texts.append((f"options[{index}]", option))
    if question.rubric is not None:
        for point in question.rubric.points:
            texts.append((f"rubric.{point.id}.label", point.label))
            texts.append((f"rubric.{point.id}.advice", point.advice))
    return texts


def _same_code(en: str, zh: str) -> bool:
    import unicodedata

    def canon(s: str) -> str:
        return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s).replace("。", "."))

    return canon(en) == canon(zh)


# -- structure ---------------------------------------------------------------------------


def test_bank_loads_with_the_engine_loader_and_is_big_enough(bank: Bank) -> None:
    assert len(bank.topics) >= 10
    assert len(bank.entries) >= 60
    for topic, quiz in bank.topics.items():
        assert len(quiz.questions) >= 3, f"topic {topic} is thin"


def test_the_builtin_loader_accepts_the_bank(bank: Bank) -> None:
    """The engine's default loader links questions against the pack's real problems."""
    assert [e.question.id for e in load_bank().entries] == [e.question.id for e in bank.entries]


def test_kinds_are_mixed(bank: Bank) -> None:
    kinds = [entry.question.kind for entry in bank.entries]
    assert kinds.count("numeric") >= 8
    assert kinds.count("text") >= 5
    assert kinds.count("handcalc") >= 4
    assert kinds.count("choice") > len(kinds) / 2


def test_every_text_is_bilingual_and_chinese_is_chinese(bank: Bank) -> None:
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for entry in bank.entries:
        q = entry.question
        assert q.hint is not None, f"{q.id}: no hint"
        for name, text in _texts(q):
            assert text.en.strip() and text.zh.strip(), f"{q.id}.{name}: empty text"
            # Options that are pure code or formulas read the same in both languages.
            is_code = name.startswith("options") and _same_code(text.en, text.zh)
            if not is_code:
                assert cjk.search(text.zh), f"{q.id}.{name}: the zh text has no Chinese"
                assert not cjk.search(text.en), f"{q.id}.{name}: the en text has Chinese"
        assert len(q.explanation.en) >= 120, f"{q.id}: the explanation should teach, not just state"
    for topic, quiz in bank.topics.items():
        assert quiz.title.en.strip() and cjk.search(quiz.title.zh), topic


def test_ids_are_unique_and_topic_prefixed(bank: Bank) -> None:
    ids = [entry.question.id for entry in bank.entries]
    assert len(ids) == len(set(ids))
    for entry in bank.entries:
        assert entry.question.concepts, f"{entry.question.id}: no concepts"


def test_problem_links_exist_in_the_pack(bank: Bank) -> None:
    linked = {e.question.problem for e in bank.entries if e.question.problem is not None}
    assert linked <= PACK_PROBLEMS
    assert len(linked) >= 7, "most coding problems should have questions linked to them"


def test_every_canonical_misconception_is_quizzed(bank: Bank) -> None:
    concepts = {c for e in bank.entries for c in e.question.concepts}
    assert CANONICAL_MISCONCEPTIONS - concepts == set()


def test_choice_answers_in_range_and_options_distinct(bank: Bank) -> None:
    positions: list[int] = []
    for entry in bank.entries:
        q = entry.question
        if q.kind != "choice":
            continue
        assert q.options is not None and isinstance(q.answer, int)
        assert 0 <= q.answer < len(q.options)
        assert len(q.options) >= 3, f"{q.id}: give at least two plausible distractors"
        for lang in ("en", "zh"):
            texts = [o.get(lang).strip().casefold() for o in q.options]
            assert len(set(texts)) == len(texts), f"{q.id}: duplicate {lang} options"
        positions.append(q.answer)
    # The engine shuffles options, but the files should not lean on one position either.
    assert len(set(positions)) >= 3


def test_the_right_option_is_not_given_away_by_its_length(bank: Bank) -> None:
    """Learners quickly notice when the correct option is always the longest one."""

    def width(text: str) -> int:  # a Chinese character takes about two columns
        return sum(2 if "\u2e80" <= c <= "\u9fff" or "\uff00" <= c <= "\uffef" else 1 for c in text)

    choices = [e.question for e in bank.entries if e.question.kind == "choice"]
    for lang in ("en", "zh"):
        longest = 0
        for q in choices:
            assert q.options is not None and isinstance(q.answer, int)
            widths = [width(o.get(lang)) for o in q.options]
            if widths[q.answer] == max(widths) and widths.count(max(widths)) == 1:
                longest += 1
        assert longest <= 0.35 * len(choices), f"[{lang}] {longest}/{len(choices)} are longest"


def test_explanations_do_not_point_at_option_positions(bank: Bank) -> None:
    """Options are shuffled when asked, so 'the first option' would point at the wrong one."""
    positional = re.compile(
        r"\b(?:first|second|third|fourth|last|other three|above) (?:option|answer|choice|line)s?\b"
        r"|\boption [a-d1-4]\b|第[一二三四]项|选项[a-dA-D1-4]|另外三项|以上",
        re.I,
    )
    for entry in bank.entries:
        q = entry.question
        for name, text in _texts(q):
            for lang in ("en", "zh"):
                assert not positional.search(text.get(lang)), f"{q.id}.{name}.{lang}"


# -- numeric answers, recomputed ----------------------------------------------------------


def _softmax(x: list[float]) -> np.ndarray:
    z = np.asarray(x, dtype=np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def _pe(pos: int, dim: int, d_model: int) -> float:
    """Sinusoidal positional encoding of 'Attention Is All You Need'."""
    i = dim // 2
    angle = pos / 10000 ** (2 * i / d_model)
    return math.sin(angle) if dim % 2 == 0 else math.cos(angle)


def _linear_params(d_in: int, d_out: int, bias: bool = True) -> int:
    return d_in * d_out + (d_out if bias else 0)


def _dot_variance(d_k: int) -> float:
    """Exact variance of q·k when every component is an independent ±1 coin (mean 0,
    variance 1): q·k = 2B - d_k with B ~ Binomial(d_k, 1/2), summed over the distribution."""
    probabilities = [math.comb(d_k, b) / 2**d_k for b in range(d_k + 1)]
    values = [2 * b - d_k for b in range(d_k + 1)]
    mean = sum(p * v for p, v in zip(probabilities, values, strict=True))
    return sum(p * (v - mean) ** 2 for p, v in zip(probabilities, values, strict=True))


def _causal_allowed(n: int) -> int:
    return int(np.tril(np.ones((n, n), dtype=bool)).sum())


def _layer_norm(x: list[float]) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    return (a - a.mean()) / a.std()


NUMERIC: dict[str, Callable[[], float]] = {
    "scaling-dot-variance": lambda: _dot_variance(64),
    "scaling-std-before-scaling": lambda: math.sqrt(_dot_variance(256)),
    "scaling-saturated-derivative": lambda: 0.99 * (1 - 0.99),
    "scaling-effect-on-weight": lambda: float(_softmax([8 / math.sqrt(16), 0 / math.sqrt(16)])[0]),
    "softmax-value": lambda: float(_softmax([2, 0, 0])[0]),
    "self-cross-weight-count": lambda: float(np.ones((7, 10)).size),
    "multi-head-dk": lambda: 768 / 12,
    "multi-head-param-count": lambda: 4 * _linear_params(512, 512),
    "additive-param-count": lambda: 256 * 128 + 256 * 128 + 128,
    "variants-local-window": lambda: len(range(20 - 10, 20 + 10 + 1)),
    "masking-causal-count": lambda: _causal_allowed(6),
    "pe-value-sin": lambda: _pe(1, 0, 512),
    "pe-value-dim2": lambda: _pe(2, 2, 4),
    "pe-value-cos": lambda: _pe(3, 3, 4),
    "rln-layernorm-value": lambda: float(_layer_norm([1, 2, 3, 4])[0]),
    "rln-layernorm-params": lambda: sum(p.size for p in (np.ones(512), np.zeros(512))),
    "ed-attention-count": lambda: 6 * len(["self"]) + 6 * len(["masked-self", "cross"]),
    "cx-memory-mib": lambda: np.zeros((4096, 4096), dtype=np.float32).nbytes / 2**20,
    "cx-memory-heads": lambda: 12 * np.zeros((2048, 2048), dtype=np.float16).nbytes / 2**20,
    "cx-doubling": lambda: np.ones((2 * 300, 2 * 300)).size / np.ones((300, 300)).size,
    "cx-sliding-window": lambda: (4096 * 4096) / (4096 * 256),
    "heatmap-output-value": lambda: float(np.array([0.1, 0.4, 0.3, 0.2]) @ np.array([1, 2, 3, 4])),
    # KV cache: 2 (K and V) · layers · kv_heads · d_head · seq · bytes, in GiB
    "inference-kv-cache-bytes": lambda: 2 * 32 * 32 * 128 * 4096 * 2 / 2**30,
    "inference-gqa-saving": lambda: 2 * 80 * (64 - 8) * 128 * 4096 * 2 / 2**30,
    "efficient-window-count": lambda: float(sum(min(i + 1, 4) for i in range(10))),
    "efficient-window-reach": lambda: 20 - 3 * (4 - 1),
    "efficient-linear-state": lambda: 64 * 64 + 64,
    "backward-softmax-row": lambda: 0.75 * (1 - (0.75 * 1 + 0.25 * 0)),
    "backward-scale": lambda: 0.8 / math.sqrt(64),
    "pe-rope-rotation": lambda: 1 * math.cos(1) - 2 * math.sin(1),
    "pe-rope-frequency": lambda: 10000 ** (-2 * 32 / 128),
    "masking-padding-pairs": lambda: float(sum(4 * length for length in (6, 2, 0))),
    "masking-causal-and-padding": lambda: float(sum(min(i + 1, 3) for i in range(5))),
    "inference-kv-keys-seen": lambda: float(10 + (5 - 1) + 1),
    "efficient-online-softmax-merge": lambda: 1.5 * math.exp(2 - 3) + math.exp(0) + math.exp(-2),
    "variants-vit-patches": lambda: float(np.ones(((224 // 16) ** 2 + 1,) * 2).size),
    "cx-score-multiply-adds": lambda: float(
        np.einsum("hnd,hmd->hnm", np.ones((8, 1024, 64)), np.ones((8, 1024, 64))).sum()
    ),
}


def test_every_numeric_question_is_recomputed(bank: Bank) -> None:
    numeric_ids = {e.question.id for e in bank.entries if e.question.kind == "numeric"}
    assert numeric_ids == set(NUMERIC), "add (or remove) the recomputation for these questions"


@pytest.mark.parametrize("question_id", sorted(NUMERIC))
def test_numeric_answer_is_right(questions: dict[str, Question], question_id: str) -> None:
    q = questions[question_id]
    assert q.kind == "numeric" and q.tolerance is not None
    expected = NUMERIC[question_id]()
    assert abs(q.numeric_answer() - expected) <= q.tolerance + 1e-12, (
        f"{question_id}: the bank says {q.answer}, recomputed {expected}"
    )
    # The tolerance must not be so loose that a typical wrong answer would pass.
    assert q.tolerance <= max(0.01 * abs(expected), 0.001)


# -- free-text rubrics --------------------------------------------------------------------

# Reference answers a good learner could write in one to three sentences.
REFERENCE_ANSWERS: dict[str, dict[str, str]] = {
    "scaling-explain": {
        "en": "If the components of q and k have unit variance, the dot product q·k has variance "
        "d_k, so for large d_k the scores are huge and the softmax saturates into a nearly one-hot "
        "distribution whose gradients vanish. Dividing by √d_k brings the variance back to 1.",
        "zh": "若 q 和 k 的分量方差为 1，点积 q·k 的方差就是 d_k，d_k 很大时分数过大，softmax "
        "进入饱和区，梯度接近 0（梯度消失）。除以根号 d_k 后方差恢复为 1，训练更稳定。",
    },
    "formula-qkv-explain": {
        "en": "The query represents what the current token is looking for, each key is compared "
        "with the query by a dot product to score its relevance, and the values are the content "
        "that the softmax weights average into the output.",
        "zh": "Q（查询）表示当前位置想要找什么信息；K（键）与查询做点积比较，得到相关性分数；"
        "V（值）是实际的内容，按权重加权求和后得到输出。",
    },
    "self-cross-explain": {
        "en": "In cross-attention the queries come from the decoder, while the keys and values "
        "come from the encoder output. This lets every target position focus on the relevant "
        "source tokens while generating.",
        "zh": "交叉注意力的查询来自解码器，键和值来自编码器的输出。这样解码器在生成每个词时都能"
        "关注源句子中相关的部分。",
    },
    "multi-head-explain": {
        "en": "Each head projects the input into its own subspace, so different heads can attend "
        "to different kinds of relations, such as syntax or nearby words, in parallel. This is "
        "more expressive than one head, which would average them together, at about the same cost.",
        "zh": "每个头把输入投影到不同的子空间，不同的头可以关注不同的关系或位置，比如句法和相邻词；"
        "单个头会把这些平均掉，多头的表达能力更强，计算量却差不多。",
    },
    "masking-explain": {
        "en": "A causal mask stops position i from attending to future positions j > i. The "
        "blocked scores are set to -inf before the softmax, so exp(-inf) = 0 gives them zero "
        "weight and each row still sums to 1.",
        "zh": "因果掩码让每个位置只能关注自己和之前的位置，看不到未来的 token。在 softmax 之前把"
        "这些分数设为 −inf，exp(−inf) = 0，它们的权重为零，每行权重之和仍为 1。",
    },
    "pe-explain": {
        "en": "Self-attention has no recurrence and is permutation-equivariant, so on its own it "
        "has no notion of token order. The original Transformer adds sine and cosine functions of "
        "the position, at different frequencies, to the token embeddings.",
        "zh": "Transformer 没有循环结构，自注意力与顺序无关，打乱 token 的顺序输出只是跟着打乱。"
        "原始 Transformer 把不同频率的正弦和余弦位置编码加到词嵌入上。",
    },
    "cx-explain": {
        "en": "Every query is scored against every key, so the score matrix is n x n and time and "
        "memory grow quadratically with the sequence length. Sliding-window or sparse attention "
        "only scores nearby pairs, which makes it linear.",
        "zh": "每个查询都要和所有键计算分数，得到 n × n 的矩阵，时间和内存都随序列长度平方增长。"
        "可以用滑动窗口或稀疏注意力，只计算邻近位置的分数。",
    },
    "iv-formula-walkthrough": {
        "en": "Attention(Q, K, V) = softmax(QK^T / sqrt(d_k)) V. Take the dot product of each "
        "query "
        "with every key, divide by the square root of d_k, apply softmax so each row sums to 1, "
        "and use the weights for a weighted sum of the values.",
        "zh": "Attention(Q,K,V) = softmax(QKᵀ/√d_k)V：先计算 Query 和 Key 的点积得到注意力分数，"
        "除以 √d_k 缩放，再用 softmax 归一化得到权重，最后对 V 加权求和得到输出。",
    },
    "iv-softmax-role": {
        "en": "Softmax normalises each query's scores into weights that sum to 1. Its exponential "
        "amplifies the largest scores, and it is differentiable, so gradients flow back.",
        "zh": "softmax 把分数归一化，确保注意力权重之和为 1；指数函数会放大高分、突出重点；"
        "而且它可微，反向传播可以正常进行。",
    },
}

# Answers that must not pass any rubric.
OFF_TOPIC = {
    "en": "Attention is a popular technique in modern deep learning, used in many products for "
    "language, vision and speech, and it is worth studying carefully.",
    "zh": "注意力机制是现代深度学习中很流行的技术，在语言、视觉和语音等产品中都有广泛应用，"
    "值得认真学习。",
}

# On-topic but missing the point: must fail the named question's rubric.
HALF_RIGHT: dict[str, dict[str, str]] = {
    "scaling-explain": {
        "en": "We divide by the square root of d_k to normalise the scores so that the model "
        "works better.",
        "zh": "除以根号 d_k 是为了对分数做归一化，让模型效果更好一些。",
    },
    "masking-explain": {
        "en": "The mask is a matrix of ones and zeros that we multiply with the attention "
        "weights after computing them.",
        "zh": "掩码是一个由 0 和 1 组成的矩阵，我们把它和算好的注意力权重相乘。",
    },
    "pe-explain": {
        "en": "Positional encoding is a vector that the model learns during training to make "
        "it more accurate.",
        "zh": "位置编码是模型在训练中学到的一个向量，能让模型更准确。",
    },
    "iv-formula-walkthrough": {
        "en": "The formula is softmax(QK^T/sqrt(d_k))V.",
        "zh": "公式是 softmax(QKᵀ/√d_k)V，这是面试里最常考的公式之一。",
    },
    "cx-explain": {
        "en": "Attention is slow because softmax is expensive; we can buy a bigger GPU to make "
        "it faster.",
        "zh": "注意力很慢是因为 softmax 计算很贵，可以换更大的显卡来加速。",
    },
}


# More ways a learner might answer, from terse to textbook, in both languages: each must
# get the verdict given (True = passes). They guard the rubrics against brittle phrase lists.
PARAPHRASES: dict[str, list[tuple[bool, str]]] = {
    "scaling-explain": [
        (True,
         "Because the dot product grows with the dimension: its variance is d_k. Large scores "
         "push softmax into regions with tiny gradients, so we scale by sqrt(d_k) to keep the "
         "variance at 1."),
        (True,
         "For large d_k the dot products get large in magnitude, pushing the softmax into "
         "saturation where gradients vanish; dividing by √d_k counteracts this."),
        (True,
         "当 d_k 较大时，QK^T 的方差会很大，大的数值经过 softmax 后梯度接近 0。除以根号 d_k 可"
         "以控制方差为 1，保持梯度稳定。"),
        (True,
         "维度越高点积越大，softmax 会变得很尖锐（接近 one-hot），导致梯度消失，所以要除以 √dk"
         "。"),
        (False,
         "To prevent numerical overflow in the exponential function."),
        (False,
         "除以根号 d_k 是为了让计算更快。"),
    ],
    "formula-qkv-explain": [
        (True,
         "Q is what the token is looking for, K is what each token offers to be matched "
         "against, and V is the information that actually gets passed along."),
        (True,
         "Queries ask, keys are compared with queries to compute attention scores, values are "
         "weighted by those scores and summed."),
        (True,
         "Q 是查询向量，表示我想要什么信息；K 是键向量，表示我有什么信息，用来和 Q 计算相似度"
         "；V 是值向量，表示信息的具体内容。"),
        (True,
         "Query 决定当前位置关注什么，Key 是被查询的内容，与 Query 做点积得到分数，Value 是实"
         "际传递的信息。"),
        (False,
         "Q, K and V are three matrices in the Transformer."),
        (False,
         "Q、K、V 是三个矩阵，都是由输入乘以权重得到的。"),
    ],
    "self-cross-explain": [
        (True,
         "Queries come from the decoder and keys and values from the encoder's output, so the "
         "decoder can attend to the relevant parts of the source sentence."),
        (True,
         "The query is the decoder state; K and V are the encoder outputs. That lets each "
         "generated word look at the input."),
        (True,
         "Query 来自解码器，Key 和 Value 来自编码器，这样解码器生成每个词时都能关注源语言中相"
         "关的词。"),
        (True,
         "交叉注意力中 Q 来自解码器，K、V 来自编码器的输出，让解码器可以利用输入序列的信息。"),
        (False,
         "Cross-attention is attention between two sequences and it is used in translation."),
        (False,
         "交叉注意力就是在两个序列之间计算注意力。"),
    ],
    "multi-head-explain": [
        (True,
         "Multiple heads let the model attend to information from different representation "
         "subspaces at different positions; a single head would average them."),
        (True,
         "Each head can focus on a different kind of relationship, like syntax or coreference,"
         " which increases the model's expressiveness."),
        (True,
         "不同的头可以关注不同类型的关系，类似于 CNN 中的多个滤波器，能增加模型的表达能力。"),
        (True,
         "多头把输入投影到多个不同的子空间，并行计算多个注意力头，每个头关注不同的方面。"),
        (False,
         "Multi-head attention has several heads and concatenates them."),
        (False,
         "多头注意力就是有多个头，最后拼接起来。"),
    ],
    "masking-explain": [
        (True,
         "The causal mask prevents a token from attending to tokens after it; we fill those "
         "scores with -inf before softmax so their probability becomes zero."),
        (True,
         "It hides future positions. Adding -inf to the logits before softmax makes "
         "exp(-inf)=0, so the weights over the allowed positions still sum to 1."),
        (True,
         "因果掩码防止模型看到未来的信息。在 softmax 之前把未来位置的分数设为负无穷，softmax "
         "之后它们的权重就是 0。"),
        (True,
         "每个位置只能看到它之前的词。要在 softmax 前加 -inf，否则 softmax 后每行的和就不是 1 "
         "了。"),
        (False,
         "The causal mask is a lower triangular matrix."),
        (False,
         "因果掩码是一个下三角矩阵，用在解码器中。"),
    ],
    "pe-explain": [
        (True,
         "Attention itself is order-agnostic, so without positions the model sees a bag of "
         "tokens. The original paper adds fixed sinusoidal encodings to the embeddings."),
        (True,
         "Since the Transformer has no recurrence, it needs extra position information; the "
         "paper uses sine and cosine functions of different frequencies added to the input "
         "embeddings."),
        (True,
         "由于 Transformer 没有循环结构，需要额外的位置信息。原论文用不同频率的正弦和余弦函数"
         "生成位置编码，与词向量相加。"),
        (True,
         "自注意力对输入顺序不敏感，所以要把 sin/cos 位置编码加到输入嵌入中。"),
        (False,
         "Positional encoding uses sine and cosine."),
        (False,
         "位置编码用正弦和余弦函数。"),
    ],
    "cx-explain": [
        (True,
         "Because each token attends to all n tokens the cost is O(n^2) in time and memory; "
         "Longformer-style local windows reduce it."),
        (True,
         "The attention matrix is n by n, so memory is quadratic. FlashAttention avoids "
         "storing it."),
        (True,
         "标准注意力需要计算 n×n 的注意力矩阵，复杂度 O(n²)。稀疏注意力通过限制注意力范围来降"
         "低复杂度。"),
        (True,
         "任意两个位置都要算分数，时间和内存都是平方级。可以只关注邻近位置（局部注意力）。"),
        (False,
         "Attention is expensive for long sequences."),
        (False,
         "长序列上注意力很慢，需要更好的硬件。"),
    ],
    "iv-formula-walkthrough": [
        (True,
         "softmax(QK^T/√d_k)V: compute the similarity between queries and keys with dot "
         "products, scale, normalize with softmax to get weights, and multiply the weights by "
         "V."),
        (True,
         "Attention(Q,K,V)=softmax(QK^T/sqrt(dk))V. First Q times K transpose gives scores, "
         "then divide by sqrt dk, softmax gives probabilities, and the output is a weighted "
         "average of V."),
        (True,
         "公式是 softmax(QK^T/√d_k)V。1. 先计算 Query 和 Key 的点积得到注意力分数 2. 除以√d_k "
         "进行缩放 3. 通过 softmax 归一化得到注意力权重 4. 最后与 Value 相乘得到输出。"),
        (False,
         "It is softmax of Q times K over root d_k times V."),
        (False,
         "Attention 就是让模型关注重要的部分。"),
    ],
    "iv-softmax-role": [
        (True,
         "It converts raw scores into a probability distribution, exaggerating the differences"
         " between them, and it is differentiable."),
        (True,
         "Softmax makes the attention weights positive and sum to one, and it lets gradients "
         "flow through during training."),
        (True,
         "softmax 把分数变成概率分布，权重之和为 1，并且通过指数放大重要的部分。"),
        (True,
         "作用是归一化，并且可导，可以反向传播。"),
        (False,
         "Softmax is an activation function."),
        (False,
         "softmax 是一个激活函数，在很多地方都会用到。"),
    ],
}


def _text_questions(bank: Bank) -> list[Question]:
    return [e.question for e in bank.entries if e.question.kind == "text"]


def test_rubric_phrases_compile(bank: Bank) -> None:
    from attn_drill.grading.rubric import check_rubric

    for q in _text_questions(bank):
        assert q.rubric is not None
        assert check_rubric(q.rubric) == [], q.id


def test_every_text_question_has_reference_answers(bank: Bank) -> None:
    assert {q.id for q in _text_questions(bank)} == set(REFERENCE_ANSWERS)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_reference_answers_pass_their_rubric(questions: dict[str, Question], lang: str) -> None:
    for question_id, answers in REFERENCE_ANSWERS.items():
        q = questions[question_id]
        assert q.rubric is not None
        result = grade_answer(answers[lang], q.rubric, lang)
        missing = [p.id for p in result.points if not p.met]
        assert result.passed, f"{question_id} [{lang}] fails; missing {missing}: {result.message}"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_empty_and_off_topic_answers_fail(questions: dict[str, Question], lang: str) -> None:
    for question_id in REFERENCE_ANSWERS:
        q = questions[question_id]
        assert q.rubric is not None
        for answer in ("", "   ", OFF_TOPIC[lang], OFF_TOPIC["en" if lang == "zh" else "zh"]):
            result = grade_answer(answer, q.rubric, lang)
            assert not result.passed, f"{question_id} [{lang}] passes {answer!r}"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_half_right_answers_fail(questions: dict[str, Question], lang: str) -> None:
    for question_id, answers in HALF_RIGHT.items():
        q = questions[question_id]
        assert q.rubric is not None
        result = grade_answer(answers[lang], q.rubric, lang)
        met = [p.id for p in result.points if p.met]
        assert not result.passed, f"{question_id} [{lang}] passes a half answer (met {met})"


@pytest.mark.parametrize("question_id", sorted(PARAPHRASES))
def test_paraphrased_answers_get_the_expected_verdict(
    questions: dict[str, Question], question_id: str
) -> None:
    rubric = questions[question_id].rubric
    assert rubric is not None
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for should_pass, answer in PARAPHRASES[question_id]:
        lang = "zh" if cjk.search(answer) else "en"
        result = grade_answer(answer, rubric, lang)
        met = [p.id for p in result.points if p.met]
        assert result.passed == should_pass, f"{question_id}: {answer!r} (met {met})"


def test_a_reference_answer_for_one_question_does_not_pass_an_unrelated_one(
    questions: dict[str, Question],
) -> None:
    """Rubrics test their own idea, not generic attention vocabulary."""
    pairs = [("pe-explain", "multi-head-explain"), ("masking-explain", "pe-explain"),
             ("multi-head-explain", "scaling-explain"), ("scaling-explain", "masking-explain")]
    for answer_id, rubric_id in pairs:
        rubric = questions[rubric_id].rubric
        assert rubric is not None
        for lang in ("en", "zh"):
            result = grade_answer(REFERENCE_ANSWERS[answer_id][lang], rubric, lang)
            assert not result.passed, f"the {answer_id} answer passes {rubric_id} [{lang}]"


# -- hand calculations ----------------------------------------------------------------------


def test_handcalc_items_vary(bank: Bank) -> None:
    specs = [e.question.handcalc for e in bank.entries if e.question.kind == "handcalc"]
    assert {s.target for s in specs if s is not None} == {"weight", "output"}
    assert len({(s.tokens, s.d_k) for s in specs if s is not None}) >= 3


def test_handcalc_items_generate_and_match_numpy(bank: Bank) -> None:
    import random

    from attn_drill.quiz.handcalc import generate_item

    for entry in bank.entries:
        spec = entry.question.handcalc
        if spec is None:
            continue
        for seed in range(5):
            item = generate_item(spec, random.Random(seed))
            heads = spec.heads
            q = np.array(item.q, dtype=float).reshape(len(item.q), heads, -1).transpose(1, 0, 2)
            k = np.array(item.k, dtype=float).reshape(len(item.k), heads, -1).transpose(1, 0, 2)
            n, d_k = q.shape[1], q.shape[2]
            assert spec.tokens[0] <= n <= spec.tokens[1]
            assert spec.d_k[0] <= d_k <= spec.d_k[1]
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(d_k)  # (heads, n, n)
            if spec.mask == "causal":
                scores = np.where(np.tril(np.ones((n, n), dtype=bool)), scores, -np.inf)
            weights = np.exp(scores - scores.max(-1, keepdims=True))
            weights /= weights.sum(-1, keepdims=True)
            if item.target == "weight":
                expected = weights[0, item.row, item.col]
            else:
                v = np.array(item.v, dtype=float).reshape(n, heads, -1).transpose(1, 0, 2)
                output = (weights @ v).transpose(1, 0, 2).reshape(n, -1)  # heads side by side
                expected = output[item.row, item.col]
            assert item.is_correct(round(float(expected), spec.decimals))


def test_quiz_files_are_utf8_yaml_named_for_their_topic() -> None:
    paths = sorted(Path(QUIZ_DIR).glob("*.yaml"))
    assert len(paths) >= 10
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert re.search(rf"^topic: {re.escape(path.stem)}$", text, re.M), path.name


# -- the real bank through the real command ------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_question_is_asked_through_the_piped_quiz(bank: Bank, lang: str) -> None:
    """`attn-drill quiz` with piped answers shows every question of the bank, in both
    languages, and finishes cleanly."""
    from typer.testing import CliRunner

    from attn_drill.cli import app

    total = len(bank.entries)
    result = CliRunner().invoke(
        app, ["quiz", "-n", str(total), "--seed", "7", "--lang", lang], input="1\n" * total
    )
    assert result.exit_code == 0, result.output
    # The terminal view wraps long lines: compare without whitespace.
    shown = re.sub(r"\s+", "", result.output)
    for entry in bank.entries:
        assert entry.question.id in result.output
        assert re.sub(r"\s+", "", entry.question.prompt.get(lang)) in shown, entry.question.id


def test_quiz_list_json_shows_the_whole_bank(bank: Bank) -> None:
    import json

    from typer.testing import CliRunner

    from attn_drill.cli import app

    result = CliRunner().invoke(app, ["quiz", "--list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {row["id"] for row in rows} == {e.question.id for e in bank.entries}
    assert all(set(row["langs"]) == {"en", "zh"} for row in rows)


def test_a_bare_number_does_not_count_as_explaining_zero_weight() -> None:
    """"0.5" once met the "masked keys get weight 0" idea because the phrase "0" matched it."""
    question = load_bank().by_id()["masking-explain"]
    question = getattr(question, "question", question)
    assert question.rubric is not None

    def zero_weight_met(answer: str) -> bool:
        result = grade_answer(answer, question.rubric, "en")
        return next(p.met for p in result.points if p.id == "zero-weight")

    assert not zero_weight_met("0.5")
    assert not zero_weight_met("10 and 0.25")
    assert zero_weight_met("The masked weights are 0.")
    assert zero_weight_met("exp(-inf) = 0 so those keys get no weight")
