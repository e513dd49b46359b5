"""What a submission returns: object, float16 and bfloat16 results get honest messages; complex
results leave no warning of ours."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.conftest import needs_torch
from tests.helpers import SDPA_RETURNING, grade_source


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
