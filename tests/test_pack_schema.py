"""The problem pack's schema: broken YAMLs are reported by file and field; the built-in pack
is complete and follows the contract (ids, curriculum, graded shapes, starters, references)."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from attn_drill.cli import app
from attn_drill.errors import PackError
from attn_drill.problems import BUILTIN_PACK, builtin_problems, load_pack

CANONICAL_IDS = {
    "missing-scale", "scale-not-sqrt", "scale-by-d-model", "softmax-wrong-axis",
    "unstable-softmax", "global-normalisation", "mask-after-softmax", "inverted-mask",
    "mask-tiny-fill", "ignores-mask", "causal-future-leak", "heads-no-transpose",
    "heads-interleaved", "missing-output-projection", "missing-bias", "returns-weights",
    "swapped-outputs", "no-batch-dims", "mutates-input", "no-gradient",
    "cross-kv-from-decoder", "additive-no-tanh", "rounded-output",
    "dropout-in-train",  # added: dropout left on in the graded module (train-mode outputs)
    # added: half-right variants recognised from partial evidence (grading/diagnosis.py)
    "missing-keepdims", "max-sum-axes-differ", "causal-off-by-one",
}

# CONTRACT.md "Core problems": id -> (tracks, entry, curriculum order)
CORE = {
    "softmax": ({"numpy"}, "softmax", 10),
    "scaled-dot-product-attention": ({"numpy", "torch"}, "scaled_dot_product_attention", 20),
    "self-attention": ({"numpy"}, "self_attention", 30),
    "causal-attention": ({"numpy", "torch"}, "causal_attention", 40),
    "cross-attention": ({"numpy"}, "cross_attention", 50),
    "additive-attention": ({"numpy"}, "additive_attention", 55),
    "multi-head-attention": ({"numpy"}, "multi_head_attention", 60),
    "self-attention-module": ({"torch"}, "SelfAttention", 70),
}
BATCHED = {"scaled-dot-product-attention", "causal-attention", "cross-attention",
           "additive-attention", "multi-head-attention"}
MASKED = {"scaled-dot-product-attention", "multi-head-attention", "self-attention-module"}


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
    edit(path, lambda d: d["misconceptions"].append(dict(d["misconceptions"][0])))
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


def test_core_problems_follow_the_contract() -> None:
    problems = builtin_problems()
    for problem_id, (tracks, entry, order) in CORE.items():
        problem = problems[problem_id]
        assert set(problem.tracks) == tracks, problem_id
        assert problem.order == order, problem_id
        for spec in problem.tracks.values():
            assert spec.entry == entry, problem_id
            assert entry in spec.signature
    assert problems["self-attention-module"].tracks["torch"].call == "module"
    orders = [p.order for p in problems.values()]
    assert orders == sorted(orders)


PROBLEM_IDS = list(CORE)


@pytest.mark.parametrize("problem_id", PROBLEM_IDS)
def test_problem_is_complete_and_bilingual(problem_id: str) -> None:
    problem = builtin_problems()[problem_id]
    assert problem.going_further is not None
    assert len(problem.hints) >= 3 and problem.examples and problem.misconceptions
    texts = [problem.title, problem.statement, problem.shapes, problem.constraints,
             problem.going_further, *problem.hints,
             *(e.explanation for e in problem.examples),
             *(m.title for m in problem.misconceptions),
             *(m.explanation for m in problem.misconceptions)]
    for text in texts:
        assert text.en.strip() and text.zh.strip()
        assert any("\u4e00" <= ch <= "\u9fff" for ch in text.zh), text.zh
    ids = [m.id for m in problem.misconceptions]
    assert len(ids) == len(set(ids))
    assert set(ids) <= CANONICAL_IDS, set(ids) - CANONICAL_IDS
    for m in problem.misconceptions:
        # no hint teaches these: they are about how the code treats its data, not the maths
        if m.id not in {"mutates-input", "no-gradient", "dropout-in-train", "rounded-output"}:
            assert m.hint is not None, f"{problem_id}: {m.id} points at no hint"


@pytest.mark.parametrize("problem_id", PROBLEM_IDS)
def test_tracks_have_files_starters_and_outputs(problem_id: str) -> None:
    problem = builtin_problems()[problem_id]
    for track, spec in problem.tracks.items():
        reference = problem.reference_path(track)
        mutants = problem.mutants_path(track)
        assert reference.is_file() and mutants.is_file(), (reference, mutants)
        defined = _top_level_names(reference.read_text(encoding="utf-8"))
        assert spec.entry in defined, f"{reference} does not define {spec.entry}"
        starter_names = _top_level_names(spec.starter)
        assert spec.entry in starter_names, f"{problem_id}/{track}: starter lacks {spec.entry}"
        assert "raise NotImplementedError" in spec.starter and "TODO" in spec.starter
        assert set(spec.output_dims) == set(spec.outputs), problem_id
        names = [c.name for c in spec.cases]
        assert len(names) == len(set(names)), f"{problem_id}/{track}: duplicate case names"
        assert any(not c.random for c in spec.cases), "no small fixed case"
        assert any(c.is_random for c in spec.cases), "no random case"


def _top_level_names(source: str) -> set[str]:
    tree = ast.parse(source)
    return {
        node.name for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef))
    }


@pytest.mark.parametrize("problem_id", sorted(BATCHED | MASKED | {"self-attention"}))
def test_graded_inputs_follow_the_contract(problem_id: str) -> None:
    """Random cases: d_k >= 16, distinct widths, n != m where allowed; batched and masked cases."""
    problem = builtin_problems()[problem_id]
    for track, spec in problem.tracks.items():
        random_cases = [c for c in spec.cases if c.random]
        for case in random_cases:
            dims = case.dims
            if "d_k" in dims:
                assert dims["d_k"] >= 16, (problem_id, case.name)
            heads = case.args.get("num_heads") or case.init.get("n_heads")
            if heads:
                assert dims["d_model"] // heads >= 16, (problem_id, case.name)
        if problem_id in BATCHED:
            assert any("batched" in c.tags for c in random_cases), (problem_id, track)
            assert any("batched" not in c.tags for c in random_cases), (problem_id, track)
        if problem_id in MASKED:
            assert any("mask" in c.tags for c in random_cases), (problem_id, track)
            assert any("mask" not in c.tags for c in random_cases), (problem_id, track)
        for case in spec.cases:
            assert ("mask" in case.inputs or "mask" in case.random) == ("mask" in case.tags), (
                problem_id, case.name)
        if problem_id not in {"multi-head-attention", "self-attention-module"}:
            # Some case has every width different (d_model / d_q / d_dec vs d_k vs d_v).
            width_names = ("d_model", "d_q", "d_dec", "d_k", "d_v")
            widths = [[d for k, d in c.dims.items() if k in width_names] for c in random_cases]
            assert any(len(w) >= 2 and len(set(w)) == len(w) for w in widths), widths
    if problem_id in {"scaled-dot-product-attention", "cross-attention"}:
        spec = next(iter(problem.tracks.values()))
        assert any(
            c.dims.get("n", c.dims.get("n_dec")) != c.dims.get("m", c.dims.get("n_enc"))
            for c in spec.cases if c.is_random
        )


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
