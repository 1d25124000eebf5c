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

/* rho offsets and pi destinations along the (1,0) -> ... orbit of the combined rho-pi step. */
__constant uint KECCAK_ROTC[24] = {1,  3,  6,  10, 15, 21, 28, 36, 45, 55, 2,  14,
                                   27, 41, 56, 8,  25, 43, 62, 18, 39, 61, 20, 44};
__constant uint KECCAK_PILN[24] = {10, 7,  11, 17, 18, 3, 5,  16, 8,  21, 24, 4,
                                   15, 23, 19, 13, 12, 2, 20, 14, 22, 9,  6,  1};

GH_FN void keccak_f1600(ulong a[25]) {
    ulong c[5];
    for (uint round = 0; round < 24u; ++round) {
        /* theta */
        for (uint x = 0; x < 5u; ++x) {
            c[x] = a[x] ^ a[x + 5u] ^ a[x + 10u] ^ a[x + 15u] ^ a[x + 20u];
        }
        for (uint x = 0; x < 5u; ++x) {
            const ulong d = c[(x + 4u) % 5u] ^ GH_ROTL64(c[(x + 1u) % 5u], 1u);
            for (uint y = 0; y < 25u; y += 5u) {
                a[y + x] ^= d;
            }
        }
        /* rho and pi */
        ulong t = a[1];
        for (uint i = 0; i < 24u; ++i) {
            const uint j = KECCAK_PILN[i];
            const ulong next = a[j];
            a[j] = GH_ROTL64(t, KECCAK_ROTC[i]);
            t = next;
        }
        /* chi */
        for (uint y = 0; y < 25u; y += 5u) {
            for (uint x = 0; x < 5u; ++x) {
                c[x] = a[y + x];
            }
            for (uint x = 0; x < 5u; ++x) {
                a[y + x] = c[x] ^ (~c[(x + 1u) % 5u] & c[(x + 2u) % 5u]);
            }
        }
        /* iota */
        a[0] ^= KECCAK_RC[round];
    }
}

/* Absorb data[0..len) || sfx into a zeroed state and apply the final padding and permutation. */
GH_FN void keccak_absorb(ulong a[25], __global const uchar *data, const ulong len,
                         const gh_suffix sfx, const uint dom) {
    for (uint i = 0; i < 25u; ++i) {
        a[i] = 0;
    }

    /* Blocks made of message bytes only. (GPU: coalesced/vector loads go here; see common.cl.) */
    const ulong full = len / KECCAK_RATE;
    for (ulong blk = 0; blk < full; ++blk) {
        __global const uchar *p = data + blk * KECCAK_RATE;
        for (uint i = 0; i < KECCAK_RATE_LANES; ++i) {
            a[i] ^= gh_load_le64(p + 8u * i);
        }
        keccak_f1600(a);
    }

    /* The rest: 0..135 message bytes, the suffix, then the padding. The domain byte needs one
     * free byte, so a tail of 136..151 bytes takes a second block. */
    const ulong base = full * KECCAK_RATE;
    const ulong total = len + (ulong)sfx.len;
    const uint tail = (uint)(total - base);          /* 0..151 */
    const uint nblocks = tail / KECCAK_RATE + 1u;    /* 1 or 2 */
    const uint last = nblocks * KECCAK_RATE - 1u;    /* position of the final 0x80 */
    for (uint b = 0; b < nblocks; ++b) {
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

/* SHA3-256(data[0..len) || sfx) -> out[0..32). */
GH_FN void sha3_256_message(__global const uchar *data, const ulong len, const gh_suffix sfx,
                            __global uchar *out) {
    ulong a[25];
    keccak_absorb(a, data, len, sfx, KECCAK_DOM_SHA3);
    for (uint i = 0; i < 4u; ++i) {
        gh_store_le64(out + 8u * i, a[i]);
    }
}

/* SHAKE256(data[0..len) || sfx), outlen bytes -> out. */
GH_FN void shake256_message(__global const uchar *data, const ulong len, const gh_suffix sfx,
                            __global uchar *out, const ulong outlen) {
    ulong a[25];
    keccak_absorb(a, data, len, sfx, KECCAK_DOM_SHAKE);
    ulong done = 0;
    while (done < outlen) {
        if (done != 0) {
            keccak_f1600(a);
        }
        for (uint i = 0; i < KECCAK_RATE_LANES && done < outlen; ++i) {
            if (outlen - done >= 8u) {
                gh_store_le64(out + done, a[i]);
                done += 8u;
            } else {
                const ulong lane = a[i];
                for (uint k = 0; done < outlen; ++k) {
                    out[done] = (uchar)(lane >> (8u * k));
                    ++done;
                }
            }
        }
    }
}
