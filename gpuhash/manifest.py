"""The manifest: what was hashed, how, and the digests (spec section 8, ``gpuhash.v1.Manifest``).

Binary form: the protobuf encoding. JSON form: protobuf's canonical JSON mapping (digests as
base64, 64-bit integers as strings). Loading a manifest validates it completely: version,
algorithm identifier against family and leaf size, names, digest lengths, and the artifact
digest recomputed from the objects.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpuhash import limits, strict_json
from gpuhash import reference as ref
from gpuhash.algorithms import FAMILY_TABLE, Algorithm
from gpuhash.digests import ObjectDigest, digests_equal, ordered_artifact_digest, spec_order
from gpuhash.errors import InputError, UsageError

if TYPE_CHECKING:
    from gpuhash._proto.gpuhash.v1 import manifest_pb2 as pb

# The gpuhash.v1.HashFamily numbers, from the family table (tests check they agree with
# proto/gpuhash/v1/manifest.proto). protobuf itself is imported only to encode or decode,
# keeping `gpuhash digest` quick to start.
FAMILY_ENUM = {f.name: f.proto_enum for f in FAMILY_TABLE}
_ENUM_FAMILY = {v: k for k, v in FAMILY_ENUM.items()}

KIND_NAMES = {ref.KIND_FILE: "file", ref.KIND_TENSOR: "tensor", ref.KIND_TENSOR_HEADER: "header"}


class ManifestError(InputError):
    """A manifest that is malformed or inconsistent."""


@dataclass(frozen=True)
class Manifest:
    """The result of hashing an artifact."""

    algorithm: Algorithm
    objects: tuple[ObjectDigest, ...]
    artifact_digest: bytes
    spec_version: int = ref.SPEC_VERSION

    @classmethod
    def build(cls, algorithm: Algorithm, objects: Iterable[ObjectDigest]) -> Manifest:
        """Sort the objects as the spec orders them and compute the artifact digest."""
        ordered = tuple(spec_order(objects))
        return cls(algorithm, ordered, ordered_artifact_digest(algorithm, ordered))

    # -- presentation --------------------------------------------------------------------------

    @property
    def hexdigest(self) -> str:
        return self.artifact_digest.hex()

    def digest_line(self) -> str:
        """``<algorithm-id>[+tensors]:<hex artifact digest>``, as ``gpuhash digest`` prints it
        (spec section 2.3): ``+tensors`` when the objects are tensors (``objects="tensors"``
        split at least one file), so the line names everything its digest depends on."""
        return ref.digest_line(
            self.algorithm.id, (o.kind for o in self.objects), self.artifact_digest
        )

    def __getitem__(self, name: str) -> ObjectDigest:
        for o in self.objects:
            if o.name == name:
                return o
        raise KeyError(name)

    # -- protobuf ------------------------------------------------------------------------------

    def to_proto(self) -> pb.Manifest:
        from gpuhash._proto.gpuhash.v1 import manifest_pb2 as pb

        msg = pb.Manifest(
            spec_version=self.spec_version,
            algorithm=pb.Algorithm(
                family=FAMILY_ENUM[self.algorithm.family],  # type: ignore[arg-type]
                leaf_size=self.algorithm.leaf_size,
                id=self.algorithm.id,
            ),
            artifact_digest=self.artifact_digest,
        )
        for o in self.objects:
            entry = msg.objects.add(name=o.name, kind=o.kind, size=o.size, digest=o.digest)
            if o.tensor:
                entry.tensor.CopyFrom(pb.TensorInfo(**o.tensor))  # type: ignore[arg-type]
            if o.stat is not None:
                size, mtime_ns, ctime_ns, inode, device = o.stat
                entry.stat.CopyFrom(
                    pb.FileStat(
                        size=size,
                        mtime_ns=mtime_ns,
                        ctime_ns=ctime_ns,
                        inode=inode,
                        device=device,
                    )
                )
        return msg

    def without_stat(self) -> Manifest:
        """The same manifest without file stats (what a signature carries)."""
        objects = tuple(dataclasses.replace(o, stat=None) for o in self.objects)
        return Manifest(self.algorithm, objects, self.artifact_digest, self.spec_version)

    def to_bytes(self) -> bytes:
        return self.to_proto().SerializeToString(deterministic=True)

    def to_json(self) -> str:
        from google.protobuf import json_format

        obj = json_format.MessageToDict(self.to_proto(), preserving_proto_field_name=False)
        return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_proto(cls, msg: pb.Manifest) -> Manifest:
        algorithm = _algorithm_of(msg)
        return _checked(msg, algorithm, [_object_of(entry, algorithm) for entry in msg.objects])

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        from google.protobuf.message import DecodeError

        from gpuhash._proto.gpuhash.v1 import manifest_pb2 as pb

        if len(data) > limits.MAX_MANIFEST_BYTES:
            raise ManifestError(_too_large(len(data)))
        check_wire_counts(data)
        msg = pb.Manifest()
        try:
            msg.ParseFromString(data)
        except DecodeError as e:
            raise ManifestError(f"not a gpuhash manifest: {e}") from None
        return cls.from_proto(msg)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """A manifest from its JSON form (UTF-8 bytes or text), read with the strict loader
        (``strict_json.loads``: no duplicate keys, no non-finite numbers, bounded nesting and
        at most ``limits.MAX_MANIFEST_VALUES`` values, counted before anything is built)."""
        if len(text) > limits.MAX_MANIFEST_BYTES:
            raise ManifestError(_too_large(len(text)))
        try:
            value = strict_json.loads(text, "manifest", max_values=limits.MAX_MANIFEST_VALUES)
        except strict_json.JSONError as e:
            raise ManifestError(f"not a gpuhash manifest: {e}") from None
        return _from_value(value, consume=True)

    @classmethod
    def from_dict(cls, value: object) -> Manifest:
        """A manifest from its JSON form already parsed (strictly: see ``from_json``). Each
        object entry is converted on its own (protobuf's JSON mapping, one ``ObjectEntry`` at a
        time), so no protobuf message of the whole manifest is built beside the parsed JSON."""
        return _from_value(value, consume=False)


def _from_value(value: object, consume: bool) -> Manifest:
    """``Manifest.from_dict``; with ``consume``, each entry of ``value`` is dropped from it once
    converted, so that the parsed JSON and the objects are never both held whole."""
    from google.protobuf import json_format

    from gpuhash._proto.gpuhash.v1 import manifest_pb2 as pb

    if not isinstance(value, dict):
        raise ManifestError("not a gpuhash manifest: not a JSON object")
    entries = value.get("objects")
    header = {k: v for k, v in value.items() if k != "objects"}
    msg = pb.Manifest()
    try:
        _short_fields(header, "")
        json_format.ParseDict(header, msg)
        if entries is not None and not isinstance(entries, list):
            raise ManifestError("not a gpuhash manifest: objects is not a JSON array")
        if entries and len(entries) > ref.MAX_OBJECTS:
            raise ManifestError(f"manifest has more than {ref.MAX_OBJECTS} objects")
        algorithm = _algorithm_of(msg)
        objects = []
        listed: list[object] = entries or []
        for i, raw in enumerate(listed):
            if not isinstance(raw, dict):
                raise ManifestError(f"not a gpuhash manifest: object {i} is not a JSON object")
            _short_fields(raw, f"object {i}: ")
            entry = pb.ObjectEntry()
            json_format.ParseDict(raw, entry)
            given = raw.get("name")
            objects.append(_object_of(entry, algorithm, given if isinstance(given, str) else None))
            if consume:
                listed[i] = None
    except json_format.ParseError as e:
        raise ManifestError(f"not a gpuhash manifest: {str(e).splitlines()[0]}") from None
    return _checked(msg, algorithm, objects)


#: The longest string a manifest field holds but names (``name``, a tensor's ``source``): an
#: identifier, an enum's name, a 64-bit number, a dtype; a digest in base64 (2048 bytes, 2732
#: characters). Checked before protobuf's parser, whose errors quote the whole value in every
#: nested message (a 16 MiB family took 416 MiB to refuse).
MAX_FIELD_CHARS = 256
MAX_DIGEST_CHARS = 4096
_NAMES = frozenset({"name", "source"})
_DIGESTS = frozenset({"digest", "artifactDigest"})


def _short_fields(value: dict[str, object], where: str) -> None:
    """Refuse a string in ``value`` (nested objects and arrays included) longer than its field
    may be."""
    stack: list[tuple[str, object]] = list(value.items())
    while stack:
        key, v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.items())
        elif isinstance(v, list):
            stack.extend((key, x) for x in v)
        elif isinstance(v, str) and key not in _NAMES:
            most = MAX_DIGEST_CHARS if key in _DIGESTS else MAX_FIELD_CHARS
            if len(v) > most:
                raise ManifestError(
                    f"not a gpuhash manifest: {where}{ref.shown(key)} is a string of {len(v)} "
                    f"characters, more than {most}"
                )


def _too_large(size: int) -> str:
    return (
        f"manifest of {limits.describe_size(size)}: larger than "
        f"{limits.describe_size(limits.MAX_MANIFEST_BYTES)}, the most gpuhash reads for a manifest"
    )


def _algorithm_of(msg: pb.Manifest) -> Algorithm:
    """The algorithm of a manifest message, checked (spec version, family, leaf size, id)."""
    if msg.spec_version != ref.SPEC_VERSION:
        raise ManifestError(f"manifest has spec version {msg.spec_version}, expected 1")
    family = _ENUM_FAMILY.get(msg.algorithm.family)
    if family is None:
        raise ManifestError(f"manifest has unknown hash family {msg.algorithm.family}")
    try:
        algorithm = Algorithm(family, msg.algorithm.leaf_size)
    except UsageError as e:
        raise ManifestError(f"manifest algorithm: {e}") from None
    if msg.algorithm.id != algorithm.id:
        raise ManifestError(
            f"manifest algorithm id {strict_json.excerpt(msg.algorithm.id)} disagrees with "
            f"family {family} and leaf size {msg.algorithm.leaf_size}"
        )
    return algorithm


def _object_of(
    entry: pb.ObjectEntry, algorithm: Algorithm, name: str | None = None
) -> ObjectDigest:
    """One object entry of a manifest message, checked (name, digest length, tensor data).
    ``name``: the entry's name where the caller holds it already (the JSON the message was
    parsed from): each read of the message's decodes a new copy, four bytes a character for a
    name with a character beyond the Basic Multilingual Plane."""
    name = entry.name if name is None else name
    try:
        ref.check_name(name, entry.kind)
    except ref.SpecError as err:
        raise ManifestError(f"manifest: {err}") from None
    if len(entry.digest) != algorithm.digest_size:
        raise ManifestError(f"manifest: object {ref.shown(name)} has a malformed digest")
    tensor: dict[str, object] | None = None
    if entry.HasField("tensor"):
        if entry.kind != ref.KIND_TENSOR:
            raise ManifestError(f"manifest: {ref.shown(name)} has tensor data but is no tensor")
        try:
            ref.check_name(entry.tensor.source, ref.KIND_FILE)
        except ref.SpecError as err:
            raise ManifestError(f"manifest: tensor {ref.shown(name)} source: {err}") from None
        tensor = {
            "dtype": entry.tensor.dtype,
            "shape": [int(x) for x in entry.tensor.shape],
            "source": entry.tensor.source,
            "offset": int(entry.tensor.offset),
        }
    stat = None
    if entry.HasField("stat"):
        st = entry.stat
        # ctime_ns is absent (0, unknown) in manifests written before FileStat had it.
        stat = (int(st.size), int(st.mtime_ns), int(st.ctime_ns), int(st.inode), int(st.device))
    return ObjectDigest(name, entry.kind, entry.size, bytes(entry.digest), tensor, stat)


#: The bytes of a varint's last byte (high bit clear): a packed field holds as many varints.
_CONTINUATION_BYTES = bytes(range(0x80, 0x100))
#: Tags (field << 3 | wire type) read by ``check_wire_counts``: Manifest.objects,
#: ObjectEntry.tensor, TensorInfo.shape packed and not.
_OBJECTS_TAG, _TENSOR_TAG, _SHAPE_PACKED_TAG, _SHAPE_TAG = 0x1A, 0x2A, 0x12, 0x10
#: The first byte of the tensor tag, minimally encoded or not (a longer varint: 0xAA 0x00...),
#: both of which the parser reads.
_TENSOR_TAG_BYTE, _TENSOR_TAG_LONG = bytes([_TENSOR_TAG]), bytes([_TENSOR_TAG | 0x80])
#: The most fields an object entry may have on the wire (it has six, and a tensor four plus
#: its dimensions): the scan stays linear in what a manifest may hold, not in its bytes.
MAX_ENTRY_FIELDS = 256


def _varint(data: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ManifestError("not a gpuhash manifest: a varint runs past its end")
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _skip(data: bytes, i: int, wire: int) -> int:
    if wire == 0:
        return _varint(data, i)[1]
    if wire == 2:
        n, i = _varint(data, i)
        return i + n
    if wire in (1, 5):
        return i + (8 if wire == 1 else 4)
    raise ManifestError(f"not a gpuhash manifest: wire type {wire}")


def _too_many_fields() -> ManifestError:
    return ManifestError(f"manifest has an object of more than {MAX_ENTRY_FIELDS} fields")


def check_wire_counts(data: bytes) -> None:
    """Refuse a protobuf manifest with more objects than an artifact may have, or a tensor with
    more dimensions than a tensor may have, before parsing it: the parser allocates a record
    per entry (two bytes each: 33 million empty ones in 64 MiB took 2.9 GB) and eight bytes per
    packed dimension (one byte each) before anything is checked. One pass over the records'
    keys and lengths, stopping at the first count past its limit (fields included: 32 million
    filler fields would take the scan itself half a minute)."""
    i, end, objects, fields = 0, len(data), 0, 0
    while i < end:
        fields += 1
        if fields > ref.MAX_OBJECTS + MAX_ENTRY_FIELDS:
            raise ManifestError(f"manifest has more than {ref.MAX_OBJECTS} objects or other fields")
        key, i = _varint(data, i)
        if key != _OBJECTS_TAG:
            i = _skip(data, i, key & 7)
            continue
        n, i = _varint(data, i)
        objects += 1
        if objects > ref.MAX_OBJECTS:
            raise ManifestError(f"manifest has more than {ref.MAX_OBJECTS} objects")
        j, i = i, min(i + n, end)
        if data.find(_TENSOR_TAG_BYTE, j, i) < 0 and data.find(_TENSOR_TAG_LONG, j, i) < 0:
            continue  # no tensor record (a file's entry): nothing to count in it
        dims = fields = 0  # of the entry: repeated tensor records merge into one
        while j < i:
            fields += 1
            if fields > MAX_ENTRY_FIELDS:
                raise ManifestError(
                    f"manifest has an object of more than {MAX_ENTRY_FIELDS} fields"
                )
            key, j = _varint(data, j)
            if key != _TENSOR_TAG:
                j = _skip(data, j, key & 7)
                continue
            m, j = _varint(data, j)
            t, j = j, min(j + m, i)
            while t < j:
                fields += 1
                if fields > MAX_ENTRY_FIELDS + ref.MAX_DIMENSIONS:
                    raise _too_many_fields()
                key, t = _varint(data, t)
                if key == _SHAPE_PACKED_TAG:
                    m, t = _varint(data, t)
                    dims += len(data[t : t + m].translate(None, _CONTINUATION_BYTES))
                    t += m
                elif key == _SHAPE_TAG:
                    dims += 1
                    t = _skip(data, t, 0)
                else:
                    t = _skip(data, t, key & 7)
                if dims > ref.MAX_DIMENSIONS:
                    raise ManifestError(
                        f"manifest has a tensor of more than {ref.MAX_DIMENSIONS} dimensions"
                    )


def _checked(msg: pb.Manifest, algorithm: Algorithm, objects: list[ObjectDigest]) -> Manifest:
    """The manifest of ``objects`` as listed in ``msg``: they must be in specification order
    and the artifact digest of ``msg`` must be theirs."""
    try:
        built = Manifest.build(algorithm, objects)
    except InputError as err:
        raise ManifestError(f"manifest: {err}") from None
    if any(a is not b for a, b in zip(built.objects, objects, strict=True)):
        raise ManifestError("manifest objects are not in specification order")
    if not digests_equal(built.artifact_digest, bytes(msg.artifact_digest)):
        raise ManifestError("manifest artifact digest does not match its objects")
    return built
