"""Extra problem packs: a new problem is content only (YAML, reference, mutants), found through
`--pack DIR` or ATTN_DRILL_PACKS by every command, checked by `validate`, refused when its id
clashes with a built-in problem."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from attn_drill.cli import app
from attn_drill.packs import BUILTIN_PACK, ENV_VAR, active_packs, packs_in_use
from attn_drill.problems import builtin_problems, get_problem, pack_problems
from tests.conftest import run_cli

runner = CliRunner()
NEW_ID = "softmax-drill"
NEW_STEM = "softmax_drill"


def make_pack(root: Path, *, new_id: str = NEW_ID, based_on: str = "softmax",
              quiz: bool = True) -> Path:
    """A pack with one new problem: a copy of a built-in one under a new id (the YAML text
    kept as it is, but for its id, order and title), with its own reference and mutants
    files, and a quiz topic asking about it."""
    pack = root / "pack"
    for sub in ("problems", "solutions", "mutants", "quiz"):
        (pack / sub).mkdir(parents=True, exist_ok=True)
    text = (BUILTIN_PACK / "problems" / f"{based_on}.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^id: .*$", f"id: {new_id}", text, count=1)
    text = re.sub(r"(?m)^order: .*$", "order: 999", text, count=1)
    text = re.sub(r"(?m)^title:\n  en: .*\n  zh: .*$",
                  "title:\n  en: Softmax, drilled again\n  zh: 再练一次 softmax", text, count=1)
    (pack / "problems" / f"{new_id}.yaml").write_text(text, encoding="utf-8")
    stem, base_stem = new_id.replace("-", "_"), based_on.replace("-", "_")
    for track in yaml.safe_load(text)["tracks"]:
        for sub in ("solutions", "mutants"):
            source = BUILTIN_PACK / sub / f"{base_stem}_{track}.py"
            if source.is_file():
                shutil.copy(source, pack / sub / f"{stem}_{track}.py")
    if quiz:
        write_yaml(pack / "quiz" / "drills.yaml", {
            "topic": "drills",
            "title": {"en": "Drills", "zh": "练习"},
            "questions": [{
                "id": "drill-softmax-sum", "kind": "choice", "problem": new_id,
                "prompt": {"en": "What does each softmax row sum to?",
                           "zh": "softmax 的每一行之和是多少？"},
                "options": [{"en": "1", "zh": "1"}, {"en": "0", "zh": "0"}],
                "answer": 0,
                "explanation": {"en": "Softmax turns scores into a probability distribution.",
                                "zh": "softmax 把分数变成一个概率分布。"},
            }],
        })
    return pack


def write_yaml(path: Path, data: object) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def edit_problem(pack: Path, change: object, problem_id: str = NEW_ID) -> Path:
    path = pack / "problems" / f"{problem_id}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)  # type: ignore[operator]
    write_yaml(path, data)
    return path


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    return make_pack(tmp_path)


def failures(document: dict[str, object]) -> list[dict[str, str]]:
    return [item for item in document["items"] if not item["ok"]]  # type: ignore[union-attr]


# -- the new problem works with no code change --------------------------------------------------


def test_new_problem_pack_validates(pack: Path) -> None:
    result = runner.invoke(app, ["validate", str(pack), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    checked = {(i["problem"], i["rule"]) for i in document["items"]}
    assert {(NEW_ID, "reference"), (NEW_ID, "mutant"), (NEW_ID, "bilingual-text")} <= checked


def test_list_shows_the_new_problem_with_pack_and_with_the_environment(
        pack: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = json.loads(runner.invoke(app, ["list", "--json"]).stdout)
    assert NEW_ID not in {row["id"] for row in plain}
    listed = runner.invoke(app, ["list", "--pack", str(pack), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert rows[NEW_ID]["status"] == "todo" and "softmax" in rows
    monkeypatch.setenv(ENV_VAR, os.pathsep.join(["", str(pack)]))
    from_env = json.loads(runner.invoke(app, ["list", "--json"]).stdout)
    assert NEW_ID in {row["id"] for row in from_env}


def test_grade_with_pack_passes_the_reference_and_fails_a_mutant(
        pack: Path, tmp_path: Path) -> None:
    good = tmp_path / f"{NEW_STEM}.py"
    shutil.copy(pack / "solutions" / f"{NEW_STEM}_numpy.py", good)
    unknown = runner.invoke(app, ["grade", str(good), "--json"])
    assert unknown.exit_code == 2, unknown.output
    graded = run_cli("grade", str(good), "--pack", str(pack), "--json")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    report = json.loads(graded.stdout)
    assert report["problem"] == NEW_ID and report["passed"] is True
    naive = tmp_path / "naive.py"
    naive.write_text(f"# attn-drill: {NEW_ID}\nimport numpy as np\n\n\n"
                     "def softmax(x, axis=-1):\n    e = np.exp(x)\n"
                     "    return e / e.sum(axis=axis, keepdims=True)\n")
    failed = runner.invoke(app, ["grade", str(naive), "--pack", str(pack), "--json"])
    assert failed.exit_code == 1, failed.output
    assert "unstable-softmax" in {d["id"] for d in json.loads(failed.stdout)["diagnosis"]}


def test_show_start_hint_solution_reset_and_quiz_take_pack(pack: Path, tmp_path: Path) -> None:
    pack_args = ["--pack", str(pack)]
    shown = runner.invoke(app, ["show", NEW_ID, *pack_args, "--lang", "zh"])
    assert shown.exit_code == 0 and "再练一次 softmax" in shown.output
    started = runner.invoke(app, ["start", NEW_ID, "--dir", str(tmp_path / "w"), *pack_args])
    assert started.exit_code == 0, started.output
    written = tmp_path / "w" / f"{NEW_STEM}.py"
    assert written.is_file()
    assert runner.invoke(app, ["hint", NEW_ID, *pack_args]).exit_code == 0
    solution = runner.invoke(app, ["solution", NEW_ID, "--yes", "--plain", *pack_args])
    assert solution.exit_code == 0
    assert solution.stdout.strip() == (pack / "solutions" / f"{NEW_STEM}_numpy.py"
                                       ).read_text().strip()
    written.write_text("# mine\n")
    reset = runner.invoke(app, ["reset", NEW_ID, "--dir", str(tmp_path / "w"), "--yes",
                                *pack_args])
    assert reset.exit_code == 0, reset.output
    assert "# mine" not in written.read_text()
    bank = runner.invoke(app, ["quiz", "--list", "--json", *pack_args])
    assert bank.exit_code == 0, bank.output
    assert "drill-softmax-sum" in {q["id"] for q in json.loads(bank.stdout)}
    for command in (["show", NEW_ID], ["hint", NEW_ID]):
        assert runner.invoke(app, command).exit_code == 2


def test_practice_with_pack_grades_the_new_problem(pack: Path, tmp_path: Path) -> None:
    """The real command in a pseudo-terminal: the new problem's starter is written, saving
    the reference there passes, and `q` quits."""
    import pty
    import select
    import subprocess
    import sys

    workspace = tmp_path / "work"
    controller, terminal = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "attn_drill", "practice", NEW_ID, "--pack", str(pack),
         "--dir", str(workspace), "--lang", "en"],
        stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True,
        env={**os.environ, "COLUMNS": "100", "LINES": "40", "TERM": "xterm"})
    os.close(terminal)
    seen = b""

    def read_until(needle: bytes, timeout: float = 60.0) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while needle not in seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, seen.decode(errors="replace")[-2000:]
            ready, _, _ = select.select([controller], [], [], min(remaining, 0.5))
            if ready:
                try:
                    seen += os.read(controller, 65536)
                except OSError:  # the child closed the terminal
                    assert needle in seen, seen.decode(errors="replace")[-2000:]

    try:
        read_until(b"Softmax, drilled again")
        target = workspace / f"{NEW_STEM}.py"
        assert target.is_file()
        time.sleep(0.3)
        target.write_text((pack / "solutions" / f"{NEW_STEM}_numpy.py").read_text())
        read_until(b"Passed")
        os.write(controller, b"q")
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(controller)


# -- validate names the file and the rule ----------------------------------------------------


def test_pack_without_the_chinese_statement_fails_validate(pack: Path) -> None:
    path = edit_problem(pack, lambda d: d["statement"].pop("zh"))
    result = runner.invoke(app, ["validate", str(pack), "--json"])
    assert result.exit_code == 1, result.output
    found = failures(json.loads(result.stdout))
    bilingual = [i for i in found if i["rule"] == "bilingual-text"]
    assert bilingual and bilingual[0]["file"] == str(path)
    assert "statement.zh" in bilingual[0]["message"]
    text = runner.invoke(app, ["validate", str(pack)])
    assert text.exit_code == 1 and "bilingual-text" in text.output
    assert path.name in text.output.replace("\n", "")


def test_english_left_in_the_chinese_text_fails_validate(pack: Path) -> None:
    path = edit_problem(pack, lambda d: d["hints"][0].update(zh=d["hints"][0]["en"]))
    found = failures(json.loads(runner.invoke(app, ["validate", str(pack), "--json"]).stdout))
    assert [(i["rule"], i["file"]) for i in found] == [("bilingual-text", str(path))]
    assert "hints.0.zh is not written in Chinese" in found[0]["message"]


def test_a_mutant_that_passes_fails_validate(pack: Path) -> None:
    mutants = pack / "mutants" / f"{NEW_STEM}_numpy.py"
    mutants.write_text(mutants.read_text() + (
        "\n\ndef actually_correct(x, axis=-1):\n"
        "    e = np.exp(x - x.max(axis=axis, keepdims=True))\n"
        "    return e / e.sum(axis=axis, keepdims=True)\n"))
    edit_problem(pack, lambda d: d["tracks"]["numpy"]["mutants"].append(
        {"name": "actually_correct", "misconception": "unstable-softmax"}))
    result = runner.invoke(app, ["validate", str(pack), "--json"])
    assert result.exit_code == 1, result.output
    found = failures(json.loads(result.stdout))
    assert [(i["rule"], i["file"]) for i in found] == [("mutant", str(mutants))]
    assert "passes every check" in found[0]["message"]


@pytest.mark.parametrize("change,rule,words", [
    (lambda d: d.update(hints=d["hints"][:2]), "hints", "at least 3"),
    (lambda d: d["tracks"]["numpy"].update(
        starter=d["tracks"]["numpy"]["starter"].replace("TODO", "to do")), "starter", "TODO"),
    (lambda d: d["tracks"]["numpy"].update(
        cases=[c for c in d["tracks"]["numpy"]["cases"] if "random" in c]), "cases",
     "no fixed case"),
    (lambda d: d["misconceptions"].append({**d["misconceptions"][0], "id": "softmax-unstable"}),
     "canonical-ids",
     "looks like the known id"),
])
def test_each_pack_rule_names_itself(pack: Path, change: object, rule: str,
                                     words: str) -> None:
    edit_problem(pack, change)
    document = json.loads(runner.invoke(app, ["validate", str(pack), "--json"]).stdout)
    found = [i for i in failures(document) if i["rule"] == rule]
    assert found, failures(document)
    assert words in found[0]["message"]


def test_validate_without_path_covers_the_extra_packs(pack: Path) -> None:
    edit_problem(pack, lambda d: d["statement"].update(zh=""))
    result = runner.invoke(app, ["validate", "--pack", str(pack), "--json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert {i["problem"] for i in document["items"]} >= {"softmax", NEW_ID}
    assert {i["problem"] for i in failures(document)} == {NEW_ID}


# -- clashes and bad directories ----------------------------------------------------------------


def test_an_id_clash_with_the_builtin_pack_is_a_usage_error(tmp_path: Path) -> None:
    clash = make_pack(tmp_path, new_id="softmax", quiz=False)
    for command in (["list"], ["show", "softmax"], ["hint", "softmax"]):
        result = runner.invoke(app, [*command, "--pack", str(clash)])
        assert result.exit_code == 2, (command, result.output)
        assert "already defined by the built-in pack" in " ".join(result.output.split())
    source = tmp_path / "softmax.py"
    shutil.copy(BUILTIN_PACK / "solutions" / "softmax_numpy.py", source)
    graded = runner.invoke(app, ["grade", str(source), "--pack", str(clash), "--json"])
    assert graded.exit_code == 2
    assert "already defined" in json.loads(graded.stdout)["error"]["message"]
    validated = json.loads(runner.invoke(app, ["validate", str(clash), "--json"]).stdout)
    assert any(i["rule"] == "unique-id" for i in failures(validated))


def test_a_directory_that_is_not_a_pack_is_a_usage_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in (tmp_path / "missing", tmp_path):
        result = runner.invoke(app, ["list", "--pack", str(bad)])
        assert result.exit_code == 2 and "--pack" in result.output, result.output
        assert "Traceback" not in result.output
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing"))
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 2 and ENV_VAR in result.output


def test_the_locator_lists_the_builtin_pack_first(pack: Path) -> None:
    with packs_in_use([pack, pack]) as packs:
        assert packs == (BUILTIN_PACK, pack.resolve())
        assert NEW_ID in pack_problems() and get_problem(NEW_ID).pack_dir == pack.resolve()
    assert active_packs() == (BUILTIN_PACK,)
    assert NEW_ID not in pack_problems() and pack_problems() is builtin_problems()


def test_a_broken_quiz_file_fails_validate(pack: Path) -> None:
    quiz = pack / "quiz" / "drills.yaml"
    quiz.write_text(quiz.read_text(encoding="utf-8").replace(
        f"problem: {NEW_ID}", "problem: no-such-problem"), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(pack), "--json"])
    assert result.exit_code == 1, result.output
    found = failures(json.loads(result.stdout))
    assert [(i["rule"], i["file"]) for i in found] == [("quiz", str(pack / "quiz"))]
    assert "no-such-problem" in found[0]["message"] and str(quiz) in found[0]["message"]


def test_a_command_without_pack_does_not_inherit_the_previous_ones(pack: Path) -> None:
    assert runner.invoke(app, ["list", "--pack", str(pack)]).exit_code == 0
    assert active_packs() == (BUILTIN_PACK, pack.resolve())
    shown = runner.invoke(app, ["progress", "--json"])
    assert shown.exit_code == 0
    assert NEW_ID not in {row["id"] for row in json.loads(shown.stdout)["problems"]}
    assert active_packs() == (BUILTIN_PACK,)


def test_a_formula_may_read_the_same_in_both_languages(pack: Path) -> None:
    edit_problem(pack, lambda d: d.update(shapes={"en": "Q: (n, d_k) -> (n, d_v)",
                                                  "zh": "Q: (n, d_k) -> (n, d_v)"}))
    result = runner.invoke(app, ["validate", str(pack), "--json"])
    assert result.exit_code == 0, failures(json.loads(result.stdout))
