"""Batch grading of a class: discovery, students, seeds, fingerprints, packs, the JSON/CSV
documents, exit codes, --out/--resume, and hostile submissions among the files."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attn_drill.batch import (
    discover,
    load_problems,
    problem_fingerprint,
    student_of,
    student_seed,
)
from attn_drill.cli import app
from attn_drill.errors import MissingFileError, UsageError
from attn_drill.problems import builtin_problems
from tests.batch_helpers import (
    CORRECT_SOFTMAX,
    FIXTURES,
    UNSTABLE_SOFTMAX,
    processes_under,
    put,
    start_batch,
)
from tests.conftest import REPO, needs_torch, run_cli

runner = CliRunner()


# -- discovery, students, seeds ----------------------------------------------------------------


def test_discovery_finds_submissions_recursively_and_skips_what_names_no_problem(
        tmp_path: Path) -> None:
    put(tmp_path, "alice/softmax.py", CORRECT_SOFTMAX)
    put(tmp_path, "bob/week1/softmax.py", UNSTABLE_SOFTMAX)
    put(tmp_path, "bob/notes.txt", "my notes")
    put(tmp_path, "README.md", "# class")
    put(tmp_path, "carol.py", "# attn-drill: softmax\ndef softmax(x, axis=-1):\n    return x\n")
    put(tmp_path, "alice/.git/softmax.py", CORRECT_SOFTMAX)  # hidden folders are not searched
    put(tmp_path, "alice/__pycache__/softmax.py", CORRECT_SOFTMAX)
    os.mkfifo(tmp_path / "alice" / "pipe.py")  # would block anything that opened it
    found = discover([tmp_path], problem_id=None, problems=None)
    by_file = {Path(s.file).relative_to(tmp_path).as_posix(): s for s in found.submissions}
    assert sorted(by_file) == ["alice/softmax.py", "bob/week1/softmax.py", "carol.py"]
    assert {k: s.student for k, s in by_file.items()} == {
        "alice/softmax.py": "alice", "bob/week1/softmax.py": "bob", "carol.py": "carol"}
    assert all(s.problem is not None and s.problem.id == "softmax" for s in by_file.values())
    assert sorted(Path(p).name for p in found.skipped) == ["README.md", "notes.txt"]


def test_with_problem_every_file_is_graded_and_a_file_given_directly_belongs_to_its_folder(
        tmp_path: Path) -> None:
    answer = put(tmp_path, "dana/answer.py", CORRECT_SOFTMAX)
    found = discover([tmp_path], problem_id="softmax", problems=None)
    assert [s.student for s in found.submissions] == ["dana"] and found.skipped == []
    assert student_of(answer, None) == "dana"
    with pytest.raises(UsageError):
        discover([tmp_path], problem_id="no-such-problem", problems=None)
    with pytest.raises(MissingFileError):
        discover([tmp_path / "missing"], problem_id=None, problems=None)


def test_student_seed_is_sha256_based_stable_and_distinct() -> None:
    import hashlib

    seeds = {name: student_seed(name) for name in ("alice", "bob", "carol", "李雷")}
    assert len(set(seeds.values())) == 4
    assert all(0 <= seed < 2**63 for seed in seeds.values())
    assert student_seed("alice", 1) != seeds["alice"]  # a new term draws new cases
    expected = int.from_bytes(hashlib.sha256(
        b"attn-drill student seed v1\x000\x00alice").digest()[:8], "big") >> 1
    assert seeds["alice"] == expected
    # Not Python's salted hash(): another interpreter with another hash seed agrees.
    other = subprocess.run(
        [sys.executable, "-c", "from attn_drill.batch import student_seed; "
         "print(student_seed('alice'))"],
        capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "12345"},
        check=True)
    assert int(other.stdout) == seeds["alice"]


def make_pack(root: Path, problem_id: str = "class-softmax") -> Path:
    """A one-problem pack: the built-in softmax under another id."""
    stem = problem_id.replace("-", "_")
    text = (REPO / "problems" / "softmax.yaml").read_text(encoding="utf-8")
    put(root, f"problems/{problem_id}.yaml", text.replace("id: softmax", f"id: {problem_id}", 1))
    put(root, f"solutions/{stem}_numpy.py", REPO / "solutions" / "softmax_numpy.py")
    put(root, f"mutants/{stem}_numpy.py", REPO / "mutants" / "softmax_numpy.py")
    return root


def test_fingerprint_follows_the_yaml_and_the_reference(tmp_path: Path) -> None:
    pack = make_pack(tmp_path / "pack")
    problems = load_problems([pack])
    assert problems is not None
    problem = problems["class-softmax"]
    before = problem_fingerprint(problem, "numpy")
    assert before == problem_fingerprint(problem, "numpy") and len(before) == 64
    assert before != problem_fingerprint(builtin_problems()["softmax"], "numpy") or (
        problem.source_path.read_bytes() == (REPO / "problems/softmax.yaml").read_bytes())
    reference = pack / "solutions" / "class_softmax_numpy.py"
    reference.write_text(reference.read_text() + "\n# edited\n")
    assert problem_fingerprint(problem, "numpy") != before
    after_reference = problem_fingerprint(problem, "numpy")
    assert problem.source_path is not None
    problem.source_path.write_text(problem.source_path.read_text() + "\n# edited\n")
    assert problem_fingerprint(problem, "numpy") != after_reference


def test_a_pack_whose_id_clashes_with_the_built_in_pack_is_a_usage_error(tmp_path: Path) -> None:
    pack = make_pack(tmp_path / "pack", "softmax")
    with pytest.raises(UsageError, match="already defined"):
        load_problems([pack])
    result = runner.invoke(app, ["grade", str(tmp_path), "--pack", str(pack), "--json"])
    assert result.exit_code == 2
    assert "already defined" in json.loads(result.stdout)["error"]["message"]


# -- the batch end to end --------------------------------------------------------------------


def _json(result: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(result.stdout)


def test_a_class_with_hostile_files_grades_every_submission_on_its_own_merits(
        tmp_path: Path) -> None:
    """Correct, wrong and hostile files (busy loop, memory bomb, fork flood, a daemon that
    leaves the session, a huge print, sys.exit) graded by 2 warm workers: each gets its own
    verdict, the correct ones pass, and no process of the batch is left afterwards."""
    hostile = FIXTURES / "hostile"
    subs = tmp_path / "subs"
    put(subs, "ana/softmax.py", CORRECT_SOFTMAX)
    put(subs, "ben/softmax.py", UNSTABLE_SOFTMAX)
    put(subs, "cai/softmax.py", hostile / "infinite_loop.py")
    put(subs, "dee/softmax.py", hostile / "memory_bomb.py")
    put(subs, "eli/softmax.py", hostile / "fork_bomb.py")
    put(subs, "fay/softmax.py", hostile / "daemon_grandchild.py")
    put(subs, "gus/softmax.py", hostile / "print_10mb.py")
    put(subs, "hal/softmax.py", hostile / "os_exit.py")
    put(subs, "ivy/softmax.py", CORRECT_SOFTMAX)
    put(subs, "README.md", "Week 1 submissions")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    process = start_batch(str(subs), "--jobs", "2", "--timeout", "2", "--json",
                          "--csv", str(tmp_path / "class.csv"), tmp=scratch)
    stdout, stderr = process.communicate(timeout=240)
    assert process.returncode == 1, stderr
    document = json.loads(stdout)
    results = {r["student"]: r for r in document["results"]}
    assert sorted(results) == ["ana", "ben", "cai", "dee", "eli", "fay", "gus", "hal", "ivy"]
    assert document["skipped"] == [str(subs / "README.md")]
    assert results["ana"]["passed"] and results["ivy"]["passed"]
    assert results["fay"]["passed"]  # its daemon is killed, its answer is right
    assert [d["id"] for d in results["ben"]["diagnosis"]] == ["unstable-softmax"]
    assert results["cai"]["error_kind"] == "timeout"
    assert results["dee"]["error_kind"] == "memory"
    assert results["eli"]["error_kind"] == "process-limit" or "process-limit" in \
        results["eli"]["protections_off"]
    assert results["gus"]["output_truncated"] is True
    assert results["hal"]["error_kind"] == "exited"
    for result in results.values():
        assert result["version"] and len(result["fingerprint"]) == 64 and result["seed"] == 0
        assert result["file"].startswith(str(subs))
    assert document["summary"]["total"] == 9
    assert document["summary"]["passed"] == 4 - (0 if results["gus"]["passed"] else 1)
    assert document["summary"]["errors"] == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "class.csv").read_text())))
    assert sorted(r["student"] for r in rows) == sorted(results)
    assert {r["student"]: r["diagnosis"] for r in rows}["ben"] == "unstable-softmax"
    deadline = time.monotonic() + 5
    while processes_under(scratch) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_under(scratch) == []


def test_summary_exit_codes_and_no_progress_recorded(tmp_path: Path,
                                                     isolated_home: Path) -> None:
    put(tmp_path, "a/softmax.py", CORRECT_SOFTMAX)
    put(tmp_path, "b/softmax.py", CORRECT_SOFTMAX)
    done = run_cli("grade", str(tmp_path), "--jobs", "2", "--lang", "en")
    assert done.returncode == 0, done.stderr
    assert "softmax" in done.stdout and "2 graded: 2 passed" in done.stdout
    progress = run_cli("progress", "--json")
    # A teacher's grading records nothing.
    assert all(row["attempts"] == 0 for row in json.loads(progress.stdout)["problems"])
    put(tmp_path, "c/softmax.py", UNSTABLE_SOFTMAX)
    done = run_cli("grade", str(tmp_path), "--lang", "zh")
    assert done.returncode == 1
    assert "unstable-softmax" in done.stdout and "未通过" in done.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    put(empty, "README.md", "nothing here")
    nothing = run_cli("grade", str(empty), "--json")
    assert nothing.returncode == 2 and "No submissions" in json.loads(nothing.stdout)[
        "error"]["message"]
    missing = run_cli("grade", str(tmp_path / "a/softmax.py"), str(tmp_path / "nope.py"))
    assert missing.returncode == 2 and "nope.py" in missing.stderr


def test_a_file_that_cannot_be_graded_is_an_error_entry_and_the_rest_is_graded(
        tmp_path: Path) -> None:
    good = put(tmp_path, "a/softmax.py", CORRECT_SOFTMAX)
    unnamed = put(tmp_path, "b/mystery.py", "def f():\n    pass\n")
    undecodable = put(tmp_path, "c/softmax.py", "")
    undecodable.write_bytes(b"\xff\xfe\x00bad bytes")
    result = runner.invoke(app, ["grade", str(good), str(unnamed), str(undecodable), "--json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    by_student = {r["student"]: r for r in document["results"]}
    assert by_student["a"]["passed"] is True
    assert by_student["b"]["error"]["exit_code"] == 2 and "mystery" in by_student["b"]["error"][
        "message"]
    assert by_student["c"]["error"]["exit_code"] == 2
    assert document["summary"] == {**document["summary"], "total": 3, "passed": 1, "failed": 0,
                                   "errors": 2}


def test_one_file_grading_is_unchanged_and_records_progress(tmp_path: Path) -> None:
    from attn_drill.grading.grade import grade_file

    single = runner.invoke(app, ["grade", str(CORRECT_SOFTMAX), "--json"])
    assert single.exit_code == 0
    document = json.loads(single.stdout)
    assert set(document) == set(grade_file(CORRECT_SOFTMAX).to_dict())
    assert "results" not in document and "student" not in document
    progress = runner.invoke(app, ["progress", "--json"])
    rows = {(r["id"], r["track"]): r for r in json.loads(progress.stdout)["problems"]}
    assert rows[("softmax", "numpy")]["attempts"] == 1
    failing = runner.invoke(app, ["grade", str(UNSTABLE_SOFTMAX), "--problem", "softmax"])
    assert failing.exit_code == 1 and "unstable" in failing.stdout.lower()


def test_seed_per_student_gives_each_student_their_own_recorded_seed(tmp_path: Path) -> None:
    put(tmp_path, "alice/softmax.py", CORRECT_SOFTMAX)
    put(tmp_path, "bob/softmax.py", CORRECT_SOFTMAX)
    result = runner.invoke(app, ["grade", str(tmp_path), "--seed-per-student", "--seed", "7",
                                 "--json"])
    assert result.exit_code == 0, result.output
    seeds = {r["student"]: r["seed"] for r in json.loads(result.stdout)["results"]}
    assert seeds == {"alice": student_seed("alice", 7), "bob": student_seed("bob", 7)}
    assert all(r["seed_from_student"] for r in json.loads(result.stdout)["results"])
    # The recorded seed regrades the same cases: the same names of random checks.
    again = runner.invoke(app, ["grade", str(tmp_path / "bob/softmax.py"), "--seed",
                                str(seeds["bob"]), "--json", "--no-record"])
    names = [c["name"] for c in json.loads(again.stdout)["checks"]]
    assert any(str(seeds["bob"]) in name for name in names)


def test_out_keeps_results_and_resume_skips_them_unless_the_file_changed(
        tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    put(subs, "a/softmax.py", CORRECT_SOFTMAX)
    changing = put(subs, "b/softmax.py", UNSTABLE_SOFTMAX)
    out = tmp_path / "out"
    first = runner.invoke(app, ["grade", str(subs), "--out", str(out), "--json"])
    assert first.exit_code == 1
    records = sorted((out / "results").glob("*.json"))
    assert len(records) == 2
    stamps = {p.name: p.stat().st_mtime_ns for p in records}
    again = runner.invoke(app, ["grade", str(subs), "--out", str(out), "--resume", "--json"])
    assert again.exit_code == 1
    assert json.loads(again.stdout)["results"] == json.loads(first.stdout)["results"]
    assert {p.name: p.stat().st_mtime_ns for p in records} == stamps  # nothing regraded
    shutil.copyfile(CORRECT_SOFTMAX, changing)  # the student fixed it: graded again
    fixed = runner.invoke(app, ["grade", str(subs), "--out", str(out), "--resume", "--json"])
    assert fixed.exit_code == 0
    assert json.loads(fixed.stdout)["summary"]["passed"] == 2
    changed = [p.name for p in records if p.stat().st_mtime_ns != stamps[p.name]]
    assert len(changed) == 1
    assert runner.invoke(app, ["grade", str(subs), "--resume"]).exit_code == 2  # needs --out


def test_an_external_pack_flows_through_batch_grading(tmp_path: Path) -> None:
    pack = make_pack(tmp_path / "pack")
    subs = tmp_path / "subs"
    put(subs, "ana/class_softmax.py", CORRECT_SOFTMAX)
    put(subs, "ben/week1.py", UNSTABLE_SOFTMAX.read_text().replace(
        "# attn-drill: softmax", "# attn-drill: class-softmax"))
    without = runner.invoke(app, ["grade", str(subs), "--json"])
    assert without.exit_code == 2, without.output  # unknown ids without the pack
    result = runner.invoke(app, ["grade", str(subs), "--pack", str(pack), "--json"])
    assert result.exit_code == 1, result.output
    results = {r["student"]: r for r in json.loads(result.stdout)["results"]}
    assert results["ana"]["problem"] == "class-softmax" and results["ana"]["passed"]
    assert [d["id"] for d in results["ben"]["diagnosis"]] == ["unstable-softmax"]
    problems = load_problems([pack])
    assert problems is not None
    assert results["ana"]["fingerprint"] == problem_fingerprint(problems["class-softmax"], "numpy")
    via_env = runner.invoke(app, ["grade", str(subs / "ana/class_softmax.py"), "--json"],
                            env={"ATTN_DRILL_PACKS": str(pack)})
    assert via_env.exit_code == 0 and json.loads(via_env.stdout)["problem"] == "class-softmax"


@needs_torch
@pytest.mark.slow
def test_torch_and_numpy_submissions_share_one_batch(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    put(subs, "ana/scaled_dot_product_attention.py",
        REPO / "solutions" / "scaled_dot_product_attention_torch.py")
    put(subs, "ana/softmax.py", CORRECT_SOFTMAX)
    put(subs, "ben/scaled_dot_product_attention.py",
        "import torch\n\n\ndef scaled_dot_product_attention(Q, K, V, mask=None):\n"
        "    while True:\n        pass\n")
    result = runner.invoke(app, ["grade", str(subs), "--jobs", "2", "--timeout", "2",
                                 "--json"])
    results = {(r["student"], r["problem"]): r for r in json.loads(result.stdout)["results"]}
    assert results[("ana", "scaled-dot-product-attention")]["track"] == "torch"
    assert results[("ana", "scaled-dot-product-attention")]["passed"]
    assert results[("ana", "softmax")]["passed"]
    assert results[("ben", "scaled-dot-product-attention")]["error_kind"] == "timeout"
    assert result.exit_code == 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_runs_on_a_terminal_and_stays_silent_elsewhere(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from attn_drill.render.batch import BatchProgress

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with BatchProgress(2, "en") as bar:
        bar.advance({"passed": True})
        bar.advance({"passed": False})
    assert (bar.passed, bar.failed) == (1, 1)
    assert "grading" in terminal.getvalue()
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    with BatchProgress(2, "en") as bar:
        bar.advance({"passed": True})
    assert piped.getvalue() == ""


def test_save_cases_in_a_batch_gives_each_failing_submission_its_own_folder(
        tmp_path: Path) -> None:
    put(tmp_path, "subs/ana/softmax.py", CORRECT_SOFTMAX)
    put(tmp_path, "subs/ben/softmax.py", UNSTABLE_SOFTMAX)
    saved = tmp_path / "cases"
    result = runner.invoke(app, ["grade", str(tmp_path / "subs"), "--save-cases", str(saved)])
    assert result.exit_code == 1
    assert [p.name for p in saved.iterdir()] == ["ben__softmax"]
    assert list((saved / "ben__softmax").rglob("repro.py"))


def test_a_batch_gives_every_file_the_verdict_of_grading_it_alone(tmp_path: Path) -> None:
    """Cases, references and mutant outputs are shared between the grades of one batch:
    each result must still be exactly what `grade FILE` says about that file."""
    from attn_drill.grading.grade import grade_file

    wrong = sorted((FIXTURES / "solutions").glob("softmax_*.py"))
    files = [put(tmp_path, f"s{i}/softmax.py", path) for i, path in
             enumerate([CORRECT_SOFTMAX, *wrong, CORRECT_SOFTMAX])]
    result = runner.invoke(app, ["grade", str(tmp_path), "--jobs", "2", "--problem", "softmax",
                                 "--timeout", "3", "--json"])
    batch = {r["file"]: r for r in json.loads(result.stdout)["results"]}

    def verdict(document: dict) -> tuple:
        return (document["passed"], document["score"],
                [(c["name"], c["passed"], c["message"]) for c in document["checks"]],
                [d["id"] for d in document["diagnosis"]])

    for path in files:
        alone = grade_file(path, problem_id="softmax", timeout=3).to_dict()
        assert verdict(batch[str(path)]) == verdict(alone), path
