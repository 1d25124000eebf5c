"""The ``gpuhash`` command line.

    gpuhash digest PATH [options]          one line: <algorithm-id>:<hex artifact digest>
    gpuhash hash PATH [options] [--json] [-o FILE]
    gpuhash backends [--json]
    gpuhash selftest BACKEND [--device DEV] [--quick] [--compile-only] [--json]
    gpuhash sign key|certificate|sigstore MODEL --signature OUT [options]
    gpuhash verify key|certificate|sigstore MODEL --signature SIG [options]

Errors are one line on stderr, ``gpuhash: error: <message>``, with exit status 2 (as for usage
errors); a signature that does not verify exits with 1; an interrupt exits with 130. Heavy
modules (numpy, protobuf, backends, cryptography) are imported only by the command that needs
them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

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

    def __call__(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = total
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
        text = self.line(now)
        pad = " " * max(self.shown - len(text), 0)
        self.stream.write(f"\r{text}{pad}")
        self.stream.flush()
        self.shown = len(text)

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.stream.flush()
            self.shown = 0


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


def _algorithm(args: argparse.Namespace) -> Algorithm:
    from gpuhash.algorithms import parse_size, resolve_algorithm

    leaf_size = None if args.leaf_size is None else parse_size(args.leaf_size)
    return resolve_algorithm(args.algorithm, leaf_size)


def _check_output_path(output: str) -> None:
    """Fail before hashing, not after, when ``-o`` cannot be written at all."""
    directory = os.path.dirname(os.path.abspath(output))
    if os.path.isdir(output):
        raise UsageError(f"{output}: is a directory")
    if not os.path.isdir(directory):
        raise UsageError(f"{output}: directory {directory} does not exist")


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
    from gpuhash.registry import AUTO, is_builtin, registered

    algorithm = _algorithm(args)
    if args.backend != AUTO and not is_builtin(args.backend) and args.backend not in registered():
        raise _unknown_backend(args.backend)
    ignore_paths: list[str] = args.ignore_paths
    allow_symlinks: bool = args.allow_symlinks
    backend: str | HashBackend = args.backend
    if args.device is not None:
        if args.backend == AUTO:
            raise UsageError("--device needs --backend (the device belongs to one backend)")
        from gpuhash.registry import get_backend

        backend = get_backend(args.backend, algorithm=algorithm, device=args.device)
    progress: Progress | None = None
    if sys.stderr.isatty():
        progress = Progress(0, sys.stderr, min_total=PROGRESS_MIN_BYTES)
    try:
        return api.hash_path(
            args.path,
            algorithm=algorithm,
            backend=backend,
            ignore_paths=ignore_paths,
            allow_symlinks=allow_symlinks,
            progress=progress,
            use_mmap=not args.no_mmap,
            objects=args.objects or "files",
        )
    finally:
        if progress is not None:
            progress.close()
        if not isinstance(backend, str):
            backend.close()


def _rehash(args: argparse.Namespace) -> Manifest:
    """``gpuhash hash --incremental PREVIOUS``: reuse the unchanged files' digests."""
    from gpuhash import api
    from gpuhash.manifest import Manifest

    try:
        with open(args.incremental, "rb") as f:
            data = f.read()
    except OSError as e:
        raise UsageError(
            f"{args.incremental}: cannot read the previous manifest: {e.strerror}"
        ) from None
    previous = Manifest.from_json(data) if data.lstrip()[:1] == b"{" else Manifest.from_bytes(data)
    if args.algorithm is not None or args.leaf_size is not None:
        wanted = _algorithm(args)
        if wanted.id != previous.algorithm.id:
            raise UsageError(
                f"--incremental: the previous manifest uses {previous.algorithm.id}, "
                f"not {wanted.id}"
            )
    backend = _chosen_backend(args, previous.algorithm)
    try:
        manifest, report = api.rehash(
            args.path,
            previous,
            backend=backend,
            ignore_paths=args.ignore_paths,
            allow_symlinks=args.allow_symlinks,
            objects=args.objects,
            full=args.full,
            use_mmap=not args.no_mmap,
        )
    finally:
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
    return get_backend(args.backend, algorithm=algorithm, device=args.device)


def cmd_sign(args: argparse.Namespace) -> int:
    from gpuhash import signing
    from gpuhash.algorithms import parse_size

    oms = args.format == "oms"
    algorithm = None if oms else _algorithm(args)
    backend = _chosen_backend(args, algorithm)
    progress: Progress | None = None
    if oms and args.leaf_size is not None:
        raise UsageError("--leaf-size does not apply to --format oms")
    if sys.stderr.isatty() and not oms:
        progress = Progress(0, sys.stderr, min_total=PROGRESS_MIN_BYTES)
    try:
        subject = signing.sign(
            args.path,
            args.signature,
            method=args.method,
            private_key=args.private_key,
            signing_certificate=args.signing_certificate,
            certificate_chain=args.certificate_chain,
            identity_token=args.identity_token,
            trust_config=args.trust_config,
            oidc_issuer=args.oidc_issuer,
            format=args.format,
            algorithm=args.algorithm if oms else algorithm.id if algorithm is not None else None,
            backend=backend,
            ignore_paths=args.ignore_paths,
            allow_symlinks=args.allow_symlinks,
            shard_size=None if args.shard_size is None else parse_size(args.shard_size),
            range_size=None if args.range_size is None else parse_size(args.range_size),
            progress=progress,
            use_mmap=not args.no_mmap,
            objects=args.objects or "files",
        )
    finally:
        if progress is not None:
            progress.close()
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
            backend=backend,
            ignore_paths=args.ignore_paths,
            allow_symlinks=args.allow_symlinks,
            ignore_unsigned_files=args.ignore_unsigned_files,
            only=args.only,
            objects=args.objects,
            range_proof=args.range,
        )
    except signing.VerificationFailed as e:
        for line in e.result.problems():
            sys.stdout.write(_printable(line) + "\n")
        sys.stdout.flush()
        _error(f"verification failed: {e}")
        return EXIT_FAILED
    except VerificationError as e:
        _error(f"verification failed: {e}")
        return EXIT_FAILED
    finally:
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
            ignore_paths=args.ignore_paths,
            allow_symlinks=args.allow_symlinks,
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


def _hash_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="a model file or directory")
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
    parser.add_argument(
        "--ignore-paths",
        metavar="P",
        nargs="+",
        action="extend",
        default=[],
        help="paths relative to PATH to leave out (besides .git, .github, .gitattributes, "
        ".gitignore)",
    )
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
    parser.add_argument(
        "--allow-symlinks",
        action="store_true",
        help="hash symbolic links that point inside PATH (as the target's bytes under the "
        "link's name); links leaving PATH are always refused",
    )


def _option(parser: argparse.ArgumentParser, name: str, **kwargs: object) -> None:
    """An option under its gpuhash spelling and model_signing's underscore spelling."""
    names = [name] + (["--" + name[2:].replace("-", "_")] if "-" in name[2:] else [])
    parser.add_argument(*names, **kwargs)  # type: ignore[arg-type]


def _signing_options(parser: argparse.ArgumentParser, verify: bool) -> None:
    parser.add_argument(
        "--signature",
        metavar="FILE",
        required=True,
        help="the signature file (a Sigstore bundle)"
        + ("" if verify else ", written atomically; ignored when it lies inside MODEL"),
    )
    _option(
        parser,
        "--certificate-chain",
        metavar="PEM",
        nargs="+",
        action="extend",
        default=[],
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
    else:
        _option(parser, "--private-key", metavar="PEM", help="ECDSA P-256 or P-384 private key")
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
            p.add_argument("path", metavar="MODEL", help="a model file or directory")
            p.add_argument(
                "-b", "--backend", metavar="NAME", default="auto", help="backend to hash with"
            )
            p.add_argument("--device", metavar="DEV", help="the backend's device")
            p.add_argument(
                "--ignore-paths",
                metavar="P",
                nargs="+",
                action="extend",
                default=[],
                help="paths relative to MODEL (or absolute) to leave out",
            )
            p.add_argument(
                "--allow-symlinks",
                action="store_true",
                help="hash symbolic links that point inside MODEL",
            )
            p.add_argument(
                "--only",
                metavar="PATTERN",
                nargs="+",
                action="extend",
                default=[],
                help="check only the signed objects whose names match (shell-style: '*', '?', "
                "'[...]'; a tensor is FILE::TENSOR), reading only their bytes",
            )
            p.add_argument(
                "--objects",
                choices=("files", "tensors"),
                help="the object model the signature must use (default: whichever it uses)",
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
    return parser


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
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help, --version, usage errors (status 2)
            return _exit_code(e.code)
        func: Callable[[argparse.Namespace], int] = args.func
        status = func(args)
        sys.stdout.flush()
        return status
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
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


if __name__ == "__main__":
    sys.exit(main())
