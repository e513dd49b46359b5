"""Grader regressions: wrong answers that used to pass, wrong diagnoses, honest feedback.

Each submission here is small and written into a temporary file; grades run in-process
(`run_in_process`) so the whole file stays quick.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from attn_drill.grading.grade import grade_file, run_in_process
from tests.conftest import needs_torch

NP_SOFTMAX = """
import numpy as np


def sm(s, axis=-1):
    s = s - s.max(axis=axis, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=axis, keepdims=True)
"""


def grade_source(tmp_path: Path, source: str, problem: str, track: str | None = None,
                 **kwargs: object):
    path = tmp_path / "submission.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return grade_file(path, problem_id=problem, track=track, runner=run_in_process,
                      **kwargs)  # type: ignore[arg-type]


def failed_kinds(report: object) -> list[str]:
    return [c.kind for c in report.checks if not c.passed]  # type: ignore[attr-defined]


def diagnosis_ids(report: object) -> list[str]:
    return [d.id for d in report.diagnosis]  # type: ignore[attr-defined]


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


# -- 3: honest feedback on dtypes, stable check names, no warnings of ours --------------------

SDPA_RETURNING = NP_SOFTMAX + """
def scaled_dot_product_attention(Q, K, V, mask=None):
    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    w = sm(s)
    o = w @ V
    return {result}
"""


def test_object_arrays_fail_the_dtype_check(tmp_path: Path) -> None:
    source = SDPA_RETURNING.format(result="o.astype(object), w.astype(object)")
    report = grade_source(tmp_path, source, "scaled-dot-product-attention", "numpy")
    dtype = next(c for c in report.checks if c.kind == "dtype")
    assert not dtype.passed and "object" in dtype.message


def test_float16_tolerance_is_labelled_as_the_float32_one_applied(tmp_path: Path) -> None:
    source = SDPA_RETURNING.format(result="o.astype(np.float16), w.astype(np.float16)")
    report = grade_source(tmp_path, source, "scaled-dot-product-attention", "numpy")
    tables = [c.mismatch for c in report.checks if c.mismatch is not None]
    assert tables
    assert all(t.dtype == "float32" for t in tables)
    assert all("for float16" not in c.message for c in report.checks)


@needs_torch
def test_bfloat16_output_is_refused_in_plain_words(tmp_path: Path) -> None:
    source = """
import math
import torch


def scaled_dot_product_attention(Q, K, V, mask=None):
    s = Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))
    if mask is not None:
        s = s.masked_fill(mask == 0, float("-inf"))
    w = torch.softmax(s, -1)
    return (w @ V).bfloat16(), w
"""
    report = grade_source(tmp_path, source, "scaled-dot-product-attention", "torch")
    dtype = next(c for c in report.checks if c.kind == "dtype")
    assert not dtype.passed and "bfloat16" in dtype.message and "not accepted" in dtype.message
    match = next(c for c in report.checks if c.kind == "match:random")
    assert "bfloat16" in match.message
    assert all("could not be read as numbers" not in c.message for c in report.checks)


@pytest.mark.parametrize("problem", ["softmax", "scaled-dot-product-attention",
                                     "multi-head-attention"])
def test_check_names_do_not_depend_on_whether_the_file_loads(tmp_path: Path,
                                                            problem: str) -> None:
    from attn_drill.problems import get_problem

    reference = get_problem(problem).reference_path("numpy").read_text(encoding="utf-8")
    good = grade_source(tmp_path, reference, problem, "numpy")
    broken = grade_source(tmp_path, "def broken(:\n", problem, "numpy")
    assert good.passed and not broken.passed
    assert [c.name for c in broken.checks] == [c.name for c in good.checks]


def test_complex_results_leave_no_numpy_warning_on_stderr(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "scaled_dot_product_attention.py"
    path.write_text(textwrap.dedent(SDPA_RETURNING.format(result="o + 0j, w + 0j")),
                    encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "attn_drill", "grade", str(path), "--json",
                          "--no-record"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "Warning" not in run.stderr, run.stderr


# -- 4: --save-cases judges like the grader and says where it wrote -----------------------------

def _save_and_run(tmp_path: Path, source: str, problem: str, track: str = "numpy"):
    import subprocess
    import sys

    from attn_drill.grading.savecases import save_failing_cases

    report = grade_source(tmp_path, source, problem, track)
    assert not report.passed
    folders = save_failing_cases(report, tmp_path / "cases")
    assert folders and report.saved_cases_dir == str(tmp_path / "cases")
    assert report.saved_cases == [str(f) for f in folders]
    run = subprocess.run([sys.executable, str(folders[0] / "repro.py")], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    return report, run


def test_repro_uses_the_float64_tolerance_of_the_grader(tmp_path: Path) -> None:
    # off by 1e-6: within float32's tolerance, outside float64's
    source = SDPA_RETURNING.format(result="o + 1e-6, w")
    _, run = _save_and_run(tmp_path, source, "scaled-dot-product-attention")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "close: False" in run.stdout and "for float64" in run.stdout


def test_repro_names_nan_and_exits_1(tmp_path: Path) -> None:
    source = SDPA_RETURNING.format(result="o * np.nan, w")
    _, run = _save_and_run(tmp_path, source, "scaled-dot-product-attention")
    assert run.returncode == 1
    assert "NaN value(s) where numbers are expected" in run.stdout
    assert "RuntimeWarning" not in run.stderr


def test_repro_exits_0_once_the_solution_is_fixed(tmp_path: Path) -> None:
    source = SDPA_RETURNING.format(result="o + 1e-6, w")
    report, _ = _save_and_run(tmp_path, source, "scaled-dot-product-attention")
    import subprocess
    import sys

    (tmp_path / "submission.py").write_text(
        textwrap.dedent(SDPA_RETURNING.format(result="o, w")), encoding="utf-8")
    run = subprocess.run([sys.executable, str(Path(report.saved_cases[0]) / "repro.py")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "passes now" in run.stdout


@needs_torch
def test_module_repro_checks_train_grads_and_eval(tmp_path: Path) -> None:
    _, run = _save_and_run(tmp_path, MODULE_CACHE, "self-attention-module", "torch")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "output (eval mode)" in run.stdout and "still fails" in run.stdout


def test_rich_report_says_where_cases_were_saved(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from attn_drill.grading.savecases import save_failing_cases
    from attn_drill.render.report import grade_report

    report = grade_source(tmp_path, SDPA_RETURNING.format(result="o + 1e-6, w"),
                          "scaled-dot-product-attention", "numpy")
    save_failing_cases(report, tmp_path / "cases")
    grade_report(report, "en")
    shown = " ".join(capsys.readouterr().out.split())
    assert "Saved" in shown and "cases" in shown and "repro.py" in shown
    assert report.to_dict()["saved_cases"] == report.saved_cases


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
