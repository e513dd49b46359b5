"""Reading a submission file safely: what CONTRACT.md calls "What a submission file may be".

A submission path comes from whoever hands in the file, so it may be a symlink to /dev/zero
(endless), a FIFO (blocks forever on open), a huge file, or bytes in a legacy encoding. This
module is the one place that opens it: symlinks are followed, then only a regular file of at
most `MAX_SUBMISSION_BYTES` is read, without ever blocking; Python sources are decoded the way
the interpreter decodes them (UTF-8, or the PEP 263 coding line), text answers as UTF-8 or
UTF-16 with a byte-order mark. File names are shown with undecodable bytes escaped, so a JSON
document or a terminal never receives raw bytes that are not UTF-8.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from attn_drill.errors import MissingFileError

MAX_SUBMISSION_BYTES = 64 << 20
_READ_CHUNK = 1 << 20


def shown_path(path: Path | str) -> str:
    """`path` as printable text: bytes that are not UTF-8 become `\\xNN` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def path_from_shown(text: str) -> Path:
    """The path `shown_path` turned into `text` (its `\\xNN` escapes undone), when that file
    exists; else `text` as it is."""
    if "\\x" in text and not os.path.exists(text):
        try:
            raw = text.encode("utf-8").decode("unicode_escape").encode("latin-1")
        except (UnicodeError, ValueError):
            return Path(text)
        if os.path.exists(raw):
            return Path(os.fsdecode(raw))
    return Path(text)


def read_submission_bytes(path: Path | str) -> bytes:
    """The bytes of a submission file, or MissingFileError (exit 2) saying why not.

    The file is opened with O_NONBLOCK (a FIFO never blocks the grader) and O_NOCTTY (a
    terminal never becomes ours), and its type is checked on the open descriptor, so a file
    swapped for a device between a check and the read is still refused.
    """
    shown = shown_path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise MissingFileError(f"No such file: {shown}") from None
    except IsADirectoryError:  # Windows refuses to open a directory
        raise MissingFileError(f"{shown} is a directory; pass your solution file.") from None
    except OSError as exc:
        if exc.errno is not None and exc.errno == getattr(os, "ELOOP", None):
            raise MissingFileError(f"Cannot read {shown}: a loop of symbolic links.") from None
        raise MissingFileError(f"Cannot read {shown}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise MissingFileError(f"{shown} is a directory; pass your solution file.")
        if not stat.S_ISREG(info.st_mode):
            raise MissingFileError(
                f"{shown} is not a regular file (it is a {_kind(info.st_mode)}); pass the "
                "file that holds your solution.")
        if info.st_size > MAX_SUBMISSION_BYTES:
            raise MissingFileError(_too_large(shown))
        chunks: list[bytes] = []
        total = 0
        while True:
            try:
                chunk = os.read(fd, _READ_CHUNK)
            except BlockingIOError:  # a regular file never does this; be safe anyway
                break
            except OSError as exc:
                raise MissingFileError(f"Cannot read {shown}: {exc.strerror or exc}") from None
            if not chunk:
                break
            total += len(chunk)
            if total > MAX_SUBMISSION_BYTES:  # it grew while we read it
                raise MissingFileError(_too_large(shown))
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _too_large(shown: str) -> str:
    return (f"{shown} is larger than {MAX_SUBMISSION_BYTES >> 20} MiB; a solution file is "
            "far smaller.")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def decode_python_source(data: bytes, shown: str) -> str:
    """Decode as the interpreter does: a UTF-8 BOM, else the PEP 263 coding line, else UTF-8.

    Newlines are kept as they are (the header line and the syntax tree only need the text).
    """
    import io
    import tokenize

    def undecodable(named: str) -> MissingFileError:
        return MissingFileError(
            f"Cannot read {shown}: it is not valid {named} text (save it as UTF-8, or declare "
            "its encoding on the first or second line: `# -*- coding: latin-1 -*-`).")

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:  # bytes that are not UTF-8 in the first lines, or a bad cookie
        message = str(exc.msg)
        if message.startswith("invalid or missing encoding"):
            raise undecodable("UTF-8") from None
        raise MissingFileError(f"Cannot read {shown}: {message}.") from None
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise undecodable("UTF-8" if encoding in ("utf-8", "utf-8-sig") else encoding) from None
    return text.removeprefix("\ufeff")


def decode_text_answer(data: bytes, shown: str) -> str:
    """A Markdown/plain-text answer: UTF-8 (with or without a BOM), UTF-16 with a BOM, or
    GB 18030 (older Chinese editors save in it)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    else:
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                continue
    raise MissingFileError(f"Cannot read {shown}: it is not UTF-8 (or UTF-16) text.")


def read_submission(path: Path | str, *, text_answer: bool = False) -> str:
    """The submission's text (see the module doc); MissingFileError (exit 2) otherwise."""
    data = read_submission_bytes(path)
    shown = shown_path(path)
    return decode_text_answer(data, shown) if text_answer else decode_python_source(data, shown)
