"""The warm worker: same results as a cold run, a fresh isolated child per grade, restarts."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from attn_drill.grading import sandbox
from attn_drill.grading.cases import build_cases
from attn_drill.grading.runner import run_submission
from attn_drill.grading.worker import WarmWorker
from attn_drill.problems import get_problem
from tests.conftest import needs_torch
from tests.test_runner import (
    HOSTILE,
    SOFTMAX,
    SOFTMAX_CASES,
    privileged,
    process_gone,
    reference_outputs,
)

pytestmark = pytest.mark.skipif(not sandbox.IS_LINUX, reason="the warm worker forks on Linux")


@pytest.fixture(scope="module")
def numpy_worker() -> Iterator[WarmWorker]:
    worker = WarmWorker("numpy")
    yield worker
    worker.close()


def grade(worker: WarmWorker, source: Path, timeout_s: float = 10.0):  # type: ignore[no-untyped-def]
    return worker.run(source, SOFTMAX, "numpy", SOFTMAX_CASES, timeout_s=timeout_s)


def test_warm_results_equal_cold_results(numpy_worker: WarmWorker) -> None:
    source = SOFTMAX.reference_path("numpy")
    warm = grade(numpy_worker, source)
    cold = run_submission(source, SOFTMAX, "numpy", SOFTMAX_CASES)
    assert warm.fatal is None and cold.fatal is None
    assert [c.name for c in warm.cases] == [c.name for c in cold.cases]
    for w, c in zip(warm.cases, cold.cases, strict=True):
        assert w.returned is not None and c.returned is not None
        assert w.returned.types == c.returned.types
        for name, array in c.returned.arrays.items():
            np.testing.assert_array_equal(w.returned.arrays[name], array)
    assert warm.protections == cold.protections


def test_each_grade_gets_a_fresh_process(numpy_worker: WarmWorker, tmp_path: Path) -> None:
    """State a submission leaves in its process never reaches the next grade."""
    source = tmp_path / "stateful.py"
    source.write_text(
        "import os\nimport numpy as np\n\n"
        "def softmax(x, axis=-1):\n"
        "    print('PID', os.getpid(), 'SEEN', getattr(np, '_seen', False))\n"
        "    np._seen = True\n"
        "    e = np.exp(x - x.max(axis=axis, keepdims=True))\n"
        "    return e / e.sum(axis=axis, keepdims=True)\n"
    )
    first = grade(numpy_worker, source).stdout.splitlines()
    second = grade(numpy_worker, source).stdout.splitlines()
    assert first[0].endswith("SEEN False") and second[0].endswith("SEEN False")
    assert first[1].endswith("SEEN True")  # within one grade the module state persists
    assert first[0].split()[1] != second[0].split()[1]
    assert str(numpy_worker.pid) not in (first[0].split()[1], second[0].split()[1])


def test_hostile_grades_leave_the_worker_usable(numpy_worker: WarmWorker) -> None:
    timeout = grade(numpy_worker, HOSTILE / "infinite_loop.py", timeout_s=1.0)
    assert timeout.fatal is not None and timeout.fatal.kind == "timeout"
    exited = grade(numpy_worker, HOSTILE / "os_exit.py")
    assert exited.fatal is not None and exited.fatal.kind == "exited"
    crashed = grade(numpy_worker, HOSTILE / "segfault.py")
    assert crashed.fatal is not None and crashed.fatal.kind == "crashed"
    syntax = grade(numpy_worker, HOSTILE / "syntax_error.py")
    assert syntax.fatal is not None and syntax.fatal.kind == "syntax"
    forged = grade(numpy_worker, HOSTILE / "forge_channel.py")
    assert forged.fatal is not None and forged.fatal.kind == "bad-output"
    printed = grade(numpy_worker, HOSTILE / "print_10mb.py")
    assert printed.output_truncated and printed.fatal is None
    good = grade(numpy_worker, SOFTMAX.reference_path("numpy"))
    assert good.fatal is None and all(c.error is None for c in good.cases)
    assert numpy_worker.alive


def test_daemon_of_a_warm_grade_does_not_survive(numpy_worker: WarmWorker) -> None:
    result = grade(numpy_worker, HOSTILE / "daemon_grandchild.py")
    assert result.fatal is None
    pid = int(result.stdout.split("DAEMON_PID=")[1].split()[0])
    assert process_gone(pid)


@privileged
def test_fork_bomb_in_a_warm_grade(numpy_worker: WarmWorker) -> None:
    result = grade(numpy_worker, HOSTILE / "fork_bomb.py", timeout_s=5)
    assert {c.error.kind for c in result.cases if c.error} == {"process-limit"}
    assert numpy_worker.alive


def test_a_dead_worker_is_restarted_transparently() -> None:
    with WarmWorker("numpy") as worker:
        first_pid = worker.pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        result = grade(worker, SOFTMAX.reference_path("numpy"))
        assert result.fatal is None and len(result.cases) == len(SOFTMAX_CASES)
        assert worker.pid not in (None, first_pid)


def test_close_kills_the_zygote() -> None:
    worker = WarmWorker("numpy")
    pid = worker.pid
    assert pid is not None and worker.alive
    worker.close()
    assert process_gone(pid) and not worker.alive
    worker.close()  # twice is fine


def test_another_track_falls_back_to_a_cold_run(numpy_worker: WarmWorker) -> None:
    problem = get_problem("scaled-dot-product-attention")
    cases = build_cases(problem.tracks["numpy"], 0)[:2]
    torch_worker_for_numpy = numpy_worker  # a numpy worker asked for another problem's track
    result = torch_worker_for_numpy.run(problem.reference_path("numpy"), problem, "numpy", cases)
    assert result.fatal is None and len(result.cases) == 2


@needs_torch
@pytest.mark.slow
def test_torch_worker_grades_functions_and_modules(tmp_path: Path) -> None:
    sdpa = get_problem("scaled-dot-product-attention")
    sdpa_cases = build_cases(sdpa.tracks["torch"], 0)
    module = get_problem("self-attention-module")
    module_cases = build_cases(module.tracks["torch"], 0)
    with WarmWorker("torch") as worker:
        for _ in range(2):  # the second grade forks from the same warm zygote
            result = worker.run(sdpa.reference_path("torch"), sdpa, "torch", sdpa_cases)
            assert result.fatal is None, result.fatal
            expected = reference_outputs("scaled-dot-product-attention", "numpy", sdpa_cases)
            for run_case, ref in zip(result.cases, expected, strict=True):
                assert run_case.returned is not None
                np.testing.assert_allclose(run_case.returned.arrays["output"],
                                           ref.arrays["output"], rtol=1e-4, atol=1e-5)
        result = worker.run(module.reference_path("torch"), module, "torch", module_cases)
        assert result.fatal is None, result.fatal
        expected = reference_outputs("self-attention-module", "torch", module_cases)
        for run_case, ref in zip(result.cases, expected, strict=True):
            assert run_case.returned is not None
            assert set(ref.arrays) == set(run_case.returned.arrays)
            for name, array in ref.arrays.items():
                np.testing.assert_allclose(run_case.returned.arrays[name], array,
                                           rtol=1e-3, atol=1e-4, err_msg=name)
        assert result.protections["memory-limit"]

        wrong_init = tmp_path / "self_attention_module.py"
        wrong_init.write_text(
            "import torch.nn as nn\n\n"
            "class SelfAttention(nn.Module):\n"
            "    def __init__(self, d_model):\n"
            "        super().__init__()\n"
        )
        result = worker.run(wrong_init, module, "torch", module_cases[:1])
        error = result.cases[0].error
        assert error is not None and error.kind == "exception"
        assert "could not be constructed or called" in error.message
        assert module.tracks["torch"].signature.strip() in error.message

        numpy_out = tmp_path / "sdpa_numpy_out.py"
        numpy_out.write_text(
            "import torch\n\n"
            "def scaled_dot_product_attention(Q, K, V, mask=None):\n"
            "    w = torch.softmax(Q @ K.transpose(-2, -1) / K.shape[-1] ** 0.5, dim=-1)\n"
            "    return (w @ V).numpy(), w\n"
        )
        result = worker.run(numpy_out, sdpa, "torch", sdpa_cases[:1])
        returned = result.cases[0].returned
        assert returned is not None
        assert returned.types == {"output": "ndarray", "weights": "tensor"}


def test_without_privilege_drop_the_zygote_still_reaps_daemons(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No per-grade uid to kill: the subreaper zygote kills what the grade orphaned."""
    monkeypatch.setattr(sandbox, "can_drop_privileges", lambda: False)
    with WarmWorker("numpy") as worker:
        result = grade(worker, HOSTILE / "daemon_grandchild.py")
        assert result.protections["privilege-drop"] is False
        assert result.fatal is None
        pid = int(result.stdout.split("DAEMON_PID=")[1].split()[0])
        assert process_gone(pid)


def test_after_close_grades_run_cold() -> None:
    worker = WarmWorker("numpy")
    worker.close()
    result = grade(worker, SOFTMAX.reference_path("numpy"))
    assert result.fatal is None and worker.pid is None


def test_the_zygote_exits_when_its_parent_dies(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "owner.py"
    script.write_text(
        "import sys, time\n"
        "from attn_drill.grading.worker import WarmWorker\n"
        "worker = WarmWorker('numpy')\n"
        "print(worker.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        zygote = int(owner.stdout.readline())
        owner.kill()
        owner.wait(timeout=10)
        assert process_gone(zygote, wait_s=10)
    finally:
        owner.kill()
        owner.wait(timeout=10)


def test_a_broken_warm_process_falls_back_to_a_cold_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from attn_drill.grading import child

    with WarmWorker("numpy") as worker:
        # The zygote already imported child.run_job; break the job file it is handed instead.
        monkeypatch.setattr(child, "write_job", lambda path, job: path.write_bytes(b"junk"))
        calls: list[str] = []
        original = worker._run_warm

        def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls.append("warm")
            return original(*args, **kwargs)

        monkeypatch.setattr(worker, "_run_warm", spy)
        monkeypatch.setattr("attn_drill.grading.worker.run_submission",
                            lambda *a, **k: calls.append("cold") or "cold result")
        assert grade(worker, SOFTMAX.reference_path("numpy")) == "cold result"
        assert calls == ["warm", "cold"]


def test_grades_from_several_threads_do_not_mix(numpy_worker: WarmWorker) -> None:
    from concurrent.futures import ThreadPoolExecutor

    sources = [SOFTMAX.reference_path("numpy"), HOSTILE / "print_passed.py"] * 2
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda source: grade(numpy_worker, source), sources))
    for source, result in zip(sources, results, strict=True):
        assert result.fatal is None and len(result.cases) == len(SOFTMAX_CASES)
        assert ("PASSED" in result.stdout) == (source.name == "print_passed.py")


def test_cancel_stops_the_grade_in_flight(numpy_worker: WarmWorker) -> None:
    """What practice does when the learner quits during an endless loop."""
    import threading
    import time

    def cancel_soon() -> None:
        time.sleep(1.5)
        numpy_worker.cancel()

    threading.Thread(target=cancel_soon, daemon=True).start()
    begin = time.monotonic()
    stopped = grade(numpy_worker, HOSTILE / "infinite_loop.py", timeout_s=30.0)
    assert time.monotonic() - begin < 10
    assert stopped.fatal is not None
    again = grade(numpy_worker, SOFTMAX.reference_path("numpy"))
    assert again.fatal is None and len(again.cases) == len(SOFTMAX_CASES)
