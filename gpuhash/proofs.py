"""Inclusion proofs for byte ranges of objects of a model path (spec section 7): made from the
files (``gpuhash prove``), checked against a verified manifest reading only the range's leaves
(``gpuhash verify --range``), as a tensor-parallel rank checks its shard of a tensor.

The proof document is the protobuf ``gpuhash.v1.InclusionProof`` in its JSON mapping.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from gpuhash import limits, strict_json
from gpuhash import reference as ref
from gpuhash._io import OpenFile, map_fd, read_fd, read_into, releaser
from gpuhash.algorithms import Algorithm, resolve_algorithm
from gpuhash.backend import HashBackend
from gpuhash.errors import UsageError, VerificationError
from gpuhash.sources import Source

#: The largest byte range whose leaves are read to check a proof.
MAX_PROOF_BYTES = 1 << 34


@dataclass(frozen=True)
class Proof:
    algorithm: Algorithm
    object_name: str
    object_size: int
    first_leaf: int
    leaf_count: int
    nodes: tuple[bytes, ...]

    @property
    def byte_range(self) -> tuple[int, int]:
        """The bytes the proven leaves cover: [first * L, min(end * L, size))."""
        L = self.algorithm.leaf_size
        return (
            self.first_leaf * L,
            min((self.first_leaf + self.leaf_count) * L, self.object_size),
        )

    def to_json(self) -> str:
        from google.protobuf import json_format

        from gpuhash._proto.gpuhash.v1 import manifest_pb2 as pb
        from gpuhash.manifest import FAMILY_ENUM

        msg = pb.InclusionProof(
            spec_version=ref.SPEC_VERSION,
            algorithm=pb.Algorithm(
                family=FAMILY_ENUM[self.algorithm.family],  # type: ignore[arg-type]
                leaf_size=self.algorithm.leaf_size,
                id=self.algorithm.id,
            ),
            object_name=self.object_name,
            object_size=self.object_size,
            first_leaf=self.first_leaf,
            leaf_count=self.leaf_count,
            nodes=list(self.nodes),
        )
        return json.dumps(json_format.MessageToDict(msg), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Proof:
        from google.protobuf import json_format

        from gpuhash._proto.gpuhash.v1 import manifest_pb2 as pb

        msg = pb.InclusionProof()
        try:
            value = strict_json.loads(text, "proof", max_values=limits.MAX_PROOF_VALUES)
        except strict_json.JSONError as e:
            raise UsageError(f"not a gpuhash inclusion proof: {e}") from None
        if not isinstance(value, dict):
            raise UsageError("not a gpuhash inclusion proof: not a JSON object")
        try:
            json_format.ParseDict(value, msg)
        except json_format.ParseError as e:
            raise UsageError(f"not a gpuhash inclusion proof: {str(e).splitlines()[0]}") from None
        if msg.spec_version != ref.SPEC_VERSION:
            raise UsageError(f"proof has spec version {msg.spec_version}, expected 1")
        try:
            # The leaf size recorded must agree with the identifier; for blake3, whose
            # identifier has no leaf part, it is the proof's own L (spec section 7).
            alg = resolve_algorithm(msg.algorithm.id, int(msg.algorithm.leaf_size) or None)
        except UsageError as e:
            raise UsageError(f"proof algorithm: {e}") from None
        return cls(
            alg,
            msg.object_name,
            int(msg.object_size),
            int(msg.first_leaf),
            int(msg.leaf_count),
            tuple(bytes(n) for n in msg.nodes),
        )


def _find(sources: Sequence[Source], name: str) -> Source:
    for src in sources:
        if src.name == name:
            return src
    raise UsageError(f"no object named {name!r} here")


def _read(src: Source, start: int, end: int) -> bytes:
    """Bytes [start, end) of an object, from its file (checked before and after the read), and
    nothing else."""
    out = bytearray(end - start)
    read_into(src, start, memoryview(out), "read")
    return bytes(out)


def _read_at(f: OpenFile, src: Source, start: int, end: int) -> bytes:
    """Bytes [start, end) of an object, from its open file ``f``, and nothing else."""
    out = bytearray(end - start)
    read_fd(f.fd, src, start, memoryview(out), "read")
    return bytes(out)


#: With ``use_mmap=False``, the most bytes of an object read into memory at once for a proof.
READ_WINDOW = 64 << 20


def _prove_reading(
    src: Source, alg: Algorithm, first: int, count: int, backend: str | HashBackend
) -> list[bytes]:
    """The proof values of leaves [first, first + count) of ``src``, reading its bytes with
    pread: a subtree larger than ``READ_WINDOW`` is split as the tree splits it (section 3) and
    its halves' values joined with the family's node function. The file is checked once every
    value is computed: one that changed since it was opened is an ``InputError``."""
    from gpuhash import api
    from gpuhash.digests import subtree_values

    L = alg.leaf_size
    n = ref.leaf_count(src.size, L)
    try:
        ranges = ref.proof_ranges(alg.family, n, first, count)
    except ref.SpecError as e:
        raise UsageError(str(e)) from None
    window_leaves = max(1, READ_WINDOW // L)

    def value(f: OpenFile, b: HashBackend, lo: int, hi: int) -> bytes:
        if hi - lo > window_leaves:
            k = ref.largest_power_of_two_below(hi - lo)
            left, right = value(f, b, lo, lo + k), value(f, b, lo + k, hi)
            return ref.node_value(alg.family, left, right, False)
        data = _read_at(f, src, lo * L, min(hi * L, src.size))
        return subtree_values(b, alg, data, src.size, [(lo, hi)], first_byte=lo * L)[0]

    with api.backend_for(backend, alg, min(src.size, READ_WINDOW)) as b, OpenFile(src, "read") as f:
        values = [value(f, b, lo, hi) for lo, hi in ranges]
        f.check()
        return values


def prove_object(
    path: str | os.PathLike[str],
    name: str,
    start: int,
    end: int,
    *,
    algorithm: str | Algorithm | None = None,
    leaf_size: int | None = None,
    objects: str = "files",
    backend: object = "auto",
    ignore_paths: Sequence[str] = (),
    allow_symlinks: bool = False,
    link_root: str | os.PathLike[str] | None = None,
    ignore_git_paths: bool = True,
    use_mmap: bool = False,
) -> Proof:
    """A proof for bytes ``[start, end)`` of the object ``name`` of a model path (rounded out to
    whole leaves). The object is read with pread, one subtree of at most ``READ_WINDOW`` bytes
    at a time (a file truncated meanwhile is then an error, never a SIGBUS); with
    ``use_mmap=True`` it is memory-mapped instead, not read into memory."""
    from gpuhash import api

    alg = algorithm if isinstance(algorithm, Algorithm) else resolve_algorithm(algorithm, leaf_size)
    if not alg.has_tree:
        raise UsageError(f"{alg.family} has no tree, so no inclusion proofs (spec section 7)")
    sources = api.list_objects(
        path,
        ignore_paths=ignore_paths,
        allow_symlinks=allow_symlinks,
        link_root=link_root,
        ignore_git_paths=ignore_git_paths,
        objects=objects,
    )
    src = _find(sources, name)
    try:
        first, count = ref.proof_leaves(start, end, src.size, alg.leaf_size)
    except ref.SpecError as e:
        raise UsageError(f"{name}: {e}") from None
    if src.size == 0:  # the one (empty) leaf of an empty object
        nodes = api.prove(b"", 0, 1, algorithm=alg, backend=backend)  # type: ignore[arg-type]
        return Proof(alg, name, 0, 0, 1, tuple(nodes))
    if not use_mmap:
        nodes = _prove_reading(src, alg, first, count, backend)  # type: ignore[arg-type]
        return Proof(alg, name, src.size, first, count, tuple(nodes))
    with OpenFile(src) as f:
        m, window = map_fd(f.fd, src.name, src.offset, src.size)
        try:
            nodes = api.prove(window, first, count, algorithm=alg, backend=backend)  # type: ignore[arg-type]
        finally:
            # If an error's traceback still holds a slice, the mapping is left to the garbage
            # collector rather than hiding that error behind a BufferError.
            releaser(window, m)()
        f.check()  # the mapped bytes are hashed: was the file the same all along?
    return Proof(alg, name, src.size, first, count, tuple(nodes))


def check_range(
    path: str | os.PathLike[str],
    manifest: object,
    proof: Proof,
    *,
    ignore_paths: Sequence[str] = (),
    allow_symlinks: bool = False,
    link_root: str | os.PathLike[str] | None = None,
    ignore_git_paths: bool = True,
) -> tuple[int, int]:
    """Check ``proof`` against a verified ``manifest``: the object's size and digest come from
    the manifest, the leaves from the local object (only them are read). Returns the verified
    byte range; raises ``VerificationError``."""
    from gpuhash import api, digests
    from gpuhash.formats import split_source
    from gpuhash.formats.safetensors import safetensors_prefix, tensor_sources
    from gpuhash.manifest import Manifest

    assert isinstance(manifest, Manifest)
    if proof.algorithm.id != manifest.algorithm.id:
        raise VerificationError(
            f"the proof uses {proof.algorithm.id}, the signed manifest {manifest.algorithm.id}"
        )
    if not manifest.algorithm.has_tree:
        raise VerificationError(f"{manifest.algorithm.family} has no inclusion proofs")
    try:
        signed = manifest[proof.object_name]
    except KeyError:
        raise VerificationError(
            f"the signed manifest has no object {ref.shown(proof.object_name)}"
        ) from None
    mode = "files" if signed.kind == ref.KIND_FILE else "tensors"
    size = signed.size  # the manifest's, never the proof's (spec section 7)
    # The proof's leaf size: equal to the manifest's for merkle-* (both are in the identifier,
    # compared above); for blake3 the object digest does not depend on L, so a proof made at any
    # leaf size checks against any blake3 manifest (spec section 7).
    L = proof.algorithm.leaf_size
    n = ref.leaf_count(size, L)
    a, b = proof.first_leaf, proof.first_leaf + proof.leaf_count
    if not 0 <= a < b <= n:
        raise VerificationError(f"the proof's leaves {a}..{b} are not inside the object")
    start, end = a * L, min(b * L, size)
    if end - start > MAX_PROOF_BYTES:
        raise UsageError("the proven range is larger than gpuhash reads for a proof")
    files = api.list_objects(
        path,
        ignore_paths=ignore_paths,
        allow_symlinks=allow_symlinks,
        link_root=link_root,
        ignore_git_paths=ignore_git_paths,
    )
    source_file = digests.source_file(signed)
    if mode == "tensors":
        # Only the proof's file is split, and its header object is checked first: it fixes
        # where the tensor lies, so the bytes read below are the signed tensor's.
        header_name = f"{source_file}{ref.TENSOR_SEPARATOR}{ref.HEADER_OBJECT}"
        try:
            signed_header = manifest[header_name]
            (file_src,) = [f for f in files if f.name == source_file]
        except (KeyError, ValueError):
            raise VerificationError(f"missing: {source_file}") from None
        if file_src.name.endswith(ref.SAFETENSORS_SUFFIX):
            prefix = safetensors_prefix(file_src)
            sources = tensor_sources(file_src, prefix)
            header_bytes = prefix
        else:
            sources = split_source(file_src)
            header_bytes = _read(sources[0], 0, sources[0].size)
        header_digest = api.hash_bytes(header_bytes, algorithm=manifest.algorithm, backend="cpu")
        if len(header_bytes) != signed_header.size or not hmac.compare_digest(
            header_digest, signed_header.digest
        ):
            raise VerificationError(f"{header_name}: differs from the signed header")
    else:
        sources = files
    try:
        src = _find(sources, proof.object_name)
    except UsageError:
        raise VerificationError(f"missing: {proof.object_name}") from None
    if src.size != size:
        raise VerificationError(f"{proof.object_name}: {src.size} bytes here, {size} signed")
    data = _read(src, start, end)
    leaves = [data[i : i + L] for i in range(0, len(data), L)] or [b""]
    ok = ref.verify_proof(
        manifest.algorithm.family, L, size, signed.digest, a, leaves, list(proof.nodes)
    )
    if not ok:
        raise VerificationError(
            f"{proof.object_name}: bytes [{start}, {end}) do not match the signed digest"
        )
    return start, end
