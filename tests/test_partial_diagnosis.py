"""Diagnoses of mistakes that are not an exact copy of a shipped mutant: each submission here
is written the way a learner writes a half-right variant, and must be named for what it is
(and not for what it is not)."""

from __future__ import annotations

from pathlib import Path

import pytest

from attn_drill.grading.grade import grade_file, run_in_process
from tests.conftest import needs_torch


def grade(tmp_path: Path, source: str, problem: str, track: str | None = None):
    path = tmp_path / "submission.py"
    path.write_text(source)
    return grade_file(path, problem_id=problem, track=track,
                      runner=run_in_process)  # type: ignore[arg-type]


def ids(report) -> list[str]:
    return [d.id for d in report.diagnosis]


# -- softmax -------------------------------------------------------------------------------

SUM_WITHOUT_KEEPDIMS = """
import numpy as np
def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis)
"""


def test_a_sum_without_keepdims_is_named_from_the_broadcasting_error(tmp_path: Path) -> None:
    report = grade(tmp_path, SUM_WITHOUT_KEEPDIMS, "softmax")
    assert ids(report) == ["missing-keepdims"], ids(report)
    message = report.diagnosis[0].message
    assert "keepdims=True" in message and "axis -1" in message
    assert "unstable-softmax" not in ids(report)


def test_a_submission_that_crashes_on_most_cases_scores_low(tmp_path: Path) -> None:
    report = grade(tmp_path, SUM_WITHOUT_KEEPDIMS, "softmax")
    # It survives only the 1-D case and the axis=0 case: checks that look at returned values
    # cannot be evaluated on the others, so they count as failed (CONTRACT).
    assert report.score <= 0.3, report.score
    shapes = next(c for c in report.checks if c.kind == "shape")
    assert not shapes.passed and shapes.not_run and "raised" in shapes.message


def test_a_function_that_raises_on_no_case_keeps_its_passing_checks(tmp_path: Path) -> None:
    source = SUM_WITHOUT_KEEPDIMS.replace("e.sum(axis=axis)", "e.sum(axis=axis, keepdims=True)")
    assert grade(tmp_path, source, "softmax").passed


@pytest.mark.parametrize("source,words", [
    (SUM_WITHOUT_KEEPDIMS.replace("e.sum(axis=axis)", "e.sum(axis=-2, keepdims=True)"),
     ("`axis`", "axis=-2")),
    ("""
import numpy as np
def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=0, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)
""", ("axis=0", "`axis`")),
])
def test_max_and_sum_over_different_axes(tmp_path: Path, source: str,
                                         words: tuple[str, str]) -> None:
    report = grade(tmp_path, source, "softmax")
    assert "max-sum-axes-differ" in ids(report), ids(report)
    assert "unstable-softmax" not in ids(report)  # the issue: it was sent to "stability"
    evidence = report.diagnosis[ids(report).index("max-sum-axes-differ")].message
    maximum, total = words
    assert f"maximum over {maximum}" in evidence and f"sum over {total}" in evidence, evidence


def test_a_hard_coded_axis_other_than_the_mutants_is_named(tmp_path: Path) -> None:
    source = """
import numpy as np
def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=-2, keepdims=True))
    return e / e.sum(axis=-2, keepdims=True)
"""
    report = grade(tmp_path, source, "softmax")
    assert ids(report) == ["softmax-wrong-axis"], ids(report)
    assert "axis=-2" in report.diagnosis[0].message


# -- causal attention: the mask shifted by one ---------------------------------------------

CAUSAL = """
import numpy as np
def causal_attention(Q, K, V):
    n = Q.shape[-2]
    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    HIDE
    s = np.where(hidden, FILL, s)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    w = e / e.sum(axis=-1, keepdims=True)
    return w @ V, w
"""


@pytest.mark.parametrize("hide,fill", [
    ("hidden = np.triu(np.ones((n, n), dtype=bool))", "-np.inf"),
    ("i, j = np.indices((n, n)); hidden = j >= i", "-1e9"),
])
def test_a_causal_mask_that_hides_the_diagonal_is_off_by_one_not_a_leak(
        tmp_path: Path, hide: str, fill: str) -> None:
    report = grade(tmp_path, CAUSAL.replace("HIDE", hide).replace("FILL", fill),
                   "causal-attention")
    assert "causal-off-by-one" in ids(report), ids(report)
    assert "causal-future-leak" not in ids(report)  # the opposite of the truth
    assert "diagonal" in report.diagnosis[ids(report).index("causal-off-by-one")].message


def test_a_causal_mask_that_lets_the_next_position_through(tmp_path: Path) -> None:
    source = CAUSAL.replace("HIDE", "hidden = np.triu(np.ones((n, n), dtype=bool), k=2)"
                            ).replace("FILL", "-np.inf")
    report = grade(tmp_path, source, "causal-attention")
    assert "causal-off-by-one" in ids(report), ids(report)
    assert "i + 1" in report.diagnosis[ids(report).index("causal-off-by-one")].message


@needs_torch
def test_the_torch_causal_mask_hiding_the_diagonal(tmp_path: Path) -> None:
    source = """
import math, torch
def causal_attention(Q, K, V):
    n = Q.size(-2)
    s = Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))
    s = s.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(), float("-inf"))
    w = torch.softmax(s, dim=-1)
    return w @ V, w
"""
    report = grade(tmp_path, source, "causal-attention", track="torch")
    assert "causal-off-by-one" in ids(report) and "causal-future-leak" not in ids(report)


# -- attention weights normalised over the wrong axis, rows that differ ----------------------

def test_weights_summed_over_the_queries_are_named(tmp_path: Path) -> None:
    source = """
import numpy as np
def scaled_dot_product_attention(Q, K, V, mask=None):
    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -1e9)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    w = e / e.sum(axis=-2, keepdims=True)
    return w @ V, w
"""
    report = grade(tmp_path, source, "scaled-dot-product-attention")
    assert "softmax-wrong-axis" in ids(report), ids(report)
    evidence = report.diagnosis[ids(report).index("softmax-wrong-axis")].message
    assert "over the queries" in evidence


def test_the_rows_that_differ_are_named_when_only_some_do(tmp_path: Path) -> None:
    source = """
import numpy as np
def scaled_dot_product_attention(Q, K, V, mask=None):
    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    w = e / e.sum(axis=-1, keepdims=True)
    out = w @ V
    out[..., 0, :] = 0.0
    return out, w
"""
    report = grade(tmp_path, source, "scaled-dot-product-attention")
    details = [d for c in report.checks if not c.passed for d in c.details]
    assert any(d.startswith("only row 0 (of ") for d in details), details


# -- two independent bugs, two names ------------------------------------------------------

def test_two_independent_bugs_get_two_names(tmp_path: Path) -> None:
    source = """
import numpy as np
def scaled_dot_product_attention(Q, K, V, mask=None):
    s = Q @ np.swapaxes(K, -1, -2)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    w = e / e.sum(axis=-1, keepdims=True)
    if mask is not None:
        w = w * mask
    return w @ V, w
"""
    report = grade(tmp_path, source, "scaled-dot-product-attention")
    assert {"missing-scale", "mask-after-softmax"} <= set(ids(report)), ids(report)


def test_max_over_the_axis_and_a_sum_over_everything(tmp_path: Path) -> None:
    source = SUM_WITHOUT_KEEPDIMS.replace("e.sum(axis=axis)", "e.sum()")
    report = grade(tmp_path, source, "softmax")
    assert ids(report) == ["global-normalisation"], ids(report)
    assert "whole array" in report.diagnosis[0].message


def test_one_bug_is_not_reported_twice_as_two(tmp_path: Path) -> None:
    source = """
import numpy as np
def scaled_dot_product_attention(Q, K, V, mask=None):
    s = Q @ np.swapaxes(K, -1, -2)
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    w = e / e.sum(axis=-1, keepdims=True)
    return w @ V, w
"""
    assert ids(grade(tmp_path, source, "scaled-dot-product-attention")) == ["missing-scale"]


# -- half-right variants of the shipped misconceptions --------------------------------------

def test_heads_split_right_but_merged_by_reshape_alone(tmp_path: Path) -> None:
    source = """
import numpy as np
def multi_head_attention(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    *b, n, d = X.shape
    d_k = d // num_heads
    def split(Y):
        return np.swapaxes(Y.reshape(*b, n, num_heads, d_k), -3, -2)
    Q, K, V = split(X @ W_q), split(X @ W_k), split(X @ W_v)
    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)
    if mask is not None:
        s = np.where(mask[..., None, :, :], s, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    heads = (e / e.sum(axis=-1, keepdims=True)) @ V
    return heads.reshape(*b, n, d) @ W_o
"""
    report = grade(tmp_path, source, "multi-head-attention")
    assert ids(report) == ["heads-no-transpose"], ids(report)


def test_the_scale_applied_after_the_softmax(tmp_path: Path) -> None:
    source = """
import numpy as np
def scaled_dot_product_attention(Q, K, V, mask=None):
    s = np.matmul(Q, np.swapaxes(K, -1, -2))
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    w = e / e.sum(axis=-1, keepdims=True) / np.sqrt(K.shape[-1])
    return w @ V, w
"""
    report = grade(tmp_path, source, "scaled-dot-product-attention")
    assert "missing-scale" in ids(report), ids(report)


def test_the_maximum_over_the_queries_in_attention(tmp_path: Path) -> None:
    source = """
import numpy as np
def scaled_dot_product_attention(Q, K, V, mask=None):
    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -1e9)
    e = np.exp(s - np.max(s, axis=-2, keepdims=True))
    w = e / np.sum(e, axis=-1, keepdims=True)
    return np.matmul(w, V), w
"""
    report = grade(tmp_path, source, "scaled-dot-product-attention")
    assert "max-sum-axes-differ" in ids(report), ids(report)
    assert "unstable-softmax" not in ids(report)


def test_no_scale_and_k_dot_t_are_two_bugs_with_two_names(tmp_path: Path) -> None:
    source = """
import numpy as np
def scaled_dot_product_attention(Q, K, V, mask=None):
    s = Q @ K.T
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    w = e / e.sum(axis=-1, keepdims=True)
    return w @ V, w
"""
    report = grade(tmp_path, source, "scaled-dot-product-attention")
    assert {"missing-scale", "no-batch-dims"} <= set(ids(report)), ids(report)


@needs_torch
def test_the_module_merging_heads_without_the_transpose(tmp_path: Path) -> None:
    source = """
import math
import torch
from torch import nn


class SelfAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.h, self.d_k = n_heads, d_model // n_heads
        self.W_q = nn.Linear(d_model, d_model)
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)
        self.W_o = nn.Linear(d_model, d_model)

    def scaled_dot_product_attention(self, Q, K, V, mask=None):
        s = Q @ K.transpose(-2, -1) / math.sqrt(self.d_k)
        if mask is not None:
            s = s.masked_fill(mask == 0, float("-inf"))
        w = torch.softmax(s, dim=-1)
        return w @ V, w

    def forward(self, x, mask=None):
        b, n, d = x.shape
        Q, K, V = (W(x).view(b, n, self.h, self.d_k).transpose(1, 2)
                   for W in (self.W_q, self.W_k, self.W_v))
        out, _ = self.scaled_dot_product_attention(Q, K, V, mask)
        return self.W_o(out.contiguous().view(b, n, d))
"""
    report = grade(tmp_path, source, "self-attention-module", track="torch")
    assert ids(report) == ["heads-no-transpose"], ids(report)
