"""The stability property: softmaxes that overflow, clip, or take the wrong maximum fail it
and are diagnosed as unstable-softmax."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import needs_torch
from tests.helpers import NP_SOFTMAX, diagnosis_ids, failed_kinds, grade_source

# -- 1a: a row maximum over the masked keys, then multiplying by the mask ------------------

SDPA_MASK_MULT = """
import numpy as np
def scaled_dot_product_attention(Q, K, V, mask=None):
    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    if mask is not None:
        e = e * mask
    w = e / e.sum(axis=-1, keepdims=True)
    return w @ V, w
"""

SDPA_MASK_MULT_TORCH = """
import math, torch
def scaled_dot_product_attention(Q, K, V, mask=None):
    s = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
    e = torch.exp(s - s.amax(dim=-1, keepdim=True))
    if mask is not None:
        e = e * mask
    w = e / e.sum(dim=-1, keepdim=True)
    return w @ V, w
"""

MHA_MASK_MULT = """
import numpy as np
def split(Y, h):
    *b, n, d = Y.shape
    return np.swapaxes(Y.reshape(*b, n, h, d // h), -3, -2)
def merge(H):
    *b, h, n, dk = H.shape
    return np.swapaxes(H, -3, -2).reshape(*b, n, h * dk)
def multi_head_attention(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    Q, K, V = split(X @ W_q, num_heads), split(X @ W_k, num_heads), split(X @ W_v, num_heads)
    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    if mask is not None:
        e = e * np.expand_dims(mask, -3)
    return merge((e / e.sum(-1, keepdims=True)) @ V) @ W_o
"""


def test_sdpa_max_over_masked_keys_fails_stability(tmp_path: Path) -> None:
    report = grade_source(tmp_path, SDPA_MASK_MULT, "scaled-dot-product-attention")
    assert not report.passed
    assert "property:stability" in failed_kinds(report)
    assert "unstable-softmax" in diagnosis_ids(report)


@needs_torch
def test_sdpa_torch_max_over_masked_keys_fails_stability(tmp_path: Path) -> None:
    report = grade_source(tmp_path, SDPA_MASK_MULT_TORCH, "scaled-dot-product-attention",
                   track="torch")
    assert not report.passed
    assert "property:stability" in failed_kinds(report)


def test_mha_max_over_masked_keys_fails_stability(tmp_path: Path) -> None:
    report = grade_source(tmp_path, MHA_MASK_MULT, "multi-head-attention")
    assert not report.passed
    assert "property:stability" in failed_kinds(report)
    assert "unstable-softmax" in diagnosis_ids(report)


# -- 1b: clipping the scores from below ------------------------------------------------------

SOFTMAX_CLIP = """
import numpy as np
def softmax(x, axis=-1):
    x = np.maximum(x, -500.0)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
"""

SA_CLIP = """
import numpy as np
def self_attention(X, W_q, W_k, W_v):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    s = np.maximum(Q @ K.T / np.sqrt(Q.shape[1]), -500.0)
    e = np.exp(s - s.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)) @ V
"""

MHA_CLIP = MHA_MASK_MULT.replace(
    "s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])",
    "s = np.maximum(Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1]), -500.0)").replace(
    "e = e * np.expand_dims(mask, -3)", "e = np.where(np.expand_dims(mask, -3), e, 0.0)")


@pytest.mark.parametrize("problem,source", [
    ("softmax", SOFTMAX_CLIP), ("self-attention", SA_CLIP), ("multi-head-attention", MHA_CLIP)])
def test_clipping_from_below_fails_stability(tmp_path: Path, problem: str, source: str) -> None:
    report = grade_source(tmp_path, source, problem)
    assert not report.passed
    assert "property:stability" in failed_kinds(report)
    assert "unstable-softmax" in diagnosis_ids(report)


# -- 1c: cross-attention grades stability ----------------------------------------------------

CROSS_NAIVE = """
import numpy as np
def cross_attention(X_dec, X_enc, W_q, W_k, W_v):
    Q, K, V = X_dec @ W_q, X_enc @ W_k, X_enc @ W_v
    e = np.exp(Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1]))
    return (e / e.sum(-1, keepdims=True)) @ V
"""


def test_cross_attention_naive_softmax_fails(tmp_path: Path) -> None:
    report = grade_source(tmp_path, CROSS_NAIVE, "cross-attention")
    assert not report.passed
    assert "property:stability" in failed_kinds(report)
    assert diagnosis_ids(report)[0] == "unstable-softmax"


def test_masked_nan_evidence_names_the_hidden_maximum(tmp_path: Path) -> None:
    report = grade_source(tmp_path, SDPA_MASK_MULT, "scaled-dot-product-attention")
    item = next(d for d in report.diagnosis if d.id == "unstable-softmax")
    assert "masked keys too" in item.message


# -- 2c: one maximum for the whole array -----------------------------------------------------

SOFTMAX_GLOBAL_MAX = """
import numpy as np
def softmax(x, axis=-1):
    e = np.exp(x - x.max())
    return e / e.sum(axis=axis, keepdims=True)
"""


def test_global_max_is_not_called_a_missing_maximum(tmp_path: Path) -> None:
    report = grade_source(tmp_path, SOFTMAX_GLOBAL_MAX, "softmax")
    assert not report.passed
    assert diagnosis_ids(report) == ["global-normalisation"], diagnosis_ids(report)
    assert report.diagnosis[0].hint == 3


# -- 1a: clipped scores and a global maximum are not a stable softmax -------------------------

SDPA_CLIP = NP_SOFTMAX + """
def scaled_dot_product_attention(Q, K, V, mask=None):
    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    e = np.exp(np.clip(s, -700, 700))
    w = e / e.sum(-1, keepdims=True)
    return w @ V, w
"""

SDPA_GLOBAL_MAX = NP_SOFTMAX + """
def scaled_dot_product_attention(Q, K, V, mask=None):
    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    e = np.exp(s - s.max())
    w = e / e.sum(-1, keepdims=True)
    return w @ V, w
"""

CAUSAL_GLOBAL_MAX = NP_SOFTMAX + """
def causal_attention(Q, K, V):
    n = Q.shape[-2]
    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    s = np.where(np.tril(np.ones((n, n), bool)), s, -np.inf)
    e = np.exp(s - s.max())
    w = e / e.sum(-1, keepdims=True)
    return w @ V, w
"""

TORCH_CLAMP = """
import math
import torch


def scaled_dot_product_attention(Q, K, V, mask=None):
    s = (Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))).clamp(-80, 80)
    if mask is not None:
        s = s.masked_fill(mask == 0, float("-inf"))
    e = s.exp()
    w = e / e.sum(-1, keepdim=True)
    return w @ V, w
"""

TORCH_CAUSAL_CLAMP = """
import math
import torch


def causal_attention(Q, K, V):
    n = Q.size(-2)
    s = (Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))).clamp(max=80)
    e = s.exp() * torch.ones(n, n).tril()
    w = e / e.sum(-1, keepdim=True)
    return w @ V, w
"""


@pytest.mark.parametrize("source,problem", [
    (SDPA_CLIP, "scaled-dot-product-attention"),
    (SDPA_GLOBAL_MAX, "scaled-dot-product-attention"),
    (CAUSAL_GLOBAL_MAX, "causal-attention"),
])
def test_clipped_or_global_max_softmax_fails_stability(tmp_path: Path, source: str,
                                                       problem: str) -> None:
    report = grade_source(tmp_path, source, problem, "numpy")
    assert not report.passed
    assert "property:stability" in failed_kinds(report)
    assert "unstable-softmax" in diagnosis_ids(report)


@needs_torch
@pytest.mark.parametrize("source,problem", [
    (TORCH_CLAMP, "scaled-dot-product-attention"),
    (TORCH_CAUSAL_CLAMP, "causal-attention"),
])
def test_clamped_torch_scores_fail_stability(tmp_path: Path, source: str, problem: str) -> None:
    report = grade_source(tmp_path, source, problem, "torch")
    assert not report.passed
    assert "property:stability" in failed_kinds(report)
    assert "unstable-softmax" in diagnosis_ids(report)


# -- self-attention and multi-head attention have the same stability cases ----------------------

SELF_CLIP = """
import numpy as np


def self_attention(X, W_q, W_k, W_v):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    e = np.exp(np.clip(Q @ K.T / np.sqrt(K.shape[-1]), -700, 700))
    return e / e.sum(-1, keepdims=True) @ V
"""

MHA_GLOBAL_MAX = """
import numpy as np


def multi_head_attention(X, W_q, W_k, W_v, W_o, num_heads, mask=None):
    *batch, n, d = X.shape
    dk = d // num_heads

    def split(Y):
        return np.swapaxes(Y.reshape(*batch, n, num_heads, dk), -3, -2)

    Q, K, V = split(X @ W_q), split(X @ W_k), split(X @ W_v)
    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(dk)
    if mask is not None:
        s = np.where(np.expand_dims(mask, -3), s, -np.inf)
    e = np.exp(s - s.max())
    w = e / e.sum(-1, keepdims=True)
    heads = np.swapaxes(w @ V, -3, -2).reshape(*batch, n, d)
    return heads @ W_o
"""


@pytest.mark.parametrize("source,problem", [(SELF_CLIP, "self-attention"),
                                            (MHA_GLOBAL_MAX, "multi-head-attention")])
def test_self_and_multi_head_attention_check_stability(tmp_path: Path, source: str,
                                                      problem: str) -> None:
    report = grade_source(tmp_path, source, problem, "numpy")
    assert not report.passed
    # the masked stability case (hidden scores far above the visible ones) is a mask case too
    assert set(failed_kinds(report)) - {"property:mask"} == {"property:stability"}
    assert "unstable-softmax" in diagnosis_ids(report)
