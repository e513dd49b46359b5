from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attn_drill.cli import app
from tests.conftest import run_cli

runner = CliRunner()


def test_every_command_has_help_text() -> None:
    import typer.main

    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        assert command.help, f"{name} has no help text"
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == "attn-drill 0.1.0"


def test_list_json_has_contract_fields() -> None:
    result = runner.invoke(app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {"id", "title", "topic", "difficulty", "tracks", "status"} <= set(rows[0])
    assert any(row["id"] == "softmax" for row in rows)


@pytest.mark.parametrize(
    "args",
    [["show", "no-such-problem"], ["list", "--track", "jax"], ["list", "--status", "done"],
     ["show", "softmax", "--lang", "fr"], ["start", "softmax", "--track", "torch"]],
)
def test_usage_errors_exit_2_without_traceback(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_start_writes_header_and_refuses_overwrite(tmp_path: Path) -> None:
    result = runner.invoke(app, ["start", "softmax", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    path = tmp_path / "softmax.py"
    text = path.read_text()
    assert text.splitlines()[0] == "# attn-drill: softmax"
    assert "raise NotImplementedError" in text
    assert "attn-drill grade" in result.output
    path.write_text("# my work\n")
    again = runner.invoke(app, ["start", "softmax", "--dir", str(tmp_path)])
    assert again.exit_code == 1
    assert path.read_text() == "# my work\n"
    forced = runner.invoke(app, ["start", "softmax", "--dir", str(tmp_path), "--force"])
    assert forced.exit_code == 0
    assert "NotImplementedError" in path.read_text()


def test_config_lang_is_saved_and_used() -> None:
    assert runner.invoke(app, ["config", "lang", "zh"]).exit_code == 0
    assert runner.invoke(app, ["config", "lang"]).output.strip() == "zh"
    shown = runner.invoke(app, ["show", "softmax"])
    assert "数值稳定" in shown.output
    bad = runner.invoke(app, ["config", "lang", "fr"])
    assert bad.exit_code == 2


def test_lang_fallback_order(monkeypatch: pytest.MonkeyPatch) -> None:
    from attn_drill.settings import resolve_lang

    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert resolve_lang() == "zh"
    monkeypatch.setenv("ATTN_DRILL_LANG", "en")
    assert resolve_lang() == "en"
    assert resolve_lang("zh") == "zh"


def test_python_dash_m_runs_as_subprocess() -> None:
    result = run_cli("list", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)


def test_help_does_not_import_heavy_modules() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.argv=['attn-drill','--help']\n"
        "from attn_drill.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy=[m for m in ('torch','numpy','pydantic','yaml') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in out.stderr, out.stderr


def test_config_without_a_key_lists_every_setting() -> None:
    from attn_drill.settings import KNOWN_KEYS

    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    assert "lang = " in result.stdout and "not saved" in result.stdout
    assert len(result.stdout.splitlines()) == len(KNOWN_KEYS)
    assert runner.invoke(app, ["config", "lang", "zh"]).exit_code == 0
    listed = runner.invoke(app, ["config"]).stdout
    assert "lang = zh   (saved; one of en, zh)" in listed
