"""`attn-drill --help` against the --help of a minimal one-command Typer app.

Target: attn-drill's --help within 1.3x of the minimal app's (both render Typer's rich help).
Run: python benchmarks/bench_help.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import report, time_command

MINIMAL_APP = '''
import typer

app = typer.Typer()


@app.command()
def hello(name: str = "world") -> None:
    """Say hello."""
    typer.echo(name)


if __name__ == "__main__":
    app()
'''


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app_path = Path(tmp) / "minimal_app.py"
        app_path.write_text(MINIMAL_APP)
        python = sys.executable
        script = shutil.which("attn-drill")
        ours = [script, "--help"] if script else [python, "-m", "attn_drill", "--help"]
        rows = [
            ("python -c pass", time_command([python, "-c", "pass"])),
            ("python -c 'import typer, rich'", time_command([python, "-c", "import typer, rich"])),
            ("minimal Typer app --help", time_command([python, str(app_path), "--help"])),
            ("attn-drill --help", time_command(ours)),
        ]
    report(rows, [("attn-drill --help / minimal app --help", rows[3][1] / rows[2][1], 1.3)])


if __name__ == "__main__":
    main()
