"""The LLM-attention breadth problems: each reference against an independent oracle, and the
graded cases cover what CONTRACT.md's "Breadth problems" promises.

Oracles: torch.nn.functional.scaled_dot_product_attention (with repeat_interleave for
grouped-query attention, an explicit boolean mask for sliding windows), torch autograd for the
backward pass, and explicit per-position loops for linear attention.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from attn_drill.grading import harness
from attn_drill.grading.cases import build_cases
from attn_drill.grading.tracks import get_track
from attn_drill.problems import builtin_problems
from tests.conftest import needs_torch
from tests.test_references import (  # one copy of the oracle helpers
    assert_close,
    graded_cases,
    problem,
    reference,
    run_reference,
)


def torch_attention(q: Any, k: Any, v: Any, allowed: Any = None) -> tuple[Any, Any]:
    """Output and weights from torch's fused attention (weights via V = identity)."""
    import torch
    import torch.nn.functional as F

    out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    m = k.shape[-2]
    eye = torch.eye(m, dtype=torch.float64).expand(*k.shape[:-2], m, m)
    weights = F.scaled_dot_product_attention(q, k, eye, attn_mask=allowed)
    return out, weights


# -- grouped-query attention -------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("track", ["numpy", "torch"])
def test_gqa_matches_fused_attention_with_repeat_interleave(track: str) -> None:
    import torch

    cases = graded_cases("grouped-query-attention", track)
    for case in cases:
        Q, K, V = (torch.from_numpy(case.inputs[k]) for k in ("Q", "K", "V"))
        group = Q.shape[-3] // K.shape[-3]
        mask = case.inputs.get("mask")
        allowed = None if mask is None else torch.from_numpy(mask)
        want_out, want_w = torch_attention(Q, K.repeat_interleave(group, dim=-3),
                                           V.repeat_interleave(group, dim=-3), allowed)
        got = run_reference("grouped-query-attention", track, case)
        assert_close(got.arrays["output"], want_out.numpy(), f"{track} {case.name}: output")
        assert_close(got.arrays["weights"], want_w.numpy(), f"{track} {case.name}: weights")


@pytest.mark.parametrize("track", ["numpy", "torch"])
def test_gqa_cases_cover_the_contract(track: str) -> None:
    cases = build_cases(problem("grouped-query-attention").tracks[track], seed=0)
    heads = {(c.inputs["Q"].shape[-3], c.inputs["K"].shape[-3]) for c in cases}
    assert any(h == g for h, g in heads), "multi-head (g = h) is not graded"
    assert any(g == 1 for _, g in heads), "multi-query (g = 1) is not graded"
    # Tiling and repeating in place agree unless 1 < g < h; a divisor other than h // g shows
    # only when g != h // g.
    assert any(1 < g < h and g != h // g for h, g in heads)
    leading = {c.inputs["Q"].ndim - 3 for c in cases}
    assert leading == {0, 1, 2}
    masks = [c.inputs["mask"] for c in cases if "mask" in c.inputs]
    assert {m.ndim for m in masks} == {2, 4}
    assert all(m.dtype == bool for m in masks)
    assert all(m.shape[1] == 1 for m in masks if m.ndim == 4)
    for c in cases:
        q, k, v = (c.inputs[name].shape for name in ("Q", "K", "V"))
        if c.is_random:
            assert len({q[-2], k[-2], q[-1], v[-1]}) == 4 or "mask" in c.inputs, c.name


# -- sliding-window attention -------------------------------------------------------------


def window_allowed_by_loops(n: int, window: int) -> np.ndarray:
    """Query i may see key j when it is one of the last `window` positions up to i."""
    allowed = np.zeros((n, n), dtype=bool)
    for i in range(n):
        for j in range(n):
            allowed[i, j] = i - window < j <= i
    return allowed


@needs_torch
@pytest.mark.parametrize("track", ["numpy", "torch"])
def test_sliding_window_matches_fused_attention_with_a_band_mask(track: str) -> None:
    import torch

    for case in graded_cases("sliding-window-attention", track):
        Q, K, V = (torch.from_numpy(case.inputs[k]) for k in ("Q", "K", "V"))
        window = int(case.inputs["window"])
        allowed = torch.from_numpy(window_allowed_by_loops(Q.shape[-2], window))
        want_out, want_w = torch_attention(Q, K, V, allowed)
        got = run_reference("sliding-window-attention", track, case)
        assert_close(got.arrays["output"], want_out.numpy(), f"{track} {case.name}: output")
        assert_close(got.arrays["weights"], want_w.numpy(), f"{track} {case.name}: weights")


@pytest.mark.parametrize("track", ["numpy", "torch"])
def test_sliding_window_cases_cover_the_contract(track: str) -> None:
    spec = problem("sliding-window-attention").tracks[track]
    cases = build_cases(spec, seed=0)
    windows = {(int(c.inputs["window"]), c.inputs["Q"].shape[-2]) for c in cases}
    assert any(w == 1 for w, _ in windows)
    assert any(w >= n for w, n in windows), "window >= n (plain causal) is not graded"
    assert any(1 < w < n - 1 for w, n in windows)
    assert {c.inputs["Q"].ndim - 2 for c in cases} == {0, 1, 2}
    assert any(c.inputs["V"].shape[-1] != c.inputs["K"].shape[-1] for c in cases)
    # `window` reaches the submission positionally, as a Python int.
    assert list(cases[0].inputs) == ["Q", "K", "V", "window"]
    kind = get_track(track)
    call = harness.convert_inputs(cases[1], lambda v: kind.convert(v, False))
    assert type(call["window"]) is int


# -- linear attention ----------------------------------------------------------------------


def linear_attention_by_loops(Q: np.ndarray, K: np.ndarray, V: np.ndarray,
                              causal: bool) -> np.ndarray:
    """Katharopoulos et al.'s sums written out one query, one key at a time with
    φ(x) = elu(x) + 1 from math.expm1."""

    def phi(row: np.ndarray) -> list[float]:
        return [x + 1.0 if x > 0 else math.expm1(x) + 1.0 for x in row]

    out = np.zeros((*Q.shape[:-1], V.shape[-1]))
    for index in np.ndindex(*Q.shape[:-2]):
        q, k, v = Q[index], K[index], V[index]
        for i in range(q.shape[0]):
            keys = range(i + 1) if causal else range(k.shape[0])
            phi_q = phi(q[i])
            kernel = [sum(a * b for a, b in zip(phi_q, phi(k[j]), strict=True)) for j in keys]
            total = sum(kernel)
            out[(*index, i)] = sum(w * v[j] for w, j in zip(kernel, keys, strict=True)) / total
    return out


def test_linear_attention_matches_explicit_loops() -> None:
    cases = graded_cases("linear-attention", "numpy")
    causal_ways = set()
    for case in cases:
        causal = bool(case.args.get("causal", case.inputs.get("causal", False)))
        if causal:
            causal_ways.add("keyword" if "causal" in case.args else "positional")
            assert case.inputs["Q"].shape[-2] == case.inputs["K"].shape[-2]
        want = linear_attention_by_loops(case.inputs["Q"], case.inputs["K"], case.inputs["V"],
                                         causal)
        got = run_reference("linear-attention", "numpy", case)
        assert_close(got.arrays["output"], want, case.name)
    assert causal_ways == {"keyword", "positional"}
    assert any(c.inputs["Q"].shape[-2] != c.inputs["K"].shape[-2] for c in cases)
    assert any((c.inputs["Q"] <= 0).all(axis=-1).any() for c in cases), \
        "no query with every entry negative (where relu(q) = 0)"


# -- attention backward ------------------------------------------------------------------


@needs_torch
def test_attention_backward_matches_torch_autograd() -> None:
    import torch

    cases = graded_cases("attention-backward", "numpy")
    assert any(c.inputs["Q"].shape[-2] == c.inputs["K"].shape[-2] for c in cases)
    assert any(c.inputs["Q"].shape[-2] != c.inputs["K"].shape[-2] for c in cases)
    assert {c.inputs["Q"].ndim - 2 for c in cases} == {0, 1, 2}
    for case in cases:
        Q, K, V = (torch.from_numpy(case.inputs[k].copy()).requires_grad_(True)
                   for k in ("Q", "K", "V"))
        scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
        output = torch.softmax(scores, dim=-1) @ V
        (output * torch.from_numpy(case.inputs["dO"])).sum().backward()
        got = run_reference("attention-backward", "numpy", case)
        for name, tensor in (("dQ", Q), ("dK", K), ("dV", V)):
            assert tensor.grad is not None
            assert_close(got.arrays[name], tensor.grad.numpy(), f"{case.name}: {name}")


def test_numpy_breadth_problems_grade_without_torch(tmp_path: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The NumPy-only problems grade their reference with torch hidden from the grader."""
    import sys

    from typer.testing import CliRunner

    from attn_drill.cli import app

    monkeypatch.setitem(sys.modules, "torch", None)
    for problem_id in ("linear-attention", "attention-backward"):
        p = problem(problem_id)
        assert list(p.tracks) == ["numpy"]
        submission = tmp_path / f"{p.module_stem}.py"
        submission.write_text(p.reference_path("numpy").read_text(encoding="utf-8"))
        graded = CliRunner().invoke(app, ["grade", str(submission), "--no-record"])
        assert graded.exit_code == 0, graded.output


# -- RoPE and integer inputs -----------------------------------------------------------------


def rope_by_complex_numbers(x: np.ndarray, positions: np.ndarray, base: float) -> np.ndarray:
    """z_i = x_i + i·x_{i+d/2} turned by e^{i·p·θ_i}: the half-split pairing as complex numbers."""
    d = x.shape[-1]
    half = d // 2
    z = x[..., :half] + 1j * x[..., half:]
    theta = np.array([base ** (-2.0 * i / d) for i in range(half)])
    turned = z * np.exp(1j * np.outer(positions.astype(np.float64), theta))
    return np.concatenate([turned.real, turned.imag], axis=-1)


@pytest.mark.parametrize("track", [
    "numpy", pytest.param("torch", marks=needs_torch)])
def test_rope_matches_the_complex_number_formulation(track: str) -> None:
    cases = graded_cases("rope", track)
    bases = set()
    for case in cases:
        base = float(case.args.get("base", case.inputs.get("base", 10000.0)))
        bases.add(base)
        want = rope_by_complex_numbers(case.inputs["x"], case.inputs["positions"], base)
        got = run_reference("rope", track, case)
        assert_close(got.arrays["output"], want, f"{track} {case.name}")
    assert len(bases) >= 3, "base omitted, by keyword and by position"


@pytest.mark.parametrize("track", ["numpy", "torch"])
def test_rope_positions_are_int64_within_the_contract_range(track: str) -> None:
    cases = build_cases(problem("rope").tracks[track], seed=3)
    highest = max(int(c.inputs["positions"].max()) for c in cases)
    for case in cases:
        assert case.inputs["positions"].dtype == np.int64, case.name
        assert case.inputs["positions"].shape == (case.inputs["x"].shape[-2],)
        assert case.inputs["x"].shape[-1] % 2 == 0
    if track == "torch":
        from attn_drill.grading.invariants import POSITION_SHIFT

        assert highest + POSITION_SHIFT < 64  # float32 angles stay precise
    else:
        assert highest > 1000
    assert {c.inputs["x"].ndim - 2 for c in cases} == {0, 1, 2}


@needs_torch
def test_integer_inputs_reach_the_torch_track_as_int64_tensors() -> None:
    import torch

    spec = problem("rope").tracks["torch"]
    case = build_cases(spec, seed=0)[1]
    seen = {}

    def spy(x: Any, positions: Any, base: float = 10000.0) -> Any:
        seen["x"], seen["positions"], seen["base"] = x.dtype, positions.dtype, type(base)
        return x.clone()

    harness.call(spy, spec, case, "torch")
    assert seen == {"x": torch.float32, "positions": torch.int64, "base": float}


def test_an_integer_input_with_fractions_is_a_pack_error() -> None:
    from attn_drill.grading.cases import build_case
    from attn_drill.problems import Case, InputDecl, TrackSpec

    # Only the declarations matter to build_case (a whole track would need cases too).
    track = TrackSpec.model_construct(inputs={"x": InputDecl(role="data"),
                                              "positions": InputDecl(role="positions")})
    case = Case(name="fractional positions", inputs={"x": [[1.0, 2.0]], "positions": [0.5]})
    with pytest.raises(ValueError, match=r"'positions'.*non-integer"):
        build_case(case, 0, 0, track)
    whole = build_case(Case(name="whole", inputs={"x": [[1.0, 2.0]], "positions": [3.0]}),
                       0, 0, track)
    assert whole.inputs["positions"].dtype == np.int64


def test_rope_reference_is_a_rotation_with_relative_dot_products() -> None:
    """The two graded properties hold for the reference (so they can hold at all), and
    the one mutant that is not a rotation breaks both."""
    from attn_drill.grading.checks import compute_references, run_checks
    from attn_drill.grading.grade import evaluation_from_run, run_object_in_process
    from attn_drill.grading.properties import derive_cases

    p = problem("rope")
    spec = p.tracks["numpy"]
    cases = build_cases(spec, 0)
    extra, derived = derive_cases(spec, cases, 0)
    assert any(d.kind == "derived:shifted-positions" for d in derived.values())
    references = compute_references(p, "numpy", cases + extra)
    mutants = harness.load_module_from_path(p.mutants_path("numpy"), "_test_rope_mutants")
    verdicts = {}
    for name, target in (("reference", reference("rope", "numpy")),
                         ("not a rotation", mutants.rotate_half_without_minus),
                         ("interleaved", mutants.interleaved_pairs)):
        run = run_object_in_process(target, p, "numpy", cases + extra)
        ev = evaluation_from_run(p, "numpy", 0, cases + extra, derived, references, run,
                                 None, 10.0)
        verdicts[name] = {c.kind: c.passed for c in run_checks(ev)}
    for kind in ("property:preserves-norm", "property:relative-position"):
        assert verdicts["reference"][kind] and verdicts["interleaved"][kind]
        assert not verdicts["not a rotation"][kind]
    # The interleaved layout is a convention: its text says so rather than calling it a bug.
    assert "convention" in p.misconception("interleaved-pairs").explanation.en


@needs_torch
def test_an_int_float_mix_up_names_the_integer_input(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from attn_drill.cli import app

    submission = tmp_path / "rope.py"
    submission.write_text(
        "# attn-drill: rope track=torch\n"
        "import torch\n\n\n"
        "def apply_rope(x, positions, base=10000.0):\n"
        "    d = x.size(-1)\n"
        "    inv_freq = base ** (-2 * torch.arange(d // 2, dtype=x.dtype) / d)\n"
        "    angles = positions[:, None] @ inv_freq[None, :]\n"
        "    x1, x2 = x[..., : d // 2], x[..., d // 2 :]\n"
        "    return torch.cat([x1 * angles.cos() - x2 * angles.sin(),\n"
        "                      x2 * angles.cos() + x1 * angles.sin()], -1)\n")
    graded = CliRunner().invoke(app, ["grade", str(submission), "--no-record", "--json"])
    assert graded.exit_code == 1, graded.output
    import json

    runs = next(c for c in json.loads(graded.output)["checks"]
                if c.get("id", c.get("kind")) == "runs")
    assert "`positions` arrive as int64" in runs["message"]
    assert "positions.to(x.dtype)" in runs["message"]
    assert "Traceback" not in graded.output


# -- padded attention ------------------------------------------------------------------------


def padded_attention_by_loops(Q: np.ndarray, K: np.ndarray, V: np.ndarray,
                              lengths: np.ndarray, causal: bool) -> tuple[np.ndarray, np.ndarray]:
    b, n, d_k = Q.shape
    m = K.shape[1]
    out = np.zeros((b, n, V.shape[-1]))
    weights = np.zeros((b, n, m))
    for e in range(b):
        for i in range(n):
            visible = [j for j in range(m) if j < lengths[e] and (not causal or j <= i)]
            if not visible:
                continue  # a row with nothing to see stays all zero
            scores = [float(Q[e, i] @ K[e, j]) / math.sqrt(d_k) for j in visible]
            top = max(scores)
            exps = [math.exp(s - top) for s in scores]
            for j, value in zip(visible, exps, strict=True):
                weights[e, i, j] = value / sum(exps)
                out[e, i] += weights[e, i, j] * V[e, j]
    return out, weights


@pytest.mark.parametrize("track", [
    "numpy", pytest.param("torch", marks=needs_torch)])
def test_padded_attention_matches_explicit_loops(track: str) -> None:
    cases = graded_cases("padded-attention", track)
    for case in cases:
        Q, K, V = (case.inputs[k] for k in ("Q", "K", "V"))
        lengths = case.inputs["key_lengths"]
        causal = bool(case.args.get("causal", case.inputs.get("causal", False)))
        want_out, want_w = padded_attention_by_loops(Q, K, V, lengths, causal)
        got = run_reference("padded-attention", track, case)
        assert np.isfinite(got.arrays["output"]).all(), case.name
        assert_close(got.arrays["output"], want_out, f"{track} {case.name}: output")
        assert_close(got.arrays["weights"], want_w, f"{track} {case.name}: weights")


@pytest.mark.parametrize("track", ["numpy", "torch"])
def test_padded_attention_cases_cover_the_contract(track: str) -> None:
    cases = build_cases(problem("padded-attention").tracks[track], seed=0)
    lengths = np.concatenate([c.inputs["key_lengths"] for c in cases])
    assert all(c.inputs["key_lengths"].dtype == np.int64 for c in cases)
    assert all(c.inputs[k].ndim == 3 for c in cases for k in ("Q", "K", "V"))
    assert (lengths == 0).any(), "no empty example"
    assert any((c.inputs["key_lengths"] == c.inputs["K"].shape[1]).any() for c in cases)
    causal = [c for c in cases if c.args.get("causal") or c.inputs.get("causal")]
    assert {"keyword" if "causal" in c.args else "positional" for c in causal} == {
        "keyword", "positional"}
    assert all(c.inputs["Q"].shape[1] == c.inputs["K"].shape[1] for c in causal)
    # the wrong-example mutant only runs when n = b; a case must let it run
    assert any(c.inputs["Q"].shape[0] == c.inputs["Q"].shape[1] for c in cases)


@needs_torch
def test_padded_attention_torch_reference_has_finite_gradients() -> None:
    cases = graded_cases("padded-attention", "torch")
    for case in cases:
        got = run_reference("padded-attention", "torch", case)
        grads = [k for k in got.arrays if k.startswith("grad:")]
        assert sorted(grads) == ["grad:K", "grad:Q", "grad:V"], case.name
        assert all(np.isfinite(got.arrays[k]).all() for k in grads), case.name


# -- KV cache: chunk-by-chunk calls ----------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("track", ["numpy", "torch"])
def test_kv_cache_in_chunks_equals_causal_attention_over_the_whole_sequence(track: str) -> None:
    """The oracle never sees a cache: causal attention over [prefix; stream] in one go."""
    import torch

    cases = graded_cases("kv-cache", track)
    chunked = [c for c in cases if c.chunks]
    assert any(set(c.chunks) == {1} for c in chunked), "no token-by-token decoding"
    assert any(max(c.chunks) > 1 for c in chunked), "no chunk of several tokens"
    assert any(c.inputs["K_cache"].shape[-2] == 0 for c in chunked)
    assert any(c.inputs["K_cache"].shape[-2] > 0 for c in chunked)
    for case in cases:
        Q, K, V = (case.inputs[k] for k in ("Q_new", "K_new", "V_new"))
        K_all = np.concatenate([case.inputs["K_cache"], K], axis=-2)
        V_all = np.concatenate([case.inputs["V_cache"], V], axis=-2)
        t, total = case.inputs["K_cache"].shape[-2], K_all.shape[-2]
        if case.chunks:
            assert sum(case.chunks) == Q.shape[-2], case.name
        # Queries for the cached positions do not matter: pad them with zeros, keep the rest.
        Q_all = np.concatenate([np.zeros((*Q.shape[:-2], t, Q.shape[-1])), Q], axis=-2)
        want = torch.nn.functional.scaled_dot_product_attention(
            torch.from_numpy(Q_all), torch.from_numpy(K_all), torch.from_numpy(V_all),
            is_causal=True).numpy()[..., t:total, :]
        got = run_reference("kv-cache", track, case)
        assert_close(got.arrays["output"], want, f"{track} {case.name}: output")
        assert_close(got.arrays["K_cache"], K_all, f"{track} {case.name}: K_cache")
        assert_close(got.arrays["V_cache"], V_all, f"{track} {case.name}: V_cache")


def test_chunked_calls_thread_the_returned_caches() -> None:
    """Each call gets the caches the previous call returned, as returned (an object the
    submission made itself, not a copy the grader rebuilt)."""
    spec = problem("kv-cache").tracks["numpy"]
    case = next(c for c in build_cases(spec, seed=0) if c.chunks == [4, 1, 1, 2])
    seen: list[tuple[int, int, int]] = []
    handed_back: list[int] = []

    def spy(Q_new: Any, K_new: Any, V_new: Any, K_cache: Any, V_cache: Any) -> Any:
        seen.append((Q_new.shape[-2], K_cache.shape[-2], id(K_cache)))
        K = np.concatenate([K_cache, K_new], axis=-2)
        V = np.concatenate([V_cache, V_new], axis=-2)
        handed_back.append(id(K))
        return np.zeros((*Q_new.shape[:-1], V.shape[-1])), K, V

    returned = harness.call(spy, spec, case, "numpy")
    assert [(s, t) for s, t, _ in seen] == [(4, 0), (1, 4), (1, 5), (2, 6)]
    assert [i for _, _, i in seen[1:]] == handed_back[:-1]
    assert returned.arrays["output"].shape == (8, case.inputs["V_new"].shape[-1])
    assert returned.arrays["K_cache"].shape == (8, case.inputs["K_new"].shape[-1])


def test_a_chunked_call_that_goes_wrong_is_named() -> None:
    spec = problem("kv-cache").tracks["numpy"]
    case = next(c for c in build_cases(spec, seed=0) if c.chunks == [4, 1, 1, 2])

    def two_values(Q_new: Any, K_new: Any, V_new: Any, K_cache: Any, V_cache: Any) -> Any:
        return Q_new, np.concatenate([K_cache, K_new], axis=-2)

    returned = harness.call(two_values, spec, case, "numpy")
    assert returned.structure_error == (
        "call 1 of 4 (tokens 0..3): returned 2 values, expected 3 (output, K_cache, V_cache)")
    assert "output" not in returned.arrays

    def growing_output(Q_new: Any, K_new: Any, V_new: Any, K_cache: Any, V_cache: Any) -> Any:
        K = np.concatenate([K_cache, K_new], axis=-2)
        V = np.concatenate([V_cache, V_new], axis=-2)
        return V, K, V  # one row per cached token: rows of calls cannot be joined per token

    returned = harness.call(growing_output, spec, case, "numpy")
    assert returned.structure_error is None
    assert returned.arrays["output"].shape != (8, case.inputs["V_new"].shape[-1])


# -- FlashAttention: a one-shot stream of blocks, memory measured ------------------------------


@needs_torch
def test_flash_attention_matches_attention_over_all_keys() -> None:
    import torch
    import torch.nn.functional as F

    for case in graded_cases("flash-attention", "numpy"):
        Q = torch.from_numpy(case.inputs["Q"])
        K, V = (torch.from_numpy(part) for part in all_keys_and_values(case))
        want = F.scaled_dot_product_attention(Q, K, V).numpy()
        got = run_reference("flash-attention", "numpy", case)
        assert_close(got.arrays["output"], want, case.name)


def all_keys_and_values(case: Any) -> tuple[np.ndarray, np.ndarray]:
    """Every block of a case's `kv_blocks` joined along the key axis: (K, V)."""
    items = case.inputs["kv_blocks"].items
    return (np.concatenate([item[0] for item in items], axis=-2),
            np.concatenate([item[1] for item in items], axis=-2))


def test_flash_attention_cases_cover_the_contract() -> None:
    cases = build_cases(problem("flash-attention").tracks["numpy"], seed=0)
    big = [c for c in cases if "memory" in c.tags]
    assert len(big) == 1
    case = big[0]
    assert case.inputs["Q"].shape == (64, 32)
    K, _ = all_keys_and_values(case)
    assert K.shape[-2] >= 32768 and K.shape[-1] == 32
    sizes = [item[0].shape[-2] for item in case.inputs["kv_blocks"].items]
    assert max(sizes) <= 1024 and len(set(sizes)) > 1
    large = [c for c in cases if "stability" in c.tags]
    scores = [np.abs(c.inputs["Q"] @ all_keys_and_values(c)[0].T
                     / math.sqrt(c.inputs["Q"].shape[-1])) for c in large]
    assert scores and max(float(s.max()) for s in scores) > 1000
    assert any(c.inputs["Q"].ndim > 2 for c in cases)


def test_blocks_are_fresh_one_shot_and_counted() -> None:
    from attn_drill.grading.streams import OneShotBlocks

    K = np.arange(12.0).reshape(6, 2)
    items = [(K[a:b], K[a:b] * 10) for a, b in ((0, 2), (2, 3), (3, 6))]
    stream = OneShotBlocks(items, lambda part: part.copy())
    first = next(stream)
    assert first[0].shape == (2, 2) and first[1].shape == (2, 2)
    assert not np.shares_memory(first[0], K), "each block is a fresh array"
    assert [b[0].shape[0] for b in stream] == [1, 3]
    assert list(stream) == []  # used up: a second pass sees nothing
    assert (stream.read, stream.passes) == (3, 2)


def _flash_grade(tmp_path: Any, body: str) -> dict[str, Any]:
    import json

    from tests.conftest import run_cli

    submission = tmp_path / "flash_attention.py"
    submission.write_text("import numpy as np\n\n\n" + body)
    result = run_cli("grade", str(submission), "--no-record", "--json")
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return json.loads(result.stdout)


def test_flash_attention_that_keeps_every_block_fails_the_memory_budget(tmp_path: Any) -> None:
    report = _flash_grade(tmp_path, (
        "def flash_attention(Q, kv_blocks):\n"
        "    blocks = list(kv_blocks)\n"
        "    K = np.concatenate([k for k, _ in blocks], axis=-2)\n"
        "    V = np.concatenate([v for _, v in blocks], axis=-2)\n"
        "    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])\n"
        "    p = np.exp(s - s.max(-1, keepdims=True))\n"
        "    return p / p.sum(-1, keepdims=True) @ V\n"))
    checks = {c["kind"]: c for c in report["checks"]}
    memory = checks["property:bounded-memory"]
    assert not memory["passed"]
    assert "a quarter of all keys and values" in memory["message"]
    assert checks["match:random"]["passed"], "the numbers themselves are right"
    assert "stores-all-blocks" in [d["id"] for d in report["diagnosis"]]


def test_flash_attention_that_reads_the_blocks_twice_is_told_so(tmp_path: Any) -> None:
    report = _flash_grade(tmp_path, (
        "def flash_attention(Q, kv_blocks):\n"
        "    m = -np.inf\n"
        "    for K, _ in kv_blocks:\n"
        "        m = np.maximum(m, (Q @ np.swapaxes(K, -1, -2)).max(-1, keepdims=True))\n"
        "    total, acc = 0.0, 0.0\n"
        "    for K, V in kv_blocks:\n"
        "        p = np.exp(Q @ np.swapaxes(K, -1, -2) - m)\n"
        "        total, acc = total + p.sum(-1, keepdims=True), acc + p @ V\n"
        "    return acc / total\n"))
    # Its second loop gets no blocks: 0.0 / 0.0 raises, and the report says why.
    runs = next(c for c in report["checks"] if c["kind"] == "runs")
    assert "ZeroDivisionError" in runs["message"]
    assert "was then iterated again: it is a one-shot iterator" in runs["message"]
    assert "consumes-twice" in [d["id"] for d in report["diagnosis"]]


def test_switching_tracing_off_does_not_pass_the_memory_check(tmp_path: Any) -> None:
    report = _flash_grade(tmp_path, (
        "import tracemalloc\n\n\n"
        "def flash_attention(Q, kv_blocks):\n"
        "    tracemalloc.stop()\n"
        "    blocks = list(kv_blocks)\n"
        "    K = np.concatenate([k for k, _ in blocks], axis=-2)\n"
        "    V = np.concatenate([v for _, v in blocks], axis=-2)\n"
        "    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])\n"
        "    p = np.exp(s - s.max(-1, keepdims=True))\n"
        "    return p / p.sum(-1, keepdims=True) @ V\n"))
    memory = next(c for c in report["checks"] if c["kind"] ==
                  "property:bounded-memory")
    assert not memory["passed"] and "tracing was switched off" in memory["message"]


# -- the pack as a whole: curriculum, topics, quiz, README ------------------------------------

# CONTRACT.md, "Curriculum order".
CURRICULUM = [
    "softmax", "scaled-dot-product-attention", "self-attention", "explain-sqrt-dk",
    "explain-attention-formula", "explain-softmax-role", "causal-attention", "padded-attention",
    "cross-attention", "additive-attention", "multi-head-attention", "self-attention-module",
    "attention-module", "positional-encoding", "rope", "layer-norm", "rms-norm",
    "transformer-block", "grouped-query-attention", "kv-cache", "sliding-window-attention",
    "sparse-attention", "flash-attention", "linear-attention", "attention-backward",
]
LLM_PROBLEMS = {
    "kv-cache": ["numpy", "torch"], "grouped-query-attention": ["numpy", "torch"],
    "rope": ["numpy", "torch"], "padded-attention": ["numpy", "torch"],
    "flash-attention": ["numpy"], "sliding-window-attention": ["numpy", "torch"],
    "linear-attention": ["numpy"], "attention-backward": ["numpy"],
}


def test_llm_problems_ship_on_the_contract_tracks() -> None:
    pack = builtin_problems()
    for problem_id, tracks in LLM_PROBLEMS.items():
        assert problem_id in pack, problem_id
        assert sorted(pack[problem_id].tracks) == tracks, problem_id


def test_the_pack_follows_the_contract_curriculum() -> None:
    """`practice` recommends in `order`; the problems present keep the contract's sequence
    (the new ones included, wherever the others sit)."""
    pack = builtin_problems()
    present = [p for p in CURRICULUM if p in pack]
    assert [p for p in pack if p in CURRICULUM] == present


@pytest.mark.parametrize("problem_id", sorted(LLM_PROBLEMS))
def test_every_misconception_of_an_llm_problem_is_quizzed(problem_id: str) -> None:
    from attn_drill.quiz.bank import load_bank

    concepts = {c for entry in load_bank().entries for c in entry.question.concepts}
    missing = {m.id for m in problem(problem_id).misconceptions} - concepts - {"uses-builtin"}
    assert not missing, f"{problem_id}: no quiz question practises {sorted(missing)}"


def test_list_groups_the_llm_problems_by_topic() -> None:
    import json

    from typer.testing import CliRunner

    from attn_drill.cli import app

    for topic, expected in (
        ("inference", {"grouped-query-attention", "kv-cache"}),
        ("efficient-attention", {"sliding-window-attention", "flash-attention",
                                 "linear-attention"}),
        ("backward", {"attention-backward"}),
    ):
        listed = CliRunner().invoke(app, ["list", "--topic", topic, "--json"])
        assert listed.exit_code == 0, listed.output
        assert {row["id"] for row in json.loads(listed.output)} == expected
    masking = CliRunner().invoke(app, ["list", "--topic", "masking", "--json"])
    assert "padded-attention" in {row["id"] for row in json.loads(masking.output)}


def test_readme_lists_the_llm_problems_with_their_tracks() -> None:
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for problem_id, tracks in LLM_PROBLEMS.items():
        row = next((line for line in readme.splitlines()
                    if line.startswith(f"| `{problem_id}` |")), None)
        assert row is not None, f"README has no row for {problem_id}"
        assert row.split("|")[2].strip() == ", ".join(tracks), row


def test_saved_chunked_case_replays_the_calls_like_the_grader(tmp_path: Any) -> None:
    """`--save-cases` on kv-cache: the snippet calls once per chunk with the returned caches,
    so the saved stale-cache failure fails there too, and a right solution passes it."""
    import subprocess
    import sys

    from tests.conftest import run_cli

    p = problem("kv-cache")
    mutants = p.mutants_path("numpy").read_text(encoding="utf-8")
    stale = tmp_path / "kv_cache.py"
    stale.write_text(mutants.replace("def stale_cache(", "def attend_with_cache("))
    saved = tmp_path / "saved"
    graded = run_cli("grade", str(stale), "--no-record", "--save-cases", str(saved))
    assert graded.returncode == 1, graded.stdout + graded.stderr
    folder = next(f for f in sorted(saved.iterdir()) if "one-token-at-a-time" in f.name)
    repro = folder / "repro.py"
    assert "call_in_chunks" in repro.read_text()
    still = subprocess.run([sys.executable, str(repro)], capture_output=True, text=True,
                           timeout=120)
    assert still.returncode == 1 and "K_cache: shape (0, 16), expected (5, 16)" in still.stdout
    stale.write_text(p.reference_path("numpy").read_text(encoding="utf-8"))
    fixed = subprocess.run([sys.executable, str(repro)], capture_output=True, text=True,
                           timeout=120)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
