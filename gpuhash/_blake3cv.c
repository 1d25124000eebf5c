/*
 * gpuhash._blake3cv: BLAKE3 chaining values (spec section 4) for many chunks at once, natively.
 *
 * The `blake3` package exposes only root digests; proofs and range values need the chaining
 * values of non-root subtrees (chunk groups) and of parents. This module computes them with the
 * same functions and results as gpuhash.blake3_lanes (numpy), about 30 times faster
 * (gpuhash.blake3_cvs chooses between the two):
 *
 *   leaf_cvs(data, offsets, lengths, first_chunks, roots) -> bytes (32 per leaf)
 *   parent_cvs(children, roots) -> bytes (32 per pair of children)
 *   kernels() -> tuple of the kernels this CPU can run, fastest first
 *   kernel() -> the kernel in use;  set_kernel(name) chooses one (tests, benchmarks)
 *
 * Written from the BLAKE3 paper and specification (compression function, flags, chunk and
 * parent nodes, left-balanced tree). The compression runs on 16, 8 or 4 chunks (or parents) at
 * once, one 32-bit lane each, in GCC/Clang vector-extension types; the same C
 * (_blake3cv_kernel.h) is compiled three times (AVX-512F, AVX2 and the baseline ISA) and the
 * fastest kernel the CPU supports is chosen at import. Compilers without vector extensions get a
 * scalar build (one lane). The GIL is released while hashing, so callers' threads run in
 * parallel; scratch memory is bounded (BLAKE3CV_SEGMENT_CHUNKS) whatever the size of a call.
 */

#define PY_SSIZE_T_CLEAN
/* The stable ABI of CPython 3.11 (setup.py defines Py_LIMITED_API): one wheel per platform
 * serves every CPython from 3.11 on. */
#include <Python.h>

#include <stdint.h>
#include <string.h>

#define CHUNK_LEN 1024
#define BLOCK_LEN 64
#define CV_LEN 32
#define CHUNK_START 1u
#define CHUNK_END 2u
#define PARENT 4u
#define ROOT 8u

static const uint32_t IV[8] = {
    0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
    0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u,
};

/* The message word order of each of the seven rounds: the permutation
 * (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8) applied 0..6 times. */
static const uint8_t SCHEDULE[7][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
    {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
    {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
    {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
    {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
    {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

/* BLAKE3CV_PLAIN_C: the one-lane build of other compilers, with any compiler (for tests). */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(BLAKE3CV_PLAIN_C)
#define HAVE_VECTORS 1
#define INLINE static inline __attribute__((always_inline))
#else
#define HAVE_VECTORS 0
#define INLINE static __inline
#endif
#define INLINE_SCALAR __inline

/* The driver hands kernels up to this many chunks (or parents) a call. */
#define MAX_LANES 16

/* Words are moved into lanes by in-register transposes where the compiler has
 * __builtin_shufflevector (GCC 12+, Clang) and the host is little-endian; elsewhere (or with
 * BLAKE3CV_NO_TRANSPOSE, for tests) one by one. */
#if HAVE_VECTORS && defined(__has_builtin) && !defined(BLAKE3CV_NO_TRANSPOSE)
#if __has_builtin(__builtin_shufflevector) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HAVE_TRANSPOSE 1
#endif
#endif
#ifndef HAVE_TRANSPOSE
#define HAVE_TRANSPOSE 0
#endif

#if defined(__x86_64__) && HAVE_VECTORS
#define HAVE_X86_KERNELS 1
#else
#define HAVE_X86_KERNELS 0
#endif

#if defined(__GNUC__) && !defined(__clang__)
/* The lane types are wider than the baseline ABI's vectors; they never cross a call. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

INLINE uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

INLINE void store_le32(uint8_t *p, uint32_t w)
{
    p[0] = (uint8_t)w;
    p[1] = (uint8_t)(w >> 8);
    p[2] = (uint8_t)(w >> 16);
    p[3] = (uint8_t)(w >> 24);
}

#define ROTR(x, k) (((x) >> (k)) | ((x) << (32 - (k))))

#define G(a, b, c, d, x, y)  \
    do {                     \
        a = a + b + (x);     \
        d = ROTR16(d ^ a);   \
        c = c + d;           \
        b = ROTR(b ^ c, 12); \
        a = a + b + (y);     \
        d = ROTR8(d ^ a);    \
        c = c + d;           \
        b = ROTR(b ^ c, 7);  \
    } while (0)

/* One step of a KLANES x KLANES transpose of the rows r[0..KLANES-1]: rows i and i + d (i
 * without bit d) exchange blocks of d words. lo, hi: __builtin_shufflevector indices, lo[x] =
 * x if x & d == 0 else KLANES + x - d, hi[x] = x + d if x & d == 0 else KLANES + x. */
#define TRANSPOSE_STEP(d, lo, hi)                             \
    do {                                                      \
        for (int i_ = 0; i_ < KLANES; i_++) {                 \
            if (i_ & (d)) continue;                           \
            lane a_ = r[i_], b_ = r[i_ + (d)];                \
            r[i_] = __builtin_shufflevector(a_, b_, lo);      \
            r[i_ + (d)] = __builtin_shufflevector(a_, b_, hi); \
        }                                                     \
    } while (0)

#define LO16_8 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define HI16_8 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define LO16_4 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27
#define HI16_4 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define LO16_2 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29
#define HI16_2 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define LO16_1 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30
#define HI16_1 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31
#define LO8_4 0, 1, 2, 3, 8, 9, 10, 11
#define HI8_4 4, 5, 6, 7, 12, 13, 14, 15
#define LO8_2 0, 1, 8, 9, 4, 5, 12, 13
#define HI8_2 2, 3, 10, 11, 6, 7, 14, 15
#define LO8_1 0, 8, 2, 10, 4, 12, 6, 14
#define HI8_1 1, 9, 3, 11, 5, 13, 7, 15
#define LO4_2 0, 1, 4, 5
#define HI4_2 2, 3, 6, 7
#define LO4_1 0, 4, 2, 6
#define HI4_1 1, 5, 3, 7

/* One chunk to hash: its bytes, its counter, and whether it is a whole input (ROOT). */
struct chunk {
    const uint8_t *p;
    uint64_t counter;
    uint32_t len; /* 0..CHUNK_LEN */
    uint32_t root;
};

INLINE uint32_t chunk_blocks(uint32_t len)
{
    return len == 0 ? 1 : (len + BLOCK_LEN - 1) / BLOCK_LEN;
}

/* The kernels: the same C (_blake3cv_kernel.h) for each instruction set. */
#if HAVE_VECTORS
#define KNAME portable
#define KLANES 4
#define KATTR
#include "_blake3cv_kernel.h"
#undef KNAME
#undef KLANES
#undef KATTR
#else
#define KNAME portable
#define KLANES 1
#define KATTR
#include "_blake3cv_kernel.h"
#undef KNAME
#undef KLANES
#undef KATTR
#endif

#if HAVE_X86_KERNELS
#define KNAME avx2
#define KLANES 8
#define KATTR __attribute__((target("avx2")))
#define KBYTE_ROTATIONS
#include "_blake3cv_kernel.h"
#undef KBYTE_ROTATIONS
#undef KNAME
#undef KLANES
#undef KATTR

#define KNAME avx512
#define KLANES 16
#define KATTR __attribute__((target("avx512f")))
#include "_blake3cv_kernel.h"
#undef KNAME
#undef KLANES
#undef KATTR
#endif

/* chunks(c, count, out): values of count (1..MAX_LANES) chunks, 32 bytes each, to out.
 * parents(in, flags, count, out): see _blake3cv_kernel.h. */
typedef void (*chunks_fn)(const struct chunk *, int, uint8_t *);
typedef void (*parents_fn)(const uint8_t *const *, const uint32_t *, int, uint8_t *const *);

struct kernel {
    const char *name;
    chunks_fn chunks;
    parents_fn parents;
};

/* Every kernel, fastest first; those the CPU lacks are left out at import. */
static const struct kernel ALL_KERNELS[] = {
#if HAVE_X86_KERNELS
    {"avx512f", chunks_avx512, parents_avx512},
    {"avx2", chunks_avx2, parents_avx2},
#endif
    {"portable", chunks_portable, parents_portable},
};
#define N_KERNELS ((int)(sizeof ALL_KERNELS / sizeof ALL_KERNELS[0]))

static const struct kernel *usable[N_KERNELS];
static int n_usable;
static const struct kernel *current;

static int cpu_has(const char *name)
{
#if HAVE_X86_KERNELS
    if (strcmp(name, "avx512f") == 0) return __builtin_cpu_supports("avx512f");
    if (strcmp(name, "avx2") == 0) return __builtin_cpu_supports("avx2");
#endif
    return strcmp(name, "portable") == 0;
}

/* -- the tree over each leaf's chunks ------------------------------------------------------ */

struct batch {
    const uint8_t *in[MAX_LANES];
    uint8_t *out[MAX_LANES];
    uint32_t flags[MAX_LANES];
    int n;
};

static void batch_add(const struct kernel *k, struct batch *b, const uint8_t *in, uint8_t *out,
                      uint32_t flags)
{
    b->in[b->n] = in;
    b->out[b->n] = out;
    b->flags[b->n] = flags;
    if (++b->n == MAX_LANES) {
        k->parents(b->in, b->flags, b->n, b->out);
        b->n = 0;
    }
}

static void batch_flush(const struct kernel *k, struct batch *b)
{
    if (b->n) k->parents(b->in, b->flags, b->n, b->out);
    b->n = 0;
}

/* Chunks hashed together at most: the scratch values are SEGMENT_CHUNKS * 32 bytes (twice),
 * whatever the size of the call. A leaf of more chunks is hashed in pieces of SEGMENT_CHUNKS
 * (aligned, a power of two: each piece but the last is a subtree of BLAKE3's tree), whose
 * values are then combined like a leaf's chunk values. */
#ifndef BLAKE3CV_SEGMENT_CHUNKS
#define BLAKE3CV_SEGMENT_CHUNKS 16384
#endif
#if BLAKE3CV_SEGMENT_CHUNKS < 1 || (BLAKE3CV_SEGMENT_CHUNKS & (BLAKE3CV_SEGMENT_CHUNKS - 1)) != 0
#error "BLAKE3CV_SEGMENT_CHUNKS must be a power of two"
#endif
#define SEGMENT_CHUNKS ((uint64_t)BLAKE3CV_SEGMENT_CHUNKS)

static uint64_t leaf_chunks(uint64_t len)
{
    return len == 0 ? 1 : (len + CHUNK_LEN - 1) / CHUNK_LEN;
}

/* One tree level at a time for all n groups of values together: group j has count[j] values
 * in cur (the groups one after another); pairs (0,1), (2,3)... and a lone last value carried
 * up (BLAKE3's left-balanced tree), ROOT on a root group's top node. Returns the buffer (cur or
 * nxt) that holds the n tops. */
static uint8_t *reduce(const struct kernel *k, Py_ssize_t n, uint64_t *count, const uint8_t *root,
                       uint8_t *cur, uint8_t *nxt)
{
    uint64_t most = 1;
    for (Py_ssize_t j = 0; j < n; j++)
        if (count[j] > most) most = count[j];
    for (; most > 1; most = (most + 1) / 2) {
        struct batch b;
        b.n = 0;
        uint64_t src = 0, dst = 0;
        for (Py_ssize_t j = 0; j < n; j++) {
            uint64_t m = count[j];
            for (uint64_t i = 0; i + 1 < m; i += 2) {
                uint32_t flags = PARENT | (root[j] && m == 2 ? ROOT : 0u);
                batch_add(k, &b, cur + CV_LEN * (src + i), nxt + CV_LEN * (dst + i / 2), flags);
            }
            if (m % 2) memcpy(nxt + CV_LEN * (dst + m / 2), cur + CV_LEN * (src + m - 1), CV_LEN);
            src += m;
            dst += (m + 1) / 2;
            count[j] = (m + 1) / 2;
        }
        batch_flush(k, &b);
        uint8_t *t = cur;
        cur = nxt;
        nxt = t;
    }
    return cur;
}

/* The values of n leaves of SEGMENT_CHUNKS chunks or fewer in all: chunk values first
 * (MAX_LANES chunks a call, across leaves), then the tree above each leaf's chunks. */
static void group(const struct kernel *k, const uint8_t *data, Py_ssize_t n, const uint64_t *off,
                  const uint64_t *len, const uint64_t *first, const uint8_t *root,
                  uint64_t *count, uint8_t *cur, uint8_t *nxt, uint8_t *out)
{
    struct chunk c[MAX_LANES];
    int nc = 0;
    uint64_t done = 0;
    for (Py_ssize_t j = 0; j < n; j++) {
        uint64_t chunks = leaf_chunks(len[j]);
        count[j] = chunks;
        for (uint64_t i = 0; i < chunks; i++) {
            uint64_t at = i * CHUNK_LEN, rest = len[j] - at;
            c[nc].p = data + off[j] + at;
            c[nc].counter = first[j] + i;
            c[nc].len = (uint32_t)(rest < CHUNK_LEN ? rest : CHUNK_LEN);
            c[nc].root = root[j] && chunks == 1;
            if (++nc == MAX_LANES) {
                k->chunks(c, nc, cur + CV_LEN * done);
                done += (uint64_t)nc;
                nc = 0;
            }
        }
    }
    if (nc) k->chunks(c, nc, cur + CV_LEN * done);
    memcpy(out, reduce(k, n, count, root, cur, nxt), (size_t)n * CV_LEN);
}

/* The value of each leaf: runs of short leaves in groups of up to SEGMENT_CHUNKS chunks, long
 * leaves piece by piece. cur and nxt hold SEGMENT_CHUNKS values, pa and pb as many as the
 * longest leaf has pieces; count has one entry per leaf. Runs without the GIL. */
static void leaves(const struct kernel *k, const uint8_t *data, Py_ssize_t n, const uint64_t *off,
                   const uint64_t *len, const uint64_t *first, const uint8_t *root,
                   uint64_t *count, uint8_t *cur, uint8_t *nxt, uint8_t *pa, uint8_t *pb,
                   uint8_t *out)
{
    Py_ssize_t j = 0;
    while (j < n) {
        uint64_t chunks = leaf_chunks(len[j]);
        if (chunks > SEGMENT_CHUNKS) {
            uint64_t pieces = (chunks + SEGMENT_CHUNKS - 1) / SEGMENT_CHUNKS;
            const uint64_t span = SEGMENT_CHUNKS * CHUNK_LEN;
            for (uint64_t p = 0; p < pieces; p++) {
                uint64_t poff = off[j] + p * span, plen = len[j] - p * span;
                uint64_t pfirst = first[j] + p * SEGMENT_CHUNKS, pcount;
                uint8_t proot = 0;
                if (plen > span) plen = span;
                group(k, data, 1, &poff, &plen, &pfirst, &proot, &pcount, cur, nxt,
                      pa + CV_LEN * p);
            }
            uint64_t tops = pieces;
            memcpy(out + CV_LEN * j, reduce(k, 1, &tops, root + j, pa, pb), CV_LEN);
            j++;
            continue;
        }
        Py_ssize_t end = j;
        uint64_t sum = 0;
        while (end < n && sum + leaf_chunks(len[end]) <= SEGMENT_CHUNKS)
            sum += leaf_chunks(len[end++]);
        group(k, data, end - j, off + j, len + j, first + j, root + j, count + j, cur, nxt,
              out + CV_LEN * j);
        j = end;
    }
}

/* -- arguments ----------------------------------------------------------------------------- */

/* Item i of the list or tuple PySequence_Fast returned (a borrowed reference). */
static PyObject *seq_item(PyObject *seq, Py_ssize_t i)
{
    return PyList_Check(seq) ? PyList_GetItem(seq, i) : PyTuple_GetItem(seq, i);
}

/* `obj` as n unsigned integers: a 1-D buffer of integers (array('Q'), a numpy array, strided or
 * not), else any sequence of ints. Returns a PyMem_Malloc'd array, or NULL with an exception set. */
static uint64_t *as_u64(PyObject *obj, const char *what, Py_ssize_t *n_out)
{
    Py_buffer v;
    if (PyObject_CheckBuffer(obj) && PyObject_GetBuffer(obj, &v, PyBUF_RECORDS_RO) == 0) {
        const char *f = v.format ? v.format : "B";
        if (*f == '@' || *f == '=') f++;
        int ok = v.ndim == 1 && f[0] != '\0' && f[1] == '\0' && strchr("BbHhIiLlQqNn", f[0]);
        if (ok) {
            Py_ssize_t n = v.shape[0];
            uint64_t *out = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(uint64_t));
            if (out == NULL) {
                PyBuffer_Release(&v);
                PyErr_NoMemory();
                return NULL;
            }
            int is_signed = strchr("bhilqn", f[0]) != NULL;
            const char *p = v.buf;
            for (Py_ssize_t i = 0; i < n; i++, p += v.strides[0]) {
                uint64_t u = 0;
                int64_t s = 0;
                switch (v.itemsize) {
                case 1: if (is_signed) s = *(const int8_t *)p; else u = *(const uint8_t *)p; break;
                case 2: { uint16_t x; memcpy(&x, p, 2); if (is_signed) s = (int16_t)x; else u = x; break; }
                case 4: { uint32_t x; memcpy(&x, p, 4); if (is_signed) s = (int32_t)x; else u = x; break; }
                case 8: { uint64_t x; memcpy(&x, p, 8); if (is_signed) s = (int64_t)x; else u = x; break; }
                default: ok = 0; break;
                }
                if (!ok) break;
                if (is_signed) {
                    if (s < 0) {
                        PyBuffer_Release(&v);
                        PyMem_Free(out);
                        PyErr_Format(PyExc_ValueError, "%s[%zd] is negative", what, i);
                        return NULL;
                    }
                    u = (uint64_t)s;
                }
                out[i] = u;
            }
            PyBuffer_Release(&v);
            if (ok) {
                *n_out = n;
                return out;
            }
            PyMem_Free(out);
        } else {
            PyBuffer_Release(&v);
        }
    } else {
        PyErr_Clear();
    }
    PyObject *seq = PySequence_Fast(obj, "");
    if (seq == NULL) {
        PyErr_Format(PyExc_TypeError, "%s must be a sequence of integers", what);
        return NULL;
    }
    Py_ssize_t n = PySequence_Size(seq);
    uint64_t *out = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(uint64_t));
    if (out == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = seq_item(seq, i);
        PyObject *x = PyNumber_Index(item);
        unsigned long long u = x ? PyLong_AsUnsignedLongLong(x) : (unsigned long long)-1;
        Py_XDECREF(x);
        if (u == (unsigned long long)-1 && PyErr_Occurred()) {
            if (x == NULL && PyErr_ExceptionMatches(PyExc_TypeError)) {
                PyErr_Clear();
                PyObject *type = PyType_GetName(Py_TYPE(item));
                if (type != NULL) {
                    PyErr_Format(PyExc_TypeError, "%s[%zd] must be an integer, not %U", what, i,
                                 type);
                    Py_DECREF(type);
                }
            } else if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_ValueError, "%s[%zd] is not in 0..2**64-1", what, i);
            }
            Py_DECREF(seq);
            PyMem_Free(out);
            return NULL;
        }
        out[i] = u;
    }
    Py_DECREF(seq);
    *n_out = n;
    return out;
}

/* `obj` as n flags, 1 or 0 each: a 1-D buffer of bytes (bytes, array('B'), a numpy bool or
 * uint8 array), else any sequence of truth values. */
static uint8_t *as_flags(PyObject *obj, const char *what, Py_ssize_t *n_out)
{
    Py_buffer v;
    if (PyObject_CheckBuffer(obj) && PyObject_GetBuffer(obj, &v, PyBUF_RECORDS_RO) == 0) {
        const char *f = v.format ? v.format : "B";
        if (*f == '@' || *f == '=' || *f == '<' || *f == '>' || *f == '|') f++;
        if (v.ndim == 1 && v.itemsize == 1 && f[0] != '\0' && f[1] == '\0' &&
            strchr("Bb?c", f[0])) {
            Py_ssize_t n = v.shape[0];
            uint8_t *out = PyMem_Malloc((size_t)(n ? n : 1));
            if (out == NULL) {
                PyBuffer_Release(&v);
                PyErr_NoMemory();
                return NULL;
            }
            const uint8_t *p = v.buf;
            for (Py_ssize_t i = 0; i < n; i++) out[i] = p[i * v.strides[0]] != 0;
            PyBuffer_Release(&v);
            *n_out = n;
            return out;
        }
        PyBuffer_Release(&v);
    } else {
        PyErr_Clear();
    }
    PyObject *seq = PySequence_Fast(obj, "");
    if (seq == NULL) {
        PyErr_Format(PyExc_TypeError, "%s must be a sequence of flags", what);
        return NULL;
    }
    Py_ssize_t n = PySequence_Size(seq);
    uint8_t *out = PyMem_Malloc((size_t)(n ? n : 1));
    if (out == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int t = PyObject_IsTrue(seq_item(seq, i));
        if (t < 0) {
            Py_DECREF(seq);
            PyMem_Free(out);
            return NULL;
        }
        out[i] = (uint8_t)t;
    }
    Py_DECREF(seq);
    *n_out = n;
    return out;
}

/* -- module functions ---------------------------------------------------------------------- */

PyDoc_STRVAR(leaf_cvs_doc,
"leaf_cvs(data, offsets, lengths, first_chunks, roots, /) -> bytes\n\n"
"The value of each leaf data[offsets[j] : offsets[j] + lengths[j]]: the chaining value of its\n"
"BLAKE3 subtree whose first chunk has counter first_chunks[j], or the root output where\n"
"roots[j] (the leaf is a whole input). 32 bytes per leaf, concatenated. data is any\n"
"C-contiguous buffer; every leaf must lie within it.");

static PyObject *leaf_cvs(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "leaf_cvs() takes 5 arguments (%zd given)", nargs);
        return NULL;
    }
    Py_buffer data;
    if (PyObject_GetBuffer(args[0], &data, PyBUF_C_CONTIGUOUS) != 0) return NULL;
    PyObject *result = NULL;
    uint64_t *off = NULL, *len = NULL, *first = NULL, *count = NULL;
    uint8_t *root = NULL, *cur = NULL, *nxt = NULL, *pa = NULL, *pb = NULL;
    Py_ssize_t n0, n1, n2, n3;
    if ((off = as_u64(args[1], "offsets", &n0)) == NULL) goto done;
    if ((len = as_u64(args[2], "lengths", &n1)) == NULL) goto done;
    if ((first = as_u64(args[3], "first_chunks", &n2)) == NULL) goto done;
    if ((root = as_flags(args[4], "roots", &n3)) == NULL) goto done;
    if (n1 != n0 || n2 != n0 || n3 != n0) {
        PyErr_Format(PyExc_ValueError,
                     "offsets, lengths, first_chunks and roots differ in length (%zd, %zd, %zd, %zd)",
                     n0, n1, n2, n3);
        goto done;
    }
    Py_ssize_t n = n0;
    uint64_t size = (uint64_t)data.len, total = 0, pieces = 1;
    for (Py_ssize_t j = 0; j < n; j++) {
        if (off[j] > size || len[j] > size - off[j]) {
            PyErr_Format(PyExc_ValueError,
                         "leaf %zd: bytes %llu..%llu+%llu are outside the buffer of %llu bytes", j,
                         (unsigned long long)off[j], (unsigned long long)off[j],
                         (unsigned long long)len[j], (unsigned long long)size);
            goto done;
        }
        uint64_t chunks = leaf_chunks(len[j]);
        if (first[j] > UINT64_MAX - (chunks - 1)) {
            PyErr_Format(PyExc_ValueError, "leaf %zd: chunk counters past 2**64-1", j);
            goto done;
        }
        total = chunks > SEGMENT_CHUNKS - total ? SEGMENT_CHUNKS : total + chunks;
        uint64_t p = (chunks + SEGMENT_CHUNKS - 1) / SEGMENT_CHUNKS;
        if (p > pieces) pieces = p;
    }
    result = PyBytes_FromStringAndSize(NULL, n * CV_LEN);
    if (result == NULL || n == 0) goto done;
    count = PyMem_Malloc((size_t)n * sizeof(uint64_t));
    cur = PyMem_Malloc((size_t)total * CV_LEN);
    nxt = PyMem_Malloc((size_t)total * CV_LEN);
    pa = PyMem_Malloc((size_t)pieces * CV_LEN);
    pb = PyMem_Malloc((size_t)pieces * CV_LEN);
    if (count == NULL || cur == NULL || nxt == NULL || pa == NULL || pb == NULL) {
        Py_CLEAR(result);
        PyErr_NoMemory();
        goto done;
    }
    const struct kernel *k = current;
    uint8_t *out = (uint8_t *)PyBytes_AsString(result);
    Py_BEGIN_ALLOW_THREADS
    leaves(k, data.buf, n, off, len, first, root, count, cur, nxt, pa, pb, out);
    Py_END_ALLOW_THREADS
done:
    PyMem_Free(off);
    PyMem_Free(len);
    PyMem_Free(first);
    PyMem_Free(root);
    PyMem_Free(count);
    PyMem_Free(cur);
    PyMem_Free(nxt);
    PyMem_Free(pa);
    PyMem_Free(pb);
    PyBuffer_Release(&data);
    return result;
}

PyDoc_STRVAR(parent_cvs_doc,
"parent_cvs(children, roots, /) -> bytes\n\n"
"len(roots) parent values: pair i is chaining values 2i and 2i + 1 of children (exactly 64\n"
"bytes a pair); roots[i] gives that parent the ROOT flag. 32 bytes per parent.");

static void parents(const struct kernel *k, const uint8_t *children, const uint8_t *root,
                    Py_ssize_t m, uint8_t *out)
{
    struct batch b;
    b.n = 0;
    for (Py_ssize_t i = 0; i < m; i++)
        batch_add(k, &b, children + 2 * CV_LEN * i, out + CV_LEN * i,
                  PARENT | (root[i] ? ROOT : 0u));
    batch_flush(k, &b);
}

static PyObject *parent_cvs(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "parent_cvs() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    Py_buffer children;
    if (PyObject_GetBuffer(args[0], &children, PyBUF_C_CONTIGUOUS) != 0) return NULL;
    PyObject *result = NULL;
    Py_ssize_t m;
    uint8_t *root = as_flags(args[1], "roots", &m);
    if (root == NULL) goto done;
    if (m > PY_SSIZE_T_MAX / (2 * CV_LEN) || children.len != 2 * CV_LEN * m) {
        PyErr_Format(PyExc_ValueError, "children: %zd bytes for %zd pairs (64 bytes a pair)",
                     children.len, m);
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, m * CV_LEN);
    if (result == NULL || m == 0) goto done;
    const struct kernel *k = current;
    uint8_t *out = (uint8_t *)PyBytes_AsString(result);
    Py_BEGIN_ALLOW_THREADS
    parents(k, children.buf, root, m, out);
    Py_END_ALLOW_THREADS
done:
    PyMem_Free(root);
    PyBuffer_Release(&children);
    return result;
}

PyDoc_STRVAR(kernels_doc,
"kernels() -> tuple[str, ...]\n\nThe kernels this CPU runs, fastest first (the first is used "
"unless set_kernel chose another).");

static PyObject *kernels(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    PyObject *t = PyTuple_New(n_usable);
    if (t == NULL) return NULL;
    for (int i = 0; i < n_usable; i++) {
        PyObject *s = PyUnicode_FromString(usable[i]->name);
        if (s == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        if (PyTuple_SetItem(t, i, s) < 0) {
            Py_DECREF(t);
            return NULL;
        }
    }
    return t;
}

PyDoc_STRVAR(kernel_doc, "kernel() -> str\n\nThe kernel in use.");

static PyObject *kernel(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyUnicode_FromString(current->name);
}

PyDoc_STRVAR(set_kernel_doc,
"set_kernel(name, /) -> None\n\nUse kernel `name` (one of kernels()) from now on, in every "
"thread.");

static PyObject *set_kernel(PyObject *self, PyObject *name)
{
    (void)self;
    const char *s = PyUnicode_Check(name) ? PyUnicode_AsUTF8AndSize(name, NULL) : NULL;
    if (s == NULL) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "kernel name must be a str");
        return NULL;
    }
    for (int i = 0; i < n_usable; i++) {
        if (strcmp(usable[i]->name, s) == 0) {
            current = usable[i];
            Py_RETURN_NONE;
        }
    }
    PyErr_Format(PyExc_ValueError, "no kernel %R on this CPU", name);
    return NULL;
}

static PyMethodDef methods[] = {
    {"leaf_cvs", (PyCFunction)(void (*)(void))leaf_cvs, METH_FASTCALL, leaf_cvs_doc},
    {"parent_cvs", (PyCFunction)(void (*)(void))parent_cvs, METH_FASTCALL, parent_cvs_doc},
    {"kernels", kernels, METH_NOARGS, kernels_doc},
    {"kernel", kernel, METH_NOARGS, kernel_doc},
    {"set_kernel", set_kernel, METH_O, set_kernel_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "gpuhash._blake3cv",
    "BLAKE3 chaining values for many chunks at once, in C (see gpuhash.blake3_cvs).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__blake3cv(void)
{
#if HAVE_X86_KERNELS
    __builtin_cpu_init();
#endif
    n_usable = 0;
    for (int i = 0; i < N_KERNELS; i++)
        if (cpu_has(ALL_KERNELS[i].name)) usable[n_usable++] = &ALL_KERNELS[i];
    current = usable[0];
    PyObject *mod = PyModule_Create(&module);
    if (mod == NULL) return NULL;
    if (PyModule_AddIntConstant(mod, "MAX_LANES", MAX_LANES) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
