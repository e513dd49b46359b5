"""The isolated runner: hostile and broken submissions are reported faithfully, as data.

Every test runs real child processes (≈0.15 s each for NumPy). Verdicts are not decided here:
the tests check what `run_submission` reports and that nothing outlives a grade.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from attn_drill.grading import child as wire
from attn_drill.grading import harness, sandbox
from attn_drill.grading.cases import ConcreteCase, build_cases
from attn_drill.grading.runner import (
    OUTPUT_LIMIT_BYTES,
    RunResult,
    _Protocol,
    _Tampered,
    decode_npy,
    run_submission,
)
from attn_drill.problems import get_problem
from tests.conftest import needs_torch

pytestmark = pytest.mark.skipif(not sandbox.IS_POSIX, reason="the runner needs POSIX")

HOSTILE = Path(__file__).parent / "fixtures" / "hostile"
SOFTMAX = get_problem("softmax")
SOFTMAX_SPEC = SOFTMAX.tracks["numpy"]
SOFTMAX_CASES = build_cases(SOFTMAX_SPEC, 0)
AXIS_CASES = {c.name for c in SOFTMAX_CASES if "axis" in c.args}


def run(name: str, timeout_s: float = 10.0, cases: list[ConcreteCase] | None = None,
        source: Path | None = None) -> RunResult:
    return run_submission(source or HOSTILE / f"{name}.py", SOFTMAX, "numpy",
                          cases or SOFTMAX_CASES, timeout_s=timeout_s)


def reference_outputs(problem_id: str, track: str, cases: list[ConcreteCase]
                      ) -> list[harness.Returned]:
    problem = get_problem(problem_id)
    spec = problem.tracks[track]
    target = harness.load_object(problem.reference_path(track), spec.entry)
    return [harness.call(target, spec, case, track) for case in cases]


def process_gone(pid: int, wait_s: float = 3.0) -> bool:
    """True once `pid` no longer runs (a zombie waiting for its reaper counts as gone)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        except OSError:
            state = "?"
        if state in ("Z", "X"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


privileged = pytest.mark.skipif(not sandbox.privilege_drop_possible(),
                                reason="needs root on Linux to drop to a per-grade uid")


# -- what a good submission gives back -------------------------------------------------------


def test_reference_runs_and_comes_back_as_data() -> None:
    result = run("unused", source=SOFTMAX.reference_path("numpy"))
    assert result.fatal is None
    assert [c.name for c in result.cases] == [c.name for c in SOFTMAX_CASES]
    expected = reference_outputs("softmax", "numpy", SOFTMAX_CASES)
    for case, run_case, ref in zip(SOFTMAX_CASES, result.cases, expected, strict=True):
        assert run_case.error is None and run_case.returned is not None
        got = run_case.returned.arrays["output"]
        assert got.dtype == np.float64 and got.shape == case.inputs["x"].shape
        np.testing.assert_array_equal(got, ref.arrays["output"])
        assert run_case.returned.types == {"output": "ndarray"}
        np.testing.assert_array_equal(run_case.returned.inputs_after["x"], case.inputs["x"])
        assert run_case.seconds >= 0
    assert result.protections["isolated-process"] and result.protections["timeout"]
    assert set(sandbox.PROTECTIONS) <= set(result.protections)
    assert result.learner_seconds < 10 and not result.output_truncated


def test_mutated_inputs_are_reported_as_they_were_after_the_call() -> None:
    result = run("mutates_input")
    first = result.cases[0]
    assert first.returned is not None
    after = first.returned.inputs_after["x"]
    assert not np.array_equal(after, SOFTMAX_CASES[0].inputs["x"])
    np.testing.assert_allclose(after, first.returned.arrays["output"])


@pytest.mark.skipif(not sandbox.IS_LINUX, reason="protections are Linux-only")
def test_protections_on_linux() -> None:
    result = run("unused", source=SOFTMAX.reference_path("numpy"))
    for name in ("memory-limit", "cpu-limit", "file-size-limit", "kill-process-group",
                 "kill-escaped-processes", "no-new-privileges"):
        assert result.protections[name], name
    assert result.protections["privilege-drop"] == sandbox.privilege_drop_possible()


def test_grading_works_without_privilege_drop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the drop is unavailable it shows as False and grading still works."""
    monkeypatch.setattr(sandbox, "can_drop_privileges", lambda: False)
    result = run("daemon_grandchild")
    assert result.protections["privilege-drop"] is False
    assert result.fatal is None and all(c.error is None for c in result.cases)
    pid = int(result.stdout.split("DAEMON_PID=")[1].split()[0])
    assert process_gone(pid), "the daemon survived the grade"


# -- broken files: load errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "in_message"),
    [
        ("syntax_error", "syntax", "line 4"),
        ("import_error", "import", "numpy_helpers_that_do_not_exist"),
        ("missing_function", "missing-name", "soft_max"),
        ("exit_at_import", "exited", "sys.exit(0)"),
        ("exit_in_function", "exited", "worked example"),
        ("os_exit", "exited", "before returning a result"),
        ("segfault", "crashed", "SIGSEGV"),
    ],
)
def test_fatal_errors_are_classified(name: str, kind: str, in_message: str) -> None:
    result = run(name)
    assert result.fatal is not None, result
    assert result.fatal.kind == kind
    assert in_message in result.fatal.message
    assert "\n" not in result.fatal.message.strip()
    assert result.cases == []


def test_tracebacks_show_only_the_learners_frames_under_the_original_path() -> None:
    source = HOSTILE / "exception_in_call.py"
    result = run("exception_in_call")
    error = result.cases[0].error
    assert error is not None and error.kind == "exception"
    assert error.message.startswith("`softmax` raised ValueError")
    trace = error.traceback
    assert f'File "{source}", line 9, in softmax' in trace
    assert f'File "{source}", line 5, in helper' in trace
    assert "return x @ np.ones" in trace
    for internal in ("harness.py", "child.py", "attn-drill-grade-", "numpy/"):
        assert internal not in trace
    syntax = run("syntax_error").fatal
    assert syntax is not None and f'File "{source.with_name("syntax_error.py")}", line 4' in (
        syntax.traceback)


def test_wrong_signature_says_so() -> None:
    result = run("wrong_signature")
    assert result.fatal is None
    for case in result.cases:
        if case.name in AXIS_CASES:
            assert case.error is not None and case.error.kind == "exception"
            assert "signature" in case.error.message
            assert SOFTMAX_SPEC.signature in case.error.message
        else:
            assert case.error is None and case.returned is not None


@pytest.mark.parametrize(
    ("name", "exc_name"),
    [("keyboard_interrupt", "KeyboardInterrupt"), ("base_exception", "Escape")],
)
def test_base_exceptions_are_learner_exceptions(name: str, exc_name: str) -> None:
    result = run(name)
    assert result.fatal is None and len(result.cases) == len(SOFTMAX_CASES)
    for case in result.cases:
        assert case.error is not None and case.error.kind == "exception"
        assert exc_name in case.error.message and exc_name in case.error.traceback


# -- resource abuse -----------------------------------------------------------------------------


def test_infinite_loop_times_out_and_keeps_earlier_nothing() -> None:
    result = run("infinite_loop", timeout_s=1.0)
    assert result.fatal is not None and result.fatal.kind == "timeout"
    assert "worked example" in result.fatal.message
    assert result.learner_seconds >= 0.9


@pytest.mark.skipif(not sandbox.IS_LINUX, reason="RLIMIT_AS binds on Linux only")
def test_memory_bomb_fails_fast_with_kind_memory() -> None:
    result = run("memory_bomb", timeout_s=20)
    assert result.protections["memory-limit"]
    assert result.fatal is None
    assert {c.error.kind for c in result.cases if c.error} == {"memory"}


@privileged
def test_fork_bomb_hits_the_process_cap() -> None:
    result = run("fork_bomb", timeout_s=5)
    assert result.protections["process-limit"] and result.protections["privilege-drop"]
    kinds = {c.error.kind for c in result.cases if c.error}
    assert kinds == {"process-limit"}, result


def test_huge_output_is_refused_in_the_child() -> None:
    result = run("huge_output", timeout_s=20)
    first = result.cases[0].error
    assert first is not None and first.kind == "bad-output"


def test_daemon_grandchild_does_not_survive_the_grade() -> None:
    result = run("daemon_grandchild")
    assert result.fatal is None
    pid = int(result.stdout.split("DAEMON_PID=")[1].split()[0])
    assert process_gone(pid), "the daemon survived the grade"


@privileged
def test_installed_reference_cannot_be_overwritten_or_deleted(tmp_path: Path) -> None:
    target = SOFTMAX.reference_path("numpy")
    before = hashlib.sha256(target.read_bytes()).hexdigest()
    source = tmp_path / "overwrite_reference.py"
    text = (HOSTILE / "overwrite_reference.py").read_text()
    source.write_text(text.replace("__TARGET__", str(target)))
    result = run_submission(source, SOFTMAX, "numpy", SOFTMAX_CASES)
    assert target.exists()
    assert hashlib.sha256(target.read_bytes()).hexdigest() == before
    for attempt in ("write", "remove", "rmtree"):
        assert f"{attempt}: blocked" in result.stdout
    assert result.fatal is None and all(c.error is None for c in result.cases)


def mount_namespaces_work() -> bool:
    probe = ("import sys; from attn_drill.grading import confine; "
             "sys.exit(0 if confine.private_mount_namespace() and confine.cover('/tmp') else 1)")
    return subprocess.run([sys.executable, "-I", "-c", probe], timeout=60).returncode == 0


@privileged
def test_reference_solutions_are_invisible_to_the_submission(tmp_path: Path) -> None:
    if not mount_namespaces_work():
        pytest.skip("mount namespaces are not available here (e.g. a restricted container)")
    target = SOFTMAX.reference_path("numpy")
    source = tmp_path / "read_reference.py"
    source.write_text((HOSTILE / "read_reference.py").read_text().replace("__TARGET__",
                                                                          str(target)))
    result = run_submission(source, SOFTMAX, "numpy", SOFTMAX_CASES[:1])
    assert result.protections["hide-references"]
    assert "read: blocked (FileNotFoundError)" in result.stdout
    assert "listing: 0 files" in result.stdout or "listing: blocked" in result.stdout
    assert target.is_file()  # only the child's view is empty


# -- output --------------------------------------------------------------------------------------


def test_ten_megabytes_of_print_are_cut_without_failing() -> None:
    result = run("print_10mb")
    assert result.output_truncated
    assert len(result.stdout.encode()) <= OUTPUT_LIMIT_BYTES
    assert result.fatal is None and all(c.error is None for c in result.cases)


def test_printing_passed_changes_nothing() -> None:
    result = run("print_passed")
    assert "PASSED" in result.stdout
    assert result.fatal is None
    for case, run_case in zip(SOFTMAX_CASES, result.cases, strict=True):
        assert run_case.returned is not None
        np.testing.assert_array_equal(run_case.returned.arrays["output"],
                                      np.zeros_like(case.inputs["x"]))


# -- forging ---------------------------------------------------------------------------------------


def test_monkey_patching_does_not_reach_the_reported_data() -> None:
    result = run("monkey_patch")
    assert result.fatal is None
    for case, run_case in zip(SOFTMAX_CASES, result.cases, strict=True):
        assert run_case.error is None and run_case.returned is not None
        assert run_case.returned.types["output"] == "list"  # what it really returned
        got = run_case.returned.arrays["output"]
        assert got.shape[-1] == case.inputs["x"].shape[-1]
        assert np.all(got == 0.25)  # not np.asarray's patched 0.5 / ones
        np.testing.assert_array_equal(run_case.returned.inputs_after["x"], case.inputs["x"])


@pytest.mark.parametrize("name", ["forge_channel", "thread_writer"])
def test_writing_on_the_result_channel_voids_every_result(name: str) -> None:
    result = run(name)
    assert result.fatal is not None and result.fatal.kind == "bad-output"
    assert result.cases == []


def test_returned_list_is_reported_as_a_list() -> None:
    result = run("returns_list")
    assert {c.returned.types["output"] for c in result.cases if c.returned} == {"list"}


@needs_torch
def test_returned_tensor_on_the_numpy_track_is_reported_as_a_tensor() -> None:
    result = run("returns_tensor", cases=SOFTMAX_CASES[:2])
    assert result.fatal is None
    assert [c.returned.types["output"] for c in result.cases if c.returned] == ["tensor"] * 2


# -- torch ---------------------------------------------------------------------------------------


@needs_torch
def test_torch_track_timeout_does_not_count_the_torch_import() -> None:
    problem = get_problem("scaled-dot-product-attention")
    cases = build_cases(problem.tracks["torch"], 0)
    # Importing torch alone takes longer than this limit; only learner code counts.
    result = run_submission(problem.reference_path("torch"), problem, "torch", cases,
                            timeout_s=1.0)
    assert result.fatal is None, result.fatal
    expected = reference_outputs("scaled-dot-product-attention", "numpy", cases)
    for run_case, ref in zip(result.cases, expected, strict=True):
        assert run_case.returned is not None
        assert run_case.returned.types == {"output": "tensor", "weights": "tensor"}
        for name in ("output", "weights"):
            got = run_case.returned.arrays[name]
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, ref.arrays[name], rtol=1e-4, atol=1e-5)


# -- the wire format, without processes ----------------------------------------------------------


def test_decode_npy_round_trips_numeric_arrays() -> None:
    for array in (np.arange(6.0).reshape(2, 3), np.array(3.5), np.array([True, False]),
                  np.arange(4, dtype=np.float32)[::2], np.ones((2, 0))):
        back = decode_npy(wire.npy_bytes(array))
        assert back.dtype == array.dtype and back.shape == array.shape
        np.testing.assert_array_equal(back, array)


def test_decode_npy_rejects_what_could_execute_or_explode() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(_Tampered):
        decode_npy(buffer.getvalue())
    lying = wire.npy_bytes(np.zeros(2)).replace(b"(2,)", b"(10000000000,)", 1)
    with pytest.raises(_Tampered):
        decode_npy(lying)
    with pytest.raises(_Tampered):
        decode_npy(b"not an array")


def frame(kind: bytes, header: dict[str, object], blobs: list[bytes] | None = None) -> bytes:
    return wire.encode_frame(kind, header, blobs)


def test_protocol_accepts_the_childs_order_only() -> None:
    names = ["a", "b"]
    good = [frame(wire.FRAME_START, {"protections": {"timeout": True}}),
            frame(wire.FRAME_LOADED, {})]
    blob = wire.npy_bytes(np.ones(3))
    case = {"types": {"output": "ndarray"}, "structure_error": None,
            "arrays": [["output", len(blob)]], "inputs_after": []}
    protocol = _Protocol(names)
    stream = b"".join([*good, frame(wire.FRAME_CASE, {**case, "index": 0}, [blob]),
                       frame(wire.FRAME_CASE, {**case, "index": 1}, [blob]),
                       frame(wire.FRAME_DONE, {})])
    for start in range(0, len(stream), 7):  # arbitrary chunking
        protocol.feed(stream[start : start + 7], 0.0)
    assert protocol.done and len(protocol.cases) == 2

    bad_streams = [
        [frame(wire.FRAME_LOADED, {})],  # before START
        [*good, frame(wire.FRAME_CASE, {**case, "index": 1}, [blob])],  # out of order
        [*good, frame(wire.FRAME_DONE, {})],  # done before the cases
        [*good, b"X" + struct.pack(">I", 0)],  # unknown kind
        [*good, frame(wire.FRAME_FATAL, {"kind": "passed", "message": "ok"})],  # unknown kind
        [*good, struct.pack(">cI", wire.FRAME_CASE, 1 << 31)],  # oversized
    ]
    for frames in bad_streams:
        with pytest.raises(_Tampered):
            _Protocol(names).feed(b"".join(frames), 0.0)


@pytest.mark.parametrize("timeout_s,kept", [(10.0, 2), (0.0035, 1), (0.0005, 0)])
def test_frames_arriving_in_one_read_still_obey_the_timeout(tmp_path: Path, timeout_s: float,
                                                            kept: int) -> None:
    """START to DONE written before the grader reads once: the child's own clock decides
    which cases finished within the limit, and a run over the limit is a timeout."""
    from attn_drill.grading.runner import ChildEnd, Pipes, PreparedJob, supervise

    blob = wire.npy_bytes(np.ones(3))
    case = {"types": {"output": "ndarray"}, "structure_error": None,
            "arrays": [["output", len(blob)]], "inputs_after": []}
    stream = b"".join([
        frame(wire.FRAME_START, {"protections": {"timeout": True}}),
        frame(wire.FRAME_LOADED, {"seconds": 0.001}),
        frame(wire.FRAME_CASE, {**case, "index": 0, "seconds": 0.002}, [blob]),
        frame(wire.FRAME_CASE, {**case, "index": 1, "seconds": 0.002}, [blob]),
        frame(wire.FRAME_DONE, {})])

    class Ended:
        def finish(self, grace_s: float) -> ChildEnd:
            return ChildEnd(0, True)

    pipes = Pipes.open()
    try:
        for fd, data in ((pipes.result_w, stream), (pipes.out_w, b""), (pipes.err_w, b"")):
            if data:
                os.write(fd, data)
        pipes.close_child_ends()
        job = PreparedJob(tmp_path, tmp_path / "job.bin", sandbox.choose_plan("numpy", timeout_s),
                          ["a", "b"], "softmax")
        result = supervise(Ended(), pipes, job, timeout_s)
    finally:
        pipes.close_parent_ends()
    assert len(result.cases) == kept
    assert (result.fatal is None) == (kept == 2)
    if kept < 2:
        assert result.fatal is not None and result.fatal.kind == "timeout"


def test_the_job_never_carries_expected_values(tmp_path: Path) -> None:
    case = SOFTMAX_CASES[0]
    secret = np.array([0.123456789, 0.987654321, 0.5])
    with_expected = ConcreteCase(name=case.name, tags=case.tags, dims=case.dims,
                                 inputs=case.inputs, args=case.args, expected={"output": secret})
    arrays: list[np.ndarray] = []
    job = wire.Job(source="s.py", display="s.py", entry="softmax", signature="", track="numpy",
                   spec={}, plan={}, cases=[wire.case_to_json(with_expected, arrays)],
                   arrays=arrays)
    path = tmp_path / "job.bin"
    wire.write_job(path, job)
    raw = path.read_bytes()
    assert secret.tobytes() not in raw and b"expected" not in raw
    back = wire.read_job(str(path))
    rebuilt = wire.case_from_json(back.cases[0], back.arrays)
    assert rebuilt.expected == {}
    np.testing.assert_array_equal(rebuilt.inputs["x"], case.inputs["x"])
    assert json.loads(raw[4 : 4 + struct.unpack(">I", raw[:4])[0]])["entry"] == "softmax"


def test_the_numpy_child_never_imports_torch(tmp_path: Path) -> None:
    spy = tmp_path / "spy.py"
    spy.write_text(
        "import sys\n"
        "import numpy as np\n\n"
        "def softmax(x, axis=-1):\n"
        "    print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
        "    e = np.exp(x - x.max(axis=axis, keepdims=True))\n"
        "    return e / e.sum(axis=axis, keepdims=True)\n"
    )
    result = run("spy", cases=SOFTMAX_CASES[:1], source=spy)
    assert result.stdout.strip() == "NO-TORCH"


def test_terminal_control_characters_come_back_escaped() -> None:
    result = run("terminal_escapes", cases=SOFTMAX_CASES[:1])
    error = result.cases[0].error
    assert error is not None
    for text in (result.stdout, error.message, error.traceback):
        assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "\\x1b[2J" in result.stdout and "✓ all checks passed" in result.stdout
    assert "\\x1b]0;pwned\\x07 message" in error.message


def test_an_interrupted_grader_still_kills_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    from attn_drill.grading import runner

    started: list[int] = []
    original_init = runner.PopenHandle.__init__
    original_feed = runner._Protocol.feed

    def remember(self: runner.PopenHandle, process: object) -> None:
        original_init(self, process)  # type: ignore[arg-type]
        started.append(self.process.pid)

    def interrupt_once_loaded(self: runner._Protocol, data: bytes, now: float) -> None:
        original_feed(self, data, now)
        if self.loaded:
            raise KeyboardInterrupt

    monkeypatch.setattr(runner.PopenHandle, "__init__", remember)
    monkeypatch.setattr(runner._Protocol, "feed", interrupt_once_loaded)
    with pytest.raises(KeyboardInterrupt):
        run("infinite_loop", timeout_s=30)
    assert started and process_gone(started[0], wait_s=2)
