"""The problem pack's schema: broken YAMLs are reported by file and field; the built-in pack
is complete and follows the contract (ids, curriculum, graded shapes, starters, references)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from attn_drill.cli import app
from attn_drill.errors import PackError
from attn_drill.problems import BUILTIN_PACK, builtin_problems, load_pack
from tests.conftest import HAS_TORCH

PACK = builtin_problems()
PROBLEM_IDS = list(PACK)
CODE_TRACKS = [(p.id, t) for p in PACK.values() for t in p.tracks if t != "text"]


# -- broken packs -----------------------------------------------------------------------------


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    """A private copy of the built-in pack that a test may break."""
    target = tmp_path / "pack"
    shutil.copytree(BUILTIN_PACK, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def edit(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def load_error(pack_dir: Path) -> str:
    with pytest.raises(PackError) as caught:
        load_pack(pack_dir)
    return caught.value.message


def test_copy_of_builtin_pack_loads(pack: Path) -> None:
    assert set(load_pack(pack)) == set(builtin_problems())


def test_bad_yaml_syntax_names_file_and_line(pack: Path) -> None:
    path = pack / "problems" / "causal-attention.yaml"
    path.write_text("id: causal-attention\n  title: misplaced\n", encoding="utf-8")
    message = load_error(pack)
    assert str(path) in message
    assert "line 2" in message


def test_missing_field_names_file_and_field(pack: Path) -> None:
    path = pack / "problems" / "cross-attention.yaml"
    edit(path, lambda d: d.pop("formula"))
    message = load_error(pack)
    assert str(path) in message
    assert "formula" in message


def test_missing_nested_field_names_its_path(pack: Path) -> None:
    path = pack / "problems" / "multi-head-attention.yaml"
    edit(path, lambda d: d["hints"][1].pop("zh"))
    message = load_error(pack)
    assert str(path) in message
    assert "hints.1.zh" in message


def test_wrong_type_names_file_and_field(pack: Path) -> None:
    path = pack / "problems" / "self-attention.yaml"
    edit(path, lambda d: d.update(order="thirty"))
    message = load_error(pack)
    assert str(path) in message
    assert "order" in message


def test_wrong_type_inside_a_case_names_the_case_field(pack: Path) -> None:
    path = pack / "problems" / "additive-attention.yaml"
    edit(path, lambda d: d["tracks"]["numpy"]["cases"][2]["dims"].update(m="seven"))
    message = load_error(pack)
    assert str(path) in message
    assert "tracks.numpy.cases.2.dims.m" in message


def test_unknown_field_is_rejected(pack: Path) -> None:
    path = pack / "problems" / "softmax.yaml"
    edit(path, lambda d: d.update(dificulty="easy"))
    message = load_error(pack)
    assert str(path) in message
    assert "dificulty" in message


def test_duplicate_problem_id_is_rejected(pack: Path) -> None:
    # A second file claiming an existing id: the id must match the file name, so two files
    # can never both define "softmax".
    copy = pack / "problems" / "softmax-again.yaml"
    shutil.copy(pack / "problems" / "softmax.yaml", copy)
    message = load_error(pack)
    assert str(copy) in message
    assert "id 'softmax'" in message


def test_duplicate_misconception_id_is_rejected(pack: Path) -> None:
    path = pack / "problems" / "scaled-dot-product-attention.yaml"
    edit(path, lambda d: d["misconceptions"].append(
        dict(next(m for m in d["misconceptions"] if m["id"] == "missing-scale"))))
    message = load_error(pack)
    assert str(path) in message
    assert "misconceptions" in message and "missing-scale" in message


def test_mutant_with_unknown_misconception_names_file_track_and_id(pack: Path) -> None:
    path = pack / "problems" / "causal-attention.yaml"
    edit(path, lambda d: d["tracks"]["torch"]["mutants"][0].update(misconception="peeks-ahead"))
    message = load_error(pack)
    assert str(path) in message
    assert "tracks.torch" in message and "peeks-ahead" in message


def test_unknown_track_is_rejected(pack: Path) -> None:
    path = pack / "problems" / "cross-attention.yaml"
    edit(path, lambda d: d["tracks"].update(jax=d["tracks"]["numpy"]))
    message = load_error(pack)
    assert str(path) in message
    assert "tracks.jax" in message


def test_hint_pointer_past_the_last_hint_is_rejected(pack: Path) -> None:
    path = pack / "problems" / "self-attention-module.yaml"
    edit(path, lambda d: d["misconceptions"][0].update(hint=9))
    message = load_error(pack)
    assert str(path) in message
    assert "hint 9" in message


def test_case_without_inputs_is_rejected(pack: Path) -> None:
    path = pack / "problems" / "self-attention.yaml"
    edit(path, lambda d: d["tracks"]["numpy"]["cases"][0].pop("inputs"))
    message = load_error(pack)
    assert str(path) in message
    assert "tracks.numpy.cases.0" in message


def test_broken_pack_is_a_usage_error_for_the_cli(pack: Path) -> None:
    from attn_drill.errors import ExitCode

    (pack / "problems" / "softmax.yaml").write_text("id: [\n", encoding="utf-8")
    with pytest.raises(PackError) as caught:
        load_pack(pack)
    assert caught.value.exit_code == ExitCode.USAGE


# -- the built-in pack ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validation() -> Any:
    from attn_drill.grading.validate import validate_pack

    return validate_pack(None)


def test_curriculum_order_and_entries_fit_each_track() -> None:
    orders = [p.order for p in PACK.values()]
    assert orders == sorted(orders) and len(set(orders)) == len(orders)
    for problem in PACK.values():
        for spec in problem.tracks.values():
            if spec.call != "text":
                assert spec.entry in spec.signature, problem.id
            assert (spec.call == "module") == spec.entry[:1].isupper(), problem.id


@pytest.mark.parametrize("problem_id", PROBLEM_IDS)
def test_every_pack_rule_holds_for_the_problem(validation: Any, problem_id: str) -> None:
    """The rules live in `validate`; here each built-in problem is seen to pass each one."""
    items = [i for i in validation.items if i.problem == problem_id]
    assert items and all(i.ok for i in items), [i for i in items if not i.ok]
    rules = {(i.track, i.rule) for i in items}
    assert {("", "schema"), ("", "bilingual-text"), ("", "hints"),
            ("", "canonical-ids")} <= rules
    for track in PACK[problem_id].tracks:
        if track == "text" or (track == "torch" and not HAS_TORCH):
            continue
        assert {(track, "starter"), (track, "cases"), (track, "reference")} <= rules
        if PACK[problem_id].tracks[track].mutants:
            assert (track, "mutant") in rules


@pytest.mark.parametrize("problem_id", PROBLEM_IDS)
def test_builtin_problems_go_further_and_point_misconceptions_at_hints(
        problem_id: str) -> None:
    """The built-in pack's own policy (beyond what validate asks of any pack)."""
    problem = PACK[problem_id]
    assert problem.going_further is not None and problem.examples and problem.misconceptions
    for m in problem.misconceptions:
        # no hint teaches these: they are about how the code treats its data, not the maths
        if m.id not in {"mutates-input", "no-gradient", "dropout-in-train", "rounded-output",
                        "uses-builtin"} \
                and "text" not in problem.tracks:
            assert m.hint is not None, f"{problem_id}: {m.id} points at no hint"


@pytest.mark.parametrize("problem_id,track", CODE_TRACKS)
def test_graded_inputs_follow_the_contract(problem_id: str, track: str) -> None:
    """Random cases: d_k >= 16, distinct widths, n != m where both exist; a batched or
    masked case always has a plain one beside it."""
    spec = PACK[problem_id].tracks[track]
    random_cases = [c for c in spec.cases if c.random]
    for case in random_cases:
        if "d_k" in case.dims:
            assert case.dims["d_k"] >= 16, case.name
        heads = case.args.get("num_heads") or case.init.get("n_heads")
        if heads:
            assert case.dims["d_model"] // heads >= 16, case.name
    for tag in ("batched", "mask"):
        if any(tag in c.tags for c in random_cases):
            assert any(tag not in c.tags for c in random_cases), tag
    for case in spec.cases:
        assert ("mask" in case.inputs or "mask" in case.random) == ("mask" in case.tags), (
            case.name)
    width_names = ("d_model", "d_q", "d_dec", "d_k", "d_v")
    headless = [c for c in random_cases if not (c.args.get("num_heads") or c.init.get("n_heads"))]
    widths = [[d for k, d in c.dims.items() if k in width_names] for c in headless]
    if any(len(w) >= 2 for w in widths):
        assert any(len(w) >= 2 and len(set(w)) == len(w) for w in widths), widths
    pairs = [(c.dims.get("n", c.dims.get("n_dec")), c.dims.get("m", c.dims.get("n_enc")))
             for c in random_cases]
    pairs = [(n, m) for n, m in pairs if n is not None and m is not None]
    if pairs:
        assert any(n != m for n, m in pairs), pairs


def test_sdpa_masks_cover_the_graded_shapes() -> None:
    spec = builtin_problems()["scaled-dot-product-attention"].tracks["numpy"]
    shapes = {tuple(c.random["mask"].shape) for c in spec.cases if "mask" in c.random}
    assert ("n", "m") in shapes
    assert any(len(s) == 3 for s in shapes)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("problem_id", PROBLEM_IDS)
def test_show_renders_every_track(problem_id: str, lang: str) -> None:
    runner = CliRunner()
    for track in builtin_problems()[problem_id].tracks:
        result = runner.invoke(app, ["show", problem_id, "--track", track, "--lang", lang])
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
