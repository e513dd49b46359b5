"""The free-text grader (attn_drill.grading.rubric) and the explain-sqrt-dk problem.

Calibration answers live in tests/fixtures/answers/: `pass_*` must pass, `fail_*` must fail.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from attn_drill.cli import app
from attn_drill.grading.rubric import (
    RubricResult,
    check_rubric,
    contradictions,
    grade_answer,
    keyword_list,
    meaningful_chars,
    normalise,
    phrase_pattern,
    sentences,
)
from attn_drill.problems import (
    BUILTIN_PACK,
    L10n,
    Problem,
    Rubric,
    RubricPoint,
    builtin_problems,
    load_pack,
    load_problem_file,
)
from tests.conftest import run_cli

ANSWERS = Path(__file__).parent / "fixtures" / "answers"
PASSING = sorted(ANSWERS.glob("pass_*"))
FAILING = sorted(ANSWERS.glob("fail_*"))
POINT_IDS = [
    "variance-grows-with-dk",
    "softmax-saturates",
    "vanishing-gradients",
    "restores-unit-variance",
    "why-not-dk",
]


@functools.cache
def explain_problem() -> Problem:
    """Only this problem's file, so half-written problems elsewhere in the pack do not matter."""
    return load_problem_file(BUILTIN_PACK / "problems" / "explain-sqrt-dk.yaml", BUILTIN_PACK)


RUBRIC = explain_problem().rubric

@pytest.fixture(scope="module")
def rubric() -> Rubric:
    problem = explain_problem()
    assert problem.rubric is not None
    return problem.rubric


def grade_file(path: Path, rubric: Rubric, lang: str = "en") -> RubricResult:
    return grade_answer(path.read_text(encoding="utf-8"), rubric, lang)


def met_ids(result: RubricResult) -> set[str]:
    return {p.id for p in result.points if p.met}


# -- normalisation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("√d_k", "sqrtdk"),
        ("√(d_k)", "sqrtdk"),
        ("$\\sqrt{d_k}$", "sqrtdk"),
        ("\\sqrt{d_{k}}", "sqrtdk"),
        ("\\sqrt{d_{\\text{k}}}", "sqrtdk"),
        ("sqrt(d_k)", "sqrtdk"),
        ("np.sqrt(d_k)", "sqrtdk"),
        ("math.sqrt(self.d_k)", "sqrtdk"),
        ("math.sqrt(q.size(-1))", "sqrtdk"),
        ("d_k ** 0.5", "sqrtdk"),
        ("d_k^{1/2}", "sqrtdk"),
        ("the square root of d_k", "sqrtdk"),
        ("root of d k", "sqrtdk"),
        ("square root of the key dimension", "sqrtdk"),
        ("√dₖ", "sqrtdk"),
        ("根号d_k", "sqrtdk"),
        ("根号下 dk", "sqrtdk"),
        ("d_k 的平方根", "sqrtdk"),
        ("对 d_k 开根号", "sqrtdk"),
        ("ｓｑｒｔ（ｄ＿ｋ）", "sqrtdk"),
        ("\\frac{1}{\\sqrt{d_k}}", "1/sqrtdk"),
        ("\\frac{QK^T}{\\sqrt{d_k}}", "qk^t/sqrtdk"),
        ("QKᵀ / √d_k", "qkt/sqrtdk"),
        ("\\mathrm{Var}(q \\cdot k) = d_{k}", "var(q·k)=dk"),
        ("Var(q⋅k) = D_K", "var(q·k)=dk"),
        ("sqrt(d_model)", "sqrtdmodel"),
        ("\\sqrt{d_{\\text{model}}}", "sqrtdmodel"),
        ("ＳＯＦＴＭＡＸ　饱和", "softmax饱和"),
        ("方差 为 1", "方差为1"),
        ("**Softmax**  saturates", "softmax saturates"),
    ],
)
def test_normalise_canonical_math(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_normalise_keeps_distinct_quantities_apart() -> None:
    assert normalise("divide by d_k") == "divide by dk"
    assert normalise("divide by √d_k") == "divide by sqrtdk"
    assert normalise("1/d_k") == "1/dk"
    # A bare "dk" phrase must not match inside the sqrt token.
    assert not phrase_pattern("d_k").search(normalise("divide by √d_k"))
    assert phrase_pattern("d_k").search(normalise("variance d_k"))


def test_sentences_drop_template_and_join_wrapped_lines() -> None:
    text = (
        "# attn-drill: explain-sqrt-dk\n<!--\nprompt: softmax saturates?\n-->\n## Answer\n\n"
        "The variance grows\nwith d_k. Softmax saturates!\n- first item\n- second item\n"
        "  wrapped\n\n第一句。第二句！\n\nback to\n1. More text."
    )
    got = sentences(text)
    assert "attn-drill" not in " ".join(got)
    assert "prompt" not in " ".join(got)
    assert got[:3] == ["answer", "the variance grows with dk.", "softmax saturates!"]
    assert "second item wrapped" in got
    assert "第一句。" in got and "第二句!" in got  # NFKC: ！ -> !
    assert "back to 1. more text." in " ".join(got)


def test_meaningful_chars_ignores_template_headings_and_markup() -> None:
    assert meaningful_chars("# attn-drill: x\n<!-- a long prompt -->\n## Answer\n\n**ab** `c`") == 3
    assert meaningful_chars("方差，d_k！") == 4


# -- phrase matching ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "text", "matches"),
    [
        ("grow", "the variance grows with d_k", True),
        ("grow", "growing scores", True),
        ("grow", "the scores grew", True),
        ("grow", "it has grown", True),
        ("grow", "overgrown", False),
        ("saturate", "softmax saturates", True),
        ("saturate", "a saturated softmax", True),
        ("saturate", "saturating", True),
        ("saturate", "saturation", True),
        ("normalise", "to normalize the scores", True),
        ("normalize", "normalisation", True),
        ("tiny", "tinier gradients", True),
        ("one-hot", "nearly one hot", True),
        ("one-hot", "nearly one-hot", True),
        ("large", "larger scores", True),
        ("d_k", "dk", True),
        ("d_k", "dks", False),
        ("q ", "the query", False),
        ("q ", "q is the query", True),
        ("接近 0", "梯度接近0", True),
        ("接近0", "梯度接近 0", True),
        ("方差为1", "方差 为 1", True),
        ("variance", "VARIANCE", True),
        ("re:var\\w*\\s*\\(q·k\\)\\s*=\\s*dk", "Var(q · k) = d_k", True),
        ("re:\\bby\\s*dk(?![a-z0-9])", "divide by √d_k", False),
        ("re:\\bby\\s*dk(?![a-z0-9])", "divide by d_k", True),
    ],
)
def test_phrase_matching(phrase: str, text: str, matches: bool) -> None:
    assert bool(phrase_pattern(phrase).search(normalise(text))) is matches


def _point(*groups: list[str], point_id: str = "idea") -> RubricPoint:
    return RubricPoint(
        id=point_id,
        label=L10n(en=f"label {point_id}", zh=f"标签 {point_id}"),
        advice=L10n(en=f"advice {point_id}", zh=f"建议 {point_id}"),
        concepts=[list(g) for g in groups],
    )


SATURATION = Rubric(points=[_point(["softmax"], ["saturate", "饱和"])], threshold=1, min_chars=5)


@pytest.mark.parametrize(
    ("answer", "met"),
    [
        ("Large scores make the softmax saturate.", True),
        ("The softmax does not saturate.", False),
        ("The softmax never saturates here.", False),
        ("The softmax doesn't really saturate.", False),
        ("The scale is not about the softmax saturating.", False),
        ("We scale so that the softmax does not saturate.", True),
        ("Scaling prevents the softmax from saturating.", True),
        ("If we do not scale, the softmax saturates.", True),
        ("If we do not scale the softmax saturates.", True),
        ("After scaling the softmax no longer saturates.", True),
        ("It is not there to prevent the softmax from saturating.", False),
        ("softmax 会饱和。", True),
        ("softmax 不会饱和。", False),
        ("softmax 并不会进入饱和区。", False),
        ("这样 softmax 就不会饱和。", True),
        ("为了防止 softmax 饱和。", True),
        ("不缩放时 softmax 会饱和。", True),
        ("缩放并不是为了防止 softmax 饱和。", False),
    ],
)
def test_simple_negation(answer: str, met: bool) -> None:
    result = grade_answer(answer, SATURATION, "en")
    assert result.points[0].met is met


def test_groups_must_meet_within_adjacent_sentences() -> None:
    rubric = Rubric(points=[_point(["variance"], ["grow"])], threshold=1, min_chars=5)
    near = "The variance of q·k is d_k. It grows with the dimension."
    far = "The variance matters. Softmax follows. Scaling helps. Things grow."
    assert grade_answer(near, rubric, "en").passed
    assert not grade_answer(far, rubric, "en").points[0].met


def test_score_and_threshold_are_fractions_of_the_weight() -> None:
    rubric = Rubric(
        points=[_point(["alpha"], point_id="a"), _point(["beta"], point_id="b"),
                _point(["gamma"], point_id="c"), _point(["delta"], point_id="d")],
        threshold=2,
        min_chars=5,
    )
    half = grade_answer("alpha and beta are here", rubric, "en")
    assert (half.score, half.threshold, half.earned, half.total) == (0.5, 0.5, 2.0, 4.0)
    assert half.passed
    quarter = grade_answer("only alpha is here", rubric, "en")
    assert quarter.score == 0.25 and not quarter.passed
    assert "25%" in quarter.message and "50%" in quarter.message


def test_required_point_blocks_a_pass() -> None:
    required = _point(["gamma"], point_id="needed").model_copy(update={"required": True})
    rubric = Rubric(points=[_point(["alpha"], point_id="a"), required], threshold=0.5,
                    min_chars=5)
    result = grade_answer("alpha alpha alpha", rubric, "en")
    assert result.score == 0.5 and not result.passed
    assert "label needed" in result.message


def test_bad_regular_expression_is_a_pack_error() -> None:
    from attn_drill.errors import PackError

    rubric = Rubric(points=[_point(["re:(unclosed"])], threshold=1)
    assert check_rubric(rubric) and "unclosed" in check_rubric(rubric)[0]
    with pytest.raises(PackError):
        grade_answer("some answer text that is long enough to grade", rubric, "en")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400))
def test_any_text_grades_without_error(text: str) -> None:
    rubric = explain_problem().rubric
    assert rubric is not None
    result = grade_answer(text, rubric, "zh")
    assert 0.0 <= result.score <= 1.0
    assert not (result.passed and result.too_short)
    assert result.message


# -- the explain-sqrt-dk problem ---------------------------------------------------------


def test_problem_loads_with_a_single_text_track(rubric: Rubric) -> None:
    problem = builtin_problems()["explain-sqrt-dk"]
    assert problem == load_pack(BUILTIN_PACK)["explain-sqrt-dk"] == explain_problem()
    assert list(problem.tracks) == ["text"]
    assert problem.tracks["text"].call == "text"
    assert [p.id for p in rubric.points] == POINT_IDS
    assert check_rubric(rubric) == []
    assert len(problem.hints) >= 3
    ids = {m.id for m in problem.misconceptions}
    assert {"only-normalises", "variance-without-consequence", "confuses-d-k-with-d-model"} <= ids
    for point in rubric.points:
        assert point.advice.en and point.advice.zh and point.label.en and point.label.zh


def test_stated_pass_mark_matches_the_rubric(rubric: Rubric) -> None:
    problem = explain_problem()
    total = sum(p.weight for p in rubric.points)
    mark = f"{rubric.threshold / total:.0%}"
    assert mark in problem.constraints.en and mark in problem.constraints.zh
    assert str(rubric.min_chars) in problem.constraints.en
    assert str(rubric.min_chars) in problem.constraints.zh


def test_starter_has_header_and_fails_as_template_only(rubric: Rubric) -> None:
    from attn_drill.workspace import starter_text

    problem = explain_problem()
    text = starter_text(problem, "text", "en")
    assert text.splitlines()[0] == "# attn-drill: explain-sqrt-dk"
    assert text.count("# attn-drill:") == 1
    for lang, word in (("en", "template"), ("zh", "模板")):
        result = grade_answer(text, rubric, lang)
        assert result.too_short and not result.passed
        assert word in result.message
        assert not met_ids(result), "the template's prompts must not earn points"


@pytest.mark.parametrize(
    ("text", "lang", "needle"),
    [("", "en", "empty"), ("   \n", "zh", "空"), ("To normalize the scores.", "en", "too short"),
     ("为了归一化。", "zh", "太短")],
)
def test_empty_and_short_answers_fail_with_a_message(
    text: str, lang: str, needle: str, rubric: Rubric
) -> None:
    result = grade_answer(text, rubric, lang)
    assert result.too_short and not result.passed
    assert needle in result.message


def test_fixture_counts() -> None:
    for kind in ("pass", "fail"):
        for lang in ("en", "zh"):
            assert len(list(ANSWERS.glob(f"{kind}_{lang}_*"))) >= 3, (kind, lang)


@pytest.mark.parametrize("path", PASSING, ids=lambda p: p.name)
def test_good_answers_pass(path: Path, rubric: Rubric) -> None:
    for lang in ("en", "zh"):
        result = grade_file(path, rubric, lang)
        assert result.passed, (path.name, result.message, met_ids(result))
        assert not result.diagnosis


@pytest.mark.parametrize("path", FAILING, ids=lambda p: p.name)
def test_incomplete_answers_fail_with_advice(path: Path, rubric: Rubric) -> None:
    problem = explain_problem()
    for lang in ("en", "zh"):
        result = grade_file(path, rubric, lang)
        assert not result.passed, (path.name, met_ids(result))
        assert result.message
        by_id = {p.id: p for p in rubric.points}
        for point in result.points:
            if point.met:
                assert point.advice == ""
            else:
                assert point.advice == by_id[point.id].advice.get(lang)
                assert point.label == by_id[point.id].label.get(lang)
        for misconception in result.diagnosis:
            assert problem.misconception(misconception) is not None


# What each calibration answer is expected to show: points met, and the diagnosis.
EXPECTED = {
    "pass_en_paper.md": (
        {"variance-grows-with-dk", "softmax-saturates", "vanishing-gradients",
         "restores-unit-variance"}, []),
    "pass_zh_interview.md": (
        {"variance-grows-with-dk", "softmax-saturates", "vanishing-gradients",
         "restores-unit-variance"}, []),
    "pass_en_latex.md": (set(POINT_IDS), []),
    "pass_zh_latex.md": (set(POINT_IDS), []),
    "pass_zh_fullwidth.md": (set(POINT_IDS), []),
    "fail_en_variance_only.md": (
        {"variance-grows-with-dk", "restores-unit-variance"}, ["variance-without-consequence"]),
    "fail_zh_variance_only.md": (
        {"variance-grows-with-dk", "restores-unit-variance"}, ["variance-without-consequence"]),
    "fail_en_saturation_only.md": (
        {"softmax-saturates", "vanishing-gradients"}, ["no-variance-argument"]),
    "fail_zh_saturation_only.md": (
        {"softmax-saturates", "vanishing-gradients"}, ["no-variance-argument"]),
    "fail_en_normalize.md": (set(), ["only-normalises"]),
    "fail_zh_normalize.md": (set(), ["only-normalises"]),
    "fail_en_overflow.md": (set(), ["overflow-not-saturation"]),
    "fail_zh_overflow.md": (set(), ["overflow-not-saturation"]),
    "fail_en_dmodel.md": (set(), ["confuses-d-k-with-d-model", "only-normalises"]),
    "fail_en_negated.md": (
        {"variance-grows-with-dk", "restores-unit-variance"}, ["variance-without-consequence"]),
    "fail_zh_negated.md": (
        {"variance-grows-with-dk", "restores-unit-variance"}, ["variance-without-consequence"]),
    "fail_en_overflow_chain.md": (
        {"variance-grows-with-dk", "vanishing-gradients", "restores-unit-variance"},
        ["overflow-not-saturation"]),
    "fail_zh_overflow_chain.md": (
        {"variance-grows-with-dk", "vanishing-gradients", "restores-unit-variance"},
        ["overflow-not-saturation"]),
    "fail_en_quoted_rejection.md": (set(), []),
    "fail_zh_quoted_rejection.md": (set(), []),
    "pass_en_codeblock.md": (
        {"variance-grows-with-dk", "softmax-saturates", "vanishing-gradients",
         "restores-unit-variance"}, []),
    "pass_en_caveats.md": (set(POINT_IDS), []),
    "pass_zh_rebuttal.md": (set(POINT_IDS), []),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_calibration_answers_show_expected_points(name: str, rubric: Rubric) -> None:
    points, diagnosis = EXPECTED[name]
    result = grade_file(ANSWERS / name, rubric)
    assert met_ids(result) == points
    assert result.diagnosis == diagnosis


def test_paper_argument_passes_and_bare_normalise_fails(rubric: Rubric) -> None:
    paper = (
        "For large d_k the dot products grow large in magnitude: with unit-variance components "
        "their variance is d_k. That pushes the softmax into regions where its gradients are "
        "extremely small. Scaling the dot products by 1/sqrt(d_k) counteracts this."
    )
    assert grade_answer(paper, rubric, "en").passed
    assert not grade_answer("To normalize the scores.", rubric, "en").passed
    padded = "We divide by sqrt(d_k) to normalize the scores. " * 3
    result = grade_answer(padded, rubric, "en")
    assert not result.passed and not result.too_short
    assert result.diagnosis == ["only-normalises"]


def test_each_missing_point_is_reported_with_its_advice(rubric: Rubric) -> None:
    full = (ANSWERS / "pass_en_latex.md").read_text(encoding="utf-8")
    assert met_ids(grade_answer(full, rubric, "en")) == set(POINT_IDS)
    # Remove one idea at a time from a complete bullet answer: exactly that point goes missing.
    bullets = {
        "variance-grows-with-dk": "q·k sums d_k unit-variance products, so Var(q·k) = d_k.",
        "softmax-saturates": "Big scores make the softmax saturate into a nearly one-hot row.",
        "vanishing-gradients": "In that regime the gradients vanish and training stalls.",
        "restores-unit-variance": "Dividing by √d_k brings the variance back to 1.",
        "why-not-dk": "Dividing by d_k would shrink the variance to 1/d_k: nearly uniform weights.",
    }
    for missing in POINT_IDS:
        answer = "\n".join(f"- {text}" for pid, text in bullets.items() if pid != missing)
        for lang in ("en", "zh"):
            result = grade_answer(answer, rubric, lang)
            absent = [p for p in result.points if not p.met]
            assert [p.id for p in absent] == [missing], (missing, lang)
            expected_advice = next(p for p in rubric.points if p.id == missing).advice.get(lang)
            assert absent[0].advice == expected_advice
            assert result.passed is not next(p for p in rubric.points if p.id == missing).required


def test_confusing_d_model_is_diagnosed_even_in_chinese(rubric: Rubric) -> None:
    answer = (
        "因为输入的维度是 d_model，所以分数要除以根号 d_model，让数值更稳定一些，这就是缩放的原因。"
    )
    result = grade_answer(answer, rubric, "zh")
    assert not result.passed
    assert "confuses-d-k-with-d-model" in result.diagnosis


def test_grading_is_deterministic(rubric: Rubric) -> None:
    text = (ANSWERS / "pass_zh_mixed.md").read_text(encoding="utf-8")
    assert grade_answer(text, rubric, "zh") == grade_answer(text, rubric, "zh")


# -- through the command line ------------------------------------------------------------

runner = CliRunner()


def test_cli_grade_json_good_and_bad_answers(tmp_path: Path) -> None:
    good = tmp_path / "answer.md"
    good.write_text((ANSWERS / "pass_en_paper.md").read_text(encoding="utf-8"), encoding="utf-8")
    result = runner.invoke(app, ["grade", str(good), "--problem", "explain-sqrt-dk", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["problem"] == "explain-sqrt-dk" and document["track"] == "text"
    assert document["passed"] is True

    bad = tmp_path / "answer_zh.md"
    bad.write_text((ANSWERS / "fail_zh_variance_only.md").read_text(encoding="utf-8"),
                   encoding="utf-8")
    result = runner.invoke(app, ["grade", str(bad), "--problem", "explain-sqrt-dk", "--json",
                                 "--lang", "zh"])
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["passed"] is False
    assert [d["id"] for d in document["diagnosis"]] == ["variance-without-consequence"]
    advice = next(p.advice.zh for p in explain_problem().rubric.points
                  if p.id == "vanishing-gradients")
    assert any(advice in check["message"] for check in document["checks"])


def test_cli_start_then_grade_template_fails(tmp_path: Path) -> None:
    started = runner.invoke(app, ["start", "explain-sqrt-dk", "--dir", str(tmp_path)])
    assert started.exit_code == 0, started.output
    path = tmp_path / "explain_sqrt_dk.md"
    graded = runner.invoke(app, ["grade", str(path), "--json", "--no-record"])
    assert graded.exit_code == 1, graded.output
    assert json.loads(graded.stdout)["passed"] is False


def test_real_process_grades_a_chinese_answer_by_header(tmp_path: Path) -> None:
    path = tmp_path / "my_answer.md"
    path.write_text((ANSWERS / "pass_zh_latex.md").read_text(encoding="utf-8"), encoding="utf-8")
    proc = run_cli("grade", str(path), "--json", "--no-record", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["passed"] is True
    assert re.search(r"Traceback", proc.stderr) is None
    bad = tmp_path / "answer.md"
    bad.write_text((ANSWERS / "fail_en_saturation_only.md").read_text(encoding="utf-8"),
                   encoding="utf-8")
    proc = run_cli("grade", str(bad), "--problem", "explain-sqrt-dk", "--json", timeout=60)
    assert proc.returncode == 1, proc.stderr
    document = json.loads(proc.stdout)
    assert document["passed"] is False
    assert [d["id"] for d in document["diagnosis"]] == ["no-variance-argument"]


def test_model_answer_passes_in_each_language(rubric: Rubric) -> None:
    problem = explain_problem()
    assert problem.pack_dir is not None
    text = (problem.pack_dir / "solutions" / "explain_sqrt_dk_text.md").read_text(encoding="utf-8")
    english, chinese = text.split("## 参考答案")
    for half in (english, chinese):
        result = grade_answer(half, rubric, "en")
        assert met_ids(result) == set(POINT_IDS)
    from attn_drill.grading.validate import ValidationResult, validate_text

    validation = ValidationResult(pack="builtin")
    validate_text(problem, validation)
    assert validation.ok, validation.to_dict()
    assert any("explain_sqrt_dk_text.md" in item.subject for item in validation.items)


# More phrasings, written independently of the rubric's synonym lists.
MORE_GOOD = [
    "If q and k have i.i.d. zero-mean unit-variance entries, q·k has variance d_k. Large d_k means "
    "the logits have a large spread, and softmax with large logits is basically a hard max, whose "
    "gradients are almost zero. Scaling by 1/√d_k normalises the variance to 1.",
    "The dot product of two random d_k-dimensional vectors has standard deviation sqrt(d_k). "
    "Without the scaling, the softmax gets very peaky as d_k grows and gradients through it become "
    "tiny, which slows training. Dividing by sqrt(d_k) keeps the scores at unit variance.",
    "Var(QK^T) scales linearly with d_k. Big logits saturate the softmax => vanishing gradients. "
    "Divide by sqrt(d_k) -> unit variance. Divide by d_k -> variance 1/d_k, too flat.",
    "The scores have a variance of d_k. Softmax saturates and its gradients vanish.",
    "点积是 d_k 项求和，方差与 d_k 成正比。分数太大，softmax 输出接近 one-hot，"
    "反向传播时梯度几乎为零。除以 √d_k 把方差控制在 1 左右。",
    "由于 q·k 的标准差是 √d_k，维度越大分数越大。softmax 的输入过大会饱和，导致梯度消失。"
    "所以除以 √d_k 使方差变为 1；如果除以 d_k，方差就变成 1/d_k，分布太平均了。",
    "点积的方差等于维度 d_k，维度越大 softmax 越容易饱和，梯度消失；除以根号 d_k 让方差回到 1。",
    "The typical magnitude of q·k grows like √d_k, so the softmax saturates and gradients vanish; "
    "dividing by √d_k brings it back to order 1.",
    "q·k 的数量级按根号 d_k 增长，softmax 因此饱和、梯度消失；除以根号 d_k 后恢复到 1 的量级。",
]
MORE_BAD = [
    "We divide by sqrt(d_k) because the paper does it and it works better in practice. It is a "
    "scaling factor that makes the attention scores smaller so that the results are nicer.",
    "Dividing by √d_k keeps the variance of the scores equal to 1 whatever the dimension. The "
    "variance of q·k is d_k.",
    "The dot products get large for large d_k, so we divide by the square root to make them "
    "smaller and keep softmax well-behaved.",
    "The variance of q·k is 1 regardless of d_k, so the scale is only cosmetic; the softmax does "
    "not saturate and the gradients do not vanish.",
    "缩放是为了让注意力分数的数值范围更合理，方差更稳定，模型更容易收敛。",
    "点积除以根号dk是为了防止数值过大导致溢出，保证计算的数值稳定性。",
    # The consequence without its cause: nothing says how fast the scores grow with d_k,
    # which is what makes the factor √d_k (the required first idea).
    "For large d_k the dot products grow large in magnitude, pushing the softmax into regions "
    "with tiny gradients. Scaling by 1/sqrt(d_k) counteracts this.",
]


@pytest.mark.parametrize("answer", MORE_GOOD)
def test_more_good_phrasings_pass(answer: str, rubric: Rubric) -> None:
    result = grade_answer(answer, rubric, "en")
    assert result.passed, (result.message, met_ids(result))


@pytest.mark.parametrize("answer", MORE_BAD)
def test_more_incomplete_phrasings_fail(answer: str, rubric: Rubric) -> None:
    result = grade_answer(answer, rubric, "en")
    assert not result.passed, met_ids(result)
    assert {"variance-grows-with-dk", "vanishing-gradients"} - met_ids(result)


@pytest.mark.parametrize(
    "text", ["\n" * 20_000, " . " * 8_000, " " * 50_000 + "x", "not variance " * 3_000,
             "\\frac{" * 5_000, "sqrt(" * 5_000, "方差 变小 梯度 变大 " * 2_000,
             "the variance is small, " * 1_000, "'wrong " + "a" * 30 + "' " * 2_000,
             "```\n" + "# the variance grows with d_k\n" * 2_000],
)
def test_pathological_input_is_graded(text: str, rubric: Rubric) -> None:
    result = grade_answer(text, rubric, "en")
    assert not result.passed


# -- answers that must not pass although their words are all there -----------------------

# Why each of these calibration answers fails: the points it states the wrong way round,
# a keyword list, or overflow as the only consequence.
FAILS_BECAUSE = {
    "fail_en_reversed.md": ("opposite", {"variance-grows-with-dk"}),
    "fail_en_shrinking_variance.md": (
        "opposite", {"variance-grows-with-dk", "softmax-saturates", "vanishing-gradients"}),
    "fail_zh_reversed.md": (
        "opposite", {"variance-grows-with-dk", "softmax-saturates", "vanishing-gradients"}),
    "fail_en_multiply.md": ("opposite", {"restores-unit-variance"}),
    "fail_zh_multiply.md": ("opposite", {"restores-unit-variance"}),
    "fail_en_keywords.md": ("keywords", set()),
    "fail_zh_keywords.md": ("keywords", set()),
    "fail_en_overflow_chain.md": ("overflow", set()),
    "fail_zh_overflow_chain.md": ("overflow", set()),
}
REASON_WORDS = {
    "opposite": ("opposite", "说反"),
    "keywords": ("keywords", "关键词"),
    "overflow": ("Overflow", "溢出"),
}


@pytest.mark.parametrize("name", sorted(FAILS_BECAUSE))
def test_wrong_way_round_keyword_and_overflow_answers_fail_for_that_reason(
    name: str, rubric: Rubric
) -> None:
    reason, contradicted = FAILS_BECAUSE[name]
    for lang, word in zip(("en", "zh"), REASON_WORDS[reason], strict=True):
        result = grade_file(ANSWERS / name, rubric, lang)
        assert not result.passed
        assert set(result.contradicted) == contradicted, result.contradicted
        assert {p.id for p in result.points if p.contradicted} == contradicted
        assert not any(p.met for p in result.points if p.contradicted)
        assert result.keyword_list is (reason == "keywords")
        assert result.overflow_only is (reason == "overflow")
        assert word in result.message, result.message
    if reason == "opposite":
        labels = [p.label.en for p in rubric.points if p.id in contradicted]
        message = grade_file(ANSWERS / name, rubric).message
        assert all(label in message for label in labels)


def test_the_same_ideas_stated_the_right_way_pass(rubric: Rubric) -> None:
    """Each wrong-way-round calibration answer, corrected word for word, passes: the
    direction is what fails them, not their vocabulary."""
    fixes = {
        "fail_en_shrinking_variance.md": [("goes down", "goes up"), ("averages them out and the "
                                           "sum gets smaller", "adds up their variances"),
                                          ("Tiny", "Huge"), ("gets huge and training explodes",
                                                             "gets tiny and training stalls")],
        "fail_zh_reversed.md": [("反而减小", "随之增大"), ("较小", "较大"),
                                ("变得很大，训练容易发散", "变得很小，训练停滞")],
        "fail_en_multiply.md": [("multiply the scores by", "divide the scores by")],
        "fail_zh_multiply.md": [("乘以", "除以")],
    }
    for name, edits in fixes.items():
        text = (ANSWERS / name).read_text(encoding="utf-8")
        for old, new in edits:
            assert old in text, (name, old)
            text = text.replace(old, new)
        result = grade_answer(text, rubric, "en")
        assert result.passed, (name, result.message, met_ids(result))
        assert not result.contradicted


@pytest.mark.parametrize(
    ("sentence", "point_id"),
    [
        ("The variance of q·k decreases as d_k grows.", "variance-grows-with-dk"),
        ("Because the variance of the dot product is small, nothing changes.",
         "variance-grows-with-dk"),
        ("点积的方差随 d_k 变小。", "variance-grows-with-dk"),
        ("Small scores make the softmax saturate.", "softmax-saturates"),
        ("The softmax saturates when the scores are small.", "softmax-saturates"),
        ("分数很小时 softmax 会饱和。", "softmax-saturates"),
        ("Then the gradient becomes large.", "vanishing-gradients"),
        ("In that regime the gradients explode.", "vanishing-gradients"),
        ("这时梯度变得很大。", "vanishing-gradients"),
        ("Multiplying by √d_k brings the variance back to 1.", "restores-unit-variance"),
        ("We scale the logits up by sqrt(d_k).", "restores-unit-variance"),
        ("把分数乘以根号 d_k。", "restores-unit-variance"),
        ("Dividing by √d_k makes the variance of the scores grow.", "restores-unit-variance"),
        ("The variance of q·k is inversely proportional to d_k.", "variance-grows-with-dk"),
        ("The softmax saturates for small logits.", "softmax-saturates"),
        ("The gradients become massive.", "vanishing-gradients"),
        ("把分数乘上根号 d_k。", "restores-unit-variance"),
        ("Dividing by sqrt(d_k) increases the variance.", "restores-unit-variance"),
        ("除以根号 d_k 会放大方差。", "restores-unit-variance"),
        ("The variance of q·k stays constant as d_k grows.", "variance-grows-with-dk"),
        ("Large scores make the softmax output nearly uniform.", "softmax-saturates"),
        ("分数很大时 softmax 的输出接近均匀分布。", "softmax-saturates"),
        # about the raw scores: "without scaling" does not excuse the wrong direction
        ("Without scaling, the variance of q·k decreases as d_k grows.",
         "variance-grows-with-dk"),
        ("If we do not divide, small scores make the softmax saturate.", "softmax-saturates"),
        ("不缩放时，方差随 d_k 变小。", "variance-grows-with-dk"),
    ],
)
def test_statements_of_the_opposite_are_recognised(sentence: str, point_id: str) -> None:
    assert contradictions(RUBRIC, point_id, sentences(sentence)) is not None
    others = [p for p in POINT_IDS if p != point_id]
    assert all(contradictions(RUBRIC, p, sentences(sentence)) is None for p in others)


@pytest.mark.parametrize(
    "sentence",
    [
        "The variance of q·k does not decrease with d_k.",
        "For small d_k the variance is small too, but it grows with d_k.",
        "d_k 很小时方差也小。",
        "Dividing by d_k would make the variance too small.",
        "After scaling, the variance is small enough.",
        "Each product is small, but q·k sums d_k of them.",
        "A one-hot softmax gives the small scores almost zero weight.",
        "Dividing by √d_k keeps the scores small, so the softmax does not saturate.",
        "缩放后分数变小，softmax 不会饱和。",
        "Gradients vanish or explode.",
        "It is not about exploding gradients.",
        "The scale prevents the gradients from becoming large or small.",
        "After dividing by √d_k the gradients are large enough to learn.",
        "We multiply the scores by 1/√d_k.",
        "乘以 1/√d_k 相当于除以 √d_k。",
        "The scores are √d_k times larger than they should be.",
        "Multiplying by √d_k would make it worse.",
        "Dividing by √d_k makes the gradients larger.",
        "Dividing by √d_k makes the scores larger than dividing by d_k would.",
        "When d_k is large, q·k has a large variance; as the dimension decreases, the variance "
        "decreases too.",
        "The gradient of the softmax is large only near uniform weights.",
        "The variance of q·k is d_k, not small.",
        "方差越大，softmax 越容易饱和；方差小的时候，softmax 比较平缓。",
        "The variance of each component stays fixed at 1, but the variance of q·k grows.",
        "The variance stays constant once we divide by √d_k.",
        "For small scores the softmax is nearly uniform, for large ones nearly one-hot.",
        "Dividing by d_k would make the weights uniform even for large scores.",
        "Once we divide by √d_k, the variance is small enough.",
        "如果不缩放，d_k 越大，q·k 的方差越大；除以 d_k 则方差变成 1/d_k，太小了。",
    ],
)
def test_honest_sentences_are_not_opposites(sentence: str) -> None:
    assert all(contradictions(RUBRIC, p, sentences(sentence)) is None for p in POINT_IDS), sentence


def test_quiz_scaling_question_shares_the_direction_checks() -> None:
    from attn_drill.quiz.bank import load_bank

    entries = {e.question.id: e.question for e in load_bank().entries}
    quiz_rubric = entries["scaling-explain"].rubric
    assert quiz_rubric is not None
    for name, (reason, _points) in FAILS_BECAUSE.items():
        result = grade_file(ANSWERS / name, quiz_rubric)
        assert not result.passed, name
        if reason == "opposite":
            assert result.contradicted, name


# -- rejections ----------------------------------------------------------------------------


def test_a_quotation_called_wrong_earns_nothing(rubric: Rubric) -> None:
    chain = ("the variance of q·k grows linearly with d_k, large scores saturate the softmax, "
             "the gradients vanish, and dividing by √d_k brings the variance back to 1")
    quoted = f'The paper says: "{chain}". I agree, and that is the whole story.'
    assert grade_answer(quoted, rubric, "en").passed
    for rejected in (f'A wrong answer I once heard: "{chain}". The real reason is aesthetic.',
                     f"Some say '{chain}', which is nonsense. The real reason is aesthetic.",
                     f"有人说「{chain}」，这是错误的。缩放只是习惯。"):
        result = grade_answer(rejected, rubric, "en")
        assert not result.passed and not met_ids(result), rejected
    # A misconception quoted and rejected leaves the learner's own chain intact.
    text = (ANSWERS / "pass_en_rebuttal.md").read_text(encoding="utf-8")
    assert "overflow" in text
    result = grade_answer(text, rubric, "en")
    assert result.passed and "overflow-not-saturation" not in result.diagnosis


@pytest.mark.parametrize("name", ["fail_en_quoted_rejection.md", "fail_zh_quoted_rejection.md"])
def test_rejected_quotation_fixtures_say_why_they_fail(name: str, rubric: Rubric) -> None:
    for lang, word in (("en", "reject"), ("zh", "否定")):
        result = grade_file(ANSWERS / name, rubric, lang)
        assert not result.passed and not met_ids(result)
        assert {"variance-grows-with-dk", "vanishing-gradients"} <= set(result.rejected)
        assert word in result.message
    # An honest answer that rejects a misconception lists nothing as rejected.
    assert grade_file(ANSWERS / "pass_en_rebuttal.md", rubric).rejected == []


def test_a_sentence_rejecting_what_came_before_drops_it(rubric: Rubric) -> None:
    claim = ("People say the variance of q·k grows linearly with d_k, large scores saturate the "
             "softmax and the gradients vanish, so dividing by √d_k brings the variance to 1.")
    assert grade_answer(claim, rubric, "en").passed
    for rejection in ("That is all nonsense.", "That is wrong.", "这种说法是错误的。",
                      "以上都不对。", "Nonsense.", "I am convinced it is a myth."):
        result = grade_answer(f"{claim} {rejection}", rubric, "en")
        assert not result.passed and not met_ids(result), rejection
    # A verdict inside the sentence removes what precedes it there.
    result = grade_answer(claim.rstrip(".") + ", but that is a myth.", rubric, "en")
    assert not result.passed and not met_ids(result)
    # "... is not wrong" keeps it, and only the sentence before a plain "that is wrong" goes.
    assert grade_answer(f"{claim} That is not wrong.", rubric, "en").passed
    two = "Dividing by d_k would shrink the variance to 1/d_k. That is wrong. " + claim
    assert grade_answer(two, rubric, "en").passed
    # "it is wrong to ..." starts a new claim; it is not a verdict on the sentence before.
    new_claim = claim + " It is wrong to divide by d_k: the weights would become uniform."
    assert met_ids(grade_answer(new_claim, rubric, "en")) == set(POINT_IDS)
    assert sentences("A. B is here. That is wrong. C is here.") == [
        "a.", "that is wrong.", "c is here."]


# -- keyword lists ---------------------------------------------------------------------------


def _honest_texts() -> list[str]:
    problem = explain_problem()
    assert problem.pack_dir is not None
    model = (problem.pack_dir / "solutions" / "explain_sqrt_dk_text.md").read_text(
        encoding="utf-8")
    texts = [p.read_text(encoding="utf-8") for p in PASSING] + MORE_GOOD
    texts += model.split("## 参考答案")
    from tests.test_quiz_bank import PARAPHRASES, REFERENCE_ANSWERS

    texts += [t for answers in REFERENCE_ANSWERS.values() for t in answers.values()]
    texts += [t for answers in PARAPHRASES.values() for ok, t in answers if ok]
    return texts


def test_keyword_list_heuristic_is_calibrated_on_honest_answers() -> None:
    honest = _honest_texts()
    assert len(honest) > 60
    assert not [t for t in honest if keyword_list(t)]
    stuffed = [
        "variance d_k grows large. softmax saturates one-hot. gradient vanishes tiny. divide "
        "by sqrt(d_k) gives unit variance. dividing by d_k makes it uniform.",
        "The variance grows, d_k large. Softmax saturation, one-hot weights. Gradients "
        "vanishing, tiny. Division by sqrt(d_k), unit variance. Division by d_k, uniform.",
        "方差 随 d_k 增大 分数 很大。softmax 饱和 one-hot。梯度 消失 很小。"
        "除以 根号 d_k 方差 回到1。",
        "点积方差、随d_k增大、分数很大、softmax饱和、one-hot、梯度消失、很小、除以根号d_k、方差回到1。",
    ]
    assert all(keyword_list(t) for t in stuffed)


@pytest.mark.parametrize(
    "answer",
    [
        "variance grows with d_k so softmax saturates and gradients vanish; dividing restores "
        "unit variance",
        "Var(q·k)=d_k, big scores saturate softmax, gradients vanish, divide by sqrt(d_k) to "
        "get variance 1",
        "Variance grows. Softmax saturates. Gradients vanish. Divide by sqrt(d_k).",
        "方差随d_k增大，softmax饱和，梯度消失，除以根号d_k方差回到1",
    ],
)
def test_terse_quiz_style_answers_are_not_keyword_lists(answer: str) -> None:
    assert not keyword_list(answer)


# -- code blocks -----------------------------------------------------------------------------


def test_an_answer_inside_a_code_block_is_graded(rubric: Rubric) -> None:
    text = (ANSWERS / "pass_en_codeblock.md").read_text(encoding="utf-8")
    assert meaningful_chars(text) > 200  # `#` lines in a fence are comments, not headings
    got = sentences(text)
    assert "scores=q@k.t/sqrtdk" in got
    assert got[0].startswith("why the scores are divided by sqrtdk:q·k adds up dk products")
    assert not any("```" in s for s in got)
    for lang, word in (("en", "template"), ("zh", "模板")):
        result = grade_answer(text, rubric, lang)
        assert not result.too_short and word not in result.message
    fenced_prompt = "# attn-drill: explain-sqrt-dk\n\n```\n# todo\n```\n"
    result = grade_answer(fenced_prompt, rubric, "en")
    assert result.too_short and "too short" in result.message


def test_cli_reports_why_a_reversed_answer_fails(tmp_path: Path) -> None:
    path = tmp_path / "answer.md"
    path.write_text((ANSWERS / "fail_zh_reversed.md").read_text(encoding="utf-8"),
                    encoding="utf-8")
    result = runner.invoke(app, ["grade", str(path), "--json", "--no-record", "--lang", "zh"])
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["passed"] is False
    assert any("说反" in check["message"] for check in document["checks"])
