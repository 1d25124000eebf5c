/*
 * SHA-512 (FIPS 180-4, section 6.4) for one message per work-item.
 *
 *   sha512_compress(state, w)        one compression of a 16-word big-endian block
 *   sha512_message(data, len, sfx, out)
 *                                    SHA-512(data[0..len) || suffix), 64 bytes to out
 *
 * Requires common.cl.
 */

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

/* One compression; w holds the 128-byte block as 16 big-endian words and is clobbered. */
GH_FN void sha512_compress(ulong st[8], ulong w[16]) {
    ulong a = st[0], b = st[1], c = st[2], d = st[3];
    ulong e = st[4], f = st[5], g = st[6], h = st[7];
    for (uint t = 0; t < 80u; ++t) {
        ulong wt;
        if (t < 16u) {
            wt = w[t];
        } else {
            const ulong w15 = w[(t - 15u) & 15u];
            const ulong w2 = w[(t - 2u) & 15u];
            const ulong s0 = GH_ROTR64(w15, 1u) ^ GH_ROTR64(w15, 8u) ^ (w15 >> 7);
            const ulong s1 = GH_ROTR64(w2, 19u) ^ GH_ROTR64(w2, 61u) ^ (w2 >> 6);
            wt = w[t & 15u] + s0 + w[(t - 7u) & 15u] + s1;
            w[t & 15u] = wt;
        }
        const ulong S1 = GH_ROTR64(e, 14u) ^ GH_ROTR64(e, 18u) ^ GH_ROTR64(e, 41u);
        const ulong ch = (e & f) ^ (~e & g);
        const ulong t1 = h + S1 + ch + SHA512_K[t] + wt;
        const ulong S0 = GH_ROTR64(a, 28u) ^ GH_ROTR64(a, 34u) ^ GH_ROTR64(a, 39u);
        const ulong maj = (a & b) ^ (a & c) ^ (b & c);
        const ulong t2 = S0 + maj;
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
    st[5] += f;
    st[6] += g;
    st[7] += h;
}

/* SHA-512(data[0..len) || sfx) -> out[0..64). Any len (64-bit), any alignment. */
GH_FN void sha512_message(__global const uchar *data, const ulong len, const gh_suffix sfx,
                          __global uchar *out) {
    ulong st[8];
    ulong w[16];
    sha512_init(st);

    /* Blocks made of message bytes only. (GPU: coalesced/vector loads go here; see common.cl.) */
    const ulong full = len >> 7;
    for (ulong blk = 0; blk < full; ++blk) {
        __global const uchar *p = data + (blk << 7);
        for (uint i = 0; i < 16u; ++i) {
            w[i] = gh_load_be64(p + 8u * i);
        }
        sha512_compress(st, w);
    }

    /* The rest: 0..127 message bytes, the suffix, 0x80, zeros, the 128-bit bit length. */
    const ulong base = full << 7;
    const ulong total = len + (ulong)sfx.len;
    const uint tail = (uint)(total - base);                /* 0..143 */
    const uint nblocks = (tail + 1u + 16u + 127u) >> 7;    /* 1 or 2 */
    for (uint b = 0; b < nblocks; ++b) {
        for (uint i = 0; i < 16u; ++i) {
            ulong word = 0;
            for (uint k = 0; k < 8u; ++k) {
                const uint q = (b << 7) + 8u * i + k;
                ulong byte;
                if (q < tail) {
                    byte = (ulong)gh_msg_byte(data, len, sfx, base + q);
                } else if (q == tail) {
                    byte = 0x80ul;
                } else {
                    byte = 0ul;
                }
                word = (word << 8) | byte;
            }
            w[i] = word;
        }
        if (b == nblocks - 1u) {
            w[14] = total >> 61; /* high 64 bits of the 128-bit bit length */
            w[15] = total << 3;
        }
        sha512_compress(st, w);
    }

    for (uint i = 0; i < 8u; ++i) {
        gh_store_be64(out + 8u * i, st[i]);
    }
}
