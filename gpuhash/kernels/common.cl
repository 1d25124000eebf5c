/*
 * gpuhash kernels: shared definitions (OpenCL C 1.2, no extensions).
 *
 * Every other .cl file of this package assumes this one comes first (gpuhash.kernels.source()
 * puts it there). Everything that differs between targets is a macro guarded by #ifndef, so a
 * per-target prelude (CUDA, HIP, Metal...) can define it before this file:
 *
 *   GH_FN          storage class of helper functions ("static inline" + always_inline here:
 *                  Intel's CPU compiler otherwise keeps a compression function that is used
 *                  several times out of line, and the call spills the whole 16-lane state,
 *                  halving throughput; a CUDA prelude would say "__device__ __forceinline__")
 *   GH_ROTR32/64   rotate right; GH_ROTL64 rotate left (shift pairs, not rotate(): see below)
 *   GH_GID         the global work-item index as a 64-bit value
 *   GH_LID, GH_LSIZE, GH_BARRIER, GH_LOCAL, GH_LOCAL_MAX
 *                  work-group index and size, a local-memory barrier, the local address space
 *                  and an atomic maximum on a local uint (staged leaf kernels only)
 *   GH_UNROLL      a full-unroll hint for the loops whose counter indexes a private array (the
 *                  Keccak state): a loop left rolled indexes it at run time, and GPU compilers
 *                  then keep the whole array in (slow, thread-private) local memory
 *   GH_BSWAP32/64  byte swaps; GH_NATIVE_LE and GH_WORD_BE32/64, GH_WORD_LE32/64 (byte order of
 *                  native word loads); GH_ALIGNED(p, a) (pointer alignment test)
 *
 * Conventions: every byte offset and length is a 64-bit ulong. The full blocks of a message are
 * read with native 32- or 64-bit word loads when the message start is suitably aligned (leaves
 * start at multiples of L >= 1024, nodes at multiples of 2D, and buffers are allocated aligned),
 * else with byte loads assembled into words; the byte order is explicit either way (GH_WORD_*),
 * so results depend neither on the device's endianness nor on alignment. Final (padding) blocks
 * are assembled byte by byte. See leaves.cl for why, and what a GPU build would do instead.
 *
 * Messages are described as (global pointer, 64-bit length) plus an optional short *suffix* of
 * 0..16 bytes held in two ulongs (byte k of the suffix is byte k%8 of lo (k < 8) or hi (k >= 8),
 * little-endian): the spec's role byte (0x00 leaf, 0x01 node) or the lattice's
 * LE64(i) || 0x10. The suffix is virtually appended to the message, so H(d || 0x00) never
 * copies d.
 */

#ifndef GH_FN
#define GH_FN static inline __attribute__((always_inline))
#endif

/* Rotations as shift pairs, which every compiler turns into its rotate instruction. (PoCL 3.0
 * calls its rotate() builtin as an out-of-line function, which is several times slower.) n is
 * taken modulo the width, as OpenCL C does for shift counts, so 0 is allowed. */
#ifndef GH_ROTR32
#define GH_ROTR32(x, n) \
    (((uint)(x) >> ((uint)(n) & 31u)) | ((uint)(x) << ((32u - (uint)(n)) & 31u)))
#endif

#ifndef GH_ROTR64
#define GH_ROTR64(x, n) \
    (((ulong)(x) >> ((uint)(n) & 63u)) | ((ulong)(x) << ((64u - (uint)(n)) & 63u)))
#endif

#ifndef GH_ROTL64
#define GH_ROTL64(x, n) \
    (((ulong)(x) << ((uint)(n) & 63u)) | ((ulong)(x) >> ((64u - (uint)(n)) & 63u)))
#endif

#ifndef GH_GID
#define GH_GID() ((ulong)get_global_id(0))
#endif

#ifndef GH_UNROLL
#define GH_UNROLL _Pragma("unroll")
#endif

/* Work-group primitives, used only by the staged leaf kernels (leaves.cl). */
#ifndef GH_LID
#define GH_LID() ((uint)get_local_id(0))
#endif
#ifndef GH_LSIZE
#define GH_LSIZE() ((uint)get_local_size(0))
#endif
#ifndef GH_BARRIER
#define GH_BARRIER() barrier(CLK_LOCAL_MEM_FENCE)
#endif
#ifndef GH_LOCAL
#define GH_LOCAL __local
#endif
#ifndef GH_LOCAL_MAX
#define GH_LOCAL_MAX(p, v) atomic_max((volatile __local uint *)(p), (uint)(v))
#endif

/* Byte swaps (for big-endian words read with native little-endian word loads). */
#ifndef GH_BSWAP32
#define GH_BSWAP32(x) \
    ((GH_ROTR32(x, 24u) & 0x00ff00ffu) | (GH_ROTR32(x, 8u) & 0xff00ff00u))
#endif

#ifndef GH_BSWAP64
#define GH_BSWAP64(x) \
    (((ulong)GH_BSWAP32((uint)(x)) << 32) | (ulong)GH_BSWAP32((uint)((ulong)(x) >> 32)))
#endif

/* Native word loads: GH_NATIVE_LE is 1 where the device is little-endian (OpenCL C defines
 * __ENDIAN_LITTLE__ there; every current CPU and GPU is), and GH_WORD_BE32(w) etc. turn a word read
 * natively into the big- or little-endian value of its bytes. */
#ifndef GH_NATIVE_LE
#ifdef __ENDIAN_LITTLE__
#define GH_NATIVE_LE 1
#else
#define GH_NATIVE_LE 0
#endif
#endif
#if GH_NATIVE_LE
#define GH_WORD_BE32(w) GH_BSWAP32(w)
#define GH_WORD_BE64(w) GH_BSWAP64(w)
#define GH_WORD_LE32(w) ((uint)(w))
#define GH_WORD_LE64(w) ((ulong)(w))
#else
#define GH_WORD_BE32(w) ((uint)(w))
#define GH_WORD_BE64(w) ((ulong)(w))
#define GH_WORD_LE32(w) GH_BSWAP32(w)
#define GH_WORD_LE64(w) GH_BSWAP64(w)
#endif

/* Whether a pointer is aligned to a (a power of two). The fast paths of the hash files read
 * whole words through a uint / ulong pointer only when this holds, else they fall back to byte
 * loads, so results never depend on alignment. */
#ifndef GH_ALIGNED
#define GH_ALIGNED(p, a) ((((size_t)(p)) & (size_t)((a) - 1u)) == (size_t)0)
#endif

/* A short suffix appended to a message (at most 16 bytes). */
typedef struct {
    ulong lo;  /* bytes 0..7, little-endian */
    ulong hi;  /* bytes 8..15, little-endian */
    uint len;  /* 0..16 */
} gh_suffix;

GH_FN gh_suffix gh_suffix_none(void) {
    gh_suffix s;
    s.lo = 0;
    s.hi = 0;
    s.len = 0;
    return s;
}

GH_FN gh_suffix gh_suffix_byte(uint b) {
    gh_suffix s;
    s.lo = (ulong)(b & 0xffu);
    s.hi = 0;
    s.len = 1;
    return s;
}

/* Byte k (< s.len) of a suffix. */
GH_FN uint gh_suffix_at(const gh_suffix s, uint k) {
    const ulong w = k < 8u ? s.lo : s.hi;
    return (uint)(w >> (8u * (k & 7u))) & 0xffu;
}

/*
 * Byte p of the virtual message data[0..len) || suffix, for p < len + s.len. Only the final
 * (padding) blocks of a hash go through this function; full blocks use the word loads below.
 */
GH_FN uint gh_msg_byte(__global const uchar *data, ulong len, const gh_suffix s, ulong p) {
    return p < len ? (uint)data[p] : gh_suffix_at(s, (uint)(p - len));
}

/*
 * Word loads from global memory, one byte at a time: the fallback for message starts that are
 * not word-aligned (the aligned fast paths read words through GH_WORD_*), and the byte-order
 * helpers for stores. Correct for any offset.
 */
GH_FN uint gh_load_be32(__global const uchar *p) {
    return ((uint)p[0] << 24) | ((uint)p[1] << 16) | ((uint)p[2] << 8) | (uint)p[3];
}

GH_FN uint gh_load_le32(__global const uchar *p) {
    return (uint)p[0] | ((uint)p[1] << 8) | ((uint)p[2] << 16) | ((uint)p[3] << 24);
}

GH_FN ulong gh_load_be64(__global const uchar *p) {
    return ((ulong)gh_load_be32(p) << 32) | (ulong)gh_load_be32(p + 4);
}

GH_FN ulong gh_load_le64(__global const uchar *p) {
    return (ulong)gh_load_le32(p) | ((ulong)gh_load_le32(p + 4) << 32);
}

GH_FN void gh_store_be32(__global uchar *p, uint w) {
    p[0] = (uchar)(w >> 24);
    p[1] = (uchar)(w >> 16);
    p[2] = (uchar)(w >> 8);
    p[3] = (uchar)w;
}

GH_FN void gh_store_le32(__global uchar *p, uint w) {
    p[0] = (uchar)w;
    p[1] = (uchar)(w >> 8);
    p[2] = (uchar)(w >> 16);
    p[3] = (uchar)(w >> 24);
}

GH_FN void gh_store_be64(__global uchar *p, ulong w) {
    gh_store_be32(p, (uint)(w >> 32));
    gh_store_be32(p + 4, (uint)w);
}

GH_FN void gh_store_le64(__global uchar *p, ulong w) {
    gh_store_le32(p, (uint)w);
    gh_store_le32(p + 4, (uint)(w >> 32));
}
