/*
 * SHA-512 (FIPS 180-4, section 6.4) for one message per work-item.
 *
 *   sha512_compress(state, w)        one compression of a 16-word big-endian block
 *   sha512_blocks(state, data, full) the first `full` whole blocks of data
 *   sha512_final(state, data, len, sfx, out)
 *                                    the rest of data[0..len) || suffix, padding, output
 *   sha512_message(data, len, sfx, out)
 *                                    SHA-512(data[0..len) || suffix), 64 bytes to out
 *
 * Requires common.cl.
 */

#ifdef GH_WITH_SHA512 /* merkle-sha512 */
__constant ulong SHA512_K[80] = {
    0x428a2f98d728ae22ul, 0x7137449123ef65cdul, 0xb5c0fbcfec4d3b2ful, 0xe9b5dba58189dbbcul,
    0x3956c25bf348b538ul, 0x59f111f1b605d019ul, 0x923f82a4af194f9bul, 0xab1c5ed5da6d8118ul,
    0xd807aa98a3030242ul, 0x12835b0145706fbeul, 0x243185be4ee4b28cul, 0x550c7dc3d5ffb4e2ul,
    0x72be5d74f27b896ful, 0x80deb1fe3b1696b1ul, 0x9bdc06a725c71235ul, 0xc19bf174cf692694ul,
    0xe49b69c19ef14ad2ul, 0xefbe4786384f25e3ul, 0x0fc19dc68b8cd5b5ul, 0x240ca1cc77ac9c65ul,
    0x2de92c6f592b0275ul, 0x4a7484aa6ea6e483ul, 0x5cb0a9dcbd41fbd4ul, 0x76f988da831153b5ul,
    0x983e5152ee66dfabul, 0xa831c66d2db43210ul, 0xb00327c898fb213ful, 0xbf597fc7beef0ee4ul,
    0xc6e00bf33da88fc2ul, 0xd5a79147930aa725ul, 0x06ca6351e003826ful, 0x142929670a0e6e70ul,
    0x27b70a8546d22ffcul, 0x2e1b21385c26c926ul, 0x4d2c6dfc5ac42aedul, 0x53380d139d95b3dful,
    0x650a73548baf63deul, 0x766a0abb3c77b2a8ul, 0x81c2c92e47edaee6ul, 0x92722c851482353bul,
    0xa2bfe8a14cf10364ul, 0xa81a664bbc423001ul, 0xc24b8b70d0f89791ul, 0xc76c51a30654be30ul,
    0xd192e819d6ef5218ul, 0xd69906245565a910ul, 0xf40e35855771202aul, 0x106aa07032bbd1b8ul,
    0x19a4c116b8d2d0c8ul, 0x1e376c085141ab53ul, 0x2748774cdf8eeb99ul, 0x34b0bcb5e19b48a8ul,
    0x391c0cb3c5c95a63ul, 0x4ed8aa4ae3418acbul, 0x5b9cca4f7763e373ul, 0x682e6ff3d6b2b8a3ul,
    0x748f82ee5defb2fcul, 0x78a5636f43172f60ul, 0x84c87814a1f0ab72ul, 0x8cc702081a6439ecul,
    0x90befffa23631e28ul, 0xa4506cebde82bde9ul, 0xbef9a3f7b2c67915ul, 0xc67178f2e372532bul,
    0xca273eceea26619cul, 0xd186b8c721c0c207ul, 0xeada7dd6cde0eb1eul, 0xf57d4f7fee6ed178ul,
    0x06f067aa72176fbaul, 0x0a637dc5a2c898a6ul, 0x113f9804bef90daeul, 0x1b710b35131c471bul,
    0x28db77f523047d84ul, 0x32caab7b40c72493ul, 0x3c9ebe0a15c9bebcul, 0x431d67c49c100d4cul,
    0x4cc5d4becb3e42b6ul, 0x597f299cfc657e2aul, 0x5fcb6fab3ad6faecul, 0x6c44198c4a475817ul};

GH_FN void sha512_init(ulong st[8]) {
    st[0] = 0x6a09e667f3bcc908ul;
    st[1] = 0xbb67ae8584caa73bul;
    st[2] = 0x3c6ef372fe94f82bul;
    st[3] = 0xa54ff53a5f1d36f1ul;
    st[4] = 0x510e527fade682d1ul;
    st[5] = 0x9b05688c2b3e6c1ful;
    st[6] = 0x1f83d9abfb41bd6bul;
    st[7] = 0x5be0cd19137e2179ul;
}

#define SHA512_BSIG0(x) (GH_ROTR64(x, 28u) ^ GH_ROTR64(x, 34u) ^ GH_ROTR64(x, 39u))
#define SHA512_BSIG1(x) (GH_ROTR64(x, 14u) ^ GH_ROTR64(x, 18u) ^ GH_ROTR64(x, 41u))
#define SHA512_SSIG0(x) (GH_ROTR64(x, 1u) ^ GH_ROTR64(x, 8u) ^ ((x) >> 7))
#define SHA512_SSIG1(x) (GH_ROTR64(x, 19u) ^ GH_ROTR64(x, 61u) ^ ((x) >> 6))
#define SHA512_CH(e, f, g) ((g) ^ ((e) & ((f) ^ (g))))
#define SHA512_MAJ(a, b, c) (((a) & (b)) | ((c) & ((a) | (b))))

/* Round t with message word wt; the working variables rotate by renaming (as in sha256.cl). */
#define SHA512_ROUND(a, b, c, d, e, f, g, h, t, wt)                                         \
    do {                                                                                    \
        const ulong t1_ = (h) + SHA512_BSIG1(e) + SHA512_CH(e, f, g) + SHA512_K[t] + (wt); \
        (d) += t1_;                                                                         \
        (h) = t1_ + SHA512_BSIG0(a) + SHA512_MAJ(a, b, c);                                  \
    } while (0)

#define SHA512_8ROUNDS(t, W)                                  \
    do {                                                      \
        SHA512_ROUND(a, b, c, d, e, f, g, h, (t) + 0u, W(0)); \
        SHA512_ROUND(h, a, b, c, d, e, f, g, (t) + 1u, W(1)); \
        SHA512_ROUND(g, h, a, b, c, d, e, f, (t) + 2u, W(2)); \
        SHA512_ROUND(f, g, h, a, b, c, d, e, (t) + 3u, W(3)); \
        SHA512_ROUND(e, f, g, h, a, b, c, d, (t) + 4u, W(4)); \
        SHA512_ROUND(d, e, f, g, h, a, b, c, (t) + 5u, W(5)); \
        SHA512_ROUND(c, d, e, f, g, h, a, b, (t) + 6u, W(6)); \
        SHA512_ROUND(b, c, d, e, f, g, h, a, (t) + 7u, W(7)); \
    } while (0)

/* W_t for t >= 16 in place in the rolling 16-word window (k = t & 15, a constant). */
#define SHA512_SCHED(k)                                                            \
    (w[(k)] += SHA512_SSIG1(w[((k) + 14u) & 15u]) + w[((k) + 9u) & 15u] +         \
               SHA512_SSIG0(w[((k) + 1u) & 15u]))
#define SHA512_W_LO(i) w[(i)]
#define SHA512_W_HI(i) w[(i) + 8u]
#define SHA512_X_LO(i) SHA512_SCHED(i)
#define SHA512_X_HI(i) SHA512_SCHED((i) + 8u)

/* One compression; w holds the 128-byte block as 16 big-endian words and is clobbered (the
 * rolling schedule). Fully unrolled: every index into w is a constant. */
GH_FN void sha512_compress(ulong st[8], ulong w[16]) {
    ulong a = st[0], b = st[1], c = st[2], d = st[3];
    ulong e = st[4], f = st[5], g = st[6], h = st[7];
    SHA512_8ROUNDS(0u, SHA512_W_LO);
    SHA512_8ROUNDS(8u, SHA512_W_HI);
    SHA512_8ROUNDS(16u, SHA512_X_LO);
    SHA512_8ROUNDS(24u, SHA512_X_HI);
    SHA512_8ROUNDS(32u, SHA512_X_LO);
    SHA512_8ROUNDS(40u, SHA512_X_HI);
    SHA512_8ROUNDS(48u, SHA512_X_LO);
    SHA512_8ROUNDS(56u, SHA512_X_HI);
    SHA512_8ROUNDS(64u, SHA512_X_LO);
    SHA512_8ROUNDS(72u, SHA512_X_HI);
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
    st[5] += f;
    st[6] += g;
    st[7] += h;
}

/* Bytes q..q+7 of p[0..r) || sfx || 0x80 || zeros, big-endian (r < 128, tail = r + sfx.len);
 * q < 256. */
GH_FN ulong sha512_tail_word(__global const uchar *p, const uint r, const gh_suffix sfx,
                             const uint tail, const uint q) {
    ulong word = 0;
    for (uint k = 0; k < 8u; ++k) {
        const uint pos = q + k;
        uint byte;
        if (pos < r) {
            byte = (uint)p[pos];
        } else if (pos < tail) {
            byte = gh_suffix_at(sfx, pos - r);
        } else {
            byte = pos == tail ? 0x80u : 0u;
        }
        word = (word << 8) | (ulong)byte;
    }
    return word;
}

/* Compress the first `full` 128-byte blocks of data (message bytes only): 64-bit word loads
 * where data is 8-byte aligned (every leaf and node is), byte loads otherwise. */
GH_FN void sha512_blocks(ulong st[8], __global const uchar *data, const ulong full) {
    /* Two loops, as in sha256_blocks. */
    ulong w[16];
    if (GH_ALIGNED(data, 8u)) {
        __global const ulong *p = (__global const ulong *)data;
        for (ulong blk = 0; blk < full; ++blk, p += 16) {
            for (uint i = 0; i < 16u; ++i) {
                w[i] = GH_WORD_BE64(p[i]);
            }
            sha512_compress(st, w);
        }
    } else {
        for (ulong blk = 0; blk < full; ++blk) {
            __global const uchar *p = data + (blk << 7);
            for (uint i = 0; i < 16u; ++i) {
                w[i] = gh_load_be64(p + 8u * i);
            }
            sha512_compress(st, w);
        }
    }
}

/* Finish SHA-512(data[0..len) || sfx) -> out[0..64) once its len / 128 full blocks are
 * compressed: 0..127 message bytes, the suffix, 0x80, zeros, the 128-bit bit length. */
GH_FN void sha512_final(ulong st[8], __global const uchar *data, const ulong len,
                        const gh_suffix sfx, __global uchar *out) {
    ulong w[16];
    const ulong base = (len >> 7) << 7;
    const uint r = (uint)(len - base);
    const ulong total = len + (ulong)sfx.len;
    const uint tail = (uint)(total - base);                /* 0..143 */
    __global const uchar *p = data + base;
    /* One block, or two; one compression in a loop (compiled once, see sha256_final). */
    const uint nblocks = tail + 17u <= 128u ? 1u : 2u;
    for (uint b = 0; b < nblocks; ++b) {
        for (uint i = 0; i < 16u; ++i) {
            w[i] = sha512_tail_word(p, r, sfx, tail, 128u * b + 8u * i);
        }
        if (b + 1u == nblocks) {
            w[14] = total >> 61; /* high 64 bits of the 128-bit bit length */
            w[15] = total << 3;
        }
        sha512_compress(st, w);
    }

    for (uint i = 0; i < 8u; ++i) {
        gh_store_be64(out + 8u * i, st[i]);
    }
}

/* SHA-512(data[0..len) || sfx) -> out[0..64). Any len (64-bit), any alignment. */
GH_FN void sha512_message(__global const uchar *data, const ulong len, const gh_suffix sfx,
                          __global uchar *out) {
    ulong st[8];
    sha512_init(st);
    sha512_blocks(st, data, len >> 7);
    sha512_final(st, data, len, sfx, out);
}

#endif /* GH_WITH_SHA512 */
