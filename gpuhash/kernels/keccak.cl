/*
 * Keccak-f[1600] and the FIPS 202 sponge for SHA3-256 and SHAKE256, one message per work-item.
 *
 *   keccak_f1600(a)                      the permutation on 25 little-endian lanes
 *   keccak_absorb(a, data, len, sfx, dom)
 *                                        absorb data[0..len) || suffix with rate 136 bytes and
 *                                        FIPS 202 padding: domain bits dom (0x06 SHA3, 0x1F
 *                                        SHAKE) at the first free byte, 0x80 on the last byte
 *   sha3_256_message(data, len, sfx, out)          32 bytes
 *   shake256_message(data, len, sfx, out, outlen)  outlen bytes (the lattice uses 2048)
 *
 * SHA3-256 and SHAKE256 both have capacity 512 bits, hence the same rate of 136 bytes
 * (17 lanes). Requires common.cl.
 */

#ifdef GH_WITH_KECCAK /* merkle-sha3-256, lthash16-shake256 */
#define KECCAK_RATE 136u
#define KECCAK_RATE_LANES 17u
#define KECCAK_DOM_SHA3 0x06u
#define KECCAK_DOM_SHAKE 0x1Fu

__constant ulong KECCAK_RC[24] = {
    0x0000000000000001ul, 0x0000000000008082ul, 0x800000000000808aul, 0x8000000080008000ul,
    0x000000000000808bul, 0x0000000080000001ul, 0x8000000080008081ul, 0x8000000000008009ul,
    0x000000000000008aul, 0x0000000000000088ul, 0x0000000080008009ul, 0x000000008000000aul,
    0x000000008000808bul, 0x800000000000008bul, 0x8000000000008089ul, 0x8000000000008003ul,
    0x8000000000008002ul, 0x8000000000000080ul, 0x000000000000800aul, 0x800000008000000aul,
    0x8000000080008081ul, 0x8000000000008080ul, 0x0000000080000001ul, 0x8000000080008008ul};

/* The permutation, unrolled within a round over 25 named lanes (no private array indexed at
 * run time). Rotation offsets r[x + 5y] = 0 1 62 28 27 / 36 44 6 55 20 / 3 10 43 25 39 /
 * 41 45 15 21 8 / 18 2 61 56 14; pi sends lane (x, y) to (y, 2x + 3y mod 5). */
GH_FN void keccak_f1600(ulong a[25]) {
    ulong a00 = a[0];
    ulong a01 = a[1];
    ulong a02 = a[2];
    ulong a03 = a[3];
    ulong a04 = a[4];
    ulong a05 = a[5];
    ulong a06 = a[6];
    ulong a07 = a[7];
    ulong a08 = a[8];
    ulong a09 = a[9];
    ulong a10 = a[10];
    ulong a11 = a[11];
    ulong a12 = a[12];
    ulong a13 = a[13];
    ulong a14 = a[14];
    ulong a15 = a[15];
    ulong a16 = a[16];
    ulong a17 = a[17];
    ulong a18 = a[18];
    ulong a19 = a[19];
    ulong a20 = a[20];
    ulong a21 = a[21];
    ulong a22 = a[22];
    ulong a23 = a[23];
    ulong a24 = a[24];
    for (uint round = 0; round < 24u; ++round) {
        /* theta */
        const ulong c0 = a00 ^ a05 ^ a10 ^ a15 ^ a20;
        const ulong c1 = a01 ^ a06 ^ a11 ^ a16 ^ a21;
        const ulong c2 = a02 ^ a07 ^ a12 ^ a17 ^ a22;
        const ulong c3 = a03 ^ a08 ^ a13 ^ a18 ^ a23;
        const ulong c4 = a04 ^ a09 ^ a14 ^ a19 ^ a24;
        const ulong d0 = c4 ^ GH_ROTL64(c1, 1u);
        const ulong d1 = c0 ^ GH_ROTL64(c2, 1u);
        const ulong d2 = c1 ^ GH_ROTL64(c3, 1u);
        const ulong d3 = c2 ^ GH_ROTL64(c4, 1u);
        const ulong d4 = c3 ^ GH_ROTL64(c0, 1u);
        /* rho and pi: b[y + 5 * ((2x + 3y) % 5)] = rotl(a[x + 5y] ^ d[x], R[x + 5y]) */
        const ulong b00 = a00 ^ d0;
        const ulong b01 = GH_ROTL64(a06 ^ d1, 44u);
        const ulong b02 = GH_ROTL64(a12 ^ d2, 43u);
        const ulong b03 = GH_ROTL64(a18 ^ d3, 21u);
        const ulong b04 = GH_ROTL64(a24 ^ d4, 14u);
        const ulong b05 = GH_ROTL64(a03 ^ d3, 28u);
        const ulong b06 = GH_ROTL64(a09 ^ d4, 20u);
        const ulong b07 = GH_ROTL64(a10 ^ d0, 3u);
        const ulong b08 = GH_ROTL64(a16 ^ d1, 45u);
        const ulong b09 = GH_ROTL64(a22 ^ d2, 61u);
        const ulong b10 = GH_ROTL64(a01 ^ d1, 1u);
        const ulong b11 = GH_ROTL64(a07 ^ d2, 6u);
        const ulong b12 = GH_ROTL64(a13 ^ d3, 25u);
        const ulong b13 = GH_ROTL64(a19 ^ d4, 8u);
        const ulong b14 = GH_ROTL64(a20 ^ d0, 18u);
        const ulong b15 = GH_ROTL64(a04 ^ d4, 27u);
        const ulong b16 = GH_ROTL64(a05 ^ d0, 36u);
        const ulong b17 = GH_ROTL64(a11 ^ d1, 10u);
        const ulong b18 = GH_ROTL64(a17 ^ d2, 15u);
        const ulong b19 = GH_ROTL64(a23 ^ d3, 56u);
        const ulong b20 = GH_ROTL64(a02 ^ d2, 62u);
        const ulong b21 = GH_ROTL64(a08 ^ d3, 55u);
        const ulong b22 = GH_ROTL64(a14 ^ d4, 39u);
        const ulong b23 = GH_ROTL64(a15 ^ d0, 41u);
        const ulong b24 = GH_ROTL64(a21 ^ d1, 2u);
        /* chi and iota */
        a00 = b00 ^ (~b01 & b02);
        a01 = b01 ^ (~b02 & b03);
        a02 = b02 ^ (~b03 & b04);
        a03 = b03 ^ (~b04 & b00);
        a04 = b04 ^ (~b00 & b01);
        a05 = b05 ^ (~b06 & b07);
        a06 = b06 ^ (~b07 & b08);
        a07 = b07 ^ (~b08 & b09);
        a08 = b08 ^ (~b09 & b05);
        a09 = b09 ^ (~b05 & b06);
        a10 = b10 ^ (~b11 & b12);
        a11 = b11 ^ (~b12 & b13);
        a12 = b12 ^ (~b13 & b14);
        a13 = b13 ^ (~b14 & b10);
        a14 = b14 ^ (~b10 & b11);
        a15 = b15 ^ (~b16 & b17);
        a16 = b16 ^ (~b17 & b18);
        a17 = b17 ^ (~b18 & b19);
        a18 = b18 ^ (~b19 & b15);
        a19 = b19 ^ (~b15 & b16);
        a20 = b20 ^ (~b21 & b22);
        a21 = b21 ^ (~b22 & b23);
        a22 = b22 ^ (~b23 & b24);
        a23 = b23 ^ (~b24 & b20);
        a24 = b24 ^ (~b20 & b21);
        a00 ^= KECCAK_RC[round];
    }
    a[0] = a00;
    a[1] = a01;
    a[2] = a02;
    a[3] = a03;
    a[4] = a04;
    a[5] = a05;
    a[6] = a06;
    a[7] = a07;
    a[8] = a08;
    a[9] = a09;
    a[10] = a10;
    a[11] = a11;
    a[12] = a12;
    a[13] = a13;
    a[14] = a14;
    a[15] = a15;
    a[16] = a16;
    a[17] = a17;
    a[18] = a18;
    a[19] = a19;
    a[20] = a20;
    a[21] = a21;
    a[22] = a22;
    a[23] = a23;
    a[24] = a24;
}

/* Absorb the first `full` whole rate blocks of data (message bytes only) into a: 64-bit lane
 * loads where data is 8-byte aligned (every leaf and node is; the rate is a multiple of 8),
 * byte loads otherwise. (The staged GPU leaf kernels of leaves.cl feed these blocks from
 * local memory instead.) */
GH_FN void keccak_blocks(ulong a[25], __global const uchar *data, const ulong full) {
    /* Two loops, as in sha256_blocks. */
    if (GH_ALIGNED(data, 8u)) {
        __global const ulong *p = (__global const ulong *)data;
        for (ulong blk = 0; blk < full; ++blk, p += KECCAK_RATE_LANES) {
            GH_UNROLL
            for (uint i = 0; i < KECCAK_RATE_LANES; ++i) {
                a[i] ^= GH_WORD_LE64(p[i]);
            }
            keccak_f1600(a);
        }
    } else {
        for (ulong blk = 0; blk < full; ++blk) {
            __global const uchar *p = data + blk * KECCAK_RATE;
            GH_UNROLL
            for (uint i = 0; i < KECCAK_RATE_LANES; ++i) {
                a[i] ^= gh_load_le64(p + 8u * i);
            }
            keccak_f1600(a);
        }
    }
}

/* Absorb the rest of data[0..len) || sfx once its len / 136 whole blocks are absorbed: 0..135
 * message bytes, the suffix, then the padding. The domain byte needs one free byte, so a tail
 * of 136..151 bytes takes a second block. */
GH_FN void keccak_final(ulong a[25], __global const uchar *data, const ulong len,
                        const gh_suffix sfx, const uint dom) {
    const ulong base = (len / KECCAK_RATE) * KECCAK_RATE;
    const ulong total = len + (ulong)sfx.len;
    const uint tail = (uint)(total - base);          /* 0..151 */
    const uint nblocks = tail / KECCAK_RATE + 1u;    /* 1 or 2 */
    const uint last = nblocks * KECCAK_RATE - 1u;    /* position of the final 0x80 */
    for (uint b = 0; b < nblocks; ++b) {
        GH_UNROLL /* a[i]: see GH_UNROLL (left rolled, this loop put the state in local memory) */
        for (uint i = 0; i < KECCAK_RATE_LANES; ++i) {
            ulong lane = 0;
            for (uint k = 0; k < 8u; ++k) {
                const uint q = b * KECCAK_RATE + 8u * i + k;
                uint byte;
                if (q < tail) {
                    byte = gh_msg_byte(data, len, sfx, base + q);
                } else if (q == tail) {
                    byte = dom;
                } else {
                    byte = 0u;
                }
                if (q == last) {
                    byte ^= 0x80u;
                }
                lane |= (ulong)byte << (8u * k);
            }
            a[i] ^= lane;
        }
        keccak_f1600(a);
    }
}

GH_FN void keccak_zero(ulong a[25]) {
    GH_UNROLL
    for (uint i = 0; i < 25u; ++i) {
        a[i] = 0;
    }
}

/* Absorb data[0..len) || sfx into a zeroed state and apply the final padding and permutation. */
GH_FN void keccak_absorb(ulong a[25], __global const uchar *data, const ulong len,
                         const gh_suffix sfx, const uint dom) {
    keccak_zero(a);
    keccak_blocks(a, data, len / KECCAK_RATE);
    keccak_final(a, data, len, sfx, dom);
}

/* The SHA3-256 output of a finished state. */
GH_FN void sha3_256_out(const ulong a[25], __global uchar *out) {
    for (uint i = 0; i < 4u; ++i) {
        gh_store_le64(out + 8u * i, a[i]);
    }
}

/* Squeeze outlen bytes from a finished SHAKE state (permuting between rate blocks). The lane
 * loop has a constant trip count and the tail is masked inside it, so every index into a is a
 * constant once unrolled and the state stays in registers (with a data-dependent exit, NVRTC
 * kept all 25 lanes in local memory: a 200-byte stack frame). Whole lanes are stored as one
 * native word where out is 8-byte aligned (the lattice's 2048-byte outputs always are). */
GH_FN void shake_squeeze(ulong a[25], __global uchar *out, const ulong outlen) {
    const int aligned = GH_ALIGNED(out, 8u);
    for (ulong done = 0; done < outlen; done += KECCAK_RATE) {
        if (done != 0) {
            keccak_f1600(a);
        }
        const ulong left = outlen - done;
        __global uchar *p = out + done;
        GH_UNROLL
        for (uint i = 0; i < KECCAK_RATE_LANES; ++i) {
            const ulong at = 8ul * i;
            if (at + 8ul <= left) {
                if (aligned) {
                    *(__global ulong *)(p + at) = GH_WORD_LE64(a[i]);
                } else {
                    gh_store_le64(p + at, a[i]);
                }
            } else if (at < left) {
                for (uint k = 0; k < 8u; ++k) {
                    if (at + k < left) {
                        p[at + k] = (uchar)(a[i] >> (8u * k));
                    }
                }
            }
        }
    }
}

/* SHA3-256(data[0..len) || sfx) -> out[0..32). */
GH_FN void sha3_256_message(__global const uchar *data, const ulong len, const gh_suffix sfx,
                            __global uchar *out) {
    ulong a[25];
    keccak_absorb(a, data, len, sfx, KECCAK_DOM_SHA3);
    sha3_256_out(a, out);
}

/* SHAKE256(data[0..len) || sfx), outlen bytes -> out. */
GH_FN void shake256_message(__global const uchar *data, const ulong len, const gh_suffix sfx,
                            __global uchar *out, const ulong outlen) {
    ulong a[25];
    keccak_absorb(a, data, len, sfx, KECCAK_DOM_SHAKE);
    shake_squeeze(a, out, outlen);
}

#endif /* GH_WITH_KECCAK */
