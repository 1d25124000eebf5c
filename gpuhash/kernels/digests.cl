/*
 * Plain message digests, one message per work-item, with no suffix: the standard hash of
 * data[offset[j] .. offset[j] + length[j]). They run the same compression and padding code as
 * the leaf and node kernels (which differ only by the suffix), so the NIST test vectors
 * exercise that code directly; a backend may also use them for whole small messages.
 *
 *   digest_sha256    32 bytes per message at out + j * 32
 *   digest_sha512    64 bytes per message at out + j * 64
 *   digest_sha3_256  32 bytes per message at out + j * 32
 *   digest_shake256  outlen bytes per message at out + j * outlen (extra argument after n)
 *
 * Requires common.cl, sha256.cl, sha512.cl and keccak.cl.
 */

#ifdef GH_WITH_SHA256
__kernel void digest_sha256(__global const uchar *data, __global const ulong *offset,
                            __global const ulong *length, __global uchar *out, const uint n) {
    const ulong j = GH_GID();
    if (j >= (ulong)n) {
        return;
    }
    sha256_message(data + offset[j], length[j], gh_suffix_none(), out + j * 32ul);
}
#endif

#ifdef GH_WITH_SHA512
__kernel void digest_sha512(__global const uchar *data, __global const ulong *offset,
                            __global const ulong *length, __global uchar *out, const uint n) {
    const ulong j = GH_GID();
    if (j >= (ulong)n) {
        return;
    }
    sha512_message(data + offset[j], length[j], gh_suffix_none(), out + j * 64ul);
}
#endif

#ifdef GH_WITH_KECCAK
__kernel void digest_sha3_256(__global const uchar *data, __global const ulong *offset,
                              __global const ulong *length, __global uchar *out, const uint n) {
    const ulong j = GH_GID();
    if (j >= (ulong)n) {
        return;
    }
    sha3_256_message(data + offset[j], length[j], gh_suffix_none(), out + j * 32ul);
}
#endif

#ifdef GH_WITH_KECCAK
__kernel void digest_shake256(__global const uchar *data, __global const ulong *offset,
                              __global const ulong *length, __global uchar *out, const uint n,
                              const ulong outlen) {
    const ulong j = GH_GID();
    if (j >= (ulong)n) {
        return;
    }
    shake256_message(data + offset[j], length[j], gh_suffix_none(), out + j * outlen, outlen);
}
#endif
