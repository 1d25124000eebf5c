"""The OpenSSF model_signing v1.0 format (``--format oms``), both ways: resources hashed the way
model_signing hashes them (whole files with SHA-256 or BLAKE3, or SHA-256 shards), the subject
digest over them, and the strict parsing of such predicates for verification.

The hashing here is gpuhash's own: files (or shards) in parallel on a thread pool, each from a
descriptor opened beneath the model root without following links.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from gpuhash import reference as ref
from gpuhash._io import SEQUENTIAL, OpenFile, map_fd, releaser
from gpuhash.backend import FileSpan
from gpuhash.batches import NATIVE_PIECE, SpanPieces
from gpuhash.errors import UsageError, VerificationError
from gpuhash.signing.result import ChangedObject, VerificationResult, selected
from gpuhash.sources import Source
from gpuhash.strict_json import excerpt

PREDICATE_TYPE = "https://model_signing/signature/v1.0"
FILE_HASHES = ("sha256", "blake3")
DEFAULT_SHARD_SIZE = 1_000_000_000


@dataclass(frozen=True)
class Resource:
    name: str  # a file name ("." for a one-file model), or "<file>:<start>:<end>" for a shard
    algorithm: str
    digest: bytes


def _hasher(hash_type: str) -> Any:
    if hash_type == "sha256":
        return hashlib.sha256()
    import blake3

    return blake3.blake3(max_threads=blake3.blake3.AUTO)


#: Bytes mapped at a time: mapped in windows (rather than whole) so the resident memory of a
#: many-GiB file stays at one window; hashlib and blake3 release the GIL on each.
WINDOW = 64 << 20
#: Bytes read at a time for one SHA-256 stream (``_read_range``): within a core's L2 cache.
READ_PIECE = 1 << 20


def _read_range(
    src: Source, hash_type: str, start: int, end: int, advance: Callable[[int], None] | None = None
) -> bytes:
    """As ``_digest_range``, reading with pread (no mapping a truncation could turn into
    SIGBUS), for ``use_mmap=False``: in pieces that stay in the CPU's cache between the read
    and the hash (1 MiB for SHA-256, one stream; ``NATIVE_PIECE`` for multi-threaded BLAKE3)."""
    h = _hasher(hash_type)
    if end > start:
        piece = READ_PIECE if hash_type == "sha256" else NATIVE_PIECE
        with OpenFile(src) as f:
            span = FileSpan(f.fd, start, end - start, src.name)
            for chunk in SpanPieces(None, min(piece, end - start)).pieces(span):
                h.update(chunk)
                if advance is not None:
                    advance(len(chunk))
            f.check()  # every byte hashed: was the file the same all along?
    return bytes(h.digest())


def _digest_range(
    src: Source, hash_type: str, start: int, end: int, advance: Callable[[int], None] | None = None
) -> bytes:
    """The digest of bytes ``[start, end)`` of ``src``'s file, mapped window by window; the file
    is checked once they are hashed (``InputError`` if it changed since it was opened)."""
    h = _hasher(hash_type)
    if end > start:
        with OpenFile(src) as f:
            at = start
            while at < end:
                length = min(WINDOW, end - at)
                m, view = map_fd(f.fd, src.name, at, length, SEQUENTIAL)
                try:
                    h.update(view)
                finally:
                    releaser(view, m)()
                if advance is not None:
                    advance(length)
                at += length
            f.check()  # every byte hashed: was the file the same all along?
    return bytes(h.digest())


def oms_name(src: Source, single_file: bool) -> str:
    return "." if single_file else src.name


def hash_resources(
    sources: Sequence[Source],
    single_file: bool,
    hash_type: str,
    shard_size: int | None,
    threads: int | None = None,
    use_mmap: bool = False,
    progress: Callable[[int, int], object] | None = None,
) -> list[Resource]:
    """The resources of ``sources`` in model_signing's order. ``progress(done, total)`` is
    called (from the hashing threads, one call at a time) as bytes are hashed."""
    digest_range = _digest_range if use_mmap else _read_range
    advance: Callable[[int], None] | None = None
    if progress is not None:
        total = sum(src.size for src in sources)
        lock = threading.Lock()
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            with lock:
                done += n
                progress(done, total)

        progress(0, total)
    jobs: list[tuple[str, Callable[[], bytes]]] = []
    for src in sources:
        name = oms_name(src, single_file)
        if shard_size is None:
            job = functools.partial(digest_range, src, hash_type, 0, src.size, advance)
            jobs.append((name, job))
            continue
        for start in range(0, src.size, shard_size):
            end = min(start + shard_size, src.size)
            job = functools.partial(digest_range, src, "sha256", start, end, advance)
            jobs.append((f"{name}:{start}:{end}", job))
    workers = threads or min(32, os.cpu_count() or 1)
    with ThreadPoolExecutor(max(1, workers), "gpuhash-oms") as pool:
        digests = list(pool.map(lambda job: job[1](), jobs))
    algorithm = hash_type if shard_size is None else f"sha256-sharded-{shard_size}"
    resources = [Resource(n, algorithm, d) for (n, _), d in zip(jobs, digests, strict=True)]
    return sorted(resources, key=_order)


def _order(r: Resource) -> tuple[Any, ...]:
    if r.algorithm.startswith("sha256-sharded-"):
        path, start, end = r.name.rsplit(":", 2)
        return (PurePosixPath(path), int(start), int(end))
    return (PurePosixPath(r.name),)


def root_digest(resources: Sequence[Resource]) -> bytes:
    return hashlib.sha256(b"".join(r.digest for r in resources)).digest()


def predicate(
    resources: Sequence[Resource],
    hash_type: str,
    shard_size: int | None,
    allow_symlinks: bool,
    ignore_paths: Sequence[str],
) -> dict[str, Any]:
    serialization: dict[str, Any] = {
        "method": "files" if shard_size is None else "shards",
        "hash_type": hash_type if shard_size is None else "sha256",
        "allow_symlinks": allow_symlinks,
    }
    if shard_size is not None:
        serialization["shard_size"] = shard_size
    if ignore_paths:
        serialization["ignore_paths"] = list(ignore_paths)
    return {
        "serialization": serialization,
        "resources": [
            {"name": r.name, "algorithm": r.algorithm, "digest": r.digest.hex()} for r in resources
        ],
    }


@dataclass(frozen=True)
class Signed:
    """A verified model_signing predicate."""

    hash_type: str
    shard_size: int | None
    resources: list[Resource]


def _safe_name(name: str) -> bool:
    if name == ".":
        return True
    try:
        ref.check_name(name, ref.KIND_FILE)
    except ref.SpecError:
        return False
    return True


#: The fields model_signing v1.0 writes in its predicate, its serialization and each resource;
#: a signed field this version does not know (and so would not check) is refused.
PREDICATE_FIELDS = ("serialization", "resources")
SERIALIZATION_FIELDS = ("method", "hash_type", "allow_symlinks", "shard_size", "ignore_paths")
RESOURCE_FIELDS = ("name", "algorithm", "digest")


def _known_fields(value: dict[str, Any], fields: Sequence[str], what: str) -> None:
    unknown = sorted(set(value) - set(fields))
    if unknown:
        shown = ", ".join(excerpt(k) for k in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise VerificationError(f"predicate: {what} has unknown fields {shown}{more}")


def parse(digest: dict[str, str], body: dict[str, Any]) -> Signed:
    """Check a model_signing v1.0 predicate: its serialization, every resource's name,
    algorithm and digest, and the subject digest over them."""
    serialization = body.get("serialization")
    resources = body.get("resources")
    if not isinstance(serialization, dict) or not isinstance(resources, list):
        raise VerificationError("predicate: not a model_signing v1.0 predicate")
    _known_fields(body, PREDICATE_FIELDS, "the predicate")
    _known_fields(serialization, SERIALIZATION_FIELDS, "the serialization")
    method = serialization.get("method")
    hash_type = serialization.get("hash_type")
    shard_size: int | None = None
    if method == "files":
        if hash_type not in FILE_HASHES:
            raise VerificationError(f"predicate: unsupported file hash {hash_type!r}")
        expected_algorithm = str(hash_type)
    elif method == "shards":
        raw = serialization.get("shard_size")
        # model_signing writes the shard size as a JSON number that may be a float.
        if (
            hash_type != "sha256"
            or isinstance(raw, bool)
            or not isinstance(raw, int | float)
            or (isinstance(raw, float) and not (math.isfinite(raw) and raw.is_integer()))
            or not 1 <= raw < 1 << 63
        ):
            raise VerificationError("predicate: unsupported shard serialization")
        shard_size = int(raw)
        expected_algorithm = f"sha256-sharded-{shard_size}"
    else:
        raise VerificationError(f"predicate: unknown serialization method {method!r}")
    parsed: list[Resource] = []
    seen: set[str] = set()
    for entry in resources:
        if not isinstance(entry, dict):
            raise VerificationError("predicate: a resource is not a JSON object")
        _known_fields(entry, RESOURCE_FIELDS, "a resource")
        name, algorithm, hexdigest = entry.get("name"), entry.get("algorithm"), entry.get("digest")
        if not isinstance(name, str) or not isinstance(hexdigest, str):
            raise VerificationError("predicate: a resource has no name or digest")
        if algorithm != expected_algorithm:
            raise VerificationError(
                f"predicate: resource {ref.shown(name)} uses {ref.shown(algorithm)}, "
                f"not {expected_algorithm!r}"
            )
        path = name
        if shard_size is not None:
            parts = name.rsplit(":", 2)
            if len(parts) != 3 or not all(re.fullmatch(r"[0-9]{1,20}", p) for p in parts[1:]):
                raise VerificationError(f"predicate: bad shard name {ref.shown(name)}")
            path, start, end = parts[0], int(parts[1]), int(parts[2])
            if start % shard_size or not start < end <= start + shard_size:
                raise VerificationError(f"predicate: bad shard range in {ref.shown(name)}")
        if not _safe_name(path):
            raise VerificationError(
                f"predicate: unsafe resource name {ref.shown(name)} (absolute, '..' or empty parts)"
            )
        if name in seen:
            raise VerificationError(f"predicate: resource {ref.shown(name)} is listed twice")
        seen.add(name)
        try:
            value = bytes.fromhex(hexdigest)
        except ValueError:
            raise VerificationError(
                f"predicate: resource {ref.shown(name)} has a malformed digest"
            ) from None
        if len(value) != 32:
            raise VerificationError(
                f"predicate: resource {ref.shown(name)} has a digest of the wrong size"
            )
        parsed.append(Resource(name, str(algorithm), value))
    want = digest.get("sha256")
    if len(digest) != 1 or want is None:
        raise VerificationError("signature: the subject digest is not a single sha256 digest")
    if not hmac.compare_digest(root_digest(parsed).hex().encode(), want.encode()):
        raise VerificationError("signature: the listed resources do not hash to the subject digest")
    return Signed(str(hash_type), shard_size, parsed)


def check_shard_size(shard_size: int) -> int:
    if shard_size < 1:
        raise UsageError(f"--shard-size must be a positive number of bytes, not {shard_size}")
    return shard_size


def compare(
    model: str,
    signed: Any,
    ignores: list[str],
    walk: dict[str, Any],
    ignore_unsigned: bool,
    result: VerificationResult,
    only: list[str],
    progress: Any = None,
    use_mmap: bool = False,
) -> None:
    """Re-hash ``model``'s files (or shards) listed in the verified predicate ``signed`` (those
    matching ``only``) and record in ``result`` the missing, extra (unless
    ``ignore_unsigned``) and changed ones; with shards, a changed file's differing shards."""
    from gpuhash import api

    single = os.path.isfile(model)
    sources = api.list_objects(model, ignore_paths=ignores, **walk)
    local = {oms_name(s, single): s for s in sources}
    by_file: dict[str, dict[str, bytes]] = {}
    for r in signed.resources:
        path = r.name if signed.shard_size is None else r.name.rsplit(":", 2)[0]
        by_file.setdefault(path, {})[r.name] = r.digest
    if not by_file:
        raise VerificationError("signature: it lists no objects, so it verifies nothing")
    wanted = set(selected(list(by_file), only))
    by_file = {path: shards for path, shards in by_file.items() if path in wanted}
    result.objects = len(by_file)
    result.missing = [n for n in by_file if n not in local]
    # An empty file has no shards, so a sharded signature cannot list it (model_signing's
    # format): empty local files are not reported as extra there.
    result.extra = [
        n
        for n, src in local.items()
        if n not in by_file
        and not ignore_unsigned
        and not (signed.shard_size is not None and src.size == 0)
    ]
    both = [local[n] for n in by_file if n in local]
    mine = hash_resources(
        both,
        single,
        signed.hash_type,
        signed.shard_size,
        progress=progress,
        use_mmap=use_mmap,
    )
    got: dict[str, dict[str, bytes]] = {}
    for r in mine:
        path = r.name if signed.shard_size is None else r.name.rsplit(":", 2)[0]
        got.setdefault(path, {})[r.name] = r.digest
    for path in (n for n in by_file if n in local):
        want, have = by_file[path], got.get(path, {})
        differing = sorted(
            n
            for n in set(want) | set(have)
            if n not in want or n not in have or not hmac.compare_digest(want[n], have[n])
        )
        if not differing:
            continue
        spans = None
        if signed.shard_size is not None:
            spans = sorted((int(n.rsplit(":", 2)[1]), int(n.rsplit(":", 2)[2])) for n in differing)
        result.changed.append(ChangedObject(path, spans))
