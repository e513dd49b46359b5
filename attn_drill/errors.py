"""Domain exceptions and the exit codes they map to (see CONTRACT.md).

Every failure the CLI reports is one of these; `cli.py` owns the single place that turns
them into a message and an exit code. Anything else escaping a command is a bug (exit 3).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the command ran; the outcome is negative (submission failed, refused overwrite)
    USAGE = 2  # unknown id/track, missing file, bad flag, missing optional dependency, bad YAML
    INTERNAL = 3  # a bug in attn-drill itself


class AttnDrillError(Exception):
    """Base of every error attn-drill reports to the user without a traceback."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(AttnDrillError):
    exit_code = ExitCode.USAGE


class UnknownProblemError(UsageError):
    pass


class UnknownTrackError(UsageError):
    pass


class MissingFileError(UsageError):
    pass


class MissingDependencyError(UsageError):
    pass


class PackError(UsageError):
    """A problem or quiz YAML file is unreadable or does not match the schema."""


class RefusedError(AttnDrillError):
    """The command ran but declined to act (e.g. `start` would overwrite a file)."""

    exit_code = ExitCode.FAILED


class StoreError(UsageError):
    """The progress database cannot be used as it is (corrupt, unreadable, too new)."""


TORCH_INSTALL_HINT = (
    "This problem's torch track needs PyTorch. Install it with: "
    "pip install 'attn-drill[torch]'  (for a small CPU-only build, install torch first: "
    "pip install torch --index-url https://download.pytorch.org/whl/cpu)"
)


def require_torch() -> None:
    """Raise a friendly MissingDependencyError when torch is not importable."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise MissingDependencyError(TORCH_INSTALL_HINT)
