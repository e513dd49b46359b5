"""`attn-drill quiz --question ID [--seed S] [--json] [--no-record]`: one question by id,
answered from the first line of stdin, graded end to end (choice, numeric, hand calculation
and free text), recorded like any review unless --no-record."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from attn_drill.cli import app
from tests.conftest import run_cli

CONTRACT_FIELDS = {"id", "correct", "answer", "expected", "explanation"}


def _ask(*args: str, answer: str | None) -> dict:
    result = run_cli("quiz", "--question", *args, "--json", input=answer, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # exactly one JSON document


def _reviews() -> int:
    result = run_cli("progress", "--json", timeout=60)
    assert result.returncode == 0, result.stderr
    return int(json.loads(result.stdout)["quiz"]["reviews"])


def test_a_hand_calculation_is_reproducible_from_the_seed_and_graded() -> None:
    wrong = _ask("masking-handcalc-causal", "--seed", "11", "--no-record", answer="123\n")
    assert set(wrong) >= CONTRACT_FIELDS
    assert wrong["id"] == "masking-handcalc-causal" and wrong["correct"] is False
    assert wrong["answer"] == "123" and wrong["worked"][-1].startswith("Answer: ")
    right = _ask("masking-handcalc-causal", "--seed", "11", "--no-record",
                 answer=wrong["expected"] + "\n")
    assert right["correct"] is True and right["prompt"] == wrong["prompt"]
    assert "causal mask" in right["prompt"]


def test_answers_are_recorded_unless_no_record() -> None:
    before = _reviews()
    first = _ask("multi-head-dk", answer="64\n")
    assert first["correct"] is True and first["recorded"] is True
    assert _reviews() == before + 1
    second = _ask("multi-head-dk", "--no-record", answer="63\n")
    assert second["correct"] is False and second["recorded"] is False
    assert second["expected"] == "64"
    assert _reviews() == before + 1


@pytest.mark.parametrize(
    ("question_id", "answer", "correct"),
    [
        ("self-cross-explain", "The queries come from the encoder and the keys and values come "
         "from the decoder, so the decoder can look at the source.", False),
        ("self-cross-explain", "Queries come from the decoder; K and V come from the encoder "
         "output, so each target position can attend to the relevant source tokens.", True),
        ("masking-explain", "因果掩码让每个位置都能看到后面的 token，"
         "在 softmax 之前把分数设为 −inf，exp(−inf) = 0，权重为零。", False),
        ("scaling-explain", "For numerical stability: dot products grow with d_k and could "
         "overflow, so dividing by √d_k makes the variance 1.", False),
        ("pe-explain", "自注意力本身不区分 token 的顺序；"
         "原始 Transformer 把不同频率的正弦和余弦编码加到词嵌入上。", True),
    ],
)
def test_free_text_answers_are_graded_end_to_end(
    question_id: str, answer: str, correct: bool
) -> None:
    document = _ask(question_id, "--no-record", answer=answer + "\n")
    assert document["correct"] is correct, document["rubric"]
    assert document["expected"] is None and document["rubric"]["passed"] is correct


def test_a_choice_answer_names_the_option() -> None:
    document = _ask("formula-qkv-roles", "--seed", "2", "--no-record", answer="z\n")
    assert document["correct"] is False and document["readable"] is False
    letter = document["expected"][0]
    again = _ask("formula-qkv-roles", "--seed", "2", "--no-record", answer=letter + "\n")
    assert again["correct"] is True


def test_only_the_first_line_is_the_answer_and_empty_input_records_nothing() -> None:
    before = _reviews()
    document = _ask("multi-head-dk", answer="63\n64\n")
    assert document["answer"] == "63" and document["correct"] is False
    empty = _ask("multi-head-dk", answer="")
    assert empty["answer"] is None and empty["correct"] is False and empty["recorded"] is False
    assert _reviews() == before + 1


def test_unknown_question_is_a_usage_error() -> None:
    result = run_cli("quiz", "--question", "multi-head-dkk", input="1\n", timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert "multi-head-dkk" in result.stderr and "multi-head-dk" in result.stderr
    assert "Traceback" not in result.stderr
    as_json = run_cli("quiz", "--question", "nope", "--json", input="1\n", timeout=60)
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["error"]["exit_code"] == 2


@pytest.mark.parametrize(("lang", "words"), [("en", ["Right!", "not recorded"]),
                                             ("zh", ["未记录"])])
def test_without_json_the_question_and_feedback_are_shown(lang: str, words: list[str]) -> None:
    result = CliRunner().invoke(
        app, ["quiz", "--question", "multi-head-dk", "--no-record", "--lang", lang], input="64\n"
    )
    assert result.exit_code == 0, result.output
    assert "multi-head-dk" in result.output and "768" in result.output
    for word in words:
        assert word in result.output


def test_json_in_a_terminal_shows_the_question_on_stderr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import attn_drill.watch as watch

    monkeypatch.setattr(watch, "stdin_is_terminal", lambda: True)
    result = CliRunner().invoke(
        app, ["quiz", "--question", "multi-head-dk", "--json", "--no-record", "--lang", "en"],
        input="64\n",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["correct"] is True  # stdout: the JSON document alone
    assert "768" in result.stderr and "1/1" in result.stderr  # the question, on stderr
