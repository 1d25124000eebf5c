/*
 * SHA-256 (FIPS 180-4, section 6.2) for one message per work-item.
 *
 *   sha256_compress(state, w)        one compression of a 16-word big-endian block
 *   sha256_message(data, len, sfx, out)
 *                                    SHA-256(data[0..len) || suffix), 32 bytes to out
 *
 * Requires common.cl.
 */

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

/* One compression: st <- st + F(st, w). w holds the block as 16 big-endian words; it is used
 * as the rolling message schedule and is clobbered. */
GH_FN void sha256_compress(uint st[8], uint w[16]) {
    uint a = st[0], b = st[1], c = st[2], d = st[3];
    uint e = st[4], f = st[5], g = st[6], h = st[7];
    for (uint t = 0; t < 64u; ++t) {
        uint wt;
        if (t < 16u) {
            wt = w[t];
        } else {
            const uint w15 = w[(t - 15u) & 15u];
            const uint w2 = w[(t - 2u) & 15u];
            const uint s0 = GH_ROTR32(w15, 7u) ^ GH_ROTR32(w15, 18u) ^ (w15 >> 3);
            const uint s1 = GH_ROTR32(w2, 17u) ^ GH_ROTR32(w2, 19u) ^ (w2 >> 10);
            wt = w[t & 15u] + s0 + w[(t - 7u) & 15u] + s1;
            w[t & 15u] = wt;
        }
        const uint S1 = GH_ROTR32(e, 6u) ^ GH_ROTR32(e, 11u) ^ GH_ROTR32(e, 25u);
        const uint ch = (e & f) ^ (~e & g);
        const uint t1 = h + S1 + ch + SHA256_K[t] + wt;
        const uint S0 = GH_ROTR32(a, 2u) ^ GH_ROTR32(a, 13u) ^ GH_ROTR32(a, 22u);
        const uint maj = (a & b) ^ (a & c) ^ (b & c);
        const uint t2 = S0 + maj;
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

/* SHA-256(data[0..len) || sfx) -> out[0..32). Any len (64-bit), any alignment. */
GH_FN void sha256_message(__global const uchar *data, const ulong len, const gh_suffix sfx,
                          __global uchar *out) {
    uint st[8];
    uint w[16];
    sha256_init(st);

    /* Blocks made of message bytes only. (GPU: coalesced/vector loads go here; see common.cl.) */
    const ulong full = len >> 6;
    for (ulong blk = 0; blk < full; ++blk) {
        __global const uchar *p = data + (blk << 6);
        for (uint i = 0; i < 16u; ++i) {
            w[i] = gh_load_be32(p + 4u * i);
        }
        sha256_compress(st, w);
    }

    /* The rest: 0..63 message bytes, the suffix, 0x80, zeros, the 64-bit bit length. */
    const ulong base = full << 6;
    const ulong total = len + (ulong)sfx.len;          /* message bytes incl. suffix */
    const uint tail = (uint)(total - base);            /* 0..79 */
    const uint nblocks = (tail + 1u + 8u + 63u) >> 6;  /* 1 or 2 */
    const ulong bits = total << 3;
    for (uint b = 0; b < nblocks; ++b) {
        for (uint i = 0; i < 16u; ++i) {
            uint word = 0;
            for (uint k = 0; k < 4u; ++k) {
                const uint q = (b << 6) + 4u * i + k; /* position within the tail */
                uint byte;
                if (q < tail) {
                    byte = gh_msg_byte(data, len, sfx, base + q);
                } else if (q == tail) {
                    byte = 0x80u;
                } else {
                    byte = 0u;
                }
                word = (word << 8) | byte;
            }
            w[i] = word;
        }
        if (b == nblocks - 1u) {
            w[14] = (uint)(bits >> 32);
            w[15] = (uint)bits;
        }
        sha256_compress(st, w);
    }

    for (uint i = 0; i < 8u; ++i) {
        gh_store_be32(out + 4u * i, st[i]);
    }
}
