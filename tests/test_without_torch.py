"""Without PyTorch installed: NumPy and text problems work fully, torch-track commands say
how to install it (exit 2, no traceback). Torch is hidden by a `None` entry in sys.modules,
which makes both `importlib.util.find_spec("torch")` and `import torch` fail."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attn_drill.cli import app

runner = CliRunner()
PACK = Path(__file__).resolve().parents[1] / "solutions"


@pytest.fixture(autouse=True)
def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)


def test_torch_track_commands_explain_how_to_install(tmp_path: Path) -> None:
    started = runner.invoke(app, ["start", "self-attention-module", "--dir", str(tmp_path)])
    assert started.exit_code == 2, started.output
    assert "attn-drill[torch]" in started.output
    assert not list(tmp_path.iterdir())

    submission = tmp_path / "sdpa.py"
    submission.write_text(
        "# attn-drill: scaled-dot-product-attention track=torch\n"
        + (PACK / "scaled_dot_product_attention_torch.py").read_text()
    )
    graded = runner.invoke(app, ["grade", str(submission)])
    assert graded.exit_code == 2, graded.output
    assert "attn-drill[torch]" in graded.output
    assert "Traceback" not in graded.output


def test_numpy_and_text_problems_still_work(tmp_path: Path) -> None:
    import json

    listed = runner.invoke(app, ["list", "--track", "torch", "--json"])
    assert listed.exit_code == 0, listed.output
    assert "self-attention-module" in {row["id"] for row in json.loads(listed.stdout)}
    shown = runner.invoke(app, ["show", "self-attention-module", "--lang", "en"])
    assert shown.exit_code == 0, shown.output
    assert "SelfAttention" in shown.output and "W_o" in shown.output  # the statement itself

    submission = tmp_path / "softmax.py"
    submission.write_text("# attn-drill: softmax\n" + (PACK / "softmax_numpy.py").read_text())
    graded = runner.invoke(app, ["grade", str(submission), "--no-record", "--json"])
    assert graded.exit_code == 0, graded.output
    report = json.loads(graded.stdout)
    assert report["problem"] == "softmax" and report["track"] == "numpy"
    assert report["passed"] is True and report["checks"]
    assert all(check["passed"] for check in report["checks"])

    answer = tmp_path / "answer.md"
    answer.write_text((PACK / "explain_sqrt_dk_text.md").read_text())
    explained = runner.invoke(
        app, ["grade", str(answer), "--problem", "explain-sqrt-dk", "--no-record", "--json"]
    )
    assert explained.exit_code == 0, explained.output
    text_report = json.loads(explained.stdout)
    assert text_report["track"] == "text" and text_report["passed"] is True
    assert text_report["score"] >= 0.65
    assert sys.modules["torch"] is None  # nothing imported torch behind the test's back
