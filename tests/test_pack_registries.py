"""A problem is content: properties, input kinds and tracks are registries the YAML names.

A pack names registered properties (an unknown one is a pack error with its file and line);
the property registry is the one source of what validate, the checks and the diagnosis use.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from attn_drill.errors import PackError
from attn_drill.grading.properties import PROPERTIES
from attn_drill.grading.validate import validate_pack
from attn_drill.messages import CATALOG, LANGS, render
from attn_drill.problems import BUILTIN_PACK, builtin_problems, load_pack
from tests.conftest import needs_torch


def _copy_pack(tmp_path: Path) -> Path:
    pack = tmp_path / "pack"
    for part in ("problems", "solutions", "mutants"):
        shutil.copytree(BUILTIN_PACK / part, pack / part)
    return pack


def test_unknown_property_is_a_pack_error_with_file_and_line(tmp_path: Path) -> None:
    pack = _copy_pack(tmp_path)
    path = pack / "problems" / "softmax.yaml"
    text = path.read_text(encoding="utf-8")
    listed = "properties: [no-mutation, stability, sums-to-one]"
    assert listed in text
    path.write_text(text.replace(listed, "properties: [no-mutation, stability,\n"
                                         "                 sparkles]"), encoding="utf-8")
    line = text[: text.index(listed)].count("\n") + 2  # `sparkles` moved to the next line
    with pytest.raises(PackError) as caught:
        load_pack(pack)
    message = caught.value.message
    assert str(path) in message
    assert "tracks.numpy.properties.2" in message and f"(line {line})" in message
    assert "unknown property 'sparkles'" in message
    # validate reports it as the file's schema defect, and goes on with the other problems
    result = validate_pack(pack)
    schema = [i for i in result.items if i.subject == "schema" and not i.ok]
    assert [i.problem for i in schema] == ["softmax"]
    assert any(i.problem == "causal-attention" and i.ok for i in result.items)


def test_every_registered_property_has_a_name_in_each_language() -> None:
    for prop in PROPERTIES.values():
        key = f"property.{prop.id}"
        assert key in CATALOG, key
        names = {render(key, lang) for lang in LANGS}
        assert len(names) == len(LANGS), names  # translated, not copied


def test_properties_listed_by_the_pack_are_registered_objects() -> None:
    used = {p for problem in builtin_problems().values() for spec in problem.tracks.values()
            for p in spec.properties}
    assert used <= set(PROPERTIES)
    # the registry is what validate asks: a tagged property needs its tag, a deriving one
    # a source case, a diagnosing one its misconception id
    assert {p.id: p.tag for p in PROPERTIES.values() if p.tag} == {
        "batch-dims": "batched", "stability": "stability", "mask": "mask"}
    assert {p.id for p in PROPERTIES.values() if p.derives} == {
        "permutation-equivariance", "causal-future", "relative-position"}


# -- inputs say what they are ---------------------------------------------------------------

PROBE_YAML = """\
id: input-kinds
title: {en: Input kinds, zh: 输入的种类}
topic: attention
difficulty: easy
order: 999
formula: "output = x + positions + lengths + cache + blocks + tokens + window"
statement: {en: "Adds every kind of input to x.", zh: "把每种输入都加到 x 上。"}
shapes: {en: "x (n, d)", zh: "x (n, d)"}
constraints: {en: "none", zh: "无"}
examples:
  - inputs: "see the cases"
    output: "see the cases"
    explanation: {en: "a probe", zh: "一个探针"}
hints:
  - {en: one, zh: 一}
  - {en: two, zh: 二}
  - {en: three, zh: 三}
misconceptions:
  - id: mutates-input
    title: {en: Changes its inputs, zh: 修改了输入}
    explanation: {en: "Compute into new arrays.", zh: "请写到新数组里。"}
tracks:
  TRACK:
    entry: probe
    signature: "def probe(x, positions, key_lengths, K_cache, kv_blocks, global_tokens, window)"
    outputs: [output]
    output_dims: {output: [n, d]}
    inputs:
      x: {role: data}
      positions: {role: positions}
      key_lengths: {role: lengths}
      K_cache: {role: cache}
      kv_blocks: {role: blocks}
      global_tokens: {role: option, dtype: int64, pass_as: list}
      window: {role: option, dtype: int64, pass_as: scalar}
    properties: [no-mutation]
    starter: |
      def probe(x, positions, key_lengths, K_cache, kv_blocks, global_tokens, window):
          raise NotImplementedError  # TODO
    cases:
      - name: every input literal
        inputs:
          x: [[1.0, 2.0], [3.0, 4.0]]
          positions: [0, 1]
          key_lengths: [2]
          K_cache: [[0.5, 0.5]]
          kv_blocks:
            - [[[1.0, 0.0]], [[0.0, 1.0]]]
            - [[[2.0, 2.0], [1.0, 1.0]], [[0.5, 0.5], [0.0, 0.0]]]
          global_tokens: [1]
          window: 1
      - name: literal positions and an empty cache
        dims: {n: 3, d: 4, t: 0}
        inputs:
          global_tokens: [0, 2]
          window: 2
          positions: [5, 6, 7]
          key_lengths: [1, 0]
        random:
          x: {shape: [n, d]}
          K_cache: {shape: [t, d]}
          kv_blocks:
            kind: blocks
            sizes: [2, 3]
            parts: {K: {shape: [block, d]}, V: {shape: [block, d]}}
      - name: generated positions, lengths and cache
        dims: {n: 5, d: 4, t: 3, b: 2}
        random:
          x: {shape: [n, d]}
          positions: {shape: [n], kind: arange, low: 100}
          key_lengths: {shape: [b], kind: integers, low: 0, high: 5}
          K_cache: {shape: [t, d]}
          kv_blocks:
            kind: blocks
            sizes: [1, 4, 2]
            parts: {K: {shape: [block, d]}, V: {shape: [block, d]}}
          global_tokens: {shape: [0], kind: integers}
          window: {shape: [], kind: integers, low: 1, high: 3}
"""

# The reference computes the answer from whatever it is given; the submission also insists
# on the types the contract promises, so it only passes when they reach the child intact.
PROBE_BODY = """
def probe(x, positions, key_lengths, K_cache, kv_blocks, global_tokens, window):
    {checks}
    assert isinstance(global_tokens, list) and all(type(t) is int for t in global_tokens)
    assert type(window) is int
    assert iter(kv_blocks) is kv_blocks, "blocks come as a one-shot iterator"
    total = 0.0
    for K_j, V_j in kv_blocks:
        {block_checks}
        total = total + float(K_j.sum()) + float(V_j.sum())
    assert list(kv_blocks) == [], "consumed once"
    extra = float(key_lengths.sum()) + float(K_cache.sum()) + total + len(global_tokens) + window
    return x + positions[:, None] * 1.0 + extra
"""
NUMPY_CHECKS = """import numpy as np
""" + PROBE_BODY.format(
    checks="assert x.dtype == np.float64 and positions.dtype == np.int64 "
    "and key_lengths.dtype == np.int64 and K_cache.dtype == np.float64",
    block_checks="assert K_j.dtype == np.float64 and V_j.dtype == np.float64")
TORCH_CHECKS = """import torch
""" + PROBE_BODY.format(
    checks="assert x.dtype == torch.float32 and positions.dtype == torch.int64 "
    "and key_lengths.dtype == torch.int64 and K_cache.dtype == torch.float32",
    block_checks="assert K_j.dtype == torch.float32 and V_j.dtype == torch.float32")
REFERENCE = PROBE_BODY.format(checks="pass", block_checks="pass").replace(
    "assert type(window)", "window = int(window)\n    assert type(window)")


def _grade_in_child(pack: Path, submission: Path, track: str) -> Any:
    """`grade_code` with the real isolated child (the runner every grade uses)."""
    import time

    from attn_drill.grading.grade import default_runner, grade_code

    problem = load_pack(pack)["input-kinds"]
    return grade_code(problem, track, submission, submission.read_text(), seed=0, timeout=20.0,
                      lang="en", runner=default_runner(), started=time.perf_counter())


def _probe_pack(tmp_path: Path, track: str) -> Path:
    pack = tmp_path / f"pack-{track}"
    for part in ("problems", "solutions", "mutants"):
        (pack / part).mkdir(parents=True)
    (pack / "problems" / "input-kinds.yaml").write_text(
        PROBE_YAML.replace("TRACK", track), encoding="utf-8")
    header = "import numpy as np\n" if track == "numpy" else "import torch\n"
    (pack / "solutions" / f"input_kinds_{track}.py").write_text(header + REFERENCE)
    return pack


@pytest.mark.parametrize("track", ["numpy", pytest.param("torch", marks=needs_torch)])
def test_declared_input_kinds_reach_the_child_with_their_dtypes(tmp_path: Path,
                                                               track: str) -> None:
    pack = _probe_pack(tmp_path, track)
    submission = tmp_path / "probe.py"
    submission.write_text(NUMPY_CHECKS if track == "numpy" else TORCH_CHECKS)
    report = _grade_in_child(pack, submission, track)
    assert report.passed, [(c.name, c.message) for c in report.checks if not c.passed]
    # the same submission run with float positions fails: the check above is not vacuous
    floats = pack / "problems" / "input-kinds.yaml"
    floats.write_text(floats.read_text().replace("positions: {role: positions}",
                                                 "positions: {role: positions, dtype: float}"))
    report = _grade_in_child(pack, submission, track)
    assert not report.passed
    assert "AssertionError" in report.checks[1].message  # the run check names the failure


def test_a_pack_with_every_input_kind_validates(tmp_path: Path) -> None:
    result = validate_pack(_probe_pack(tmp_path, "numpy"))
    assert result.ok, [(i.subject, i.message) for i in result.items if not i.ok]


def test_the_child_process_modules_stay_lean() -> None:
    import subprocess
    import sys

    code = ("import sys\n"
            "import attn_drill.grading.child, attn_drill.grading.harness, "
            "attn_drill.grading.cases, attn_drill.grading.inputs\n"
            "print(sorted(m for m in ('pydantic', 'yaml', 'rich', 'typer') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


@needs_torch
def test_a_declared_0_1_mask_is_read_as_a_mask() -> None:
    """The torch track's literal 0/1 mask is declared `role: mask`: the mask analysis reads it
    as it reads boolean masks (before, any non-boolean input stopped the analysis)."""
    from attn_drill.grading.cases import build_cases
    from attn_drill.grading.checks import compute_references, run_checks
    from attn_drill.grading.diagnosis import diagnose, mutant_targets
    from attn_drill.grading.grade import evaluation_from_run, run_object_in_process
    from attn_drill.grading.properties import derive_cases

    problem = builtin_problems()["scaled-dot-product-attention"]
    spec = problem.tracks["torch"]
    cases = build_cases(spec, 0)
    literal = next(c for c in cases if "0/1" in c.name)
    assert literal.input_info("mask").is_mask and literal.inputs["mask"].dtype != bool
    extra, derived = derive_cases(spec, cases, 0)
    references = compute_references(problem, "torch", cases + extra)
    target = next(t for name, _, t in mutant_targets(problem, "torch")
                  if name == "mask_after_softmax")
    run = run_object_in_process(target, problem, "torch", cases + extra)
    ev = evaluation_from_run(problem, "torch", 0, cases + extra, derived, references, run,
                             None, 10.0)
    checks = run_checks(ev, "en")
    assert "mask-after-softmax" in [d.id for d in diagnose(ev, checks, "en")]
    mask_check = next(c for c in checks if c.kind == "property:mask")
    assert any(literal.name in detail for detail in mask_check.details), mask_check.details


# -- tracks as objects ------------------------------------------------------------------------


def test_torch_is_imported_only_by_the_track_module() -> None:
    """The grader's torch knowledge lives in grading/tracks.py: no other module of the
    package imports torch (practice's warm-up asks the track to import it)."""
    import ast

    package = Path(__file__).resolve().parents[1] / "attn_drill"
    importers = set()
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "torch" or n.startswith("torch.") for n in names):
                importers.add(path.relative_to(package).as_posix())
    assert importers == {"grading/tracks.py"}


def test_no_module_outside_the_track_registry_branches_on_a_track_name() -> None:
    """Track behaviour lives in the track objects: no `track == "..."` elsewhere."""
    import re

    package = Path(__file__).resolve().parents[1] / "attn_drill"
    branches = [f"{path.relative_to(package).as_posix()}:{number}"
                for path in sorted(package.rglob("*.py"))
                if path.relative_to(package).as_posix() != "grading/tracks.py"
                for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if re.search(r"track\s*[!=]=\s*[\"']", line)]
    assert not branches, branches


def test_a_report_knows_a_written_answer_from_its_track() -> None:
    from attn_drill.grading.report import GradeReport
    from attn_drill.grading.tracks import TRACKS

    def report(track: str, call: str) -> GradeReport:
        return GradeReport(problem="p", track=track, passed=False, score=0.0, seed=0,
                           version="0", duration_s=0.0, call=call)

    assert report("text", "function").is_written_answer
    assert report("numpy", "text").is_written_answer
    assert not report("numpy", "function").is_written_answer
    assert not report("torch", "module").is_written_answer
    assert [name for name, t in TRACKS.items() if not t.runs_code] == ["text"]


def test_each_code_track_says_what_a_right_answer_is() -> None:
    import numpy as np

    from attn_drill.grading.tracks import TRACKS

    assert {name for name, track in TRACKS.items() if track.runs_code} == {"numpy", "torch"}
    numpy_track, torch_track = TRACKS["numpy"], TRACKS["torch"]
    positions = np.arange(3, dtype=np.int64)
    floats = np.ones(3)
    assert numpy_track.sent(floats).dtype == np.float64
    assert torch_track.sent(floats).dtype == np.float32  # float inputs travel as float32
    assert torch_track.sent(positions).dtype == np.int64  # integers stay integers
    assert numpy_track.tolerance_dtype("float64") == "float64"
    assert torch_track.tolerance_dtype("float64") == "float32"
    for track in (numpy_track, torch_track):
        assert track.returned_kind not in track.type_advice  # advice only for wrong kinds


# -- localisation at the edge -----------------------------------------------------------------


def test_every_message_has_both_languages_with_the_same_parameters() -> None:
    import string

    formatter = string.Formatter()
    for key, texts in CATALOG.items():
        assert len(texts) == len(LANGS) and all(t.strip() for t in texts), key
        fields = [{f for _, f, _, _ in formatter.parse(t) if f} for t in texts]
        assert all(f <= fields[0] for f in fields[1:]), key  # zh may drop an English plural


def test_the_grading_core_writes_no_inline_bilingual_text() -> None:
    """The core speaks in catalog ids: no `tr(lang, en, zh)` call (nor its definition) is
    left in attn_drill/grading."""
    import re

    grading = Path(__file__).resolve().parents[1] / "attn_drill" / "grading"
    inline = [f"{path.name}:{number}" for path in sorted(grading.rglob("*.py"))
              for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
              if re.search(r"(?<![\w.])tr\(", line)]
    assert not inline, inline


def test_every_message_the_diagnosis_uses_has_both_languages_with_equal_parameters() -> None:
    import re
    import string

    formatter = string.Formatter()
    grading = Path(__file__).resolve().parents[1] / "attn_drill" / "grading"
    used = set()
    for name in ("diagnosis.py", "properties.py"):
        used |= set(re.findall(r'msg\(\s*"([a-z0-9.\-]+)"',
                               (grading / name).read_text(encoding="utf-8")))
    assert {"diagnosis.evidence", "diagnosis.hint", "mutant.reproduced",
            "pattern.rows-differ", "keepdims.broadcast"} <= used
    for key in sorted(used):
        assert key in CATALOG, key
        # Only English grammar (a plural ending, a pronoun) may be missing from another language.
        fields = [{f for _, f, _, _ in formatter.parse(t) if f} - {"plural", "them"}
                  for t in CATALOG[key]]
        assert len(fields) == len(LANGS) and all(f == fields[0] for f in fields), key


def test_every_message_id_the_grader_uses_is_in_the_catalog() -> None:
    import re

    from attn_drill.grading.checks import ERROR_KINDS, LOAD_ERRORS
    from attn_drill.grading.tracks import TRACKS

    package = Path(__file__).resolve().parents[1] / "attn_drill"
    used = set()
    for path in package.rglob("*.py"):
        used |= set(re.findall(r'msg\(\s*"([a-z0-9.\-]+)"', path.read_text(encoding="utf-8")))
    used |= {f"error.{kind}" for kind in ERROR_KINDS}
    used |= {f"defines.{kind}" for kind in LOAD_ERRORS}
    used |= {f"advice.{t.name}.{kind}" for t in TRACKS.values() for kind in t.type_advice}
    used |= {f"property.{p}" for p in PROPERTIES}
    missing = sorted(used - set(CATALOG))
    assert not missing, missing


def test_verdicts_and_ids_are_the_same_in_every_language(tmp_path: Path) -> None:
    """`grade --json` in English and in Chinese: the same verdict, checks, message ids and
    diagnoses; only the rendered words differ."""
    import json

    from typer.testing import CliRunner

    from attn_drill.cli import app

    fixtures = Path(__file__).resolve().parent / "fixtures" / "solutions"
    documents = {}
    for lang in LANGS:
        result = CliRunner().invoke(app, ["grade", str(fixtures / "sdpa_no_scale.py"),
                                          "--json", "--no-record", "--lang", lang])
        assert result.exit_code == 1, result.output
        documents[lang] = json.loads(result.stdout)
    en, zh = documents["en"], documents["zh"]
    assert (en["passed"], en["score"]) == (zh["passed"], zh["score"])
    keys = ("id", "kind", "passed", "message_id", "failed_cases")
    assert [[c[k] for k in keys] for c in en["checks"]] == \
        [[c[k] for k in keys] for c in zh["checks"]]
    assert [(d["id"], d["message_id"]) for d in en["diagnosis"]] == \
        [(d["id"], d["message_id"]) for d in zh["diagnosis"]]
    assert "missing-scale" in [d["id"] for d in en["diagnosis"]]
    assert all(d["message_id"] in CATALOG for d in en["diagnosis"])
    failed = [(e, z) for e, z in zip(en["checks"], zh["checks"], strict=True)
              if not e["passed"]]
    assert failed and all(e["message_id"] for e, _ in failed)
    assert all(e["message"] != z["message"] for e, z in failed)  # written in each language
    assert {c["id"] for c in en["checks"]} >= {"defines", "runs", "match-random"}


def test_the_track_registry_is_lean_to_import() -> None:
    """`start` asks a track what it requires before numpy or torch load."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from attn_drill.grading.tracks import TRACKS\n"
            "TRACKS['numpy'].require(); TRACKS['text'].require()\n"
            "print(sorted(m for m in ('numpy', 'torch', 'pydantic', 'yaml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_saved_cases_pass_every_input_kind_as_the_grader_does(tmp_path: Path) -> None:
    """--save-cases with blocks, a Python list and a number: repro.py rebuilds them as the
    grader passes them, so the learner's own checks run and the case is judged."""
    import subprocess
    import sys

    from attn_drill.grading.savecases import save_failing_cases

    pack = _probe_pack(tmp_path, "numpy")
    submission = tmp_path / "probe.py"
    submission.write_text(NUMPY_CHECKS.replace("return x + ", "return 2 * x + "))
    report = _grade_in_child(pack, submission, "numpy")
    assert not report.passed
    folders = save_failing_cases(report, tmp_path / "saved")
    assert folders
    run = subprocess.run([sys.executable, str(folders[0] / "repro.py")], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 1, run.stderr
    assert "this case still fails" in run.stdout and "Traceback" not in run.stderr


@needs_torch
def test_a_modules_gradient_check_can_cover_its_weights_output() -> None:
    """`gradient_outputs: [output, weights]`: the loss of the gradient check covers both, so
    a parameter that only shapes the weights gets a gradient (attention-module's rule)."""
    import numpy as np
    import torch
    from torch import nn

    from attn_drill.grading import harness
    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.problems import TrackSpec

    class Probe(nn.Module):
        def __init__(self, d_model: int) -> None:
            super().__init__()
            self.W_q = nn.Linear(d_model, d_model)
            self.W_k = nn.Linear(d_model, d_model)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            weights = torch.softmax(self.W_k(x) @ x.transpose(-2, -1), dim=-1)
            return self.W_q(x), weights

    rng = np.random.default_rng(0)
    case = ConcreteCase(
        name="one", tags=[], dims={}, inputs={"x": rng.standard_normal((2, 3, 4))},
        init={"d_model": 4}, grad_output=rng.standard_normal((2, 3, 4)),
        params={f"{m}.{p}": rng.standard_normal((4, 4) if p == "weight" else (4,))
                for m in ("W_q", "W_k") for p in ("weight", "bias")})

    def grads(**extra: object) -> set[str]:
        spec = TrackSpec(entry="Probe", signature="class Probe(nn.Module)", call="module",
                         outputs=["output", "weights"], starter="", properties=["gradients"],
                         cases=[{"name": "one", "inputs": {"x": [[0.0]]}}], **extra)
        returned = harness.call(Probe, spec, case, "torch", reference=True)
        return {k[5:] for k in returned.arrays if k.startswith("grad:")}

    assert "W_k.weight" not in grads()  # the output alone does not depend on W_k
    assert {"x", "W_q.weight", "W_k.weight", "W_k.bias"} <= grads(
        gradient_outputs=["output", "weights"])


def test_a_declared_input_no_case_has_is_a_pack_error(tmp_path: Path) -> None:
    pack = _probe_pack(tmp_path, "numpy")
    path = pack / "problems" / "input-kinds.yaml"
    path.write_text(path.read_text().replace("key_lengths: {role: lengths}",
                                             "key_lenghts: {role: lengths}"))
    with pytest.raises(PackError) as caught:
        load_pack(pack)
    assert "key_lenghts" in caught.value.message and "(line " in caught.value.message
