"""Hostile submissions against the child's confinement, in real child processes.

Each probe is a working softmax whose module body first tries one attack and prints
`<label>: OPEN ...` or `<label>: blocked (...)`. The tests read those lines from the captured
output and check the attack failed, for a cold child and a warm worker's forked child, as root
(a per-grade uid) and as an ordinary user. Where a kernel layer is missing, the test is
skipped and says which one.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from attn_drill.grading import confine, sandbox
from attn_drill.grading.cases import build_cases
from attn_drill.grading.runner import RunResult, run_submission
from attn_drill.grading.worker import WarmWorker
from attn_drill.problems import get_problem
from tests.test_runner_nonroot import BECOME_ORDINARY_USER

pytestmark = pytest.mark.skipif(not sandbox.IS_LINUX, reason="kernel confinement is Linux-only")

REPO = Path(__file__).resolve().parents[1]
SOFTMAX = get_problem("softmax")
CASES = build_cases(SOFTMAX.tracks["numpy"], 0)[:1]
LANDLOCK_ABI = confine.landlock_abi()
needs_landlock = pytest.mark.skipif(
    LANDLOCK_ABI < 1, reason="Landlock is not available on this kernel (Linux >= 5.13 with "
    "landlock in the LSM list): the filesystem allow-list is off here")
needs_root = pytest.mark.skipif(not sandbox.privilege_drop_possible(),
                                reason="needs root on Linux (per-grade uid, mount namespace)")

PROBE_HEAD = '''import ctypes, os, socket
import numpy as np


def attempt(label, action):
    try:
        result = action()
    except BaseException as exc:
        print(f"{label}: blocked ({type(exc).__name__})", flush=True)
    else:
        print(f"{label}: OPEN {str(result)[:60]!r}", flush=True)


def read(path):
    with open(path, "rb") as handle:
        return handle.read(200)


def listing(path):
    return sorted(os.listdir(path))

'''

PROBE_TAIL = '''

def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
'''


def probe_source(body: str) -> str:
    return PROBE_HEAD + body + PROBE_TAIL


def outcomes(result: RunResult) -> dict[str, str]:
    """label -> "OPEN ..." or "blocked (...)" from the probe's output."""
    assert result.fatal is None, result.fatal
    found = {}
    for line in result.stdout.splitlines():
        label, _, rest = line.partition(": ")
        if rest.startswith(("OPEN", "blocked")):
            found[label] = rest
    return found


def grade(tmp_path: Path, body: str, *, warm: WarmWorker | None = None) -> dict[str, str]:
    source = tmp_path / "probe.py"
    source.write_text(probe_source(body))
    runner = warm.run if warm is not None else run_submission
    return outcomes(runner(source, SOFTMAX, "numpy", CASES, timeout_s=20))


def assert_blocked(found: dict[str, str], *labels: str) -> None:
    for label in labels:
        assert label in found, f"{label}: the probe did not report ({found})"
        assert found[label].startswith("blocked"), f"{label}: {found[label]}"


@pytest.fixture(scope="module")
def warm_worker() -> Iterator[WarmWorker]:
    worker = WarmWorker("numpy")
    yield worker
    worker.close()


@pytest.fixture(params=["cold", "warm"])
def mode(request: pytest.FixtureRequest, warm_worker: WarmWorker) -> WarmWorker | None:
    return warm_worker if request.param == "warm" else None


@pytest.fixture
def outside_dir() -> Iterator[Path]:
    """A directory outside every allowed tree and outside /tmp, as a checkout's build/lib or
    another venv would be: Landlock, not the private /tmp, must keep the child out. As root it
    lies directly under /, so other users can enter it whatever the checkout's permissions
    (a fresh clone may sit below a 0700 directory)."""
    parent = Path("/") if os.access("/", os.W_OK) else REPO
    path = Path(tempfile.mkdtemp(prefix=".attn-drill-outside-", dir=parent))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- the pack's references ----------------------------------------------------------------------


def test_the_loaded_packs_references_cannot_be_read_by_path(tmp_path: Path,
                                                            mode: WarmWorker | None) -> None:
    if LANDLOCK_ABI < 1 and not sandbox.privilege_drop_possible():
        pytest.skip("neither Landlock nor root (mount covers) is available here")
    reference = SOFTMAX.reference_path("numpy")
    mutants = sorted((reference.parent.parent / "mutants").glob("softmax*.py"))
    body = f"attempt('reference', lambda: read({str(reference)!r}))\n"
    if mutants:
        body += f"attempt('mutant', lambda: read({str(mutants[0])!r}))\n"
    package = Path(sandbox.__file__).resolve().parents[1]
    body += f"attempt('package-rest', lambda: read({str(package / 'practice.py')!r}))\n"
    found = grade(tmp_path, body, warm=mode)
    assert_blocked(found, "reference", *(["mutant"] if mutants else []))
    if LANDLOCK_ABI >= 1:  # of attn-drill itself, only the grading modules are readable
        assert_blocked(found, "package-rest")


def _file_handle(path: Path) -> tuple[bytes, int] | None:
    """(struct file_handle bytes, handle type) of `path`, as the attack would build it."""

    class Handle(ctypes.Structure):
        _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                    ("f_handle", ctypes.c_ubyte * 128)]

    libc = ctypes.CDLL(None, use_errno=True)
    handle, mount_id = Handle(), ctypes.c_int()
    handle.handle_bytes = 128
    number = {"x86_64": 303, "aarch64": 264}.get(os.uname().machine)
    if number is None or libc.syscall(number, -100, os.fsencode(path), ctypes.byref(handle),
                                      ctypes.byref(mount_id), 0) != 0:
        return None
    return bytes(handle.f_handle[: handle.handle_bytes]), handle.handle_type


def by_handle_body() -> str:
    """A probe that opens the pack's solutions/ by the file handle a scan would give it (the
    handle is computed here, unconfined, as the attacker would forge it)."""
    import attn_drill

    solutions = SOFTMAX.reference_path("numpy").parent
    found_handle = _file_handle(solutions)
    if found_handle is None:
        pytest.skip("this filesystem gives no file handles (name_to_handle_at failed)")
    data, kind = found_handle
    number = {"x86_64": 304, "aarch64": 265}[os.uname().machine]
    mount_file = attn_drill.__file__
    if os.stat(mount_file).st_dev != os.stat(solutions).st_dev:
        pytest.skip("the package and the pack lie on different filesystems here")
    return f'''
class Handle(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                ("f_handle", ctypes.c_ubyte * 128)]
def by_handle():
    libc = ctypes.CDLL(None, use_errno=True)
    handle = Handle()
    handle.handle_bytes, handle.handle_type = {len(data)}, {kind}
    for i, b in enumerate({list(data)!r}):
        handle.f_handle[i] = b
    mount = os.open({mount_file!r}, os.O_RDONLY)  # any readable file on that filesystem
    fd = libc.syscall({number}, mount, ctypes.byref(handle), os.O_RDONLY | os.O_DIRECTORY)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "open_by_handle_at")
    return sorted(os.listdir(fd))
attempt("by-handle", by_handle)
'''


def test_the_references_cannot_be_opened_by_file_handle(tmp_path: Path,
                                                        mode: WarmWorker | None) -> None:
    """The attack of the review: reopen the covered solutions/ directory by its handle."""
    body = by_handle_body()
    found = grade(tmp_path, body, warm=mode)
    assert_blocked(found, "by-handle")


@needs_landlock
def test_other_copies_of_the_reference_cannot_be_read(tmp_path: Path, outside_dir: Path,
                                                     mode: WarmWorker | None) -> None:
    """A copy in a build directory, a git object store and the source checkout's own
    solutions/: none is on the allow-list."""
    copy = outside_dir / "build" / "lib" / "softmax_numpy.py"
    copy.parent.mkdir(parents=True)
    shutil.copy(SOFTMAX.reference_path("numpy"), copy)
    copy.chmod(0o644)
    for directory in (copy.parent, copy.parent.parent):
        directory.chmod(0o755)
    body = f"attempt('copy', lambda: read({str(copy)!r}))\n"
    if shutil.which("git"):
        store = outside_dir / "repo"
        subprocess.run(["git", "init", "-q", str(store)], check=True)
        shutil.copy(copy, store / "softmax_numpy.py")
        subprocess.run(["git", "-C", str(store), "add", "."], check=True)
        subprocess.run(["git", "-C", str(store), "-c", "user.name=t", "-c", "user.email=t@t",
                        "commit", "-qm", "x"], check=True)
        subprocess.run(["chmod", "-R", "a+rX", str(store)], check=True)
        objects = store / ".git" / "objects"
        body += f"attempt('git-objects', lambda: listing({str(objects)!r}))\n"
        body += f"attempt('git-head', lambda: read({str(store / '.git' / 'HEAD')!r}))\n"
    if (REPO / "solutions").is_dir() and (REPO / "attn_drill").is_dir():
        checkout = REPO / "solutions" / "softmax_numpy.py"
        body += f"attempt('checkout', lambda: read({str(checkout)!r}))\n"
    found = grade(tmp_path, body, warm=mode)
    assert_blocked(found, *sorted(found))
    assert "copy" in found


# -- the machine's other files ---------------------------------------------------------------------


@needs_root
def test_a_root_only_file_cannot_be_read(tmp_path: Path, outside_dir: Path,
                                         mode: WarmWorker | None) -> None:
    secret = outside_dir / "job-secret"
    secret.write_text("root only")
    secret.chmod(0o600)
    body = (f"attempt('root-only', lambda: read({str(secret)!r}))\n"
            "attempt('shadow', lambda: read('/etc/shadow'))\n")
    found = grade(tmp_path, body, warm=mode)
    assert_blocked(found, "root-only", "shadow")


def test_no_terminal_can_be_opened(tmp_path: Path, mode: WarmWorker | None) -> None:
    """Not the grader's terminal, not a pty someone is typing into."""
    controller, terminal = os.openpty()
    try:
        name = os.ttyname(terminal)
        os.chmod(name, 0o666)  # even one everybody may open
        body = (f"attempt('pty', lambda: os.open({name!r}, os.O_RDONLY | os.O_NONBLOCK))\n"
                "attempt('tty', lambda: os.open('/dev/tty', os.O_RDONLY | os.O_NONBLOCK))\n"
                "attempt('ptmx', lambda: os.open('/dev/ptmx', os.O_RDWR | os.O_NONBLOCK))\n")
        found = grade(tmp_path, body, warm=mode)
    finally:
        os.close(terminal)
        os.close(controller)
    if LANDLOCK_ABI < 1:
        pytest.skip("Landlock is not available here: a terminal everybody may open stays open")
    assert_blocked(found, "pty", "tty", "ptmx")


def test_nothing_written_outlives_the_grade(tmp_path: Path, mode: WarmWorker | None) -> None:
    token = os.urandom(6).hex()
    targets = [f"/tmp/attn-leftover-{token}", f"/var/tmp/attn-leftover-{token}",
               f"/dev/shm/attn-leftover-{token}"]
    body = "".join(
        f"attempt('write{i}', lambda: open({path!r}, 'w').write('planted'))\n"
        for i, path in enumerate(targets))
    body += ("import tempfile\n"
             "attempt('tempfile', lambda: tempfile.mkstemp(suffix='.npy'))\n")
    if LANDLOCK_ABI < 1 and not sandbox.privilege_drop_possible():
        pytest.skip("neither Landlock nor a private /tmp (root) is available here")
    try:
        found = grade(tmp_path, body, warm=mode)
        assert found["tempfile"].startswith("OPEN"), "a scratch file must still be possible"
        left = [path for path in targets if os.path.exists(path)]
        assert not left, f"files outlived the grade: {left}"
    finally:
        for path in targets:
            with __import__("contextlib").suppress(OSError):
                os.remove(path)


@pytest.mark.skipif(LANDLOCK_ABI < 6, reason="Landlock ABI >= 6 (signal scoping) is not "
                    "available on this kernel")
def test_no_signal_reaches_a_process_outside_the_grade(tmp_path: Path) -> None:
    body = ("attempt('signal-parent', lambda: os.kill(os.getppid(), 0))\n"
            "attempt('signal-init', lambda: os.kill(1, 0))\n")
    found = grade(tmp_path, body)
    assert_blocked(found, "signal-parent", "signal-init")


def test_no_network_connection_or_listening_socket(tmp_path: Path) -> None:
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        port = server.getsockname()[1]
        body = (f"attempt('connect', lambda: socket.create_connection(('127.0.0.1', {port}), "
                "timeout=2))\n"
                "attempt('listen', lambda: socket.create_server(('127.0.0.1', 0)))\n"
                "attempt('udp', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
                f".sendto(b'x', ('127.0.0.1', {port})))\n"
                "attempt('unix', lambda: socket.socket(socket.AF_UNIX))\n")
        source = tmp_path / "probe.py"
        source.write_text(probe_source(body))
        result = run_submission(source, SOFTMAX, "numpy", CASES)
        found = outcomes(result)
    finally:
        server.close()
    if not result.protections["no-network"]:
        pytest.skip("neither the seccomp filter nor Landlock ABI >= 4 is available here")
    assert_blocked(found, "connect", "listen")
    if result.protections["syscall-filter"]:
        assert_blocked(found, "udp", "unix")


def test_protections_are_all_reported_with_known_ids(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text(probe_source(""))
    result = run_submission(source, SOFTMAX, "numpy", CASES)
    assert set(result.protections) == set(sandbox.PROTECTIONS)
    if LANDLOCK_ABI >= 6 and sandbox.privilege_drop_possible():
        off = sorted(k for k, on in result.protections.items() if not on)
        assert off == [], f"protections off on a root Linux machine with Landlock: {off}"
    if LANDLOCK_ABI >= 1:
        assert result.protections["filesystem-allow-list"]
        assert result.protections["syscall-filter"] == (confine._filter_program() is not None)
    assert result.protections["no-capabilities"]


@needs_root
def test_submission_copies_are_private_to_their_grade(tmp_path: Path) -> None:
    """While a grade runs, its copy of the submission is readable by its uid only."""
    body = ("import stat\n"
            "info = os.stat(__file__); parent = os.stat(os.path.dirname(__file__))\n"
            "print(f'modes: {stat.S_IMODE(info.st_mode):o} {stat.S_IMODE(parent.st_mode):o} "
            "{info.st_uid == os.getuid()}')\n")
    source = tmp_path / "probe.py"
    source.write_text(probe_source(body))
    result = run_submission(source, SOFTMAX, "numpy", CASES)
    assert "modes: 600 700 True" in result.stdout, result.stdout


def test_the_pack_directories_and_prepared_copy_on_disk_are_private(tmp_path: Path) -> None:
    """The grader's own copy (what the parent prepared) is 0600 in a 0700 directory."""
    from attn_drill.grading.runner import prepared_job

    source = tmp_path / "softmax.py"
    source.write_text(probe_source(""))
    with prepared_job(source, SOFTMAX, "numpy", CASES, 5.0) as job:
        assert job.directory.stat().st_mode & 0o077 == 0
        assert Path(job.copy_path).stat().st_mode & 0o077 == 0


# -- as an ordinary user ---------------------------------------------------------------------------

ORDINARY_HELPER = BECOME_ORDINARY_USER + """
import os, tempfile
from attn_drill.grading.cases import build_cases
from attn_drill.grading.runner import run_submission
from attn_drill.problems import get_problem
problem = get_problem("softmax")
cases = build_cases(problem.tracks["numpy"], 0)[:1]
own = Path(tempfile.mkdtemp(prefix="attn-drill-own-", dir=sys.argv[2]))
(own / ".ssh").mkdir(mode=0o700)
key = own / ".ssh" / "id_ed25519"
key.write_text("PRIVATE KEY")
key.chmod(0o600)
work = Path(tempfile.mkdtemp(prefix="attn-drill-user-"))
source = work / "probe.py"
source.write_text(Path(sys.argv[1]).read_text().replace("__KEY__", str(key)))
from attn_drill.grading.worker import WarmWorker
worker = WarmWorker("numpy")
reports = {}
for mode, runner in (("cold", run_submission), ("warm", worker.run)):
    result = runner(source, problem, "numpy", cases, timeout_s=20)
    reports[mode] = {"stdout": result.stdout, "protections": result.protections,
                     "fatal": result.fatal and result.fatal.message}
worker.close()
print(json.dumps(reports))
"""


@needs_root
@needs_landlock
def test_as_an_ordinary_user_own_files_and_references_stay_out_of_reach(
        tmp_path: Path, outside_dir: Path) -> None:
    token = os.urandom(6).hex()
    reference = SOFTMAX.reference_path("numpy")
    copy = outside_dir / "softmax_numpy.py"
    shutil.copy(reference, copy)
    copy.chmod(0o644)
    secret = outside_dir / "root-secret"
    secret.write_text("root only")
    secret.chmod(0o600)
    controller, terminal = os.openpty()
    pty = os.ttyname(terminal)
    os.chmod(pty, 0o666)
    body = (f"attempt('reference', lambda: read({str(reference)!r}))\n"
            f"attempt('copy', lambda: read({str(copy)!r}))\n"
            f"attempt('root-only', lambda: read({str(secret)!r}))\n"
            f"attempt('pty', lambda: os.open({pty!r}, os.O_RDONLY | os.O_NONBLOCK))\n"
            "attempt('own-key', lambda: read('__KEY__'))\n"
            f"attempt('write-tmp', lambda: open('/tmp/attn-leftover-{token}', 'w').write('x'))\n"
            f"attempt('write-shm', lambda: open('/dev/shm/attn-leftover-{token}', 'w')"
            ".write('x'))\n" + by_handle_body())
    probe = outside_dir / "probe_template.py"  # pytest's tmp_path is private to root
    probe.write_text(probe_source(body))
    probe.chmod(0o644)
    outside_dir.chmod(0o1777)
    try:
        completed = subprocess.run(
            [sys.executable, "-I", "-c", ORDINARY_HELPER, str(probe), str(outside_dir)],
            capture_output=True, text=True, timeout=180, check=False)
    finally:
        os.close(terminal)
        os.close(controller)
    assert completed.returncode == 0, completed.stderr[-2000:]
    reports = json.loads(completed.stdout.strip().splitlines()[-1])
    for mode in ("cold", "warm"):
        report = reports[mode]
        assert report["fatal"] is None, (mode, report)
        assert report["protections"]["privilege-drop"] is False
        assert report["protections"]["filesystem-allow-list"] is True
        found = {}
        for line in report["stdout"].splitlines():
            label, _, rest = line.partition(": ")
            found[label] = rest
        assert_blocked(found, "reference", "copy", "root-only", "pty", "own-key", "write-tmp",
                       "write-shm", "by-handle")
    for path in (f"/tmp/attn-leftover-{token}", f"/dev/shm/attn-leftover-{token}"):
        assert not os.path.exists(path)


# -- an installed wheel in a CI job's venv under /tmp ----------------------------------------------

WHEEL_HELPER = """
import json, sys
import attn_drill
from pathlib import Path
from attn_drill.grading.grade import grade_file
pack = Path(attn_drill.__file__).parent / "pack"
assert pack.is_dir(), pack
result = {}
for name in ("lazy", "thief"):
    report = grade_file(Path(sys.argv[1]) / f"{name}.py", problem_id="softmax")
    result[name] = {"passed": report.passed, "stdout": report.stdout,
                    "off": report.protections_off,
                    "failed": [c.message for c in report.checks if not c.passed]}
print(json.dumps(result))
"""


@needs_landlock
def test_a_wheel_in_a_venv_under_tmp_keeps_its_pack_hidden_and_imports_working(
        tmp_path: Path) -> None:
    """As in CI: a venv in a 0755 mktemp directory under /tmp whose python links to an
    interpreter elsewhere, attn-drill installed inside it with its pack in site-packages."""
    import site
    import venv

    root = Path(tempfile.mkdtemp(prefix="attn-drill-ci-", dir="/tmp"))
    try:
        root.chmod(0o755)
        venv.EnvBuilder(symlinks=True, with_pip=False).create(root / "venv")
        python = root / "venv" / "bin" / "python"
        purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                                  "print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        installed = Path(purelib) / "attn_drill"
        shutil.copytree(REPO / "attn_drill", installed,
                        ignore=shutil.ignore_patterns("__pycache__", "pack"))
        for part in ("problems", "solutions", "mutants", "quiz"):
            if (REPO / part).is_dir():
                shutil.copytree(REPO / part, installed / "pack" / part)
        # numpy and the other dependencies from this environment, without this checkout.
        (Path(purelib) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
        borrowed_references = [
            other for directory in site.getsitepackages()
            if (other := Path(directory) / "attn_drill" / "pack" / "solutions"
                / "softmax_numpy.py").is_file()]
        subprocess.run(["chmod", "-R", "a+rX", str(root)], check=True)
        pack = installed / "pack"
        probes = root / "probes"
        probes.mkdir(mode=0o755)
        (probes / "lazy.py").write_text(probe_source(
            "import numpy.polynomial.hermite, json.tool, attn_drill.errors\n"))
        reference = pack / "solutions" / "softmax_numpy.py"
        mutant = next((pack / "mutants").glob("softmax*.py"))
        (probes / "thief.py").write_text(probe_source(
            f"attempt('reference', lambda: read({str(reference)!r}))\n"
            f"attempt('yaml', lambda: read({str(pack / 'problems' / 'softmax.yaml')!r}))\n"
            f"attempt('mutant', lambda: read({str(mutant)!r}))\n"
            # The pack of an attn-drill wheel in the borrowed environment (as in CI), if any.
            + "".join(f"attempt('borrowed', lambda: read({str(other)!r}))\n"
                      for other in borrowed_references)))
        completed = subprocess.run([str(python), "-I", "-c", WHEEL_HELPER, str(probes)],
                                   capture_output=True, text=True, timeout=180, cwd=root)
        assert completed.returncode == 0, completed.stderr[-2000:]
        result = json.loads(completed.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert result["lazy"]["passed"], result["lazy"]
    thief = result["thief"]
    found = {}
    for line in thief["stdout"].splitlines():
        label, _, rest = line.partition(": ")
        found[label] = rest
    assert_blocked(found, "reference", "yaml", "mutant",
                   *(["borrowed"] if borrowed_references else []))


# -- root without mount rights (a container without CAP_SYS_ADMIN) ---------------------------------

NO_MOUNT_HELPER = """
import ctypes, json, sys
from pathlib import Path
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(24, 21, 0, 0, 0) == 0  # PR_CAPBSET_DROP CAP_SYS_ADMIN: children cannot mount
from attn_drill.grading.cases import build_cases
from attn_drill.grading.runner import run_submission
from attn_drill.problems import get_problem
problem = get_problem("softmax")
cases = build_cases(problem.tracks["numpy"], 0)
result = run_submission(Path(sys.argv[1]), problem, "numpy", cases, timeout_s=20)
print(json.dumps({"stdout": result.stdout, "protections": result.protections,
                  "fatal": result.fatal and result.fatal.message,
                  "errors": [c.error.message for c in result.cases if c.error]}))
"""


@needs_root
@needs_landlock
def test_root_without_mount_rights_grades_as_uid_0_without_capabilities(tmp_path: Path) -> None:
    """Python under a closed /root and no way to mount: the child cannot become another uid,
    so it stays uid 0 with no capability at all, confined by Landlock, and says so."""
    if sandbox.import_roots_world_readable():
        pytest.skip("this Python is world-readable: the per-grade uid works without mounts")
    reference = SOFTMAX.reference_path("numpy")
    source = tmp_path / "probe.py"
    source.write_text(probe_source(
        f"attempt('reference', lambda: read({str(reference)!r}))\n"
        "attempt('shadow', lambda: read('/etc/shadow'))\n"
        "print(f'uid: {os.getuid()}')\n"))
    completed = subprocess.run([sys.executable, "-I", "-c", NO_MOUNT_HELPER, str(source)],
                               capture_output=True, text=True, timeout=180, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["fatal"] is None and report["errors"] == [], report
    protections = report["protections"]
    assert protections["privilege-drop"] is False and protections["no-capabilities"] is True
    assert protections["filesystem-allow-list"] is True
    assert "uid: 0" in report["stdout"]
    found = {}
    for line in report["stdout"].splitlines():
        label, _, rest = line.partition(": ")
        found[label] = rest
    assert_blocked(found, "reference", "shadow")


KEEP_READ_HELPER = """
import json, os, sys
from attn_drill.grading import confine, sandbox
confine.drop_bounding_set()
uid = sandbox._unused_uid()
assert sandbox._drop_privileges(uid, sandbox._nobody_gid(), keep_read=True)
status = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)
import json.tool  # a module not imported yet, from wherever Python lives
try:
    open(sys.argv[1], 'a').close()
    wrote = True
except OSError:
    wrote = False
print(json.dumps({"uid": os.getuid(), "eff": int(status['CapEff'], 16),
                  "prm": int(status['CapPrm'], 16), "wrote": wrote}))
"""


@needs_root
def test_the_last_resort_keeps_only_the_right_to_read(tmp_path: Path, outside_dir: Path) -> None:
    """Without mounts and without Landlock the child becomes a per-grade uid that keeps only
    CAP_DAC_READ_SEARCH (never uid 0 without capabilities, which could rewrite root's files)."""
    root_file = outside_dir / "owned-by-root.py"
    root_file.write_text("# the grader's code\n")
    root_file.chmod(0o644)
    completed = subprocess.run([sys.executable, "-I", "-c", KEEP_READ_HELPER, str(root_file)],
                               capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout)
    assert report["uid"] != 0
    assert report["eff"] == report["prm"] == 1 << sandbox.CAP_DAC_READ_SEARCH
    assert report["wrote"] is False
