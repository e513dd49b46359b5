"""A warm grading process for `attn-drill practice`: pay the numpy/torch import once.

`WarmWorker(track)` starts a *zygote*: a `python -I` process that imports numpy, the harness
and (torch track) torch with one thread, and then only waits. For each grade the parent
prepares the same job as run_submission, creates the result/stdout/stderr pipes and passes
their write ends to the zygote over a Unix socket (SCM_RIGHTS). The zygote forks; the fork
starts a new session, takes the pipes as its channel and stdout/stderr, and runs exactly the
code of the cold child (child.run_job: limits, privilege drop, learner code, frames). The
parent supervises it with the same code as run_submission, so results, timeouts and clean-up
are identical — only the import cost is gone.

Torch must be forked before it starts worker threads: the zygote sets one intra-op and one
inter-op thread and never runs an operator, so it stays single-threaded (checked at start).
The zygote is a *subreaper*: processes a grade orphans are reparented to it and killed after
the grade, on top of the process-group and per-uid kills the parent does.

The zygote itself never runs learner code. If it dies, the next `run` restarts it; `close`
kills it, and it exits by itself when the parent goes away (its socket reaches EOF).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attn_drill.grading import sandbox
from attn_drill.grading.runner import (
    STARTUP_TIMEOUT_S,
    ChildEnd,
    Pipes,
    RunResult,
    SandboxError,
    prepared_job,
    run_submission,
    supervise,
)

if TYPE_CHECKING:
    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.problems import Problem

ZYGOTE_CODE = "from attn_drill.grading.worker import zygote_main; zygote_main()"
REPLY_TIMEOUT_S = 15.0
MESSAGE_BYTES = 1 << 16
PR_SET_CHILD_SUBREAPER = 36


class _ZygoteGone(Exception):
    """The zygote did not answer: it died or is stuck; restart it."""


class WarmWorker:
    """Grades through a pre-warmed zygote that forks one fresh isolated child per grade."""

    def __init__(self, track: str) -> None:
        self.track = track
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        self._closed = False
        self._grading = threading.Lock()  # one grade at a time through the zygote
        self._current_pid: int | None = None  # the forked child of the grade in flight
        self.warm = sandbox.IS_LINUX  # elsewhere every grade is a cold run_submission
        if self.warm:
            self._start()

    # -- lifecycle ----------------------------------------------------------------------------
    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-c", ZYGOTE_CODE, str(theirs.fileno()), self.track],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                env=sandbox.child_env(sandbox.choose_plan(self.track, 0), tempfile.gettempdir()),
            )
        except OSError as exc:
            ours.close()
            raise SandboxError(f"could not start the warm grading process: {exc}") from None
        finally:
            theirs.close()
        self._socket = ours
        try:
            ready = self._receive(STARTUP_TIMEOUT_S)
        except _ZygoteGone:
            self._stop()
            raise SandboxError("the warm grading process did not start") from None
        if not ready.get("ready"):
            self._stop()
            raise SandboxError(f"the warm grading process cannot fork safely: {ready}")

    def close(self) -> None:
        """Kill the zygote (and anything left of a grade). Safe to call twice; later `run`
        calls grade cold."""
        self._closed = True
        self._stop()

    def _stop(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._process is not None:
            sandbox.kill_group(self._process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
            self._process = None

    def cancel(self) -> None:
        """Kill the grade in flight, if any (e.g. the learner quit while it ran). Its `run`
        then returns the usual result of a child that ended early; the worker stays usable."""
        pid = self._current_pid
        if pid is not None:
            sandbox.kill_group(pid)

    def __enter__(self) -> WarmWorker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    # -- grading ------------------------------------------------------------------------------
    def run(self, source: Path, problem: Problem, track: str, cases: list[ConcreteCase], *,
            timeout_s: float = 10.0) -> RunResult:
        """Same contract and result as run_submission, from the warm process."""
        if not self.warm or self._closed or track != self.track:
            return run_submission(source, problem, track, cases, timeout_s=timeout_s)
        try:
            with self._grading:
                return self._run_warm(Path(source), problem, track, cases, timeout_s)
        except SandboxError:
            # The warm process cannot be (re)started or its fork broke before any learner
            # code ran: this grade runs cold (same verdicts); the next one tries warm again.
            self._stop()
            return run_submission(source, problem, track, cases, timeout_s=timeout_s)

    def _run_warm(self, source: Path, problem: Problem, track: str, cases: list[ConcreteCase],
                  timeout_s: float) -> RunResult:
        with prepared_job(source, problem, track, cases, timeout_s) as job:
            for attempt in range(2):
                if not self.alive:
                    if self._closed:  # closed from another thread mid-grade: no restart
                        raise SandboxError("the warm grading process was closed")
                    self._stop()
                    self._start()
                pipes = Pipes.open()
                try:
                    try:
                        pid = self._fork(str(job.job_path), pipes)
                    finally:
                        pipes.close_child_ends()
                    self._current_pid = pid
                    try:
                        return supervise(_ForkedHandle(self, pid), pipes, job, timeout_s)
                    finally:
                        self._current_pid = None
                except _ZygoteGone:
                    self._stop()
                    if attempt:
                        raise SandboxError("the warm grading process keeps failing") from None
                finally:
                    pipes.close_parent_ends()
        raise AssertionError("unreachable")

    def _fork(self, job_path: str, pipes: Pipes) -> int:
        self._send({"op": "run", "job": job_path}, [pipes.result_w, pipes.out_w, pipes.err_w])
        reply = self._receive(REPLY_TIMEOUT_S)
        pid = reply.get("pid")
        if not isinstance(pid, int):
            raise _ZygoteGone()
        return pid

    def _finish(self, pid: int, grace_s: float) -> ChildEnd:
        try:
            self._send({"op": "finish", "grace": grace_s})
            reply = self._receive(REPLY_TIMEOUT_S)
        except _ZygoteGone:
            sandbox.kill_group(pid)  # the zygote is gone; its child may not be
            self._stop()
            return ChildEnd(None, False)
        status = reply.get("status")
        return ChildEnd(status if isinstance(status, int) else None, reply.get("by_itself") is True)

    # -- messages -----------------------------------------------------------------------------
    def _send(self, message: dict[str, Any], fds: list[int] | None = None) -> None:
        if self._socket is None:
            raise _ZygoteGone()
        try:
            socket.send_fds(self._socket, [json.dumps(message).encode()], fds or [])
        except OSError:
            raise _ZygoteGone() from None

    def _receive(self, timeout_s: float) -> dict[str, Any]:
        if self._socket is None:
            raise _ZygoteGone()
        self._socket.settimeout(timeout_s)
        try:
            data = self._socket.recv(MESSAGE_BYTES)
        except OSError:  # socket.timeout is an OSError
            raise _ZygoteGone() from None
        if not data:
            raise _ZygoteGone()
        try:
            message = json.loads(data)
        except ValueError:
            raise _ZygoteGone() from None
        if not isinstance(message, dict):
            raise _ZygoteGone()
        return message


class _ForkedHandle:
    def __init__(self, worker: WarmWorker, pid: int) -> None:
        self.worker = worker
        self.pid = pid

    def finish(self, grace_s: float) -> ChildEnd:
        return self.worker._finish(self.pid, grace_s)


# -- the zygote (runs in its own process) -------------------------------------------------------


def zygote_main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    track = sys.argv[2]
    _preload(track)
    _become_subreaper()
    threads = _thread_count()
    if threads not in (None, 1):
        _reply(control, {"ready": False, "threads": threads})
        return
    _reply(control, {"ready": True, "pid": os.getpid()})
    current: int | None = None
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, MESSAGE_BYTES, 3)
        except OSError:
            break
        if not data:
            break  # the parent went away
        message = json.loads(data)
        if message.get("op") == "run" and len(fds) == 3:
            current = _fork_child(control, message["job"], fds)
            _reply(control, {"pid": current})
        elif message.get("op") == "finish" and current is not None:
            status, by_itself = _end_child(current, float(message.get("grace", 0.0)))
            current = None
            _reply(control, {"status": status, "by_itself": by_itself})
        else:
            for fd in fds:
                os.close(fd)
            _reply(control, {"error": "unexpected message"})
    if current is not None:
        _end_child(current, 0.0)


def _preload(track: str) -> None:
    from attn_drill.grading import cases, child, harness  # noqa: F401

    child._preload(track)


def _become_subreaper() -> None:
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _thread_count() -> int | None:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def _reply(control: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        control.send(json.dumps(message).encode())


def _fork_child(control: socket.socket, job_path: str, fds: list[int]) -> int:
    result_w, out_w, err_w = fds
    pid = os.fork()
    if pid == 0:  # the grade's child: never returns
        try:
            os.setsid()
            control.close()
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.close(out_w)
            os.close(err_w)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            from attn_drill.grading.child import run_job

            run_job(job_path, result_w)
        finally:
            os._exit(70)
    for fd in fds:
        os.close(fd)
    return pid


def _end_child(pid: int, grace_s: float) -> tuple[int | None, bool]:
    natural = sandbox.wait_exit(pid, grace_s)
    sandbox.kill_group(pid)
    try:
        _, raw = os.waitpid(pid, 0)
        final: int | None = os.waitstatus_to_exitcode(raw)
    except ChildProcessError:
        final = None
    _reap_orphans()
    return (natural if natural is not None else final), natural is not None


def _reap_orphans() -> None:
    """Kill and reap the processes a grade orphaned (reparented to us as subreaper)."""
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        children = _children()
        if not children:
            break
        for pid in children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    while True:  # any other zombie
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _children() -> list[int]:
    me = str(os.getpid())
    try:  # the zygote is single-threaded: its main task lists every child
        with open(f"/proc/self/task/{me}/children") as handle:
            return [int(pid) for pid in handle.read().split()]
    except OSError:
        pass  # kernel without CONFIG_PROC_CHILDREN: scan /proc
    found: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
        except OSError:
            continue
        # Fields after the command (which may hold spaces): state, ppid, ...
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1] == me:
            found.append(int(entry))
    return found
