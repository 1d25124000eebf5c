/*
 * Node kernels: one per family, one pair per work-item (the backend's hash_nodes).
 *
 * Kernel names are "nodes_" + the family with '-' replaced by '_':
 *   nodes_merkle_sha256, nodes_merkle_sha512, nodes_merkle_sha3_256   H(l || r || 0x01)
 *   nodes_blake3                 the BLAKE3 parent CV of (l, r), with the ROOT flag where roots[i]
 *   nodes_lthash16_shake256      l + r lane-wise modulo 2^16 (1024 little-endian uint16 lanes)
 *
 * Arguments:
 *   children  2 * m * D bytes: pair i is l = children[2iD .. 2iD+D), r = the next D bytes
 *   roots     m bytes: 1 where pair i is the top of its object's tree (BLAKE3 only)
 *   out       m * D bytes; pair i's value goes to out + i * D
 *   m         the number of pairs; work-items i >= m do nothing
 *
 * Requires common.cl and the hash files (sha256.cl, sha512.cl, keccak.cl, blake3.cl).
 */

__kernel void nodes_merkle_sha256(__global const uchar *children, __global const uchar *roots,
                                  __global uchar *out, const uint m) {
    const ulong i = GH_GID();
    if (i >= (ulong)m) {
        return;
    }
    sha256_message(children + i * 64ul, 64ul, gh_suffix_byte(0x01u), out + i * 32ul);
}

__kernel void nodes_merkle_sha512(__global const uchar *children, __global const uchar *roots,
                                  __global uchar *out, const uint m) {
    const ulong i = GH_GID();
    if (i >= (ulong)m) {
        return;
    }
    sha512_message(children + i * 128ul, 128ul, gh_suffix_byte(0x01u), out + i * 64ul);
}

__kernel void nodes_merkle_sha3_256(__global const uchar *children, __global const uchar *roots,
                                    __global uchar *out, const uint m) {
    const ulong i = GH_GID();
    if (i >= (ulong)m) {
        return;
    }
    sha3_256_message(children + i * 64ul, 64ul, gh_suffix_byte(0x01u), out + i * 32ul);
}

__kernel void nodes_blake3(__global const uchar *children, __global const uchar *roots,
                           __global uchar *out, const uint m) {
    const ulong i = GH_GID();
    if (i >= (ulong)m) {
        return;
    }
    __global const uchar *p = children + i * 64ul;
    uint left[8];
    uint right[8];
    uint cv[8];
    for (uint k = 0; k < 8u; ++k) {
        left[k] = gh_load_le32(p + 4u * k);
        right[k] = gh_load_le32(p + 32u + 4u * k);
    }
    blake3_parent(cv, left, right, BLAKE3_PARENT | (roots[i] != 0 ? BLAKE3_ROOT : 0u));
    for (uint k = 0; k < 8u; ++k) {
        gh_store_le32(out + i * 32ul + 4u * k, cv[k]);
    }
}

/* One work-item per pair keeps the host side uniform across families; a pair is only 1024
 * additions, and lattice trees are shallow sums, so this is never the bottleneck. */
__kernel void nodes_lthash16_shake256(__global const uchar *children, __global const uchar *roots,
                                      __global uchar *out, const uint m) {
    const ulong i = GH_GID();
    if (i >= (ulong)m) {
        return;
    }
    __global const uchar *l = children + i * 4096ul;
    __global const uchar *r = l + 2048ul;
    __global uchar *o = out + i * 2048ul;
    for (uint k = 0; k < 2048u; k += 2u) {
        const uint a = (uint)l[k] | ((uint)l[k + 1u] << 8);
        const uint b = (uint)r[k] | ((uint)r[k + 1u] << 8);
        const uint s = (a + b) & 0xffffu;
        o[k] = (uchar)s;
        o[k + 1u] = (uchar)(s >> 8);
    }
}
