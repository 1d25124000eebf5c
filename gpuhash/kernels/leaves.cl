/*
 * Leaf kernels: one per family, one leaf per work-item (the backend's hash_leaves).
 *
 * Kernel names are "leaves_" + the family with '-' replaced by '_':
 *   leaves_merkle_sha256      D = 32    SHA-256(d || 0x00)
 *   leaves_merkle_sha512      D = 64    SHA-512(d || 0x00)
 *   leaves_merkle_sha3_256    D = 32    SHA3-256(d || 0x00)
 *   leaves_blake3             D = 32    the leaf's subtree chaining value (spec section 4)
 *   leaves_lthash16_shake256  D = 2048  SHAKE256(d || LE64(index) || 0x10), 2048 bytes
 *
 * Arguments (row j of the backend's LeafTable, as device buffers):
 *   data     the bytes; leaf j is data[offset[j] .. offset[j] + length[j])
 *   offset   ulong per leaf: byte offset of the leaf in data (any value; see common.cl on loads)
 *   length   ulong per leaf: 0..L
 *   index    ulong per leaf: the leaf's index within its object
 *   root     uchar per leaf: 1 if the leaf is its object's only leaf, else 0
 *   out      n * D bytes; leaf j's value is written to out + j * D
 *   n        the number of leaves; work-items j >= n do nothing, so any global size (padded
 *            to a multiple of any local size) gives the same result
 * leaves_blake3 takes one more argument after n:
 *   leaf_size  L (a power of two, 1024 <= L <= 2^24): the first chunk counter of leaf j is
 *              index[j] * (L / 1024). With root[j] set the value is the BLAKE3 root output,
 *              i.e. the standard BLAKE3 hash of the leaf (the object's only leaf).
 *
 * Requires common.cl and the hash files (sha256.cl, sha512.cl, keccak.cl, blake3.cl).
 */

__kernel void leaves_merkle_sha256(__global const uchar *data, __global const ulong *offset,
                                   __global const ulong *length, __global const ulong *index,
                                   __global const uchar *root, __global uchar *out,
                                   const uint n) {
    const ulong j = GH_GID();
    if (j >= (ulong)n) {
        return;
    }
    sha256_message(data + offset[j], length[j], gh_suffix_byte(0x00u), out + j * 32ul);
}

__kernel void leaves_merkle_sha512(__global const uchar *data, __global const ulong *offset,
                                   __global const ulong *length, __global const ulong *index,
                                   __global const uchar *root, __global uchar *out,
                                   const uint n) {
    const ulong j = GH_GID();
    if (j >= (ulong)n) {
        return;
    }
    sha512_message(data + offset[j], length[j], gh_suffix_byte(0x00u), out + j * 64ul);
}

__kernel void leaves_merkle_sha3_256(__global const uchar *data, __global const ulong *offset,
                                     __global const ulong *length, __global const ulong *index,
                                     __global const uchar *root, __global uchar *out,
                                     const uint n) {
    const ulong j = GH_GID();
    if (j >= (ulong)n) {
        return;
    }
    sha3_256_message(data + offset[j], length[j], gh_suffix_byte(0x00u), out + j * 32ul);
}

__kernel void leaves_blake3(__global const uchar *data, __global const ulong *offset,
                            __global const ulong *length, __global const ulong *index,
                            __global const uchar *root, __global uchar *out, const uint n,
                            const ulong leaf_size) {
    const ulong j = GH_GID();
    if (j >= (ulong)n) {
        return;
    }
    const ulong chunks_per_leaf = leaf_size / BLAKE3_CHUNK_LEN;
    blake3_subtree(data + offset[j], length[j], index[j] * chunks_per_leaf, root[j] != 0,
                   out + j * 32ul);
}

__kernel void leaves_lthash16_shake256(__global const uchar *data, __global const ulong *offset,
                                       __global const ulong *length, __global const ulong *index,
                                       __global const uchar *root, __global uchar *out,
                                       const uint n) {
    const ulong j = GH_GID();
    if (j >= (ulong)n) {
        return;
    }
    gh_suffix sfx; /* LE64(index) || 0x10 */
    sfx.lo = index[j];
    sfx.hi = 0x10ul;
    sfx.len = 9u;
    shake256_message(data + offset[j], length[j], sfx, out + j * 2048ul, 2048ul);
}
