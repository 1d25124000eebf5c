/*
 * gpuhash kernels: shared definitions (OpenCL C 1.2, no extensions).
 *
 * Every other .cl file of this package assumes this one comes first (gpuhash.kernels.source()
 * puts it there). Everything that differs between targets is a macro guarded by #ifndef, so a
 * per-target prelude (CUDA, HIP, Metal...) can define it before this file:
 *
 *   GH_FN          storage class of helper functions ("static inline" here; a CUDA prelude
 *                  would say "__device__ __forceinline__")
 *   GH_ROTR32/64   rotate right (OpenCL's rotate() rotates left); GH_ROTL64 rotate left
 *   GH_GID         the global work-item index as a 64-bit value
 *
 * Conventions: every byte offset and length is a 64-bit ulong; every message is read with
 * byte loads assembled into words with an explicit byte order, so no code depends on the
 * device's endianness or on the alignment of a buffer.
 *
 * Messages are described as (global pointer, 64-bit length) plus an optional short *suffix* of
 * 0..16 bytes held in two ulongs (byte k of the suffix is byte k%8 of lo (k < 8) or hi (k >= 8),
 * little-endian): the spec's role byte (0x00 leaf, 0x01 node) or the lattice's
 * LE64(i) || 0x10. The suffix is virtually appended to the message, so H(d || 0x00) never
 * copies d.
 */

#ifndef GH_FN
#define GH_FN static inline
#endif

#ifndef GH_ROTR32
#define GH_ROTR32(x, n) rotate((uint)(x), (uint)(32u - (n)))
#endif

#ifndef GH_ROTR64
#define GH_ROTR64(x, n) rotate((ulong)(x), (ulong)(64u - (n)))
#endif

#ifndef GH_ROTL64
#define GH_ROTL64(x, n) rotate((ulong)(x), (ulong)(n))
#endif

#ifndef GH_GID
#define GH_GID() ((ulong)get_global_id(0))
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
 * Word loads from global memory, one byte at a time. This is where a GPU build would differ:
 * leaves start at multiples of L >= 1024 and nodes at multiples of D, so aligned vector loads
 * (vload4 / uint4, or a work-group staging blocks in local memory with coalesced loads and each
 * work-item reading its block back) would replace these byte loads in the full-block loops.
 * Byte loads are correct for any offset, which is all this version promises.
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
