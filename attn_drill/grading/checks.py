"""The named checks of a grade, shared by `grade` (learner code in a child) and `validate`
(references and mutants run in-process).

Input: an `Evaluation` (cases, the learner's per-case outcomes, the parent's own reference
outputs). Output: a list of `CheckResult`, one line each. Everything here is trusted code
working on plain NumPy data; nothing here runs the submission.

Which cases feed which check:
- cases tagged for a listed property (`batched` -> batch-dims, `mask` -> mask,
  `stability` -> stability) are judged by that property's check only;
- the other fixed (literal) cases -> "matches reference (fixed cases)", the other random
  cases -> "matches reference (random, seed N)";
- derived cases (a permuted copy, copies with one later token changed) feed the
  permutation-equivariance and causal-future checks, judged against the learner's own outputs.
"""

from __future__ import annotations

import ast
import copy
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from attn_drill.grading.compare import (
    FLOAT_DTYPES,
    Comparison,
    compare_arrays,
    tolerance_for,
)
from attn_drill.grading.report import CheckResult, Heatmap

if TYPE_CHECKING:
    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.grading.harness import Returned
    from attn_drill.problems import Problem, TrackSpec

PROPERTY_TAGS = {"batch-dims": "batched", "mask": "mask", "stability": "stability"}
DERIVED_PERMUTED = "derived:permutation"
DERIVED_CAUSAL = "derived:causal-future"
LOAD_ERRORS = ("syntax", "import", "missing-name")
HEATMAP_MAX = 12


def tr(lang: str, en: str, zh: str) -> str:
    return zh if lang == "zh" else en


# -- what the checks look at ---------------------------------------------------------------


@dataclass
class CaseOutcome:
    """What the learner's code did on one case: returned data, or an error."""

    returned: Returned | None = None
    error: Any = None  # a LearnerError-like object: .kind, .message, .traceback


@dataclass
class DerivedCase:
    """A case the grader built from another one to test a property."""

    name: str
    kind: str  # DERIVED_PERMUTED or DERIVED_CAUSAL
    source: str
    seq_name: str
    permutation: list[int] = field(default_factory=list)
    cutoff: int = 0


@dataclass
class Evaluation:
    problem: Problem
    track: str
    spec: TrackSpec
    seed: int
    cases: list[ConcreteCase]  # graded cases followed by derived ones
    derived: dict[str, DerivedCase]
    outcomes: dict[str, CaseOutcome]
    references: dict[str, Returned]
    fatal: Any = None  # LearnerError-like when the whole run failed
    signature_problem: str | None = None
    timeout_s: float = 10.0
    mutant_cache: dict[str, Any] = field(default_factory=dict)  # validate reuses mutant runs
    source: str = ""  # the learner's file, for checks that read it (forbidden built-ins)

    @property
    def base_cases(self) -> list[ConcreteCase]:
        return [c for c in self.cases if c.name not in self.derived]

    def case(self, name: str) -> ConcreteCase:
        return next(c for c in self.cases if c.name == name)

    def returned(self, case_name: str) -> Returned | None:
        """What the learner's code returned on that case (None: it raised or never ran)."""
        outcome = self.outcomes.get(case_name)
        return None if outcome is None else outcome.returned

    def compared_outputs(self) -> list[str]:
        """Outputs compared with the reference (the module's eval output included)."""
        names = list(self.spec.outputs)
        if self.spec.call == "module":
            names.append("output@eval")
        return names

    def output_names(self, output: str) -> list[str]:
        return list(self.spec.output_dims.get(output.split("@")[0], []))


# -- the learner's source, read without running it -----------------------------------------


# What ast.parse raises for source it cannot turn into a tree: syntax errors, NUL bytes, and
# nesting deeper than the parser's stack (MemoryError / RecursionError).
UNPARSEABLE = (SyntaxError, ValueError, MemoryError, RecursionError)


def imports_torch(source: str) -> bool:
    """True when an import statement of the file imports torch (AST, never executed)."""
    try:
        tree = ast.parse(source)
    except UNPARSEABLE:
        import re

        return bool(re.search(r"^\s*(import\s+torch|from\s+torch)\b", source, re.MULTILINE))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
            a.name == "torch" or a.name.startswith("torch.") for a in node.names
        ):
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and (node.module == "torch" or node.module.startswith("torch."))
        ):
            return True
    return False


def _accepts(args: ast.arguments, positional: int, keywords: list[str], skip_self: bool) -> str:
    params = [*args.posonlyargs, *args.args]
    if skip_self and params:
        params = params[1:]
    names = [p.arg for p in params]
    if args.vararg is None and len(names) < positional:
        return f"takes {len(names)} positional parameters, the grader passes {positional}"
    required = len(names) - len(args.defaults)
    consumed = max(positional, 0)
    kwonly = [a.arg for a in args.kwonlyargs]
    for key in keywords:
        if key in names[consumed:] or key in kwonly or args.kwarg is not None:
            continue
        return f"has no parameter named {key!r}"
    missing = [n for n in names[consumed:required] if n not in keywords]
    if missing:
        return f"requires {', '.join(missing)}, which the grader does not pass"
    return ""


def signature_problem(source: str, spec: TrackSpec, cases: list[ConcreteCase]) -> str | None:
    """Why the entry point cannot be called the way the grader calls it (AST only), or None."""
    try:
        tree = ast.parse(source)
    except UNPARSEABLE:
        return None  # the runner reports the syntax error with the learner's line numbers
    from attn_drill.grading.streams import passed_names

    by_keyword = set(spec.keyword_inputs)
    # Each distinct way a case calls the entry point (an optional argument may be passed by
    # position in one case and by keyword in another).
    calls = sorted({
        (len([k for k in passed_names(spec, c) if k not in by_keyword]),
         tuple(sorted(k for k in (*c.args, *c.inputs) if k in by_keyword or k in c.args)))
        for c in cases
    }) or [(0, ())]
    for node in tree.body:
        if spec.call == "module" and isinstance(node, ast.ClassDef) and node.name == spec.entry:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "forward":
                    why = next((w for p, k in calls
                                if (w := _accepts(item.args, p, list(k), skip_self=True))), "")
                    return f"{spec.entry}.forward {why}" if why else None
            return None  # forward may come from a base class
        if (
            spec.call == "function"
            and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.name == spec.entry
        ):
            if isinstance(node, ast.AsyncFunctionDef):
                return f"{spec.entry} is `async def`; define a plain function"
            why = next((w for p, k in calls
                        if (w := _accepts(node.args, p, list(k), skip_self=False))), "")
            return f"{spec.entry} {why}" if why else None
    return None  # defined some other way (assignment, import): the runner will tell


# -- derived cases -------------------------------------------------------------------------


def _seq_name(spec: TrackSpec) -> str | None:
    names = spec.output_dims.get(spec.outputs[0], []) if spec.outputs else []
    return names[-2] if len(names) >= 2 else None


def _sequence_inputs(case_spec: Any, seq: str) -> list[str]:
    return [
        name
        for name, input_spec in case_spec.random.items()
        if len(input_spec.shape) >= 2
        and input_spec.shape[-2] == seq
        and not input_spec.kind.endswith("mask")
    ]


def derive_cases(
    spec: TrackSpec, cases: list[ConcreteCase], seed: int
) -> tuple[list[ConcreteCase], dict[str, DerivedCase]]:
    """Extra cases for permutation-equivariance and causal-future, built from graded cases."""
    from attn_drill.grading.invariants import derive_shifted_positions

    seq = _seq_name(spec)
    derived_cases: list[ConcreteCase] = []
    derived: dict[str, DerivedCase] = {}
    for case, info in derive_shifted_positions(spec, cases):
        derived_cases.append(case)
        derived[case.name] = info
    if seq is None:
        return derived_cases, derived
    specs = {c.name: c for c in spec.cases}
    rng = np.random.default_rng([seed, 7919])

    # (case, its sequence inputs, has a mask, is causal) for every random case usable as a source
    sources = []
    for case in cases:
        case_spec = specs.get(case.name)
        if case_spec is None or not case.is_random or "stability" in case.tags:
            continue
        seq_inputs = _sequence_inputs(case_spec, seq)
        if not seq_inputs or case.dims.get(seq, 0) < 2:
            continue
        kinds = {s.kind for s in case_spec.random.values()}
        has_mask = any(k.endswith("mask") for k in kinds) or any(
            v.dtype == bool for v in case.inputs.values())
        is_causal = "causal" in case.tags or "causal-mask" in kinds
        sources.append((case, seq_inputs, has_mask, is_causal))
    unmasked = [(c, inputs) for c, inputs, has_mask, _ in sources if not has_mask]
    causal = [(c, inputs) for c, inputs, _, is_causal in sources if is_causal]

    if "permutation-equivariance" in spec.properties:
        options = unmasked
        if options:
            source, seq_inputs = options[0]
            n = source.dims[seq]
            perm = rng.permutation(n)
            if (perm == np.arange(n)).all():
                perm = perm[::-1].copy()
            case = copy.deepcopy(source)
            case.name = f"{source.name} (sequence permuted)"
            case.tags = [*source.tags, DERIVED_PERMUTED]
            for name in seq_inputs:
                case.inputs[name] = np.take(source.inputs[name], perm, axis=-2)
            if case.grad_output is not None and case.grad_output.ndim >= 2:
                case.grad_output = np.take(case.grad_output, perm, axis=-2)
            derived_cases.append(case)
            derived[case.name] = DerivedCase(
                case.name, DERIVED_PERMUTED, source.name, seq, permutation=perm.tolist()
            )
    if "causal-future" in spec.properties:
        options = causal or unmasked  # causal-attention itself has no mask input
        if options:
            # One copy per later token, with only that token changed: a leak from any token to
            # any earlier position shows up (changing a whole tail only checks the first half).
            source, seq_inputs = options[0]
            n = source.dims[seq]
            for cutoff in range(1, n):
                case = copy.deepcopy(source)
                case.name = f"{source.name} (token {cutoff} changed)"
                case.tags = [*source.tags, DERIVED_CAUSAL]
                for name in seq_inputs:
                    changed = source.inputs[name].copy()
                    token = changed[..., cutoff, :]
                    changed[..., cutoff, :] = rng.standard_normal(token.shape) * 3.0
                    case.inputs[name] = changed
                derived_cases.append(case)
                derived[case.name] = DerivedCase(
                    case.name, DERIVED_CAUSAL, source.name, seq, cutoff=cutoff
                )
    return derived_cases, derived


# -- trusted calls -------------------------------------------------------------------------


_loaded: dict[str, Any] = {}


def load_trusted_module(path: Any, module_name: str) -> Any:
    """Load a pack file (reference or mutants) once per process."""
    from attn_drill.grading.harness import load_module_from_path

    key = str(path)
    if key not in _loaded:
        _loaded[key] = load_module_from_path(path, module_name)
    return _loaded[key]


def call_trusted(target: Any, spec: TrackSpec, case: ConcreteCase, track: str,
                 reference: bool = True) -> Returned:
    """Call trusted code (reference or mutant) with warnings silenced (overflow is expected)."""
    from attn_drill.grading.harness import call
    from attn_drill.grading.streams import unmeasured

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        # Only outputs are wanted here: measuring memory would slow the parent (tracemalloc
        # traces every thread) while it waits for the child.
        return call(target, spec, unmeasured(case), track, reference=reference)


def reference_target(problem: Problem, track: str) -> Any:
    spec = problem.tracks[track]
    module = load_trusted_module(
        problem.reference_path(track), f"_attn_drill_ref_{problem.module_stem}_{track}"
    )
    return getattr(module, spec.entry)


def compute_references(
    problem: Problem, track: str, cases: list[ConcreteCase]
) -> dict[str, Returned]:
    """The parent's own float64 outputs of the pack's reference on every case."""
    spec = problem.tracks[track]
    target = reference_target(problem, track)
    if track == "torch":
        import torch

        torch.set_num_threads(1)
    return {case.name: call_trusted(target, spec, case, track) for case in cases}


# -- helpers over outcomes -----------------------------------------------------------------


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def explain_shape(shape: tuple[int, ...], names: list[str]) -> str:
    """`(2, 5, 24) = (batch, n, d_v)`: names aligned from the right, `...` read as batch."""
    usable = [n for n in names if not n.startswith("...")]
    open_ended = len(usable) < len(names)
    if not usable or len(shape) < len(usable) or (len(shape) > len(usable) and not open_ended):
        return _fmt_shape(shape)
    aligned = ["batch"] * (len(shape) - len(usable)) + usable
    return f"{_fmt_shape(shape)} = ({', '.join(aligned)})"


def _bool_mask(case: ConcreteCase) -> np.ndarray | None:
    for value in case.inputs.values():
        if value.dtype == bool and value.ndim >= 1:
            return value
    return None


def ignored_rows(case: ConcreteCase, shape: tuple[int, ...]) -> np.ndarray | None:
    """Elements of an output that belong to fully masked query rows (not graded), or None."""
    mask = _bool_mask(case)
    if mask is None or mask.ndim < 2 or len(shape) < 2:
        return None
    empty = ~mask.any(axis=-1)  # (..., n)
    if not empty.any():
        return None
    while empty.ndim > len(shape) - 1:
        empty = empty.any(axis=-2)  # a head axis of the mask: masked in any head
    try:
        return np.broadcast_to(empty[..., None], shape)
    except ValueError:
        return None


def learner_array(ev: Evaluation, case: str, output: str) -> np.ndarray | None:
    returned = ev.returned(case)
    return None if returned is None else returned.arrays.get(output)


def reference_array(ev: Evaluation, case: str, output: str) -> np.ndarray | None:
    ref = ev.references.get(case)
    return None if ref is None else ref.arrays.get(output)


def dtype_of(array: np.ndarray) -> str:
    return array.dtype.name


def tolerance(ev: Evaluation, array: np.ndarray) -> tuple[float, float]:
    """rtol/atol for the dtype returned; the torch track's inputs are float32, so a float64
    result computed from them can only be as precise as float32."""
    dtype = "float32" if ev.track == "torch" else dtype_of(array)
    tol = tolerance_for(ev.problem, dtype)
    return tol.rtol, tol.atol


def tolerance_label(ev: Evaluation, array: np.ndarray) -> str:
    """The dtype whose tolerance judged `array` (see `tolerance`): float64's for float64 on
    the NumPy track, float32's for everything else (float16 included)."""
    return "float64" if ev.track != "torch" and dtype_of(array) == "float64" else "float32"


def error_text(error: Any, lang: str, timeout_s: float) -> str:
    """One line describing a learner error, by kind."""
    kind = getattr(error, "kind", "exception")
    message = getattr(error, "message", str(error))
    texts = {
        "timeout": tr(
            lang,
            f"stopped after {timeout_s:g} s (the limit for all cases together): an endless "
            "loop, or far too slow",
            f"运行超过 {timeout_s:g} 秒（所有用例合计的时限）被终止：可能是死循环，或者太慢",
        ),
        "memory": tr(lang, f"ran out of memory: {message}", f"内存超出限制：{message}"),
        "process-limit": tr(
            lang, f"started too many processes or threads: {message}",
            f"启动了过多的进程或线程：{message}",
        ),
        "exited": tr(
            lang,
            f"ended before returning a result (sys.exit / os._exit?): {message}",
            f"在返回结果之前就结束了（sys.exit / os._exit？）：{message}",
        ),
        "crashed": tr(lang, f"the Python process crashed: {message}",
                      f"Python 进程崩溃了：{message}"),
        "bad-output": tr(lang, f"returned something that cannot be graded: {message}",
                         f"返回了无法评分的内容：{message}"),
    }
    return texts.get(kind, message)


# -- the checks ----------------------------------------------------------------------------


def shown_output(output: str, lang: str) -> str:
    """`output`, or for a module's second forward pass "`output` (eval mode)"."""
    if output.endswith("@eval"):
        return tr(lang, f"`{output[:-5]}` (eval mode)", f"`{output[:-5]}`（eval 模式）")
    return f"`{output}`"


def _signature_display(spec: TrackSpec) -> str:
    text = spec.signature.strip()
    if spec.call == "module":
        return "class " + text.removeprefix("class ").split(":")[0].strip()
    if text.startswith("def "):
        text = text[4:]
    if text.startswith("class "):
        text = text[6:]
    return text.split("->")[0].strip().rstrip(":")


def check_defines(ev: Evaluation, lang: str) -> CheckResult:
    name = tr(lang, f"defines {_signature_display(ev.spec)}",
              f"定义了 {_signature_display(ev.spec)}")
    fatal = ev.fatal
    if fatal is not None and getattr(fatal, "kind", "") in LOAD_ERRORS:
        kind = fatal.kind
        lead = {
            "syntax": tr(lang, "the file has a syntax error", "文件有语法错误"),
            "import": tr(lang, "importing the file failed", "导入文件失败"),
            "missing-name": tr(lang, f"the file does not define `{ev.spec.entry}`",
                               f"文件中没有定义 `{ev.spec.entry}`"),
        }[kind]
        return CheckResult(name, False, f"{lead}: {fatal.message}", kind="defines")
    if ev.signature_problem:
        return CheckResult(
            name, False,
            tr(lang, f"incompatible signature: {ev.signature_problem}; expected "
               f"`{ev.spec.signature}`",
               f"签名不兼容：{ev.signature_problem}；应为 `{ev.spec.signature}`"),
            kind="defines",
        )
    binding = _binding_error(ev)
    if binding:
        return CheckResult(name, False, binding, kind="defines")
    return CheckResult(name, True, kind="defines")


BINDING_MARKERS = ("the way the grader does it", "check its signature")


def _binding_error(ev: Evaluation) -> str:
    """A call that failed while binding arguments, as the runner reports it (inspect-level
    signature incompatibility), or ""."""
    for outcome in ev.outcomes.values():
        message = getattr(outcome.error, "message", "") if outcome.error is not None else ""
        if any(marker in message for marker in BINDING_MARKERS):
            return message
    return ""


def _not_run(name: str, kind: str, lang: str) -> CheckResult:
    return CheckResult(name, False, tr(lang, "not run: the file could not be loaded",
                                       "未运行：文件无法加载"), kind=kind, not_run=True)


def check_runs(ev: Evaluation, lang: str) -> CheckResult:
    name = tr(lang, "runs on every case without errors", "所有用例运行无错误")
    failed = []
    first = ""
    for case in ev.cases:
        outcome = ev.outcomes.get(case.name)
        if outcome is not None and outcome.error is None and outcome.returned is not None:
            continue
        error = outcome.error if outcome is not None and outcome.error is not None else ev.fatal
        failed.append(case.name)
        if not first:
            reason = (error_text(error, lang, ev.timeout_s) if error is not None
                      else tr(lang, "no result came back", "没有返回结果"))
            first = tr(lang, f"case '{case.name}': ", f"用例「{case.name}」：") + reason
            first += integer_input_advice(ev, error, lang)
    if not failed:
        return CheckResult(name, True, kind="runs")
    more = tr(lang, f" (and {len(failed) - 1} more cases)", f"（另有 {len(failed) - 1} 个用例）")
    return CheckResult(name, False, first + (more if len(failed) > 1 else ""), kind="runs",
                       failed_cases=failed)


INTEGER_DTYPE_WORDS = ("long", "int64", "integer")


def integer_input_advice(ev: Evaluation, error: Any, lang: str) -> str:
    """When an error looks like an int/float mix-up and the problem passes integer inputs,
    say which inputs are int64 and how to turn them into floats, else ""."""
    names = list(getattr(ev.spec, "integer_inputs", []) or [])
    message = str(getattr(error, "message", "") or "").lower()
    if not names or not any(word in message for word in INTEGER_DTYPE_WORDS):
        return ""
    shown = ", ".join(f"`{n}`" for n in names)
    floats = [k for c in ev.base_cases[:1] for k, v in c.inputs.items() if v.dtype.kind == "f"]
    like = floats[0] if floats else "x"
    convert = (f"{names[0]}.to({like}.dtype)" if ev.track == "torch"
               else f"{names[0]}.astype({like}.dtype)")
    return tr(lang, f" ({shown} arrive as int64; convert before mixing with floats, e.g. "
              f"`{convert}`)",
              f"（{shown} 是 int64；与浮点数混合运算前先转换，例如 `{convert}`）")


TYPE_ADVICE = {
    ("numpy", "list"): (
        "returned a Python list; return a NumPy array (build the result with NumPy operations, "
        "or np.asarray at the end)",
        "返回了 Python 列表；请返回 NumPy 数组（用 NumPy 运算得到结果，或最后用 np.asarray 转换）",
    ),
    ("numpy", "tuple"): (
        "returned a tuple where an array was expected",
        "在应返回数组的位置返回了元组",
    ),
    ("numpy", "tensor"): (
        "returned a torch.Tensor; the NumPy track expects np.ndarray",
        "返回了 torch.Tensor；NumPy 赛道要求返回 np.ndarray",
    ),
    ("numpy", "scalar"): ("returned a single number, not an array", "返回了单个数字，而不是数组"),
    ("torch", "ndarray"): (
        "returned a NumPy array; the torch track expects torch.Tensor (stay in torch so "
        "gradients can flow)",
        "返回了 NumPy 数组；torch 赛道要求返回 torch.Tensor（全程使用 torch，梯度才能回传）",
    ),
    ("torch", "list"): ("returned a Python list; return a torch.Tensor",
                        "返回了 Python 列表；请返回 torch.Tensor"),
    ("torch", "tuple"): ("returned a tuple where a tensor was expected",
                         "在应返回张量的位置返回了元组"),
    ("torch", "scalar"): ("returned a single number, not a tensor", "返回了单个数字，而不是张量"),
    ("numpy", "other:generator"): (
        "returned a generator: a `yield` in the function makes it one; build the whole result "
        "and `return` the array",
        "返回了生成器：函数里的 `yield` 会让它变成生成器；请算出完整结果，再用 `return` 返回数组",
    ),
    ("torch", "other:generator"): (
        "returned a generator: a `yield` in the function makes it one; build the whole result "
        "and `return` the tensor",
        "返回了生成器：函数里的 `yield` 会让它变成生成器；请算出完整结果，再用 `return` 返回张量",
    ),
}


def type_check_name(ev: Evaluation, lang: str) -> str:
    want_text = "torch.Tensor" if ev.track == "torch" else "np.ndarray"
    outputs = ", ".join(ev.spec.outputs)
    if len(ev.spec.outputs) > 1:
        return tr(lang, f"returns a tuple ({outputs}) of {want_text}",
                  f"返回 {want_text} 组成的元组 ({outputs})")
    return tr(lang, f"returns {want_text}", f"返回 {want_text}")


def check_types(ev: Evaluation, lang: str) -> CheckResult:
    want = "tensor" if ev.track == "torch" else "ndarray"
    want_text = "torch.Tensor" if want == "tensor" else "np.ndarray"
    name = type_check_name(ev, lang)
    failed = []
    first = ""
    for case in ev.cases:
        returned = ev.returned(case.name)
        if returned is None:
            continue
        problem = ""
        if returned.structure_error:
            problem = returned.structure_error
        else:
            for output in ev.spec.outputs:
                kind = returned.types.get(output, "missing")
                if kind == want:
                    continue
                advice = TYPE_ADVICE.get((ev.track, kind))
                if advice:
                    problem = f"`{output}`: " + tr(lang, *advice)
                else:
                    shown = kind.split(":", 1)[-1]
                    problem = tr(lang, f"`{output}` is {shown}, expected {want_text}",
                                 f"`{output}` 是 {shown}，应为 {want_text}")
                break
        if problem:
            failed.append(case.name)
            if not first:
                first = problem
    if not failed:
        return CheckResult(name, True, kind="type")
    return CheckResult(name, False, first, kind="type", failed_cases=failed)


def check_shapes(ev: Evaluation, lang: str) -> CheckResult:
    name = tr(lang, "output shapes", "输出形状")
    failed = []
    first = ""
    for case in ev.cases:
        for output in ev.compared_outputs():
            got = learner_array(ev, case.name, output)
            expected = reference_array(ev, case.name, output)
            if got is None or expected is None or got.shape == expected.shape:
                continue
            if case.name not in failed:
                failed.append(case.name)
            if not first:
                input_shapes = ", ".join(
                    f"{k} {_fmt_shape(v.shape)}" for k, v in case.inputs.items()
                )
                first = tr(
                    lang,
                    f"case '{case.name}' ({input_shapes}): {shown_output(output, lang)} has shape "
                    f"{_fmt_shape(got.shape)}, expected "
                    f"{explain_shape(expected.shape, ev.output_names(output))}",
                    f"用例「{case.name}」（{input_shapes}）：{shown_output(output, lang)} 的形状是 "
                    f"{_fmt_shape(got.shape)}，应为 "
                    f"{explain_shape(expected.shape, ev.output_names(output))}",
                )
    if not failed:
        return CheckResult(name, True, kind="shape")
    return CheckResult(name, False, first, kind="shape", failed_cases=failed)


def check_dtypes(ev: Evaluation, lang: str) -> CheckResult:
    name = tr(lang, "floating-point result dtype", "结果为浮点类型")
    seen: set[str] = set()
    for case in ev.cases:
        for output in ev.compared_outputs():
            got = learner_array(ev, case.name, output)
            if got is None:
                unreadable = unreadable_output(ev, case.name, output, lang)
                if unreadable:
                    return CheckResult(
                        name, False, tr(lang, f"case '{case.name}': ", f"用例「{case.name}」：")
                        + unreadable, kind="dtype", failed_cases=[case.name])
                continue
            seen.add(dtype_of(got))
            if dtype_of(got) not in FLOAT_DTYPES:
                return CheckResult(
                    name, False,
                    tr(lang, f"case '{case.name}': `{output}` has dtype {dtype_of(got)}; "
                       "return float64 (or float32) values",
                       f"用例「{case.name}」：`{output}` 的 dtype 是 {dtype_of(got)}；"
                       "请返回 float64（或 float32）"),
                    kind="dtype", failed_cases=[case.name],
                )
    message = ""
    expected_dtype = "float32" if ev.track == "torch" else "float64"
    other = sorted(seen - {expected_dtype})
    if other:
        judged = "float32" if ev.track == "torch" or "float32" in other else "float64"
        message = tr(lang, f"{', '.join(other)} results are judged with {judged} tolerances",
                     f"{', '.join(other)} 结果按 {judged} 的容差评判")
    return CheckResult(name, True, message, kind="dtype")


def unreadable_output(ev: Evaluation, case: str, output: str, lang: str) -> str:
    """Why an output that came back as an array or tensor has no numbers to grade, or "" (it
    was not returned at all, or is not an array: the type check says so)."""
    returned = ev.returned(case)
    if returned is None:
        return ""
    types = returned.types
    base = output.split("@")[0]
    dtype = types.get(f"dtype:{output}") or types.get(f"dtype:{base}", "")
    shown = shown_output(output, lang)
    want = "float32" if ev.track == "torch" else "float64 (or float32)"
    if dtype == "bfloat16":
        return tr(lang, f"{shown} is a bfloat16 tensor, which is not accepted (like float16): "
                  f"return {want}",
                  f"{shown} 是 bfloat16 张量，不被接受（与 float16 一样）：请返回 {want}")
    if dtype:
        return tr(lang, f"{shown} has dtype {dtype}, not numbers: return {want} values",
                  f"{shown} 的 dtype 是 {dtype}，不是数值：请返回 {want}")
    if types.get(base) in ("ndarray", "tensor"):
        return tr(lang, f"{shown} could not be read as numbers (dtype not numeric): return "
                  f"{want} values", f"{shown} 无法读取为数值（dtype 不是数值类型）：请返回 {want}")
    return ""


@dataclass
class CaseVerdict:
    ok: bool
    reason: str = ""  # error | missing | shape | mismatch
    comparison: Comparison | None = None
    output: str = ""


def judge_case(ev: Evaluation, case: ConcreteCase, outputs: list[str]) -> CaseVerdict:
    """Learner vs reference on one case (fully masked rows ignored)."""
    returned = ev.returned(case.name)
    if returned is None:
        return CaseVerdict(False, "error")
    for output in outputs:
        expected = reference_array(ev, case.name, output)
        if expected is None:
            continue
        got = returned.arrays.get(output)
        if got is None:
            return CaseVerdict(False, "missing", output=output)
        if got.shape != expected.shape:
            return CaseVerdict(False, "shape", output=output)
        rtol, atol = tolerance(ev, got)
        comparison = compare_arrays(
            got, expected, rtol=rtol, atol=atol, dtype=tolerance_label(ev, got), case=case.name,
            output=output, ignore=ignored_rows(case, expected.shape),
        )
        if not comparison.ok:
            return CaseVerdict(False, "mismatch", comparison, output)
    return CaseVerdict(True)


def _heatmap_for(ev: Evaluation, cases: list[ConcreteCase]) -> Heatmap | None:
    """Learner vs reference weights of the (case, batch element) where they differ most, so
    the two drawings show the difference (a slice that happens to agree would look identical);
    the smaller table wins a tie."""
    if "weights" in ev.spec.outputs:
        output = "weights"
    elif "sums-to-one" in ev.spec.properties and len(ev.spec.outputs) == 1:
        output = ev.spec.outputs[0]  # the output is itself a probability table (softmax)
    else:
        return None
    if len([n for n in ev.output_names(output) if not n.startswith("...")]) < 2:
        return None  # one weight per key (additive attention): no (n, m) table to draw
    best: tuple[float, int, Heatmap] | None = None
    for case in cases:
        got = learner_array(ev, case.name, output)
        expected = reference_array(ev, case.name, output)
        if got is None or expected is None or got.shape != expected.shape or got.ndim < 2:
            continue
        n, m = expected.shape[-2:]
        if n > HEATMAP_MAX or m > HEATMAP_MAX:
            continue
        try:
            mine = np.asarray(got, dtype=float).reshape(-1, n, m)
        except (TypeError, ValueError):
            continue
        theirs = np.asarray(expected, dtype=float).reshape(-1, n, m)
        for index in range(mine.shape[0]):
            diff = np.abs(mine[index] - theirs[index])
            worst = float("inf") if not np.isfinite(diff).all() else float(diff.max())
            if best is None or (worst, -n * m) > (best[0], -best[1]):
                best = (worst, n * m, Heatmap(case.name, mine[index].tolist(),
                                              theirs[index].tolist()))
    return None if best is None else best[2]


def _match_check(ev: Evaluation, name: str, kind: str, cases: list[ConcreteCase],
                 lang: str) -> CheckResult:
    outputs = ev.compared_outputs()
    failed: list[ConcreteCase] = []
    first: CaseVerdict | None = None
    first_case = ""
    for case in cases:
        verdict = judge_case(ev, case, outputs)
        if not verdict.ok:
            failed.append(case)
            if first is None or (first.reason != "mismatch" and verdict.reason == "mismatch"):
                first, first_case = verdict, case.name
    if not failed:
        return CheckResult(name, True, kind=kind)
    assert first is not None
    if first.reason == "mismatch" and first.comparison and first.comparison.table:
        table = first.comparison.table
        shown = shown_output(first.output, lang)
        message = tr(lang, f"case '{first_case}', {shown}: ",
                     f"用例「{first_case}」，{shown}：") + table.summary(lang)
        if table.nan_count or table.inf_count:
            message += tr(lang, f"; your output contains {table.nan_count} NaN and "
                          f"{table.inf_count} inf values",
                          f"；你的输出含有 {table.nan_count} 个 NaN 和 {table.inf_count} 个 inf")
    elif first.reason == "shape":
        message = tr(lang, f"case '{first_case}': wrong shape (see the shape check)",
                     f"用例「{first_case}」：形状不对（见形状检查）")
    elif first.reason == "missing":
        shown = shown_output(first.output, lang)
        reason = unreadable_output(ev, first_case, first.output, lang) or tr(
            lang, f"{shown} could not be read as numbers", f"{shown} 无法读取为数值")
        message = tr(lang, f"case '{first_case}': ", f"用例「{first_case}」：") + reason
    else:
        outcome = ev.outcomes.get(first_case)
        error = outcome.error if outcome is not None and outcome.error else ev.fatal
        reason = error_text(error, lang, ev.timeout_s) if error is not None else tr(
            lang, "no result", "没有结果")
        message = tr(lang, f"case '{first_case}': {reason}", f"用例「{first_case}」：{reason}")
    if len(failed) > 1:
        message += tr(lang, f" ({len(failed)} of {len(cases)} cases fail)",
                      f"（{len(cases)} 个用例中 {len(failed)} 个未通过）")
    return CheckResult(
        name, False, message, kind=kind,
        mismatch=first.comparison.table if first.comparison else None,
        heatmap=_heatmap_for(ev, failed),
        failed_cases=[c.name for c in failed],
    )


def _property_cases(ev: Evaluation) -> dict[str, list[ConcreteCase]]:
    grouped: dict[str, list[ConcreteCase]] = {}
    listed = {PROPERTY_TAGS[p] for p in ev.spec.properties if p in PROPERTY_TAGS}
    for prop, tag in PROPERTY_TAGS.items():
        if prop in ev.spec.properties:
            grouped[prop] = [c for c in ev.base_cases if tag in c.tags]
    if grouped.get("batch-dims"):
        # A batched mask case that fails is the mask's failure: judge batching on the cases
        # that test nothing else, when there are any.
        only = [c for c in grouped["batch-dims"] if not (listed - {"batched"}) & set(c.tags)]
        grouped["batch-dims"] = only or grouped["batch-dims"]
    return grouped


def _plain_cases(ev: Evaluation) -> list[ConcreteCase]:
    tags = {PROPERTY_TAGS[p] for p in ev.spec.properties if p in PROPERTY_TAGS}
    return [c for c in ev.base_cases if not tags & set(c.tags)]


PROPERTY_NAMES = {
    "batch-dims": ("works with leading batch dimensions", "支持前置的批量维度"),
    "mask": ("respects the mask", "正确使用掩码"),
    "stability": ("numerically stable for large scores", "大分数下数值稳定"),
    "no-mutation": ("does not modify its inputs", "不修改输入"),
    "sums-to-one": ("attention weights sum to 1", "注意力权重和为 1"),
    "permutation-equivariance": ("permuting the sequence permutes the output",
                                 "打乱序列顺序，输出随之同样打乱"),
    "causal-future": ("future tokens do not change earlier outputs",
                      "未来的 token 不影响之前位置的输出"),
    "gradients": ("gradients match the reference", "梯度与参考实现一致"),
}


def property_name(prop: str, lang: str) -> str:
    from attn_drill.grading.invariants import NAMES

    en, zh = PROPERTY_NAMES.get(prop) or NAMES.get(prop, (prop, prop))
    return tr(lang, en, zh)


def check_no_mutation(ev: Evaluation, lang: str) -> CheckResult:
    name = property_name("no-mutation", lang)
    failed = []
    first = ""
    for case in ev.base_cases:
        returned = ev.returned(case.name)
        if returned is None:
            continue
        for key, original in case.inputs.items():
            after = returned.inputs_after.get(key)
            if after is None:
                continue
            sent = original
            plain = key in (getattr(ev.spec, "python_inputs", None) or ())
            if ev.track == "torch" and original.dtype.kind == "f" and not plain:
                sent = original.astype(np.float32)  # what the child actually received
            if after.shape != sent.shape or not np.array_equal(after, sent, equal_nan=True):
                failed.append(case.name)
                if not first:
                    fresh = "tensors" if ev.track == "torch" else "arrays"
                    fresh_zh = "张量" if ev.track == "torch" else "数组"
                    first = tr(lang, f"`{key}` was changed in place (case '{case.name}'); "
                               f"compute into new {fresh}",
                               f"`{key}` 被原地修改了（用例「{case.name}」）；请把结果写到新"
                               f"{fresh_zh}里")
                break
    if not failed:
        return CheckResult(name, True, kind="property:no-mutation")
    return CheckResult(name, False, first, kind="property:no-mutation", failed_cases=failed)


def _sum_axis(ev: Evaluation, case: ConcreteCase) -> tuple[str, int] | None:
    if "weights" in ev.spec.outputs:
        return "weights", -1
    if len(ev.spec.outputs) == 1:
        return ev.spec.outputs[0], int(case.args.get("axis", -1))
    return None


def sums_check_name(ev: Evaluation, lang: str) -> str:
    if "weights" not in ev.spec.outputs:
        return tr(lang, "each slice sums to 1 along `axis`", "沿 `axis` 的每个切片之和为 1")
    return property_name("sums-to-one", lang)


def check_sums_to_one(ev: Evaluation, lang: str) -> CheckResult:
    name = sums_check_name(ev, lang)
    failed = []
    first = ""
    for case in ev.base_cases:
        target = _sum_axis(ev, case)
        if target is None:
            break
        output, axis = target
        got = learner_array(ev, case.name, output)
        expected = reference_array(ev, case.name, output)
        if got is None or expected is None or got.shape != expected.shape:
            continue
        sums = np.asarray(got, dtype=np.float64).sum(axis=axis)
        rtol, atol = tolerance(ev, got)
        limit = atol + rtol * got.shape[axis] + 1e-12
        graded = np.ones(sums.shape, dtype=bool)
        skip = ignored_rows(case, expected.shape)
        if skip is not None and axis == -1:
            graded = ~skip[..., 0]
        with np.errstate(invalid="ignore"):
            bad = graded & ~(np.abs(sums - 1.0) <= limit)
        if bad.any():
            failed.append(case.name)
            if not first:
                where = tuple(int(i) for i in np.argwhere(bad)[0])
                value = float(sums[where])
                first = tr(
                    lang,
                    f"case '{case.name}': `{output}` sums to {value:.6g} along axis {axis} at "
                    f"index {where} ({int(bad.sum())} of {bad.size} slices are off)",
                    f"用例「{case.name}」：`{output}` 沿轴 {axis} 在索引 {where} 处之和为 "
                    f"{value:.6g}（{bad.size} 个切片中有 {int(bad.sum())} 个不为 1）",
                )
    if not failed:
        return CheckResult(name, True, kind="property:sums-to-one")
    return CheckResult(name, False, first, kind="property:sums-to-one", failed_cases=failed)


def _derived_expectation(ev: Evaluation, derived: DerivedCase, output: str,
                         array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """What the learner's derived-case output must equal, from its own source output.

    Returns (expected, ignore) where ignore marks elements the property says nothing about.
    """
    names = ev.output_names(output)
    seq_axes = [i - len(names) for i, n in enumerate(names) if n == derived.seq_name]
    seq_axes = [a for a in seq_axes if -a <= array.ndim]
    if derived.kind == DERIVED_PERMUTED:
        expected = array
        for axis in seq_axes:
            expected = np.take(expected, derived.permutation, axis=axis)
        return expected, None
    # causal: only positions before the cutoff (along the query axis) are constrained
    ignore = np.zeros(array.shape, dtype=bool)
    if seq_axes:
        query_axis = seq_axes[0]
        index = [slice(None)] * array.ndim
        index[query_axis] = slice(derived.cutoff, None)
        ignore[tuple(index)] = True
    return array, ignore


def _changed_rows(after: np.ndarray, expected: np.ndarray, ignore: np.ndarray | None,
                  rtol: float, atol: float) -> list[int]:
    """Query positions (axis -2) where `after` moved away from `expected`."""
    from attn_drill.grading.compare import close_elements

    bad = ~close_elements(after, expected, rtol, atol)
    if ignore is not None:
        bad &= ~ignore
    if bad.ndim < 2:
        return []
    per_row = bad.reshape(-1, *bad.shape[-2:]).any(axis=(0, 2))
    return [int(i) for i in np.flatnonzero(per_row)]


def check_derived(ev: Evaluation, prop: str, kind: str, lang: str) -> CheckResult | None:
    name = property_name(prop, lang)
    todo = [d for d in ev.derived.values() if d.kind == kind]
    if not todo:
        return None
    # causal-future: every changed token that reaches an earlier position, and those positions
    leaking_tokens: list[int] = []
    leaked_rows: set[int] = set()
    first_failure: tuple[DerivedCase, str, Comparison] | None = None
    failed_cases: list[str] = []
    for derived in todo:
        source = ev.outcomes.get(derived.source)
        result = ev.outcomes.get(derived.name)
        if (source is None or source.returned is None or result is None
                or result.returned is None):
            return CheckResult(name, False, tr(
                lang, f"could not be checked: case '{derived.source}' did not return a result",
                f"无法检查：用例「{derived.source}」没有返回结果"),
                kind=f"property:{prop}", failed_cases=[derived.name], not_run=True)
        for output in ev.spec.outputs:
            before = source.returned.arrays.get(output)
            after = result.returned.arrays.get(output)
            if before is None or after is None:
                continue
            expected, ignore = _derived_expectation(ev, derived, output, before)
            if expected.shape != after.shape:
                continue  # the shape check reports this
            rtol, atol = tolerance(ev, after)
            comparison = compare_arrays(after, expected, rtol=rtol * 10, atol=atol * 10,
                                        dtype=tolerance_label(ev, after), case=derived.name,
                                        output=output,
                                        ignore=ignore)
            if comparison.ok:
                continue
            if kind == DERIVED_PERMUTED:
                message = tr(
                    lang,
                    f"reordering the tokens of case '{derived.source}' changed `{output}` by more "
                    "than reordering it: attention must not depend on token positions",
                    f"打乱用例「{derived.source}」中 token 的顺序后，`{output}` 的变化不只是顺序"
                    "改变：注意力不应依赖 token 的位置",
                )
                return CheckResult(name, False, message, kind=f"property:{prop}",
                                   mismatch=comparison.table, failed_cases=[derived.name])
            if first_failure is None:
                first_failure = (derived, output, comparison)
            if derived.name not in failed_cases:
                failed_cases.append(derived.name)
            if derived.cutoff not in leaking_tokens:
                leaking_tokens.append(derived.cutoff)
            leaked_rows.update(_changed_rows(after, expected, ignore, rtol * 10, atol * 10))
    if first_failure is None:
        return CheckResult(name, True, kind=f"property:{prop}")
    derived, output, comparison = first_failure
    rows = sorted(leaked_rows)
    tokens = ", ".join(str(t) for t in sorted(leaking_tokens))
    message = tr(
        lang,
        f"changing token{'s' if len(leaking_tokens) > 1 else ''} {tokens} of case "
        f"'{derived.source}' (one at a time) changed "
        f"`{output}` at earlier positions {rows}: position i may only attend to j ≤ i",
        f"逐个修改用例「{derived.source}」中的第 {tokens} 个 token，`{output}` 在更早的位置 "
        f"{rows} 也变了：位置 i 只能关注 j ≤ i",
    )
    return CheckResult(name, False, message, kind=f"property:{prop}",
                       mismatch=comparison.table, failed_cases=failed_cases)


@dataclass
class GradientGaps:
    """Why gradients are missing, from the module harness's notes: parameters forward never
    used, parameters it used but cut off from the graph, and backward's own error."""

    unused: list[str] = field(default_factory=list)
    detached: list[str] = field(default_factory=list)
    backward_error: str = ""
    backward_case: str = ""


def gradient_gaps(ev: Evaluation) -> GradientGaps:
    from attn_drill.grading.harness import BACKWARD_ERROR, GRAD_NOTE

    gaps = GradientGaps()
    for case in ev.base_cases:
        returned = ev.returned(case.name)
        if returned is None:
            continue
        types = returned.types
        if BACKWARD_ERROR in types and not gaps.backward_error:
            gaps.backward_error, gaps.backward_case = types[BACKWARD_ERROR], case.name
        for key, note in types.items():
            if not key.startswith(GRAD_NOTE):
                continue
            target = gaps.unused if note == "unused" else gaps.detached
            if key[len(GRAD_NOTE):] not in target:
                target.append(key[len(GRAD_NOTE):])
    return gaps


def check_gradients(ev: Evaluation, lang: str) -> CheckResult | None:
    name = property_name("gradients", lang)
    failed = []
    first = ""
    first_table = None
    missing: list[str] = []
    checked = False
    for case in ev.base_cases:
        ref = ev.references.get(case.name)
        returned = ev.returned(case.name)
        if ref is None:
            continue
        keys = [k for k in ref.arrays if k.startswith("grad:")]
        if not keys:
            continue
        checked = True
        if returned is None:
            failed.append(case.name)
            continue
        for key in keys:
            got = returned.arrays.get(key)
            if got is None:
                if key[5:] not in missing:
                    missing.append(key[5:])
                if case.name not in failed:
                    failed.append(case.name)
                continue
            expected = ref.arrays[key]
            if got.shape != expected.shape:
                got = got.reshape(expected.shape) if got.size == expected.size else got
            rtol, atol = tolerance(ev, got)
            comparison = compare_arrays(got, expected, rtol=rtol, atol=atol,
                                        dtype=tolerance_label(ev, got), case=case.name,
                                        output=key)
            if not comparison.ok:
                if case.name not in failed:
                    failed.append(case.name)
                if not first and comparison.table is not None:
                    first = tr(lang, f"case '{case.name}', gradient of `{key[5:]}`: ",
                               f"用例「{case.name}」，`{key[5:]}` 的梯度：") + \
                        comparison.table.summary(lang)
                    first_table = comparison.table
    if not checked:
        return None
    if not failed:
        return CheckResult(name, True, kind="property:gradients")
    if not any(ev.returned(n) is not None for n in failed):
        # Nothing to take a gradient of: the run check says why.
        return CheckResult(name, False, tr(
            lang, "not run: no case returned a result", "未运行：没有任何用例返回结果"),
            kind="property:gradients", failed_cases=failed, not_run=True)
    gaps = gradient_gaps(ev)
    if gaps.backward_error:
        inplace = "inplace operation" in gaps.backward_error
        first = tr(
            lang, f"backward raised on case '{gaps.backward_case}': {gaps.backward_error}"
            + (" (forward changed a tensor in place that autograd still needed: compute new "
               "tensors instead of editing x, the mask or intermediate results in place)"
               if inplace else ""),
            f"用例「{gaps.backward_case}」的反向传播出错：{gaps.backward_error}"
            + ("（forward 原地修改了自动求导仍需要的张量：请生成新张量，不要原地修改 x、掩码或"
               "中间结果）" if inplace else ""))
        return CheckResult(name, False, first, kind="property:gradients", mismatch=first_table,
                           failed_cases=failed)
    if gaps.unused or gaps.detached:
        parts = []
        if gaps.unused:
            names = ", ".join(gaps.unused)
            parts.append(tr(
                lang, f"forward never uses {names}, so no gradient can reach "
                f"{'them' if len(gaps.unused) > 1 else 'it'}",
                f"forward 从未用到 {names}，所以梯度无法传到这里"))
        if gaps.detached:
            names = ", ".join(gaps.detached)
            parts.append(tr(
                lang, f"no gradient reached {names} although forward uses "
                f"{'them' if len(gaps.detached) > 1 else 'it'}: something detaches the graph "
                "(.detach(), .numpy(), torch.no_grad(), new tensors from .data)",
                f"forward 用到了 {names}，梯度却没有传到：某处切断了计算图（.detach()、"
                ".numpy()、torch.no_grad()、用 .data 新建张量）"))
        first = "; ".join(parts)
        return CheckResult(name, False, first, kind="property:gradients", mismatch=first_table,
                           failed_cases=failed)
    if missing:
        first = tr(lang, f"no gradient reached {', '.join(missing)}: something detaches the "
                   "graph (.detach(), .numpy(), torch.no_grad(), new tensors from .data)",
                   f"梯度没有传到 {', '.join(missing)}：某处切断了计算图（.detach()、.numpy()、"
                   "torch.no_grad()、用 .data 新建张量）")
    elif not first:
        first = tr(lang, "the backward pass did not run", "反向传播没有运行")
    return CheckResult(name, False, first, kind="property:gradients", mismatch=first_table,
                       failed_cases=failed)


def run_checks(ev: Evaluation, lang: str = "en") -> list[CheckResult]:
    """Every check line of a grade, in display order. The learner's numbers may be anything
    (complex, inf, nan): numpy's warnings about them are ours to silence, never to print."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return _run_checks(ev, lang)


def _run_checks(ev: Evaluation, lang: str) -> list[CheckResult]:
    from attn_drill.grading.invariants import INVARIANTS

    checks = [check_defines(ev, lang)]
    # An incompatible signature still runs (its TypeErrors are worth seeing); a file that
    # could not be loaded cannot.
    loaded = ev.fatal is None or getattr(ev.fatal, "kind", "") not in LOAD_ERRORS
    basic = [
        (check_runs, tr(lang, "runs on every case without errors", "所有用例运行无错误"), "runs"),
        (check_types, type_check_name(ev, lang), "type"),
        (check_shapes, tr(lang, "output shapes", "输出形状"), "shape"),
        (check_dtypes, tr(lang, "floating-point result dtype", "结果为浮点类型"), "dtype"),
    ]
    for func, label, kind in basic:
        checks.append(func(ev, lang) if loaded else _not_run(label, kind, lang))
    plain = _plain_cases(ev)
    fixed = [c for c in plain if not c.is_random]
    random_cases = [c for c in plain if c.is_random]
    groups = [
        (fixed, tr(lang, "matches reference (fixed cases)", "与参考答案一致（固定用例）"),
         "match:fixed"),
        (random_cases, tr(lang, f"matches reference (random, seed {ev.seed})",
                          f"与参考答案一致（随机用例，种子 {ev.seed}）"), "match:random"),
    ]
    for cases, label, kind in groups:
        if cases:
            checks.append(_match_check(ev, label, kind, cases, lang) if loaded
                          else _not_run(label, kind, lang))
    grouped = _property_cases(ev)
    for prop in ev.spec.properties:
        label = sums_check_name(ev, lang) if prop == "sums-to-one" else property_name(prop, lang)
        result: CheckResult | None
        if prop in grouped:
            if not grouped[prop]:
                continue
            result = _match_check(ev, label, f"property:{prop}", grouped[prop], lang)
        elif prop == "no-mutation":
            result = check_no_mutation(ev, lang)
        elif prop == "sums-to-one":
            result = check_sums_to_one(ev, lang)
        elif prop == "permutation-equivariance":
            result = check_derived(ev, prop, DERIVED_PERMUTED, lang)
        elif prop == "causal-future":
            result = check_derived(ev, prop, DERIVED_CAUSAL, lang)
        elif prop == "gradients":
            result = check_gradients(ev, lang)
        elif prop in INVARIANTS:
            result = INVARIANTS[prop].check(ev, lang)
        else:
            result = None
        if result is None:
            continue
        checks.append(result if loaded else _not_run(label, f"property:{prop}", lang))
    if loaded:
        _fail_where_not_evaluated(ev, checks, lang)
    if loaded and not any(o.returned is not None for o in ev.outcomes.values()):
        # Checks that look only at returned values would pass vacuously.
        for check in checks:
            if check.passed and check.kind not in ("defines",):
                check.passed = False
                check.not_run = True
                check.message = tr(lang, "not checked: no case returned a result",
                                   "未检查：没有任何用例返回结果")
    from attn_drill.grading.forbidden import check_forbidden

    forbidden = check_forbidden(ev, ev.source, lang)
    if forbidden is not None:
        checks.insert(1, forbidden)  # right after `defines`: the first thing to fix
    return checks


# Checks that judge only what came back: a case that raised gives them nothing to look at.
EVALUATED_ON_RETURNS = ("type", "shape", "dtype", "property:no-mutation",
                        "property:sums-to-one")


def _fail_where_not_evaluated(ev: Evaluation, checks: list[CheckResult], lang: str) -> None:
    """CONTRACT: a check that could not be evaluated on a case (the submission raised there)
    counts as failed, so a function that crashes on most cases cannot collect the checks of
    the few it survives. The message says why, and `not_run` keeps it out of diagnoses."""
    unevaluated = [c.name for c in ev.base_cases if ev.returned(c.name) is None]
    if not unevaluated or len(unevaluated) == len(ev.base_cases):
        return  # none, or all: the caller's "no case returned a result" covers that
    for check in checks:
        if check.kind in EVALUATED_ON_RETURNS and check.passed:
            check.passed = False
            check.not_run = True
            check.failed_cases = list(unevaluated)
            count = len(unevaluated)
            check.message = tr(
                lang, f"not checked on {count} case{'s' if count > 1 else ''} where your code "
                f"raised (first: '{unevaluated[0]}')",
                f"有 {count} 个用例你的代码抛出了异常，无法检查（第一个：「{unevaluated[0]}」）")
