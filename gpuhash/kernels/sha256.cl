/*
 * SHA-256 (FIPS 180-4, section 6.2) for one message per work-item.
 *
 *   sha256_compress(state, w)        one compression of a 16-word big-endian block
 *   sha256_blocks(state, data, full) the first `full` whole blocks of data
 *   sha256_final(state, data, len, sfx, out)
 *                                    the rest of data[0..len) || suffix, padding, output
 *   sha256_message(data, len, sfx, out)
 *                                    SHA-256(data[0..len) || suffix), 32 bytes to out
 *
 * Requires common.cl.
 */

#ifdef GH_WITH_SHA256 /* merkle-sha256 */
__constant uint SHA256_K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
    0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu,
    0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu,
    0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
    0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
    0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,
    0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u,
    0xc67178f2u};

GH_FN void sha256_init(uint st[8]) {
    st[0] = 0x6a09e667u;
    st[1] = 0xbb67ae85u;
    st[2] = 0x3c6ef372u;
    st[3] = 0xa54ff53au;
    st[4] = 0x510e527fu;
    st[5] = 0x9b05688cu;
    st[6] = 0x1f83d9abu;
    st[7] = 0x5be0cd19u;
}

/* The round functions (plain expressions: compilers fuse them, e.g. into AVX-512 vpternlog). */
#define SHA256_BSIG0(x) (GH_ROTR32(x, 2u) ^ GH_ROTR32(x, 13u) ^ GH_ROTR32(x, 22u))
#define SHA256_BSIG1(x) (GH_ROTR32(x, 6u) ^ GH_ROTR32(x, 11u) ^ GH_ROTR32(x, 25u))
#define SHA256_SSIG0(x) (GH_ROTR32(x, 7u) ^ GH_ROTR32(x, 18u) ^ ((x) >> 3))
#define SHA256_SSIG1(x) (GH_ROTR32(x, 17u) ^ GH_ROTR32(x, 19u) ^ ((x) >> 10))
#define SHA256_CH(e, f, g) ((g) ^ ((e) & ((f) ^ (g))))
#define SHA256_MAJ(a, b, c) (((a) & (b)) | ((c) & ((a) | (b))))

/* Round t with message word wt; the eight working variables rotate by renaming: round t + 1
 * is called with (h, a, b, c, d, e, f, g). */
#define SHA256_ROUND(a, b, c, d, e, f, g, h, t, wt)                                        \
    do {                                                                                   \
        const uint t1_ = (h) + SHA256_BSIG1(e) + SHA256_CH(e, f, g) + SHA256_K[t] + (wt); \
        (d) += t1_;                                                                        \
        (h) = t1_ + SHA256_BSIG0(a) + SHA256_MAJ(a, b, c);                                 \
    } while (0)

/* Eight rounds from t (a multiple of 8), with w[] the rolling 16-word schedule window. */
#define SHA256_8ROUNDS(t, W)                                 \
    do {                                                     \
        SHA256_ROUND(a, b, c, d, e, f, g, h, (t) + 0u, W(0)); \
        SHA256_ROUND(h, a, b, c, d, e, f, g, (t) + 1u, W(1)); \
        SHA256_ROUND(g, h, a, b, c, d, e, f, (t) + 2u, W(2)); \
        SHA256_ROUND(f, g, h, a, b, c, d, e, (t) + 3u, W(3)); \
        SHA256_ROUND(e, f, g, h, a, b, c, d, (t) + 4u, W(4)); \
        SHA256_ROUND(d, e, f, g, h, a, b, c, (t) + 5u, W(5)); \
        SHA256_ROUND(c, d, e, f, g, h, a, b, (t) + 6u, W(6)); \
        SHA256_ROUND(b, c, d, e, f, g, h, a, (t) + 7u, W(7)); \
    } while (0)

/* W_t for t >= 16 in place: w[t & 15] becomes W_t (k = t & 15, a compile-time constant). */
#define SHA256_SCHED(k)                                                               \
    (w[(k)] += SHA256_SSIG1(w[((k) + 14u) & 15u]) + w[((k) + 9u) & 15u] +            \
               SHA256_SSIG0(w[((k) + 1u) & 15u]))
#define SHA256_W_LO(i) w[(i)]
#define SHA256_W_HI(i) w[(i) + 8u]
#define SHA256_X_LO(i) SHA256_SCHED(i)
#define SHA256_X_HI(i) SHA256_SCHED((i) + 8u)

/* One compression: st <- st + F(st, w). w holds the block as 16 big-endian words; it is used
 * as the rolling message schedule and is clobbered. Fully unrolled, so every index into w is a
 * constant and w and the working variables live in registers (no array indexed at run time). */
GH_FN void sha256_compress(uint st[8], uint w[16]) {
    uint a = st[0], b = st[1], c = st[2], d = st[3];
    uint e = st[4], f = st[5], g = st[6], h = st[7];
    SHA256_8ROUNDS(0u, SHA256_W_LO);
    SHA256_8ROUNDS(8u, SHA256_W_HI);
    SHA256_8ROUNDS(16u, SHA256_X_LO);
    SHA256_8ROUNDS(24u, SHA256_X_HI);
    SHA256_8ROUNDS(32u, SHA256_X_LO);
    SHA256_8ROUNDS(40u, SHA256_X_HI);
    SHA256_8ROUNDS(48u, SHA256_X_LO);
    SHA256_8ROUNDS(56u, SHA256_X_HI);
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
    st[5] += f;
    st[6] += g;
    st[7] += h;
}

/* Word q / 4 (q a multiple of 4) of the padded tail: the bytes at q..q+3 of
 * p[0..r) || sfx || 0x80 || zeros, big-endian, where r < 64 message bytes remain and
 * tail = r + sfx.len (q < 128). */
GH_FN uint sha256_tail_word(__global const uchar *p, const uint r, const gh_suffix sfx,
                            const uint tail, const uint q) {
    uint word = 0;
    for (uint k = 0; k < 4u; ++k) {
        const uint pos = q + k;
        uint byte;
        if (pos < r) {
            byte = (uint)p[pos];
        } else if (pos < tail) {
            byte = gh_suffix_at(sfx, pos - r);
        } else {
            byte = pos == tail ? 0x80u : 0u;
        }
        word = (word << 8) | byte;
    }
    return word;
}

/* Compress the first `full` 64-byte blocks of data (message bytes only): word loads where data
 * is 4-byte aligned (every leaf and node is), byte loads otherwise. (The staged GPU leaf
 * kernels of leaves.cl feed these blocks from local memory instead.) */
GH_FN void sha256_blocks(uint st[8], __global const uchar *data, const ulong full) {
    /* Two loops, not one loop with the alignment test inside: Intel's CPU compiler vectorises
     * the aligned loop's word loads far better this way (measured 4.0 against 2.4 GB/s). */
    uint w[16];
    if (GH_ALIGNED(data, 4u)) {
        __global const uint *p = (__global const uint *)data;
        for (ulong blk = 0; blk < full; ++blk, p += 16) {
            for (uint i = 0; i < 16u; ++i) {
                w[i] = GH_WORD_BE32(p[i]);
            }
            sha256_compress(st, w);
        }
    } else {
        for (ulong blk = 0; blk < full; ++blk) {
            __global const uchar *p = data + (blk << 6);
            for (uint i = 0; i < 16u; ++i) {
                w[i] = gh_load_be32(p + 4u * i);
            }
            sha256_compress(st, w);
        }
    }
}

/* Finish SHA-256(data[0..len) || sfx) -> out[0..32) once its len / 64 full blocks are
 * compressed into st: 0..63 message bytes, the suffix, 0x80, zeros, the 64-bit bit length. */
GH_FN void sha256_final(uint st[8], __global const uchar *data, const ulong len,
                        const gh_suffix sfx, __global uchar *out) {
    uint w[16];
    const ulong base = (len >> 6) << 6;
    const uint r = (uint)(len - base);                 /* 0..63 message bytes */
    const ulong total = len + (ulong)sfx.len;          /* message bytes incl. suffix */
    const uint tail = (uint)(total - base);            /* 0..79 */
    const ulong bits = total << 3;
    __global const uchar *p = data + base;
    /* One block, or two when the suffix, 0x80 and the length do not fit; a loop with one
     * compression in it, so the (unrolled, inlined) compression is compiled once here. */
    const uint nblocks = tail + 9u <= 64u ? 1u : 2u;
    for (uint b = 0; b < nblocks; ++b) {
        for (uint i = 0; i < 16u; ++i) {
            w[i] = sha256_tail_word(p, r, sfx, tail, 64u * b + 4u * i);
        }
        if (b + 1u == nblocks) {
            w[14] = (uint)(bits >> 32);
            w[15] = (uint)bits;
        }
        sha256_compress(st, w);
    }

    for (uint i = 0; i < 8u; ++i) {
        gh_store_be32(out + 4u * i, st[i]);
    }
}

/* SHA-256(data[0..len) || sfx) -> out[0..32). Any len (64-bit), any alignment. */
GH_FN void sha256_message(__global const uchar *data, const ulong len, const gh_suffix sfx,
                          __global uchar *out) {
    uint st[8];
    sha256_init(st);
    sha256_blocks(st, data, len >> 6);
    sha256_final(st, data, len, sfx, out);
}

#endif /* GH_WITH_SHA256 */
