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
conventions above ``_hash_options``). Heavy modules (numpy, protobuf, backends, cryptography)
are imported only by the command that needs them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from gpuhash import __version__
from gpuhash.errors import GpuhashError, UsageError

if TYPE_CHECKING:
    from gpuhash.algorithms import Algorithm
    from gpuhash.backend import HashBackend
    from gpuhash.manifest import Manifest

PROG = "gpuhash"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

#: The environment variable ``gpuhash sign`` takes an encrypted private key's password from.
PASSWORD_ENV = "GPUHASH_KEY_PASSWORD"  # noqa: S105 - a variable name, not a password

#: Below this many bytes in total no progress bar is shown.
PROGRESS_MIN_BYTES = 64 << 20
#: Seconds between two redraws of the progress bar.
PROGRESS_INTERVAL = 0.1

#: Digests longer than this (in bytes; the 2048-byte lattice digests) are shortened in tables.
_SHORTEN_OVER = 64


# ---------------------------------------------------------------------------------------------
# Output helpers
# ---------------------------------------------------------------------------------------------


def _printable(text: str) -> str:
    """``text`` with control and other non-printable characters escaped (one display line)."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


def _error(message: str) -> None:
    message = message or "unknown error"
    if _handler is not None and _handler.progress is not None:
        _handler.progress.close()
    sys.stderr.write(f"{PROG}: error: {_printable(message)}\n")
    sys.stderr.flush()


def _os_error_message(e: OSError) -> str:
    if isinstance(e, GpuhashError) or not e.strerror:
        return str(e)
    if e.filename is not None:
        return f"{os.fsdecode(e.filename)}: {e.strerror}"
    return e.strerror


def _ellipsis(stream: TextIO) -> str:
    try:
        "\u2026".encode(stream.encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return "..."
    return "\u2026"


def _short_hex(digest: bytes, ellipsis: str) -> str:
    if len(digest) <= _SHORTEN_OVER:
        return digest.hex()
    h = digest.hex()
    return f"{h[:32]}{ellipsis}{h[-8:]}"


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


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
            self._write(_printable(text)[: max(self.width - 1, 0)])

    def line(self, now: float) -> str:
        done = min(self.done, self.total)
        fraction = done / self.total if self.total else 1.0
        elapsed = now - self.start
        rate = f"{_human(done / elapsed)}/s" if elapsed > 0 and done else "--/s"
        text = f"{_human(done)} / {_human(self.total)}  {fraction * 100:3.0f}%  {rate}"
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


# ---------------------------------------------------------------------------------------------
# Logging and the progress line
# ---------------------------------------------------------------------------------------------

#: ``--log-level`` names.
LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class _LineFormatter(logging.Formatter):
    """``gpuhash: <level>: <message>``, one line (no traceback below DEBUG)."""

    def __init__(self, tracebacks: bool) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        text = " ".join(record.getMessage().split())
        line = f"{PROG}: {record.levelname.lower()}: {_printable(text)}"
        if self.tracebacks and record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _StderrHandler(logging.Handler):
    """Log records on the current ``sys.stderr`` (tests replace it), clearing the progress
    line first; records marked ``status`` also become the progress line's text."""

    def __init__(self, level: int) -> None:
        super().__init__(logging.DEBUG)
        self.shown_level = level
        self.progress: Progress | None = None

    def emit(self, record: logging.LogRecord) -> None:
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


_handler: _StderrHandler | None = None


def _log_level(args: argparse.Namespace) -> int:
    if args.log_level is not None:
        return LOG_LEVELS[args.log_level]
    return {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)


@contextlib.contextmanager
def _logging(level: int) -> Iterator[None]:
    """Log records of every ``gpuhash...`` logger to stderr from ``level`` up, while the
    command runs (the library itself configures no handler)."""
    global _handler
    logger = logging.getLogger(PROG)
    handler = _StderrHandler(level)
    handler.setFormatter(_LineFormatter(tracebacks=level <= logging.DEBUG))
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


def _progress(args: argparse.Namespace) -> Progress | None:
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


def _end_progress(progress: Progress | None) -> None:
    if progress is not None:
        progress.close()
        if _handler is not None and _handler.progress is progress:
            _handler.progress = None


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


def _algorithm(args: argparse.Namespace) -> Algorithm:
    from gpuhash.algorithms import parse_size, resolve_algorithm

    leaf_size = None if args.leaf_size is None else parse_size(args.leaf_size)
    return resolve_algorithm(args.algorithm, leaf_size)


def _check_output_path(output: str) -> None:
    """Fail before hashing, not after, when ``-o`` cannot be written at all."""
    from gpuhash._atomic import check_destination

    check_destination(output)


def _unknown_backend(name: str) -> UsageError:
    """An unknown ``--backend``: which backends work here and how to install the others."""
    from gpuhash.registry import available_backends

    infos = available_backends()
    usable = ", ".join(i.name for i in infos if i.available) or "none"
    message = f"unknown backend {name!r}; available here: {usable} (or 'auto')"
    missing = [f"{i.name} ({i.install})" for i in infos if not i.available and i.install]
    if missing:
        message += f"; not available: {', '.join(missing)}"
    return UsageError(message)


def _hash(args: argparse.Namespace) -> Manifest:
    from gpuhash import api

    algorithm = _algorithm(args)
    walk = _walk(args)
    backend = _chosen_backend(args, algorithm)
    progress = _progress(args)
    try:
        return api.hash_path(
            args.path,
            algorithm=algorithm,
            backend=backend,
            **walk,
            progress=progress,
            use_mmap=not args.no_mmap,
            objects=args.objects or "files",
        )
    finally:
        _end_progress(progress)
        if not isinstance(backend, str):
            backend.close()


def _read_manifest(path: str, what: str) -> Manifest:
    """A manifest written by ``gpuhash hash -o`` (or ``--json``): JSON or protobuf binary."""
    from gpuhash import limits
    from gpuhash.manifest import Manifest, ManifestError

    data = limits.read_limited(path, limits.MAX_MANIFEST_BYTES, what)
    try:
        if data.lstrip()[:1] == b"{":
            return Manifest.from_json(data)
        return Manifest.from_bytes(data)
    except ManifestError as e:
        raise ManifestError(f"{path}: {e}") from None


def _rehash(args: argparse.Namespace) -> Manifest:
    """``gpuhash hash --incremental PREVIOUS``: reuse the unchanged files' digests."""
    from gpuhash import api

    previous = _read_manifest(args.incremental, "previous manifest")
    if args.algorithm is not None or args.leaf_size is not None:
        wanted = _algorithm(args)
        if wanted.id != previous.algorithm.id:
            raise UsageError(
                f"--incremental: the previous manifest uses {previous.algorithm.id}, "
                f"not {wanted.id}"
            )
    backend = _chosen_backend(args, previous.algorithm)
    progress = _progress(args)
    try:
        manifest, report = api.rehash(
            args.path,
            previous,
            backend=backend,
            **_walk(args),
            objects=args.objects,
            full=args.full,
            use_mmap=not args.no_mmap,
            progress=progress,
        )
    finally:
        _end_progress(progress)
        if not isinstance(backend, str):
            backend.close()
    sys.stderr.write(
        f"{PROG}: incremental: {len(report.reused)} objects reused, {len(report.hashed)} "
        f"hashed ({_human(report.hashed_bytes)}), {len(report.removed)} removed\n"
    )
    for name in report.stale:
        sys.stderr.write(
            f"{PROG}: warning: {_printable(name)} changed although its file's size, "
            "modification time and inode did not\n"
        )
    return manifest


def cmd_digest(args: argparse.Namespace) -> int:
    manifest = _hash(args)
    sys.stdout.write(manifest.digest_line() + "\n")
    return EXIT_OK


def _table(manifest: Manifest, stream: TextIO) -> None:
    ellipsis = _ellipsis(stream)
    rows = [
        (_printable(o.name), str(o.size), _short_hex(o.digest, ellipsis)) for o in manifest.objects
    ]
    header = ("NAME", "SIZE", "DIGEST")
    name_w = max([len(header[0])] + [len(r[0]) for r in rows])
    size_w = max([len(header[1])] + [len(r[1]) for r in rows])
    for name, size, digest in [header, *rows]:
        stream.write(f"{name:<{name_w}}  {size:>{size_w}}  {digest}\n")
    stream.write(manifest.digest_line() + "\n")


def cmd_hash(args: argparse.Namespace) -> int:
    if args.output is not None:
        _check_output_path(args.output)
    if args.full and args.incremental is None:
        raise UsageError("--full needs --incremental PREVIOUS")
    # The manifest written (and the previous one read) are never objects of the model itself.
    args.own_files = [args.output, args.incremental]
    manifest = _rehash(args) if args.incremental is not None else _hash(args)
    if args.output is not None:
        from gpuhash._atomic import write_atomic

        if args.output.lower().endswith(".json"):
            data = manifest.to_json().encode("utf-8")
        else:
            data = manifest.to_bytes()
        write_atomic(args.output, data)
    if args.json:
        sys.stdout.write(manifest.to_json())
    else:
        _table(manifest, sys.stdout)
    return EXIT_OK


def _chosen_backend(args: argparse.Namespace, algorithm: Algorithm | None) -> str | HashBackend:
    """``--backend`` (checked) with ``--device`` applied: a name, or an instance to close."""
    from gpuhash.registry import AUTO, get_backend, is_builtin, registered

    if args.backend != AUTO and not is_builtin(args.backend) and args.backend not in registered():
        raise _unknown_backend(args.backend)
    if args.device is None:
        return str(args.backend)
    if args.backend == AUTO:
        raise UsageError("--device needs --backend (the device belongs to one backend)")
    _check_device_option(args.backend)
    return get_backend(args.backend, algorithm=algorithm, device=args.device)


def _check_device_option(name: str) -> None:
    """``--device`` for a backend without a choice of device: a usage error saying so."""
    from gpuhash.registry import backend_class, constructor_options

    takes = constructor_options(backend_class(name))
    if takes is not None and "device" not in takes:
        raise UsageError(f"backend {name!r} has no choice of device; leave out --device")


def _key_password(args: argparse.Namespace) -> str | None:
    """The password of an encrypted ``--private-key``: ``--password``, else $GPUHASH_KEY_PASSWORD,
    else asked for at the terminal; none for a key that is not encrypted."""
    if args.password is not None:
        return str(args.password)
    if args.private_key is None:
        return None
    from gpuhash.signing.methods import private_key_is_encrypted

    if not private_key_is_encrypted(args.private_key):
        return None
    password = os.environ.get(PASSWORD_ENV)
    if password is not None:
        return password
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"password for {_printable(args.private_key)}: ")
    raise UsageError(
        f"{args.private_key}: the private key is encrypted; give its password with "
        f"--password, ${PASSWORD_ENV} or at a terminal"
    )


def cmd_sign(args: argparse.Namespace) -> int:
    from gpuhash import signing
    from gpuhash.algorithms import parse_size

    oms = args.format == "oms"
    algorithm = None if oms else _algorithm(args)
    backend = _chosen_backend(args, algorithm)
    if oms and args.leaf_size is not None:
        raise UsageError("--leaf-size does not apply to --format oms")
    progress = _progress(args)
    try:
        subject = signing.sign(
            args.path,
            args.signature,
            method=args.method,
            private_key=args.private_key,
            password=_key_password(args),
            signing_certificate=args.signing_certificate,
            certificate_chain=args.certificate_chain,
            identity_token=args.identity_token,
            trust_config=args.trust_config,
            oidc_issuer=args.oidc_issuer,
            use_staging=args.use_staging,
            client_id=args.client_id,
            client_secret=args.client_secret,
            force_oob=args.oauth_force_oob,
            format=args.format,
            algorithm=args.algorithm if oms else algorithm.id if algorithm is not None else None,
            # The identifier of blake3 has no leaf part: the leaf size travels on its own.
            leaf_size=None if algorithm is None else algorithm.leaf_size,
            backend=backend,
            **_walk(args),
            shard_size=None if args.shard_size is None else parse_size(args.shard_size),
            range_size=None if args.range_size is None else parse_size(args.range_size),
            progress=progress,
            use_mmap=not args.no_mmap,
            objects=args.objects or "files",
        )
    finally:
        _end_progress(progress)
        if not isinstance(backend, str):
            backend.close()
    key, _, value = subject.partition(":")
    ellipsis = _ellipsis(sys.stdout)
    sys.stdout.write(f"signed {_printable(args.path)} ({args.method}, {args.format} format)\n")
    sys.stdout.write(f"subject: {key}:{_short_hex(bytes.fromhex(value), ellipsis)}\n")
    sys.stdout.write(f"signature: {_printable(args.signature)}\n")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from gpuhash import signing
    from gpuhash.errors import VerificationError

    backend = _chosen_backend(args, None)
    progress = _progress(args)
    try:
        result = signing.verify(
            args.path,
            args.signature,
            method=args.method,
            public_key=args.public_key,
            certificate_chain=args.certificate_chain,
            identity=args.identity,
            identity_provider=args.identity_provider,
            trust_config=args.trust_config,
            use_staging=args.use_staging,
            backend=backend,
            **_walk(args),
            ignore_unsigned_files=args.ignore_unsigned_files,
            only=args.only,
            objects=args.objects,
            range_proof=args.range,
            progress=progress,
            use_mmap=not args.no_mmap,
        )
    except signing.VerificationFailed as e:
        return _report_mismatch(e, e.result.problems())
    except VerificationError as e:
        return _report_mismatch(e, [])
    finally:
        _end_progress(progress)
        if not isinstance(backend, str):
            backend.close()
    if result.proven is not None:
        name, start, end = result.proven
        sys.stdout.write(
            f"verified bytes [{start}, {end}) of {_printable(name)} in {_printable(args.path)}, "
            f"{result.algorithm}, signed by {_printable(result.signer)}\n"
        )
        return EXIT_OK
    sys.stdout.write(
        f"verified {_printable(args.path)}: {result.objects} objects, {result.algorithm} "
        f"({result.format} format), signed by {_printable(result.signer)}\n"
    )
    return EXIT_OK


def _report_mismatch(error: Exception, problems: list[str], what: str = "verification") -> int:
    """A model that does not match: one line per difference on stdout, the verdict on stderr."""
    for line in problems:
        sys.stdout.write(_printable(line) + "\n")
    sys.stdout.flush()
    _error(f"{what} failed: {error}")
    return EXIT_FAILED


def cmd_check(args: argparse.Namespace) -> int:
    from gpuhash import signing
    from gpuhash.errors import VerificationError

    manifest = _read_manifest(args.manifest, "manifest")
    model = args.path if args.path is not None else os.path.dirname(args.manifest) or "."
    backend = _chosen_backend(args, None)
    progress = _progress(args)
    try:
        result = signing.check(
            model,
            manifest,
            manifest_path=args.manifest,
            backend=backend,
            **_walk(args, model),
            only=args.only,
            objects=args.objects,
            progress=progress,
        )
    except signing.VerificationFailed as e:
        return _report_mismatch(e, e.result.problems(), "check")
    except VerificationError as e:
        return _report_mismatch(e, [], "check")
    finally:
        _end_progress(progress)
        if not isinstance(backend, str):
            backend.close()
    sys.stdout.write(
        f"checked {_printable(model)}: {result.objects} objects, {result.algorithm}, "
        f"against the manifest {_printable(args.manifest)} (unsigned)\n"
    )
    return EXIT_OK


def cmd_prove(args: argparse.Namespace) -> int:
    from gpuhash._atomic import write_atomic
    from gpuhash.proofs import prove_object

    start_text, sep, end_text = args.range.partition(":")
    if (
        not sep
        or not re.fullmatch(r"[0-9]{1,20}", start_text)
        or not re.fullmatch(r"[0-9]{1,20}", end_text)
    ):
        raise UsageError(f"--range {args.range!r}: expected START:END in bytes, e.g. 0:1048576")
    _check_output_path(args.output)
    backend = _chosen_backend(args, None)
    try:
        proof = prove_object(
            args.path,
            args.object,
            int(start_text),
            int(end_text),
            algorithm=_algorithm(args),
            objects=args.objects or "files",
            backend=backend,
            **_walk(args),
            use_mmap=not args.no_mmap,
        )
    finally:
        if not isinstance(backend, str):
            backend.close()
    write_atomic(args.output, proof.to_json().encode("utf-8"))
    a, b = proof.byte_range
    sys.stdout.write(
        f"proof for bytes [{a}, {b}) of {_printable(args.object)} (leaves {proof.first_leaf}.."
        f"{proof.first_leaf + proof.leaf_count}, {len(proof.nodes)} nodes): "
        f"{_printable(args.output)}\n"
    )
    return EXIT_OK


def cmd_selftest(args: argparse.Namespace) -> int:
    from gpuhash import selftest
    from gpuhash.registry import get_backend

    if args.compile_only:
        from gpuhash.registry import backend_class

        if args.device is not None:
            raise UsageError("--compile-only uses no device; leave out --device")
        cls = backend_class(args.backend)
        compile_check = getattr(cls, "compile_check", None)
        if compile_check is None:
            raise UsageError(f"backend {args.backend!r} has no compile-only check")
        checks = compile_check()
        name, device = args.backend, "no device (compile only)"
    else:
        options = {} if args.device is None else {"device": args.device}
        if args.device is not None:
            _check_device_option(args.backend)
        backend = get_backend(args.backend, **options)
        try:
            device = ", ".join(backend.capabilities().devices) or "no device listed"
            checks = selftest.run(backend, quick=args.quick)
        finally:
            backend.close()
        name = backend.name
    if args.json:
        sys.stdout.write(
            json.dumps(
                {
                    "backend": name,
                    "device": device,
                    "passed": all(c.passed for c in checks),
                    "checks": [c.__dict__ for c in checks],
                },
                indent=2,
            )
            + "\n"
        )
    else:
        sys.stdout.write(f"backend {name} on {_printable(device)}\n")
        fam_w = max(len(c.family) for c in checks)
        name_w = max(len(c.name) for c in checks)
        for c in checks:
            verdict = "pass" if c.passed else "FAIL"
            line = f"{c.family:<{fam_w}}  {c.name:<{name_w}}  {verdict}  {c.seconds:6.2f}s"
            sys.stdout.write(line + (f"  {_printable(c.detail)}" if c.detail else "") + "\n")
        failed = sum(not c.passed for c in checks)
        sys.stdout.write(f"{len(checks) - failed} passed, {failed} failed\n")
    return EXIT_OK if all(c.passed for c in checks) else EXIT_FAILED


def cmd_conformance(args: argparse.Namespace) -> int:
    try:
        from gpuhash_conformance import runner
    except ImportError:
        raise UsageError(
            "the conformance suite is not installed; install it with: "
            "python -m pip install ./conformance, in a gpuhash checkout"
        ) from None
    if args.max_examples < 1:
        raise UsageError(f"--max-examples must be at least 1, not {args.max_examples}")
    if args.report is not None:
        _check_output_path(args.report)
    if args.check_timeout is not None and args.check_timeout < 0:
        raise UsageError(f"--check-timeout must be 0 (none) or more, not {args.check_timeout}")
    status = runner.run(
        args.backend,
        max_examples=args.max_examples,
        derandomize=args.derandomize,
        seed=args.seed,
        check_timeout=args.check_timeout,
        report=args.report,
        extra_args=(
            *(() if args.select is None else ("-k", args.select)),
            *(a for name in args.check for a in ("--gpuhash-check", name)),
        ),
    )
    return {0: EXIT_OK, 1: EXIT_FAILED}.get(status, EXIT_ERROR)


def cmd_backends(args: argparse.Namespace) -> int:
    from gpuhash.registry import available_backends

    infos = available_backends()
    if args.json:
        sys.stdout.write(json.dumps([i.as_dict() for i in infos], indent=2) + "\n")
        return EXIT_OK
    name_w = max([len(i.name) for i in infos] + [4])
    for i in infos:
        if i.available:
            devices = ", ".join(i.devices) or "no device listed"
            sys.stdout.write(f"{i.name:<{name_w}}  available    {_printable(devices)}\n")
            sys.stdout.write(f"{'':<{name_w}}  algorithms:  {', '.join(i.algorithms)}\n")
        else:
            sys.stdout.write(f"{i.name:<{name_w}}  unavailable  {_printable(i.reason)}\n")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# Parser and entry point
# ---------------------------------------------------------------------------------------------


# Conventions every command follows (use these helpers for new options and arguments):
#
# - An option model_signing spells with underscores (``--allow_symlinks``) is accepted under both
#   spellings: add it with ``_option``.
# - An option taking several values is added with ``_values``: one occurrence takes the values
#   that follow it up to the next option (or ``--``), and it may be repeated, so
#   ``--ignore-paths a b`` and model_signing's ``--ignore-paths a --ignore-paths b`` are the same.
# - A command's paths are added with ``_positional``. When some are not given on their own
#   because an option's values ran on to the end, they are the last values of the last
#   occurrence that took more than one: ``digest --ignore-paths a b DIR`` hashes DIR without a
#   and b, and model_signing's ``--ignore-paths a DIR`` means what it means there.

_VALUE_RUNS = "_value_runs"
_POSITIONALS = "_positionals"
_POSITIONALS_PARSER = "_positionals_parser"


class _Values(argparse.Action):
    """``nargs="+"`` values, added to those of earlier occurrences; each occurrence is
    remembered (in order) so that ``_fill_positionals`` can take paths from the end of one."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[object] | None,
        option_string: str | None = None,
    ) -> None:
        given = [values] if isinstance(values, str) else list(values or [])
        current = [*(getattr(namespace, self.dest, None) or []), *given]
        setattr(namespace, self.dest, current)
        runs: list[tuple[str, int, int]] | None = getattr(namespace, _VALUE_RUNS, None)
        if runs is None:
            runs = []
            setattr(namespace, _VALUE_RUNS, runs)
        runs.append((self.dest, len(current), len(given)))


def _option(parser: argparse.ArgumentParser, name: str, **kwargs: object) -> argparse.Action:
    """An option under its gpuhash spelling and model_signing's underscore spelling."""
    names = [name] + (["--" + name[2:].replace("-", "_")] if "-" in name[2:] else [])
    return parser.add_argument(*names, **kwargs)  # type: ignore[arg-type]


def _values(parser: argparse.ArgumentParser, name: str, **kwargs: object) -> argparse.Action:
    """An option taking one or more values, repeatable (see the conventions above)."""
    return _option(parser, name, nargs="+", action=_Values, default=[], **kwargs)


def _positional(
    parser: argparse.ArgumentParser, dest: str, metavar: str, help: str, required: bool = True
) -> None:
    """A positional argument that may also be the last value of a multi-value option."""
    action = parser.add_argument(dest, metavar=metavar, help=help)
    # Never required while parsing, so that argparse leaves a missing one to
    # _fill_positionals, which looks at the option values first.
    action.required = False
    known: list[tuple[str, str, bool]] = list(parser.get_default(_POSITIONALS) or [])
    parser.set_defaults(**{_POSITIONALS: [*known, (dest, metavar, required)]})
    parser.set_defaults(**{_POSITIONALS_PARSER: parser})  # whose usage an error shows


def _fill_positionals(args: argparse.Namespace) -> None:
    """Complete ``args`` as the conventions above say; a usage error (exit 2) when a required
    positional argument is still missing."""
    runs: list[tuple[str, int, int]] = vars(args).pop(_VALUE_RUNS, [])
    declared: list[tuple[str, str, bool]] = vars(args).pop(_POSITIONALS, [])
    parser: argparse.ArgumentParser | None = vars(args).pop(_POSITIONALS_PARSER, None)
    missing = [
        (dest, metavar, req) for dest, metavar, req in declared if getattr(args, dest) is None
    ]
    if not missing or parser is None:
        return
    for dest, end, count in reversed(runs):
        if count > 1:
            values: list[str] = getattr(args, dest)
            take = min(len(missing), count - 1)
            taken = values[end - take : end]
            del values[end - take : end]
            for (name, _, _), value in zip(missing, taken, strict=False):
                setattr(args, name, value)
            break
    absent = [metavar for name, metavar, req in missing if req and getattr(args, name) is None]
    if absent:
        parser.error(f"the following arguments are required: {', '.join(absent)}")


def _hash_options(parser: argparse.ArgumentParser) -> None:
    _positional(parser, "path", "PATH", "a model file or directory")
    parser.add_argument(
        "-a",
        "--algorithm",
        metavar="ID",
        help="a family (merkle-sha256, merkle-sha512, merkle-sha3-256, blake3, "
        "lthash16-shake256) or an identifier such as gh1-merkle-sha256-64k "
        "(default: merkle-sha256)",
    )
    parser.add_argument(
        "-l",
        "--leaf-size",
        metavar="N",
        help="leaf size in bytes, a power of two from 1k to 16m: 65536, 64k, 64KiB, 1m "
        "(default: 64k, or the one in the identifier)",
    )
    parser.add_argument(
        "-b",
        "--backend",
        metavar="NAME",
        default="auto",
        help="backend to hash with (default: auto); see `gpuhash backends`",
    )
    parser.add_argument(
        "--device",
        metavar="DEV",
        help="the backend's device, for backends that have a choice (opencl: a 'P:D' index "
        "pair or part of the name shown by `gpuhash backends`)",
    )
    _walk_options(parser, "PATH")
    parser.add_argument(
        "--objects",
        choices=("files", "tensors"),
        help="files: one object per file (default); tensors: each tensor of a .safetensors "
        "file is an object of its own, named FILE::TENSOR, and its header is FILE::__metadata__",
    )
    parser.add_argument(
        "--no-mmap",
        action="store_true",
        help="read files instead of memory-mapping them; use it when other processes may "
        "truncate the files while they are hashed (a truncated mapping kills the process)",
    )


def _walk_options(parser: argparse.ArgumentParser, model: str) -> None:
    """The options that decide which files are the model's (spec section 1.2)."""
    _values(
        parser,
        "--ignore-paths",
        metavar="P",
        help=f"paths to leave out: relative to {model}, or to the current directory when they "
        f"name a path inside {model} from there (as model_signing takes them), or absolute "
        "(besides .git, .github, .gitattributes, .gitignore and .cache/huggingface); "
        "repeatable",
    )
    parser.add_argument(
        "--ignore-git-paths",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="leave out .git, .github, .gitattributes and .gitignore (default: yes)",
    )
    _option(
        parser,
        "--allow-symlinks",
        action="store_true",
        help=f"hash symbolic links that point inside {model} (as the target's bytes under the "
        f"link's name); links leaving {model} are refused. A Hugging Face cache snapshot's "
        "links to its blobs are followed without it",
    )
    parser.add_argument(
        "--link-root",
        metavar="DIR",
        help=f"allow symbolic links that resolve anywhere inside DIR, a directory containing "
        f"{model}; links leaving DIR are refused",
    )


def _walk(args: argparse.Namespace, model: str | None = None) -> dict[str, Any]:
    """The walk options of a command, its ignore paths resolved as a user typed them."""
    from gpuhash.api import ignoring_own_files

    model = args.path if model is None else model
    typed = _ignore_paths(model, args.ignore_paths)
    return {
        # Files the command itself writes or reads (hash -o) are left out silently: the
        # warning about ignore paths that match nothing is for what the user typed.
        "ignore_paths": ignoring_own_files(model, getattr(args, "own_files", ()), typed),
        "allow_symlinks": args.allow_symlinks,
        "link_root": args.link_root,
        "ignore_git_paths": args.ignore_git_paths,
    }


def _same_entry(a: str, b: str) -> bool:
    """Whether two paths name one directory entry's file (links not followed)."""
    sa, sb = os.lstat(a), os.lstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _ignore_paths(model: str, typed: Sequence[str]) -> list[str]:
    """Ignore paths as the command line takes them (a rule of the command line, not of the
    specification, which knows paths relative to the model or absolute). A relative path names
    MODEL/P; when that does not exist but ./P does and lies inside MODEL, it names ./P, as
    model_signing resolves it (``--ignore-paths model/ignore-me``). When both exist and differ,
    it is ambiguous: an error. A path that names nothing is kept, with a warning."""
    root = os.path.realpath(model)
    is_dir = os.path.isdir(root)
    out = []
    for p in typed:
        chosen = p
        if is_dir and p and not os.path.isabs(p):
            in_model = os.path.join(root, p)
            # Its folders resolved, not itself: an ignore path may name a link.
            norm = os.path.normpath(os.path.abspath(p))
            here = os.path.join(os.path.realpath(os.path.dirname(norm)), os.path.basename(norm))
            inside = here.startswith(root.rstrip(os.sep) + os.sep)
            if inside and os.path.lexists(here):
                if os.path.lexists(in_model) and not _same_entry(in_model, here):
                    raise UsageError(
                        f"--ignore-paths {p!r} is ambiguous: it names both {in_model} and "
                        f"{norm}; give an absolute path"
                    )
                chosen = here
        if is_dir and p:
            # Warned about only inside MODEL: a path outside it is an error, said after this.
            target = os.path.normpath(os.path.join(os.path.abspath(model), chosen))
            bases = {os.path.abspath(model), root}
            within = any(target.startswith(b.rstrip(os.sep) + os.sep) for b in bases)
            if within and not os.path.lexists(target):
                sys.stderr.write(
                    f"{PROG}: warning: ignore path {_printable(p)} matches nothing in "
                    f"{_printable(model)}\n"
                )
        out.append(chosen)
    return out


def _verify_hash_options(p: argparse.ArgumentParser) -> None:
    """How `verify` and `check` hash the model and what they compare."""
    p.add_argument("-b", "--backend", metavar="NAME", default="auto", help="backend to hash with")
    p.add_argument("--device", metavar="DEV", help="the backend's device")
    _walk_options(p, "MODEL")
    _values(
        p,
        "--only",
        metavar="PATTERN",
        help="check only the listed objects whose names match (shell-style: '*', '?', "
        "'[...]'; a tensor is FILE::TENSOR), reading only their bytes",
    )
    p.add_argument(
        "--objects",
        choices=("files", "tensors"),
        help="the object model the signature or manifest must use (default: whichever it uses)",
    )


def _signing_options(parser: argparse.ArgumentParser, verify: bool) -> None:
    parser.add_argument(
        "--signature",
        metavar="FILE",
        required=True,
        help="the signature file (a Sigstore bundle)"
        + ("" if verify else ", written atomically; ignored when it lies inside MODEL"),
    )
    _values(
        parser,
        "--certificate-chain",
        metavar="PEM",
        help="trust anchors to verify the signing certificate against"
        if verify
        else "certificates of the chain above the signing certificate, to put in the bundle",
    )
    _option(
        parser,
        "--trust-config",
        metavar="FILE",
        help="Sigstore client trust configuration (JSON); default: the public-good instance, "
        "fetched over the network"
        + (" (with this file, verification is offline)" if verify else ""),
    )
    _option(
        parser,
        "--use-staging",
        action="store_true",
        help="Sigstore's staging instance instead of the public-good one (for tests)",
    )
    if verify:
        _option(parser, "--public-key", metavar="PEM", help="ECDSA public key (method key)")
        _option(parser, "--identity", metavar="ID", help="expected Sigstore signer identity")
        _option(
            parser,
            "--identity-provider",
            metavar="URL",
            help="expected OIDC issuer of the Sigstore identity",
        )
        _option(
            parser,
            "--ignore-unsigned-files",
            action="store_true",
            help="files in MODEL that the signature does not list are not reported (nor hashed)",
        )
        parser.add_argument(
            "--no-ignore-unsigned-files",
            "--no-ignore_unsigned_files",  # model_signing's spelling
            dest="ignore_unsigned_files",
            action="store_false",
            help="report them (the default)",
        )
    else:
        _option(
            parser, "--private-key", metavar="PEM", help="ECDSA P-256, P-384 or P-521 private key"
        )
        _option(
            parser,
            "--password",
            metavar="TEXT",
            help="the password of an encrypted --private-key (model_signing's option; other "
            f"users of this machine may see it: prefer ${PASSWORD_ENV} or the prompt shown "
            "at a terminal)",
        )
        _option(
            parser,
            "--signing-certificate",
            metavar="PEM",
            help="the certificate of the private key (method certificate)",
        )
        _option(
            parser,
            "--identity-token",
            metavar="JWT",
            help="OIDC identity token for Sigstore (default: ambient credentials, else an "
            "interactive login)",
        )
        _option(parser, "--oidc-issuer", metavar="URL", help="OIDC issuer for the login")
        _option(
            parser,
            "--use-ambient-credentials",
            action="store_true",
            help="use the environment's workload identity (CI) when there is one: always "
            "done, the option is model_signing's",
        )
        _option(
            parser,
            "--oauth-force-oob",
            action="store_true",
            help="log in out of band: print the URL instead of opening a browser",
        )
        _option(parser, "--client-id", metavar="ID", help="OAuth client ID for the login")
        _option(
            parser, "--client-secret", metavar="SECRET", help="OAuth client secret for the login"
        )
        parser.add_argument(
            "--format",
            choices=("gpuhash", "oms"),
            default="gpuhash",
            help="gpuhash: the gpuhash manifest (default); oms: a model_signing v1.0 "
            "signature (--algorithm sha256 or blake3, or --shard-size for sha256 shards)",
        )
        _option(
            parser,
            "--shard-size",
            metavar="N",
            help="with --format oms: hash files in shards of N bytes (sha256)",
        )
        _option(
            parser,
            "--range-size",
            metavar="N",
            help="bytes per signed range value (a power-of-two multiple of the leaf size), "
            "the granularity at which verification names changed byte ranges "
            "(default: the backend's window, 64 MiB on cpu)",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Bit-exact hashing of machine-learning models on accelerators and CPUs.",
    )
    parser.add_argument(
        "--version", action="version", version=f"{PROG} {__version__} (specification v1)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "digest", help="print the artifact digest", description="Print <algorithm-id>:<digest>."
    )
    _hash_options(p)
    p.set_defaults(func=cmd_digest)

    p = sub.add_parser(
        "hash",
        help="print every object digest and the artifact digest; write a manifest",
        description="Hash a model and print a table of its objects and the artifact digest.",
    )
    _hash_options(p)
    p.add_argument("--json", action="store_true", help="print the manifest as JSON instead")
    p.add_argument(
        "--incremental",
        metavar="PREVIOUS",
        help="a manifest written by an earlier `gpuhash hash -o`: reuse the digests of files "
        "whose size, modification time and inode are unchanged, re-hash the rest",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="with --incremental: re-hash everything, and warn about files that changed "
        "although their size, modification time and inode did not",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the manifest to FILE: JSON if FILE ends in .json, protobuf binary otherwise",
    )
    p.set_defaults(func=cmd_hash)

    for name, verify in (("sign", False), ("verify", True)):
        p = sub.add_parser(
            name,
            help="verify a model's signature" if verify else "hash a model and sign it",
            description=(
                "Check SIGNATURE, then re-hash MODEL and compare; exit 0 if verified, 1 if "
                "not, 2 on a usage or input error."
                if verify
                else "Hash MODEL and write a signature (in-toto statement, DSSE envelope, "
                "Sigstore bundle)."
            ),
        )
        p.add_argument(
            "method", choices=("key", "certificate", "sigstore"), help="how it is signed"
        )
        if verify:
            _positional(p, "path", "MODEL", "a model file or directory")
            _verify_hash_options(p)
            p.add_argument(
                "--no-mmap",
                action="store_true",
                help="read files instead of memory-mapping them (as for hash)",
            )
            p.add_argument(
                "--range",
                metavar="PROOF",
                help="check only the byte range an inclusion proof (from `gpuhash prove`) "
                "covers, reading only those bytes of its object",
            )
        else:
            _hash_options(p)
        _signing_options(p, verify)
        p.set_defaults(func=cmd_verify if verify else cmd_sign)

    p = sub.add_parser(
        "check",
        help="check a model against an unsigned manifest (from `gpuhash hash -o`)",
        usage="%(prog)s [options] MANIFEST [MODEL]",
        description="Re-hash MODEL and compare it with MANIFEST, as `verify` compares it with a "
        "signed manifest: exit 0 if it matches, 1 if not (naming each missing, extra or changed "
        "object), 2 on a usage or input error. MODEL defaults to the directory MANIFEST is in; "
        "MANIFEST itself is left out when it lies inside MODEL. Nothing is signed, so this "
        "shows the model is the one hashed, not who hashed it.",
    )
    _positional(p, "manifest", "MANIFEST", "a manifest, JSON or protobuf binary")
    _positional(
        p,
        "path",
        "MODEL",
        "the model file or directory (default: the directory of MANIFEST)",
        required=False,
    )
    _verify_hash_options(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "prove",
        help="make an inclusion proof for a byte range of one object",
        description="Write an inclusion proof (spec section 7) for bytes START:END of the object "
        "OBJECT of PATH, to check later with `gpuhash verify ... --range PROOF`.",
    )
    _hash_options(p)
    p.add_argument("--object", required=True, metavar="NAME", help="file or FILE::TENSOR name")
    p.add_argument("--range", required=True, metavar="START:END", help="bytes, end exclusive")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the proof (JSON)")
    p.set_defaults(func=cmd_prove)

    p = sub.add_parser(
        "selftest",
        help="check a backend on this machine's device against independent answers",
        description="Run known-answer and reference checks on BACKEND; exit 0 only if all pass.",
    )
    p.add_argument("backend", metavar="BACKEND", help="a backend name (see `gpuhash backends`)")
    p.add_argument("--device", metavar="DEV", help="the backend's device, where it has a choice")
    p.add_argument("--quick", action="store_true", help="fewer object sizes")
    p.add_argument(
        "--compile-only",
        action="store_true",
        help="only compile the backend's kernels, without a device (backends that support it: "
        "cuda, with NVRTC for sm_80 and sm_90)",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_selftest)

    p = sub.add_parser(
        "conformance",
        help="run the conformance suite (gpuhash-conformance) on a backend",
        description="Check BACKEND against the reference with every conformance property; "
        "print a table and exit 0 only if every property passed.",
    )
    p.add_argument("backend", metavar="BACKEND", help="a backend name (see `gpuhash backends`)")
    p.add_argument("--max-examples", type=int, default=50, metavar="N", help="per property")
    p.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="seed of the Hypothesis properties (default: derived from the suite's version, "
        "so every run of one suite version draws the same examples)",
    )
    p.add_argument(
        "--derandomize", action="store_true", help="Hypothesis's own fixed examples instead"
    )
    p.add_argument(
        "--check-timeout",
        type=float,
        metavar="SECONDS",
        help="a check running longer fails with that reason and the run goes on "
        "(default 600; 0: no limit)",
    )
    p.add_argument("--report", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument(
        "-k",
        dest="select",
        metavar="EXPR",
        help="only the properties matching this pytest -k expression",
    )
    p.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="NAME",
        help="only this check, as the table names it (e.g. 'test_leaf_counts[blake3]'; "
        "repeatable): what a failure's replay command uses",
    )
    p.set_defaults(func=cmd_conformance)

    p = sub.add_parser(
        "backends",
        help="list the backends, whether they work here, and how to install them",
        description="List every registered backend.",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_backends)
    _global_options(parser, top=True)
    for command in sub.choices.values():
        _global_options(command, top=False)
    return parser


def _global_options(parser: argparse.ArgumentParser, top: bool) -> None:
    """``-v``, ``--log-level``, ``--progress``: accepted before the command and after it (the
    command's parser leaves them unset unless given, so it does not undo the global ones)."""
    unset = {} if top else {"default": argparse.SUPPRESS}
    group = parser.add_argument_group("output")
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        **({"default": 0} if top else unset),
        help="say more on stderr: -v which backend was chosen and why others were not, "
        "kernel builds; -vv debugging detail",
    )
    group.add_argument(
        "--log-level",
        choices=tuple(LOG_LEVELS),
        type=str.lower,
        **({"default": None} if top else unset),
        help="the least severe log records shown on stderr (default: warning; overrides -v)",
    )
    group.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        **({"default": None} if top else unset),
        help="a progress line on stderr (default: when stderr is a terminal and the input is "
        "64 MiB or more); it also says when kernels are being built",
    )


def _exit_code(code: object) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


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
    parser = build_parser()
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
            _fill_positionals(args)
        except SystemExit as e:  # --help, --version, usage errors (status 2)
            return _exit_code(e.code)
        func: Callable[[argparse.Namespace], int] = args.func
        with _logging(_log_level(args)):
            status = func(args)
        sys.stdout.flush()
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
        _error(str(e) or type(e).__name__)
        return EXIT_ERROR
    except OSError as e:
        _error(_os_error_message(e))
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


if __name__ == "__main__":
    sys.exit(main())
