"""The ``gpuhash`` command line.

    gpuhash digest PATH [options]          one line: <algorithm-id>:<hex artifact digest>
    gpuhash hash PATH [options] [--json] [-o FILE]
    gpuhash backends [--json]
    gpuhash selftest BACKEND [--device DEV] [--quick] [--compile-only] [--json]
    gpuhash sign key|certificate|sigstore MODEL --signature OUT [options]
    gpuhash verify key|certificate|sigstore MODEL --signature SIG [options]
    gpuhash check MANIFEST [MODEL] [options]  MODEL against an unsigned manifest

Global options (before or after the command): ``-v`` (INFO: which backend ``auto`` chose and
why it left the others out, kernel builds), ``-vv`` (DEBUG), ``--log-level LEVEL``; log records
are one line each on stderr, ``gpuhash: <level>: <message>`` (default level: warning).
``--progress``/``--no-progress``: the progress line on stderr (default: when stderr is a
terminal), which also says when kernels are being built.

Errors are one line on stderr, ``gpuhash: error: <message>``, with exit status 2 (as for usage
errors); a signature that does not verify (or a model that differs from its manifest) exits
with 1; an interrupt exits with 130. Options follow model_signing's spellings too (see the
conventions in ``gpuhash.cli.options``). Heavy modules (numpy, protobuf, backends, cryptography)
are imported only by the command that needs them.

Other distributions add commands through the entry-point group ``gpuhash.commands``
(``gpuhash.cli.plugins``), as gpuhash-conformance adds ``gpuhash conformance BACKEND``.

One module per job: ``output`` (the program name, exit statuses, text for one display line),
``progress`` (the progress line, log records, error lines), ``options`` (how options are taken,
shared option groups), ``resolve`` (options into library arguments), ``hashing`` and
``signing`` (the commands), ``plugins`` (commands of other distributions), ``parser``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from gpuhash.cli.options import fill_positionals
from gpuhash.cli.output import (
    EXIT_BROKEN_PIPE,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    PROG,
    os_error_message,
)
from gpuhash.cli.parser import build_parser
from gpuhash.cli.progress import error, log_level, log_to_stderr
from gpuhash.errors import GpuhashError

__all__ = ["main"]


def _exit_code(code: object) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


#: Write errors of a full or failing output device.
_FULL = frozenset((errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO))


def _silence_stdout() -> None:
    """After a broken pipe: send what is still buffered nowhere, so exiting does not fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    for stream in (sys.stdout, sys.stderr):
        # Names the terminal cannot encode are escaped rather than ending the command.
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    from gpuhash import builds

    builds.reset()
    previous_sigint = _catch_sigint()
    try:
        try:
            args = parser.parse_args(argv)
            fill_positionals(args)
        except SystemExit as e:  # --help, --version, usage errors (status 2)
            return _exit_code(e.code)
        func: Callable[[argparse.Namespace], int] = args.func
        with log_to_stderr(log_level(args)):
            status = func(args)
        try:
            sys.stdout.flush()
        except OSError as e:
            if isinstance(e, BrokenPipeError):
                raise
            raise OSError(e.errno, f"cannot write: {e.strerror}", "standard output") from None
        return status
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        if builds.running():
            # A kernel compiler is still running in native code, where it cannot be stopped.
            # A normal exit would run the device runtime's library destructors under it
            # (undefined behaviour: it may crash or hang instead of exiting with 130), so the
            # process ends here; atexit handlers do not run (a temporary ICD directory of
            # make_intel_runtime_visible may stay behind in the temporary directory).
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except GpuhashError as e:
        error(str(e) or type(e).__name__)
        return EXIT_ERROR
    except OSError as e:
        if e.filename is None and e.errno in _FULL:
            # Only standard output is written without a name (files go through write_atomic,
            # which names them): say so, and drop what is buffered so exiting does not retry.
            e = OSError(e.errno, f"cannot write: {e.strerror}", "standard output")
        if e.filename == "standard output":
            _silence_stdout()
        error(os_error_message(e))
        return EXIT_ERROR
    finally:
        if previous_sigint is not None:
            signal.signal(signal.SIGINT, previous_sigint)


def _on_sigint(signum: int, frame: object) -> None:
    """Ctrl-C: stop waiting for kernel builds on every thread, then interrupt as usual."""
    from gpuhash import builds

    builds.cancel()
    raise KeyboardInterrupt


def _catch_sigint() -> Any:
    """Install ``_on_sigint`` (main thread, default handler only); returns the one replaced."""
    if threading.current_thread() is not threading.main_thread():
        return None
    current = signal.getsignal(signal.SIGINT)
    if current is not signal.default_int_handler:
        return None  # someone else's handler (an embedding application): left alone
    signal.signal(signal.SIGINT, _on_sigint)
    return current
