"""Parsed options turned into what the library takes: the algorithm, the backend (checked, with
its device), the walk options (ignore paths resolved as a user typed them), a manifest read
from a file, and an output path checked before any work."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gpuhash.cli.output import PROG, printable
from gpuhash.errors import UsageError

if TYPE_CHECKING:
    from gpuhash.algorithms import Algorithm
    from gpuhash.backend import HashBackend
    from gpuhash.manifest import Manifest


def algorithm(args: argparse.Namespace) -> Algorithm:
    """``--algorithm`` with ``--leaf-size`` (the defaults where not given)."""
    from gpuhash.algorithms import parse_size, resolve_algorithm

    leaf_size = None if args.leaf_size is None else parse_size(args.leaf_size)
    return resolve_algorithm(args.algorithm, leaf_size)


def check_output_path(output: str, what: str) -> None:
    """Fail before hashing, not after, when ``-o`` cannot be written, or names an existing file
    that is not a ``what`` (``"manifest"``, ``"inclusion proof"``) and so is no earlier output of
    the command (a model's file, say): that file is never overwritten."""
    from gpuhash.atomic import check_destination

    check_destination(output, _READERS[what], what)


def _json_object(data: bytes) -> dict[str, Any] | None:
    """The JSON object ``data`` holds, else None."""
    import json

    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _is_manifest(path: str) -> bool:
    """Whether ``path`` holds a gpuhash manifest, JSON or protobuf, of any version and whether
    or not it is valid (an older or damaged output is still the command's to replace)."""
    from google.protobuf.message import DecodeError

    from gpuhash import limits
    from gpuhash._proto.gpuhash.v1 import manifest_pb2 as pb
    from gpuhash.errors import GpuhashError
    from gpuhash.manifest import check_wire_counts

    try:
        data = limits.read_limited(path, limits.MAX_MANIFEST_BYTES, "output")
    except GpuhashError:
        return False
    value = _json_object(data)
    if value is not None:
        return "specVersion" in value and "algorithm" in value
    try:
        check_wire_counts(data)
        msg = pb.Manifest()
        msg.ParseFromString(data)
    except (GpuhashError, DecodeError):
        return False
    return msg.spec_version > 0 and msg.HasField("algorithm")


def _is_proof(path: str) -> bool:
    """Whether ``path`` holds a gpuhash inclusion proof (JSON), of any version."""
    from gpuhash import limits
    from gpuhash.errors import GpuhashError

    try:
        value = _json_object(limits.read_limited(path, limits.MAX_PROOF_BYTES, "output"))
    except GpuhashError:
        return False
    return value is not None and "specVersion" in value and "objectName" in value


#: Whether an existing file is one the command's ``-o`` may replace, per kind of output.
_READERS = {"manifest": _is_manifest, "inclusion proof": _is_proof}


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


def chosen_backend(args: argparse.Namespace, algorithm: Algorithm | None) -> str | HashBackend:
    """``--backend`` (checked) with ``--device`` applied: a name, or an instance to close."""
    from gpuhash.registry import AUTO, get_backend, is_builtin, registered

    if args.backend != AUTO and not is_builtin(args.backend) and args.backend not in registered():
        raise _unknown_backend(args.backend)
    if args.device is None:
        return str(args.backend)
    if args.backend == AUTO:
        raise UsageError("--device needs --backend (the device belongs to one backend)")
    check_device_option(args.backend)
    return get_backend(args.backend, algorithm=algorithm, device=args.device)


def check_device_option(name: str) -> None:
    """``--device`` for a backend without a choice of device: a usage error saying so."""
    from gpuhash.registry import backend_class, constructor_options

    takes = constructor_options(backend_class(name))
    if takes is not None and "device" not in takes:
        raise UsageError(f"backend {name!r} has no choice of device; leave out --device")


def read_manifest(path: str, what: str) -> Manifest:
    """A manifest written by ``gpuhash hash -o`` (or ``--json``): JSON or protobuf binary."""
    from gpuhash import limits
    from gpuhash.manifest import Manifest, ManifestError

    data = limits.read_limited(path, limits.MAX_MANIFEST_BYTES, what)
    if not data:
        raise ManifestError(f"{path}: the {what} is empty")
    try:
        if data.lstrip()[:1] == b"{":
            return Manifest.from_json(data)
        return Manifest.from_bytes(data)
    except ManifestError as e:
        raise ManifestError(f"{path}: {e}") from None


def walk(args: argparse.Namespace, model: str | None = None) -> dict[str, Any]:
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
                    f"{PROG}: warning: ignore path {printable(p)} matches nothing in "
                    f"{printable(model)}\n"
                )
        out.append(chosen)
    return out
