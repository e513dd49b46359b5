"""Where attn-drill keeps its data, and which language it speaks.

One place decides the data directory (`ATTN_DRILL_HOME`, else the platform's user data dir)
and the content language (CONTRACT.md: flag > saved setting > ATTN_DRILL_LANG > LANG > en).
Settings are a small JSON file so reading them costs nothing at start-up.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from attn_drill.errors import UsageError

LANGS = ("en", "zh")
SETTINGS_FILE = "settings.json"
KNOWN_KEYS = {"lang": LANGS}


def data_home() -> Path:
    """The directory holding progress and settings (created on first use)."""
    override = os.environ.get("ATTN_DRILL_HOME")
    if override:
        home = Path(override).expanduser()
    else:
        from platformdirs import user_data_path

        home = user_data_path("attn-drill", appauthor=False)
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"Cannot use {home} as the attn-drill data directory ({exc.strerror or exc}); "
            "set ATTN_DRILL_HOME to a writable directory."
        ) from None
    if not home.is_dir():
        raise UsageError(f"ATTN_DRILL_HOME points at {home}, which is not a directory.")
    return home


def _settings_path() -> Path:
    return data_home() / SETTINGS_FILE


def load_settings() -> dict[str, str]:
    path = _settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        # A damaged settings file must not stop the learner; defaults apply and `config`
        # rewrites it on the next save.
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def get_setting(key: str) -> str | None:
    _check_key(key)
    return load_settings().get(key)


def set_setting(key: str, value: str) -> None:
    _check_key(key)
    allowed = KNOWN_KEYS[key]
    if value not in allowed:
        raise UsageError(f"Invalid value {value!r} for {key}: choose one of {', '.join(allowed)}.")
    settings = load_settings()
    settings[key] = value
    path = _settings_path()
    # Write-then-rename so an interrupted save never leaves a half-written file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".settings-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(settings, handle, indent=2, ensure_ascii=False)
    os.replace(tmp, path)


def _check_key(key: str) -> None:
    if key not in KNOWN_KEYS:
        raise UsageError(f"Unknown setting {key!r}: known settings are {', '.join(KNOWN_KEYS)}.")


def resolve_lang(explicit: str | None = None) -> str:
    """The content language, following the contract's fallback order."""
    if explicit is not None:
        if explicit not in LANGS:
            raise UsageError(f"Unknown language {explicit!r}: use one of {', '.join(LANGS)}.")
        return explicit
    saved = load_settings().get("lang")
    if saved in LANGS:
        return saved
    env_lang = os.environ.get("ATTN_DRILL_LANG")
    if env_lang in LANGS:
        return env_lang
    if os.environ.get("LANG", "").lower().startswith("zh"):
        return "zh"
    return "en"
