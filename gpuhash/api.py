"""The public functions other tools embed: hash_path, hash_bytes, prove, verify_proof."""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from gpuhash import limits
from gpuhash import reference as ref
from gpuhash._io import open_beneath
from gpuhash.algorithms import Algorithm, resolve_algorithm
from gpuhash.atomic import leftovers
from gpuhash.backend import HashBackend
from gpuhash.digests import subtree_values
from gpuhash.engine import ProgressFn, hash_sources
from gpuhash.errors import InputError, UsageError
from gpuhash.formats import split_source, splits
from gpuhash.manifest import Manifest
from gpuhash.registry import AUTO, get_backend
from gpuhash.sources import Source, memory_source

log = logging.getLogger(__name__)


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
        log.info(
            "auto: chose cpu: %d bytes, under the %d MiB for which a device is started",
            total,
            AUTO_DEVICE_MIN_BYTES >> 20,
        )
        return "cpu"
    return backend


@contextmanager
def backend_for(
    backend: str | HashBackend, algorithm: Algorithm, total: int
) -> Iterator[HashBackend]:
    """A backend instance to hash ``total`` bytes with: ``backend`` itself when it is one (the
    caller closes it), else a new one (``auto`` below ``AUTO_DEVICE_MIN_BYTES`` means ``cpu``),
    closed on exit."""
    with _backend(_auto_for_size(backend, total), algorithm) as b:
        yield b


OBJECT_MODES = ("files", "tensors")


def default_ignores(ignore_git_paths: bool = True) -> tuple[str, ...]:
    """The default ignore paths (spec section 1.2): git's files (unless ``ignore_git_paths`` is
    false, model_signing's ``--no-ignore-git-paths``) and ``.cache/huggingface``."""
    return ref.DEFAULT_IGNORES if ignore_git_paths else ref.HF_IGNORES


def ignoring_own_files(
    model: str | os.PathLike[str],
    own_files: Sequence[str | os.PathLike[str] | None],
    ignore_paths: Sequence[str] = (),
) -> list[str]:
    """``ignore_paths`` plus each of ``own_files`` (a manifest or signature being written or
    read) that lies inside the model directory, so that a command never hashes its own output:
    ``gpuhash hash M -o M/manifest.json`` and ``gpuhash sign ... M --signature M/model.sig``;
    with them the temporary files a killed write of one of them left behind
    (``gpuhash.atomic.leftovers``), which are no objects of the model either."""
    paths = list(ignore_paths)
    root = os.path.realpath(model)
    if not os.path.isdir(root):
        return paths
    given = os.path.abspath(model)
    for own in own_files:
        if own is None:
            continue
        # The walk names a file by the links it went through (``sub/m.json`` when ``sub`` is a
        # link to ``real``), so the own file is left out under each name it may be listed as:
        # resolved, and as written (against the model as written and as resolved).
        written = os.path.abspath(own)
        for path, base in ((os.path.realpath(own), root), (written, given), (written, root)):
            if path != base and os.path.commonpath([base, path]) == base:
                for p in (path, *leftovers(path)):
                    rel = os.path.relpath(p, base).replace(os.sep, "/")
                    if rel not in paths:
                        paths.append(rel)
    return paths


def list_objects(
    path: str | os.PathLike[str],
    *,
    ignore_paths: Sequence[str] = (),
    allow_symlinks: bool = False,
    objects: str = "files",
    link_root: str | os.PathLike[str] | None = None,
    ignore_git_paths: bool = True,
    defaults: Sequence[str] | None = None,
) -> list[Source]:
    """The objects of a model path, with sizes, not yet read: its FILE objects (spec section
    1.2), or with ``objects="tensors"`` each safetensors file split into its header and tensor
    objects (section 1.3; the header is read and validated here).

    Symbolic links are refused unless ``allow_symlinks`` (links resolving inside the path) or
    ``link_root`` (links resolving inside that directory, which contains the path); a Hugging
    Face cache snapshot's links to its own blobs are always followed. ``defaults``: the default
    ignore paths that apply, instead of ``default_ignores(ignore_git_paths)``."""
    if objects not in OBJECT_MODES:
        raise UsageError(f"objects must be one of {', '.join(OBJECT_MODES)}, not {objects!r}")
    if isinstance(ignore_paths, str | bytes):
        raise UsageError("ignore_paths must be a list of paths, not one string")
    p = os.fspath(path)
    if not isinstance(p, str):
        raise UsageError(f"the model path must be str or os.PathLike[str], not {type(p).__name__}")
    if "\0" in p:
        raise InputError(f"{p!r}: a path cannot contain NUL")
    lr = None if link_root is None else os.fspath(link_root)
    if lr is not None:
        limits.refuse_nul(lr, "the link root")
    chosen = default_ignores(ignore_git_paths) if defaults is None else tuple(defaults)
    try:
        listed = ref.list_model(
            p, ignore_paths, allow_symlinks, link_root=lr, default_ignores=chosen
        )
        # Every file is opened beneath this directory without following links on the way.
        root = ref.walk_base(p, lr)
    except ref.SpecError as e:
        raise InputError(str(e)) from None
    except FileNotFoundError:
        raise InputError(f"{p}: no such file or directory") from None
    except OSError as e:
        raise InputError(f"{p}: {e.strerror or e}") from None
    sources = []
    listed_ns = time.time_ns()
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
                ctime_ns=st.st_ctime_ns,
                root=root,
                rel=rel,
                listed_ns=listed_ns,
            )
        )
    return objects_of_files(sources, objects)


def objects_of_files(
    files: Sequence[Source], objects: str, split: Callable[[str], bool] | None = None
) -> list[Source]:
    """The objects of listed files: with ``objects="tensors"``, tensor files are split (only
    those for which ``split(name)`` holds, when given: a selective check reads no other
    header). Object names must be unique (a plain file named ``F::T`` cannot stand in for
    tensor ``T`` of ``F``)."""
    out = []
    for src in files:
        if objects == "tensors" and splits(src.name) and (split is None or split(src.name)):
            out.extend(split_source(src))
        else:
            out.append(src)
        if len(out) > ref.MAX_OBJECTS:  # spec section 1.2: tensors count as objects
            raise InputError(f"more than {ref.MAX_OBJECTS} objects (spec section 1.2)")
    seen: set[str] = set()
    for o in out:
        if o.name in seen:
            raise InputError(f"object name {ref.shown(o.name)} appears twice")
        seen.add(o.name)
    return out


def hash_path(
    path: str | os.PathLike[str],
    *,
    algorithm: str | Algorithm | None = None,
    leaf_size: int | None = None,
    backend: str | HashBackend = "auto",
    ignore_paths: Sequence[str] = (),
    allow_symlinks: bool = False,
    link_root: str | os.PathLike[str] | None = None,
    ignore_git_paths: bool = True,
    progress: ProgressFn | None = None,
    use_mmap: bool = False,
    objects: str = "files",
) -> Manifest:
    """Hash a model file or directory; the manifest holds every object digest and the artifact
    digest. ``objects="tensors"`` hashes each tensor of a safetensors file as an object of its
    own (spec section 1.3). ``algorithm`` is a family (``merkle-sha256``, ``blake3``...) or an
    identifier (``gh1-merkle-sha256-64k``); ``progress(done, total)`` is called as bytes are
    hashed.
    Files are read with pread (the default: a file changed or truncated by someone else while
    it is hashed is an ``InputError``); ``use_mmap=True`` maps them instead, only for files
    nobody can truncate meanwhile (a truncated mapping ends the process with SIGBUS)."""
    alg = algorithm if isinstance(algorithm, Algorithm) else resolve_algorithm(algorithm, leaf_size)
    sources = list_objects(
        path,
        ignore_paths=ignore_paths,
        allow_symlinks=allow_symlinks,
        link_root=link_root,
        ignore_git_paths=ignore_git_paths,
        objects=objects,
    )
    backend = _auto_for_size(backend, sum(s.size for s in sources))
    with _backend(backend, alg) as b:
        digests = hash_sources(b, alg, sources, progress=progress, use_mmap=use_mmap)
    return Manifest.build(alg, digests)


def hash_bytes(
    data: object,
    *,
    algorithm: str | Algorithm | None = None,
    leaf_size: int | None = None,
    backend: str | HashBackend = "auto",
) -> bytes:
    """The object digest of one in-memory object: bytes, bytearray, memoryview, a numpy array
    or a CPU tensor with DLPack (its bytes in C order), or a device array hashed where it lies
    by a backend of its device (a pyopencl array with ``backend="opencl"``, created in that
    backend's ``context``; a CuPy array or torch CUDA tensor with ``backend="cuda"``), after
    the work its producer reports as pending (docs/device-arrays.md)."""
    alg = algorithm if isinstance(algorithm, Algorithm) else resolve_algorithm(algorithm, leaf_size)
    source = memory_source("<bytes>", ref.KIND_FILE, data)
    if not source.device:
        backend = _auto_for_size(backend, source.size)
    with _backend(backend, alg) as b:
        (obj,) = hash_sources(b, alg, [source])
    return obj.digest


def _host_tensor(value: object) -> object:
    """A numpy array in little-endian byte order (files store tensors little-endian: a
    big-endian array is hashed as those bytes); anything else unchanged (``memory_source``
    reads CPU DLPack tensors, buffers and device arrays)."""
    import sys

    numpy = sys.modules.get("numpy")
    if not (numpy is not None and isinstance(value, numpy.ndarray)):
        return value
    order = value.dtype.byteorder
    if order == ">" or (order == "=" and sys.byteorder == "big"):
        return value.astype(value.dtype.newbyteorder("<"))
    return value


def hash_tensors(
    tensors: Mapping[str, object],
    *,
    algorithm: str | Algorithm | None = None,
    leaf_size: int | None = None,
    backend: str | HashBackend = "auto",
) -> Manifest:
    """Hash a state dict: one ``TENSOR`` object per entry, named by its key, with the same object
    digest as that tensor read from a safetensors file (spec section 1.3: a tensor's digest is
    that of its bytes in C order). Values: numpy arrays, bytes-like objects, CPU tensors with
    DLPack (torch), and device arrays hashed where they lie by the backend of their device
    (CuPy or torch CUDA tensors with ``cuda``, ``dpctl.tensor`` with ``intel``, pyopencl arrays
    with ``opencl``)."""
    alg = algorithm if isinstance(algorithm, Algorithm) else resolve_algorithm(algorithm, leaf_size)
    sources = [
        memory_source(name, ref.KIND_TENSOR, _host_tensor(value)) for name, value in tensors.items()
    ]
    for src in sources:
        try:
            ref.check_name(src.name, ref.KIND_TENSOR)
        except ref.SpecError as e:
            raise UsageError(str(e)) from None
    if not any(s.device for s in sources):
        backend = _auto_for_size(backend, sum(s.size for s in sources))
    with _backend(backend, alg) as b:
        digests = hash_sources(b, alg, sources)
    return Manifest.build(alg, digests)


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
