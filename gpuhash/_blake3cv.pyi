# Types of the C extension gpuhash._blake3cv (gpuhash/_blake3cv.c).
from collections.abc import Sequence

from gpuhash._typing import Buffer
from gpuhash.blake3_lanes import Column

MAX_LANES: int

def leaf_cvs(
    data: Buffer,
    offsets: Column | Buffer,
    lengths: Column | Buffer,
    first_chunks: Column | Buffer,
    roots: Column | Buffer,
    /,
) -> bytes: ...
def parent_cvs(children: Buffer, roots: Sequence[int] | Buffer, /) -> bytes: ...
def kernels() -> tuple[str, ...]: ...
def kernel() -> str: ...
def set_kernel(name: str, /) -> None: ...
