"""What a command writes on stderr while it runs: the progress line, log records (one line
each, ``gpuhash: <level>: <message>``) and one-line errors, each clearing the progress line
first."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from gpuhash.cli.output import PROG, human, printable

#: Below this many bytes in total no progress bar is shown.
PROGRESS_MIN_BYTES = 64 << 20
#: Seconds between two redraws of the progress bar.
PROGRESS_INTERVAL = 0.1


def _terminal_width(stream: TextIO) -> int:
    """The width of the terminal ``stream`` writes to (stdout may be redirected meanwhile)."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = 0
    if columns <= 0:  # unknown (a pty without a size): $COLUMNS, else 80
        columns = shutil.get_terminal_size().columns
    return columns if columns > 0 else 80


class Progress:
    """A single-line progress bar: bytes done / total, percentage, rate. ``__call__`` is the
    ``progress(done, total)`` callback of ``hash_path``; it draws nothing while the total is
    below ``min_total`` and redraws at most once per ``interval`` seconds. ``close`` clears
    the line."""

    def __init__(
        self,
        total: int,
        stream: TextIO,
        *,
        interval: float = PROGRESS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        width: int | None = None,
        min_total: int = 0,
    ) -> None:
        self.total = total
        self.min_total = min_total
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self.width = width if width is not None else _terminal_width(stream)
        self.start = clock()
        self.last_draw: float | None = None
        self.shown = 0  # characters on the line now
        self.done = 0
        #: What the line says instead of the bar until bytes move again (a kernel build).
        self.status_text: str | None = None
        # Called from hashing threads (oms signing) and log handlers as well as this one.
        self._lock = threading.RLock()

    def __call__(self, done: int, total: int | None = None) -> None:
        with self._lock:
            if total is not None:
                self.total = total
            if self.status_text is not None and done > self.done:
                self.status_text = None  # hashing goes on: back to the bar
            if self.total < self.min_total:
                return
            self.done = done
            now = self.clock()
            if (
                self.last_draw is not None
                and now - self.last_draw < self.interval
                and done < self.total
            ):
                return
            self.last_draw = now
            self._draw(now)

    def status(self, text: str) -> None:
        """Show ``text`` on the line (whatever the total) until the bar moves again."""
        with self._lock:
            self.status_text = text
            self._write(printable(text)[: max(self.width - 1, 0)])

    def line(self, now: float) -> str:
        """The bar's text at time ``now``, fitted to the width."""
        done = min(self.done, self.total)
        fraction = done / self.total if self.total else 1.0
        elapsed = now - self.start
        rate = f"{human(done / elapsed)}/s" if elapsed > 0 and done else "--/s"
        text = f"{human(done)} / {human(self.total)}  {fraction * 100:3.0f}%  {rate}"
        room = self.width - 1 - len(text) - 3
        if room >= 10:
            bar = min(room, 30)
            filled = int(bar * fraction)
            text = f"[{'#' * filled}{'.' * (bar - filled)}] {text}"
        return text[: max(self.width - 1, 0)]

    def _draw(self, now: float) -> None:
        self._write(self.line(now))

    def _write(self, text: str) -> None:
        pad = " " * max(self.shown - len(text), 0)
        self.stream.write(f"\r{text}{pad}")
        self.stream.flush()
        self.shown = len(text)

    def close(self) -> None:
        """Clear the line (a later call draws it again)."""
        with self._lock:
            if self.shown:
                self.stream.write("\r" + " " * self.shown + "\r")
                self.stream.flush()
                self.shown = 0


#: ``--log-level`` names.
LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class LineFormatter(logging.Formatter):
    """``gpuhash: <level>: <message>``, one line (no traceback below DEBUG)."""

    def __init__(self, tracebacks: bool) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line, with its traceback below it when ``tracebacks`` is set."""
        text = " ".join(record.getMessage().split())
        line = f"{PROG}: {record.levelname.lower()}: {printable(text)}"
        if self.tracebacks and record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class StderrHandler(logging.Handler):
    """Log records on the current ``sys.stderr`` (tests replace it), clearing the progress
    line first; records marked ``status`` also become the progress line's text."""

    def __init__(self, level: int) -> None:
        super().__init__(logging.DEBUG)
        self.shown_level = level
        self.progress: Progress | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record`` if it is at the shown level or above; show a status record."""
        try:
            progress = self.progress
            if record.levelno >= self.shown_level:
                if progress is not None:
                    progress.close()
                sys.stderr.write(self.format(record) + "\n")
                sys.stderr.flush()
            if progress is not None and getattr(record, "status", False):
                progress.status(record.getMessage())
        except Exception:
            self.handleError(record)


#: The handler of the running command (``log_to_stderr``), which knows its progress line.
_handler: StderrHandler | None = None


def log_level(args: argparse.Namespace) -> int:
    """The least severe level shown: ``--log-level``, else by ``-v`` count (warning, info,
    debug)."""
    if args.log_level is not None:
        return LOG_LEVELS[args.log_level]
    return {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)


@contextlib.contextmanager
def log_to_stderr(level: int) -> Iterator[None]:
    """Log records of every ``gpuhash...`` logger to stderr from ``level`` up, while the
    command runs (the library itself configures no handler)."""
    global _handler
    logger = logging.getLogger(PROG)
    handler = StderrHandler(level)
    handler.setFormatter(LineFormatter(tracebacks=level <= logging.DEBUG))
    saved = (logger.level, logger.propagate)
    # INFO reaches the handler even when not shown: kernel builds are the progress line's.
    logger.setLevel(min(level, logging.INFO))
    logger.propagate = False
    logger.addHandler(handler)
    _handler = handler
    try:
        yield
    finally:
        _handler = None
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def start_progress(args: argparse.Namespace) -> Progress | None:
    """The progress line for a long command: with ``--progress``, or when stderr is a
    terminal (then only for inputs of ``PROGRESS_MIN_BYTES`` or more); never with
    ``--no-progress``."""
    wanted = getattr(args, "progress", None)
    if wanted is False or (wanted is None and not sys.stderr.isatty()):
        return None
    progress = Progress(0, sys.stderr, min_total=0 if wanted else PROGRESS_MIN_BYTES)
    if _handler is not None:
        _handler.progress = progress
    return progress


def end_progress(progress: Progress | None) -> None:
    """Clear the line of ``start_progress`` (none: nothing to do); log records no longer
    touch it."""
    if progress is not None:
        progress.close()
        if _handler is not None and _handler.progress is progress:
            _handler.progress = None


#: The longest error line written (characters, before the prefix); a longer one loses its middle.
MAX_ERROR_CHARS = 8192


def error(message: str) -> None:
    """``gpuhash: error: <message>``, one line on stderr, after clearing the progress line."""
    message = message or "unknown error"
    if _handler is not None and _handler.progress is not None:
        _handler.progress.close()
    text = printable(message)
    if len(text) > MAX_ERROR_CHARS:  # whatever a message quotes, the line stays readable
        cut = len(text) - MAX_ERROR_CHARS
        text = f"{text[: MAX_ERROR_CHARS - 1024]} [... {cut} characters ...] {text[-1024:]}"
    sys.stderr.write(f"{PROG}: error: {text}\n")
    sys.stderr.flush()
