"""`attn-drill export gradescope`: build a Gradescope autograder zip.

The zip holds, at its root, `setup.sh` (installs CPU torch from PyTorch's CPU index when a
problem has a torch track, then the bundled attn-drill wheel), `run_autograder` (grades
`/autograder/submission/` with `attn-drill` from PATH and writes
`/autograder/results/results.json`), the wheel, every external pack under `packs/`, and
`attn-drill-autograder.json` describing the assignment. `ATTN_DRILL_AUTOGRADER_ROOT`
replaces `/autograder`, so the same script runs locally and in tests.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from attn_drill import __version__
from attn_drill.errors import UsageError

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
ROOT_ENV = "ATTN_DRILL_AUTOGRADER_ROOT"
PACK_PARTS = ("problems", "solutions", "mutants", "quiz")
CONFIG_NAME = "attn-drill-autograder.json"


@dataclass(frozen=True)
class AutograderSpec:
    problem_ids: tuple[str, ...]
    track: str | None = None
    timeout: float = 10.0
    seed: int = 0
    seed_per_student: bool = False
    points: float = 1.0
    lang: str = "en"


def torch_pin() -> str:
    """`torch==X` for the torch of this machine (without its local `+cpu` tag), so the
    autograder grades with the version the teacher tried; plain `torch` without one."""
    from importlib import metadata

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "torch"
    return f"torch=={version.split('+', 1)[0]}"


def source_tree() -> Path | None:
    """The attn-drill source checkout this program runs from, if any (to build the wheel)."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "attn_drill").is_dir() else None


def build_wheel(into: Path) -> Path:
    """`pip wheel . --no-deps` of the source checkout; the wheel's path."""
    root = source_tree()
    if root is None:
        raise UsageError("This attn-drill is installed from a wheel, so there is no source to "
                         "build the autograder's wheel from: pass --wheel attn_drill-*.whl.")
    command = [sys.executable, "-m", "pip", "wheel", str(root), "--no-deps", "--quiet",
               "--wheel-dir", str(into)]
    if _has_build_backend():
        command.append("--no-build-isolation")  # no download of setuptools for each export
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"Could not build the attn-drill wheel: {exc}") from None
    wheels = sorted(into.glob("attn_drill-*.whl"))
    if done.returncode != 0 or not wheels:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise UsageError("Could not build the attn-drill wheel (pip wheel . --no-deps): "
                         + " / ".join(tail))
    return wheels[-1]


def _has_build_backend() -> bool:
    try:
        from importlib import metadata

        major = int(metadata.version("setuptools").split(".", 1)[0])
    except Exception:
        return False
    return major >= 77


def setup_script(needs_torch: bool) -> str:
    torch_line = (f'"$PYTHON" -m pip install --no-cache-dir {shlex.quote(torch_pin())} '
                  f"--index-url {CPU_INDEX}\n" if needs_torch else "")
    return f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when the autograder image is built.
set -euo pipefail
HERE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
PYTHON="${{PYTHON:-python3}}"
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1
if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
  apt-get update && apt-get install -y python3 python3-pip
fi
# CPU-only PyTorch (no CUDA download), from PyTorch's CPU index.
{torch_line}"$PYTHON" -m pip install --no-cache-dir "$HERE"/attn_drill-*.whl
attn-drill --version
"""


def run_script(spec: AutograderSpec, pack_names: Sequence[str]) -> str:
    args = ["--format", "gradescope", "--no-record", "--jobs", "1",
            "--timeout", f"{spec.timeout:g}", "--seed", str(spec.seed), "--lang", spec.lang,
            "--points", f"{spec.points:g}"]
    if spec.track is not None:
        args += ["--track", spec.track]
    for problem_id in spec.problem_ids:
        args += ["--expect", problem_id]
    quoted = " ".join(shlex.quote(a) for a in args)
    packs = "".join(f' --pack "$HERE/packs/{name}"' for name in pack_names)
    student = ""
    if spec.seed_per_student:
        student = """META="$ROOT/submission_metadata.json"
STUDENT="$(python3 - "$META" <<'PY' 2>/dev/null || true
import json, sys
users = json.load(open(sys.argv[1])).get("users") or [{}]
print(users[0].get("email") or users[0].get("id") or users[0].get("name") or "")
PY
)"
if [ -n "$STUDENT" ]; then set -- --student "$STUDENT"; fi
"""
    return f"""#!/usr/bin/env bash
# Gradescope runs this for every submission. {ROOT_ENV} replaces /autograder (local runs).
set -u
ROOT="${{{ROOT_ENV}:-/autograder}}"
HERE="$ROOT/source"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
set --
{student}attn-drill grade "$ROOT/submission" --output "$RESULTS" {quoted}{packs} "$@" \\
  > "$ROOT/results/attn-drill.log" 2>&1
status=$?
cat "$ROOT/results/attn-drill.log"
if [ ! -s "$RESULTS" ]; then
  # attn-drill itself failed (exit $status): the student still gets a result with the reason.
  python3 - "$RESULTS" "$status" "$ROOT/results/attn-drill.log" <<'PY'
import json, sys
log = open(sys.argv[3], errors="replace").read()[-3000:]
json.dump({{"score": 0.0, "execution_time": 0, "tests": [],
           "output": "The autograder could not grade this submission (attn-drill exit "
                     + sys.argv[2] + "):\\n" + log}}, open(sys.argv[1], "w"))
PY
fi
exit 0
"""


def export_gradescope(spec: AutograderSpec, output: Path, *, packs: Sequence[Path],
                      problems: dict[str, object] | None, wheel: Path | None = None) -> Path:
    """Write the autograder zip to `output` and return its path."""
    from attn_drill.grading.grade import _find_problem
    from attn_drill.problems import get_problem

    needs_torch = False
    for problem_id in spec.problem_ids:
        problem = (_find_problem(problem_id, problems)  # type: ignore[arg-type]
                   or get_problem(problem_id, problems))  # type: ignore[arg-type]
        if spec.track is not None:
            problem.track(spec.track)
        needs_torch = needs_torch or ("torch" in problem.tracks and spec.track in (None, "torch"))
    if not spec.problem_ids:
        raise UsageError("Name at least one problem id to export.")
    output = Path(output)
    if output.is_dir():
        raise UsageError(f"--output {output} is a directory: give the zip's file name.")
    with tempfile.TemporaryDirectory(prefix="attn-drill-export-") as scratch:
        if wheel is None:
            wheel = build_wheel(Path(scratch))
        elif not Path(wheel).is_file() or not Path(wheel).name.endswith(".whl"):
            raise UsageError(f"--wheel {wheel}: not a wheel file.")
        names = _pack_names(packs)
        config = {"attn_drill_version": __version__, "problems": list(spec.problem_ids),
                  "track": spec.track, "timeout": spec.timeout, "seed": spec.seed,
                  "seed_per_student": spec.seed_per_student, "points_per_problem": spec.points,
                  "packs": names, "lang": spec.lang}
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            partial = output.with_name(f".{output.name}.partial")
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
                _add_text(archive, "setup.sh", setup_script(needs_torch), executable=True)
                _add_text(archive, "run_autograder", run_script(spec, names), executable=True)
                _add_text(archive, CONFIG_NAME, json.dumps(config, indent=2) + "\n")
                archive.write(wheel, Path(wheel).name)
                for name, pack in zip(names, packs, strict=True):
                    _add_pack(archive, Path(pack), f"packs/{name}")
            os.replace(partial, output)
        except OSError as exc:
            raise UsageError(f"--output {output}: cannot write ({exc.strerror or exc}).") from None
    return output


def _pack_names(packs: Sequence[Path]) -> list[str]:
    names: list[str] = []
    for pack in packs:
        base = Path(pack).resolve().name or "pack"
        name, counter = base, 2
        while name in names:
            name, counter = f"{base}-{counter}", counter + 1
        names.append(name)
    return names


def _add_text(archive: zipfile.ZipFile, name: str, text: str, *, executable: bool = False
              ) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
    archive.writestr(info, text)


def _add_pack(archive: zipfile.ZipFile, pack: Path, prefix: str) -> None:
    for part in PACK_PARTS:
        folder = pack / part
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and not path.name.startswith("."):
                archive.write(path, f"{prefix}/{path.relative_to(pack).as_posix()}")


def unpack_autograder(zip_path: Path, into: Path) -> None:
    """Unzip keeping the executable bits (what Gradescope does; zipfile alone drops them)."""
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            target = archive.extract(info, into)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode)

