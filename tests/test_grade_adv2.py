"""Second adversarial review: wrong solutions that used to pass, diagnoses that named the wrong
idea, and report rendering. Each test fails without its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from attn_drill.grading.grade import grade_file, run_in_process
from tests.conftest import needs_torch


def grade(tmp_path: Path, name: str, source: str, problem: str, **kwargs: object):
    path = tmp_path / name
    path.write_text(source)
    return grade_file(path, problem_id=problem, runner=run_in_process,  # type: ignore[arg-type]
                      **kwargs)


def failed_kinds(report) -> list[str]:
    return [c.kind for c in report.checks if not c.passed]


def ids(report) -> list[str]:
    return [d.id for d in report.diagnosis]


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
    report = grade(tmp_path, "a.py", SDPA_MASK_MULT, "scaled-dot-product-attention")
    assert not report.passed
    assert "property:stability" in failed_kinds(report)
    assert "unstable-softmax" in ids(report)


@needs_torch
def test_sdpa_torch_max_over_masked_keys_fails_stability(tmp_path: Path) -> None:
    report = grade(tmp_path, "a.py", SDPA_MASK_MULT_TORCH, "scaled-dot-product-attention",
                   track="torch")
    assert not report.passed
    assert "property:stability" in failed_kinds(report)


def test_mha_max_over_masked_keys_fails_stability(tmp_path: Path) -> None:
    report = grade(tmp_path, "a.py", MHA_MASK_MULT, "multi-head-attention")
    assert not report.passed
    assert "property:stability" in failed_kinds(report)
    assert "unstable-softmax" in ids(report)


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
    report = grade(tmp_path, "a.py", source, problem)
    assert not report.passed
    assert "property:stability" in failed_kinds(report)
    assert "unstable-softmax" in ids(report)


# -- 1c: cross-attention grades stability ----------------------------------------------------

CROSS_NAIVE = """
import numpy as np
def cross_attention(X_dec, X_enc, W_q, W_k, W_v):
    Q, K, V = X_dec @ W_q, X_enc @ W_k, X_enc @ W_v
    e = np.exp(Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1]))
    return (e / e.sum(-1, keepdims=True)) @ V
"""


def test_cross_attention_naive_softmax_fails(tmp_path: Path) -> None:
    report = grade(tmp_path, "a.py", CROSS_NAIVE, "cross-attention")
    assert not report.passed
    assert "property:stability" in failed_kinds(report)
    assert ids(report)[0] == "unstable-softmax"


def test_masked_nan_evidence_names_the_hidden_maximum(tmp_path: Path) -> None:
    report = grade(tmp_path, "a.py", SDPA_MASK_MULT, "scaled-dot-product-attention")
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
    report = grade(tmp_path, "a.py", SOFTMAX_GLOBAL_MAX, "softmax")
    assert not report.passed
    assert ids(report) == ["global-normalisation"], ids(report)
    assert report.diagnosis[0].hint == 3


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
    report = grade(tmp_path, "a.py", SA_ROUND, "self-attention")
    assert not report.passed
    assert "rounded-output" in ids(report)
    item = next(d for d in report.diagnosis if d.id == "rounded-output")
    assert "4 decimals" in item.message


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
    return grade(tmp_path, "attention_module.py", source, "self-attention-module",
                 track="torch")


def gradients(report):
    return next(c for c in report.checks if c.kind == "property:gradients")


@needs_torch
def test_module_without_an_output_bias_is_told_to_add_it(tmp_path: Path) -> None:
    report = grade_module(tmp_path, INIT="self.W_o = nn.Linear(d_model, d_model, bias=False)")
    runs = next(c for c in report.checks if c.kind == "runs")
    assert "W_o has no bias" in runs.message and "bias=True" in runs.message
    assert "NoneType" not in runs.message
    assert "detaches" not in gradients(report).message
    assert "no-gradient" not in ids(report) and "missing-bias" in ids(report)


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
    assert "no-gradient" not in ids(report)
    assert "backward pass did not run" not in gradients(report).message


@needs_torch
def test_an_unused_bias_is_called_unused_not_detached(tmp_path: Path) -> None:
    source = MODULE.replace("self.split(self.W_q(x))", "self.split(x @ self.W_q.weight.T)")
    report = grade(tmp_path, "attention_module.py", source, "self-attention-module",
                   track="torch")
    message = gradients(report).message
    assert "never uses W_q.bias" in message and "detaches" not in message
    assert "missing-bias" in ids(report) and "no-gradient" not in ids(report)


@needs_torch
def test_a_detached_output_is_still_no_gradient(tmp_path: Path) -> None:
    report = grade_module(tmp_path, AFTER="out = out.detach()")
    assert "detaches the graph" in gradients(report).message
    assert "no-gradient" in ids(report)


@needs_torch
def test_module_editing_x_in_place_is_named_with_autograds_reason(tmp_path: Path) -> None:
    report = grade_module(tmp_path, AFTER="with torch.no_grad(): x.mul_(2)")
    assert "property:no-mutation" in failed_kinds(report)
    assert "inplace operation" in gradients(report).message
    assert "mutates-input" in ids(report) and "no-gradient" not in ids(report)


@needs_torch
def test_module_editing_the_mask_in_place_fails_only_no_mutation(tmp_path: Path) -> None:
    report = grade_module(tmp_path, AFTER="if mask is not None: mask.zero_()")
    # the eval pass gets its own mask: it is not NaN because the train pass zeroed it
    assert failed_kinds(report) == ["property:no-mutation"], failed_kinds(report)
    assert ids(report) == ["mutates-input"]


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
    report = grade(tmp_path, "a.py", ADDITIVE_FIRST_QUERY, "additive-attention")
    assert failed_kinds(report) == ["property:batch-dims"]
    assert "no-batch-dims" not in ids(report)
    batch = next(c for c in report.checks if c.kind == "property:batch-dims")
    assert any("its own inputs" in d for d in batch.details)


# -- 3: the report at 80 columns --------------------------------------------------------------


def render(report, lang: str, capsys: pytest.CaptureFixture[str],
           monkeypatch: pytest.MonkeyPatch, verbose: bool = True) -> str:
    """The full (`--verbose`) report unless told otherwise: these tests look at every check."""
    from attn_drill.render.report import grade_report

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    grade_report(report, lang, verbose=verbose)
    return capsys.readouterr().out


def test_wrapped_check_messages_hang_under_the_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    source = SDPA_MASK_MULT.replace(" / np.sqrt(Q.shape[-1])", "").replace(  # missing-scale
        "    e = np.exp(s - s.max(axis=-1, keepdims=True))\n    if mask is not None:\n"
        "        e = e * mask\n",
        "    if mask is not None:\n        s = np.where(mask, s, -np.inf)\n"
        "    e = np.exp(s - s.max(axis=-1, keepdims=True))\n")
    assert "np.where" in source
    report = grade(tmp_path, "a.py", source, "scaled-dot-product-attention")
    lines = render(report, "en", capsys, monkeypatch).splitlines()
    start = next(i for i, line in enumerate(lines) if "✗ matches reference" in line)
    assert lines[start + 1].startswith("    ") and lines[start + 1][4] != " ", lines[start + 1]
    diagnosis = next(i for i, line in enumerate(lines) if line.startswith("Likely"))
    body = [line for line in lines[diagnosis + 1:diagnosis + 4]]
    assert all(line.startswith("  ") and line[2] != " " for line in body), body


def test_a_file_that_cannot_load_is_said_once_after_its_syntax_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.py"
    path.write_text("def softmax(x, axis=-1)\n    return x\n")
    report = grade_file(path, problem_id="softmax")  # the real runner: it keeps the traceback
    out = render(report, "en", capsys, monkeypatch)
    assert out.count("could not be loaded") == 1, out
    assert out.index("SyntaxError: expected") < out.index("could not be loaded")
    flat = " ".join(out.split())
    assert "output shapes" in flat and "matches reference (fixed cases)" in flat


def test_every_case_failing_the_same_way_is_said_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    source = "def softmax(x, axis=-1):\n    raise ValueError('not yet')\n"
    report = grade(tmp_path, "a.py", source, "softmax")
    out = render(report, "en", capsys, monkeypatch)
    checks_part = " ".join(out.split("Your code raised")[0].split())
    assert checks_part.count("ValueError: not yet") == 1, out
    assert "every case failed as above" in checks_part


@pytest.mark.parametrize("lang,words", [
    ("en", "your code can read files the grading user can read"),
    ("zh", "你的代码能读取评测用户可以读取的文件"),
])
def test_protections_are_named_in_plain_words(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        lang: str, words: str) -> None:
    report = grade(tmp_path, "a.py", SOFTMAX_CLIP, "softmax", lang=lang)
    report.protections_off = ["read-restricted"]
    out = "".join(render(report, lang, capsys, monkeypatch).split())
    assert "".join(words.split()) in out and "read-restricted" not in out
    assert report.to_dict()["protections_off"] == ["read-restricted"]


def test_heatmap_shows_the_case_where_the_weights_differ_most(tmp_path: Path) -> None:
    import numpy as np

    report = grade(tmp_path, "a.py", SDPA_MASK_MULT.replace(
        "w = e / e.sum(axis=-1, keepdims=True)",
        "w = e / e.sum(axis=-1, keepdims=True)\n"
        "    if w.ndim == 3: w = w.copy(); w[-1] = 1.0 / w.shape[-1]"),
        "scaled-dot-product-attention")
    heat = next(c.heatmap for c in report.checks if c.heatmap is not None)
    got, expected = np.array(heat.got, dtype=float), np.array(heat.expected, dtype=float)
    assert not np.allclose(got, expected, equal_nan=True)


@needs_torch
def test_module_with_a_plain_tensor_for_w_q_is_told_to_use_a_linear(tmp_path: Path) -> None:
    report = grade_module(
        tmp_path, INIT="del self.W_q; self.W_q = torch.randn(d_model, d_model)")
    runs = next(c for c in report.checks if c.kind == "runs")
    assert "W_q is not an nn.Module" in runs.message, runs.message
    assert "no-gradient" not in ids(report)
