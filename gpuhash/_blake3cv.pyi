# Types of the C extension gpuhash._blake3cv (gpuhash/_blake3cv.c).
from collections.abc import Sequence

from gpuhash._typing import Buffer

MAX_LANES: int

def leaf_cvs(
    data: Buffer,
    offsets: Sequence[int] | Buffer,
    lengths: Sequence[int] | Buffer,
    first_chunks: Sequence[int] | Buffer,
    roots: Sequence[int] | Buffer,
    /,
) -> bytes: ...
def parent_cvs(children: Buffer, roots: Sequence[int] | Buffer, /) -> bytes: ...
def kernels() -> tuple[str, ...]: ...
def kernel() -> str: ...
def set_kernel(name: str, /) -> None: ...
