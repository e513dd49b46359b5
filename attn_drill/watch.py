"""The practice loop's inputs: single keys from the terminal and saves of the learner's file.

Both run in daemon threads and put events on one queue, so the loop in the main thread waits
on a single `queue.get` whatever happens first.

- `raw_terminal` switches the terminal to non-canonical mode without echo and without
  signal keys, so one key press is one event (no Enter needed) and Ctrl-C arrives as the
  byte 0x03 that the loop treats as "quit" (it must not kill the grader's worker processes,
  which share our process group). Output processing stays on, so printed newlines still
  return the cursor. The previous mode is always restored.
- `FileWatcher` watches the *directory*, not the file: editors that save by writing a
  temporary file and renaming it over the original (vim, many IDEs) replace the inode, and a
  watch on the old inode would go silent after the first save.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class KeyEvent:
    key: str  # a single character ("\x03" is Ctrl-C, "\n" Enter, "\x1b" a lone Escape),
    #           or the name of an arrow key: "up", "down", "left", "right"


@dataclass(frozen=True)
class FileEvent:
    path: Path


Event = KeyEvent | FileEvent

CTRL_C = "\x03"
CTRL_D = "\x04"
ESCAPE = "\x1b"
ARROWS = {b"A": "up", b"B": "down", b"C": "right", b"D": "left"}


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    """Single-key input on `fd` for the duration of the block; restores the old mode."""
    import termios

    try:
        saved = termios.tcgetattr(fd)
    except termios.error:
        yield  # not a terminal after all: nothing to change or restore
        return
    mode = termios.tcgetattr(fd)
    mode[3] &= ~(termios.ICANON | termios.ECHO | termios.ISIG | termios.IEXTEN)
    mode[6][termios.VMIN] = 1
    mode[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, mode)
    try:
        yield
    finally:
        with contextlib.suppress(termios.error):
            # TCSAFLUSH also drops keys typed after we stopped reading, so they do not
            # spill into the shell prompt.
            termios.tcsetattr(fd, termios.TCSAFLUSH, saved)


class KeyReader:
    """Reads single keys from `fd` in a thread and queues them as KeyEvents."""

    def __init__(self, fd: int, events: queue.Queue[Event]) -> None:
        self.fd = fd
        self.events = events
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="attn-drill-keys", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)

    def _readable(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        return bool(ready)

    def _escape_sequence(self) -> str | None:
        """Read the rest of an escape sequence: the arrow key it names, ESCAPE for a lone
        Escape key, None for anything else (function keys, Alt+key)."""
        if not self._readable(0.03):
            return ESCAPE  # a lone Escape key
        if os.read(self.fd, 1) not in (b"[", b"O"):
            return None  # Alt+key: dropped with its key
        body = b""
        while self._readable(0.03):
            final = os.read(self.fd, 1)
            if not final:
                return None
            body += final
            if 0x40 <= final[0] <= 0x7E:  # the byte that ends a CSI sequence
                return ARROWS.get(body)
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._readable(0.1):
                    continue
                data = os.read(self.fd, 1)
            except (OSError, ValueError):
                return
            if not data:  # end of input: the terminal is gone
                self.events.put(KeyEvent(CTRL_D))
                return
            char = data.decode("latin-1")
            if char == ESCAPE:
                # Arrow and function keys arrive as escape sequences (ESC [ A, ESC O P):
                # swallow the sequence so its letters are not taken for commands, but not
                # the keys typed after it.
                try:
                    named = self._escape_sequence()
                except (OSError, ValueError):
                    return
                if named is not None:
                    self.events.put(KeyEvent(named))
                continue
            if char == "\r":
                char = "\n"
            if data[0] >= 0x80:
                continue  # part of a multi-byte character: no command uses one
            self.events.put(KeyEvent(char))


class FileWatcher:
    """Queues a FileEvent whenever a file named in `targets` inside `directory` is saved.

    The set of watched names can change while it runs (`set_target`), so moving on to the
    next problem in the same workspace needs no new watcher.
    """

    def __init__(self, directory: Path, events: queue.Queue[Event], *,
                 debounce_ms: int = 300, step_ms: int = 50) -> None:
        self.directory = directory
        self.events = events
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self._target: str | None = None
        # Files of problems left earlier in the session: their saves are reported (the loop
        # says they are not graded) instead of vanishing.
        self._earlier: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="attn-drill-watch", daemon=True)
        self.error: str | None = None

    def set_target(self, path: Path) -> None:
        with self._lock:
            if self._target is not None and self._target != path.name:
                self._earlier.add(self._target)
            self._target = path.name
            self._earlier.discard(path.name)

    def _wanted(self, _change: object, raw_path: str) -> bool:
        name = Path(raw_path).name
        with self._lock:
            return (self._target is not None and name == self._target) or name in self._earlier

    def start(self) -> None:
        self._thread.start()
        # Saves made before the watch is registered would be missed; wait (bounded) for it.
        self._ready.wait(timeout=5.0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        try:
            from watchfiles import watch

            iterator = watch(
                self.directory,
                watch_filter=self._wanted,
                debounce=self.debounce_ms,
                step=self.step_ms,
                stop_event=self._stop,
                rust_timeout=200,
                yield_on_timeout=True,
                recursive=False,
                raise_interrupt=False,
            )
            for changes in iterator:
                self._ready.set()
                for _change, raw_path in sorted(changes, key=lambda item: item[1]):
                    self.events.put(FileEvent(Path(raw_path)))
        except Exception as exc:  # the loop still works with `g`; it says saves are not seen
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._ready.set()


def stdin_is_terminal() -> bool:
    """True when a person types at this process (practice and the quiz ask this)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):  # replaced or closed stdin
        return False
