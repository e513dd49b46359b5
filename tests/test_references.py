"""The pack's reference solutions against independent oracles (never against themselves).

Oracles: torch.nn.functional.scaled_dot_product_attention, torch.nn.MultiheadAttention,
torch.softmax, Deep-ML problem 53's published numbers, and explicit per-position loops.
Also: every fixed case's `expected` values and every worked example in the YAMLs match.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest

from attn_drill.grading import harness
from attn_drill.grading.cases import build_cases
from attn_drill.problems import Problem, builtin_problems
from tests.conftest import needs_torch
from tests.helpers import code_track_params

SEEDS = (0, 5)
# float64 on both sides; the oracles compute in a different order, so allow a little slack.
RTOL, ATOL = 1e-9, 1e-11


def problem(problem_id: str) -> Problem:
    return builtin_problems()[problem_id]


def reference(problem_id: str, track: str) -> Any:
    p = problem(problem_id)
    spec = p.tracks[track]
    return harness.load_object(
        p.reference_path(track), spec.entry, f"_test_oracle_ref_{p.module_stem}_{track}"
    )


def graded_cases(problem_id: str, track: str) -> list[Any]:
    spec = problem(problem_id).tracks[track]
    return [case for seed in SEEDS for case in build_cases(spec, seed=seed)]


def run_reference(problem_id: str, track: str, case: Any) -> harness.Returned:
    spec = problem(problem_id).tracks[track]
    returned = harness.call(reference(problem_id, track), spec, case, track, reference=True)
    assert returned.structure_error is None, returned.structure_error
    return returned


def assert_close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=what)


def torch_sdpa_oracle(
    Q: np.ndarray, K: np.ndarray, V: np.ndarray, mask: np.ndarray | None, causal: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Output and weights from torch's fused attention; weights via V = identity."""
    import torch
    import torch.nn.functional as F

    q, k, v = (torch.from_numpy(a) for a in (Q, K, V))
    attn_mask = None if mask is None else torch.from_numpy(np.asarray(mask, dtype=bool))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=causal)
    # Attention with V = I_m returns the weight matrix itself: an oracle for the weights that
    # never computes a softmax of its own.
    m = K.shape[-2]
    eye = torch.eye(m, dtype=torch.float64).expand(*K.shape[:-2], m, m)
    weights = F.scaled_dot_product_attention(q, k, eye, attn_mask=attn_mask, is_causal=causal)
    return out.numpy(), weights.numpy()


# -- scaled dot-product attention and causal attention ----------------------------------


@needs_torch
@pytest.mark.parametrize("track", ["numpy", "torch"])
def test_sdpa_matches_torch_fused_attention(track: str) -> None:
    cases = graded_cases("scaled-dot-product-attention", track)
    assert any("batched" in c.tags for c in cases) and any("mask" in c.tags for c in cases)
    assert any(len(c.inputs["Q"].shape) == 4 for c in cases)
    for case in cases:
        got = run_reference("scaled-dot-product-attention", track, case)
        Q, K, V, mask = (case.inputs.get(name) for name in ("Q", "K", "V", "mask"))
        want_out, want_w = torch_sdpa_oracle(Q, K, V, mask)
        assert_close(got.arrays["output"], want_out, f"{track} {case.name}: output")
        assert_close(got.arrays["weights"], want_w, f"{track} {case.name}: weights")


@needs_torch
@pytest.mark.parametrize("track", ["numpy", "torch"])
def test_causal_matches_torch_is_causal(track: str) -> None:
    cases = graded_cases("causal-attention", track)
    assert any("batched" in c.tags for c in cases)
    for case in cases:
        got = run_reference("causal-attention", track, case)
        Q, K, V = case.inputs["Q"], case.inputs["K"], case.inputs["V"]
        want_out, want_w = torch_sdpa_oracle(Q, K, V, None, causal=True)
        assert_close(got.arrays["output"], want_out, f"{track} {case.name}: output")
        assert_close(got.arrays["weights"], want_w, f"{track} {case.name}: weights")
        n = Q.shape[-2]
        future = ~np.tril(np.ones((n, n), dtype=bool))
        assert np.all(got.arrays["weights"][..., future] == 0.0), "weights on the future"


# -- self-attention ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("X", "want"),
    [
        ([[1.0, 0.0], [0.0, 1.0]], [[1.660477, 2.660477], [2.339523, 3.339523]]),
        ([[1.0, 1.0], [1.0, 0.0]], [[3.00928465, 4.6790462], [2.5, 4.0]]),
    ],
)
def test_self_attention_reproduces_deep_ml_53(
    X: list[list[float]], want: list[list[float]]
) -> None:
    self_attention = reference("self-attention", "numpy")
    identity = np.eye(2)
    got = self_attention(np.array(X), identity, identity.copy(), np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


@needs_torch
def test_self_attention_matches_torch_on_random_cases() -> None:
    cases = [c for c in graded_cases("self-attention", "numpy") if c.is_random]
    assert cases
    for case in cases:
        X, W_q, W_k, W_v = (case.inputs[k] for k in ("X", "W_q", "W_k", "W_v"))
        assert len({W_q.shape[1], X.shape[1], W_v.shape[1]}) == 3, "d_model, d_k, d_v must differ"
        want, _ = torch_sdpa_oracle(X @ W_q, X @ W_k, X @ W_v, None)
        got = run_reference("self-attention", "numpy", case)
        assert_close(got.arrays["output"], want, case.name)


# -- every track: published `expected` values ---------------------------------------------


@pytest.mark.parametrize(("problem_id", "track"), code_track_params())
def test_fixed_expected_values_match_reference(problem_id: str, track: str) -> None:
    spec = problem(problem_id).tracks[track]
    for case in build_cases(spec, seed=0):
        if not case.expected:
            continue
        got = run_reference(problem_id, track, case)
        for name, want in case.expected.items():
            # Published values are rounded to 6-8 decimals.
            np.testing.assert_allclose(got.arrays[name], want, rtol=0, atol=1e-6, err_msg=name)


# -- cross-attention and additive attention: explicit loops ------------------------------


def _loop_softmax(scores: list[float]) -> list[float]:
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def cross_attention_by_loops(
    X_dec: np.ndarray, X_enc: np.ndarray, W_q: np.ndarray, W_k: np.ndarray, W_v: np.ndarray
) -> np.ndarray:
    """One decoder position and one encoder position at a time, batch index by batch index."""
    batch_shape = X_dec.shape[:-2]
    d_k, d_v = W_q.shape[1], W_v.shape[1]
    out = np.zeros((*batch_shape, X_dec.shape[-2], d_v))
    for index in np.ndindex(*batch_shape):
        dec, enc = X_dec[index], X_enc[index]
        keys = [enc[j] @ W_k for j in range(enc.shape[0])]
        values = [enc[j] @ W_v for j in range(enc.shape[0])]
        for i in range(dec.shape[0]):
            query = dec[i] @ W_q
            scores = [float(query @ key) / math.sqrt(d_k) for key in keys]
            weights = _loop_softmax(scores)
            out[(*index, i)] = sum(w * v for w, v in zip(weights, values, strict=True))
    return out


def test_cross_attention_matches_explicit_loops() -> None:
    cases = graded_cases("cross-attention", "numpy")
    assert any("batched" in c.tags for c in cases)
    for case in cases:
        args = [case.inputs[k] for k in ("X_dec", "X_enc", "W_q", "W_k", "W_v")]
        got = run_reference("cross-attention", "numpy", case)
        assert_close(got.arrays["output"], cross_attention_by_loops(*args), case.name)


def additive_attention_by_loops(
    query: np.ndarray,
    keys: np.ndarray,
    values: np.ndarray,
    W_q: np.ndarray,
    W_k: np.ndarray,
    v: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Bahdanau's score written out: one query, one key, one hidden unit at a time."""
    batch_shape = query.shape[:-1]
    m, d_h = keys.shape[-2], v.shape[0]
    context = np.zeros((*batch_shape, values.shape[-1]))
    weights = np.zeros((*batch_shape, m))
    for index in np.ndindex(*batch_shape):
        q = query[index]
        scores = []
        for j in range(m):
            k = keys[index][j]
            score = 0.0
            for unit in range(d_h):
                pre = sum(q[a] * W_q[a, unit] for a in range(q.shape[0]))
                pre += sum(k[a] * W_k[a, unit] for a in range(k.shape[0]))
                score += v[unit] * math.tanh(pre)
            scores.append(score)
        row = _loop_softmax(scores)
        weights[index] = row
        context[index] = sum(w * values[index][j] for j, w in enumerate(row))
    return context, weights


def test_additive_attention_matches_explicit_loops() -> None:
    cases = graded_cases("additive-attention", "numpy")
    assert any("batched" in c.tags for c in cases)
    for case in cases:
        args = [case.inputs[k] for k in ("query", "keys", "values", "W_q", "W_k", "v")]
        want_context, want_weights = additive_attention_by_loops(*args)
        got = run_reference("additive-attention", "numpy", case)
        assert_close(got.arrays["context"], want_context, f"{case.name}: context")
        assert_close(got.arrays["weights"], want_weights, f"{case.name}: weights")


# -- multi-head attention and the module: torch.nn.MultiheadAttention ---------------------


def torch_mha_oracle(
    X: np.ndarray,
    weights: dict[str, np.ndarray],
    num_heads: int,
    mask: np.ndarray | None,
    biases: dict[str, np.ndarray] | None = None,
    grad_output: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """nn.MultiheadAttention with our weights mapped in; X @ W convention -> torch's x @ W.T.

    `weights` holds W_q, W_k, W_v, W_o as (d_in, d_out) matrices; torch stores their
    transposes. `mask` (True = may attend) must broadcast to (*batch, num_heads, n, n); torch's
    boolean attn_mask means "blocked", the opposite of ours, and wants one (n, n) mask per
    (batch element, head).
    """
    import torch

    *batch, n, d_model = X.shape
    mha = torch.nn.MultiheadAttention(
        d_model, num_heads, bias=biases is not None, batch_first=True, dtype=torch.float64
    )
    with torch.no_grad():
        mha.in_proj_weight.copy_(
            torch.from_numpy(np.concatenate([weights[k].T for k in ("W_q", "W_k", "W_v")]))
        )
        mha.out_proj.weight.copy_(torch.from_numpy(weights["W_o"].T))
        if biases is not None:
            mha.in_proj_bias.copy_(
                torch.from_numpy(np.concatenate([biases[k] for k in ("W_q", "W_k", "W_v")]))
            )
            mha.out_proj.bias.copy_(torch.from_numpy(biases["W_o"]))
    x = torch.from_numpy(X.reshape(-1, n, d_model).copy()).requires_grad_(True)
    attn_mask = None
    if mask is not None:
        full = np.broadcast_to(np.asarray(mask, dtype=bool), (*batch, num_heads, n, n))
        attn_mask = ~torch.from_numpy(full.reshape(-1, n, n).copy())
    out, _ = mha(x, x, x, attn_mask=attn_mask, need_weights=False)
    result = {"output": out.detach().numpy().reshape(X.shape)}
    if grad_output is not None:
        (out * torch.from_numpy(grad_output.reshape(out.shape))).sum().backward()
        result["grad:x"] = x.grad.numpy().reshape(X.shape)
        d = d_model
        for i, name in enumerate(("W_q", "W_k", "W_v")):
            result[f"grad:{name}.weight"] = mha.in_proj_weight.grad[i * d : (i + 1) * d].numpy()
            result[f"grad:{name}.bias"] = mha.in_proj_bias.grad[i * d : (i + 1) * d].numpy()
        result["grad:W_o.weight"] = mha.out_proj.weight.grad.numpy()
        result["grad:W_o.bias"] = mha.out_proj.bias.grad.numpy()
    return result


@needs_torch
def test_multi_head_attention_matches_torch_multihead_attention() -> None:
    cases = graded_cases("multi-head-attention", "numpy")
    assert any("batched" in c.tags for c in cases) and any("mask" in c.tags for c in cases)
    for case in cases:
        weights = {k: case.inputs[k] for k in ("W_q", "W_k", "W_v", "W_o")}
        mask = case.inputs.get("mask")
        head_mask = None if mask is None else np.expand_dims(mask, -3)  # same for every head
        want = torch_mha_oracle(case.inputs["X"], weights, case.args["num_heads"], head_mask)
        got = run_reference("multi-head-attention", "numpy", case)
        assert_close(got.arrays["output"], want["output"], case.name)


@needs_torch
def test_self_attention_module_matches_torch_multihead_attention() -> None:
    cases = graded_cases("self-attention-module", "torch")
    kinds = set()
    for c in cases:
        if "mask" in c.inputs:
            batch, heads, rows, _ = c.inputs["mask"].shape
            kinds.add("shared" if batch == 1 else "padding" if rows == 1 else "full")
            assert heads == 1
    assert kinds == {"shared", "padding", "full"}, kinds  # the three graded mask shapes
    assert any("mask" not in c.inputs for c in cases)
    for case in cases:
        weights = {k: case.params[f"{k}.weight"].T for k in ("W_q", "W_k", "W_v", "W_o")}
        biases = {k: case.params[f"{k}.bias"] for k in ("W_q", "W_k", "W_v", "W_o")}
        # Guard against a vacuous comparison: biases must be random, not nn.Linear's zeros.
        assert all(np.abs(b).max() > 0 for b in biases.values())
        mask = case.inputs.get("mask")
        want = torch_mha_oracle(
            case.inputs["x"], weights, case.init["n_heads"],
            None if mask is None else mask != 0, biases=biases, grad_output=case.grad_output,
        )
        got = run_reference("self-attention-module", "torch", case)
        assert_close(got.arrays["output"], want["output"], f"{case.name}: output")
        # The eval pass runs on a different x (so a cached first result cannot pass).
        from attn_drill.grading.harness import eval_input

        want_eval = torch_mha_oracle(
            eval_input(case.inputs["x"]), weights, case.init["n_heads"],
            None if mask is None else mask != 0, biases=biases)
        assert_close(got.arrays["output@eval"], want_eval["output"], f"{case.name}: eval output")
        for key, value in want.items():
            if key.startswith("grad:"):
                assert key in got.arrays, f"{case.name}: no {key}"
                assert_close(got.arrays[key], value, f"{case.name}: {key}")


# -- softmax ---------------------------------------------------------------------------------


@needs_torch
def test_softmax_matches_torch_softmax() -> None:
    import torch

    cases = graded_cases("softmax", "numpy")
    assert any(np.abs(c.inputs["x"]).max() > 5000 for c in cases), "no ±1e4 logits graded"
    for case in cases:
        axis = case.args.get("axis", -1)
        want = torch.softmax(torch.from_numpy(case.inputs["x"]), dim=axis).numpy()
        got = run_reference("softmax", "numpy", case)
        assert np.isfinite(got.arrays["output"]).all(), case.name
        assert_close(got.arrays["output"], want, case.name)


# -- worked examples in the YAMLs ------------------------------------------------------------

ASSIGN = re.compile(r"(?<![=!<>])=(?!=)")
NUMBER = re.compile(r"-?\d+(?:\.(\d+))?(?:e-?\d+)?")


def split_top_level(text: str) -> list[str]:
    """Split `a = [1, 2], b = 3` at the commas that are outside brackets."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return [p for p in parts if p]


def parse_assignments(text: str) -> dict[str, Any]:
    """`Q = [[1.0]], W_q = W_k = np.eye(2), num_heads = 2` -> {name: value}."""
    values: dict[str, Any] = {}
    for part in split_top_level(text):
        *names, expression = (piece.strip() for piece in ASSIGN.split(part))
        assert names, f"cannot read {part!r}: expected `name = value`"
        value = eval(expression, {"__builtins__": {}, "np": np})  # our own YAML, test only
        for name in names:
            assert name.isidentifier(), name
            values[name] = value
    return values


def printed_numbers(text: str) -> list[tuple[float, int]]:
    """Every number in a printed output with its count of decimals."""
    return [(float(m.group(0)), len(m.group(1) or "")) for m in NUMBER.finditer(text)]


def assert_matches_printed(got: np.ndarray, printed: str, what: str) -> None:
    numbers = printed_numbers(printed)
    flat = np.asarray(got, dtype=np.float64).ravel()
    assert len(numbers) == flat.size, f"{what}: printed {len(numbers)}, computed {flat.size}"
    for (value, decimals), true in zip(numbers, flat, strict=True):
        # A printed number must be the correctly rounded value (exact values may be short).
        assert abs(value - true) <= 0.5 * 10.0**-decimals + 1e-9, f"{what}: {value} vs {true}"
        if abs(value - true) > 1e-9:
            assert decimals >= 4, f"{what}: {value} should show at least 4 decimals"


def module_example(p: Problem, inputs: str) -> list[np.ndarray]:
    """`SelfAttention(d_model=4, n_heads=2) with identity weights and zero biases, x = ...`:
    every nn.Linear of the module gets an identity weight and a zero bias. Returns every
    output of forward, in order."""
    import torch

    header = re.match(r"(\w+)\(([^)]*)\) (.*?), x = ", inputs)
    assert header, inputs
    assert header.group(1) == p.tracks["torch"].entry, header.group(1)
    assert header.group(3) == "with identity weights and zero biases", header.group(3)
    init = parse_assignments(header.group(2))
    values = parse_assignments(inputs[header.end() - len("x = ") :])
    module = reference(p.id, "torch")(**init).double()
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, torch.nn.Linear):
                layer.weight.copy_(torch.eye(*layer.weight.shape, dtype=torch.float64))
                layer.bias.zero_()
        x = torch.tensor(values["x"], dtype=torch.float64)
        mask = values.get("mask")
        result = module(x) if mask is None else module(x, torch.tensor(mask))
    return [t.numpy() for t in (result if isinstance(result, tuple) else (result,))]


EXAMPLES = [
    pytest.param(p.id, track, index, id=f"{p.id}-{track}-{index}",
                 marks=[needs_torch] * (track == "torch"))
    for p in builtin_problems().values()
    for track in p.tracks
    if track != "text"
    for index in range(len(p.examples))
]


@pytest.mark.parametrize(("problem_id", "track", "index"), EXAMPLES)
def test_worked_example_matches_reference(problem_id: str, track: str, index: int) -> None:
    p = problem(problem_id)
    spec = p.tracks[track]
    example = p.examples[index]
    if spec.call == "module":
        outputs = dict(zip(spec.outputs, module_example(p, example.inputs), strict=True))
    else:
        kwargs = parse_assignments(example.inputs)
        integers = {k for k, d in spec.inputs.items()
                    if d.dtype == "int64" or d.role in ("positions", "lengths")}
        blocks = next((k for k, d in spec.inputs.items() if d.role == "blocks"), None)
        if blocks is not None and track == "numpy":
            # An iterator argument: a one-shot stream of tuples of float64 arrays.
            items = kwargs.pop(blocks)
            stream = iter([tuple(np.asarray(part, dtype=np.float64) for part in item)
                           for item in items])
        if track == "torch":
            import torch

            kwargs = {
                k: torch.tensor(v, dtype=torch.int64 if k in integers else torch.float64)
                if isinstance(v, list) else v
                for k, v in kwargs.items()
            }
        else:
            kwargs = {k: np.asarray(v, dtype=np.int64) if k in integers else v
                      for k, v in kwargs.items()}
            kwargs = {k: np.asarray(v) if isinstance(v, list) else v for k, v in kwargs.items()}
            kwargs = {k: v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype != bool
                      and k not in integers
                      else v for k, v in kwargs.items()}
        if blocks is not None and track == "numpy":
            kwargs[blocks] = stream
        result = reference(problem_id, track)(**kwargs)
        result = result if isinstance(result, tuple) else (result,)
        outputs = {name: harness.to_numpy(value) for name, value in zip(spec.outputs, result,
                                                                         strict=True)}
    printed = example.output
    if len(spec.outputs) > 1 or re.match(r"^\s*[A-Za-z_]\w* = ", printed):
        pieces = {}
        for part in split_top_level(printed):
            name, literal = ASSIGN.split(part, maxsplit=1)
            pieces[name.strip()] = literal
        assert set(pieces) == set(spec.outputs), f"example output names {sorted(pieces)}"
    else:
        pieces = {spec.outputs[0]: printed}
    for name, literal in pieces.items():
        assert_matches_printed(outputs[name], literal, f"{problem_id} example {index + 1} {name}")
