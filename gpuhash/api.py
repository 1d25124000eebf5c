"""The public functions other tools embed: hash_path, hash_bytes, prove, verify_proof."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from gpuhash import reference as ref
from gpuhash.algorithms import Algorithm, resolve_algorithm
from gpuhash.backend import HashBackend
from gpuhash.engine import (
    ProgressFn,
    Source,
    hash_sources,
    memory_source,
    open_beneath,
    subtree_values,
)
from gpuhash.errors import InputError, UsageError
from gpuhash.manifest import Manifest
from gpuhash.registry import AUTO, get_backend


@contextmanager
def _backend(backend: str | HashBackend, algorithm: Algorithm) -> Iterator[HashBackend]:
    if isinstance(backend, HashBackend):
        yield backend
        return
    instance = get_backend(backend, algorithm=algorithm)
    try:
        yield instance
    finally:
        instance.close()


#: Below this many bytes ``auto`` uses the ``cpu`` backend without probing devices: starting a
#: device (importing its stack, creating a context, building kernels) costs more than hashing.
AUTO_DEVICE_MIN_BYTES = 64 << 20


def _auto_for_size(backend: str | HashBackend, total: int) -> str | HashBackend:
    if backend == AUTO and total < AUTO_DEVICE_MIN_BYTES:
        return "cpu"
    return backend


def list_objects(
    path: str | os.PathLike[str],
    *,
    ignore_paths: Sequence[str] = (),
    allow_symlinks: bool = False,
) -> list[Source]:
    """The FILE objects of a model path (spec section 1.2), with sizes, not yet read."""
    p = os.fspath(path)
    try:
        listed = ref.list_model(p, ignore_paths, allow_symlinks)
    except ref.SpecError as e:
        raise InputError(str(e)) from None
    except FileNotFoundError:
        raise InputError(f"{p}: no such file or directory") from None
    except OSError as e:
        raise InputError(f"{p}: {e.strerror or e}") from None
    root = os.path.realpath(p)
    if not os.path.isdir(root):
        root = os.path.dirname(root)
    sources = []
    for name, full in listed:
        rel = os.path.relpath(full, root).replace(os.sep, "/")
        try:
            fd = open_beneath(root, rel)
        except PermissionError:
            raise InputError(f"{name}: permission denied") from None
        except OSError as e:
            raise InputError(f"{name}: cannot open: {e.strerror}") from None
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{name}: not a regular file")
        sources.append(
            Source(
                name=name,
                kind=ref.KIND_FILE,
                size=st.st_size,
                path=full,
                identity=(st.st_dev, st.st_ino, st.st_mtime_ns),
                root=root,
                rel=rel,
            )
        )
    return sources


def hash_path(
    path: str | os.PathLike[str],
    *,
    algorithm: str | Algorithm | None = None,
    leaf_size: int | None = None,
    backend: str | HashBackend = "auto",
    ignore_paths: Sequence[str] = (),
    allow_symlinks: bool = False,
    progress: ProgressFn | None = None,
    use_mmap: bool = True,
) -> Manifest:
    """Hash a model file or directory; the manifest holds every object digest and the artifact
    digest. ``algorithm`` is a family (``merkle-sha256``, ``blake3``...) or an identifier
    (``gh1-merkle-sha256-64k``); ``progress(done, total)`` is called as bytes are hashed.
    ``use_mmap=False`` reads files instead of mapping them: use it when others may truncate the
    files while they are hashed (a truncated mapping ends the process with SIGBUS)."""
    alg = algorithm if isinstance(algorithm, Algorithm) else resolve_algorithm(algorithm, leaf_size)
    sources = list_objects(path, ignore_paths=ignore_paths, allow_symlinks=allow_symlinks)
    backend = _auto_for_size(backend, sum(s.size for s in sources))
    with _backend(backend, alg) as b:
        objects = hash_sources(b, alg, sources, progress=progress, use_mmap=use_mmap)
    return Manifest.build(alg, objects)


def hash_bytes(
    data: object,
    *,
    algorithm: str | Algorithm | None = None,
    leaf_size: int | None = None,
    backend: str | HashBackend = "auto",
) -> bytes:
    """The object digest of one in-memory object: bytes, bytearray, memoryview or a numpy array
    (its bytes in C order), or a device array hashed where it lies by a backend of its device
    (a pyopencl array with ``backend="opencl"``, created in that backend's ``context``)."""
    alg = algorithm if isinstance(algorithm, Algorithm) else resolve_algorithm(algorithm, leaf_size)
    source = memory_source("<bytes>", ref.KIND_FILE, data)
    if not source.device:
        backend = _auto_for_size(backend, source.size)
    with _backend(backend, alg) as b:
        (obj,) = hash_sources(b, alg, [source])
    return obj.digest


def _check_proof_algorithm(alg: Algorithm) -> None:
    if not alg.has_tree:
        raise UsageError(f"{alg.family} has no inclusion proofs (spec section 7)")


def prove(
    data: object,
    first_leaf: int,
    leaf_count: int,
    *,
    algorithm: str | Algorithm | None = None,
    leaf_size: int | None = None,
    backend: str | HashBackend = "auto",
) -> list[bytes]:
    """An inclusion proof (spec section 7) for leaves ``[first_leaf, first_leaf + leaf_count)``
    of an in-memory object: the values of the subtrees beside the path, in PROVE's order,
    each computed by ``backend`` (one ``hash_subtrees`` call for all of them)."""
    alg = algorithm if isinstance(algorithm, Algorithm) else resolve_algorithm(algorithm, leaf_size)
    _check_proof_algorithm(alg)
    source = memory_source("<bytes>", ref.KIND_FILE, data)
    if source.device:
        raise UsageError("proofs are made from host memory; copy the array to the host first")
    assert source.data is not None
    n = ref.leaf_count(source.size, alg.leaf_size)
    try:
        ranges = ref.proof_ranges(alg.family, n, first_leaf, leaf_count)
    except ref.SpecError as e:
        raise UsageError(str(e)) from None
    if not ranges:
        return []
    with _backend(_auto_for_size(backend, source.size), alg) as b:
        return subtree_values(b, alg, source.data, source.size, ranges)


def verify_proof(
    leaves: Sequence[bytes],
    first_leaf: int,
    nodes: Sequence[bytes],
    *,
    size: int,
    digest: bytes,
    algorithm: str | Algorithm | None = None,
    leaf_size: int | None = None,
) -> bool:
    """Whether ``leaves`` (the bytes of leaves ``first_leaf``.. of an object of ``size`` bytes)
    belong to the object ``digest``, given the proof ``nodes``."""
    alg = algorithm if isinstance(algorithm, Algorithm) else resolve_algorithm(algorithm, leaf_size)
    _check_proof_algorithm(alg)
    return ref.verify_proof(alg.family, alg.leaf_size, size, digest, first_leaf, leaves, nodes)
