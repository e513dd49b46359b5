"""Kernel confinement of the graded child on Linux: capabilities, Landlock, seccomp, mounts.

Everything here runs inside the child, after numpy/torch are imported and right before the
first line of learner code (see sandbox.apply_limits for the order). Each function returns
whether its layer holds; none raises, so a kernel without a feature grades anyway and the
report names what is off. Only ctypes and the standard library are used, and every system
call is made directly (numbers for x86-64 and AArch64), so no extra package is needed.

- `drop_all_capabilities`: empties the effective, permitted and inheritable sets, the bounding
  set and the ambient set. Without CAP_DAC_READ_SEARCH, `open_by_handle_at` is refused, which
  is what defeats reopening a covered directory by its inode.
- `restrict_filesystem` (Landlock, Linux >= 5.13): the child may read and execute only the
  interpreter, the libraries it imports and attn-drill's grading modules, never a pack's
  references or mutants (a hidden directory inside an allowed tree is excluded by allowing
  its siblings one by one); it may write only to its private temporary directories. With ABI
  >= 4 it may neither connect nor bind TCP sockets; with ABI >= 6 it may neither signal nor
  reach abstract unix sockets outside its own domain.
- `install_syscall_filter` (seccomp, classic BPF): refuses with EPERM the calls no solution
  needs and that widen the attack surface: file handles, ptrace, mounts, keyrings, new
  namespaces, bpf, perf, userfaultfd, io_uring, new sockets of any family (no network, UDP
  included, and no unix socket such as an ssh agent's; `socketpair` stays allowed); and
  every call of a foreign architecture.
- `expose_interpreter` (root only, in the child's own mount namespace): when Python lives
  under a directory other users cannot enter (pyenv under a 0700 /root), a 0755 tmpfs is laid
  over that directory and only the interpreter's trees are bind-mounted back, read-only, so
  an unprivileged per-grade uid can import from them without any capability.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Iterable
from typing import Any

# -- system calls ------------------------------------------------------------------------------

_MACHINE = os.uname().machine.lower() if hasattr(os, "uname") else ""
IS_X86_64 = _MACHINE in ("x86_64", "amd64")
IS_AARCH64 = _MACHINE in ("aarch64", "arm64")

# Landlock's numbers are the same on every architecture (added after the tables unified).
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446

# Calls refused by the seccomp filter, per architecture.
_DENIED_X86_64 = {
    "ptrace": 101, "mount": 165, "umount2": 166, "pivot_root": 155, "add_key": 248,
    "request_key": 249, "keyctl": 250, "unshare": 272, "setns": 308,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "perf_event_open": 298, "bpf": 321,
    "userfaultfd": 323, "kexec_load": 246, "init_module": 175, "finit_module": 313,
    "process_vm_readv": 310, "process_vm_writev": 311, "socket": 41,
}
_DENIED_AARCH64 = {
    "ptrace": 117, "mount": 40, "umount2": 39, "pivot_root": 41, "add_key": 217,
    "request_key": 218, "keyctl": 219, "unshare": 97, "setns": 268,
    "name_to_handle_at": 264, "open_by_handle_at": 265, "perf_event_open": 241, "bpf": 280,
    "userfaultfd": 282, "kexec_load": 104, "init_module": 105, "finit_module": 273,
    "process_vm_readv": 270, "process_vm_writev": 271, "socket": 198,
}
# The same numbers on both (the unified table): the new mount API and io_uring.
_DENIED_COMMON = {
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "mount_setattr": 442,
}
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1
LINUX_CAPABILITY_VERSION_3 = 0x20080522
LAST_CAPABILITY_GUESS = 63

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 1 << 14, 1 << 18
O_PATH = getattr(os, "O_PATH", 0o10000000)

# Landlock access rights (include/uapi/linux/landlock.h).
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1
LANDLOCK_RULE_PATH_BENEATH = 1
LANDLOCK_CREATE_RULESET_VERSION = 1
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
READ_RIGHTS = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR

# What a private temporary directory may hold in total (tmpfs size), beyond the submission.
PRIVATE_TMP_BYTES = 64 << 20
PRIVATE_TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


def _libc() -> Any:
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


# -- capabilities --------------------------------------------------------------------------------


def drop_bounding_set() -> None:
    """Empty the bounding and ambient sets (needs CAP_SETPCAP: call it while still root), so
    no later execve can bring a capability back."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = _libc()
        for cap in range(LAST_CAPABILITY_GUESS + 1):
            if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                break  # past the last capability this kernel knows (EINVAL), or no CAP_SETPCAP
        libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def set_capabilities(libc: Any, mask: int) -> bool:
    """Make `mask` (a bit per capability, below 32) this thread's effective and permitted
    sets, and empty its inheritable set (capset(2), version 3)."""
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header = Header(LINUX_CAPABILITY_VERSION_3, 0)
    data = (Data * 2)()
    data[0].effective = data[0].permitted = mask
    return bool(libc.capset(ctypes.byref(header), data) == 0)


def drop_all_capabilities() -> bool:
    """Empty the effective, permitted and inheritable sets of this thread."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        if not set_capabilities(_libc(), 0):
            return False
    except (OSError, AttributeError):
        return False
    return holds_no_capabilities()


def holds_no_capabilities() -> bool:
    """True when this thread's effective and permitted capability sets are empty."""
    for status in ("/proc/thread-self/status", "/proc/self/status"):  # the first: >= 3.17
        try:
            with open(status) as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
            return int(fields["CapEff"], 16) == 0 and int(fields["CapPrm"], 16) == 0
        except (OSError, KeyError, ValueError):
            continue
    return False


def no_new_privileges() -> bool:
    try:
        return bool(_libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


# -- mounts (root only, in the child's own mount namespace) -------------------------------------


def private_mount_namespace() -> bool:
    """A mount namespace of our own whose changes never propagate back to the machine."""
    try:
        libc = _libc()
        if libc.unshare(CLONE_NEWNS) != 0:
            return False
        return bool(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) == 0)
    except (OSError, AttributeError):
        return False


def cover(path: str) -> bool:
    """Lay an empty read-only tmpfs over directory `path` (this namespace only)."""
    try:
        flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
        return bool(not os.path.isdir(path) or _libc().mount(
            b"tmpfs", os.fsencode(path), b"tmpfs", flags, b"size=4k,mode=555") == 0)
    except (OSError, AttributeError):
        return False


def private_tmp(keep: dict[str, bytes], uid: int, gid: int,
                trees: Iterable[str] = ()) -> bool:
    """Fresh size-capped tmpfs on /tmp, /var/tmp and /dev/shm; `keep` (path -> bytes) files
    are written back inside, owned by `uid`, in directories only `uid` may enter; `trees`
    that lived there (a CI job's venv under /tmp) are bind-mounted back, read-only."""
    extra = sum(len(data) for data in keep.values())
    try:
        for directory in PRIVATE_TMP_DIRS:
            if not os.path.isdir(directory):
                continue
            inside = [t for t in trees if _under(t, _real(directory)) and t != directory]
            size = PRIVATE_TMP_BYTES + (extra if directory == "/tmp" else 0)
            options = f"size={size},mode=1777".encode()
            if not _mount_over(directory, b"tmpfs", options, inside):
                return False
            if directory == "/tmp":  # at once: the submission must exist whatever fails next
                _write_back(keep, uid, gid)
    except OSError:
        return False
    return True


def _write_back(keep: dict[str, bytes], uid: int, gid: int) -> None:
    for path, data in keep.items():
        parent = os.path.dirname(path)
        os.makedirs(parent, mode=0o700, exist_ok=True)
        os.chown(parent, uid, gid)
        os.chmod(parent, 0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchown(fd, uid, gid)
        finally:
            os.close(fd)


def _searchable_by_others(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & stat.S_IXOTH)
    except OSError:
        return False


def closed_ancestor(path: str) -> str | None:
    """The outermost directory above `path` that other users cannot enter, or None."""
    parts = os.path.abspath(path).split(os.sep)[1:]
    current = ""
    for part in parts[:-1]:
        current += os.sep + part
        if not _searchable_by_others(current):
            return current
    return None


def _make_path(top: str, tree: str) -> None:
    """Create the directories from `top` down to `tree`, each 0755 whatever the umask."""
    current = top
    for part in os.path.relpath(tree, top).split(os.sep):
        current = os.path.join(current, part)
        if not os.path.isdir(current):
            os.mkdir(current)
            os.chmod(current, 0o755)


def expose_interpreter(trees: Iterable[str]) -> bool:
    """Make `trees` reachable by an unprivileged uid although an ancestor is closed (0700).

    For each closed ancestor: a 0755 tmpfs over it, the directories leading to each tree
    recreated in it, and the real tree bind-mounted back, read-only. Everything else that
    lived in the closed directory stays out of reach.
    """
    wanted: dict[str, list[str]] = {}
    for tree in trees:
        top = closed_ancestor(tree)
        if top is not None:
            wanted.setdefault(top, []).append(tree)
    if not wanted:
        return True
    return all(_mount_over(top, b"tmpfs", b"size=1m,mode=755", inside)
               for top, inside in wanted.items())


def _mount_over(top: str, kind: bytes, options: bytes, keep: list[str]) -> bool:
    """Mount a fresh `kind` filesystem on `top`, then bind the `keep` trees that lived below
    it back in place, read-only (they are opened first, before the mount hides them)."""
    libc = _libc()
    handles: list[tuple[str, int]] = []
    try:
        for tree in keep:
            handles.append((tree, os.open(tree, O_PATH | os.O_CLOEXEC)))
        if libc.mount(kind, top.encode(), kind, MS_NOSUID | MS_NODEV, options) != 0:
            return False
        for tree, fd in handles:
            _make_path(top, tree)
            source = f"/proc/self/fd/{fd}".encode()
            if libc.mount(source, tree.encode(), None, MS_BIND | MS_REC, None) != 0:
                return False
            libc.mount(None, tree.encode(), None,
                       MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
    except (OSError, AttributeError):
        return False
    finally:
        for _, fd in handles:
            with contextlib.suppress(OSError):
                os.close(fd)
    return True


# -- what the child may read ---------------------------------------------------------------------


def _real(path: str) -> str:
    return os.path.realpath(path)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


SITE_DIRS = ("site-packages", "dist-packages")


def interpreter_trees() -> list[str]:
    """The directories the interpreter loads code from: its prefixes' lib directories (the
    standard library, extension modules and site-packages), the executable's directory and
    every import path that lies elsewhere."""
    prefixes = {_real(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                   sys.base_exec_prefix) if p}
    trees: set[str] = set()
    for prefix in prefixes:
        for sub in ("lib", "lib64"):
            candidate = os.path.join(prefix, sub)
            if os.path.isdir(candidate):
                trees.add(_real(candidate))
    trees.add(os.path.dirname(_real(sys.executable)))
    for entry in sys.path:
        if not entry or not os.path.isdir(entry):
            continue
        real = _real(entry)
        if any(_under(real, tree) for tree in trees):
            continue
        # A source checkout on sys.path: its package only, never the rest (references,
        # .git, build/). Another environment's site-packages (a .pth borrowing its packages)
        # stays whole even when it holds an attn-drill wheel: its pack is hidden below.
        package = os.path.join(real, "attn_drill")
        checkout = (os.path.isfile(os.path.join(package, "__init__.py"))
                    and os.path.basename(real) not in SITE_DIRS)
        trees.add(package if checkout else real)
    package_dir = _real(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not any(_under(package_dir, tree) for tree in trees):
        trees.add(package_dir)  # an editable install: the package outside every prefix
    return sorted(trees)


SYSTEM_LIBRARY_TREES = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/lib32")
# Read by the dynamic loader and numeric libraries at run time; none of it is a secret.
SYSTEM_INFO_TREES = ("/sys/devices/system/cpu", "/proc/self", "/proc/thread-self")
SYSTEM_FILES_READ = ("/etc/ld.so.cache", "/etc/localtime", "/dev/urandom", "/dev/random",
                     "/dev/zero", "/proc/cpuinfo", "/proc/meminfo")
SYSTEM_FILES_WRITE = ("/dev/null",)


def installed_packs(trees: Iterable[str]) -> list[str]:
    """Every attn-drill wheel's pack below `trees` (site-/dist-packages/attn_drill/pack)."""
    found = {_real(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "pack"))}
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    below = ("", "site-packages", "dist-packages", f"{version}/site-packages",
             f"{version}/dist-packages", "python3/dist-packages")
    for tree in trees:  # stat calls only: this runs before every grade
        for middle in below:
            candidate = os.path.join(tree, middle, "attn_drill", "pack")
            if os.path.isdir(candidate):
                found.add(_real(candidate))
    return sorted(p for p in found if os.path.isdir(p))


# What the child needs of attn-drill itself: the grading package and what it imports.
GRADING_PARTS = ("__init__.py", "errors.py", "grading", "__pycache__")


def hidden_parts(trees: Iterable[str]) -> list[str]:
    """What the allow-list leaves out below `trees`: every installed pack, and the parts of
    this attn-drill package that grading does not use."""
    hidden = installed_packs(trees)
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        entries = list(os.scandir(package))
    except OSError:
        entries = []
    hidden += [_real(e.path) for e in entries if e.name not in GRADING_PARTS]
    return sorted(set(hidden))


def split_around(root: str, hidden: list[str]) -> list[str]:
    """Paths that together cover `root` except the `hidden` subtrees (siblings one by one,
    symbolic links left out, as they would point elsewhere)."""
    inside = [h for h in hidden if _under(h, root)]
    if not inside:
        return [root]
    if root in inside:
        return []
    covered: list[str] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    for entry in entries:
        if entry.is_symlink():
            continue
        covered += split_around(entry.path, inside)
    return covered


# -- Landlock ------------------------------------------------------------------------------------


def landlock_abi() -> int:
    """The Landlock ABI version of this kernel (0: unavailable)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        import ctypes

        libc = _libc()
        version = libc.syscall(ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET), None,
                               ctypes.c_size_t(0), ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def restrict_filesystem(read_trees: Iterable[str], hidden: Iterable[str],
                        writable: Iterable[str]) -> dict[str, bool]:
    """Apply a Landlock domain to this thread (and what it starts). Needs no_new_privileges.

    Returns which parts hold: "filesystem" (the allow-list), "network" (no TCP connect or
    bind, ABI >= 4), "scoped" (signals and abstract sockets stay inside, ABI >= 6).
    """
    held = {"filesystem": False, "network": False, "scoped": False}
    abi = landlock_abi()
    if abi < 1:
        return held
    import ctypes

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("handled_access_fs", ctypes.c_uint64),
                    ("handled_access_net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    handled = _fs_rights(abi)
    attr = RulesetAttr(handled, NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0,
                       SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    libc = _libc()
    ruleset = libc.syscall(ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET), ctypes.byref(attr),
                           ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return held
    hidden_real = sorted({_real(h) for h in hidden})

    def allow(path: str, rights: int) -> bool:
        try:
            fd = os.open(path, O_PATH | os.O_CLOEXEC)
        except OSError:
            return True  # nothing there: nothing to allow
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                rights &= FILE_RIGHTS
            rule = PathBeneath(rights & handled, fd)
            return bool(libc.syscall(ctypes.c_long(SYS_LANDLOCK_ADD_RULE), ctypes.c_int(ruleset),
                                     ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                                     ctypes.byref(rule), ctypes.c_uint32(0)) == 0)
        finally:
            os.close(fd)

    try:
        ok = True
        for tree in sorted({_real(t) for t in read_trees if os.path.exists(t)}):
            ok &= allow(tree, FS_READ_DIR)  # listing only: names are no secret
            for part in split_around(tree, hidden_real):
                ok &= allow(part, READ_RIGHTS)
        for path in SYSTEM_INFO_TREES:
            ok &= allow(_real(path), FS_READ_FILE | FS_READ_DIR)
        for path in SYSTEM_FILES_READ:
            ok &= allow(path, FS_READ_FILE)
        for path in SYSTEM_FILES_WRITE:
            ok &= allow(path, FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE)
        for directory in writable:
            ok &= allow(directory, handled & ~(FS_MAKE_CHAR | FS_MAKE_BLOCK))
        if not ok:
            return held
        if libc.syscall(ctypes.c_long(SYS_LANDLOCK_RESTRICT_SELF), ctypes.c_int(ruleset),
                        ctypes.c_uint32(0)) != 0:
            return held
    finally:
        os.close(ruleset)
    return {"filesystem": True, "network": abi >= 4, "scoped": abi >= 6}


# -- seccomp -------------------------------------------------------------------------------------


def _filter_program() -> list[tuple[int, int, int, int]] | None:
    """Classic BPF: wrong architecture -> EPERM; a denied call -> EPERM; else allow."""
    if IS_X86_64:
        arch, denied = AUDIT_ARCH_X86_64, {**_DENIED_X86_64, **_DENIED_COMMON}
    elif IS_AARCH64:
        arch, denied = AUDIT_ARCH_AARCH64, {**_DENIED_AARCH64, **_DENIED_COMMON}
    else:
        return None
    ld_abs, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    refuse = SECCOMP_RET_ERRNO | EPERM
    numbers = sorted(set(denied.values()))
    program = [
        (ld_abs, 0, 0, 4),  # seccomp_data.arch
        (jeq, 1, 0, arch),
        (ret, 0, 0, refuse),
        (ld_abs, 0, 0, 0),  # seccomp_data.nr
    ]
    if IS_X86_64:  # the x32 ABI reaches the same kernel code under other numbers
        program.append((jge, len(numbers) + 1, 0, X32_SYSCALL_BIT))
    for index, number in enumerate(numbers):
        # Jump to the final "refuse" when it matches; fall through otherwise.
        program.append((jeq, len(numbers) - index, 0, number))
    program.append((ret, 0, 0, SECCOMP_RET_ALLOW))
    program.append((ret, 0, 0, refuse))
    return program


def install_syscall_filter() -> bool:
    """Install the seccomp filter on this thread (and what it starts). Needs no_new_privs."""
    program = _filter_program()
    if program is None or not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        class SockFilter(ctypes.Structure):
            _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8),
                        ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(SockFilter))]

        filters = (SockFilter * len(program))(*[SockFilter(*row) for row in program])
        fprog = SockFprog(len(program), filters)
        return bool(_libc().prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog),
                                  0, 0) == 0)
    except (OSError, AttributeError):
        return False
