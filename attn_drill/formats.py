"""Classroom documents made from grade results: CSV, exercism results.json, JUnit XML and
Gradescope results.json.

Every function takes result documents (a `GradeReport.to_dict()` plus `file` and `student`,
or an error entry `{file, student, error: {exit_code, message}}`, see attn_drill.batch) and
returns data or text; nothing here grades, and nothing imports rich, numpy or torch.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from attn_drill.errors import UsageError

FORMATS = ("exercism", "junit", "gradescope")
CSV_COLUMNS = ("student", "file", "problem", "track", "passed", "score", "diagnosis",
               "status", "error", "seed", "fingerprint", "version")
EXERCISM_OUTPUT_LIMIT = 500
EXERCISM_TRUNCATED = "... (output truncated to 500 characters)"
# Code that never ran: exercism's top-level "error" and JUnit's <error>.
NOT_RUN_KINDS = frozenset({"syntax", "import", "missing-name"})
# XML 1.0 allows no other control characters, even escaped.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def check_id(check: dict[str, Any]) -> str:
    """The stable id of a check (`id` when the report has one, else its kind)."""
    return str(check.get("id") or check.get("kind") or check.get("name") or "check")


def status_of(result: dict[str, Any]) -> str:
    if "error" in result:
        return "error"
    return "passed" if result.get("passed") else "failed"


def never_ran(result: dict[str, Any]) -> bool:
    """The submission could not be graded, or its code never loaded (so no test ran)."""
    return "error" in result or result.get("error_kind") in NOT_RUN_KINDS


def error_message(result: dict[str, Any]) -> str:
    if "error" in result:
        return str(result["error"].get("message", ""))
    failed = [c for c in result.get("checks", []) if not c.get("passed")]
    return str(failed[0].get("message") or failed[0].get("name")) if failed else ""


# -- CSV ---------------------------------------------------------------------------------------


def csv_text(results: Iterable[dict[str, Any]]) -> str:
    """One row per submission; diagnosis ids joined by `;`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for result in results:
        failed = "error" in result
        writer.writerow([
            result.get("student", ""), result.get("file", ""), result.get("problem", ""),
            result.get("track", ""), "" if failed else str(bool(result.get("passed"))).lower(),
            "" if failed else f"{float(result.get('score', 0.0)):.4g}",
            ";".join(str(d.get("id")) for d in result.get("diagnosis", [])),
            status_of(result), result["error"].get("message", "") if failed else "",
            result.get("seed", ""), result.get("fingerprint", ""), result.get("version", ""),
        ])
    return buffer.getvalue()


# -- exercism ------------------------------------------------------------------------------------


def _truncate(text: str, limit: int = EXERCISM_OUTPUT_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - len(EXERCISM_TRUNCATED)] + EXERCISM_TRUNCATED


def _test_code(result: dict[str, Any], check: dict[str, Any]) -> str:
    """What was run for one check, as a teacher or learner would rerun it."""
    return (f"# check {check_id(check)} of {result.get('problem')} ({result.get('track')}), "
            f"seed {result.get('seed')}\n"
            f"attn-drill grade {Path(str(result.get('file', ''))).name} "
            f"--problem {result.get('problem')} --track {result.get('track')} "
            f"--seed {result.get('seed')}")


def exercism_document(result: dict[str, Any]) -> dict[str, Any]:
    """exercism's test-runner results.json, version 2."""
    if "error" in result:
        return {"version": 2, "status": "error", "message": error_message(result), "tests": []}
    output = str(result.get("stdout", "") or "")
    failed_status = "error" if never_ran(result) else "fail"
    tests = []
    for index, check in enumerate(result.get("checks", [])):
        test: dict[str, Any] = {
            "name": str(check.get("name") or check_id(check)),
            "status": "pass" if check.get("passed") else failed_status,
            "message": None if check.get("passed") else str(check.get("message") or ""),
            "output": _truncate(output) if index == 0 and output else None,
            "test_code": _test_code(result, check),
        }
        tests.append(test)
    if never_ran(result):
        return {"version": 2, "status": "error", "message": error_message(result),
                "tests": tests}
    status = "pass" if result.get("passed") else "fail"
    return {"version": 2, "status": status, "tests": tests}


def validate_exercism(document: dict[str, Any]) -> list[str]:
    """Problems with a results.json against exercism's published rules for version 2 (empty
    when it follows them)."""
    problems = []
    if document.get("version") != 2:
        problems.append("version must be 2")
    status = document.get("status")
    if status not in ("pass", "fail", "error"):
        problems.append(f"status {status!r} is not pass, fail or error")
    if status == "error":
        if not isinstance(document.get("message"), str) or not document["message"]:
            problems.append("status error needs a message")
    elif document.get("message") is not None:
        problems.append("message only when status is error")
    tests = document.get("tests")
    if status in ("pass", "fail") and not isinstance(tests, list):
        problems.append("tests is required when status is pass or fail")
    for index, test in enumerate(tests or []):
        where = f"tests[{index}]"
        if not isinstance(test.get("name"), str) or not test["name"]:
            problems.append(f"{where}: name is required")
        if test.get("status") not in ("pass", "fail", "error"):
            problems.append(f"{where}: status must be pass, fail or error")
        if test.get("status") in ("fail", "error") and not isinstance(test.get("message"), str):
            problems.append(f"{where}: a failed test needs a message")
        output = test.get("output")
        if output is not None and (not isinstance(output, str)
                                   or len(output) > EXERCISM_OUTPUT_LIMIT):
            problems.append(f"{where}: output must be a string of at most 500 characters")
        if not isinstance(test.get("test_code"), str):
            problems.append(f"{where}: test_code is required in version 2")
    if status == "pass" and any(t.get("status") != "pass" for t in tests or []):
        problems.append("status pass with a test that did not pass")
    return problems


# -- JUnit ---------------------------------------------------------------------------------------


def _xml_text(value: Any) -> str:
    return _XML_INVALID.sub("\ufffd", str(value))


def junit_suite(result: dict[str, Any]) -> ET.Element:
    """One <testsuite> per submission, one <testcase> per check."""
    name = f"{result.get('student', '')}/{Path(str(result.get('file', ''))).name}"
    suite = ET.Element("testsuite", name=_xml_text(name))
    classname = _xml_text(f"{result.get('problem') or 'submission'}.{result.get('track') or ''}")
    failures = errors = 0
    if "error" in result:
        case = ET.SubElement(suite, "testcase", name="grade", classname=classname, time="0")
        error = ET.SubElement(case, "error", message=_xml_text(error_message(result)),
                              type=f"exit-{result['error'].get('exit_code')}")
        error.text = _xml_text(error_message(result))
        errors = 1
    else:
        not_run = never_ran(result)
        for check in result.get("checks", []):
            case = ET.SubElement(suite, "testcase", name=_xml_text(check.get("name", "")),
                                 classname=classname, time="0")
            if check.get("passed"):
                continue
            tag = "error" if not_run else "failure"
            element = ET.SubElement(case, tag, message=_xml_text(check.get("message", "")),
                                    type=_xml_text(check_id(check)))
            element.text = _xml_text(check.get("message", ""))
            if not_run:
                errors += 1
            else:
                failures += 1
        if result.get("stdout"):
            ET.SubElement(suite, "system-out").text = _xml_text(result["stdout"])
    suite.set("tests", str(len(suite.findall("testcase"))))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    suite.set("time", f"{float(result.get('duration_s', 0.0) or 0.0):.3f}")
    return suite


def junit_xml(results: Sequence[dict[str, Any]]) -> str:
    """A JUnit document: a bare <testsuite> for one submission, <testsuites> for several."""
    suites = [junit_suite(r) for r in results]
    if len(suites) == 1:
        root = suites[0]
    else:
        root = ET.Element("testsuites", name="attn-drill")
        for key in ("tests", "failures", "errors"):
            root.set(key, str(sum(int(s.get(key, "0")) for s in suites)))
        root.extend(suites)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# -- Gradescope ----------------------------------------------------------------------------------


def gradescope_document(results: Sequence[dict[str, Any]], *, expected: Sequence[str] = (),
                        points: float = 1.0, execution_time: float = 0.0) -> dict[str, Any]:
    """Gradescope's results.json: each problem is worth `points`, shared equally by its
    required checks; a problem in `expected` without a submission scores 0."""
    tests: list[dict[str, Any]] = []
    seen: set[str] = set()
    notes: list[str] = []
    for result in _best_per_problem(results, expected):
        file_name = Path(str(result.get("file", ""))).name
        if "error" in result:
            # With an assignment (expected problems) the file is reported but scores nothing:
            # the total stays the assignment's.
            tests.append({"name": f"{file_name}: could not be graded", "score": 0.0,
                          "max_score": 0.0 if expected else float(points), "status": "failed",
                          "output": error_message(result), "visibility": "visible"})
            continue
        problem = str(result.get("problem"))
        seen.add(problem)
        checks = result.get("checks", [])
        required = [c for c in checks if c.get("required", True)]
        share = float(points) / len(required) if required else 0.0
        for check in checks:
            counts = check.get("required", True)
            output = "" if check.get("passed") else str(check.get("message") or "")
            tests.append({
                "name": f"{problem} ({result.get('track')}): {check.get('name')}",
                "score": round(share, 6) if counts and check.get("passed") else 0.0,
                "max_score": round(share, 6) if counts else 0.0,
                "status": "passed" if check.get("passed") else "failed",
                "output": output, "visibility": "visible",
            })
        for item in result.get("diagnosis", []):
            notes.append(f"{problem}: {item.get('message', '')}")
        if result.get("stdout"):
            notes.append(f"{file_name} printed:\n{str(result['stdout'])[:2000]}")
    for problem in expected:
        if problem not in seen:
            tests.append({"name": f"{problem}: no submission found", "score": 0.0,
                          "max_score": float(points), "status": "failed",
                          "output": f"No file for {problem} was found in the submission: name "
                          f"it {problem.replace('-', '_')}.py or start it with the line "
                          f"`# attn-drill: {problem}`.", "visibility": "visible"})
    document: dict[str, Any] = {
        "score": round(sum(t["score"] for t in tests), 6),
        "execution_time": round(execution_time, 3),
        "tests": tests,
    }
    if notes:
        document["output"] = "\n\n".join(notes)
    return document


def _best_per_problem(results: Sequence[dict[str, Any]], expected: Sequence[str]
                     ) -> list[dict[str, Any]]:
    """One result per problem (the best, if a student sent two files for it); with an
    assignment, only its problems count."""
    best: dict[str, dict[str, Any]] = {}
    others: list[dict[str, Any]] = []
    for result in results:
        problem = result.get("problem")
        if "error" in result or not isinstance(problem, str):
            others.append(result)
        elif expected and problem not in expected:
            continue
        elif problem not in best or float(result.get("score", 0)) > float(
                best[problem].get("score", 0)):
            best[problem] = result
    return [*best.values(), *others]


# -- writing -------------------------------------------------------------------------------------


def output_name(result: dict[str, Any], taken: set[str]) -> str:
    """A file name for one submission's document: student and file, made safe and unique."""
    stem = f"{result.get('student', '')}__{Path(str(result.get('file', ''))).stem}"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "submission"
    name, counter = stem, 2
    while name in taken:
        name, counter = f"{stem}-{counter}", counter + 1
    taken.add(name)
    return name


def write_documents(results: Sequence[dict[str, Any]], fmt: str, output: Path, *,
                    several: bool, expected: Sequence[str] = (), points: float = 1.0,
                    execution_time: float = 0.0) -> list[Path]:
    """Write `fmt` documents: to the file `output` for one submission (or any Gradescope
    run); for several, into the directory `output`, one file per submission, plus one JUnit
    file with a testsuite per submission."""
    if fmt not in FORMATS:
        raise UsageError(f"Unknown --format {fmt!r}: use one of {', '.join(FORMATS)}.")
    output = Path(output)
    written: list[Path] = []
    try:
        if fmt == "gradescope":
            document = gradescope_document(results, expected=expected, points=points,
                                           execution_time=execution_time)
            written.append(_write(output, json.dumps(document, ensure_ascii=False, indent=2)))
        elif not several:
            text = (json.dumps(exercism_document(results[0]), ensure_ascii=False, indent=2)
                    if fmt == "exercism" else junit_xml(results[:1]))
            written.append(_write(output, text))
        else:
            if output.exists() and not output.is_dir():
                raise UsageError(f"--output {output}: for several submissions it must be a "
                                 "directory (one file per submission).")
            taken: set[str] = set()
            for result in results:
                name = output_name(result, taken)
                if fmt == "exercism":
                    text = json.dumps(exercism_document(result), ensure_ascii=False, indent=2)
                    written.append(_write(output / f"{name}.results.json", text))
                else:
                    written.append(_write(output / f"{name}.xml", junit_xml([result])))
            if fmt == "junit":
                written.append(_write(output / "junit.xml", junit_xml(results)))
    except OSError as exc:
        raise UsageError(f"--output {output}: cannot write ({exc.strerror or exc}).") from None
    return written


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return path
