"""A problem is content: properties, input kinds and tracks are registries the YAML names.

A pack names registered properties (an unknown one is a pack error with its file and line);
the property registry is the one source of what validate, the checks and the diagnosis use.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from attn_drill.errors import PackError
from attn_drill.grading.properties import PROPERTIES
from attn_drill.grading.validate import validate_pack
from attn_drill.messages import CATALOG, LANGS, render
from attn_drill.problems import BUILTIN_PACK, builtin_problems, load_pack


def _copy_pack(tmp_path: Path) -> Path:
    pack = tmp_path / "pack"
    for part in ("problems", "solutions", "mutants"):
        shutil.copytree(BUILTIN_PACK / part, pack / part)
    return pack


def test_unknown_property_is_a_pack_error_with_file_and_line(tmp_path: Path) -> None:
    pack = _copy_pack(tmp_path)
    path = pack / "problems" / "softmax.yaml"
    text = path.read_text(encoding="utf-8")
    listed = "properties: [no-mutation, stability, sums-to-one]"
    assert listed in text
    path.write_text(text.replace(listed, "properties: [no-mutation, stability,\n"
                                         "                 sparkles]"), encoding="utf-8")
    line = text[: text.index(listed)].count("\n") + 2  # `sparkles` moved to the next line
    with pytest.raises(PackError) as caught:
        load_pack(pack)
    message = caught.value.message
    assert str(path) in message
    assert "tracks.numpy.properties.2" in message and f"(line {line})" in message
    assert "unknown property 'sparkles'" in message
    # validate reports it as the file's schema defect, and goes on with the other problems
    result = validate_pack(pack)
    schema = [i for i in result.items if i.subject == "schema" and not i.ok]
    assert [i.problem for i in schema] == ["softmax"]
    assert any(i.problem == "causal-attention" and i.ok for i in result.items)


def test_every_registered_property_has_a_name_in_each_language() -> None:
    for prop in PROPERTIES.values():
        key = f"property.{prop.id}"
        assert key in CATALOG, key
        names = {render(key, lang) for lang in LANGS}
        assert len(names) == len(LANGS), names  # translated, not copied


def test_properties_listed_by_the_pack_are_registered_objects() -> None:
    used = {p for problem in builtin_problems().values() for spec in problem.tracks.values()
            for p in spec.properties}
    assert used <= set(PROPERTIES)
    # the registry is what validate asks: a tagged property needs its tag, a deriving one
    # a source case, a diagnosing one its misconception id
    assert {p.id: p.tag for p in PROPERTIES.values() if p.tag} == {
        "batch-dims": "batched", "stability": "stability", "mask": "mask"}
    assert {p.id for p in PROPERTIES.values() if p.derives} == {
        "permutation-equivariance", "causal-future"}
