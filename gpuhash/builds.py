"""Native builds (kernel compilation) that announce themselves and can be interrupted.

A device backend's first launch compiles its kernels in native code: tens of seconds on a CPU
OpenCL runtime, during which the thread that called the compiler runs no Python code, so a
Ctrl-C would be noticed only when the build ends. :func:`run_build` runs the build on a daemon
thread and waits for it in short steps, so:

* in the main thread, a ``KeyboardInterrupt`` ends the wait at once (the build is left to
  finish, unobserved, on its own thread);
* in any other thread (the engine's dispatchers), the wait ends with ``BuildCancelled`` once
  :func:`cancel` was called (the ``gpuhash`` command does that on SIGINT);
* the build is logged at INFO on logger ``gpuhash.builds`` before it starts (that record
  carries ``status=True``: the command's progress display shows it as its line until bytes
  move) and when it ends.

:func:`running` says whether builds are still running, so that a command being interrupted can
end the process at once rather than wait for a compiler that cannot be stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from gpuhash.errors import BackendError

__all__ = ["BuildCancelled", "cancel", "cancelled", "reset", "run_build", "running"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds between two checks for a cancellation while a build runs.
POLL = 0.1

_cancelled = threading.Event()
_lock = threading.Lock()
_running = 0


class BuildCancelled(BackendError):
    """The build was waited for no longer: the command is being interrupted."""


def cancel() -> None:
    """Make every wait in :func:`run_build` (and every build about to start) end with
    ``BuildCancelled``; safe to call from a signal handler."""
    _cancelled.set()


def cancelled() -> bool:
    return _cancelled.is_set()


def reset() -> None:
    """Allow builds again after :func:`cancel` (a new command in the same process)."""
    _cancelled.clear()


def running() -> int:
    """How many builds are running now (waited for or abandoned)."""
    with _lock:
        return _running


def run_build(description: str, build: Callable[[], T]) -> T:
    """``build()``, run on a daemon thread while this thread waits in steps of ``POLL``
    seconds; ``description`` (``"building opencl kernels for <device>"``) is logged at INFO
    before and after. Exceptions of ``build`` are raised here."""
    global _running
    if _cancelled.is_set():
        raise BuildCancelled(f"{description}: interrupted")
    result: list[T] = []
    error: list[BaseException] = []
    done = threading.Event()

    def target() -> None:
        global _running
        try:
            result.append(build())
        except BaseException as e:  # handed to the waiting thread
            error.append(e)
        finally:
            with _lock:
                _running -= 1
            done.set()

    log.info("%s...", description, extra={"status": True})
    start = time.monotonic()
    with _lock:
        _running += 1
    threading.Thread(target=target, name="gpuhash-build", daemon=True).start()
    while not done.wait(POLL):
        if _cancelled.is_set():
            raise BuildCancelled(f"{description}: interrupted")
    if error:
        raise error[0]
    log.info("%s: done in %.1f s", description, time.monotonic() - start, extra={"status": True})
    return result[0]
