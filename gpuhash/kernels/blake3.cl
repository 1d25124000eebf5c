/*
 * BLAKE3 (hash mode, 32-byte output) for one subtree per work-item.
 *
 *   blake3_compress(cv, m, counter, block_len, flags)   cv <- first 8 output words
 *   blake3_chunk_cv(cv, data, len, counter, flags)      CV of one chunk of 0..1024 bytes
 *   blake3_parent(cv, left, right, flags)               CV of a parent node
 *   blake3_subtree(data, len, first_counter, root, out) CV (or, with root, the root output) of
 *                                                       the left-balanced subtree over the
 *                                                       chunks of data[0..len)
 *
 * A leaf of L bytes (L a power of two >= 1024) with index i is the subtree of its chunks with
 * first chunk counter i * L / 1024 (spec section 4); since L / 1024 is a power of two no smaller
 * than the leaf's chunk count, BLAKE3's own tree over the whole object contains exactly that
 * subtree. With root set (the object's only leaf) the result is standard BLAKE3 of the leaf.
 *
 * Requires common.cl.
 */

#ifdef GH_WITH_BLAKE3 /* blake3 */
#define BLAKE3_CHUNK_LEN 1024u
#define BLAKE3_BLOCK_LEN 64u
#define BLAKE3_CHUNK_START 1u
#define BLAKE3_CHUNK_END 2u
#define BLAKE3_PARENT 4u
#define BLAKE3_ROOT 8u
/* CV stack depth: a leaf has at most 2^24 / 1024 = 2^14 chunks, so at most 14 pending CVs. */
#define BLAKE3_MAX_DEPTH 15u

__constant uint BLAKE3_IV[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};

/* The message word schedule of round r is MSG_SCHEDULE[r][k] (the permutation applied r
 * times), so no words are moved between rounds. blake3_compress spells these rows out as
 * constants; the table stays as their reference. */
__constant uchar BLAKE3_MSG_SCHEDULE[7][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
    {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
    {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
    {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
    {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
    {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

#define BLAKE3_G(v, a, b, c, d, x, y)            \
    do {                                         \
        v[a] = v[a] + v[b] + (x);                \
        v[d] = GH_ROTR32(v[d] ^ v[a], 16u);      \
        v[c] = v[c] + v[d];                      \
        v[b] = GH_ROTR32(v[b] ^ v[c], 12u);      \
        v[a] = v[a] + v[b] + (y);                \
        v[d] = GH_ROTR32(v[d] ^ v[a], 8u);       \
        v[c] = v[c] + v[d];                      \
        v[b] = GH_ROTR32(v[b] ^ v[c], 7u);       \
    } while (0)

/* One round with message words m[s0..s15] (constants: BLAKE3_MSG_SCHEDULE[r]). */
#define BLAKE3_ROUND(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15) \
    do { \
        BLAKE3_G(v, 0, 4, 8, 12, m[s0], m[s1]); \
        BLAKE3_G(v, 1, 5, 9, 13, m[s2], m[s3]); \
        BLAKE3_G(v, 2, 6, 10, 14, m[s4], m[s5]); \
        BLAKE3_G(v, 3, 7, 11, 15, m[s6], m[s7]); \
        BLAKE3_G(v, 0, 5, 10, 15, m[s8], m[s9]); \
        BLAKE3_G(v, 1, 6, 11, 12, m[s10], m[s11]); \
        BLAKE3_G(v, 2, 7, 8, 13, m[s12], m[s13]); \
        BLAKE3_G(v, 3, 4, 9, 14, m[s14], m[s15]); \
    } while (0)

/* The compression function, keeping the first 8 output words: cv <- (v[0..8) ^ v[8..16)).
 * Fully unrolled with the schedule written out, so m and v are only indexed by constants. */
GH_FN void blake3_compress(uint cv[8], const uint m[16], const ulong counter,
                           const uint block_len, const uint flags) {
    uint v[16];
    for (uint i = 0; i < 8u; ++i) {
        v[i] = cv[i];
    }
    v[8] = BLAKE3_IV[0];
    v[9] = BLAKE3_IV[1];
    v[10] = BLAKE3_IV[2];
    v[11] = BLAKE3_IV[3];
    v[12] = (uint)counter;
    v[13] = (uint)(counter >> 32);
    v[14] = block_len;
    v[15] = flags;
    BLAKE3_ROUND(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    BLAKE3_ROUND(2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8);
    BLAKE3_ROUND(3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1);
    BLAKE3_ROUND(10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6);
    BLAKE3_ROUND(12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4);
    BLAKE3_ROUND(9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7);
    BLAKE3_ROUND(11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13);
    for (uint i = 0; i < 8u; ++i) {
        cv[i] = v[i] ^ v[i + 8u];
    }
}

/* CV of one chunk data[0..len), 0 <= len <= 1024, at chunk counter `counter`. `extra` is OR-ed
 * into the flags of the chunk's last block (BLAKE3_ROOT for a one-chunk root). */
GH_FN void blake3_chunk_cv(uint cv[8], __global const uchar *data, const uint len,
                           const ulong counter, const uint extra) {
    uint m[16];
    for (uint i = 0; i < 8u; ++i) {
        cv[i] = BLAKE3_IV[i];
    }
    const uint nblocks = len == 0u ? 1u : (len + BLAKE3_BLOCK_LEN - 1u) / BLAKE3_BLOCK_LEN;
    for (uint b = 0; b < nblocks; ++b) {
        const uint start = b * BLAKE3_BLOCK_LEN;
        const uint block_len = min(len - start, BLAKE3_BLOCK_LEN);
        __global const uchar *p = data + start;
        if (block_len == BLAKE3_BLOCK_LEN) {
            /* (GPU: coalesced/vector loads go here; see common.cl.) */
            for (uint i = 0; i < 16u; ++i) {
                m[i] = gh_load_le32(p + 4u * i);
            }
        } else {
            for (uint i = 0; i < 16u; ++i) {
                uint word = 0;
                for (uint k = 0; k < 4u; ++k) {
                    const uint q = 4u * i + k;
                    const uint byte = q < block_len ? (uint)p[q] : 0u;
                    word |= byte << (8u * k);
                }
                m[i] = word;
            }
        }
        uint flags = 0;
        if (b == 0u) {
            flags |= BLAKE3_CHUNK_START;
        }
        if (b == nblocks - 1u) {
            flags |= BLAKE3_CHUNK_END | extra;
        }
        blake3_compress(cv, m, counter, block_len, flags);
    }
}

/* CV of one whole chunk (1024 bytes, not the root) read with 32-bit word loads; p must be
 * 4-byte aligned. The fast path of blake3_subtree for every chunk but the last. */
GH_FN void blake3_full_chunk_cv(uint cv[8], __global const uint *p, const ulong counter) {
    uint m[16];
    for (uint i = 0; i < 8u; ++i) {
        cv[i] = BLAKE3_IV[i];
    }
    for (uint b = 0; b < BLAKE3_CHUNK_LEN / BLAKE3_BLOCK_LEN; ++b, p += 16) {
        for (uint i = 0; i < 16u; ++i) {
            m[i] = GH_WORD_LE32(p[i]);
        }
        const uint flags = (b == 0u ? BLAKE3_CHUNK_START : 0u) |
                           (b == BLAKE3_CHUNK_LEN / BLAKE3_BLOCK_LEN - 1u ? BLAKE3_CHUNK_END : 0u);
        blake3_compress(cv, m, counter, BLAKE3_BLOCK_LEN, flags);
    }
}

/* cv <- parent CV of (left, right); flags is BLAKE3_PARENT, plus BLAKE3_ROOT at the top.
 * right (or left) may be cv itself: both are read before cv is written. */
GH_FN void blake3_parent(uint cv[8], const uint left[8], const uint right[8], const uint flags) {
    uint m[16];
    for (uint i = 0; i < 8u; ++i) {
        m[i] = left[i];
        m[i + 8u] = right[i];
    }
    for (uint i = 0; i < 8u; ++i) {
        cv[i] = BLAKE3_IV[i];
    }
    blake3_compress(cv, m, 0ul, BLAKE3_BLOCK_LEN, flags);
}

/* Push the CV of chunk done - 1 (not the last chunk) onto the stack, merging while the number
 * of completed chunks is even (BLAKE3's incremental hasher). */
GH_FN void blake3_push_chunk(uint stack[BLAKE3_MAX_DEPTH][8], uint *depth, uint cv[8],
                             ulong done) {
    while ((done & 1ul) == 0ul) {
        *depth -= 1u;
        blake3_parent(cv, stack[*depth], cv, BLAKE3_PARENT);
        done >>= 1;
    }
    for (uint i = 0; i < 8u; ++i) {
        stack[*depth][i] = cv[i];
    }
    *depth += 1u;
}

/* Hash the last chunk of data[0..len) and merge it with the stack (the final merge with the
 * ROOT flag when root): the end of blake3_subtree once every other chunk is pushed. */
GH_FN void blake3_subtree_final(uint stack[BLAKE3_MAX_DEPTH][8], uint depth,
                                __global const uchar *data, const ulong len,
                                const ulong first_counter, const uint root, __global uchar *out) {
    uint cv[8];
    const ulong nchunks = len == 0ul ? 1ul : (len + BLAKE3_CHUNK_LEN - 1ul) / BLAKE3_CHUNK_LEN;
    const uint root_flag = root ? BLAKE3_ROOT : 0u;
    const ulong last = nchunks - 1ul;
    const uint last_len = (uint)(len - last * BLAKE3_CHUNK_LEN);
    blake3_chunk_cv(cv, data + last * BLAKE3_CHUNK_LEN, last_len, first_counter + last,
                    depth == 0u ? root_flag : 0u);
    while (depth > 0u) {
        --depth;
        blake3_parent(cv, stack[depth], cv, BLAKE3_PARENT | (depth == 0u ? root_flag : 0u));
    }

    for (uint i = 0; i < 8u; ++i) {
        gh_store_le32(out + 4u * i, cv[i]);
    }
}

/* CV of the subtree over the chunks of data[0..len) whose first chunk has counter
 * first_counter; with root != 0 the root output (standard BLAKE3 of data when first_counter is
 * 0). len may be 0 (one empty chunk). len must be at most 2^(BLAKE3_MAX_DEPTH - 1) chunks.
 *
 * Chunks are hashed in order and their CVs merged on a stack as in BLAKE3's incremental
 * hasher: after chunk k (not the last) completes, merge while the number of completed chunks
 * is even; the last chunk's CV is then merged with everything left on the stack, the final
 * merge carrying the ROOT flag. That is exactly the left-balanced tree of section 4. */
GH_FN void blake3_subtree(__global const uchar *data, const ulong len, const ulong first_counter,
                          const uint root, __global uchar *out) {
    uint stack[BLAKE3_MAX_DEPTH][8];
    uint depth = 0;
    uint cv[8];
    const ulong nchunks = len == 0ul ? 1ul : (len + BLAKE3_CHUNK_LEN - 1ul) / BLAKE3_CHUNK_LEN;

    const int aligned = GH_ALIGNED(data, 4u); /* word loads for the whole chunks */
    for (ulong c = 0; c + 1ul < nchunks; ++c) {
        if (aligned) {
            blake3_full_chunk_cv(cv, (__global const uint *)(data + c * BLAKE3_CHUNK_LEN),
                                 first_counter + c);
        } else {
            blake3_chunk_cv(cv, data + c * BLAKE3_CHUNK_LEN, BLAKE3_CHUNK_LEN, first_counter + c,
                            0u);
        }
        blake3_push_chunk(stack, &depth, cv, c + 1ul);
    }
    blake3_subtree_final(stack, depth, data, len, first_counter, root, out);
}

#endif /* GH_WITH_BLAKE3 */
