/*
 * gpuhash CUDA epilogue: the staged leaf kernels (leaves.cl) as CUDA kernels. OpenCL passes
 * their four work-group buffers as __local arguments; CUDA has one dynamic shared block per
 * launch, so each wrapper carves stage, goff, gfull and gmax out of it, in that order, each
 * start rounded up to 8 bytes. The host passes shared_mem = gh_staged_shared_bytes(...) (the
 * same arithmetic as gpuhash_cuda.staged_shared_bytes).
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

#ifdef GH_WITH_SHA256
GH_CUDA_STAGED(merkle_sha256, uint, 16ull)
#endif
#ifdef GH_WITH_SHA512
GH_CUDA_STAGED(merkle_sha512, ulong, 16ull)
#endif
#ifdef GH_WITH_KECCAK
GH_CUDA_STAGED(merkle_sha3_256, ulong, 17ull)
GH_CUDA_STAGED(lthash16_shake256, ulong, 17ull)
#endif
#ifdef GH_WITH_BLAKE3
extern "C" __global__ void leaves_staged_blake3(GH_STAGED_ARGS, const ulong leaf_size) {
    GH_CUDA_CARVE(uint, 16ull)
    gh_leaves_staged_blake3(data, offset, length, index, root, out, n, stage, goff, gfull, gmax,
                            leaf_size);
}
#endif
