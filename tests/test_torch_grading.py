"""The torch track: gradients through functions and modules, loading the reference's weights
into a module, train and eval passes, in-place edits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import needs_torch
from tests.helpers import diagnosis_ids, failed_kinds, grade_source

# -- 2a/2b: the module track: weights that cannot be loaded, unused parameters, in-place edits

MODULE = """
import math, torch
from torch import nn
class SelfAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads, self.d_k = n_heads, d_model // n_heads
        self.W_q = nn.Linear(d_model, d_model); self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model); self.W_o = nn.Linear(d_model, d_model)
        # INIT
    def split(self, t):
        b, s, _ = t.shape
        return t.view(b, s, self.n_heads, self.d_k).transpose(1, 2)
    def forward(self, x, mask=None):
        Q = self.split(self.W_q(x))
        K, V = self.split(self.W_k(x)), self.split(self.W_v(x))
        s = Q @ K.transpose(-2, -1) / math.sqrt(self.d_k)
        if mask is not None:
            s = s.masked_fill(mask == 0, float("-inf"))
        b, h, n, dk = V.shape
        out = self.W_o((torch.softmax(s, -1) @ V).transpose(1, 2).reshape(b, n, h * dk))
        # AFTER
        return out
"""


def grade_module(tmp_path: Path, **edits: str):
    source = MODULE
    for marker, code in edits.items():
        source = source.replace(f"# {marker}", code)
    return grade_source(tmp_path, source, "self-attention-module", "torch")


def gradients(report):
    return next(c for c in report.checks if c.kind == "property:gradients")


@needs_torch
def test_module_without_an_output_bias_is_told_to_add_it(tmp_path: Path) -> None:
    report = grade_module(tmp_path, INIT="self.W_o = nn.Linear(d_model, d_model, bias=False)")
    runs = next(c for c in report.checks if c.kind == "runs")
    assert "W_o has no bias" in runs.message and "bias=True" in runs.message
    assert "NoneType" not in runs.message
    assert "detaches" not in gradients(report).message
    assert "no-gradient" not in diagnosis_ids(report) and "missing-bias" in diagnosis_ids(report)


@needs_torch
@pytest.mark.parametrize("init,expected", [
    ("del self.W_q; self.q = nn.Linear(d_model, d_model)", "has no attribute `W_q`"),
    ("self.W_q = nn.Linear(d_model, 2 * d_model)", "W_q.weight has shape"),
])
def test_module_weights_that_cannot_be_loaded_are_not_called_no_gradient(
        tmp_path: Path, init: str, expected: str) -> None:
    report = grade_module(tmp_path, INIT=init)
    runs = next(c for c in report.checks if c.kind == "runs")
    assert expected in runs.message, runs.message
    assert "no-gradient" not in diagnosis_ids(report)
    assert "backward pass did not run" not in gradients(report).message


@needs_torch
def test_an_unused_bias_is_called_unused_not_detached(tmp_path: Path) -> None:
    source = MODULE.replace("self.split(self.W_q(x))", "self.split(x @ self.W_q.weight.T)")
    report = grade_source(tmp_path, source, "self-attention-module", "torch")
    message = gradients(report).message
    assert "never uses W_q.bias" in message and "detaches" not in message
    assert "missing-bias" in diagnosis_ids(report) and "no-gradient" not in diagnosis_ids(report)


@needs_torch
def test_a_detached_output_is_still_no_gradient(tmp_path: Path) -> None:
    report = grade_module(tmp_path, AFTER="out = out.detach()")
    assert "detaches the graph" in gradients(report).message
    assert "no-gradient" in diagnosis_ids(report)


@needs_torch
def test_module_editing_x_in_place_is_named_with_autograds_reason(tmp_path: Path) -> None:
    report = grade_module(tmp_path, AFTER="with torch.no_grad(): x.mul_(2)")
    assert "property:no-mutation" in failed_kinds(report)
    assert "inplace operation" in gradients(report).message
    assert "mutates-input" in diagnosis_ids(report) and "no-gradient" not in diagnosis_ids(report)


@needs_torch
def test_module_editing_the_mask_in_place_fails_only_no_mutation(tmp_path: Path) -> None:
    report = grade_module(tmp_path, AFTER="if mask is not None: mask.zero_()")
    # the eval pass gets its own mask: it is not NaN because the train pass zeroed it
    assert failed_kinds(report) == ["property:no-mutation"], failed_kinds(report)
    assert diagnosis_ids(report) == ["mutates-input"]


@needs_torch
def test_module_with_a_plain_tensor_for_w_q_is_told_to_use_a_linear(tmp_path: Path) -> None:
    report = grade_module(
        tmp_path, INIT="del self.W_q; self.W_q = torch.randn(d_model, d_model)")
    runs = next(c for c in report.checks if c.kind == "runs")
    assert "W_q is not an nn.Module" in runs.message, runs.message
    assert "no-gradient" not in diagnosis_ids(report)


# -- 1b: torch function tracks check gradients -------------------------------------------------

TORCH_NO_GRAD = """
import math
import torch


def scaled_dot_product_attention(Q, K, V, mask=None):
    with torch.no_grad():
        s = Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))
        if mask is not None:
            s = s.masked_fill(mask == 0, float("-inf"))
        w = torch.softmax(s, -1)
        return w @ V, w
"""

TORCH_DETACH_Q = """
import math
import torch


def scaled_dot_product_attention(Q, K, V, mask=None):
    s = Q.detach() @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))
    if mask is not None:
        s = s.masked_fill(mask == 0, float("-inf"))
    w = torch.softmax(s, -1)
    return w @ V, w
"""

TORCH_CAUSAL_NO_GRAD = """
import math
import torch


def causal_attention(Q, K, V):
    with torch.no_grad():
        n = Q.size(-2)
        s = Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))
        hidden = torch.ones(n, n, dtype=torch.bool).triu(1)
        w = torch.softmax(s.masked_fill(hidden, float("-inf")), -1)
        return w @ V, w
"""

TORCH_CAUSAL_OK = """
import math
import torch


def causal_attention(Q, K, V):
    n = Q.size(-2)
    s = Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))
    hidden = torch.ones(n, n, dtype=torch.bool).triu(1)
    w = torch.softmax(s.masked_fill(hidden, float("-inf")), -1)
    return w @ V, w
"""


@needs_torch
@pytest.mark.parametrize("source,problem,missing", [
    (TORCH_NO_GRAD, "scaled-dot-product-attention", "Q, K, V"),
    (TORCH_DETACH_Q, "scaled-dot-product-attention", "Q:"),
    (TORCH_CAUSAL_NO_GRAD, "causal-attention", "Q, K, V"),
])
def test_torch_functions_that_cut_the_graph_fail_gradients(tmp_path: Path, source: str,
                                                           problem: str, missing: str) -> None:
    report = grade_source(tmp_path, source, problem, "torch")
    assert not report.passed
    assert failed_kinds(report) == ["property:gradients"]
    check = next(c for c in report.checks if c.kind == "property:gradients")
    assert f"no gradient reached {missing}" in check.message
    assert diagnosis_ids(report) == ["no-gradient"]


@needs_torch
def test_connected_torch_function_passes_gradients(tmp_path: Path) -> None:
    report = grade_source(tmp_path, TORCH_CAUSAL_OK, "causal-attention", "torch")
    assert report.passed, [(c.name, c.message) for c in report.checks if not c.passed]
    assert any(c.kind == "property:gradients" and c.passed for c in report.checks)


# -- 1c / 2: the module's eval pass sees a different x; dropout in train mode is named ----------

MODULE_HEAD = """
import math
import torch
import torch.nn.functional as F
from torch import nn


class SelfAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.h, self.d, self.dk = n_heads, d_model, d_model // n_heads
        self.W_q = nn.Linear(d_model, d_model)
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)
        self.W_o = nn.Linear(d_model, d_model)

    def scaled_dot_product_attention(self, Q, K, V, mask=None):
        s = Q @ K.transpose(-2, -1) / math.sqrt(self.dk)
        if mask is not None:
            s = s.masked_fill(mask == 0, float("-inf"))
        w = torch.softmax(s, -1)
        return w @ V, w

    def split(self, t):
        b, n, _ = t.shape
        return t.view(b, n, self.h, self.dk).transpose(1, 2)
"""

MODULE_CACHE = MODULE_HEAD + """
    def forward(self, x, mask=None):
        if getattr(self, "_cached", None) is not None:
            return self._cached
        b, n, _ = x.shape
        Q, K, V = self.split(self.W_q(x)), self.split(self.W_k(x)), self.split(self.W_v(x))
        o, _ = self.scaled_dot_product_attention(Q, K, V, mask)
        self._cached = self.W_o(o.transpose(1, 2).reshape(b, n, self.d))
        return self._cached
"""

MODULE_DROPOUT = MODULE_HEAD + """
    def forward(self, x, mask=None):
        b, n, _ = x.shape
        Q, K, V = self.split(self.W_q(x)), self.split(self.W_k(x)), self.split(self.W_v(x))
        s = Q @ K.transpose(-2, -1) / math.sqrt(self.dk)
        if mask is not None:
            s = s.masked_fill(mask == 0, float("-inf"))
        w = F.dropout(torch.softmax(s, -1), 0.1, self.training)
        return self.W_o((w @ V).transpose(1, 2).reshape(b, n, self.d))
"""


@needs_torch
def test_module_that_caches_its_first_result_fails(tmp_path: Path) -> None:
    report = grade_source(tmp_path, MODULE_CACHE, "self-attention-module", "torch")
    assert not report.passed
    match = next(c for c in report.checks if c.kind == "match:random")
    assert not match.passed and "eval mode" in match.message


@needs_torch
def test_dropout_in_train_mode_is_diagnosed(tmp_path: Path) -> None:
    report = grade_source(tmp_path, MODULE_DROPOUT, "self-attention-module", "torch")
    assert not report.passed
    assert diagnosis_ids(report) == ["dropout-in-train"]
    assert "no dropout" in report.diagnosis[0].message
