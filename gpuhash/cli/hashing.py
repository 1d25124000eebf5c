"""The commands that hash and test backends: ``digest``, ``hash``, ``prove``, ``selftest`` and
``backends``, each with its parser (``add_*``) and what it runs (``cmd_*``)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import TYPE_CHECKING

from gpuhash import limits
from gpuhash.cli import resolve
from gpuhash.cli.options import AddParser, hash_options
from gpuhash.cli.output import EXIT_FAILED, EXIT_OK, PROG, human, printable, table
from gpuhash.cli.progress import end_progress, start_progress
from gpuhash.errors import UsageError

if TYPE_CHECKING:
    from gpuhash.manifest import Manifest


def _hash(args: argparse.Namespace) -> Manifest:
    from gpuhash import api

    algorithm = resolve.algorithm(args)
    walk = resolve.walk(args)
    backend = resolve.chosen_backend(args, algorithm)
    progress = start_progress(args)
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
        end_progress(progress)
        if not isinstance(backend, str):
            backend.close()


def _rehash(args: argparse.Namespace) -> Manifest:
    """``gpuhash hash --incremental PREVIOUS``: reuse the unchanged files' digests."""
    from gpuhash import incremental

    previous = resolve.read_manifest(args.incremental, "previous manifest")
    if args.algorithm is not None or args.leaf_size is not None:
        wanted = resolve.algorithm(args)
        if wanted.id != previous.algorithm.id:
            raise UsageError(
                f"--incremental: the previous manifest uses {previous.algorithm.id}, "
                f"not {wanted.id}"
            )
    backend = resolve.chosen_backend(args, previous.algorithm)
    progress = start_progress(args)
    try:
        manifest, report = incremental.rehash(
            args.path,
            previous,
            backend=backend,
            **resolve.walk(args),
            objects=args.objects,
            full=args.full,
            use_mmap=not args.no_mmap,
            progress=progress,
        )
    finally:
        end_progress(progress)
        if not isinstance(backend, str):
            backend.close()
    sys.stderr.write(
        f"{PROG}: incremental: {len(report.reused)} objects reused, {len(report.hashed)} "
        f"hashed ({human(report.hashed_bytes)}), {len(report.removed)} removed\n"
    )
    for name in report.stale:
        sys.stderr.write(
            f"{PROG}: warning: {printable(name)} changed although its file's size, "
            "modification time, ctime and inode did not\n"
        )
    return manifest


def cmd_digest(args: argparse.Namespace) -> int:
    """``gpuhash digest``: one line, ``<algorithm-id>:<hex artifact digest>``."""
    manifest = _hash(args)
    sys.stdout.write(manifest.digest_line() + "\n")
    return EXIT_OK


def cmd_hash(args: argparse.Namespace) -> int:
    """``gpuhash hash``: the table (or the manifest as JSON), and the manifest to ``-o``."""
    if args.output is not None:
        resolve.check_output_path(args.output, "manifest")
    if args.full and args.incremental is None:
        raise UsageError("--full needs --incremental PREVIOUS")
    # The manifest written (and the previous one read) are never objects of the model itself.
    args.own_files = [args.output, args.incremental]
    manifest = _rehash(args) if args.incremental is not None else _hash(args)
    if args.output is not None:
        from gpuhash.atomic import write_atomic

        if args.output.lower().endswith(".json"):
            data = manifest.to_json().encode("utf-8")
        else:
            data = manifest.to_bytes()
        limits.check_writable(args.output, len(data), limits.MAX_MANIFEST_BYTES, "manifest")
        write_atomic(args.output, data)
    if args.json:
        sys.stdout.write(manifest.to_json())
    else:
        table(manifest, sys.stdout)
    return EXIT_OK


def cmd_prove(args: argparse.Namespace) -> int:
    """``gpuhash prove``: write the inclusion proof of a byte range of one object."""
    from gpuhash.atomic import write_atomic
    from gpuhash.proofs import prove_object

    start_text, sep, end_text = args.range.partition(":")
    if (
        not sep
        or not re.fullmatch(r"[0-9]{1,20}", start_text)
        or not re.fullmatch(r"[0-9]{1,20}", end_text)
    ):
        raise UsageError(f"--range {args.range!r}: expected START:END in bytes, e.g. 0:1048576")
    resolve.check_output_path(args.output, "inclusion proof")
    backend = resolve.chosen_backend(args, None)
    try:
        proof = prove_object(
            args.path,
            args.object,
            int(start_text),
            int(end_text),
            algorithm=resolve.algorithm(args),
            objects=args.objects or "files",
            backend=backend,
            **resolve.walk(args),
            use_mmap=not args.no_mmap,
        )
    finally:
        if not isinstance(backend, str):
            backend.close()
    write_atomic(args.output, proof.to_json().encode("utf-8"))
    a, b = proof.byte_range
    sys.stdout.write(
        f"proof for bytes [{a}, {b}) of {printable(args.object)} (leaves {proof.first_leaf}.."
        f"{proof.first_leaf + proof.leaf_count}, {len(proof.nodes)} nodes): "
        f"{printable(args.output)}\n"
    )
    return EXIT_OK


def cmd_selftest(args: argparse.Namespace) -> int:
    """``gpuhash selftest``: a backend's checks as a table or JSON; exit 0 only if all pass."""
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
            resolve.check_device_option(args.backend)
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
        sys.stdout.write(f"backend {name} on {printable(device)}\n")
        fam_w = max(len(c.family) for c in checks)
        name_w = max(len(c.name) for c in checks)
        for c in checks:
            verdict = "pass" if c.passed else "FAIL"
            line = f"{c.family:<{fam_w}}  {c.name:<{name_w}}  {verdict}  {c.seconds:6.2f}s"
            sys.stdout.write(line + (f"  {printable(c.detail)}" if c.detail else "") + "\n")
        failed = sum(not c.passed for c in checks)
        sys.stdout.write(f"{len(checks) - failed} passed, {failed} failed\n")
    return EXIT_OK if all(c.passed for c in checks) else EXIT_FAILED


def cmd_backends(args: argparse.Namespace) -> int:
    """``gpuhash backends``: every registered backend, whether it works here, its devices."""
    from gpuhash.registry import available_backends

    infos = available_backends()
    if args.json:
        sys.stdout.write(json.dumps([i.as_dict() for i in infos], indent=2) + "\n")
        return EXIT_OK
    name_w = max([len(i.name) for i in infos] + [4])
    for i in infos:
        if i.available:
            devices = ", ".join(i.devices) or "no device listed"
            sys.stdout.write(f"{i.name:<{name_w}}  available    {printable(devices)}\n")
            sys.stdout.write(f"{'':<{name_w}}  algorithms:  {', '.join(i.algorithms)}\n")
        else:
            sys.stdout.write(f"{i.name:<{name_w}}  unavailable  {printable(i.reason)}\n")
    return EXIT_OK


def add_digest(add_parser: AddParser) -> None:
    """The parser of ``gpuhash digest``."""
    p = add_parser(
        "digest", help="print the artifact digest", description="Print <algorithm-id>:<digest>."
    )
    hash_options(p)
    p.set_defaults(func=cmd_digest)


def add_hash(add_parser: AddParser) -> None:
    """The parser of ``gpuhash hash``."""
    p = add_parser(
        "hash",
        help="print every object digest and the artifact digest; write a manifest",
        description="Hash a model and print a table of its objects and the artifact digest.",
    )
    hash_options(p)
    p.add_argument("--json", action="store_true", help="print the manifest as JSON instead")
    p.add_argument(
        "--incremental",
        metavar="PREVIOUS",
        help="a manifest written by an earlier `gpuhash hash -o`: reuse the digests of files "
        "whose size, modification time, ctime and inode are unchanged, re-hash the rest",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="with --incremental: re-hash everything, and warn about files that changed "
        "although their size, modification time, ctime and inode did not",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the manifest to FILE: JSON if FILE ends in .json, protobuf binary otherwise",
    )
    p.set_defaults(func=cmd_hash)


def add_prove(add_parser: AddParser) -> None:
    """The parser of ``gpuhash prove``."""
    p = add_parser(
        "prove",
        help="make an inclusion proof for a byte range of one object",
        description="Write an inclusion proof (spec section 7) for bytes START:END of the object "
        "OBJECT of PATH, to check later with `gpuhash verify ... --range PROOF`.",
    )
    hash_options(p)
    p.add_argument("--object", required=True, metavar="NAME", help="file or FILE::TENSOR name")
    p.add_argument("--range", required=True, metavar="START:END", help="bytes, end exclusive")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the proof (JSON)")
    p.set_defaults(func=cmd_prove)


def add_selftest(add_parser: AddParser) -> None:
    """The parser of ``gpuhash selftest``."""
    p = add_parser(
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


def add_backends(add_parser: AddParser) -> None:
    """The parser of ``gpuhash backends``."""
    p = add_parser(
        "backends",
        help="list the backends, whether they work here, and how to install them",
        description="List every registered backend.",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_backends)
