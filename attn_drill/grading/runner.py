"""Run a learner's file in an isolated child process and bring back what it computed, as data.

`run_submission` starts a fresh `python -I` child (attn_drill.grading.child) in a new session,
hands it the learner file, the entry name, the track spec and the cases through a job file,
and reads its answers from a pipe it was given explicitly. The parent only *parses* what comes
back (json, and .npy bytes through np.load with allow_pickle=False after checking the header);
every comparison, reference output and verdict is computed elsewhere, in trusted code.

Trust and the result channel
----------------------------
- The child never receives expected values or the reference; it only computes outputs.
- The timeout is the parent's wall clock, started when the child announces the learner phase
  (after interpreter start and the numpy/torch imports) and covering loading + every call.
- Frames must arrive in a fixed order (START, LOADED, one CASE per case in order, DONE or
  FATAL). Anything else — unknown kinds, duplicates, a case out of order, oversized or
  malformed payloads, unsupported dtypes, more data in total than any output needs — makes
  the whole run `bad-output` and drops every case already received. Reading stops at
  DONE/FATAL, then the whole process group and (as root) every process of the grade's
  private uid are killed, so nothing can write afterwards.
- A missing or short result means the code ended before returning: sys.exit(), os._exit(),
  a segfault. The exit status is only used to word that message, never to pass anything.
- stdout/stderr are drained while the child runs; the first 4 KiB of each are kept, and
  every string from the child (output, messages, type names) comes back with control
  characters escaped, so a submission cannot redraw the learner's terminal.
- Whatever ends the reading (done, fatal, time-out, tampering, even a KeyboardInterrupt in
  the grader), the child and everything it started are killed before `supervise` returns.

Residual risks (learner code runs in the same process as the child's reporting code)
- It can write frames on the result fd itself or patch the harness in ways the namespace
  guard does not undo (e.g. through gc, frame objects or C-level tricks). What it can forge
  that way is the metadata of its *own* calls — the types it returned, `inputs_after` (hiding
  an in-place mutation), which cases raised — and outputs it computed anyway: it can never
  see the expected values, and it cannot touch the parent's references or comparisons.
- What it may read, write and reach is set by sandbox.apply_limits / confine.py: no
  capabilities, a Landlock allow-list (the interpreter, its libraries and the grading code,
  never a pack's references), a seccomp filter, private temporary directories and (as root)
  a per-grade uid. A kernel without Landlock leaves the filesystem open to whatever the uid
  may read; the report lists such gaps in `protections_off`.
- Without root there is no privilege drop: the process cap counts the user's own processes,
  and a process that leaves the process group *and* scrubs its environment survives a cold
  run (Landlock ABI >= 6 still keeps it from signalling anything outside the grade).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from attn_drill.grading import child as wire
from attn_drill.grading import sandbox
from attn_drill.grading.submission import read_submission_bytes, shown_path

if TYPE_CHECKING:
    import numpy as np

    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.grading.harness import Returned
    from attn_drill.problems import Problem, TrackSpec

OUTPUT_LIMIT_BYTES = 4096  # kept per stream
STARTUP_TIMEOUT_S = 120.0  # interpreter + numpy/torch import on a loaded machine
MAX_TIMEOUT_S = 86400.0 * 365  # any finite --timeout is valid; waits are cut to this
EXIT_GRACE_S = 0.5  # after the channel closed early: time for the process to end by itself
DRAIN_S = 0.5  # after the kill: time to collect what is still in the output pipes
MAX_FRAME_BYTES = wire.MAX_CASE_BYTES + (1 << 20)
MAX_RESULT_BYTES = 4 * wire.MAX_CASE_BYTES  # everything one run may send back
MAX_NDIM = 32
ERROR_KINDS = frozenset({
    "syntax", "import", "missing-name", "exception", "timeout", "memory", "process-limit",
    "exited", "crashed", "bad-output",
})
CHILD_CODE = "from attn_drill.grading.child import main; main()"


@dataclass
class LearnerError:
    """What went wrong in the learner's code. `traceback` shows the learner's frames only."""

    kind: str  # syntax | import | missing-name | exception | timeout | memory | process-limit
    #            | exited | crashed | bad-output
    message: str
    traceback: str = ""


@dataclass
class CaseRun:
    name: str
    returned: Returned | None
    error: LearnerError | None
    seconds: float


@dataclass
class RunResult:
    """What the child computed. `cases` lists, in order, the cases that finished (returned or
    raised); when `fatal` is set, the remaining cases never ran or their results were dropped.
    """

    cases: list[CaseRun]
    fatal: LearnerError | None
    stdout: str
    stderr: str
    output_truncated: bool
    learner_seconds: float
    protections: dict[str, bool] = field(default_factory=dict)


class SandboxError(RuntimeError):
    """The isolated process failed before any learner code ran (a bug or a broken install)."""


# -- preparing a job --------------------------------------------------------------------------


@dataclass
class PreparedJob:
    directory: Path
    job_path: Path
    plan: sandbox.SandboxPlan
    case_names: list[str]
    entry: str
    copy_path: str = ""  # the private copy the child runs ...
    display: str = ""  # ... and the learner's own path, shown in its place

    def as_learner_sees(self, text: str) -> str:
        """Warnings and prints name the private copy; the learner knows their own file."""
        return text.replace(self.copy_path, self.display) if self.copy_path else text


def _spec_json(spec: TrackSpec) -> dict[str, Any]:
    dump = getattr(spec, "model_dump", None)
    data = dump(mode="json") if dump is not None else dict(vars(spec))
    for bulky in ("cases", "starter", "mutants"):
        data.pop(bulky, None)
    return data


def hidden_directories(problem: Problem) -> tuple[str, ...]:
    """Where references and mutants live: learner code must not be able to read them."""
    from attn_drill.problems import BUILTIN_PACK

    packs = {BUILTIN_PACK.resolve()}
    if problem.pack_dir is not None:
        packs.add(Path(problem.pack_dir).resolve())
    return tuple(str(pack / sub) for pack in sorted(packs) for sub in ("solutions", "mutants"))


@contextlib.contextmanager
def prepared_job(source: Path, problem: Problem, track: str, cases: list[ConcreteCase],
                 timeout_s: float) -> Iterator[PreparedJob]:
    """A private directory with a readable copy of the learner's file and the job file."""
    _, spec = problem.track(track)
    plan = sandbox.choose_plan(track, timeout_s, hidden_directories(problem))
    directory = Path(tempfile.mkdtemp(prefix="attn-drill-grade-"))  # 0700
    try:
        name = source.name if source.suffix == ".py" else "submission.py"
        copy = directory / name
        # The bytes checked once (a regular file, at most 64 MiB): never a second open of a
        # path that may have become a FIFO or a device meanwhile.
        data = read_submission_bytes(source)
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if plan.uid is not None:
            # Private to the grade: only its uid (and root) may read the copy; other grades
            # running at the same time cannot.
            os.chown(directory, plan.uid, plan.gid if plan.gid is not None else -1)
            os.chown(copy, plan.uid, plan.gid if plan.gid is not None else -1)
        arrays: list[np.ndarray] = []
        job = wire.Job(
            source=str(copy), display=shown_path(source), entry=spec.entry,
            signature=spec.signature, track=track, spec=_spec_json(spec), plan=plan.to_json(),
            cases=[wire.case_to_json(case, arrays) for case in cases], arrays=arrays,
        )
        job_path = directory / "job.bin"
        wire.write_job(job_path, job)
        yield PreparedJob(directory, job_path, plan, [c.name for c in cases], spec.entry,
                          copy_path=str(copy), display=shown_path(source))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# -- the child process, cold or forked ----------------------------------------------------------


@dataclass
class ChildEnd:
    status: int | None  # exit status (negative: killed by that signal), None if unknown
    by_itself: bool  # it ended before we killed it


class ChildHandle(Protocol):
    def finish(self, grace_s: float) -> ChildEnd:
        """Wait up to `grace_s` for a natural end, then kill the process group and reap."""


class PopenHandle:
    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    def finish(self, grace_s: float) -> ChildEnd:
        pid = self.process.pid
        if hasattr(os, "waitid"):
            natural = sandbox.wait_exit(pid, grace_s)
        else:  # cannot wait without reaping: a pid reused in between is very unlikely
            try:
                natural = self.process.wait(timeout=grace_s) if grace_s else self.process.poll()
            except subprocess.TimeoutExpired:
                natural = None
        sandbox.kill_group(pid)  # before reaping, so the pid cannot have been reused
        try:
            final: int | None = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            final = None
        return ChildEnd(natural if natural is not None else final, natural is not None)


@dataclass
class Pipes:
    """Parent ends (read) and child ends (write) of the result channel and output streams."""

    result_r: int
    result_w: int
    out_r: int
    out_w: int
    err_r: int
    err_w: int

    @classmethod
    def open(cls) -> Pipes:
        result_r, result_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        return cls(result_r, result_w, out_r, out_w, err_r, err_w)

    def close_child_ends(self) -> None:
        for fd in (self.result_w, self.out_w, self.err_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def close_parent_ends(self) -> None:
        for fd in (self.result_r, self.out_r, self.err_r):
            with contextlib.suppress(OSError):
                os.close(fd)


def run_submission(source: Path, problem: Problem, track: str, cases: list[ConcreteCase], *,
                   timeout_s: float = 10.0, prestarted: PrestartedChild | None = None
                   ) -> RunResult:
    """Run the learner's `source` on `cases` in a fresh isolated process (see module doc).

    `prestarted` is a child started earlier (see PrestartedChild); it is used if it is still
    waiting for its job, otherwise a child is started now.
    """
    problem.track(track)  # an unknown track is a usage error, before any process starts
    if os.name != "posix":
        from attn_drill.errors import UsageError

        raise UsageError(
            "Grading code needs Linux or macOS (the grader isolates your code with POSIX "
            "processes and pipes); on Windows, run attn-drill inside WSL. Text problems "
            "such as explain-sqrt-dk can be graded here."
        )
    with prepared_job(Path(source), problem, track, cases, timeout_s) as job:
        started = prestarted.hand_over(job) if prestarted is not None else None
        if started is not None:
            process, pipes = started
        else:
            pipes = Pipes.open()
            try:
                process = _spawn_child(
                    [str(job.job_path), str(pipes.result_w)], pipes, subprocess.DEVNULL,
                    cwd=job.directory, env=sandbox.child_env(job.plan, str(job.directory)))
            finally:
                pipes.close_child_ends()
        try:
            return supervise(PopenHandle(process), pipes, job, timeout_s)
        finally:
            pipes.close_parent_ends()


def _spawn_child(args: list[str], pipes: Pipes, stdin: Any, *, cwd: Path | str,
                 env: dict[str, str]) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(
            [sys.executable, "-I", "-c", CHILD_CODE, *args],
            stdin=stdin, stdout=pipes.out_w, stderr=pipes.err_w,
            pass_fds=(pipes.result_w,), start_new_session=True, close_fds=True,
            cwd=cwd, env=env,
        )
    except OSError as exc:
        raise SandboxError(f"could not start the grading process: {exc}") from None


class PrestartedChild:
    """A cold child started before its job exists.

    `attn-drill grade` starts it first thing, so the child's interpreter start and its
    numpy/torch imports run on the second core while the grader imports its own modules, loads
    the problem and builds the cases. The job path reaches it on stdin; until then it has run
    no learner code and holds nothing of the grade. Unused, it is killed by `discard`.
    """

    def __init__(self, track_hint: str) -> None:
        self.pipes = Pipes.open()
        try:
            self.process: subprocess.Popen[bytes] | None = _spawn_child(
                ["-", str(self.pipes.result_w), track_hint], self.pipes, subprocess.PIPE,
                cwd="/", env=sandbox.child_env(None, "/"))
        except SandboxError:
            self.process = None
            self.pipes.close_parent_ends()
        finally:
            self.pipes.close_child_ends()

    def hand_over(self, job: PreparedJob) -> tuple[subprocess.Popen[bytes], Pipes] | None:
        """Give the child its job; None when it is gone (then the caller starts a fresh one)."""
        process, self.process = self.process, None
        if process is None:
            return None
        stdin = process.stdin
        assert stdin is not None
        try:
            if process.poll() is not None:
                raise BrokenPipeError
            stdin.write(f"{job.job_path}\n".encode())
            stdin.close()
        except (BrokenPipeError, OSError):
            _discard_process(process, self.pipes)
            return None
        return process, self.pipes

    def discard(self) -> None:
        """Kill the child if it never got a job (the grade ended early, e.g. a usage error)."""
        process, self.process = self.process, None
        if process is not None:
            _discard_process(process, self.pipes)


def _discard_process(process: subprocess.Popen[bytes], pipes: Pipes) -> None:
    with contextlib.suppress(OSError, ValueError):
        if process.stdin is not None:
            process.stdin.close()
    sandbox.kill_group(process.pid)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    pipes.close_parent_ends()


def prestart_child(track_hint: str) -> PrestartedChild | None:
    """Start a child early where grading runs cold children (POSIX); None elsewhere."""
    if os.name != "posix":
        return None
    return PrestartedChild(track_hint)


# -- supervising a running child ----------------------------------------------------------------


class _Capture:
    def __init__(self) -> None:
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        room = OUTPUT_LIMIT_BYTES - len(self.data)
        if len(chunk) > room:
            self.truncated = True
        if room > 0:
            self.data += chunk[:room]

    def text(self) -> str:
        return printable(self.data.decode("utf-8", errors="replace"))


# Control characters (ANSI escapes above all) would let a submission redraw the learner's
# terminal, e.g. erase the report and print a fake one: they are shown escaped instead.
_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]
            if chr(c) not in "\n\t"}


def printable(text: str) -> str:
    """`text` with every control character but newline and tab shown as an escape."""
    return text.translate(_CONTROL)


class _Tampered(Exception):
    """The result stream does not follow the protocol."""


def decode_npy(blob: bytes) -> np.ndarray:
    """Parse .npy bytes without executing anything; reject anything but plain numeric data."""
    import numpy as np
    from numpy.lib import format as npy_format

    stream = io.BytesIO(blob)
    try:
        if npy_format.read_magic(stream) != (1, 0):
            raise _Tampered("unexpected .npy version")
        shape, fortran_order, dtype = npy_format.read_array_header_1_0(stream)
    except ValueError as exc:
        raise _Tampered(f"malformed array header ({exc})") from None
    if (fortran_order or dtype.hasobject or dtype.fields is not None
            or dtype.kind not in wire.SUPPORTED_KINDS or len(shape) > MAX_NDIM):
        raise _Tampered(f"unsupported array (dtype {dtype}, shape {shape})")
    if math.prod(shape) * dtype.itemsize != len(blob) - stream.tell():
        raise _Tampered("array size does not match its header")
    array = np.load(io.BytesIO(blob), allow_pickle=False)
    if not isinstance(array, np.ndarray):
        raise _Tampered("not an array")
    return array


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise _Tampered("bad types map")
    # Type names come from the learner's classes: printable, and short.
    return {k: printable(v[:200]) for k, v in value.items()}


def _error_from(value: Any) -> LearnerError:
    if not isinstance(value, dict):
        raise _Tampered("bad error record")
    kind, message, trace = value.get("kind"), value.get("message"), value.get("traceback", "")
    if kind not in ERROR_KINDS or not isinstance(message, str) or not isinstance(trace, str):
        raise _Tampered("bad error record")
    return LearnerError(kind, printable(message[: wire.MAX_MESSAGE_CHARS * 2]),
                        printable(trace[: wire.MAX_TRACEBACK_CHARS + 8]))


def _blobs(header: dict[str, Any], key: str, payload: memoryview, offset: int
           ) -> tuple[dict[str, np.ndarray], int]:
    entries = header.get(key)
    if not isinstance(entries, list):
        raise _Tampered(f"bad {key} list")
    arrays: dict[str, np.ndarray] = {}
    for entry in entries:
        if (not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str)
                or not isinstance(entry[1], int) or entry[1] < 0):
            raise _Tampered(f"bad {key} entry")
        name, size = entry
        if offset + size > len(payload) or name in arrays:
            raise _Tampered(f"bad {key} entry")
        arrays[name] = decode_npy(bytes(payload[offset : offset + size]))
        offset += size
    return arrays, offset


class _Protocol:
    """Parses the child's frames and checks they arrive in the only order the child uses."""

    def __init__(self, case_names: list[str]) -> None:
        self.case_names = case_names
        self.buffer = bytearray()
        self.received = 0
        self.protections: dict[str, bool] | None = None
        self.started_at: float | None = None
        self.loaded = False
        self.cases: list[CaseRun] = []
        self.fatal: LearnerError | None = None
        self.done = False
        self.last_mark = 0.0
        # The learner time the child measured itself (loading and each case): frames often
        # arrive together, in one read, and then only this tells how long the code ran.
        self.reported_seconds = 0.0
        self.case_ends: list[float] = []  # reported_seconds after each case

    @property
    def finished(self) -> bool:
        return self.done or self.fatal is not None

    def feed(self, data: bytes, now: float) -> None:
        self.buffer += data
        while not self.finished:
            if len(self.buffer) < wire.FRAME_HEAD.size:
                return
            kind, length = wire.FRAME_HEAD.unpack_from(self.buffer)
            if kind not in wire.FRAME_KINDS or length > MAX_FRAME_BYTES:
                raise _Tampered("unknown or oversized frame")
            if self.received + length > MAX_RESULT_BYTES:
                raise _Tampered("far more data than any expected output")
            end = wire.FRAME_HEAD.size + length
            if len(self.buffer) < end:
                return
            self.received += length
            payload = memoryview(bytes(self.buffer[wire.FRAME_HEAD.size : end]))
            del self.buffer[:end]
            self._frame(kind, payload, now)

    def _frame(self, kind: bytes, payload: memoryview, now: float) -> None:
        if len(payload) < wire.JSON_HEAD.size:
            raise _Tampered("short frame")
        (size,) = wire.JSON_HEAD.unpack_from(payload)
        start = wire.JSON_HEAD.size
        if start + size > len(payload):
            raise _Tampered("short frame")
        try:
            header = json.loads(bytes(payload[start : start + size]))
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise _Tampered("malformed frame header") from None
        if not isinstance(header, dict):
            raise _Tampered("malformed frame header")
        offset = start + size
        if self.started_at is None:
            if kind != wire.FRAME_START:
                raise _Tampered("a frame before the start")
            protections = header.get("protections")
            if not isinstance(protections, dict):
                raise _Tampered("bad start frame")
            self.protections = {str(k): v is True for k, v in protections.items()}
            self.started_at = self.last_mark = now
            return
        if kind == wire.FRAME_FATAL:
            self.fatal = _error_from(header)
            return
        if not self.loaded:
            if kind != wire.FRAME_LOADED:
                raise _Tampered("a case before the file was loaded")
            self.loaded = True
            self.reported_seconds += min(_reported(header), now - self.last_mark)
            self.last_mark = now
            return
        if kind == wire.FRAME_DONE:
            if len(self.cases) != len(self.case_names):
                raise _Tampered("done before every case ran")
            self.done = True
            return
        if kind != wire.FRAME_CASE or header.get("index") != len(self.cases) or len(
                self.cases) >= len(self.case_names):
            raise _Tampered("unexpected frame")
        self.cases.append(self._case(header, payload, offset, now))

    def _case(self, header: dict[str, Any], payload: memoryview, offset: int, now: float
              ) -> CaseRun:
        from attn_drill.grading.harness import Returned

        name = self.case_names[len(self.cases)]
        # The child's own clock (frames often arrive together); bounded by the parent's.
        reported = _reported(header)
        seconds = reported if reported != math.inf else now - self.last_mark
        self.reported_seconds += seconds
        self.case_ends.append(self.reported_seconds)
        if "error" in header:
            return CaseRun(name, None, _error_from(header["error"]), seconds)
        structure_error = header.get("structure_error")
        if structure_error is not None:
            if not isinstance(structure_error, str):
                raise _Tampered("bad structure error")
            structure_error = printable(structure_error[: wire.MAX_MESSAGE_CHARS])
        arrays, offset = _blobs(header, "arrays", payload, offset)
        inputs_after, offset = _blobs(header, "inputs_after", payload, offset)
        if offset != len(payload):
            raise _Tampered("trailing bytes in a case frame")
        returned = Returned(arrays=arrays, types=_str_map(header.get("types")),
                            structure_error=structure_error, inputs_after=inputs_after)
        return CaseRun(name, returned, None, seconds)


def _reported(header: dict[str, Any]) -> float:
    """The seconds a frame reports (the child's clock), or inf when it reports none."""
    value = header.get("seconds")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
            value) and value >= 0:
        return float(value)
    return math.inf


@dataclass
class _Reading:
    tampered: str | None = None
    timed_out: bool = False
    result_closed: bool = False
    ended_at: float = 0.0


def _read_until_done(selector: selectors.BaseSelector, pipes: Pipes, protocol: _Protocol,
                     outputs: dict[int, _Capture], timeout_s: float) -> _Reading:
    """Collect frames and output until DONE/FATAL, EOF on the channel, tampering or time-out.

    The clock starts at the START frame: interpreter start and imports are not the learner's.
    """
    reading = _Reading()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not protocol.finished:
        now = time.monotonic()
        if now >= deadline:
            reading.timed_out = True
            break
        for key, _ in selector.select(timeout=min(deadline - now, MAX_TIMEOUT_S)):
            chunk = _read_ready(key.fd)
            if chunk is None:
                continue
            if key.fd != pipes.result_r:
                _keep_output(selector, outputs, key.fd, chunk)
                continue
            if not chunk:
                reading.result_closed = True
                break
            was_started = protocol.started_at is not None
            try:
                protocol.feed(chunk, time.monotonic())
            except _Tampered as exc:
                reading.tampered = str(exc)
                break
            if not was_started and protocol.started_at is not None:
                deadline = protocol.started_at + min(timeout_s, MAX_TIMEOUT_S)
        if reading.result_closed or reading.tampered is not None:
            break
        # Checked after every read, not only while waiting: a fast child's frames, START to
        # DONE, may all arrive in one read.
        if protocol.started_at is not None and max(
                time.monotonic() - protocol.started_at, protocol.reported_seconds) > timeout_s:
            reading.timed_out = True
            break
    reading.ended_at = time.monotonic()
    return reading


def _end_everything(handle: ChildHandle, job: PreparedJob, protocol: _Protocol,
                    grace_s: float) -> ChildEnd:
    """Kill the child's process group, then whatever escaped it (daemons)."""
    try:
        return handle.finish(grace_s)
    finally:
        privileged = bool(protocol.protections and protocol.protections.get("privilege-drop"))
        sandbox.kill_escaped(job.plan.uid if privileged else None, job.plan.mark)


def supervise(handle: ChildHandle, pipes: Pipes, job: PreparedJob, timeout_s: float
              ) -> RunResult:
    """Read the child's frames and output until it finishes, fails or runs out of time.

    Shared by the cold runner and the warm worker: `handle` knows how to end the process.
    Whatever happens (even KeyboardInterrupt in the grader), the child and everything it
    started are killed before this returns.
    """
    protocol = _Protocol(job.case_names)
    outputs = {pipes.out_r: _Capture(), pipes.err_r: _Capture()}
    selector = selectors.DefaultSelector()
    for fd in (pipes.result_r, pipes.out_r, pipes.err_r):
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    try:
        try:
            reading = _read_until_done(selector, pipes, protocol, outputs, timeout_s)
        except BaseException:
            _end_everything(handle, job, protocol, 0.0)
            raise
        ended_early = (reading.result_closed and not protocol.finished
                       and reading.tampered is None)
        child_end = _end_everything(handle, job, protocol, EXIT_GRACE_S if ended_early else 0.0)
        _drain(selector, pipes, outputs)
    finally:
        selector.close()

    tampered, timed_out, end = reading.tampered, reading.timed_out, reading.ended_at
    stdout, stderr = outputs[pipes.out_r], outputs[pipes.err_r]
    if protocol.started_at is None:
        if tampered is None:
            what = ("did not start in time" if timed_out
                    else f"ended before running the submission (exit status {child_end.status})")
            detail = stderr.text().strip().splitlines()[-1:] or [""]
            raise SandboxError(f"the grading process {what}. {detail[0]}".strip())
        protocol.started_at = end  # learner code never ran, yet someone wrote on the channel
    learner_seconds = max(0.0, end - protocol.started_at)
    cases, fatal = protocol.cases, protocol.fatal
    if tampered is not None:
        cases, fatal = [], LearnerError(
            "bad-output",
            "The submission wrote to the grader's result channel, so none of its results can "
            f"be trusted ({tampered}).")
    elif timed_out:
        # Only what finished within the limit counts, by the child's own clock: frames that
        # arrived together after the limit passed must not make a slow run look complete.
        within = sum(1 for end in protocol.case_ends if end <= timeout_s)
        del protocol.cases[within:]
        cases = protocol.cases
        fatal = LearnerError("timeout", _timeout_message(protocol, job, timeout_s))
    elif not protocol.finished:
        fatal = _ended_early(protocol, job, child_end)
    protections = dict.fromkeys(sandbox.PROTECTIONS, False)
    protections.update(protocol.protections or {})
    return RunResult(
        cases=cases, fatal=fatal, stdout=job.as_learner_sees(stdout.text()),
        stderr=job.as_learner_sees(stderr.text()),
        output_truncated=stdout.truncated or stderr.truncated,
        learner_seconds=learner_seconds, protections=protections,
    )


def _drain(selector: selectors.BaseSelector, pipes: Pipes, outputs: dict[int, _Capture]) -> None:
    """Collect output still buffered in the pipes once every writer is dead (bounded)."""
    with contextlib.suppress(KeyError):
        selector.unregister(pipes.result_r)
    deadline = time.monotonic() + DRAIN_S
    while selector.get_map() and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
            chunk = _read_ready(key.fd)
            if chunk is not None:
                _keep_output(selector, outputs, key.fd, chunk)


def _read_ready(fd: int) -> bytes | None:
    """One read from a pipe the selector called ready: b"" at its end (or when it broke),
    None when it had nothing after all."""
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def _keep_output(selector: selectors.BaseSelector, outputs: dict[int, _Capture], fd: int,
                 chunk: bytes) -> None:
    """Capture a chunk of stdout/stderr; an empty one means that stream has ended."""
    if chunk:
        outputs[fd].add(chunk)
    else:
        selector.unregister(fd)


def _where(protocol: _Protocol, job: PreparedJob) -> str:
    if not protocol.loaded:
        return "while loading your file"
    index = len(protocol.cases)
    if index < len(job.case_names):
        return f"while running case '{job.case_names[index]}'"
    return "after the last case"


def _timeout_message(protocol: _Protocol, job: PreparedJob, timeout_s: float) -> str:
    return (f"Stopped after {timeout_s:g} s {_where(protocol, job)} "
            f"({len(protocol.cases)} of {len(job.case_names)} cases finished): an endless loop, "
            "or far too slow.")


def _ended_early(protocol: _Protocol, job: PreparedJob, end: ChildEnd) -> LearnerError:
    where = _where(protocol, job)
    status = end.status
    if not end.by_itself:
        return LearnerError(
            "bad-output",
            f"Your code closed the grader's result channel {where}, so no result came back.")
    if status is not None and status < 0:
        signum = -status
        name = _signal_name(signum)
        if signum in (signal.SIGXCPU, signal.SIGKILL):
            return LearnerError("timeout", f"The process used up its CPU time {where} ({name}).")
        if signum == getattr(signal, "SIGXFSZ", -1):
            return LearnerError(
                "crashed",
                f"The process was stopped {where} for writing a file larger than "
                f"{sandbox.FILE_SIZE_LIMIT_BYTES >> 20} MB.")
        return LearnerError(
            "crashed",
            f"The process was killed by {name} {where} (a crash, e.g. a segfault in native "
            "code, or memory running out).")
    shown = "" if status is None else f" (exit status {status})"
    return LearnerError(
        "exited",
        f"The process ended{shown} {where}, before returning a result: sys.exit(), exit() or "
        "os._exit() in your code ends the grade.")


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
