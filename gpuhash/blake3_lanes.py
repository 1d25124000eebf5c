"""BLAKE3 chaining values for many leaves at once, with numpy (one SIMD-friendly lane per chunk).

The ``blake3`` package hashes whole inputs fast but exposes no chaining values, and the pure-Python
reference computes them at well under 1 MB/s. The leaf values of ``blake3`` objects (the chaining
value of a leaf's subtree, spec section 4) and parent values are needed for proofs, range values
and by every backend that hashes BLAKE3 leaves on the host. This module computes them with numpy:
the compression function runs on arrays of 32-bit words, one element per chunk (or parent), so a
call over 64 MiB does about 20,000 array operations instead of a million Python-level ones
(about 0.1-0.2 GB/s per core here). Values are exactly the reference's; the tests compare them
with ``gpuhash.reference`` and with the ``blake3`` package on every boundary.

* :func:`leaf_cvs` - the chaining value (or root output) of each leaf of a leaf table;
* :func:`parent_cvs` - parent chaining values (or root outputs) of pairs of chaining values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gpuhash import reference as ref

if TYPE_CHECKING:
    from gpuhash._typing import Buffer

__all__ = ["Column", "leaf_cvs", "parent_cvs"]

#: A column of a leaf table: a sequence of ints, or a 1-D numpy integer array.
Column = Sequence[int] | np.ndarray[Any, Any]

_IV = np.array(ref.IV, dtype=np.uint32)
_CHUNK = ref.BLAKE3_CHUNK_LEN
#: Up to this many chunks in a call, the reference's scalar code is faster than arrays.
_FEW_CHUNKS = 2
_BLOCK = ref.BLAKE3_BLOCK_LEN


def _schedules() -> list[tuple[int, ...]]:
    order = tuple(range(16))
    out = [order]
    for _ in range(6):
        order = tuple(order[p] for p in ref.MSG_PERMUTATION)
        out.append(order)
    return out


_SCHEDULE = _schedules()
_COLUMNS = ((0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15))
_DIAGONALS = ((0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 8, 13), (3, 4, 9, 14))


def _compress(
    cv: np.ndarray, m: np.ndarray, t0: np.ndarray, t1: np.ndarray, blen: Any, flags: object
) -> np.ndarray:
    """The compression function on ``n`` lanes: ``cv`` (8, n), ``m`` (16, n) uint32 words;
    returns the new chaining values (8, n)."""
    n = cv.shape[1]
    v = [cv[i].copy() for i in range(8)]
    v += [np.full(n, _IV[i], dtype=np.uint32) for i in range(4)]
    v += [t0.copy(), t1.copy(), np.broadcast_to(blen, (n,)).copy()]
    v.append(np.broadcast_to(np.asarray(flags, dtype=np.uint32), (n,)).copy())
    tmp = np.empty(n, dtype=np.uint32)

    def rotr(x: np.ndarray, k: int) -> None:
        np.right_shift(x, k, out=tmp)
        np.left_shift(x, 32 - k, out=x)
        np.bitwise_or(x, tmp, out=x)

    def g(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, x: object, y: object) -> None:
        a += b
        a += x
        d ^= a
        rotr(d, 16)
        c += d
        b ^= c
        rotr(b, 12)
        a += b
        a += y
        d ^= a
        rotr(d, 8)
        c += d
        b ^= c
        rotr(b, 7)

    for s in _SCHEDULE:
        for k, (a, b, c, d) in enumerate(_COLUMNS):
            g(v[a], v[b], v[c], v[d], m[s[2 * k]], m[s[2 * k + 1]])
        for k, (a, b, c, d) in enumerate(_DIAGONALS):
            g(v[a], v[b], v[c], v[d], m[s[8 + 2 * k]], m[s[9 + 2 * k]])
    out = np.empty((8, n), dtype=np.uint32)
    for i in range(8):
        np.bitwise_xor(v[i], v[i + 8], out=out[i])
    return out


def _cv_bytes(cv: np.ndarray) -> bytes:
    """(8, n) words to n concatenated 32-byte values."""
    return bytes(np.ascontiguousarray(cv.T).astype("<u4").tobytes())


def _cv_words(values: bytes | memoryview, n: int) -> np.ndarray:
    return np.frombuffer(values, dtype="<u4").reshape(n, 8).T.astype(np.uint32)


def parent_cvs(children: Buffer, roots: Sequence[int] | bytes) -> bytes:
    """``len(roots)`` parent values: pair ``i`` is chaining values ``2i`` and ``2i + 1`` of
    ``children`` (64 bytes a pair); ``roots[i]`` gives that parent the ROOT flag."""
    m = len(roots)
    if m == 0:
        return b""
    words = (
        np.frombuffer(memoryview(children), dtype="<u4", count=16 * m)
        .reshape(m, 16)
        .T.astype(np.uint32)
    )
    flags = np.where(np.frombuffer(bytes(roots), dtype=np.uint8) != 0, ref.ROOT, 0)
    flags = (flags | ref.PARENT).astype(np.uint32)
    zero = np.zeros(m, dtype=np.uint32)
    cv = np.broadcast_to(_IV[:, None], (8, m))
    return _cv_bytes(_compress(cv, words, zero, zero, np.uint32(_BLOCK), flags))


def _chunk_words(flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray, b: int) -> np.ndarray:
    """Block ``b`` of each chunk as (16, n) words, bytes past the chunk's end zero."""
    n = len(starts)
    pos = starts + b * _BLOCK
    if flat.size >= _BLOCK and not (pos % 4).any() and (lengths >= (b + 1) * _BLOCK).all():
        words = flat[: flat.size // 4 * 4].view("<u4")  # a fast path: aligned, whole blocks
        idx = (pos // 4)[:, None] + np.arange(16, dtype=np.int64)
        return np.ascontiguousarray(words[idx].T, dtype=np.uint32)
    idx = pos[:, None] + np.arange(_BLOCK, dtype=np.int64)
    valid = np.arange(_BLOCK, dtype=np.int64)[None, :] < (lengths - b * _BLOCK)[:, None]
    raw = np.zeros((n, _BLOCK), dtype=np.uint8)
    if flat.size:
        raw[valid] = flat[idx[valid]]
    return np.ascontiguousarray(raw.view("<u4").T, dtype=np.uint32)


def _chunk_cvs(
    flat: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    counters: np.ndarray,
    root: np.ndarray,
) -> np.ndarray:
    """Chaining values (8, n) of chunks of 0..1024 bytes at ``starts`` of ``flat``; ``root``
    marks a chunk that is a whole input (ROOT on its last block)."""
    n = len(starts)
    blocks = np.maximum(1, (lengths + _BLOCK - 1) // _BLOCK)
    t0 = (counters & 0xFFFFFFFF).astype(np.uint32)
    t1 = (counters >> 32).astype(np.uint32)
    cv = np.broadcast_to(_IV[:, None], (8, n)).copy()
    full = bool((lengths == _CHUNK).all())
    for b in range(int(blocks.max()) if n else 0):
        m = _chunk_words(flat, starts, lengths, b)
        last = blocks == b + 1
        flags = np.where(last, ref.CHUNK_END, 0) | (ref.CHUNK_START if b == 0 else 0)
        flags = (flags | np.where(last & root, ref.ROOT, 0)).astype(np.uint32)
        blen = np.clip(lengths - b * _BLOCK, 0, _BLOCK).astype(np.uint32)
        new = _compress(cv, m, t0, t1, blen, flags)
        cv = new if full else np.where((b < blocks)[None, :], new, cv)
    return cv


def leaf_cvs(
    data: Buffer,
    offsets: Column,
    lengths: Column,
    first_chunks: Column,
    roots: Column,
) -> bytes:
    """The value of each leaf ``data[offsets[j] : offsets[j] + lengths[j]]``: the chaining value
    of its BLAKE3 subtree whose first chunk has counter ``first_chunks[j]``, or the root output
    where ``roots[j]`` (the leaf is a whole input). 32 bytes per leaf, concatenated."""
    n = len(offsets)
    if n == 0:
        return b""
    view = memoryview(data).cast("B")
    if sum(max(1, -(-int(x) // _CHUNK)) for x in lengths) <= _FEW_CHUNKS:
        # A few chunks: thousands of array operations on arrays of one or two elements cost
        # more than the reference's Python arithmetic.
        return b"".join(
            ref.blake3_subtree_cv(bytes(view[o : o + k]), c, root=bool(r))
            for o, k, c, r in zip(offsets, lengths, first_chunks, roots, strict=True)
        )
    flat = np.frombuffer(view, dtype=np.uint8) if view.nbytes else np.zeros(0, np.uint8)
    off = np.asarray(offsets, dtype=np.int64)
    length = np.asarray(lengths, dtype=np.int64)
    first = np.asarray(first_chunks, dtype=np.uint64)
    root = np.asarray(roots, dtype=bool)
    chunks = np.maximum(1, (length + _CHUNK - 1) // _CHUNK)
    # Every chunk of every leaf, leaf by leaf: its leaf, its position within the leaf.
    leaf_of = np.repeat(np.arange(n, dtype=np.int64), chunks)
    begin = np.cumsum(chunks) - chunks
    pos = np.arange(leaf_of.size, dtype=np.int64) - begin[leaf_of]
    c_start = off[leaf_of] + pos * _CHUNK
    c_len = np.clip(length[leaf_of] - pos * _CHUNK, 0, _CHUNK)
    c_ctr = first[leaf_of] + pos.astype(np.uint64)
    c_root = root[leaf_of] & (chunks[leaf_of] == 1)
    cv = _chunk_cvs(flat, c_start, c_len, c_ctr, c_root)
    # Reduce each leaf's chunk values, level by level: pairs (0,1), (2,3)..., a lone last value
    # carried up (BLAKE3's left-balanced tree, as spec section 4 says); ROOT on a root leaf's top.
    count = chunks.copy()
    while (count > 1).any():
        start = np.cumsum(count) - count
        p = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(start, count)
        owner = np.repeat(np.arange(n, dtype=np.int64), count)
        k = count[owner]
        left = (p % 2 == 0) & (p + 1 < k)
        carried = (p % 2 == 0) & (p + 1 == k)
        li = np.nonzero(left)[0]
        words = np.concatenate([cv[:, li], cv[:, li + 1]], axis=0)
        flags = np.where(root[owner[li]] & (k[li] == 2), ref.ROOT, 0) | ref.PARENT
        zero = np.zeros(len(li), dtype=np.uint32)
        parents = _compress(
            np.broadcast_to(_IV[:, None], (8, len(li))),
            words,
            zero,
            zero,
            np.uint32(_BLOCK),
            flags.astype(np.uint32),
        )
        keep = left | carried
        nxt = np.empty((8, int(keep.sum())), dtype=np.uint32)
        order = np.nonzero(keep)[0]
        is_left = left[order]
        nxt[:, is_left] = parents
        nxt[:, ~is_left] = cv[:, order[~is_left]]
        cv = nxt
        count = (count + 1) // 2
    return _cv_bytes(cv)
