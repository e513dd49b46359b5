"""The breadth problems from the seed notes: their references against independent oracles,
their content, and real grades through the isolated child.

Oracles: nn.LayerNorm; an RMSNorm written from the Llama formula; the positional encoding
from the paper's formula, one entry at a time; nn.TransformerEncoderLayer (norm_first True
and False, dropout 0) with the reference's weights copied in; seed 000's module written
out with explicit loops; a dense attention built from the sparse pattern's mask.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attn_drill.grading import harness
from attn_drill.grading.cases import build_cases
from attn_drill.problems import builtin_problems
from tests.conftest import needs_torch, run_cli
from tests.test_references import (  # one copy of the oracle helpers
    assert_close,
    problem,
    reference,
    run_reference,
)

SEEDS = (0, 3)

CODE_PROBLEMS = ["attention-module", "positional-encoding", "layer-norm", "rms-norm",
                 "transformer-block", "sparse-attention"]
TEXT_PROBLEMS = ["explain-attention-formula", "explain-softmax-role"]






def graded_cases(problem_id: str, track: str) -> list[Any]:
    spec = problem(problem_id).tracks[track]
    return [case for seed in SEEDS for case in build_cases(spec, seed=seed)]






def eps_of(case: Any, default: float) -> float:
    if "eps" in case.inputs:
        return float(case.inputs["eps"])
    return float(case.args.get("eps", default))


# -- layer-norm: nn.LayerNorm ---------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("track", ["numpy", "torch"])
def test_layer_norm_matches_nn_layer_norm(track: str) -> None:
    import torch

    cases = graded_cases("layer-norm", track)
    eps_values = {eps_of(c, 1e-5) for c in cases}
    assert max(eps_values) >= 0.1 and 1e-5 in eps_values
    assert {c.inputs["x"].ndim for c in cases} == {2, 3, 4}
    assert any(c.inputs["x"].var(axis=-1).max() < 1e-4 for c in cases), "no tiny-variance rows"
    assert any("eps" in c.inputs for c in cases), "eps is never passed by position"
    for case in cases:
        x, gamma, beta = (case.inputs[k] for k in ("x", "gamma", "beta"))
        norm = torch.nn.LayerNorm(x.shape[-1], eps=eps_of(case, 1e-5), dtype=torch.float64)
        with torch.no_grad():
            norm.weight.copy_(torch.from_numpy(gamma))
            norm.bias.copy_(torch.from_numpy(beta))
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        out = norm(xt)
        got = run_reference("layer-norm", track, case)
        assert_close(got.arrays["output"], out.detach().numpy(), f"{track} {case.name}")
        if track == "torch":
            upstream = torch.from_numpy(harness.grad_output_for(tuple(out.shape)))
            (out * upstream).sum().backward()
            assert_close(got.arrays["grad:x"], xt.grad.numpy(), f"{case.name}: grad x")
            assert_close(got.arrays["grad:gamma"], norm.weight.grad.numpy(), "grad gamma")
            assert_close(got.arrays["grad:beta"], norm.bias.grad.numpy(), "grad beta")


# -- rms-norm: the Llama formula, written out ------------------------------------------------


def llama_rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    """Llama's RMSNorm, one vector at a time: x · (Σ x_i² / d + ε)^(-1/2) · weight."""
    out = np.empty_like(x)
    for index in np.ndindex(*x.shape[:-1]):
        row = [float(v) for v in x[index]]
        scale = (sum(v * v for v in row) / len(row) + eps) ** -0.5
        out[index] = [v * scale * float(w) for v, w in zip(row, weight, strict=True)]
    return out


@pytest.mark.parametrize("track", ["numpy", pytest.param("torch", marks=needs_torch)])
def test_rms_norm_matches_the_llama_formula(track: str) -> None:
    cases = graded_cases("rms-norm", track)
    assert max(eps_of(c, 1e-6) for c in cases) >= 0.1
    assert {c.inputs["x"].ndim for c in cases} == {2, 3, 4}
    assert any((c.inputs["x"] ** 2).mean(axis=-1).max() < 1e-4 for c in cases)
    for case in cases:
        want = llama_rms_norm(case.inputs["x"], case.inputs["weight"], eps_of(case, 1e-6))
        got = run_reference("rms-norm", track, case)
        assert_close(got.arrays["output"], want, f"{track} {case.name}")


@needs_torch
def test_rms_norm_gradients_match_nn_rms_norm() -> None:
    import torch

    for case in graded_cases("rms-norm", "torch"):
        x, weight = case.inputs["x"], case.inputs["weight"]
        norm = torch.nn.RMSNorm(x.shape[-1], eps=eps_of(case, 1e-6), dtype=torch.float64)
        with torch.no_grad():
            norm.weight.copy_(torch.from_numpy(weight))
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        out = norm(xt)
        (out * torch.from_numpy(harness.grad_output_for(tuple(out.shape)))).sum().backward()
        got = run_reference("rms-norm", "torch", case)
        assert_close(got.arrays["output"], out.detach().numpy(), case.name)
        assert_close(got.arrays["grad:x"], xt.grad.numpy(), f"{case.name}: grad x")
        assert_close(got.arrays["grad:weight"], norm.weight.grad.numpy(), f"{case.name}: grad w")


# -- positional-encoding: the paper's formula, entry by entry ---------------------------------


def paper_pe(n: int, d_model: int, base: float) -> np.ndarray:
    """PE(pos, 2i) = sin(pos / base^(2i/d_model)), PE(pos, 2i+1) = cos(pos / base^(2i/d_model))."""
    table = np.zeros((n, d_model))
    for pos in range(n):
        for i in range(d_model // 2):
            angle = pos / base ** (2 * i / d_model)
            table[pos, 2 * i] = math.sin(angle)
            table[pos, 2 * i + 1] = math.cos(angle)
    return table


def test_positional_encoding_matches_the_paper_formula() -> None:
    cases = graded_cases("positional-encoding", "numpy")
    bases = set()
    for case in cases:
        n, d_model = int(case.inputs["n"]), int(case.inputs["d_model"])
        base = float(case.inputs["base"]) if "base" in case.inputs else float(
            case.args.get("base", 10000.0))
        bases.add(base)
        got = run_reference("positional-encoding", "numpy", case)
        # Angles up to n ≈ 1000 radians: float64 rounding of the angle alone is ~1e-13.
        np.testing.assert_allclose(got.arrays["output"], paper_pe(n, d_model, base),
                                   rtol=0, atol=1e-10, err_msg=case.name)
    assert {10000.0, 100.0, 500.0} <= bases
    assert any("base" in c.inputs for c in cases) and any("base" in c.args for c in cases)


def test_positional_encoding_receives_plain_ints() -> None:
    """`n` and `d_model` reach the submission as Python ints (np.zeros((n, d)) must work),
    and a position list stays a list: the track declares them as options."""
    seen: dict[str, type] = {}

    def spy(n: Any, d_model: Any, base: Any = 10000.0) -> np.ndarray:
        seen.update(n=type(n), d_model=type(d_model), base=type(base))
        return np.zeros((n, d_model))

    spec = problem("positional-encoding").tracks["numpy"]
    case = next(c for c in build_cases(spec) if "base" in c.inputs)
    harness.call(spy, spec, case, "numpy")
    assert seen == {"n": int, "d_model": int, "base": float}


# -- attention-module: torch's fused attention on the same projections ------------------------


@needs_torch
def test_attention_module_matches_fused_attention_with_gradients() -> None:
    """Output, weights (attention with V = I) and every gradient of the loss the grader uses
    (output and weights both), from F.scaled_dot_product_attention in float64."""
    import torch
    import torch.nn.functional as F

    cases = graded_cases("attention-module", "torch")
    assert {c.inputs["x"].ndim for c in cases} == {2, 3, 4}
    for case in cases:
        params = {k: torch.from_numpy(v.copy()).requires_grad_(True)
                  for k, v in case.params.items()}
        assert all(np.abs(case.params[f"{n}.bias"]).max() > 0 for n in ("W_q", "W_k", "W_v"))
        x = torch.from_numpy(case.inputs["x"].copy()).requires_grad_(True)
        q, k, v = (F.linear(x, params[f"{n}.weight"], params[f"{n}.bias"])
                   for n in ("W_q", "W_k", "W_v"))
        seq = x.shape[-2]
        eye = torch.eye(seq, dtype=torch.float64).expand(*x.shape[:-2], seq, seq)
        out = F.scaled_dot_product_attention(q, k, v)  # scale 1/√d_model: one head
        weights = F.scaled_dot_product_attention(q, k, eye)
        loss = (out * torch.from_numpy(case.grad_output)).sum() + (weights * torch.from_numpy(
            harness.grad_output_for(tuple(weights.shape)))).sum()
        loss.backward()
        got = run_reference("attention-module", "torch", case)
        assert_close(got.arrays["output"], out.detach().numpy(), f"{case.name}: output")
        assert_close(got.arrays["weights"], weights.detach().numpy(), f"{case.name}: weights")
        assert_close(got.arrays["grad:x"], x.grad.numpy(), f"{case.name}: grad x")
        for name, tensor in params.items():
            assert_close(got.arrays[f"grad:{name}"], tensor.grad.numpy(), f"grad {name}")


# -- sparse-attention: dense attention under a mask built from the pattern's definition -------


def sparse_pattern_by_sets(n: int, window: int, global_tokens: list[int]) -> np.ndarray:
    """The allowed pairs, one query at a time, straight from the definition."""
    mask = np.zeros((n, n), dtype=bool)
    globals_ = set(global_tokens)
    for i in range(n):
        keys = {j for j in range(n) if abs(i - j) <= window} | globals_
        if i in globals_:
            keys = set(range(n))
        for j in keys:
            mask[i, j] = True
    return mask


@needs_torch
def test_sparse_attention_matches_masked_dense_attention() -> None:
    import torch
    import torch.nn.functional as F

    cases = graded_cases("sparse-attention", "numpy")
    windows = {int(c.inputs["window"]) for c in cases}
    assert 0 in windows and any(w >= c.inputs["Q"].shape[-2] for c in cases
                                for w in [int(c.inputs["window"])])
    assert any(c.inputs["global_tokens"].size == 0 for c in cases)
    assert {c.inputs["Q"].ndim for c in cases} == {2, 3, 4}
    for case in cases:
        Q, K, V = (case.inputs[k] for k in ("Q", "K", "V"))
        n = Q.shape[-2]
        mask = sparse_pattern_by_sets(n, int(case.inputs["window"]),
                                      case.inputs["global_tokens"].tolist())
        q, k, v = (torch.from_numpy(a) for a in (Q, K, V))
        attn_mask = torch.from_numpy(mask)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        eye = torch.eye(n, dtype=torch.float64).expand(*Q.shape[:-2], n, n)
        weights = F.scaled_dot_product_attention(q, k, eye, attn_mask=attn_mask)
        got = run_reference("sparse-attention", "numpy", case)
        assert_close(got.arrays["output"], out.numpy(), f"{case.name}: output")
        assert_close(got.arrays["weights"], weights.numpy(), f"{case.name}: weights")
        assert np.all(got.arrays["weights"][..., ~mask] == 0.0), case.name


def test_sparse_attention_gets_a_list_and_a_changed_list_is_a_mutation() -> None:
    """`global_tokens` arrives as a Python list; appending to it is reported like any other
    in-place edit of an input."""
    from attn_drill.grading.checks import CaseOutcome, Evaluation, compute_references
    from attn_drill.grading.properties import check_no_mutation

    p = problem("sparse-attention")
    spec = p.tracks["numpy"]
    correct = reference("sparse-attention", "numpy")
    received: list[type] = []

    def appends(Q: Any, K: Any, V: Any, window: Any, global_tokens: Any) -> Any:
        received.append(type(global_tokens))
        result = correct(Q, K, V, window, global_tokens)
        global_tokens.append(0)
        return result

    cases = build_cases(spec)
    outcomes = {c.name: CaseOutcome(returned=harness.call(appends, spec, c, "numpy"))
                for c in cases}
    assert set(received) == {list}
    ev = Evaluation(problem=p, track="numpy", spec=spec, seed=0, cases=cases, derived={},
                    outcomes=outcomes, references=compute_references(p, "numpy", cases))
    result = check_no_mutation(ev)
    assert not result.passed and "global_tokens" in str(result.message)


# -- transformer-block: nn.TransformerEncoderLayer with the reference's weights copied in -----


def encoder_layer_oracle(case: Any, x_value: np.ndarray,
                         grad_output: np.ndarray | None) -> dict[str, np.ndarray]:
    """nn.TransformerEncoderLayer (ReLU, dropout 0, batch_first) with the case's weights:
    W_q, W_k, W_v stacked into in_proj, W_o -> out_proj, ff1/ff2 -> linear1/linear2,
    ln1/ln2 -> norm1/norm2. Our mask (non-zero = may attend) becomes torch's boolean
    src_mask (True = blocked), one (seq, seq) mask per (batch element, head)."""
    import torch

    init, params = case.init, case.params
    layer = torch.nn.TransformerEncoderLayer(
        init["d_model"], init["n_heads"], dim_feedforward=init["d_ff"], dropout=0.0,
        activation="relu", batch_first=True, norm_first=init["norm_first"],
        dtype=torch.float64)
    layer.train()  # dropout is 0; train mode also keeps torch off its fused fast path

    def t(name: str) -> torch.Tensor:
        return torch.from_numpy(params[name].copy())

    names = {
        "self_attn.in_proj_weight": [f"attn.W_{k}.weight" for k in "qkv"],
        "self_attn.in_proj_bias": [f"attn.W_{k}.bias" for k in "qkv"],
        "self_attn.out_proj.weight": ["attn.W_o.weight"],
        "self_attn.out_proj.bias": ["attn.W_o.bias"],
        "linear1.weight": ["ff1.weight"], "linear1.bias": ["ff1.bias"],
        "linear2.weight": ["ff2.weight"], "linear2.bias": ["ff2.bias"],
        "norm1.weight": ["ln1.weight"], "norm1.bias": ["ln1.bias"],
        "norm2.weight": ["ln2.weight"], "norm2.bias": ["ln2.bias"],
    }
    torch_params = dict(layer.named_parameters())
    with torch.no_grad():
        for torch_name, ours in names.items():
            torch_params[torch_name].copy_(torch.cat([t(n) for n in ours]))
    x = torch.from_numpy(x_value.copy()).requires_grad_(True)
    src_mask = None
    if "mask" in case.inputs:
        mask = case.inputs["mask"] != 0
        batch, seq = x_value.shape[0], x_value.shape[-2]
        full = np.broadcast_to(mask, (batch, init["n_heads"], seq, seq))
        src_mask = ~torch.from_numpy(full.reshape(-1, seq, seq).copy())
    out = layer(x, src_mask=src_mask)
    result = {"output": out.detach().numpy()}
    if grad_output is not None:
        (out * torch.from_numpy(grad_output.reshape(out.shape))).sum().backward()
        result["grad:x"] = x.grad.numpy()
        d = init["d_model"]
        for torch_name, ours in names.items():
            grad = torch_params[torch_name].grad.numpy()
            for index, name in enumerate(ours):
                result[f"grad:{name}"] = grad[index * d:(index + 1) * d] if len(ours) > 1 \
                    else grad
    return result


@needs_torch
def test_transformer_block_matches_nn_transformer_encoder_layer() -> None:
    from attn_drill.grading.harness import eval_input

    cases = graded_cases("transformer-block", "torch")
    assert {c.init["norm_first"] for c in cases} == {True, False}
    assert any(c.inputs["x"].ndim == 2 for c in cases)
    shapes = {c.inputs["mask"].shape[:3] for c in cases if "mask" in c.inputs}
    assert len(shapes) >= 3 and any(c.inputs["mask"].dtype != bool for c in cases
                                    if "mask" in c.inputs)
    for case in cases:
        want = encoder_layer_oracle(case, case.inputs["x"], case.grad_output)
        got = run_reference("transformer-block", "torch", case)
        assert_close(got.arrays["output"], want["output"], f"{case.name}: output")
        want_eval = encoder_layer_oracle(case, eval_input(case.inputs["x"]), None)
        assert_close(got.arrays["output@eval"], want_eval["output"], f"{case.name}: eval")
        grads = [k for k in want if k.startswith("grad:")]
        assert len(grads) == 1 + len(case.params)
        for key in grads:
            assert_close(got.arrays[key], want[key], f"{case.name}: {key}")


# -- the two explain problems: calibration answers ------------------------------------------

ANSWERS = Path(__file__).parent / "fixtures" / "explain_answers"


def answer_files(kind: str) -> list[Any]:
    return [pytest.param(pid, path, id=f"{pid}/{path.name}")
            for pid in TEXT_PROBLEMS for path in sorted((ANSWERS / pid).glob(f"{kind}_*.md"))]


@pytest.mark.parametrize("problem_id", TEXT_PROBLEMS)
def test_calibration_set_is_big_enough_and_names_its_sources(problem_id: str) -> None:
    for kind in ("pass", "fail"):
        for lang in ("en", "zh"):
            files = list((ANSWERS / problem_id).glob(f"{kind}_{lang}_*.md"))
            assert len(files) >= (2 if kind == "pass" else 1), (problem_id, kind, lang)
    files = sorted((ANSWERS / problem_id).glob("*.md"))
    assert len([f for f in files if f.name.startswith("pass_")]) >= 6
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert text.startswith(f"# attn-drill: {problem_id}\n"), path.name
        assert "<!-- calibration: " in text, f"{path.name}: name the kind of source"


@pytest.mark.parametrize(("problem_id", "path"), answer_files("pass"))
def test_good_explanations_pass(problem_id: str, path: Path) -> None:
    from attn_drill.grading.rubric import grade_answer

    rubric = problem(problem_id).rubric
    assert rubric is not None
    for lang in ("en", "zh"):
        result = grade_answer(path.read_text(encoding="utf-8"), rubric, lang)
        assert result.passed, (path.name, result.message, [p.id for p in result.points if p.met])


@pytest.mark.parametrize(("problem_id", "path"), answer_files("fail"))
def test_incomplete_or_reversed_explanations_fail(problem_id: str, path: Path) -> None:
    from attn_drill.grading.rubric import grade_answer

    rubric = problem(problem_id).rubric
    assert rubric is not None
    text = path.read_text(encoding="utf-8")
    result = grade_answer(text, rubric, "en")
    assert not result.passed, (path.name, [p.id for p in result.points if p.met])
    assert result.message
    if "reversed" in text or "wrong way round" in text or "reversed claim" in text:
        assert result.contradicted, f"{path.name}: the reversed claim is not recognised"
    elif "keywords" in path.name:
        assert result.keyword_list
    else:
        missing = [p for p in result.points if not p.met]
        assert missing and all(p.advice for p in missing), path.name


@pytest.mark.parametrize(("problem_id", "reversed_claim", "point", "misconception"), [
    ("explain-attention-formula", "We then multiply the scores by √d_k to make them larger.",
     "unit-variance", None),
    ("explain-attention-formula", "Softmax is taken over the queries, so each column sums to 1.",
     "softmax-rows", "softmax-wrong-axis"),
    ("explain-attention-formula", "最后用权重对 K 加权求和，得到输出。", "weighted-sum-values",
     "keys-as-values"),
    ("explain-softmax-role", "The weights can be negative, which lets a key push the output away.",
     "weights-sum-to-one", "softmax-weights-negative"),
    ("explain-softmax-role", "指数函数缩小了分数之间的差距，让每个键都差不多。", "exp-emphasises",
     "softmax-flattens"),
    ("explain-softmax-role", "Softmax is not differentiable, so it is only used at inference.",
     "differentiable", "softmax-not-differentiable"),
])
def test_one_reversed_claim_sinks_a_model_answer(problem_id: str, reversed_claim: str,
                                                 point: str, misconception: str | None) -> None:
    """The model answer passes; the same answer with one claim turned around fails, the
    report names the contradicted idea, and the misconception is diagnosed."""
    from attn_drill.grading.rubric import grade_answer

    p = problem(problem_id)
    assert p.rubric is not None
    model = (Path(p.pack_dir or ".") / "solutions" / f"{p.module_stem}_text.md").read_text(
        encoding="utf-8")
    assert grade_answer(model, p.rubric, "en").passed
    result = grade_answer(model + "\n\n" + reversed_claim + "\n", p.rubric, "en")
    assert not result.passed and point in result.contradicted, result.contradicted
    if misconception is not None:
        assert p.misconception(misconception) is not None
        assert misconception in result.diagnosis, result.diagnosis


@pytest.mark.parametrize(("problem_id", "honest"), [
    # Counterfactuals and alternatives are not claims about softmax itself.
    ("explain-softmax-role", "Without softmax, using the raw scores, the weights could be "
     "negative and unbounded."),
    ("explain-softmax-role", "如果直接用原始分数当权重，权重会为负。"),
    ("explain-softmax-role", "Unlike a hard argmax, softmax is differentiable everywhere."),
    ("explain-attention-formula", "The softmax is not taken over the columns but over each row."),
])
def test_counterfactuals_are_not_reversed_claims(problem_id: str, honest: str) -> None:
    from attn_drill.grading.rubric import grade_answer

    p = problem(problem_id)
    assert p.rubric is not None
    model = (Path(p.pack_dir or ".") / "solutions" / f"{p.module_stem}_text.md").read_text(
        encoding="utf-8")
    result = grade_answer(model + "\n\n" + honest + "\n", p.rubric, "en")
    assert result.passed and not result.contradicted, result.contradicted


@pytest.mark.parametrize("problem_id", TEXT_PROBLEMS)
def test_stated_pass_mark_matches_the_rubric(problem_id: str) -> None:
    p = problem(problem_id)
    assert p.rubric is not None
    total = sum(point.weight for point in p.rubric.points)
    percent = f"{round(100 * p.rubric.threshold / total)}%"
    assert percent in p.constraints.en and percent in p.constraints.zh
    required = [point for point in p.rubric.points if point.required]
    assert required and len(p.rubric.points) >= 5


@pytest.mark.parametrize("problem_id", TEXT_PROBLEMS)
def test_explain_problem_grades_through_the_cli(problem_id: str, tmp_path: Path) -> None:
    """`start` writes the template (which fails as empty); a good answer passes, by header."""
    result = run_cli("start", problem_id, "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    written = next(tmp_path.iterdir())
    result = run_cli("grade", str(written), "--no-record", "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["passed"] is False
    good = sorted((ANSWERS / problem_id).glob("pass_zh_*.md"))[0]
    target = tmp_path / "answer.md"
    target.write_text(good.read_text(encoding="utf-8"), encoding="utf-8")
    result = run_cli("grade", str(target), "--no-record", "--json", "--lang", "zh")
    document = json.loads(result.stdout)
    assert result.returncode == 0 and document["problem"] == problem_id, document


# -- every new problem: complete, bilingual, in the curriculum -------------------------------


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize("problem_id", CODE_PROBLEMS + TEXT_PROBLEMS)
def test_breadth_problem_is_complete_and_bilingual(problem_id: str) -> None:
    p = problem(problem_id)
    assert p.going_further is not None and p.examples and len(p.hints) >= 3
    texts = [p.title, p.statement, p.shapes, p.constraints, p.going_further, *p.hints,
             *(e.explanation for e in p.examples),
             *(m.title for m in p.misconceptions), *(m.explanation for m in p.misconceptions)]
    for text in texts:
        assert text.en.strip() and text.zh.strip()
        assert _has_chinese(text.zh), text.zh
        assert not _has_chinese(text.en), text.en
    for name, spec in p.tracks.items():
        if name == "text":
            continue
        assert "TODO" in spec.starter and "raise NotImplementedError" in spec.starter
        assert len(spec.mutants) >= 3
        compile(spec.starter, f"{problem_id}-{name}-starter", "exec")


@pytest.mark.parametrize("problem_id", CODE_PROBLEMS)
def test_starter_fails_and_reference_passes_through_the_child(problem_id: str,
                                                               tmp_path: Path) -> None:
    """A real grade in the isolated child: the starter fails, the reference passes."""
    p = problem(problem_id)
    for track, spec in p.tracks.items():
        if track == "torch":
            pytest.importorskip("torch")
        starter = tmp_path / f"starter_{track}.py"
        starter.write_text(f"# attn-drill: {problem_id} track={track}\n" + spec.starter)
        result = run_cli("grade", str(starter), "--no-record", "--json")
        assert result.returncode == 1, result.stderr
        assert json.loads(result.stdout)["passed"] is False
        solution = tmp_path / f"solution_{track}.py"
        solution.write_text(f"# attn-drill: {problem_id} track={track}\n"
                            + p.reference_path(track).read_text(encoding="utf-8"))
        result = run_cli("grade", str(solution), "--no-record", "--json")
        document = json.loads(result.stdout)
        assert result.returncode == 0, document
        assert document["passed"] is True and document["score"] == 1.0


def test_list_shows_the_breadth_problems() -> None:
    result = run_cli("list", "--json")
    assert result.returncode == 0, result.stderr
    listed = {row["id"] for row in json.loads(result.stdout)}
    assert set(CODE_PROBLEMS + TEXT_PROBLEMS) <= listed


def test_curriculum_follows_the_contract() -> None:
    """CONTRACT.md "Curriculum order", restricted to the problems this pack has."""
    contract = [
        "softmax", "scaled-dot-product-attention", "self-attention", "explain-sqrt-dk",
        "explain-attention-formula", "explain-softmax-role", "causal-attention",
        "padded-attention", "cross-attention", "additive-attention", "multi-head-attention",
        "self-attention-module", "attention-module", "positional-encoding", "rope",
        "layer-norm", "rms-norm", "transformer-block", "grouped-query-attention", "kv-cache",
        "sliding-window-attention", "sparse-attention", "flash-attention", "linear-attention",
        "attention-backward",
    ]
    problems = builtin_problems()
    present = [pid for pid in contract if pid in problems]
    orders = [problems[pid].order for pid in present]
    assert orders == sorted(orders) and len(set(orders)) == len(orders), present




def test_explain_sqrt_dk_links_the_lab() -> None:
    p = problem("explain-sqrt-dk")
    assert p.going_further is not None
    for lang in ("en", "zh"):
        assert any("attn-drill lab sqrt-dk" in hint.get(lang) for hint in p.hints)
        assert "attn-drill lab sqrt-dk" in p.going_further.get(lang)


def test_show_draws_the_example_weights_as_a_labelled_matrix() -> None:
    from typer.testing import CliRunner

    from attn_drill.cli import app

    result = CliRunner().invoke(app, ["show", "sparse-attention", "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "row qi = query position i" in result.output
    lines = [line.split() for line in result.output.splitlines()]
    assert ["k1", "k2", "k3", "k4", "k5"] in lines
    assert ["q4", "0.25", "0.00", "0.25", "0.25", "0.25"] in lines  # global token 0 in row 4
    result = CliRunner().invoke(app, ["show", "layer-norm", "--lang", "zh"])
    assert result.exit_code == 0 and "注意力权重" not in result.output


@pytest.mark.parametrize(("output", "expected"), [
    ("output = [[1.0]], weights = [[0.25, 0.75], [1.0, 0.0]]", [[0.25, 0.75], [1.0, 0.0]]),
    ("context = [2.2725, 3.2725], weights = [0.3637, 0.6363]", None),  # one row: no table
    ("[[0.0, 1.0]]", None),
    ("weights = [[0.5, 0.5], [1.0]]", None),
])
def test_example_weights_are_read_from_the_printed_output(output: str, expected: Any) -> None:
    from attn_drill.render.problem import example_weights

    assert example_weights(output) == expected


def test_seed_003_one_directional_global_tokens_are_named_through_a_real_grade(
        tmp_path: Path) -> None:
    """A learner who follows seed 003's wording literally (global tokens see everything,
    nobody sees them) fails, and the report names that misconception."""
    submission = tmp_path / "sparse_attention.py"
    submission.write_text('''import numpy as np


def sparse_attention(Q, K, V, window, global_tokens):
    n = Q.shape[-2]
    pos = np.arange(n)
    allowed = np.abs(pos[:, None] - pos[None, :]) <= window
    for g in global_tokens:
        allowed[g, :] = True  # the global token attends to everything ... and that is all
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    scores = np.where(allowed, scores, -np.inf)
    w = np.exp(scores - scores.max(axis=-1, keepdims=True))
    w = w / w.sum(axis=-1, keepdims=True)
    return w @ V, w
''', encoding="utf-8")
    result = run_cli("grade", str(submission), "--no-record", "--json")
    document = json.loads(result.stdout)
    assert result.returncode == 1 and document["problem"] == "sparse-attention"
    ids = [d["id"] for d in document["diagnosis"]]
    assert ids == ["global-tokens-unseen"], document["diagnosis"]


@pytest.mark.parametrize("problem_id", CODE_PROBLEMS)
def test_every_misconception_has_quiz_questions(problem_id: str) -> None:
    """A diagnosis makes the related questions due: each misconception must have some."""
    from attn_drill.quiz.bank import load_bank

    concepts = {c for entry in load_bank().entries for c in entry.question.concepts}
    # uses-builtin is a rule of the exercise, not a concept to review
    missing = [m.id for m in problem(problem_id).misconceptions
               if m.id not in concepts and m.id != "uses-builtin"]
    assert missing == [], missing


@needs_torch
def test_layer_norm_through_the_library_is_refused(tmp_path: Path) -> None:
    """The torch track forbids nn.LayerNorm / F.layer_norm: right numbers, still a failure."""
    submission = tmp_path / "layer_norm.py"
    submission.write_text('''# attn-drill: layer-norm track=torch
import torch.nn.functional as F


def layer_norm(x, gamma, beta, eps=1e-5):
    return F.layer_norm(x, x.shape[-1:], gamma, beta, eps)
''', encoding="utf-8")
    result = run_cli("grade", str(submission), "--no-record", "--json")
    document = json.loads(result.stdout)
    assert result.returncode == 1, document
    assert "uses-builtin" in [d["id"] for d in document["diagnosis"]]
