"""`attn-drill lab sqrt-dk`: the measured numbers follow the theory, and the command behaves."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from attn_drill.cli import app
from attn_drill.lab import sqrt_dk

runner = CliRunner()


@pytest.mark.parametrize("d_k", [16, 32, 64, 128, 256, 512, 1024])
def test_variances_match_the_theory(d_k: int) -> None:
    (row,) = sqrt_dk((d_k,), samples=20_000, seed=0)
    assert row.variance_unscaled == pytest.approx(d_k, rel=0.10)
    assert row.variance_scaled == pytest.approx(1.0, rel=0.10)


def test_unscaled_rows_saturate_and_scaled_rows_do_not() -> None:
    rows = sqrt_dk((16, 1024), samples=8_000, seed=3)
    small, large = rows
    uniform_entropy = math.log(64)
    # Unscaled: as d_k grows the largest weight heads to 1, the entropy and the gradient to 0.
    assert large.max_weight_unscaled > 0.9 > small.max_weight_unscaled
    assert large.entropy_unscaled < 0.3 < small.entropy_unscaled
    assert large.grad_norm_unscaled < 0.5 * small.grad_norm_unscaled
    # Scaled: the same picture at every d_k, far from one-hot.
    for row in rows:
        assert row.max_weight_scaled < 0.3
        assert 0.8 * uniform_entropy < row.entropy_scaled <= uniform_entropy
    assert large.grad_norm_scaled == pytest.approx(small.grad_norm_scaled, rel=0.1)


def test_the_seed_makes_it_reproducible_and_each_d_k_has_its_own_stream() -> None:
    first = sqrt_dk((16, 64), samples=2_000, seed=7)
    again = sqrt_dk((16, 64), samples=2_000, seed=7)
    alone = sqrt_dk((64,), samples=2_000, seed=7)
    other = sqrt_dk((16, 64), samples=2_000, seed=8)
    assert first == again
    assert first[1] == alone[0]  # asking for other d_k values does not change this one
    assert first != other


def test_json_document_has_the_contract_fields() -> None:
    result = runner.invoke(app, ["lab", "sqrt-dk", "--d-k", "16,64", "--samples", "2000",
                                 "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [row["d_k"] for row in document["rows"]] == [16, 64]
    assert set(document["rows"][0]) == {
        "d_k", "variance_unscaled", "variance_scaled", "max_weight_unscaled",
        "max_weight_scaled", "entropy_unscaled", "entropy_scaled", "grad_norm_unscaled",
        "grad_norm_scaled",
    }


@pytest.mark.parametrize("lang, words", [("en", "Why divide by √d_k"), ("zh", "为什么要除以")])
def test_the_view_draws_a_chart_a_table_and_the_explanation(lang: str, words: str) -> None:
    result = runner.invoke(app, ["lab", "sqrt-dk", "--samples", "2000", "--lang", lang],
                           env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert words in result.output
    assert "1024" in result.output and "d_k" in result.output
    assert "┤" in result.output  # the chart's axis
    assert all(len(line) <= 80 for line in result.output.splitlines())


@pytest.mark.parametrize("args, message", [
    (["lab", "nope"], "unknown lab"),
    (["lab", "sqrt-dk", "--d-k", "16,x"], "not a whole number"),
    (["lab", "sqrt-dk", "--d-k", "0"], "out of range"),
    (["lab", "sqrt-dk", "--samples", "1"], "at least 2"),
])
def test_bad_arguments_are_usage_errors_with_one_json_document(args: list[str],
                                                               message: str) -> None:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["error"]["exit_code"] == 2
    assert message in document["error"]["message"]


def test_other_commands_do_not_import_the_chart_library() -> None:
    code = ("import sys; from attn_drill.cli import app; "
            "sys.argv = ['attn-drill', '--help']\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "assert 'plotext' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)
