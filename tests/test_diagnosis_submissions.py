"""Wrong submissions are named for the right misconception (and not for a wrong one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import needs_torch
from tests.helpers import NP_SOFTMAX, diagnosis_ids, failed_kinds, grade_source

# -- 2e: rounded output ----------------------------------------------------------------------

SA_ROUND = """
import numpy as np
def self_attention(X, W_q, W_k, W_v):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    s = Q @ K.T / np.sqrt(Q.shape[1])
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return np.round(e / e.sum(axis=-1, keepdims=True) @ V, 4)
"""


def test_rounded_output_is_named(tmp_path: Path) -> None:
    report = grade_source(tmp_path, SA_ROUND, "self-attention")
    assert not report.passed
    assert "rounded-output" in diagnosis_ids(report)
    item = next(d for d in report.diagnosis if d.id == "rounded-output")
    assert "4 decimals" in item.message


# -- 2d: no-batch-dims only when `.T`-style code explains the evidence ------------------------

ADDITIVE_FIRST_QUERY = """
import numpy as np
def sm(s, axis=-1):
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
def additive_attention(query, keys, values, W_q, W_k, v):
    q = query.reshape(-1, query.shape[-1])[0] @ W_q
    h = np.tanh(q + keys @ W_k)
    w = sm(h @ v)
    return np.einsum('...m,...md->...d', w, values), w
"""


def test_first_query_for_every_batch_element_is_not_called_transpose(tmp_path: Path) -> None:
    report = grade_source(tmp_path, ADDITIVE_FIRST_QUERY, "additive-attention")
    assert failed_kinds(report) == ["property:batch-dims"]
    assert "no-batch-dims" not in diagnosis_ids(report)
    batch = next(c for c in report.checks if c.kind == "property:batch-dims")
    assert any("its own inputs" in d for d in batch.details)


# -- causal-future looks at every later token, not only a changed tail ---------------------------

CAUSAL_LEAK_NEAR_END = NP_SOFTMAX + """
def causal_attention(Q, K, V):
    n = Q.shape[-2]
    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    allowed = np.tril(np.ones((n, n), bool))
    allowed[-2, -1] = True  # position n-2 sees the last token
    w = sm(np.where(allowed, s, -np.inf))
    return w @ V, w
"""


def test_leak_between_the_last_two_positions_fails_causal_future(tmp_path: Path) -> None:
    report = grade_source(tmp_path, CAUSAL_LEAK_NEAR_END, "causal-attention", "numpy")
    check = next(c for c in report.checks if c.kind == "property:causal-future")
    assert not check.passed
    assert "changing token 6 " in check.message and "earlier positions [5]" in check.message
    assert "causal-future-leak" in diagnosis_ids(report)


# -- 1d: cross-attention with as many encoder as decoder tokens names the mixed-up side ------

CROSS_HEAD = NP_SOFTMAX + """
def cross_attention(X_dec, X_enc, W_q, W_k, W_v):
"""


@pytest.mark.parametrize("body,expected", [
    # V from the decoder: raises wherever the lengths differ, wrong where they are equal
    ("    Q, K, V = X_dec @ W_q, X_enc @ W_k, X_dec @ W_v\n", "cross-kv-from-decoder"),
    # the same mistake, written to dodge the shape error when it can
    ("    Q, K = X_dec @ W_q, X_enc @ W_k\n"
     "    V = X_dec @ W_v if X_dec.shape[-2] == X_enc.shape[-2] else X_enc @ W_v\n",
     "cross-kv-from-decoder"),
    ("    Q, K, V = X_enc @ W_q, X_enc @ W_k, X_enc @ W_v\n", "cross-kv-from-decoder"),
    # scaled by the encoder's width
    ("    Q, K, V = X_dec @ W_q, X_enc @ W_k, X_enc @ W_v\n"
     "    return sm(Q @ np.swapaxes(K, -1, -2) / np.sqrt(X_enc.shape[-1])) @ V\n",
     "scale-by-d-model"),
])
def test_cross_attention_side_and_scale_mistakes_are_named(tmp_path: Path, body: str,
                                                           expected: str) -> None:
    tail = "    return sm(Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])) @ V\n"
    source = CROSS_HEAD + body + ("" if "return" in body else tail)
    report = grade_source(tmp_path, source, "cross-attention", "numpy")
    assert not report.passed
    assert expected in diagnosis_ids(report), [(c.name, c.message) for c in report.checks]


# -- 2: mask-tiny-fill only with evidence of a near-zero fill ---------------------------------

SDPA_MASK_HEAD = NP_SOFTMAX + """
def scaled_dot_product_attention(Q, K, V, mask=None):
    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
"""

WRONG_MASKS = {
    "first batch element's mask": "    if mask is not None:\n"
    "        if mask.ndim > 2:\n"
    "            mask = mask[(0,) * (mask.ndim - 2)]\n"
    "        s = np.where(mask, s, -np.inf)\n"
    "    w = sm(s)\n    return w @ V, w\n",
    "first mask row for every query": "    if mask is not None:\n"
    "        s = np.where(np.broadcast_to(mask, s.shape)[..., :1, :], s, -1e9)\n"
    "    w = sm(s)\n    return w @ V, w\n",
    "transposed square weights": "    if mask is not None:\n"
    "        s = np.where(mask, s, -np.inf)\n"
    "    w = sm(s)\n"
    "    return w @ V, (np.swapaxes(w, -1, -2) if w.shape[-1] == w.shape[-2] else w)\n",
    "boolean mask added to the scores": "    if mask is not None:\n"
    "        s = s + mask\n    w = sm(s)\n    return w @ V, w\n",
    "fill of -10": "    if mask is not None:\n"
    "        s = np.where(mask, s, -10.0)\n    w = sm(s)\n    return w @ V, w\n",
}


@pytest.mark.parametrize("label", list(WRONG_MASKS))
def test_wrong_masks_without_a_tiny_fill_are_not_called_tiny_fill(tmp_path: Path,
                                                                   label: str) -> None:
    report = grade_source(tmp_path, SDPA_MASK_HEAD + WRONG_MASKS[label],
                          "scaled-dot-product-attention", "numpy")
    assert not report.passed
    assert "mask-tiny-fill" not in diagnosis_ids(report)
    assert not any("1e-12" in d.message for d in report.diagnosis)
    mask_check = next(c for c in report.checks if c.kind == "property:mask")
    assert not mask_check.passed
    if label == "fill of -10":
        assert any("not negative enough" in d for d in mask_check.details)
    elif not report.diagnosis:
        assert mask_check.details, "a wrong mask gets at least a note naming the rows"


@pytest.mark.parametrize("fill", ["-1e-12", "1e-9", "0.0"])
def test_near_zero_fills_are_still_called_tiny_fill(tmp_path: Path, fill: str) -> None:
    body = (f"    if mask is not None:\n        s = np.where(mask, s, {fill})\n"
            "    w = sm(s)\n    return w @ V, w\n")
    report = grade_source(tmp_path, SDPA_MASK_HEAD + body, "scaled-dot-product-attention",
                          "numpy")
    assert "mask-tiny-fill" in diagnosis_ids(report)


@needs_torch
def test_torch_first_batch_mask_is_not_called_tiny_fill(tmp_path: Path) -> None:
    source = """
import math
import torch


def scaled_dot_product_attention(Q, K, V, mask=None):
    s = Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))
    if mask is not None:
        while mask.dim() > 2:
            mask = mask[0]
        s = s.masked_fill(mask == 0, float("-inf"))
    w = torch.softmax(s, -1)
    return w @ V, w
"""
    report = grade_source(tmp_path, source, "scaled-dot-product-attention", "torch")
    assert not report.passed
    assert "mask-tiny-fill" not in diagnosis_ids(report)
