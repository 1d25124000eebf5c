from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HashFamily(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HASH_FAMILY_UNSPECIFIED: _ClassVar[HashFamily]
    HASH_FAMILY_MERKLE_SHA256: _ClassVar[HashFamily]
    HASH_FAMILY_MERKLE_SHA512: _ClassVar[HashFamily]
    HASH_FAMILY_MERKLE_SHA3_256: _ClassVar[HashFamily]
    HASH_FAMILY_BLAKE3: _ClassVar[HashFamily]
    HASH_FAMILY_LTHASH16_SHAKE256: _ClassVar[HashFamily]

class ObjectKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OBJECT_KIND_UNSPECIFIED: _ClassVar[ObjectKind]
    OBJECT_KIND_FILE: _ClassVar[ObjectKind]
    OBJECT_KIND_TENSOR: _ClassVar[ObjectKind]
    OBJECT_KIND_TENSOR_HEADER: _ClassVar[ObjectKind]
HASH_FAMILY_UNSPECIFIED: HashFamily
HASH_FAMILY_MERKLE_SHA256: HashFamily
HASH_FAMILY_MERKLE_SHA512: HashFamily
HASH_FAMILY_MERKLE_SHA3_256: HashFamily
HASH_FAMILY_BLAKE3: HashFamily
HASH_FAMILY_LTHASH16_SHAKE256: HashFamily
OBJECT_KIND_UNSPECIFIED: ObjectKind
OBJECT_KIND_FILE: ObjectKind
OBJECT_KIND_TENSOR: ObjectKind
OBJECT_KIND_TENSOR_HEADER: ObjectKind

class Algorithm(_message.Message):
    __slots__ = ("family", "leaf_size", "id")
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    LEAF_SIZE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    family: HashFamily
    leaf_size: int
    id: str
    def __init__(self, family: _Optional[_Union[HashFamily, str]] = ..., leaf_size: _Optional[int] = ..., id: _Optional[str] = ...) -> None: ...

class TensorInfo(_message.Message):
    __slots__ = ("dtype", "shape", "source", "offset")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    source: str
    offset: int
    def __init__(self, dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., source: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class FileStat(_message.Message):
    __slots__ = ("size", "mtime_ns", "inode", "device", "ctime_ns")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MTIME_NS_FIELD_NUMBER: _ClassVar[int]
    INODE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    CTIME_NS_FIELD_NUMBER: _ClassVar[int]
    size: int
    mtime_ns: int
    inode: int
    device: int
    ctime_ns: int
    def __init__(self, size: _Optional[int] = ..., mtime_ns: _Optional[int] = ..., inode: _Optional[int] = ..., device: _Optional[int] = ..., ctime_ns: _Optional[int] = ...) -> None: ...

class ObjectEntry(_message.Message):
    __slots__ = ("name", "kind", "size", "digest", "tensor", "stat")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    STAT_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: ObjectKind
    size: int
    digest: bytes
    tensor: TensorInfo
    stat: FileStat
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[ObjectKind, str]] = ..., size: _Optional[int] = ..., digest: _Optional[bytes] = ..., tensor: _Optional[_Union[TensorInfo, _Mapping]] = ..., stat: _Optional[_Union[FileStat, _Mapping]] = ...) -> None: ...

class Manifest(_message.Message):
    __slots__ = ("spec_version", "algorithm", "objects", "artifact_digest")
    SPEC_VERSION_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    spec_version: int
    algorithm: Algorithm
    objects: _containers.RepeatedCompositeFieldContainer[ObjectEntry]
    artifact_digest: bytes
    def __init__(self, spec_version: _Optional[int] = ..., algorithm: _Optional[_Union[Algorithm, _Mapping]] = ..., objects: _Optional[_Iterable[_Union[ObjectEntry, _Mapping]]] = ..., artifact_digest: _Optional[bytes] = ...) -> None: ...

class InclusionProof(_message.Message):
    __slots__ = ("spec_version", "algorithm", "object_name", "object_size", "object_digest", "first_leaf", "leaf_count", "nodes")
    SPEC_VERSION_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    OBJECT_NAME_FIELD_NUMBER: _ClassVar[int]
    OBJECT_SIZE_FIELD_NUMBER: _ClassVar[int]
    OBJECT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    FIRST_LEAF_FIELD_NUMBER: _ClassVar[int]
    LEAF_COUNT_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    spec_version: int
    algorithm: Algorithm
    object_name: str
    object_size: int
    object_digest: bytes
    first_leaf: int
    leaf_count: int
    nodes: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, spec_version: _Optional[int] = ..., algorithm: _Optional[_Union[Algorithm, _Mapping]] = ..., object_name: _Optional[str] = ..., object_size: _Optional[int] = ..., object_digest: _Optional[bytes] = ..., first_leaf: _Optional[int] = ..., leaf_count: _Optional[int] = ..., nodes: _Optional[_Iterable[bytes]] = ...) -> None: ...
