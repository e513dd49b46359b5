"""Classroom documents: exercism results.json (checked against its published field rules),
JUnit XML (parsed back), CSV, the Gradescope autograder zip (unpacked and run), and the
Docker image (only where a Docker daemon and the base image are available)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attn_drill.cli import app
from attn_drill.formats import (
    EXERCISM_OUTPUT_LIMIT,
    exercism_document,
    gradescope_document,
    junit_xml,
    validate_exercism,
)
from attn_drill.gradescope import unpack_autograder
from tests.batch_helpers import CORRECT_SOFTMAX, FIXTURES, UNSTABLE_SOFTMAX, put
from tests.conftest import REPO
from tests.test_batch import make_pack

runner = CliRunner()
SYNTAX_ERROR = FIXTURES / "solutions" / "softmax_syntax.py"
CHATTY = "import numpy as np\n\n\ndef softmax(x, axis=-1):\n    print('x' * 2000)\n" \
    "    e = np.exp(x - x.max(axis=axis, keepdims=True))\n" \
    "    return e / e.sum(axis=axis, keepdims=True)\n"


def _grade_json(*args: str) -> dict:
    result = runner.invoke(app, ["grade", *args, "--json", "--no-record"])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


# -- exercism ------------------------------------------------------------------------------------


def test_exercism_documents_follow_the_published_rules(tmp_path: Path) -> None:
    chatty = put(tmp_path, "softmax.py", CHATTY)
    out = tmp_path / "results.json"
    cases = {"pass": chatty, "fail": UNSTABLE_SOFTMAX, "error": SYNTAX_ERROR}
    for status, path in cases.items():
        result = runner.invoke(app, ["grade", str(path), "--problem", "softmax", "--no-record",
                                     "--format", "exercism", "--output", str(out)])
        assert result.exit_code == (0 if status == "pass" else 1)
        document = json.loads(out.read_text())
        assert validate_exercism(document) == [], (status, document)
        assert document["version"] == 2 and document["status"] == status
        assert ("message" in document) == (status == "error")
        if status == "pass":
            output = document["tests"][0]["output"]
            assert 0 < len(output) <= EXERCISM_OUTPUT_LIMIT and output.startswith("xxx")
        if status == "fail":
            failed = [t for t in document["tests"] if t["status"] == "fail"]
            assert failed and all(t["message"] for t in failed)
            assert all(t["test_code"] for t in document["tests"])


def test_the_exercism_validator_catches_each_broken_rule() -> None:
    good = {"version": 2, "status": "fail", "tests": [
        {"name": "a", "status": "fail", "message": "m", "output": None, "test_code": "x"}]}
    assert validate_exercism(good) == []
    broken = [
        {**good, "version": 3},
        {**good, "status": "failed"},
        {**good, "message": "only for errors"},
        {"version": 2, "status": "error", "tests": []},
        {**good, "tests": [{**good["tests"][0], "output": "y" * 501}]},
        {**good, "tests": [{**good["tests"][0], "status": "skipped"}]},
        {**good, "tests": [{k: v for k, v in good["tests"][0].items() if k != "test_code"}]},
        {**good, "status": "pass"},
    ]
    for document in broken:
        assert validate_exercism(document), document


def test_a_submission_that_could_not_be_graded_is_an_exercism_error() -> None:
    entry = {"file": "x/a.py", "student": "x", "error": {"exit_code": 2, "message": "bad file"}}
    document = exercism_document(entry)
    assert document["status"] == "error" and document["message"] == "bad file"
    assert validate_exercism(document) == []


# -- JUnit ---------------------------------------------------------------------------------------


def test_junit_for_one_submission_parses_back_with_its_counts(tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    result = runner.invoke(app, ["grade", str(UNSTABLE_SOFTMAX), "--no-record", "--format",
                                 "junit", "--output", str(out), "--json"])
    document = json.loads(result.stdout)
    suite = ET.parse(out).getroot()
    assert suite.tag == "testsuite"
    cases = suite.findall("testcase")
    failed = [c for c in document["checks"] if not c["passed"]]
    assert int(suite.get("tests")) == len(cases) == len(document["checks"])
    assert int(suite.get("failures")) == len(failed) == len(suite.findall("testcase/failure"))
    assert int(suite.get("errors")) == 0
    assert {c.get("name") for c in cases if c.find("failure") is not None} == {
        c["name"] for c in failed}


def test_junit_for_a_class_has_a_file_per_submission_and_one_with_every_suite(
        tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    put(subs, "ana/softmax.py", CORRECT_SOFTMAX)
    put(subs, "ben/softmax.py", UNSTABLE_SOFTMAX)
    put(subs, "cai/softmax.py", SYNTAX_ERROR)
    put(subs, "dee/softmax.py", "def softmax(x, axis=-1):\n    return x\x00\n")
    out = tmp_path / "junit"
    result = runner.invoke(app, ["grade", str(subs), "--format", "junit", "--output", str(out)])
    assert result.exit_code == 1
    assert sorted(p.name for p in out.iterdir()) == [
        "ana__softmax.xml", "ben__softmax.xml", "cai__softmax.xml", "dee__softmax.xml",
        "junit.xml"]
    root = ET.parse(out / "junit.xml").getroot()
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert sorted(suites) == ["ana/softmax.py", "ben/softmax.py", "cai/softmax.py",
                              "dee/softmax.py"]
    assert suites["ana/softmax.py"].get("failures") == "0"
    assert int(suites["ben/softmax.py"].get("failures")) > 0
    assert int(suites["cai/softmax.py"].get("errors")) > 0  # it could not run: errors
    assert suites["cai/softmax.py"].get("failures") == "0"
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in suites.values())
    for path in out.glob("*__*.xml"):
        assert ET.parse(path).getroot().tag == "testsuite"


def test_junit_text_drops_characters_xml_cannot_hold() -> None:
    entry = {"file": "a/\x07bell.py", "student": "a",
             "error": {"exit_code": 2, "message": "bad \x00 byte \x1b[31m"}}
    root = ET.fromstring(junit_xml([entry]).split("\n", 1)[1])
    assert root.get("errors") == "1" and "\x00" not in root.find("testcase/error").get("message")


# -- Gradescope ----------------------------------------------------------------------------------


def test_gradescope_scores_each_problem_by_its_required_checks() -> None:
    passed = _grade_json(str(CORRECT_SOFTMAX))
    failed = _grade_json(str(UNSTABLE_SOFTMAX))
    document = gradescope_document([failed], expected=["softmax", "self-attention"], points=10)
    required = [c for c in failed["checks"] if c["required"]]
    share = 10 / len(required)
    assert document["score"] == pytest.approx(share * sum(c["passed"] for c in required))
    assert sum(t["max_score"] for t in document["tests"]) == pytest.approx(20)
    missing = [t for t in document["tests"] if t["name"].startswith("self-attention")]
    assert missing[0]["score"] == 0 and "no submission" in missing[0]["name"]
    for test in document["tests"]:
        assert set(test) == {"name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] in ("passed", "failed")
    best = gradescope_document([failed, passed], expected=["softmax"], points=10)
    assert best["score"] == pytest.approx(10)  # two files for one problem: the better counts


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One attn-drill wheel for the export tests (`pip wheel . --no-deps`)."""
    from attn_drill.gradescope import build_wheel

    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_export_gradescope_builds_a_zip_that_grades_a_submission(
        tmp_path: Path, wheel: Path) -> None:
    pack = make_pack(tmp_path / "teacher-pack")
    archive = tmp_path / "autograder.zip"
    result = runner.invoke(app, ["export", "gradescope", "softmax", "class-softmax",
                                 "--pack", str(pack), "--points", "5", "--output", str(archive),
                                 "--wheel", str(wheel)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(archive) as opened:
        names = opened.namelist()
    assert {"setup.sh", "run_autograder", wheel.name} <= set(names)
    assert "packs/teacher-pack/problems/class-softmax.yaml" in names
    assert "packs/teacher-pack/solutions/class_softmax_numpy.py" in names

    root = tmp_path / "autograder"
    unpack_autograder(archive, root / "source")
    setup = (root / "source" / "setup.sh").read_text()
    assert "download.pytorch.org/whl/cpu" not in setup  # neither problem has a torch track
    assert "attn_drill-*.whl" in setup
    put(root, "submission/softmax.py", UNSTABLE_SOFTMAX)
    put(root, "submission/notes/README.md", "my notes")
    env = {**os.environ, "ATTN_DRILL_AUTOGRADER_ROOT": str(root),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([str(root / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads((root / "results" / "results.json").read_text())
    assert set(document) >= {"score", "tests", "execution_time"}
    assert sum(t["max_score"] for t in document["tests"]) == pytest.approx(10)
    softmax_tests = [t for t in document["tests"] if t["name"].startswith("softmax (numpy)")]
    assert softmax_tests and 0 < document["score"] < 5
    assert any("no submission" in t["name"] for t in document["tests"]
               if t["name"].startswith("class-softmax"))
    assert "unstable-softmax" in json.dumps(document) or "maximum" in document.get("output", "")

    # The teacher's pack is graded from the bundle: a file for the pack's problem scores.
    shutil.rmtree(root / "results")
    put(root, "submission/class_softmax.py", CORRECT_SOFTMAX)
    subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True,
                   text=True, timeout=180, check=True)
    document = json.loads((root / "results" / "results.json").read_text())
    pack_score = sum(t["score"] for t in document["tests"] if t["name"].startswith("class-"))
    assert pack_score == pytest.approx(5)


def test_run_autograder_still_writes_results_when_attn_drill_fails(
        tmp_path: Path, wheel: Path) -> None:
    archive = tmp_path / "autograder.zip"
    assert runner.invoke(app, ["export", "gradescope", "scaled-dot-product-attention",
                               "--output", str(archive), "--wheel", str(wheel)]).exit_code == 0
    root = tmp_path / "autograder"
    unpack_autograder(archive, root / "source")
    assert "download.pytorch.org/whl/cpu" in (root / "source" / "setup.sh").read_text()
    # No submission folder at all: attn-drill exits 2; the student still gets a result.
    env = {**os.environ, "ATTN_DRILL_AUTOGRADER_ROOT": str(root),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([str(root / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    document = json.loads((root / "results" / "results.json").read_text())
    assert document["score"] == 0 and "could not grade" in document["output"]


def test_export_usage_errors(tmp_path: Path, wheel: Path) -> None:
    unknown = runner.invoke(app, ["export", "gradescope", "no-such-problem", "--output",
                                  str(tmp_path / "a.zip"), "--wheel", str(wheel)])
    assert unknown.exit_code == 2 and not (tmp_path / "a.zip").exists()
    not_a_wheel = runner.invoke(app, ["export", "gradescope", "softmax", "--output",
                                      str(tmp_path / "a.zip"), "--wheel", str(CORRECT_SOFTMAX)])
    assert not_a_wheel.exit_code == 2


# -- Docker --------------------------------------------------------------------------------------

BASE_IMAGE = "python:3.11-slim"


def _docker_ready() -> str | None:
    """None when the image can be built here, else why not."""
    if shutil.which("docker") is None:
        return "no docker client"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"docker info failed: {exc}"
    if info.returncode != 0:
        return "docker info does not work here (no Docker daemon)"
    image = subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True,
                           timeout=30)
    if image.returncode != 0:
        return f"the base image {BASE_IMAGE} is not present locally"
    return None


def test_the_dockerfile_uses_cpu_torch_and_the_attn_drill_entry_point() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert f"FROM {BASE_IMAGE}" in text
    assert "--index-url https://download.pytorch.org/whl/cpu" in text
    assert 'ENTRYPOINT ["attn-drill"]' in text


@pytest.mark.slow
def test_docker_image_grades_a_directory_without_network(tmp_path: Path) -> None:
    reason = _docker_ready()
    if reason is not None:
        pytest.skip(reason)
    subprocess.run(["docker", "build", "-t", "attn-drill:test", str(REPO)], check=True,
                   timeout=1800, capture_output=True)
    subs = tmp_path / "subs"
    put(subs, "ana/softmax.py", CORRECT_SOFTMAX)
    put(subs, "ben/softmax.py", FIXTURES / "hostile" / "fork_bomb.py")
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{subs}:/work/subs:ro",
         "attn-drill:test", "grade", "/work/subs", "--jobs", "2", "--timeout", "3", "--json"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr
    results = {r["student"]: r for r in json.loads(done.stdout)["results"]}
    assert results["ana"]["passed"] is True and results["ben"]["passed"] is False
    assert "privilege-drop" not in results["ana"]["protections_off"]


def test_an_exercism_runner_directory_with_one_submission_gets_one_results_json(
        tmp_path: Path) -> None:
    """exercism's runner interface: INPUT_DIR holds the solution, OUTPUT_DIR/results.json."""
    put(tmp_path, "input/softmax.py", UNSTABLE_SOFTMAX)
    put(tmp_path, "input/README.md", "exercise text")
    target = tmp_path / "output" / "results.json"
    result = runner.invoke(app, ["grade", str(tmp_path / "input"), "--format", "exercism",
                                 "--output", str(target)])
    assert result.exit_code == 1
    document = json.loads(target.read_text())
    assert validate_exercism(document) == [] and document["status"] == "fail"
