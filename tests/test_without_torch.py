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
    listed = runner.invoke(app, ["list", "--track", "torch"])
    assert listed.exit_code == 0 and "self-attention-module" in listed.output
    assert runner.invoke(app, ["show", "self-attention-module"]).exit_code == 0
    submission = tmp_path / "softmax.py"
    submission.write_text("# attn-drill: softmax\n" + (PACK / "softmax_numpy.py").read_text())
    graded = runner.invoke(app, ["grade", str(submission), "--no-record"])
    assert graded.exit_code == 0, graded.output
    answer = tmp_path / "answer.md"
    answer.write_text((PACK / "explain_sqrt_dk_text.md").read_text())
    explained = runner.invoke(app, ["grade", str(answer), "--problem", "explain-sqrt-dk"])
    assert explained.exit_code == 0, explained.output
