"""The default report fits one screen: for every known mistake of every code problem (each
shipped mutant, the most common ones included), the report at 80 columns is at most 30
lines, leads with the verdict and the score, and names the misconception."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from attn_drill.problems import builtin_problems

SCREEN_ROWS = 30


def _mutants() -> list[tuple[str, str, str]]:
    found = []
    for problem in builtin_problems().values():
        for track, spec in problem.tracks.items():
            if track == "text":
                continue
            found += [(problem.id, track, mutant.name) for mutant in spec.mutants]
    return found


def mutant_report(problem_id: str, track: str, name: str, lang: str) -> Any:
    from attn_drill.grading.cases import build_cases
    from attn_drill.grading.checks import compute_references, run_checks
    from attn_drill.grading.diagnosis import diagnose, mutant_targets
    from attn_drill.grading.grade import (
        build_report,
        evaluation_from_run,
        run_object_in_process,
    )
    from attn_drill.grading.properties import derive_cases

    problem = builtin_problems()[problem_id]
    spec = problem.tracks[track]
    target = next(t for n, _m, t in mutant_targets(problem, track) if n == name)
    cases = build_cases(spec, 0)
    extra, derived = derive_cases(spec, cases, 0)
    all_cases = cases + extra
    run = run_object_in_process(target, problem, track, all_cases)
    references = compute_references(problem, track, all_cases)
    ev = evaluation_from_run(problem, track, 0, all_cases, derived, references, run, None, 10.0)
    checks = run_checks(ev, lang)
    return build_report(ev, run, checks, diagnose(ev, checks, lang),
                        path=Path(f"attn-drill-work/{problem.module_stem}.py"), lang=lang,
                        started=time.perf_counter())


def _render(report: Any, lang: str, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch, **options: Any) -> list[str]:
    from attn_drill.render.report import grade_report

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    grade_report(report, lang, **options)
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize(("problem_id", "track", "name"), _mutants())
def test_every_known_mistake_fits_one_screen(problem_id: str, track: str, name: str,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    if track == "torch":
        pytest.importorskip("torch")
    report = mutant_report(problem_id, track, name, "en")
    lines = _render(report, "en", capsys, monkeypatch)
    assert len(lines) <= SCREEN_ROWS, "\n".join(lines)
    assert max(len(line) for line in lines) <= 80
    assert lines[0].startswith("FAILED   score ")
    # The misconception the mistake embodies is named near the top.
    misconception = next(m.misconception for m in
                         builtin_problems()[problem_id].tracks[track].mutants if m.name == name)
    assert any(misconception in line for line in lines[:6]), "\n".join(lines)


@pytest.mark.parametrize(("problem_id", "name"), [
    ("scaled-dot-product-attention", "no_scale"),
    ("scaled-dot-product-attention", "mask_after_softmax"),
    ("softmax", "naive"),
])
def test_the_short_report_in_chinese_fits_too(problem_id: str, name: str,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.cells import cell_len

    report = mutant_report(problem_id, "numpy", name, "zh")
    lines = _render(report, "zh", capsys, monkeypatch)
    assert len(lines) <= SCREEN_ROWS, "\n".join(lines)
    assert max(cell_len(line) for line in lines) <= 80
    assert lines[0].startswith("未通过")


def test_the_short_report_names_other_failures_on_one_line_and_verbose_shows_them(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    report = mutant_report("scaled-dot-product-attention", "numpy", "no_scale", "en")
    short = "\n".join(_render(report, "en", capsys, monkeypatch))
    flat = " ".join(short.split())
    failed = [c for c in report.checks if not c.passed]
    assert len(failed) >= 3
    marked = [line for line in short.splitlines() if line.startswith("✗")]
    assert len(marked) == 2  # the first failure, then one line for all the others
    assert "also fails: " + failed[1].name in flat and "-- same cause" in flat
    assert "Every check in detail: add --verbose" in flat
    assert "✓" not in short  # passing checks only in the full view
    full = "\n".join(_render(report, "en", capsys, monkeypatch, verbose=True))
    assert len([line for line in full.splitlines() if line.lstrip().startswith("✗")]
               ) == len(failed) and "✓" in full
    assert len(full.splitlines()) > len(short.splitlines())


def test_a_heatmap_only_when_the_weights_differ_visibly(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from attn_drill.render.report import _heatmap_visible

    # No scale on the small worked example: the shades are the same, the numbers are not,
    # so the table of differences is shown instead of two identical drawings.
    report = mutant_report("scaled-dot-product-attention", "numpy", "no_scale", "en")
    heat = next(c.heatmap for c in report.checks if c.heatmap is not None)
    assert not _heatmap_visible(heat)
    short = "\n".join(_render(report, "en", capsys, monkeypatch))
    assert "Attention weights" not in short and "difference" in short
    # The mask applied after the softmax leaves visibly different weights: drawn.
    report = mutant_report("scaled-dot-product-attention", "numpy", "mask_after_softmax", "en")
    short = "\n".join(_render(report, "en", capsys, monkeypatch))
    assert "Attention weights" in short and "yours" in short and "reference" in short


def test_piped_output_has_no_trailing_spaces(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    report = mutant_report("multi-head-attention", "numpy", "heads_no_transpose", "en")
    for verbose in (False, True):
        lines = _render(report, "en", capsys, monkeypatch, verbose=verbose)
        assert all(line == line.rstrip() for line in lines), [
            line for line in lines if line != line.rstrip()]


def test_stderr_keeps_its_gutter_on_wrapped_lines(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    report = mutant_report("softmax", "numpy", "naive", "en")
    report.stderr = "warning: " + "x" * 150 + "\nsecond line\n"
    lines = _render(report, "en", capsys, monkeypatch, verbose=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("Your program wrote"))
    block = lines[start + 1:start + 5]
    assert all(line.startswith("  │ ") for line in block), block
    assert block[-1] == "  │ second line"
    # The short report keeps three lines of it on screen, wrapped pieces counted.
    lines = _render(report, "en", capsys, monkeypatch)
    start = next(i for i, line in enumerate(lines) if line.startswith("Your program wrote"))
    assert all(line.startswith("  │ x") for line in lines[start + 2:start + 4])
    assert lines[start + 4] == "  │ …"  # and says that more was left out


def test_only_protections_that_are_normally_on_are_named_by_default(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    report = mutant_report("softmax", "numpy", "naive", "en")
    report.protections_off = ["read-restricted", "privilege-drop"]
    short = "\n".join(_render(report, "en", capsys, monkeypatch))
    assert "Protections that are off" not in short
    full = "\n".join(_render(report, "en", capsys, monkeypatch, verbose=True))
    assert "Protections that are off" in full
    report.protections_off = ["timeout"]
    short = " ".join(" ".join(_render(report, "en", capsys, monkeypatch)).split())
    assert "Protections that are off here: there is no time limit" in short


def test_case_names_are_chinese_in_a_chinese_report(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from attn_drill.render.report import CASE_NAMES_ZH

    # Every case of the built-in pack has a Chinese name.
    names = {case.name for problem in builtin_problems().values()
             for spec in problem.tracks.values() for case in spec.cases}
    assert names <= set(CASE_NAMES_ZH), sorted(names - set(CASE_NAMES_ZH))
    report = mutant_report("scaled-dot-product-attention", "numpy", "no_scale", "zh")
    for verbose in (False, True):
        out = " ".join(_render(report, "zh", capsys, monkeypatch, verbose=verbose))
        assert "「示例」" in out and "worked example" not in out


def test_a_written_answer_is_a_checklist_of_ideas(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from attn_drill.grading.grade import grade_file

    answer = tmp_path / "answer.md"
    answer.write_text("# attn-drill: explain-sqrt-dk\n\n## Answer\n\n"
                      "We divide by sqrt(d_k) so the softmax does not saturate.\n")
    report = grade_file(answer)
    lines = _render(report, "en", capsys, monkeypatch)
    flat = " ".join(" ".join(lines).split())
    for check in report.checks:  # every idea, met or not, on its own line
        assert ("✓ " if check.passed else "✗ ") + check.name in flat, check.name
    assert flat.count("missing:") == 1  # what to add: for the first missing idea only
    assert len(lines) <= SCREEN_ROWS


def test_same_cause_is_not_claimed_when_the_code_also_raised(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    report = mutant_report("scaled-dot-product-attention", "numpy", "no_scale", "en")
    assert "-- same cause" in " ".join(" ".join(_render(report, "en", capsys,
                                                        monkeypatch)).split())
    report.error_kind = "exception"  # a second problem the mistake does not explain
    assert "same cause" not in " ".join(_render(report, "en", capsys, monkeypatch))
