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
 *
 * Memory access on CPUs (what this version is tuned for). Intel's CPU runtime runs 16
 * work-items in the 16 lanes of AVX-512 registers, so the 16 leaves of a lane set are hashed
 * side by side and every load of message data is a gather from 16 addresses L bytes apart.
 * The hash files therefore read each full block as 16 native 32-bit words (SHA-256, BLAKE3) or
 * 64-bit words (SHA-512, Keccak lanes) when the leaf start is aligned (it always is: leaves
 * start at multiples of L >= 1024 in a buffer the runtime allocates aligned), i.e. 2 gathers
 * per word position instead of 4 or 8 byte gathers, byte-swapped with shifts; misaligned
 * starts fall back to byte loads, so alignment affects speed only. Compressions are unrolled
 * with rolling 16-word schedules and named state variables, so no private array is indexed at
 * run time (that would become gathers and scatters on the stack), and helpers are
 * always_inline (see common.cl). Staging through local memory would not help on a CPU: local
 * memory is ordinary cache there, the 16 lanes' current lines already sit in L1, the hardware
 * prefetchers follow the 16 sequential streams, and barriers cost. PoCL (pthread) does not
 * vectorise across work-items for these per-leaf loops and runs the same code one leaf at a
 * time per core. Measured on a 2-core AVX-512 machine, 256 MiB in 64 KiB leaves: about
 * 3.5-4.4 GB/s for SHA-256, SHA-512, SHA3-256 and SHAKE256, 5.5 GB/s for BLAKE3 on Intel's
 * runtime, about 0.7-1.2 GB/s on PoCL.
 *
 * On a GPU the direct kernels would waste bandwidth: neighbouring work-items' loads are L bytes
 * apart, so every warp-wide load touches 32 different segments. The staged kernels at the end
 * of this file (leaves_staged_<family>, the opencl backend's layout "staged", its default on
 * GPUs) keep one leaf per work-item (the compression is sequential within a leaf) but load
 * each block of the work-group's leaves cooperatively into local memory: 16 consecutive
 * work-items read one leaf's 64-byte block (SHA-256, BLAKE3; 128 bytes for SHA-512, 136 for
 * Keccak), so a warp reads two whole, aligned 64-byte segments per instruction; then a barrier,
 * then each work-item compresses its own row (rows padded by one word against bank conflicts).
 * Interleaving the data in device memory instead (word i of every leaf side by side) would
 * also coalesce, but costs a transposition pass: two more trips through memory per byte.
 * BLAKE3 could go further (one work-item per 1 KiB chunk and a merge in local memory, more
 * parallelism per leaf); the staged kernel keeps one leaf per work-item like the others.
 *
 * Roofline on paper, H100 (SXM), SHA-256: one compression consumes 64 bytes; a 64 KiB leaf
 * costs 1024 + 1 = 1025 compressions (the role byte and padding take one more block; a 4 KiB
 * leaf 64 + 1 = 65). A compression is roughly 1,000-1,500 32-bit integer operations (64 rounds
 * and 48 schedule words, rotates as funnel shifts, CH/MAJ as LOP3), so the ~17 T int32
 * operations/s of an H100 give ~16 G compressions/s: 16e9 * 65536 / 1025 = ~1.0 TB/s of leaf
 * data (4 KiB leaves: 16e9 * 4096 / 65 = ~1.0 TB/s too). HBM3 delivers ~3.3 TB/s, so the kernel
 * is compute-bound, reading the data once is a third of the memory roofline, and the memory
 * pattern above only has to avoid wasting sectors. SHA-512 and Keccak work on 64-bit words that
 * a GPU emulates with 32-bit pairs, so expect them lower per byte; BLAKE3 (7 rounds of 32-bit
 * adds/xors/rotates per 64 bytes) higher.
 */

#ifdef GH_WITH_SHA256
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
#endif

#ifdef GH_WITH_SHA512
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
#endif

#ifdef GH_WITH_KECCAK
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
#endif

#ifdef GH_WITH_BLAKE3
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
#endif

#ifdef GH_WITH_KECCAK
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
#endif

/*
 * Staged leaf kernels (the GPU layout): leaves_staged_<family>, the same arguments and results
 * as leaves_<family>, plus four __local buffers the host sizes for the work-group size G:
 *   stage   G * (WORDS + 1) words: one block of each of the group's leaves (WORDS = 16 32-bit
 *           words for SHA-256 and BLAKE3, 16 64-bit words for SHA-512, 17 64-bit lanes for
 *           Keccak), rows padded by one word against bank conflicts
 *   goff    G ulongs, gfull G uints, gmax 1 uint: the group's leaf offsets, whole-block
 *           counts and their maximum
 * Each work-item still hashes one leaf (the compression is sequential within a leaf), but the
 * whole blocks are loaded cooperatively: for block b, work-item t of the group loads words
 * t, t + G, t + 2G... of the group's G x WORDS block words, so consecutive work-items read
 * consecutive words of one leaf's block (a 64- or 128-byte contiguous run per leaf, aligned)
 * instead of words L bytes apart; then a barrier, then each work-item compresses its own row
 * from local memory. Every work-item runs the loop to the group's largest block count (the
 * barriers need it) and skips the compressions its own leaf does not have; the last partial
 * block, the suffix and the padding are read from global memory as in leaves_<family>.
 *
 * Correctness does not depend on G (any G >= 1; G = 1 degenerates to the direct kernels'
 * order of work) nor on alignment (a misaligned leaf start falls back to byte loads). On CPU
 * runtimes the direct kernels above are faster (local memory is ordinary cache there and
 * barriers cost); the opencl backend uses these on GPUs (layout "staged").
 */

/* Block blk of each leaf of the group into stage (32-bit words, little-endian values). */
GH_FN void gh_stage32(GH_LOCAL uint *stage, GH_LOCAL const ulong *goff,
                      GH_LOCAL const uint *gfull, __global const uchar *data, const uint blk,
                      const uint words, const uint lid, const uint g) {
    const uint total = g * words;
    for (uint idx = lid; idx < total; idx += g) {
        const uint t = idx / words;
        const uint i = idx - t * words;
        if (blk < gfull[t]) {
            __global const uchar *p = data + goff[t] + (ulong)blk * (4u * words) + 4u * i;
            stage[t * (words + 1u) + i] =
                GH_ALIGNED(p, 4u) ? GH_WORD_LE32(*(__global const uint *)p) : gh_load_le32(p);
        }
    }
}

/* The same with 64-bit words. */
GH_FN void gh_stage64(GH_LOCAL ulong *stage, GH_LOCAL const ulong *goff,
                      GH_LOCAL const uint *gfull, __global const uchar *data, const uint blk,
                      const uint words, const uint lid, const uint g) {
    const uint total = g * words;
    for (uint idx = lid; idx < total; idx += g) {
        const uint t = idx / words;
        const uint i = idx - t * words;
        if (blk < gfull[t]) {
            __global const uchar *p = data + goff[t] + (ulong)blk * (8u * words) + 8u * i;
            stage[t * (words + 1u) + i] =
                GH_ALIGNED(p, 8u) ? GH_WORD_LE64(*(__global const ulong *)p) : gh_load_le64(p);
        }
    }
}

/* Publish this work-item's leaf (offset, whole blocks) and return the group's maximum. */
GH_FN uint gh_stage_begin(GH_LOCAL ulong *goff, GH_LOCAL uint *gfull, GH_LOCAL uint *gmax,
                          const ulong off, const uint full, const uint lid) {
    goff[lid] = off;
    gfull[lid] = full;
    if (lid == 0u) {
        *gmax = 0u;
    }
    GH_BARRIER();
    GH_LOCAL_MAX(gmax, full);
    GH_BARRIER();
    return *gmax;
}

#define GH_STAGED_ARGS                                                                        \
    __global const uchar *data, __global const ulong *offset, __global const ulong *length,  \
        __global const ulong *index, __global const uchar *root, __global uchar *out,         \
        const uint n

#define GH_STAGED_LOCALS GH_LOCAL ulong *goff, GH_LOCAL uint *gfull, GH_LOCAL uint *gmax

#ifdef GH_WITH_SHA256
GH_FN void gh_leaves_staged_merkle_sha256(GH_STAGED_ARGS, GH_LOCAL uint *stage,
                                          GH_STAGED_LOCALS) {
    const uint lid = GH_LID();
    const uint g = GH_LSIZE();
    const ulong j = GH_GID();
    const int live = j < (ulong)n;
    const ulong len = live ? length[j] : 0ul;
    const uint full = (uint)(len >> 6);
    const uint blocks = gh_stage_begin(goff, gfull, gmax, live ? offset[j] : 0ul, full, lid);
    uint st[8];
    uint w[16];
    sha256_init(st);
    for (uint blk = 0; blk < blocks; ++blk) {
        gh_stage32(stage, goff, gfull, data, blk, 16u, lid, g);
        GH_BARRIER();
        if (blk < full) {
            for (uint i = 0; i < 16u; ++i) {
                w[i] = GH_BSWAP32(stage[lid * 17u + i]);
            }
            sha256_compress(st, w);
        }
        GH_BARRIER();
    }
    if (live) {
        sha256_final(st, data + offset[j], len, gh_suffix_byte(0x00u), out + j * 32ul);
    }
}
#endif

#ifdef GH_WITH_SHA512
GH_FN void gh_leaves_staged_merkle_sha512(GH_STAGED_ARGS, GH_LOCAL ulong *stage,
                                          GH_STAGED_LOCALS) {
    const uint lid = GH_LID();
    const uint g = GH_LSIZE();
    const ulong j = GH_GID();
    const int live = j < (ulong)n;
    const ulong len = live ? length[j] : 0ul;
    const uint full = (uint)(len >> 7);
    const uint blocks = gh_stage_begin(goff, gfull, gmax, live ? offset[j] : 0ul, full, lid);
    ulong st[8];
    ulong w[16];
    sha512_init(st);
    for (uint blk = 0; blk < blocks; ++blk) {
        gh_stage64(stage, goff, gfull, data, blk, 16u, lid, g);
        GH_BARRIER();
        if (blk < full) {
            for (uint i = 0; i < 16u; ++i) {
                w[i] = GH_BSWAP64(stage[lid * 17u + i]);
            }
            sha512_compress(st, w);
        }
        GH_BARRIER();
    }
    if (live) {
        sha512_final(st, data + offset[j], len, gh_suffix_byte(0x00u), out + j * 64ul);
    }
}
#endif

/* Keccak: the staged whole rate blocks of one leaf into a (shared by SHA3-256 and SHAKE256). */
#ifdef GH_WITH_KECCAK
GH_FN void gh_staged_keccak_blocks(ulong a[25], GH_LOCAL ulong *stage, GH_LOCAL ulong *goff,
                                   GH_LOCAL uint *gfull, GH_LOCAL uint *gmax,
                                   __global const uchar *data, const ulong off, const uint full,
                                   const uint lid, const uint g) {
    const uint blocks = gh_stage_begin(goff, gfull, gmax, off, full, lid);
    keccak_zero(a);
    for (uint blk = 0; blk < blocks; ++blk) {
        gh_stage64(stage, goff, gfull, data, blk, KECCAK_RATE_LANES, lid, g);
        GH_BARRIER();
        if (blk < full) {
            GH_UNROLL
            for (uint i = 0; i < KECCAK_RATE_LANES; ++i) {
                a[i] ^= stage[lid * (KECCAK_RATE_LANES + 1u) + i];
            }
            keccak_f1600(a);
        }
        GH_BARRIER();
    }
}
#endif

#ifdef GH_WITH_KECCAK
GH_FN void gh_leaves_staged_merkle_sha3_256(GH_STAGED_ARGS, GH_LOCAL ulong *stage,
                                            GH_STAGED_LOCALS) {
    const uint lid = GH_LID();
    const ulong j = GH_GID();
    const int live = j < (ulong)n;
    const ulong len = live ? length[j] : 0ul;
    const ulong off = live ? offset[j] : 0ul;
    ulong a[25];
    gh_staged_keccak_blocks(a, stage, goff, gfull, gmax, data, off,
                            (uint)(len / KECCAK_RATE), lid, GH_LSIZE());
    if (live) {
        keccak_final(a, data + off, len, gh_suffix_byte(0x00u), KECCAK_DOM_SHA3);
        sha3_256_out(a, out + j * 32ul);
    }
}
#endif

#ifdef GH_WITH_KECCAK
GH_FN void gh_leaves_staged_lthash16_shake256(GH_STAGED_ARGS, GH_LOCAL ulong *stage,
                                              GH_STAGED_LOCALS) {
    const uint lid = GH_LID();
    const ulong j = GH_GID();
    const int live = j < (ulong)n;
    const ulong len = live ? length[j] : 0ul;
    const ulong off = live ? offset[j] : 0ul;
    ulong a[25];
    gh_staged_keccak_blocks(a, stage, goff, gfull, gmax, data, off,
                            (uint)(len / KECCAK_RATE), lid, GH_LSIZE());
    if (live) {
        gh_suffix sfx; /* LE64(index) || 0x10 */
        sfx.lo = index[j];
        sfx.hi = 0x10ul;
        sfx.len = 9u;
        keccak_final(a, data + off, len, sfx, KECCAK_DOM_SHAKE);
        shake_squeeze(a, out + j * 2048ul, 2048ul);
    }
}
#endif

/* BLAKE3: the whole chunks but the last, block by block from local memory (16 blocks a chunk,
 * CVs merged on the stack as in blake3_subtree), then the last chunk from global memory. */
#ifdef GH_WITH_BLAKE3
GH_FN void gh_leaves_staged_blake3(GH_STAGED_ARGS, GH_LOCAL uint *stage, GH_STAGED_LOCALS,
                                   const ulong leaf_size) {
    const uint lid = GH_LID();
    const uint g = GH_LSIZE();
    const ulong j = GH_GID();
    const int live = j < (ulong)n;
    const ulong len = live ? length[j] : 0ul;
    const ulong nchunks =
        len == 0ul ? 1ul : (len + BLAKE3_CHUNK_LEN - 1ul) / BLAKE3_CHUNK_LEN;
    const uint full = (uint)((nchunks - 1ul) * (BLAKE3_CHUNK_LEN / BLAKE3_BLOCK_LEN));
    const uint blocks = gh_stage_begin(goff, gfull, gmax, live ? offset[j] : 0ul, full, lid);
    const ulong counter0 = live ? index[j] * (leaf_size / BLAKE3_CHUNK_LEN) : 0ul;
    uint stack[BLAKE3_MAX_DEPTH][8];
    uint depth = 0;
    uint cv[8];
    uint m[16];
    for (uint blk = 0; blk < blocks; ++blk) {
        gh_stage32(stage, goff, gfull, data, blk, 16u, lid, g);
        GH_BARRIER();
        if (blk < full) {
            const uint k = blk & 15u;
            const ulong c = (ulong)(blk >> 4);
            if (k == 0u) {
                for (uint i = 0; i < 8u; ++i) {
                    cv[i] = BLAKE3_IV[i];
                }
            }
            for (uint i = 0; i < 16u; ++i) {
                m[i] = stage[lid * 17u + i];
            }
            const uint flags = (k == 0u ? BLAKE3_CHUNK_START : 0u) |
                               (k == 15u ? BLAKE3_CHUNK_END : 0u);
            blake3_compress(cv, m, counter0 + c, BLAKE3_BLOCK_LEN, flags);
            if (k == 15u) {
                blake3_push_chunk(stack, &depth, cv, c + 1ul);
            }
        }
        GH_BARRIER();
    }
    if (live) {
        blake3_subtree_final(stack, depth, data + offset[j], len, counter0, root[j] != 0,
                             out + j * 32ul);
    }
}
#endif

/* The staged kernels proper: thin wrappers that take the local buffers as __local arguments
 * (OpenCL, SYCL). A target without local-memory kernel arguments (CUDA: one dynamic shared
 * block) defines GH_NO_LOCAL_ARGS and writes its own wrappers around gh_leaves_staged_<family>. */
#ifndef GH_NO_LOCAL_ARGS
#define GH_STAGED_KERNEL(fam, stype)                                                          \
    __kernel void leaves_staged_##fam(GH_STAGED_ARGS, GH_LOCAL stype *stage, GH_STAGED_LOCALS) { \
        gh_leaves_staged_##fam(data, offset, length, index, root, out, n, stage, goff, gfull,   \
                               gmax);                                                         \
    }
#ifdef GH_WITH_SHA256
GH_STAGED_KERNEL(merkle_sha256, uint)
#endif
#ifdef GH_WITH_SHA512
GH_STAGED_KERNEL(merkle_sha512, ulong)
#endif
#ifdef GH_WITH_KECCAK
GH_STAGED_KERNEL(merkle_sha3_256, ulong)
GH_STAGED_KERNEL(lthash16_shake256, ulong)
#endif
#ifdef GH_WITH_BLAKE3
__kernel void leaves_staged_blake3(GH_STAGED_ARGS, GH_LOCAL uint *stage, GH_STAGED_LOCALS,
                                   const ulong leaf_size) {
    gh_leaves_staged_blake3(data, offset, length, index, root, out, n, stage, goff, gfull, gmax,
                            leaf_size);
}
#endif
#endif /* GH_NO_LOCAL_ARGS */
