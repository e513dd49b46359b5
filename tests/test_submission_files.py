"""What a submission file may be (CONTRACT.md), through the real CLI.

Each odd input gets its documented exit code and, under --json, exactly one JSON document on
stdout: never exit 3, never a hang, never unbounded memory.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from attn_drill.errors import UsageError
from attn_drill.grading.grade import grade_file
from attn_drill.grading.submission import (
    MAX_SUBMISSION_BYTES,
    path_from_shown,
    read_submission,
)

SOFTMAX = textwrap.dedent("""\
    import numpy as np


    def softmax(x, axis=-1):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)
    """)


def grade_json(path: Path | bytes, *extra: str, timeout: float = 120,
               cwd: Path | None = None) -> tuple[int, dict, bytes]:
    """(exit code, the one JSON document, raw stdout) of `attn-drill grade PATH --json`."""
    completed = subprocess.run(
        [sys.executable, "-m", "attn_drill", "grade", path, "--json", "--no-record", *extra],
        capture_output=True, timeout=timeout, cwd=cwd, env=os.environ.copy())
    raw = completed.stdout
    document = json.loads(raw.decode("utf-8"))  # strict UTF-8: raw bytes would fail here
    return completed.returncode, document, raw


def usage_error(code: int, document: dict) -> str:
    assert code == 2, document
    assert set(document) == {"error"} and document["error"]["exit_code"] == 2
    return str(document["error"]["message"])


def test_a_symlink_to_an_endless_device_is_refused_quickly(tmp_path: Path) -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    link = tmp_path / "softmax.py"
    link.symlink_to("/dev/zero")
    message = usage_error(*grade_json(link, timeout=60)[:2])
    assert "not a regular file" in message and "device" in message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_a_named_pipe_never_blocks_the_grader(tmp_path: Path) -> None:
    fifo = tmp_path / "softmax.py"
    os.mkfifo(fifo)
    message = usage_error(*grade_json(fifo, timeout=60)[:2])
    assert "named pipe" in message


def test_a_symlink_to_a_regular_file_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "real.py"
    real.write_text(SOFTMAX)
    link = tmp_path / "softmax.py"
    link.symlink_to(real)
    code, document, _ = grade_json(link)
    assert code == 0 and document["passed"], document


def test_a_file_over_64_mib_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "softmax.py"
    with open(big, "wb") as handle:  # sparse: costs no disk
        handle.truncate(MAX_SUBMISSION_BYTES + 1)
    message = usage_error(*grade_json(big)[:2])
    assert "64 MiB" in message


def test_a_directory_and_a_missing_file_are_usage_errors(tmp_path: Path) -> None:
    assert "directory" in usage_error(*grade_json(tmp_path)[:2])
    assert "No such file" in usage_error(*grade_json(tmp_path / "softmax.py")[:2])


@pytest.mark.parametrize("expression", [
    "-" * 100_000 + "x",  # unary operators: MemoryError in the parser
    "x" + "[0]" * 100_000,  # subscripts: RecursionError while building the tree
])
def test_deep_nesting_is_a_failed_submission_with_a_clear_message(
        tmp_path: Path, expression: str) -> None:
    source = tmp_path / "softmax.py"
    source.write_text(SOFTMAX + f"\n\ndef helper(x):\n    return {expression}\n")
    code, document, _ = grade_json(source)
    assert code == 1, document
    assert document["passed"] is False
    messages = " ".join(c["message"] for c in document["checks"])
    assert "nested too deeply" in messages


def test_a_pep_263_coding_line_is_honoured(tmp_path: Path) -> None:
    source = tmp_path / "softmax.py"
    text = "# -*- coding: latin-1 -*-\n# résumé: a latin-1 comment\n" + SOFTMAX
    source.write_bytes(text.encode("latin-1"))
    code, document, _ = grade_json(source)
    assert code == 0 and document["passed"], document


def test_undecodable_bytes_are_a_usage_error(tmp_path: Path) -> None:
    source = tmp_path / "softmax.py"
    source.write_bytes(b"# caf\xe9\n" + SOFTMAX.encode())
    message = usage_error(*grade_json(source)[:2])
    assert "UTF-8" in message and "coding" in message


def test_an_unknown_coding_line_is_a_usage_error(tmp_path: Path) -> None:
    source = tmp_path / "softmax.py"
    source.write_bytes(b"# -*- coding: no-such-codec -*-\n" + SOFTMAX.encode())
    assert "no-such-codec" in usage_error(*grade_json(source)[:2])


def test_text_answers_may_be_utf16_with_a_bom(tmp_path: Path) -> None:
    answer = tmp_path / "answer.md"
    answer.write_bytes("Scaling by √d_k keeps the variance at one.".encode("utf-16"))
    assert read_submission(answer, text_answer=True).startswith("Scaling by √d_k")


@pytest.mark.skipif(sys.platform in ("darwin", "win32"),
                    reason="this filesystem refuses file names that are not UTF-8")
def test_a_file_name_that_is_not_utf8_is_escaped(tmp_path: Path) -> None:
    name = os.fsencode(tmp_path) + b"/softmax\xff.py"
    with open(name, "w") as handle:
        handle.write(SOFTMAX)
    code, document, raw = grade_json(name, "--problem", "softmax")
    assert code == 0, document
    assert path_from_shown(document["file"]) == Path(os.fsdecode(name))
    assert b"\xff" not in raw
    assert document["file"].endswith("softmax\\xff.py")
    shown = subprocess.run([sys.executable, "-m", "attn_drill", "grade", name, "--no-record",
                            "--problem", "softmax"], capture_output=True, timeout=120)
    assert shown.returncode == 0 and b"\xff" not in shown.stdout + shown.stderr
    missing = os.fsencode(tmp_path) + b"/gone\xfe.py"
    message = usage_error(*grade_json(missing, "--problem", "softmax")[:2])
    assert "gone\\xfe.py" in message


@pytest.mark.parametrize("flags", [
    ["--timeout", "nan"], ["--timeout", "inf"], ["--timeout", "0"], ["--timeout", "-1"],
    ["--seed", "-1"], ["--no-such-flag"], ["--track", "fortran"],
])
def test_every_usage_error_under_json_prints_the_error_document(
        tmp_path: Path, flags: list[str]) -> None:
    source = tmp_path / "softmax.py"
    source.write_text(SOFTMAX)
    usage_error(*grade_json(source, *flags)[:2])


def test_any_finite_positive_timeout_is_valid(tmp_path: Path) -> None:
    source = tmp_path / "softmax.py"
    source.write_text(SOFTMAX)
    code, document, _ = grade_json(source, "--timeout", "86400")
    assert code == 0 and document["passed"], document


@pytest.mark.parametrize("timeout", [math.nan, math.inf, 0.0, -3.0])
def test_the_library_entry_checks_the_timeout_too(tmp_path: Path, timeout: float) -> None:
    source = tmp_path / "softmax.py"
    source.write_text(SOFTMAX)
    with pytest.raises(UsageError, match="--timeout"):
        grade_file(source, timeout=timeout)


def test_a_tiny_timeout_is_enforced_even_when_all_frames_arrive_at_once(tmp_path: Path) -> None:
    """A fast child writes START ... DONE before the grader reads once: the timeout must still
    be checked (it was not, and a 1e-9 s limit passed now and then)."""
    source = tmp_path / "softmax.py"
    source.write_text(SOFTMAX)
    for _ in range(3):
        report = grade_file(source, timeout=1e-9)
        assert not report.passed
        assert report.error_kind == "timeout"


def test_repro_of_a_complex_result_fails_as_the_grader_does(tmp_path: Path) -> None:
    source = tmp_path / "softmax.py"
    source.write_text(SOFTMAX.replace("return e / e.sum(axis=axis, keepdims=True)",
                                      "return e / e.sum(axis=axis, keepdims=True) + 0j"))
    cases = tmp_path / "cases"
    code, document, _ = grade_json(source, "--save-cases", str(cases))
    assert code == 1 and not document["passed"]
    repro = sorted(cases.glob("*/repro.py"))
    assert repro
    run = subprocess.run([sys.executable, str(repro[0])], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "complex128" in run.stdout and "still fails" in run.stdout


def test_repro_of_a_list_result_fails_as_the_grader_does(tmp_path: Path) -> None:
    source = tmp_path / "softmax.py"
    source.write_text(SOFTMAX.replace("return e / e.sum(axis=axis, keepdims=True)",
                                      "return (e / e.sum(axis=axis, keepdims=True)).tolist()"))
    cases = tmp_path / "cases"
    code, _, _ = grade_json(source, "--save-cases", str(cases))
    assert code == 1
    run = subprocess.run([sys.executable, str(sorted(cases.glob("*/repro.py"))[0])],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 1 and "returned a list" in run.stdout, run.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS binds on Linux only")
def test_threads_that_exhaust_the_address_space_name_the_memory_limit(tmp_path: Path) -> None:
    """Threads reserve address space for their stacks: a handful of big ones hit the memory
    cap long before the process cap, and the report must say which limit it was."""
    source = tmp_path / "softmax.py"
    source.write_text(SOFTMAX.replace("def softmax(x, axis=-1):\n", textwrap.dedent("""\
        import threading, time
        def softmax(x, axis=-1):
            threading.stack_size(256 << 20)
            for _ in range(8):
                threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
        """)))
    code, document, _ = grade_json(source)
    assert code == 1
    runs = next(c for c in document["checks"] if c.get("kind") == "runs")
    assert "memory" in runs["message"] and "address space" in runs["message"], runs
    assert "processes or threads" not in runs["message"]
    assert np.isfinite(document["score"])
