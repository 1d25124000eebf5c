/*
 * One BLAKE3 kernel of gpuhash._blake3cv: included by _blake3cv.c once per kernel, with
 *
 *   KNAME   the kernel's suffix (avx512, avx2, portable),
 *   KLANES  the chunks (or parents) hashed at once, one 32-bit lane each: 16, 8, 4, or 1
 *           (1: plain C, for compilers without vector extensions),
 *   KATTR   the function attributes that choose the instruction set (may be empty).
 *
 * It defines chunks_KNAME and parents_KNAME (see struct kernel in _blake3cv.c). Every function
 * here is inlined into those two, so each kernel is the same C compiled for its own ISA.
 */

#define KN(x) KN_(x, KNAME)
#define KN_(x, s) KN__(x, s)
#define KN__(x, s) x##_##s

#if KLANES > 1
typedef uint32_t KN(lane) __attribute__((vector_size(KLANES * 4)));
#define KFN static inline __attribute__((always_inline)) KATTR
#else
typedef uint32_t KN(lane);
#define KFN static INLINE_SCALAR
#endif
#define lane KN(lane)

/* Rotations by 16 and 8 bits move whole bytes: one byte shuffle (vpshufb) where the kernel has
 * AVX2, instead of two shifts and an OR; AVX-512F has a rotate instruction for all four. */
#if HAVE_TRANSPOSE && KLANES == 8 && defined(KBYTE_ROTATIONS)
typedef uint8_t KN(bytes) __attribute__((vector_size(32)));
#define ROTR16(x)                                                                            \
    ((lane)__builtin_shufflevector((KN(bytes))(x), (KN(bytes))(x), 2, 3, 0, 1, 6, 7, 4, 5, 10, \
                                   11, 8, 9, 14, 15, 12, 13, 18, 19, 16, 17, 22, 23, 20, 21,  \
                                   26, 27, 24, 25, 30, 31, 28, 29))
#define ROTR8(x)                                                                             \
    ((lane)__builtin_shufflevector((KN(bytes))(x), (KN(bytes))(x), 1, 2, 3, 0, 5, 6, 7, 4, 9,  \
                                   10, 11, 8, 13, 14, 15, 12, 17, 18, 19, 16, 21, 22, 23, 20, \
                                   25, 26, 27, 24, 29, 30, 31, 28))
#else
#define ROTR16(x) ROTR(x, 16)
#define ROTR8(x) ROTR(x, 8)
#endif

KFN lane KN(splat)(uint32_t x)
{
    uint32_t w[KLANES];
    for (int l = 0; l < KLANES; l++) w[l] = x;
    lane v;
    memcpy(&v, w, sizeof v);
    return v;
}

KFN lane KN(lanes_from)(const uint32_t *w)
{
    lane v;
    memcpy(&v, w, sizeof v);
    return v;
}

/* The compression function on KLANES inputs at once; cv becomes the first eight output words
 * (all a chaining value or a 32-byte root output needs). */
KFN void KN(compress)(lane cv[8], const lane m[16], lane t0, lane t1, lane blen, lane flags)
{
    lane v0 = cv[0], v1 = cv[1], v2 = cv[2], v3 = cv[3];
    lane v4 = cv[4], v5 = cv[5], v6 = cv[6], v7 = cv[7];
    lane v8 = KN(splat)(IV[0]), v9 = KN(splat)(IV[1]);
    lane v10 = KN(splat)(IV[2]), v11 = KN(splat)(IV[3]);
    lane v12 = t0, v13 = t1, v14 = blen, v15 = flags;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 7
#elif defined(__clang__)
#pragma clang loop unroll(full)
#endif
    for (int r = 0; r < 7; r++) {
        const uint8_t *s = SCHEDULE[r];
        G(v0, v4, v8, v12, m[s[0]], m[s[1]]);
        G(v1, v5, v9, v13, m[s[2]], m[s[3]]);
        G(v2, v6, v10, v14, m[s[4]], m[s[5]]);
        G(v3, v7, v11, v15, m[s[6]], m[s[7]]);
        G(v0, v5, v10, v15, m[s[8]], m[s[9]]);
        G(v1, v6, v11, v12, m[s[10]], m[s[11]]);
        G(v2, v7, v8, v13, m[s[12]], m[s[13]]);
        G(v3, v4, v9, v14, m[s[14]], m[s[15]]);
    }
    cv[0] = v0 ^ v8;
    cv[1] = v1 ^ v9;
    cv[2] = v2 ^ v10;
    cv[3] = v3 ^ v11;
    cv[4] = v4 ^ v12;
    cv[5] = v5 ^ v13;
    cv[6] = v6 ^ v14;
    cv[7] = v7 ^ v15;
}

/* m[w], lane l = little-endian word w of the 64 bytes at p[l] + off. */
KFN void KN(load_blocks)(lane m[16], const uint8_t *const *p, size_t off)
{
#if HAVE_TRANSPOSE && KLANES > 1
    /* Lane l's block is 16 / KLANES vectors of its words; each group g of KLANES x KLANES
     * words is transposed in registers: rows i and i + d exchange blocks of d words, for
     * d = KLANES / 2 ... 1. */
    for (int g = 0; g < 16 / KLANES; g++) {
        lane *r = m + g * KLANES;
        for (int l = 0; l < KLANES; l++) memcpy(&r[l], p[l] + off + 4 * KLANES * g, 4 * KLANES);
#if KLANES == 16
        TRANSPOSE_STEP(8, LO16_8, HI16_8);
        TRANSPOSE_STEP(4, LO16_4, HI16_4);
        TRANSPOSE_STEP(2, LO16_2, HI16_2);
        TRANSPOSE_STEP(1, LO16_1, HI16_1);
#elif KLANES == 8
        TRANSPOSE_STEP(4, LO8_4, HI8_4);
        TRANSPOSE_STEP(2, LO8_2, HI8_2);
        TRANSPOSE_STEP(1, LO8_1, HI8_1);
#elif KLANES == 4
        TRANSPOSE_STEP(2, LO4_2, HI4_2);
        TRANSPOSE_STEP(1, LO4_1, HI4_1);
#else
#error "KLANES must be 1, 4, 8 or 16"
#endif
    }
#else
    uint32_t w[16][KLANES];
    for (int l = 0; l < KLANES; l++)
        for (int i = 0; i < 16; i++) w[i][l] = load_le32(p[l] + off + 4 * i);
    for (int i = 0; i < 16; i++) m[i] = KN(lanes_from)(w[i]);
#endif
}

KFN void KN(store_cvs)(const lane cv[8], uint8_t *const *out, int count)
{
    uint32_t w[8][KLANES];
    for (int i = 0; i < 8; i++) memcpy(w[i], &cv[i], sizeof cv[i]);
    for (int l = 0; l < count; l++)
        for (int i = 0; i < 8; i++) store_le32(out[l] + 4 * i, w[i][l]);
}

/* Chaining values (root outputs where .root) of count (1..KLANES) chunks, to out (32 bytes
 * each). */
KFN void KN(chunk_group)(const struct chunk *c, int count, uint8_t *out)
{
    uint32_t t0w[KLANES], t1w[KLANES], endw[KLANES];
    const uint8_t *p[KLANES];
    int full = count == KLANES;
    uint32_t most = 1;
    for (int l = 0; l < KLANES; l++) {
        const struct chunk *x = &c[l < count ? l : 0];
        t0w[l] = (uint32_t)x->counter;
        t1w[l] = (uint32_t)(x->counter >> 32);
        endw[l] = CHUNK_END | (x->root ? ROOT : 0u);
        p[l] = x->p;
        if (x->len != CHUNK_LEN) full = 0;
        if (chunk_blocks(x->len) > most) most = chunk_blocks(x->len);
    }
    lane cv[8], m[16];
    for (int i = 0; i < 8; i++) cv[i] = KN(splat)(IV[i]);
    lane t0 = KN(lanes_from)(t0w), t1 = KN(lanes_from)(t1w), end = KN(lanes_from)(endw);
    if (full) {
        /* Every lane a whole chunk: 16 full blocks, no masks. */
        const lane blen = KN(splat)(BLOCK_LEN), start = KN(splat)(CHUNK_START);
        const lane none = KN(splat)(0);
        for (uint32_t b = 0; b < CHUNK_LEN / BLOCK_LEN; b++) {
            KN(load_blocks)(m, p, (size_t)b * BLOCK_LEN);
            KN(compress)(cv, m, t0, t1, blen,
                         b == 0 ? start : (b == CHUNK_LEN / BLOCK_LEN - 1 ? end : none));
        }
    } else {
        /* Chunks of 0..1024 bytes: a lane past its last block keeps its value. */
        for (uint32_t b = 0; b < most; b++) {
            uint8_t pad[KLANES][BLOCK_LEN];
            const uint8_t *q[KLANES];
            uint32_t blenw[KLANES], flagw[KLANES], keepw[KLANES];
            for (int l = 0; l < KLANES; l++) {
                const struct chunk *x = &c[l < count ? l : 0];
                uint32_t blocks = chunk_blocks(x->len), at = b * BLOCK_LEN;
                uint32_t n = x->len > at ? x->len - at : 0;
                if (n > BLOCK_LEN) n = BLOCK_LEN;
                keepw[l] = b < blocks ? 0u : ~0u;
                blenw[l] = n;
                flagw[l] = (b == 0 ? CHUNK_START : 0u) | (b + 1 == blocks ? endw[l] : 0u);
                if (n == BLOCK_LEN) {
                    q[l] = x->p + at;
                } else {
                    memset(pad[l], 0, BLOCK_LEN);
                    if (n) memcpy(pad[l], x->p + at, n);
                    q[l] = pad[l];
                }
            }
            lane old[8];
            for (int i = 0; i < 8; i++) old[i] = cv[i];
            KN(load_blocks)(m, q, 0);
            KN(compress)(cv, m, t0, t1, KN(lanes_from)(blenw), KN(lanes_from)(flagw));
            lane keep = KN(lanes_from)(keepw);
            for (int i = 0; i < 8; i++) cv[i] = (cv[i] & ~keep) | (old[i] & keep);
        }
    }
    uint8_t *o[KLANES];
    for (int l = 0; l < count; l++) o[l] = out + CV_LEN * l;
    KN(store_cvs)(cv, o, count);
}

KATTR static void KN(chunks)(const struct chunk *c, int count, uint8_t *out)
{
    for (int i = 0; i < count; i += KLANES)
        KN(chunk_group)(c + i, count - i < KLANES ? count - i : KLANES, out + CV_LEN * i);
}

/* Parent values of count (1..MAX_LANES) pairs: in[l] is 64 bytes (left CV, right CV); the value
 * goes to out[l]; flags[l] is PARENT or PARENT | ROOT. */
KATTR static void KN(parents)(const uint8_t *const *in, const uint32_t *flags, int count,
                              uint8_t *const *out)
{
    for (int i = 0; i < count; i += KLANES) {
        int k = count - i < KLANES ? count - i : KLANES;
        const uint8_t *p[KLANES];
        uint32_t f[KLANES];
        for (int l = 0; l < KLANES; l++) {
            p[l] = in[i + (l < k ? l : 0)];
            f[l] = flags[i + (l < k ? l : 0)];
        }
        lane cv[8], m[16];
        for (int w = 0; w < 8; w++) cv[w] = KN(splat)(IV[w]);
        KN(load_blocks)(m, p, 0);
        KN(compress)(cv, m, KN(splat)(0), KN(splat)(0), KN(splat)(BLOCK_LEN), KN(lanes_from)(f));
        KN(store_cvs)(cv, out + i, k);
    }
}

#undef lane
#undef ROTR16
#undef ROTR8
#undef KFN
#undef KN
#undef KN_
#undef KN__
