"""validate: the built-in pack is sound, and a broken pack is reported (exit 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attn_drill.cli import app
from attn_drill.grading.validate import validate_pack
from attn_drill.problems import builtin_problems
from tests.conftest import HAS_TORCH, run_cli
from tests.test_packs import NEW_ID, NEW_STEM, make_pack

runner = CliRunner()


@pytest.fixture(scope="module")
def builtin_result():
    return validate_pack(None)


def test_builtin_pack_is_valid(builtin_result) -> None:
    bad = [(i.problem, i.track, i.subject, i.message) for i in builtin_result.items if not i.ok]
    assert builtin_result.ok, bad


def test_every_shipped_mutant_fails_and_is_diagnosed_as_itself(builtin_result) -> None:
    checked = {(i.problem, i.track, i.subject) for i in builtin_result.items
               if i.ok and i.subject.startswith("mutant ")}
    for problem in builtin_problems().values():
        for track, spec in problem.tracks.items():
            if track == "torch" and not HAS_TORCH:
                continue
            for mutant in spec.mutants:
                subject = f"mutant {mutant.name} ({mutant.misconception})"
                assert (problem.id, track, subject) in checked, subject


def test_every_reference_passes_every_check(builtin_result) -> None:
    passed = {(i.problem, i.track) for i in builtin_result.items
              if i.ok and i.subject == "reference passes every check"}
    for problem in builtin_problems().values():
        for track in problem.tracks:
            if track == "text" or (track == "torch" and not HAS_TORCH):
                continue
            assert (problem.id, track) in passed


def _softmax_pack(tmp_path: Path) -> Path:
    """A pack holding a copy of softmax under its own id (a clash with the built-in one
    would be a finding of its own)."""
    return make_pack(tmp_path, quiz=False)


def test_copied_pack_validates(tmp_path: Path) -> None:
    assert validate_pack(_softmax_pack(tmp_path)).ok


def test_harmless_and_mislabelled_mutants_are_found(tmp_path: Path) -> None:
    pack = _softmax_pack(tmp_path)
    mutants = pack / "mutants" / f"{NEW_STEM}_numpy.py"
    mutants.write_text(mutants.read_text() + (
        "\n\ndef actually_correct(x, axis=-1):\n"
        "    e = np.exp(x - x.max(axis=axis, keepdims=True))\n"
        "    return e / e.sum(axis=axis, keepdims=True)\n"))
    yaml_path = pack / "problems" / f"{NEW_ID}.yaml"
    text = yaml_path.read_text()
    text = text.replace(
        "      - {name: in_place, misconception: mutates-input}",
        "      - {name: in_place, misconception: global-normalisation}\n"
        "      - {name: actually_correct, misconception: unstable-softmax}\n"
        "      - {name: not_defined, misconception: unstable-softmax}")
    yaml_path.write_text(text)
    result = validate_pack(pack)
    assert not result.ok
    found = {i.subject: i.message for i in result.items if not i.ok}
    assert "passes every check" in found["mutant actually_correct (unstable-softmax)"]
    assert "diagnosed as mutates-input" in found["mutant in_place (global-normalisation)"]
    assert "not defined" in found["mutant not_defined (unstable-softmax)"]


def test_schema_errors_and_a_wrong_reference_are_reported(tmp_path: Path) -> None:
    pack = _softmax_pack(tmp_path)
    (pack / "problems" / "broken.yaml").write_text("id: broken\ntitle: [unclosed\n")
    reference = pack / "solutions" / f"{NEW_STEM}_numpy.py"
    reference.write_text(reference.read_text().replace(
        "return exps / np.sum(exps, axis=axis, keepdims=True)",
        "return exps / np.sum(exps, axis=axis, keepdims=True) + 1e-3"))
    result = validate_pack(pack)
    subjects = {(i.problem, i.subject): i for i in result.items}
    assert not subjects[("broken", "schema")].ok
    assert not subjects[(NEW_ID, "reference passes every check")].ok


def test_property_without_cases_or_diagnosis_id_is_reported(tmp_path: Path) -> None:
    pack = _softmax_pack(tmp_path)
    yaml_path = pack / "problems" / f"{NEW_ID}.yaml"
    yaml_path.write_text(yaml_path.read_text().replace(
        "properties: [no-mutation, stability, sums-to-one]",
        "properties: [no-mutation, stability, sums-to-one, batch-dims]"))
    result = validate_pack(pack)
    messages = " | ".join(i.message for i in result.items if not i.ok)
    assert "no case is tagged 'batched'" in messages
    assert "'no-batch-dims'" in messages


def test_cli_validate_exit_codes(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["validate", str(_softmax_pack(tmp_path / "a"))])
    assert ok.exit_code == 0, ok.output
    assert "Pack OK" in ok.output
    broken = _softmax_pack(tmp_path / "b")
    (broken / "problems" / "broken.yaml").write_text("id: [\n")
    bad = runner.invoke(app, ["validate", str(broken), "--json"])
    assert bad.exit_code == 1
    document = json.loads(bad.stdout)
    assert document["ok"] is False and document["problems_found"] >= 1
    missing = runner.invoke(app, ["validate", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    not_a_pack = runner.invoke(app, ["validate", str(tmp_path)])
    assert not_a_pack.exit_code == 2
    assert "Traceback" not in missing.output + not_a_pack.output


def test_validate_as_a_real_process(tmp_path: Path) -> None:
    result = run_cli("validate", str(_softmax_pack(tmp_path)), "--json")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is True and document["checked"] >= 6
