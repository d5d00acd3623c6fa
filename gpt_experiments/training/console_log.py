"""``train.log``: the run's console saved in its folder, as the terminal finally shows it.

Everything printed goes to the console as before and to the log. Progress bars redraw
themselves in place, tqdm with carriage returns, rich by moving the cursor up over its lines
and erasing them; the log keeps what the terminal ends up showing, not every redraw, by
playing those controls on a few lines kept in memory before they are written. Colours and
other escape codes are left out of the file.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from lightning.pytorch.utilities import rank_zero_only

CONSOLE_LOG = "train.log"
# Lines a redraw may still move back over (a rich progress display is a few lines tall).
REWRITABLE_LINES = 50
# A control sequence: ESC [ parameters, then a letter (cursor moves, erasing, colours).
_CONTROL = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")
_OTHER_ESCAPE = re.compile(r"\x1b[^\[]")
_PIECES = re.compile(r"(\x1b\[[0-9;?]*[A-Za-z]|\r\n|\r|\n)")


class ScreenLines:
    """Text as a terminal would finally show it: ``\\r`` and ``ESC[2K`` clear the line (a redraw
    always rewrites a whole line), ``ESC[nA`` goes up n lines; lines too far up to be reached
    again are handed to ``write``."""

    def __init__(self, write: Any) -> None:
        self._write = write
        self.lines = [""]
        self.row = 0

    def feed(self, text: str) -> None:
        for piece in _PIECES.split(_OTHER_ESCAPE.sub("", text)):
            if piece in ("\n", "\r\n"):
                self.row += 1
                if self.row == len(self.lines):
                    self.lines.append("")
            elif piece == "\r":
                self.lines[self.row] = ""
            elif control := _CONTROL.fullmatch(piece):
                self._control(*control.groups())
            elif piece:
                self.lines[self.row] += piece
        self._write_lines(len(self.lines) - 1 - REWRITABLE_LINES)

    def _control(self, parameter: str, command: str) -> None:
        if command == "A":  # cursor up
            self.row = max(0, self.row - int(parameter or 1))
        elif command == "K":  # erase the line
            self.lines[self.row] = ""
        # colours (m), cursor show/hide (h, l) and the rest change no text

    def _write_lines(self, count: int) -> None:
        if count <= 0:
            return
        self._write("".join(line + "\n" for line in self.lines[:count]))
        del self.lines[:count]
        self.row = max(0, self.row - count)

    def close(self) -> None:
        """Write what is left; an unfinished last line is written as a line."""
        if self.lines[-1] == "":
            self.lines.pop()
        self._write_lines(len(self.lines))
        self.lines, self.row = [""], 0


class ConsoleCopy:
    """A stand-in for ``sys.stdout`` or ``sys.stderr`` that also feeds what it is given to a log.
    Everything else (``isatty``, ``fileno``, ``encoding``) is the console's, so libraries that
    check for a terminal behave as before."""

    def __init__(self, console: TextIO, screen: ScreenLines) -> None:
        self.console = console
        self.screen = screen

    def write(self, text: str) -> int:
        self.screen.feed(text)
        return self.console.write(text)

    def flush(self) -> None:
        self.console.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


def stream_handlers() -> list[logging.StreamHandler]:
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    handlers = (h for lg in loggers if isinstance(lg, logging.Logger) for h in lg.handlers)
    return [h for h in handlers if isinstance(h, logging.StreamHandler)]


@contextlib.contextmanager
def console_saved_to(path: Path) -> Iterator[None]:
    """Copy stdout, stderr and the logging handlers that write to them into ``path`` (appended
    to: a resumed run adds its leg) while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    log = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed below, whatever happens)
    writing = True

    def write(text: str) -> None:
        nonlocal writing
        if not writing:
            return
        try:
            log.write(text)
            log.flush()  # a crash or a kill keeps what was printed before it
        except OSError:  # a full disk: the console goes on, the log stops where it was cut
            writing = False

    screen = ScreenLines(write)
    originals = {"stdout": sys.stdout, "stderr": sys.stderr}
    copies = {name: ConsoleCopy(stream, screen) for name, stream in originals.items()}
    # Logging handlers hold the stream they were given when logging was configured.
    moved = [(h, h.stream) for h in stream_handlers() if h.stream in originals.values()]
    sys.stdout, sys.stderr = copies["stdout"], copies["stderr"]
    for handler, stream in moved:
        handler.setStream(copies["stdout" if stream is originals["stdout"] else "stderr"])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = originals["stdout"], originals["stderr"]
        for handler, stream in moved:
            handler.setStream(stream)
        screen.close()
        with contextlib.suppress(OSError):  # what a full disk kept in the buffer is lost
            log.close()


def console_saved_in(run_dir: str | Path) -> contextlib.AbstractContextManager[None]:
    """``train.log`` in the run folder, written by rank zero only: the other processes of a
    multi-device run print what rank zero prints, or nothing."""
    if rank_zero_only.rank != 0:
        return contextlib.nullcontext()
    return console_saved_to(Path(run_dir) / CONSOLE_LOG)
