"""The practice loop's inputs: single keys, terminal mode, and the file watcher."""

from __future__ import annotations

import os
import queue
import time
from pathlib import Path
from typing import Any

import pytest

from attn_drill.watch import FileEvent, FileWatcher, KeyEvent, KeyReader, raw_terminal


def _drain(events: queue.Queue[Any], count: int, timeout: float = 5.0) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        try:
            got.append(events.get(timeout=max(0.01, deadline - time.monotonic())))
        except queue.Empty:
            break
    return got


def test_key_reader_turns_bytes_into_keys_and_names_arrows() -> None:
    read_fd, write_fd = os.pipe()
    events: queue.Queue[Any] = queue.Queue()
    reader = KeyReader(read_fd, events)
    reader.start()
    try:
        # h, Up arrow (ESC [ A), Enter as CR, F1 (ESC O P), Ctrl-C, then q
        os.write(write_fd, b"h\x1b[A\r\x1bOP\x03q")
        keys = [event.key for event in _drain(events, 5)]
    finally:
        reader.stop()
        os.close(write_fd)
        os.close(read_fd)
    # The arrow is named (the list moves with it); F1's letters never become commands.
    assert keys == ["h", "up", "\n", "\x03", "q"]


def test_key_reader_reports_end_of_input_as_quit() -> None:
    read_fd, write_fd = os.pipe()
    events: queue.Queue[Any] = queue.Queue()
    reader = KeyReader(read_fd, events)
    reader.start()
    os.close(write_fd)
    try:
        assert _drain(events, 1) == [KeyEvent("\x04")]
    finally:
        reader.stop()
        os.close(read_fd)


def test_raw_terminal_disables_line_mode_and_signals_then_restores() -> None:
    import pty
    import termios

    leader, follower = pty.openpty()
    try:
        before = termios.tcgetattr(follower)
        assert before[3] & termios.ICANON
        with raw_terminal(follower):
            during = termios.tcgetattr(follower)
            assert not during[3] & (termios.ICANON | termios.ECHO | termios.ISIG)
            assert during[1] & termios.OPOST  # newlines still return the cursor
        assert termios.tcgetattr(follower) == before
        # Restored even when the block fails.
        with pytest.raises(RuntimeError), raw_terminal(follower):
            raise RuntimeError("boom")
        assert termios.tcgetattr(follower) == before
    finally:
        os.close(leader)
        os.close(follower)


def test_raw_terminal_on_a_pipe_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a pipe nothing is switched (no tcsetattr) and data passes through unchanged."""
    import termios

    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(termios, "tcsetattr", lambda *args: calls.append(args))
    read_fd, write_fd = os.pipe()
    entered = False
    try:
        with raw_terminal(read_fd):
            entered = True
            os.write(write_fd, b"ab\n")
            assert os.read(read_fd, 16) == b"ab\n"
        assert entered and calls == []
        os.write(write_fd, b"q")
        assert os.read(read_fd, 1) == b"q"  # the descriptor still works afterwards
    finally:
        os.close(read_fd)
        os.close(write_fd)


def _atomic_save(path: Path, text: str) -> None:
    """Save the way vim and many IDEs do: write a temporary file, rename it over the target."""
    tmp = path.with_name(f".{path.name}.swp-tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_watcher_sees_plain_and_atomic_saves_of_the_target_only(tmp_path: Path) -> None:
    target = tmp_path / "softmax.py"
    target.write_text("v0")
    events: queue.Queue[Any] = queue.Queue()
    watcher = FileWatcher(tmp_path, events, debounce_ms=200, step_ms=30)
    watcher.set_target(target)
    watcher.start()
    try:
        assert watcher.error is None
        (tmp_path / "other.py").write_text("not watched")
        target.write_text("v1")
        first = _drain(events, 1)
        assert first and all(isinstance(e, FileEvent) and e.path.name == "softmax.py"
                             for e in first)
        _drain(events, 10, timeout=0.5)  # let the first save settle
        # Several atomic replacements: the inode changes every time, saves keep arriving.
        for version in range(2, 4):
            _atomic_save(target, f"v{version}")
            got = _drain(events, 1)
            assert got and got[0].path.name == "softmax.py", version
            _drain(events, 10, timeout=0.4)
        # Switching target: the new file is watched, and saves of the old one still come
        # through (the loop says they are not graded) while unrelated files never do.
        new_target = tmp_path / "sdpa.py"
        watcher.set_target(new_target)
        new_target.write_text("new")
        got = _drain(events, 1)
        assert got and got[0].path.name == "sdpa.py"
        _drain(events, 10, timeout=0.4)
        target.write_text("v9")
        (tmp_path / "other.py").write_text("still not watched")
        got = _drain(events, 1, timeout=30.0)  # generous: the machine may be busy
        got += _drain(events, 10, timeout=0.5)
        assert {e.path.name for e in got} == {"softmax.py"}, got
    finally:
        watcher.stop()
