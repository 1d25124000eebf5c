/*
 * Node kernels: combining pairs of values, one pair per work-item.
 *
 * nodes_<family> (the backend's hash_nodes): pair i is children[2iD .. 2iD + 2D).
 * tree_<family> (one level of an on-device reduction, gpuhash.tree.TreeSchedule): slot k reads
 * the value array itself. <family> is the family name with '-' replaced by '_':
 *   merkle_sha256, merkle_sha512, merkle_sha3_256   NODE(l, r) = H(l || r || 0x01)
 *   blake3                 the BLAKE3 parent CV of (l, r), with the ROOT flag where asked
 *   lthash16_shake256      l + r lane-wise modulo 2^16 (1024 little-endian uint16 lanes)
 *
 * nodes_<family>(children, roots, out, m):
 *   children  2 * m * D bytes: pair i is l = children[2iD .. 2iD+D), r = the next D bytes
 *   roots     m bytes: 1 where pair i is the top of its object's tree (BLAKE3 only)
 *   out       m * D bytes; pair i's value goes to out + i * D
 *   m         the number of pairs; work-items i >= m do nothing
 *
 * tree_<family>(values, src, op, first, count, base):
 *   values    the schedule's value array (D bytes per value), read and written
 *   src, op   the schedule's slot tables (uint, uchar); this launch runs slots first + k for
 *             k < count (work-items k >= count do nothing) and writes value base + k:
 *             op 0: NODE(value[src], value[src + 1]); op 1: the same as a root (BLAKE3's
 *             ROOT flag); op 2: a copy of value[src] (a lone value carried up a level).
 *             A level only reads values written by earlier launches, so the order of the
 *             work-items of a launch never matters.
 *
 * gather_values(values, index, out, n, words): out[i] = values[index[i]] for i < n, each value
 *   `words` 32-bit words long (D / 4): the tops of a schedule, read back in one copy.
 *
 * Requires common.cl and the hash files (sha256.cl, sha512.cl, keccak.cl, blake3.cl).
 */

#ifdef GH_WITH_SHA256
GH_FN void node_merkle_sha256(__global const uchar *p, const uint root, __global uchar *out) {
    sha256_message(p, 64ul, gh_suffix_byte(0x01u), out);
}
#endif

#ifdef GH_WITH_SHA512
GH_FN void node_merkle_sha512(__global const uchar *p, const uint root, __global uchar *out) {
    sha512_message(p, 128ul, gh_suffix_byte(0x01u), out);
}
#endif

#ifdef GH_WITH_KECCAK
GH_FN void node_merkle_sha3_256(__global const uchar *p, const uint root, __global uchar *out) {
    sha3_256_message(p, 64ul, gh_suffix_byte(0x01u), out);
}
#endif

#ifdef GH_WITH_BLAKE3
GH_FN void node_blake3(__global const uchar *p, const uint root, __global uchar *out) {
    uint left[8];
    uint right[8];
    uint cv[8];
    for (uint k = 0; k < 8u; ++k) {
        left[k] = gh_load_le32(p + 4u * k);
        right[k] = gh_load_le32(p + 32u + 4u * k);
    }
    blake3_parent(cv, left, right, BLAKE3_PARENT | (root != 0u ? BLAKE3_ROOT : 0u));
    for (uint k = 0; k < 8u; ++k) {
        gh_store_le32(out + 4u * k, cv[k]);
    }
}
#endif

/* A lattice pair is 1024 lane additions modulo 2^16, done two lanes at a time in 32-bit words
 * (SWAR): GH_ADD16X2 adds the low 15 bits of each 16-bit lane, which cannot carry into the next
 * lane, and sets each lane's top bit to the xor of the two top bits and that lane's carry into
 * it, so the sum of each lane wraps modulo 2^16 on its own. Lanes are little-endian uint16
 * (spec section 5), so a word read natively is turned into the little-endian value of its
 * bytes (GH_WORD_LE32) and back: lane 2k is its low half, lane 2k + 1 its high half. Values
 * and pairs start at multiples of D = 2048 in aligned buffers; misaligned ones take the byte
 * path (a target prelude may define GH_ADD16X2, e.g. as a SIMD intrinsic). */
#ifndef GH_ADD16X2
#define GH_ADD16X2(a, b) \
    ((((a) & 0x7fff7fffu) + ((b) & 0x7fff7fffu)) ^ (((a) ^ (b)) & 0x80008000u))
#endif

#ifdef GH_WITH_KECCAK
GH_FN void node_lthash16_shake256(__global const uchar *p, const uint root,
                                  __global uchar *out) {
    if (GH_ALIGNED(p, 4u) && GH_ALIGNED(out, 4u)) {
        __global const uint *l = (__global const uint *)p;
        __global const uint *r = l + 512;
        __global uint *o = (__global uint *)out;
        for (uint k = 0; k < 512u; ++k) {
            const uint s = GH_ADD16X2(GH_WORD_LE32(l[k]), GH_WORD_LE32(r[k]));
            o[k] = GH_WORD_LE32(s);
        }
        return;
    }
    for (uint k = 0; k < 2048u; k += 4u) {
        const uint s = GH_ADD16X2(gh_load_le32(p + k), gh_load_le32(p + 2048u + k));
        gh_store_le32(out + k, s);
    }
}
#endif

#define GH_NODE_KERNELS(fam, D)                                                                 \
    __kernel void nodes_##fam(__global const uchar *children, __global const uchar *roots,     \
                              __global uchar *out, const uint m) {                             \
        const ulong i = GH_GID();                                                              \
        if (i >= (ulong)m) {                                                                   \
            return;                                                                            \
        }                                                                                      \
        node_##fam(children + i * (2ul * (D)), (uint)roots[i], out + i * (ulong)(D));          \
    }                                                                                          \
    __kernel void tree_##fam(__global uchar *values, __global const uint *src,                 \
                             __global const uchar *op, const uint first, const uint count,     \
                             const uint base) {                                                \
        const ulong k = GH_GID();                                                              \
        if (k >= (ulong)count) {                                                               \
            return;                                                                            \
        }                                                                                      \
        const ulong s = (ulong)src[first + k];                                                 \
        const uint o = (uint)op[first + k];                                                    \
        __global uchar *out = values + ((ulong)base + k) * (ulong)(D);                         \
        if (o == 2u) {                                                                         \
            __global const uint *from = (__global const uint *)(values + s * (ulong)(D));      \
            __global uint *to = (__global uint *)out;                                          \
            for (uint w = 0; w < (D) / 4u; ++w) {                                              \
                to[w] = from[w];                                                               \
            }                                                                                  \
        } else {                                                                               \
            node_##fam(values + s * (ulong)(D), o, out);                                       \
        }                                                                                      \
    }

#ifdef GH_WITH_SHA256
GH_NODE_KERNELS(merkle_sha256, 32u)
#endif
#ifdef GH_WITH_SHA512
GH_NODE_KERNELS(merkle_sha512, 64u)
#endif
#ifdef GH_WITH_KECCAK
GH_NODE_KERNELS(merkle_sha3_256, 32u)
#endif
#ifdef GH_WITH_BLAKE3
GH_NODE_KERNELS(blake3, 32u)
#endif
#ifdef GH_WITH_KECCAK
GH_NODE_KERNELS(lthash16_shake256, 2048u)
#endif

__kernel void gather_values(__global const uint *values, __global const uint *index,
                            __global uint *out, const uint n, const uint words) {
    const ulong i = GH_GID();
    if (i >= (ulong)n) {
        return;
    }
    __global const uint *from = values + (ulong)index[i] * (ulong)words;
    for (uint w = 0; w < words; ++w) {
        out[i * (ulong)words + w] = from[w];
    }
}
