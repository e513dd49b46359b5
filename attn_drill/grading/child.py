"""The code that runs inside the isolated child process, and the wire format it speaks.

Started as `python -I -c "from attn_drill.grading.child import main; main()" JOB FD` (cold) or
forked from the warm worker's zygote (`run_job`). In order, the child:

1. reads the job file (learner file path, entry name, track spec, cases: arrays as .npy bytes,
   other fields as JSON) — the expected outputs are never in it;
2. imports numpy, the harness and, for the torch track only, torch (one thread everywhere);
3. applies the sandbox (sandbox.apply_limits: memory/CPU/file caps, private mounts, the
   per-grade uid and process cap, then no capabilities, a Landlock allow-list and a seccomp
   filter, see confine.py);
4. writes a START frame on the result channel: the parent starts the clock of the timeout here;
5. loads the learner file, looks up the entry and calls `harness.call` on every case, sending
   one CASE frame per case (a `Returned` as JSON plus .npy bytes, or the learner's exception);
6. writes DONE and ends with os._exit (no atexit handler or thread of the learner runs).

Frames: 1 byte kind, 4 bytes big-endian payload length, payload = 4 bytes JSON length, the JSON
header, then the binary blobs the header lists as [name, size] pairs. The parent parses them
without executing anything (json, and np.load with allow_pickle=False after checking the
header): see runner.py for the checks and for what a forged or missing frame means.

Learner code shares this process, so it can reach anything here (see the residual risks in
runner.py). The child makes the easy tricks fail: references to the functions it needs are
taken before learner code loads, the namespaces the harness relies on (numpy, builtins, torch,
the harness and this module) are restored after loading and after every call, and a process
forked by the learner never writes a frame.
"""

from __future__ import annotations

import io
import json
import os
import struct
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import numpy as np

    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.grading.harness import Returned

FRAME_START = b"S"  # sandbox applied, learner code starts now; JSON: protections
FRAME_LOADED = b"L"  # the file loaded and the entry exists
FRAME_CASE = b"R"  # one case: JSON index + Returned fields (or error), blobs: .npy arrays
FRAME_FATAL = b"F"  # the run stopped: JSON LearnerError fields
FRAME_DONE = b"D"  # every case ran
FRAME_KINDS = (FRAME_START, FRAME_LOADED, FRAME_CASE, FRAME_FATAL, FRAME_DONE)
FRAME_HEAD = struct.Struct(">cI")
JSON_HEAD = struct.Struct(">I")

# Bounds that keep the parent safe from a hostile stream (and the pipe from huge payloads).
MAX_CASE_BYTES = 32 << 20
MAX_MESSAGE_CHARS = 500
MAX_TRACEBACK_CHARS = 4000
MAX_SHOWN_FRAMES = 10
SUPPORTED_KINDS = "biufc"  # bool, int, uint, float, complex: everything else is not graded

LEARNER_MODULE = "_attn_drill_submission"
INTERNAL_FAILURE_EXIT = 70  # the child broke before learner code ran (our bug)


# -- wire format (shared with the parent) -----------------------------------------------------


def encode_frame(kind: bytes, header: dict[str, Any] | None = None,
                 blobs: list[bytes] | None = None) -> bytes:
    text = json.dumps(header or {}, ensure_ascii=True).encode("ascii")
    payload = b"".join([JSON_HEAD.pack(len(text)), text, *(blobs or [])])
    return FRAME_HEAD.pack(kind, len(payload)) + payload


def npy_bytes(array: np.ndarray) -> bytes:
    """A .npy (format 1.0) image of a numeric array, written without numpy's Python helpers."""
    shape = tuple(int(n) for n in array.shape)
    header = f"{{'descr': {array.dtype.str!r}, 'fortran_order': False, 'shape': {shape!r}, }}"
    # Magic (6) + version (2) + header length (2) + header + newline, padded to 64 bytes.
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"
    encoded = header.encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(encoded)) + encoded + array.tobytes()


def gradeable(array: Any) -> bool:
    import numpy as np

    return (
        isinstance(array, np.ndarray)
        and array.dtype.kind in SUPPORTED_KINDS
        and array.dtype.fields is None
    )


# -- the job ----------------------------------------------------------------------------------


@dataclass
class Job:
    """Everything the child needs, and nothing the verdict depends on."""

    source: str  # the copy of the learner's file the child loads
    display: str  # the path the learner knows (shown in tracebacks)
    entry: str
    signature: str
    track: str
    spec: dict[str, Any]
    plan: dict[str, Any]
    cases: list[dict[str, Any]]
    arrays: list[np.ndarray] = field(default_factory=list)


def write_job(path: Path, job: Job) -> None:
    blobs = [npy_bytes(a) for a in job.arrays]
    header = {
        "source": job.source, "display": job.display, "entry": job.entry,
        "signature": job.signature, "track": job.track, "spec": job.spec, "plan": job.plan,
        "cases": job.cases, "blobs": [len(b) for b in blobs],
    }
    text = json.dumps(header).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(JSON_HEAD.pack(len(text)) + text)
        for blob in blobs:
            handle.write(blob)


def read_job(path: str) -> Job:
    import numpy as np

    data = Path(path).read_bytes()
    (size,) = JSON_HEAD.unpack_from(data)
    header = json.loads(data[JSON_HEAD.size : JSON_HEAD.size + size])
    offset = JSON_HEAD.size + size
    arrays = []
    for length in header.pop("blobs"):
        arrays.append(np.load(io.BytesIO(data[offset : offset + length]), allow_pickle=False))
        offset += length
    return Job(**header, arrays=arrays)


def case_to_json(case: ConcreteCase, arrays: list[np.ndarray]) -> dict[str, Any]:
    """A case without its expected values; arrays go to `arrays`, the JSON keeps their index."""

    from attn_drill.grading.inputs import Blocks

    def ref(array: np.ndarray) -> int:
        arrays.append(array)
        return len(arrays) - 1

    def value(v: Any) -> Any:  # an array's index, or {"blocks": [[index, ...], ...]}
        if isinstance(v, Blocks):
            return {"blocks": [[ref(part) for part in item] for item in v.items]}
        return ref(v)

    return {
        "name": case.name, "tags": list(case.tags), "dims": dict(case.dims),
        "args": dict(case.args), "init": dict(case.init), "is_random": case.is_random,
        "inputs": [[k, value(v)] for k, v in case.inputs.items()],
        "info": {k: case.input_info(k).to_json() for k in case.inputs},
        "params": [[k, ref(v)] for k, v in case.params.items()],
        "grad_output": None if case.grad_output is None else ref(case.grad_output),
        "chunks": list(case.chunks),
    }


def case_from_json(data: dict[str, Any], arrays: list[np.ndarray]) -> ConcreteCase:
    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.grading.inputs import Blocks, InputInfo

    def value(v: Any) -> Any:
        if isinstance(v, dict):
            return Blocks([tuple(arrays[i] for i in item) for item in v["blocks"]])
        return arrays[v]

    return ConcreteCase(
        name=data["name"], tags=data["tags"], dims=data["dims"],
        inputs={k: value(v) for k, v in data["inputs"]}, args=data["args"], init=data["init"],
        params={k: arrays[i] for k, i in data["params"]}, expected={},
        grad_output=None if data["grad_output"] is None else arrays[data["grad_output"]],
        is_random=data["is_random"],
        info={k: InputInfo.from_json(v) for k, v in data.get("info", {}).items()},
        chunks=data.get("chunks", []),
    )


# -- the learner's errors ---------------------------------------------------------------------


def _safe_str(value: Any) -> str:
    try:
        text = str(value)
    except BaseException:  # a hostile __str__
        return "<the exception's message could not be printed>"
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


def _sentence(text: str) -> str:
    """End `text` with exactly one full stop (messages quote the learner's own)."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _exception_line(exc: BaseException) -> str:
    message = _safe_str(exc).strip().splitlines()
    name = type(exc).__name__
    return f"{name}: {message[0]}" if message else name


@dataclass
class _Reporter:
    """Formats learner errors: one-sentence message, and only the learner's own frames."""

    source: str
    display: str
    entry: str
    signature: str
    call_kind: str

    def frames(self, exc: BaseException) -> list[traceback.FrameSummary]:
        try:
            return [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == self.source]
        except BaseException:
            return []

    def traceback_text(self, exc: BaseException) -> str:
        try:
            frames = self.frames(exc)
            hidden = 0
            if len(frames) > MAX_SHOWN_FRAMES:  # deep recursion: the start and the end tell it
                hidden = len(frames) - MAX_SHOWN_FRAMES
                frames = frames[:4] + frames[-(MAX_SHOWN_FRAMES - 4) :]
            lines = traceback.StackSummary.from_list(frames).format()
            if hidden:
                lines.insert(4, f"  ... {hidden} more frames in your file ...\n")
            if isinstance(exc, SyntaxError):
                lines += traceback.format_exception_only(type(exc), exc)
            else:
                lines.append(_exception_line(exc) + "\n")
            text = "".join(lines).replace(self.source, self.display)
        except BaseException:
            text = _exception_line(exc)
        if len(text) > MAX_TRACEBACK_CHARS:
            text = "...\n" + text[-MAX_TRACEBACK_CHARS:]
        return text

    def error(self, kind: str, message: str, exc: BaseException | None = None) -> dict[str, str]:
        return {
            "kind": kind,
            "message": message,
            "traceback": "" if exc is None else self.traceback_text(exc),
        }

    def load_error(self, exc: BaseException) -> dict[str, str]:
        if isinstance(exc, SyntaxError):
            where = f" on line {exc.lineno}" if exc.lineno else ""
            message = _sentence(f"{type(exc).__name__}{where}: {_safe_str(exc.msg)}")
            return self.error("syntax", message, exc)
        if isinstance(exc, (RecursionError, MemoryError)) and not self.frames(exc):
            # Raised by the parser or the compiler, before any line of the file ran.
            message = (f"Your file is nested too deeply for Python's parser "
                       f"({type(exc).__name__} while compiling it): split the long expression "
                       "into several statements.")
            return self.error("syntax", message)
        kind = _resource_kind(exc)
        if isinstance(exc, SystemExit):
            message = (f"Loading your file called sys.exit({_safe_str(exc.code)}) before the "
                       f"grader could call `{self.entry}`.")
            return self.error("exited", message, exc)
        if kind is not None:
            return self.error(kind, _sentence(
                f"Loading your file failed: {_exception_line(exc)}{_limit_note(kind)}"), exc)
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            message = (f"Loading your file failed: there is no module named {exc.name!r} "
                       "(the standard library, numpy and, on the torch track, torch are "
                       "available).")
            return self.error("import", message, exc)
        return self.error("import", _sentence(f"Loading your file raised {_exception_line(exc)}"),
                          exc)

    def call_error(self, exc: BaseException, case_name: str) -> dict[str, str]:
        plain = getattr(exc, "plain_message", None)  # harness.ModuleSetupError: ours, not theirs
        if isinstance(plain, str) and plain:
            return self.error("exception", _sentence(plain), exc)
        kind = _resource_kind(exc)
        if kind is not None:
            message = _sentence(f"`{self.entry}` failed on case '{case_name}': "
                                f"{_exception_line(exc)}{_limit_note(kind)}")
            return self.error(kind, message, exc)
        if isinstance(exc, TypeError) and not self.frames(exc):
            # Raised while binding the arguments, before any line of the learner's code ran.
            what = "constructed or called" if self.call_kind == "module" else "called"
            message = (f"`{self.entry}` could not be {what} the way the grader does it "
                       f"({_safe_str(exc)}): check its signature, which must be "
                       f"`{self.signature.strip()}`.")
            return self.error("exception", message, exc)
        # The grader's own note on the inputs (a used-up iterator, say), when it left one.
        note = getattr(exc, "attn_drill_note", "")
        note = note if isinstance(note, str) else ""
        return self.error("exception", _sentence(f"`{self.entry}` raised {_exception_line(exc)}")
                          + note, exc)


# The limits of this grade, for messages that name the one that was hit (set in _prepare).
_LIMITS = {"memory_bytes": 0, "processes": 0}
# A new thread's stack when RLIMIT_STACK does not say (glibc's usual default).
_THREAD_PROBE_BYTES = 8 << 20


def _resource_kind(exc: BaseException) -> str | None:
    """Map out-of-memory and out-of-processes failures to their LearnerError kinds.

    "can't start new thread" and a fork's EAGAIN come from either limit: a thread's stack is
    address space, so ~20 threads exhaust a 1 GiB cap before the process cap. Whether one
    more stack still fits tells which limit refused it.
    """
    import errno

    text = _safe_str(exc).lower()
    if isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and ("can't allocate memory" in text
                                           or "not enough memory" in text)
    ):
        return "memory"
    if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:
        return "memory"
    if isinstance(exc, OSError) and exc.errno == errno.EAGAIN:
        return "process-limit"  # fork/clone refused by RLIMIT_NPROC
    if isinstance(exc, RuntimeError) and "can't start new thread" in text:
        return "process-limit" if _room_for_a_thread_stack() else "memory"
    return None


def _room_for_a_thread_stack() -> bool:
    """Would the address-space cap still let one more thread's stack be mapped?"""
    import _thread
    import mmap
    import resource

    size = _thread.stack_size()
    if not size:  # the default: glibc sizes new stacks by RLIMIT_STACK
        soft = resource.getrlimit(resource.RLIMIT_STACK)[0]
        size = soft if 0 < soft < (1 << 30) else _THREAD_PROBE_BYTES
    try:
        probe = mmap.mmap(-1, size + (1 << 20))
    except (OSError, ValueError, MemoryError, OverflowError):
        return False
    probe.close()
    return True


def _limit_note(kind: str) -> str:
    """Which limit of the grade was hit, in words (empty when it is not known)."""
    if kind == "memory" and _LIMITS["memory_bytes"]:
        size = _LIMITS["memory_bytes"] / (1 << 30)
        return (f" (the memory limit of {size:g} GiB of address space per grade was reached; "
                "every thread also reserves address space for its stack)")
    if kind == "process-limit" and _LIMITS["processes"]:
        return (f" (the limit of {_LIMITS['processes']} processes and threads per grade was "
                "reached)")
    return ""


# -- keeping the harness's namespaces intact --------------------------------------------------


class _NamespaceGuard:
    """Puts back every attribute learner code replaced in the namespaces the grader relies on.

    Only names that existed before the learner's code ran are restored; names it added are
    left alone so its own helpers keep working.
    """

    def __init__(self, owners: list[Any]) -> None:
        self._saved = [(owner, dict(vars(owner))) for owner in owners]

    def restore(self) -> None:
        for owner, saved in self._saved:
            try:
                current = vars(owner)
            except TypeError:
                continue
            for name, value in saved.items():
                if current.get(name, _MISSING) is not value:
                    try:
                        if isinstance(current, dict):
                            current[name] = value
                        else:
                            setattr(owner, name, value)
                    except (AttributeError, TypeError):
                        pass


_MISSING = object()


def _guarded_owners(track: str) -> list[Any]:
    import builtins
    import linecache

    import numpy as np

    import attn_drill.grading as grading
    from attn_drill.grading import cases, harness, inputs, tracks

    # The package too: the track module looks the harness up through it at call time.
    owners: list[Any] = [builtins, np, grading, harness, cases, inputs, tracks,
                         sys.modules[__name__],
                         os, json, struct, time, traceback, linecache, io]
    owners += tracks.get_track(track).guarded_modules()
    return owners


# -- running the job --------------------------------------------------------------------------


class _Channel:
    """The result channel; only the original child process may write to it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.owner = os.getpid()
        self._write = os.write
        self._getpid = os.getpid
        self._exit = os._exit

    def send(self, frame: bytes) -> None:
        if self._getpid() != self.owner:  # a process the learner forked: never reports
            self._exit(0)
        view = memoryview(frame)
        try:
            while view:
                written = self._write(self.fd, view)
                view = view[written:]
        except OSError:  # the parent is gone or stopped listening
            self._exit(0)


def _setup_streams() -> None:
    """Line-buffered stdout/stderr so prints show even if the process dies without exiting."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        raw = io.FileIO(fd, "wb", closefd=False)
        stream = io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _flush_streams(streams: list[Any]) -> None:
    for stream in streams:
        try:
            stream.flush()
        except BaseException:  # closed or replaced by the learner: nothing to keep
            pass


def _prepare(job_path: str, result_fd: int) -> tuple[Job, list[ConcreteCase], Any, dict[str, bool],
                                                     _NamespaceGuard, _Channel]:
    from attn_drill.grading import sandbox

    job = read_job(job_path)
    _setup_streams()
    _preload(job.track)  # one thread everywhere (set once, in the zygote or here)
    # Modules the reporting needs, imported while every file is still readable.
    import errno  # noqa: F401
    import linecache  # noqa: F401

    from attn_drill.grading import harness  # noqa: F401

    cases = [case_from_json(c, job.arrays) for c in job.cases]
    spec = SimpleNamespace(**job.spec)
    if getattr(spec, "forbidden", None):
        from attn_drill.grading.forbidden import install_guards

        install_guards(spec.forbidden)  # before the namespace guard's snapshot: it keeps them
    plan = sandbox.SandboxPlan.from_json(job.plan)
    directory = os.path.dirname(job.source)
    os.chdir(directory)
    # Also for a child forked from the warm worker, whose environment is the zygote's.
    os.environ["HOME"] = os.environ["TMPDIR"] = directory
    os.environ[sandbox.GRADE_MARK_VAR] = plan.mark
    sys.dont_write_bytecode = True
    import _thread  # noqa: F401  (_room_for_a_thread_stack, after the filesystem is closed)
    import mmap  # noqa: F401
    import resource  # noqa: F401

    protections = sandbox.apply_limits(plan, job.source)
    _LIMITS["memory_bytes"] = plan.memory_bytes if protections.get("memory-limit") else 0
    _LIMITS["processes"] = sandbox.PROCESS_LIMIT if protections.get("process-limit") else 0
    guard = _NamespaceGuard(_guarded_owners(job.track))
    return job, cases, spec, protections, guard, _Channel(result_fd)


def run_job(job_path: str, result_fd: int) -> NoReturn:
    """Run one grade in this process and end it. Never returns."""
    try:
        job, cases, spec, protections, guard, channel = _prepare(job_path, result_fd)
    except BaseException:
        traceback.print_exc()
        _flush_streams([sys.stderr])
        os._exit(INTERNAL_FAILURE_EXIT)
    streams = [sys.stdout, sys.stderr]
    exit_now = os._exit
    try:
        _learner_phase(job, cases, spec, protections, guard, channel, streams)
    except BaseException:  # a failure of ours after learner code ran: the parent sees no DONE
        pass
    exit_now(0)


def _learner_phase(job: Job, cases: list[ConcreteCase], spec: Any, protections: dict[str, bool],
                   guard: _NamespaceGuard, channel: _Channel, streams: list[Any]) -> None:
    from attn_drill.grading import harness

    call = harness.call
    load = harness.load_module_from_path
    reporter = _Reporter(job.source, job.display, job.entry, job.signature, spec.call)
    encode = encode_frame
    encode_returned = _encode_returned

    def fatal(error: dict[str, str]) -> None:
        guard.restore()
        _flush_streams(streams)
        channel.send(encode(FRAME_FATAL, error))

    channel.send(encode(FRAME_START, {"protections": protections}))
    load_started = time.perf_counter()
    # ---- learner code from here on ----
    try:
        module = load(Path(job.source), LEARNER_MODULE)
        target = getattr(module, job.entry, _MISSING)
    except BaseException as exc:
        fatal(reporter.load_error(exc))
        return
    guard.restore()
    if target is _MISSING or not callable(target):
        fatal(reporter.error("missing-name", _missing_message(job.entry, target, module)))
        return

    if spec.call == "function":
        learner_function = target

        def _guarded_call(*args: Any, **kwargs: Any) -> Any:
            try:
                return learner_function(*args, **kwargs)
            finally:
                guard.restore()  # patches made during the call do not reach the harness

        target = _guarded_call
    channel.send(encode(FRAME_LOADED, {"seconds": time.perf_counter() - load_started}))
    clock = time.perf_counter
    for index, case in enumerate(cases):
        started = clock()
        try:
            returned = call(target, spec, case, job.track)
        except SystemExit as exc:
            fatal(reporter.error(
                "exited",
                f"`{job.entry}` called sys.exit({_safe_str(exc.code)}) on case '{case.name}': "
                "a solution must return its result, not end the program.", exc))
            return
        except BaseException as exc:
            seconds = clock() - started
            guard.restore()
            channel.send(encode(FRAME_CASE, {"index": index, "seconds": seconds,
                                             "error": reporter.call_error(exc, case.name)}))
            continue
        seconds = clock() - started
        guard.restore()
        frame = encode_returned(index, case.name, returned, reporter, seconds)
        del returned  # a huge output must not stay alive into the next case
        channel.send(frame)
    _flush_streams(streams)
    channel.send(encode(FRAME_DONE))


def _missing_message(entry: str, target: Any, module: Any) -> str:
    if target is not _MISSING:
        return f"`{entry}` in your file is a {type(target).__name__}, not a function or class."
    defined = [
        name for name, value in vars(module).items()
        if not name.startswith("_")
        and (type(value).__name__ == "function" or isinstance(value, type))
        and getattr(value, "__module__", None) == LEARNER_MODULE
    ]
    listing = f" (it defines: {', '.join(defined[:6])})" if defined else ""
    return f"Your file does not define `{entry}`{listing}."


def _encode_returned(index: int, case_name: str, returned: Returned, reporter: _Reporter,
                     seconds: float) -> bytes:
    header: dict[str, Any] = {
        "index": index,
        "seconds": seconds,
        "types": {str(k): str(v) for k, v in returned.types.items()},
        "structure_error": (None if returned.structure_error is None
                            else str(returned.structure_error)),
        "arrays": [],
        "inputs_after": [],
    }
    blobs: list[bytes] = []
    total = 0
    for group, arrays in (("arrays", returned.arrays), ("inputs_after", returned.inputs_after)):
        for name, array in arrays.items():
            if not gradeable(array):
                continue  # object/str/structured data: the checks report it as unreadable
            total += array.nbytes
            if total > MAX_CASE_BYTES:
                error = reporter.error(
                    "bad-output",
                    f"`{reporter.entry}` returned more than {MAX_CASE_BYTES >> 20} MB of data "
                    f"on case '{case_name}', far more than the expected output.")
                return encode_frame(FRAME_CASE, {"index": index, "seconds": seconds,
                                                 "error": error})
            blob = npy_bytes(array)
            header[group].append([str(name), len(blob)])
            blobs.append(blob)
    return encode_frame(FRAME_CASE, header, blobs)


def main() -> NoReturn:
    """Entry point of the cold child: `... main()" JOB_PATH RESULT_FD`, or `- RESULT_FD TRACK`
    for a child started before its job exists (runner.PrestartedChild): it imports numpy (and
    torch) while the grader is still loading the problem, then reads the job path on stdin."""
    job_path, fd = sys.argv[1], int(sys.argv[2])
    if job_path == "-":
        _preload(sys.argv[3] if len(sys.argv) > 3 else "numpy")
        job_path = _job_path_from_stdin()
    run_job(job_path, fd)


def _preload(track: str) -> None:
    """Import what the track's calls need (numpy for an unknown or text track)."""
    from attn_drill.grading.tracks import TRACKS

    chosen = TRACKS.get(track)
    (chosen if chosen is not None and chosen.runs_code else TRACKS["numpy"]).preload()


def _job_path_from_stdin() -> str:
    """One line on stdin names the job file; EOF without it means the grade was abandoned."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(0, 4096)
        if not chunk:
            os._exit(0)
        data += chunk
    # Learner code must not inherit the grader's pipe as its stdin.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return data.decode("utf-8").strip()


if __name__ == "__main__":
    main()
