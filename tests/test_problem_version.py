"""A problem's version (recorded with each grade; a pass from an older version shows as
stale) follows what is graded, not its wording."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from attn_drill.problems import load_pack
from tests.test_packs import NEW_ID, NEW_STEM, make_pack


def version_after(pack: Path, change: Any) -> tuple[str, str]:
    before = load_pack(pack)[NEW_ID].version
    path = pack / "problems" / f"{NEW_ID}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return before, load_pack(pack)[NEW_ID].version


def numpy_track(data: dict[str, Any]) -> dict[str, Any]:
    return data["tracks"]["numpy"]


@pytest.mark.parametrize("change", [
    lambda d: d["statement"].update(en=d["statement"]["en"] + " (typo fixed)"),
    lambda d: d["hints"][0].update(zh=d["hints"][0]["zh"] + "。"),
    lambda d: d["misconceptions"][0]["explanation"].update(en="Reworded."),
    lambda d: d.update(title={"en": "New title", "zh": "新标题"}),
    lambda d: numpy_track(d).update(starter=numpy_track(d)["starter"] + "\n# TODO: more\n"),
], ids=["statement", "hint", "explanation", "title", "starter"])
def test_wording_does_not_change_the_version(tmp_path: Path, change: Any) -> None:
    before, after = version_after(make_pack(tmp_path, quiz=False), change)
    assert before == after


@pytest.mark.parametrize("change", [
    lambda d: numpy_track(d)["cases"][-1]["dims"].update(
        {k: v + 1 for k, v in numpy_track(d)["cases"][-1]["dims"].items()}),
    lambda d: numpy_track(d).update(properties=numpy_track(d)["properties"][:-1]),
    lambda d: numpy_track(d).update(forbidden=["scipy.special.softmax"]),
    lambda d: numpy_track(d).update(signature=numpy_track(d)["signature"] + " "),
    lambda d: d.update(tolerances={"float64": {"rtol": 1e-6, "atol": 1e-9}}),
], ids=["case", "properties", "forbidden", "signature", "tolerance"])
def test_what_is_graded_changes_the_version(tmp_path: Path, change: Any) -> None:
    before, after = version_after(make_pack(tmp_path, quiz=False), change)
    assert before != after


def test_the_reference_code_is_part_of_the_version(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, quiz=False)
    before = load_pack(pack)[NEW_ID].version
    reference = pack / "solutions" / f"{NEW_STEM}_numpy.py"
    reference.write_text(reference.read_text() + "\nSCALE = 2.0\n")
    assert load_pack(pack)[NEW_ID].version != before


def test_the_references_comments_docstrings_and_layout_are_not(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, quiz=False)
    before = load_pack(pack)[NEW_ID].version
    reference = pack / "solutions" / f"{NEW_STEM}_numpy.py"
    source = reference.read_text()
    assert '"""' in source  # the reference has a docstring to reword
    reworded = source.replace('"""', '"""Reworded. ', 1) + "\n# a comment\n\n\n"
    reference.write_text(reworded)
    assert load_pack(pack)[NEW_ID].version == before
