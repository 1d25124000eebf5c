/*
 * gpuhash CUDA epilogue: the staged leaf kernels (leaves.cl) as CUDA kernels. OpenCL passes
 * their four work-group buffers as __local arguments; CUDA has one dynamic shared block per
 * launch, so each wrapper carves stage, goff, gfull and gmax out of it, in that order, each
 * start rounded up to 8 bytes. The host passes shared_mem = gh_staged_shared_bytes(...) (the
 * same arithmetic as gpuhash_cuda.staged_shared_bytes).
 *
 * The wrappers themselves, one GH_CUDA_STAGED or GH_CUDA_STAGED_LEAF_SIZE line per family under
 * its guard macro, are written after this file by gpuhash_cuda.cuda_source from the family table
 * (gpuhash.algorithms.FAMILY_TABLE: stage word type and words per block row).
 */

GH_FN ulong gh_round8(ulong n) { return (n + 7ull) & ~7ull; }

#define GH_CUDA_CARVE(stype, words)                                                        \
    extern __shared__ unsigned long long gh_shared[];                                      \
    const ulong g = (ulong)blockDim.x;                                                     \
    uchar *base = (uchar *)gh_shared;                                                      \
    stype *stage = (stype *)base;                                                          \
    ulong at = gh_round8(g * ((words) + 1ull) * sizeof(stype));                            \
    ulong *goff = (ulong *)(base + at);                                                    \
    at = gh_round8(at + g * 8ull);                                                         \
    uint *gfull = (uint *)(base + at);                                                     \
    at = gh_round8(at + g * 4ull);                                                         \
    uint *gmax = (uint *)(base + at);

#define GH_CUDA_STAGED(fam, stype, words)                                                  \
    extern "C" __global__ void leaves_staged_##fam(GH_STAGED_ARGS) {                       \
        GH_CUDA_CARVE(stype, words)                                                        \
        gh_leaves_staged_##fam(data, offset, length, index, root, out, n, stage, goff,     \
                               gfull, gmax);                                               \
    }

/* The same for the families whose kernels take the leaf size too (leaves_staged_blake3). */
#define GH_CUDA_STAGED_LEAF_SIZE(fam, stype, words)                                        \
    extern "C" __global__ void leaves_staged_##fam(GH_STAGED_ARGS, const ulong leaf_size) { \
        GH_CUDA_CARVE(stype, words)                                                        \
        gh_leaves_staged_##fam(data, offset, length, index, root, out, n, stage, goff,     \
                               gfull, gmax, leaf_size);                                    \
    }
