"""Built-ins a problem forbids: found through the syntax tree and refused at run time in the
child; a failing `forbidden` check, diagnosis `uses-builtin`, a validate rule, and the
statement says what is forbidden."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attn_drill.cli import app
from attn_drill.grading.forbidden import find_uses
from attn_drill.problems import builtin_problems
from tests.conftest import REPO, needs_torch
from tests.helpers import diagnosis_ids, failed_kinds, grade_source

runner = CliRunner()
SDPA = "torch.nn.functional.scaled_dot_product_attention"
MHA = "torch.nn.MultiheadAttention"
NAMES = [SDPA, MHA]


def uses(source: str) -> list[tuple[str, int]]:
    return [(u.name, u.line) for u in find_uses(textwrap.dedent(source), NAMES)]


@pytest.mark.parametrize("source", [
    "import torch\ntorch.nn.functional.scaled_dot_product_attention(q, k, v)\n",
    "import torch.nn.functional as F\nF.scaled_dot_product_attention(q, k, v)\n",
    "from torch.nn import functional as fn\nfn.scaled_dot_product_attention(q, k, v)\n",
    "from torch.nn.functional import scaled_dot_product_attention as sdpa\nsdpa(q, k, v)\n",
    "import torch\nF = torch.nn.functional\nattend = F.scaled_dot_product_attention\n",
    "import torch.nn.functional as F\nfn = getattr(F, 'scaled_dot_product_attention')\n",
    "def f(q, k, v):\n    import torch.nn.functional as F\n"
    "    return F.scaled_dot_product_attention(q, k, v)\n",
])
def test_every_import_form_is_resolved(source: str) -> None:
    assert SDPA in {name for name, _ in uses(source)}


def test_module_classes_and_their_attributes_are_caught_with_lines() -> None:
    source = """
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(16, 2)
    """
    assert uses(source) == [(MHA, 7)]
    assert uses("import torch\nforward = torch.nn.MultiheadAttention.forward\n") == [(MHA, 2)]


@pytest.mark.parametrize("source", [
    # comments and strings are not code
    "import torch\n# torch.nn.functional.scaled_dot_product_attention would do it\n"
    "doc = 'torch.nn.functional.scaled_dot_product_attention'\n",
    # the SelfAttention template's own method of the same name
    "import torch\nclass SelfAttention(torch.nn.Module):\n"
    "    def scaled_dot_product_attention(self, Q, K, V, mask=None):\n        return Q\n"
    "    def forward(self, x):\n        return self.scaled_dot_product_attention(x, x, x)\n",
    # a function of the learner's own that happens to share the name
    "import torch\ndef scaled_dot_product_attention(Q, K, V):\n    return Q\n"
    "out = scaled_dot_product_attention(1, 2, 3)\n",
    # other functions of the same module are fine
    "import torch.nn.functional as F\nw = F.softmax(s, dim=-1)\nnn_linear = F.linear\n",
    "def broken(:\n",
])
def test_comments_strings_and_own_definitions_are_not_uses(source: str) -> None:
    assert uses(source) == []


def test_the_torch_problems_forbid_the_library_attention() -> None:
    for problem_id in ("scaled-dot-product-attention", "causal-attention",
                       "self-attention-module"):
        problem = builtin_problems()[problem_id]
        assert set(NAMES) <= set(problem.tracks["torch"].forbidden), problem_id
        assert problem.misconception("uses-builtin") is not None


@needs_torch
def test_a_submission_using_it_fails_the_check_and_is_diagnosed(tmp_path: Path) -> None:
    report = grade_source(tmp_path, (REPO / "tests" / "fixtures" / "solutions" /
                                     "sdpa_torch_functional.py").read_text(),
                          "scaled-dot-product-attention", "torch")
    assert not report.passed
    assert failed_kinds(report) == ["forbidden"]  # in-process: the child's guard is not there
    assert report.checks[1].kind == "forbidden"
    assert "line 12 uses " + SDPA in report.checks[1].details
    assert diagnosis_ids(report) == ["uses-builtin"]


@needs_torch
def test_the_child_refuses_a_name_built_at_run_time(tmp_path: Path) -> None:
    """The syntax tree cannot see this use; the real child's guard still refuses it."""
    source = tmp_path / "sneaky.py"
    source.write_text(textwrap.dedent("""\
        # attn-drill: causal-attention track=torch
        import importlib


        def causal_attention(Q, K, V):
            module = importlib.import_module("torch.nn." + "functional")
            attend = getattr(module, "scaled_dot_" + "product_attention")
            return attend(Q, K, V, is_causal=True), None
        """))
    assert find_uses(source.read_text(), NAMES) == []
    result = runner.invoke(app, ["grade", str(source), "--json", "--no-record"])
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    forbidden = next(c for c in document["checks"] if c["kind"] == "forbidden")
    assert not forbidden["passed"] and SDPA in forbidden["message"]
    assert "uses-builtin" in [d["id"] for d in document["diagnosis"]]


@needs_torch
def test_the_reference_module_with_its_own_method_passes_for_real() -> None:
    problem = builtin_problems()["self-attention-module"]
    result = runner.invoke(app, ["grade", str(problem.reference_path("torch")),
                                 "--problem", problem.id, "--json", "--no-record"])
    assert result.exit_code == 0, result.output
    checks = json.loads(result.stdout)["checks"]
    assert any(c["kind"] == "forbidden" and c["passed"] for c in checks)


@pytest.mark.parametrize("lang,heading", [("en", "Not allowed on this track"),
                                          ("zh", "本赛道不允许使用")])
def test_the_statement_lists_what_is_forbidden(lang: str, heading: str) -> None:
    shown = runner.invoke(app, ["show", "causal-attention", "--track", "torch", "--lang", lang])
    assert shown.exit_code == 0
    assert heading in shown.output and SDPA in shown.output and MHA in shown.output
    numpy_track = runner.invoke(app, ["show", "causal-attention", "--track", "numpy"])
    assert "Not allowed" not in numpy_track.output


@needs_torch
def test_validate_catches_a_misspelt_forbidden_name(tmp_path: Path) -> None:
    from tests.test_packs import make_pack

    pack = make_pack(tmp_path, new_id="causal-drill", based_on="causal-attention", quiz=False)
    path = pack / "problems" / "causal-drill.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "      - torch.nn.MultiheadAttention\n", "      - torch.nn.MultiHeadAttention\n"),
        encoding="utf-8")
    result = runner.invoke(app, ["validate", str(pack), "--json"])
    assert result.exit_code == 1, result.output
    found = [i for i in json.loads(result.stdout)["items"] if not i["ok"]]
    assert [(i["rule"], i["file"]) for i in found] == [("forbidden", str(path))]
    assert "does not exist" in found[0]["message"]
