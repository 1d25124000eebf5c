"""Regenerate the language-neutral gpuhash v1 test vectors from ``gpuhash.reference``.

Run from the repository root:

    python spec/v1/vectors/generate.py          # write every *.json file next to this script
    python spec/v1/vectors/generate.py --check  # exit 1 if a checked-in file is stale or missing

The output is deterministic (sorted keys, indent 1, ASCII only, trailing newline). This script
imports nothing but the standard library and ``gpuhash.reference`` (the executable form of
``spec/v1/spec.md``); every vector it writes is also re-checked here against the reference (proofs
verify or are rejected as labelled, lattice updates equal a full recomputation, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

try:
    from gpuhash import reference as ref
except ImportError:  # not installed: use the checkout this script lives in
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from gpuhash import reference as ref

HERE = Path(__file__).resolve().parent
#: The conformance suite ships the same files as package data; the generator writes both, so
#: there is one source (this script) and nothing to copy by hand.
SHIPPED = HERE.parents[2] / "conformance" / "gpuhash_conformance" / "vectors"
REGENERATE_COMMAND = "python spec/v1/vectors/generate.py"

JSON = dict[str, Any]
Segment = dict[str, Any]

KIB = 1024
DEFAULT_L = ref.DEFAULT_LEAF_SIZE
MERKLE = tuple(ref.MERKLE_HASHES)
TREE_FAMILIES = (*MERKLE, ref.BLAKE3)
KIND_NAMES = {
    ref.KIND_FILE: "FILE",
    ref.KIND_TENSOR: "TENSOR",
    ref.KIND_TENSOR_HEADER: "TENSOR_HEADER",
}

# Input patterns: byte i of an object is (mul * i + add) % 251.
MODULUS = 251
PATTERN_A = (1, 0)  # byte i = i % 251
PATTERN_B = (7, 3)  # byte i = (7 * i + 3) % 251: other leaf contents, so swapped leaves show

PATTERN_TEXT = (
    'A "pattern" {"mul": m, "add": a} with a "size" n stands for the n bytes '
    "byte[i] = (m * i + a) % 251 for i = 0 .. n-1 (so {mul 1, add 0} is byte[i] = i % 251)."
)
CONTENT_TEXT = (
    'A "content" is a list of segments whose bytes are concatenated: a segment '
    '{"mul": m, "add": a, "start": s, "size": n} is the bytes (m * i + a) % 251 for '
    'i = s .. s+n-1, and a segment {"hex": h} is those literal bytes.'
)
REGEN_TEXT = (
    f"Generated from gpuhash/reference.py by spec/v1/vectors/generate.py; do not edit by hand. "
    f"Regenerate with `{REGENERATE_COMMAND}` from the repository root "
    f"(`{REGENERATE_COMMAND} --check` reports stale files)."
)
HEX_TEXT = "Every digest, element and node is lower-case hex; sizes are in bytes."


def pattern_bytes(mul: int, add: int, start: int, size: int) -> bytes:
    period = bytes((mul * i + add) % MODULUS for i in range(MODULUS))
    offset = start % MODULUS
    return (period * ((offset + size) // MODULUS + 1))[offset : offset + size]


def pat(p: tuple[int, int]) -> JSON:
    return {"mul": p[0], "add": p[1]}


def seg(p: tuple[int, int], start: int, size: int) -> Segment:
    return {"mul": p[0], "add": p[1], "start": start, "size": size}


def content_bytes(segments: list[Segment]) -> bytes:
    out = bytearray()
    for s in segments:
        if "hex" in s:
            out += bytes.fromhex(s["hex"])
        else:
            out += pattern_bytes(s["mul"], s["add"], s["start"], s["size"])
    return bytes(out)


def segment_size(s: Segment) -> int:
    return len(s["hex"]) // 2 if "hex" in s else int(s["size"])


def content_slice(segments: list[Segment], lo: int, hi: int) -> list[Segment]:
    """The segments describing bytes [lo, hi) of ``segments``."""
    out: list[Segment] = []
    pos = 0
    for s in segments:
        n = segment_size(s)
        a, b = max(lo, pos), min(hi, pos + n)
        if a < b:
            if "hex" in s:
                out.append({"hex": s["hex"][2 * (a - pos) : 2 * (b - pos)]})
            else:
                out.append({**s, "start": s["start"] + a - pos, "size": b - a})
        pos += n
    return out


def sizes_for(leaf_size: int) -> list[int]:
    """0, 1, L-1, L, L+1, 2^k*L and 2^k*L+1 for k = 1..4, and 3L."""
    sizes = [0, 1, leaf_size - 1, leaf_size, leaf_size + 1]
    for k in range(1, 5):
        sizes += [leaf_size << k, (leaf_size << k) + 1]
    sizes.append(3 * leaf_size)
    return sorted(sizes)


def name_hex(name: str) -> str:
    return name.encode("utf-8").hex()


def lattice_hex(a: ref.Lattice) -> str:
    return ref.lattice_bytes(a).hex()


# ---------------------------------------------------------------------------------------------
# objects.json
# ---------------------------------------------------------------------------------------------

# (family, leaf size, sizes)
OBJECT_CASES: list[tuple[str, int, list[int]]] = [
    *[(f, L, sizes_for(L)) for f in MERKLE for L in (KIB, 2 * KIB, DEFAULT_L)],
    *[(f, 1 << 20, [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1]) for f in MERKLE],
    *[(f, 1 << 24, [0, 1, (1 << 24) + 1]) for f in MERKLE],
    (ref.BLAKE3, KIB, sizes_for(KIB)),
    (ref.BLAKE3, 2 * KIB, sizes_for(2 * KIB)),
    (ref.BLAKE3, DEFAULT_L, [0, 1, DEFAULT_L - 1, DEFAULT_L, DEFAULT_L + 1]),
    (ref.LTHASH, KIB, sizes_for(KIB)),
    (ref.LTHASH, DEFAULT_L, sizes_for(DEFAULT_L)),
]
DEBUG_MAX_LEAVES = 5


def object_vectors() -> JSON:
    vectors: list[JSON] = []
    blake3_cache: dict[tuple[tuple[int, int], int], bytes] = {}
    for family, leaf_size, sizes in OBJECT_CASES:
        algorithm = ref.algorithm_id(family, leaf_size)
        for p in (PATTERN_A, PATTERN_B):
            for size in sizes:
                data = pattern_bytes(*p, 0, size)
                n = ref.leaf_count(size, leaf_size)
                if family == ref.BLAKE3:
                    key = (p, size)
                    if key not in blake3_cache:
                        blake3_cache[key] = ref.object_digest(family, data, leaf_size)
                    digest = blake3_cache[key]
                else:
                    digest = ref.object_digest(family, data, leaf_size)
                v: JSON = {
                    "family": family,
                    "leaf_size": leaf_size,
                    "algorithm": algorithm,
                    "pattern": pat(p),
                    "size": size,
                    "leaf_count": n,
                    "digest": digest.hex(),
                }
                if family in TREE_FAMILIES and n <= DEBUG_MAX_LEAVES:
                    levels = ref.tree_levels(family, data, leaf_size)
                    top = ref.finish_object(family, levels[-1][0], size, leaf_size)
                    assert top == digest, (family, leaf_size, size)
                    v["leaf_values"] = [x.hex() for x in levels[0]]
                    v["tree_levels"] = [[x.hex() for x in level] for level in levels]
                if family == ref.LTHASH and leaf_size == KIB and p == PATTERN_A and n <= 2:
                    v["length_element"] = lattice_hex(ref.lattice_length_element(size, leaf_size))
                    v["leaf_elements"] = [
                        lattice_hex(ref.lattice_leaf_element(d, i))
                        for i, d in enumerate(ref.split_leaves(data, leaf_size))
                    ]
                vectors.append(v)
    return {
        "comment": [
            "gpuhash v1 object digests (spec sections 2-5) for every family and several leaf "
            "sizes L, at sizes 0, 1, L-1, L, L+1, 2^k*L and 2^k*L+1 (k = 1..4) and 3L.",
            PATTERN_TEXT,
            "Two patterns are used: {mul 1, add 0} and {mul 7, add 3}.",
            '"leaf_count" is n = max(1, ceil(size / L)); "algorithm" is the algorithm identifier '
            "(section 2.2; gh1-blake3 names no leaf size since blake3 digests do not depend on "
            'L). For merkle-* and blake3 objects of at most 5 leaves, "leaf_values" lists '
            "LEAF(d_i) (blake3: LEAF_i of section 4, the leaf subtree chaining values, except "
            "for a one-leaf object, whose only leaf is the root: its value is compressed with the "
            'ROOT flag and equals the digest) and "tree_levels" the tree built level by level '
            "(leaves first; a lone last node is carried up unchanged; the "
            "last level holds the top value: ROOT for merkle-*, the digest for blake3). For a few "
            'small lthash16-shake256 objects "length_element" is ELEN and "leaf_elements" the '
            "ELEM_i, each 1024 little-endian uint16 lanes.",
            HEX_TEXT,
            REGEN_TEXT,
        ],
        "spec_version": ref.SPEC_VERSION,
        "vectors": vectors,
    }


# ---------------------------------------------------------------------------------------------
# artifacts.json
# ---------------------------------------------------------------------------------------------

F, T, TH = ref.KIND_FILE, ref.KIND_TENSOR, ref.KIND_TENSOR_HEADER
ObjSpec = tuple[str, int, tuple[int, int], int]  # (name, kind, pattern, size)

ARTIFACT_CASES: list[tuple[str, str, list[ObjSpec]]] = [
    ("single_file", "one FILE object spanning 3 leaves at 1k", [("model.bin", F, (1, 0), 3000)]),
    (
        "single_tensor",
        "single_file with kind TENSOR instead of FILE: the kind is bound, so digests differ",
        [("model.bin", T, (1, 0), 3000)],
    ),
    (
        "nested",
        "nested directories; model/weights.bin has 2 leaves even at the default 64k",
        [
            ("model/weights.bin", F, (1, 1), 70000),
            ("config.json", F, (7, 2), 300),
            ("tokenizer/vocab.txt", F, (1, 3), 1024),
            ("README.md", F, (7, 4), 120),
            ("model/sub/extra.bin", F, (1, 5), 2049),
        ],
    ),
    (
        "byte_order",
        "names whose unsigned UTF-8 byte order (a-b < a.txt < a/b < a/c < a0 < ab < abc < b, "
        "since '-' 0x2d < '.' 0x2e < '/' 0x2f < '0' 0x30) differs from a path-component order "
        "(which would put a/b and a/c first); a proper prefix (ab, abc) sorts first",
        [
            ("b", F, (1, 10), 10),
            ("a/b", F, (1, 11), 11),
            ("abc", F, (1, 12), 12),
            ("a.txt", F, (1, 13), 13),
            ("a0", F, (1, 14), 14),
            ("a-b", F, (1, 15), 15),
            ("ab", F, (1, 16), 16),
            ("a/c", F, (1, 17), 17),
        ],
    ),
    (
        "non_ascii",
        "non-ASCII names, hashed as their UTF-8 bytes without normalisation: U+00E9 and "
        "e + U+0301 are two different names; U+FF21 (UTF-8 ef bc a1) sorts before the emoji "
        "U+1F600 (f0 9f 98 80) by UTF-8 bytes, but after it by UTF-16 code units",
        [
            ("\U0001f600.bin", F, (7, 20), 33),
            ("日本/モデル.bin", F, (1, 21), 1500),
            ("\u00e9", F, (7, 22), 5),
            ("e\u0301", F, (7, 23), 6),
            ("\uff21.bin", F, (1, 24), 7),
            ("z", F, (1, 25), 8),
            ("\u03a9/x", F, (7, 26), 9),
        ],
    ),
    (
        "empty_object",
        "an artifact holding an empty (0-byte) object",
        [("x.bin", F, (1, 30), 5), ("empty.bin", F, (1, 0), 0)],
    ),
    ("empty_artifact", "an artifact with no objects (m = 0)", []),
    (
        "kinds",
        "objects of every kind: FILE, TENSOR_HEADER and TENSOR",
        [
            ("model.safetensors", TH, (1, 40), 150),
            ("layers.0.mlp.weight", T, (7, 41), 2500),
            ("config.json", F, (1, 42), 200),
            ("embed.weight", T, (7, 43), 1100),
            ("layers.0.mlp.bias", T, (1, 44), 64),
        ],
    ),
]

ARTIFACT_ALGORITHMS = [
    *[ref.algorithm_id(f, L) for f in MERKLE for L in (DEFAULT_L, KIB)],
    ref.algorithm_id(ref.BLAKE3, DEFAULT_L),
    *[ref.algorithm_id(ref.LTHASH, L) for L in (DEFAULT_L, KIB)],
]


def artifact_input(algorithm: str, entries: list[ref.Entry]) -> bytes:
    """STR(ID) || LE64(m) || ENTRY(o_1) || .. || ENTRY(o_m) || 0x03 (section 6)."""
    body = ref.enc_str(algorithm) + ref.le64(len(entries))
    return body + b"".join(ref.entry_bytes(e) for e in entries) + ref.ROLE_ARTIFACT


def artifact_vectors() -> JSON:
    vectors: list[JSON] = []
    cache: dict[tuple[str, int, tuple[int, int], int], bytes] = {}
    for algorithm in ARTIFACT_ALGORITHMS:
        family, leaf_size = ref.parse_algorithm_id(algorithm)
        leaf = leaf_size if leaf_size is not None else DEFAULT_L
        for case, description, specs in ARTIFACT_CASES:
            objects = [(name, kind, pattern_bytes(*p, 0, size)) for name, kind, p, size in specs]
            entries, digest = ref.hash_artifact(algorithm, objects)
            by_name = {e[1]: e for e in entries}
            records = []
            for name, kind, p, size in specs:
                key = (family, leaf, p, size)
                if key not in cache:
                    cache[key] = ref.object_digest(family, pattern_bytes(*p, 0, size), leaf)
                assert by_name[name] == (kind, name, size, cache[key])
                records.append(
                    {
                        "name": name,
                        "name_utf8": name_hex(name),
                        "kind": kind,
                        "kind_name": KIND_NAMES[kind],
                        "size": size,
                        "pattern": pat(p),
                        "digest": cache[key].hex(),
                    }
                )
            v: JSON = {
                "case": case,
                "description": description,
                "algorithm": algorithm,
                "family": family,
                "leaf_size": leaf_size,
                "objects": records,
                "sorted_names": [e[1] for e in entries],
                "digest": digest.hex(),
            }
            if family != ref.LTHASH:
                body = artifact_input(algorithm, entries)
                h = ref.blake3 if family == ref.BLAKE3 else ref.MERKLE_HASHES[family]
                assert h(body) == digest
                v["artifact_input"] = body.hex()
            vectors.append(v)
    return {
        "comment": [
            "gpuhash v1 artifact digests (spec section 6) for multi-object artifacts, under "
            "every family at the default leaf size (64k) and at 1k (blake3 has one identifier).",
            '"objects" lists the objects in an arbitrary (unsorted) order: name (JSON-escaped; '
            '"name_utf8" is its exact UTF-8 bytes in hex), kind (1 FILE, 2 TENSOR, '
            "3 TENSOR_HEADER), size, the pattern of its bytes and its object digest under "
            '"algorithm". "sorted_names" is the order of section 1.1 (unsigned bytes of the '
            'UTF-8 names). "leaf_size" is null for blake3, whose digests do not depend on it.',
            PATTERN_TEXT,
            'For merkle-* and blake3, "artifact_input" is the whole input of the artifact hash, '
            "STR(ID) || LE64(m) || ENTRY(o_1) || .. || ENTRY(o_m) || 0x03. For "
            "lthash16-shake256 the digest is E(STR(ID) || 0x13) + EOBJ(o_1) + .. + EOBJ(o_m).",
            HEX_TEXT,
            REGEN_TEXT,
        ],
        "spec_version": ref.SPEC_VERSION,
        "vectors": vectors,
    }


# ---------------------------------------------------------------------------------------------
# lattice_updates.json
# ---------------------------------------------------------------------------------------------


def leaf_element_record(segments: list[Segment], data: bytes, i: int, leaf_size: int) -> JSON:
    lo, hi = i * leaf_size, min((i + 1) * leaf_size, len(data))
    leaf = data[lo:hi]
    return {
        "element": "ELEM",
        "index": i,
        "leaf_size_bytes": len(leaf),
        "leaf": content_slice(segments, lo, hi),
        "value": lattice_hex(ref.lattice_leaf_element(leaf, i)),
    }


def length_element_record(size: int, leaf_size: int) -> JSON:
    return {
        "element": "ELEN",
        "size": size,
        "leaf_size": leaf_size,
        "input": (ref.le64(size) + ref.le64(leaf_size) + ref.ROLE_LATTICE_LENGTH).hex(),
        "value": lattice_hex(ref.lattice_length_element(size, leaf_size)),
    }


def object_update(
    name: str, change: str, leaf_size: int, old_segs: list[Segment], new_segs: list[Segment]
) -> JSON:
    old, new = content_bytes(old_segs), content_bytes(new_segs)
    subtract: list[JSON] = []
    add: list[JSON] = []
    if len(old) != len(new):
        subtract.append(length_element_record(len(old), leaf_size))
        add.append(length_element_record(len(new), leaf_size))
    old_leaves, new_leaves = ref.split_leaves(old, leaf_size), ref.split_leaves(new, leaf_size)
    for i in range(max(len(old_leaves), len(new_leaves))):
        o = old_leaves[i] if i < len(old_leaves) else None
        w = new_leaves[i] if i < len(new_leaves) else None
        if o == w:
            continue
        if o is not None:
            subtract.append(leaf_element_record(old_segs, old, i, leaf_size))
        if w is not None:
            add.append(leaf_element_record(new_segs, new, i, leaf_size))
    old_digest = ref.object_digest(ref.LTHASH, old, leaf_size)
    acc = ref.lattice_from_bytes(old_digest)
    for e in subtract:
        acc = ref.lattice_sub(acc, ref.lattice_from_bytes(bytes.fromhex(e["value"])))
    for e in add:
        acc = ref.lattice_add(acc, ref.lattice_from_bytes(bytes.fromhex(e["value"])))
    new_digest = ref.object_digest(ref.LTHASH, new, leaf_size)
    assert ref.lattice_bytes(acc) == new_digest, name  # the update law = a full recomputation
    assert new_digest != old_digest, name
    return {
        "name": name,
        "change": change,
        "algorithm": ref.algorithm_id(ref.LTHASH, leaf_size),
        "leaf_size": leaf_size,
        "before": {"content": old_segs, "size": len(old), "digest": old_digest.hex()},
        "subtract": subtract,
        "add": add,
        "after": {"content": new_segs, "size": len(new), "digest": new_digest.hex()},
    }


def object_update_vectors() -> list[JSON]:
    L = KIB
    a, b = PATTERN_A, PATTERN_B
    size = 5 * L + 100  # 6 leaves, the last one 100 bytes
    base = [seg(a, 0, size)]

    def replaced(i: int, n: int) -> list[Segment]:
        return [seg(a, 0, i * L), seg(b, 0, n), seg(a, i * L + n, size - i * L - n)]

    flipped = bytes([pattern_bytes(*a, 2 * L + 7, 1)[0] ^ 0x01]).hex()
    big_l = DEFAULT_L
    big = 3 * big_l - 1000
    return [
        object_update("replace_first_leaf", "leaf 0 replaced", L, base, replaced(0, L)),
        object_update("replace_middle_leaf", "leaf 3 replaced", L, base, replaced(3, L)),
        object_update(
            "replace_last_leaf",
            "the last (partial, 100-byte) leaf 5 replaced by 100 other bytes",
            L,
            base,
            [seg(a, 0, 5 * L), seg(b, 0, 100)],
        ),
        object_update(
            "flip_one_byte",
            "one bit of byte 2*L+7 (in leaf 2) flipped",
            L,
            base,
            [seg(a, 0, 2 * L + 7), {"hex": flipped}, seg(a, 2 * L + 8, size - 2 * L - 8)],
        ),
        object_update(
            "swap_leaves",
            "leaves 1 and 2 swapped: positions are bound, so the sum changes",
            L,
            base,
            [seg(a, 0, L), seg(a, 2 * L, L), seg(a, L, L), seg(a, 3 * L, size - 3 * L)],
        ),
        object_update(
            "append_within_last_leaf",
            "50 bytes appended; the last leaf grows from 100 to 150 bytes",
            L,
            base,
            [seg(a, 0, size + 50)],
        ),
        object_update(
            "append_new_leaves",
            "2000 bytes appended: leaf 5 filled, leaf 6 added (full) and leaf 7 added (52 bytes)",
            L,
            base,
            [seg(a, 0, size), seg(b, 0, 2000)],
        ),
        object_update(
            "truncate_at_leaf_boundary",
            "truncated to 3 leaves (3*L bytes): leaves 3..5 removed, leaf 2 unchanged",
            L,
            base,
            [seg(a, 0, 3 * L)],
        ),
        object_update(
            "truncate_inside_leaf",
            "truncated to 2*L+5 bytes: leaves 3..5 removed, leaf 2 now 5 bytes",
            L,
            base,
            [seg(a, 0, 2 * L + 5)],
        ),
        object_update(
            "truncate_to_empty",
            "truncated to 0 bytes: leaves 1..5 removed, leaf 0 becomes the empty leaf",
            L,
            base,
            [],
        ),
        object_update(
            "append_to_empty",
            "1500 bytes written to an empty object: the empty leaf 0 replaced, leaf 1 added",
            L,
            [],
            [seg(a, 0, 1500)],
        ),
        object_update(
            "replace_leaf_64k",
            "at L = 64k: leaf 1 of a 3-leaf object replaced",
            big_l,
            [seg(a, 0, big)],
            [seg(a, 0, big_l), seg(b, 0, big_l), seg(a, 2 * big_l, big - 2 * big_l)],
        ),
    ]


ArtObj = tuple[str, int, list[Segment]]


def artifact_entries(algorithm: str, objects: list[ArtObj]) -> tuple[list[JSON], list[ref.Entry]]:
    family, leaf_size = ref.parse_algorithm_id(algorithm)
    assert leaf_size is not None
    records: list[JSON] = []
    entries: list[ref.Entry] = []
    for name, kind, segs in objects:
        data = content_bytes(segs)
        digest = ref.object_digest(family, data, leaf_size)
        entries.append((kind, name, len(data), digest))
        records.append(
            {"name": name, "kind": kind, "content": segs, "size": len(data), "digest": digest.hex()}
        )
    return records, entries


def artifact_update(name: str, change: str, old: list[ArtObj], new: list[ArtObj]) -> JSON:
    algorithm = ref.algorithm_id(ref.LTHASH, KIB)
    old_records, old_entries = artifact_entries(algorithm, old)
    new_records, new_entries = artifact_entries(algorithm, new)
    old_digest = ref.artifact_digest(algorithm, old_entries)
    new_digest = ref.artifact_digest(algorithm, new_entries)

    def eobj(e: ref.Entry) -> JSON:
        kind, n, size, digest = e
        return {
            "element": "EOBJ",
            "entry": {"kind": kind, "name": n, "size": size, "digest": digest.hex()},
            "value": lattice_hex(ref.lattice_object_element(algorithm, e)),
        }

    gone = ref.sort_entries(e for e in old_entries if e not in new_entries)
    came = ref.sort_entries(e for e in new_entries if e not in old_entries)
    acc = ref.lattice_from_bytes(old_digest)
    for e in gone:
        acc = ref.lattice_sub(acc, ref.lattice_object_element(algorithm, e))
    for e in came:
        acc = ref.lattice_add(acc, ref.lattice_object_element(algorithm, e))
    assert ref.lattice_bytes(acc) == new_digest, name
    assert new_digest != old_digest, name
    return {
        "name": name,
        "change": change,
        "algorithm": algorithm,
        "before": {"objects": old_records, "digest": old_digest.hex()},
        "subtract": [eobj(e) for e in gone],
        "add": [eobj(e) for e in came],
        "after": {"objects": new_records, "digest": new_digest.hex()},
    }


def artifact_update_vectors() -> list[JSON]:
    base: list[ArtObj] = [
        ("config.json", F, [seg((1, 5), 0, 300)]),
        ("model/a.bin", F, [seg((7, 1), 0, 2500)]),
        ("model/b.bin", F, [seg((1, 9), 0, 1100)]),
    ]
    added = ("tokenizer.json", F, [seg((7, 8), 0, 700)])
    changed = ("model/a.bin", F, [seg((7, 1), 0, 1024), seg(PATTERN_B, 0, 1476)])
    return [
        artifact_update("add_object", "object tokenizer.json added", base, [*base, added]),
        artifact_update("remove_object", "object model/b.bin removed", base, base[:2]),
        artifact_update(
            "change_object",
            "leaves 1 and 2 of model/a.bin changed",
            base,
            [base[0], changed, base[2]],
        ),
        artifact_update(
            "rename_object",
            "config.json renamed to config2.json (same bytes): one EOBJ out, one in",
            base,
            [("config2.json", F, base[0][2]), *base[1:]],
        ),
        artifact_update(
            "change_kind",
            "model/b.bin changed from FILE to TENSOR (same bytes)",
            base,
            [*base[:2], ("model/b.bin", T, base[2][2])],
        ),
        artifact_update("remove_all", "every object removed: the empty artifact", base, []),
    ]


def lattice_update_vectors() -> JSON:
    return {
        "comment": [
            "The update law of the lattice family lthash16-shake256 (spec sections 5 and 6): "
            'the digest "after" equals the digest "before", minus every element of "subtract", '
            'plus every element of "add" (lane-wise modulo 2^16 on 1024 little-endian uint16 '
            "lanes), and also equals a full recomputation of the new object or artifact.",
            CONTENT_TEXT,
            'Object updates: an element is ELEN = E(LE64(size) || LE64(L) || 0x11) ("input" is '
            "that input) or ELEM_i = E(d_i || LE64(i) || 0x10), whose leaf bytes d_i are given "
            'as a "leaf" content. Artifact updates (under gh1-lthash16-shake256-1k): an element '
            "is EOBJ(o) = E(STR(ID) || ENTRY(o) || 0x12) of the entry shown; objects are given "
            "with their content, kind, size and object digest.",
            HEX_TEXT,
            REGEN_TEXT,
        ],
        "spec_version": ref.SPEC_VERSION,
        "object_updates": object_update_vectors(),
        "artifact_updates": artifact_update_vectors(),
    }


# ---------------------------------------------------------------------------------------------
# proofs.json
# ---------------------------------------------------------------------------------------------

PROOF_L = KIB
# (leaves, size): full and partial last leaves, and the empty object.
PROOF_OBJECTS = [
    (1, 0),
    (1, 1000),
    (2, 2 * KIB),
    (3, 3 * KIB - 300),
    (5, 5 * KIB - 1),
    (8, 8 * KIB),
    (9, 9 * KIB - 700),
    (17, 17 * KIB - 512),
]


# (offset, length) byte ranges, mapped to the leaves covering them.
BYTE_RANGES = [
    (0, 0),
    (0, 1),
    (1023, 1),
    (1023, 2),
    (1024, 1024),
    (1024, 1025),
    (5000, 0),
    (2047, 4097),
    (0, 17 * KIB),
]


def proof_ranges(n: int) -> list[tuple[int, int]]:
    """(first, count): first leaf, last leaf, the whole object, and middle ranges."""
    candidates = [(0, 1), (n - 1, 1), (0, n), (n // 2, 1), (1, 2), (1, n - 2), (n // 2 - 1, 3)]
    candidates += [(3, 6), (0, n - 1)]
    out: list[tuple[int, int]] = []
    for first, count in candidates:
        if count >= 1 and first >= 0 and first + count <= n and (first, count) not in out:
            out.append((first, count))
    return out


def flip(b: bytes, index: int = 0) -> bytes:
    return b[:index] + bytes([b[index] ^ 0x01]) + b[index + 1 :]


def invalid_proofs(family: str, size: int, data: bytes, first: int, count: int) -> list[JSON]:
    """Tampered variants of a valid proof, each rejected by reference.verify_proof."""
    L = PROOF_L
    digest = ref.object_digest(family, data, L)
    leaves = ref.split_leaves(data, L)[first : first + count]
    nodes = ref.prove(family, data, L, first, count)
    n = ref.leaf_count(size, L)
    assert ref.verify_proof(family, L, size, digest, first, leaves, nodes)
    width = ref.DIGEST_SIZES[family]
    other = ref.object_digest(family, data[:-1] + bytes([data[-1] ^ 1]), L)
    variants: list[tuple[str, int, int, bytes, list[bytes], list[bytes]]] = []

    def add(reason: str, lv: list[bytes], nd: list[bytes], **kw: Any) -> None:
        variants.append(
            (reason, kw.get("size", size), kw.get("first", first), kw.get("digest", digest), lv, nd)
        )

    if nodes:
        add("a proof node has one bit flipped", leaves, [flip(nodes[0]), *nodes[1:]])
        add("the last proof node is dropped", leaves, nodes[:-1])
        add("a proof node is one byte short", leaves, [nodes[0][:-1], *nodes[1:]])
    if len(nodes) >= 2:
        add("the first two proof nodes are swapped", leaves, [nodes[1], nodes[0], *nodes[2:]])
    add("an extra (zero) proof node is appended", leaves, [*nodes, bytes(width)])
    add("a revealed leaf has one bit flipped", [flip(leaves[0], 5), *leaves[1:]], nodes)
    if len(leaves[-1]) == L:
        add("a full revealed leaf is one byte short", [*leaves[:-1], leaves[-1][:-1]], nodes)
    else:
        add("the last (partial) leaf has one extra byte", [*leaves[:-1], leaves[-1] + b"\0"], nodes)
    if first + count < n:
        add("the range is shifted by one leaf", leaves, nodes, first=first + 1)
    if first > 0:
        add("the range is shifted back by one leaf", leaves, nodes, first=first - 1)
    add("the range lies past the end of the object", leaves, nodes, first=n)
    add("no leaf is revealed (empty range)", [], nodes)
    add("the object digest is of other bytes", leaves, nodes, digest=other)
    if family in MERKLE:
        # For blake3 the size is bound only through the leaf count and the last leaf's length.
        add("the claimed size is one byte less (same leaf count)", leaves, nodes, size=size - 1)
    out: list[JSON] = []
    for reason, sz, fst, dg, lv, nd in variants:
        assert not ref.verify_proof(family, L, sz, dg, fst, lv, nd), reason
        out.append(
            {
                "family": family,
                "leaf_size": L,
                "algorithm": ref.algorithm_id(family, L),
                "size": sz,
                "digest": dg.hex(),
                "first": fst,
                "leaves": [x.hex() for x in lv],
                "nodes": [x.hex() for x in nd],
                "valid": False,
                "reason": reason,
                "tampered_from": {
                    "pattern": pat(PATTERN_A),
                    "size": size,
                    "first": first,
                    "count": count,
                },
            }
        )
    return out


def proof_vectors() -> JSON:
    valid: list[JSON] = []
    invalid: list[JSON] = []
    for family in TREE_FAMILIES:
        for n, size in PROOF_OBJECTS:
            data = pattern_bytes(*PATTERN_A, 0, size)
            assert ref.leaf_count(size, PROOF_L) == n
            digest = ref.object_digest(family, data, PROOF_L)
            leaves = ref.split_leaves(data, PROOF_L)
            for first, count in proof_ranges(n):
                nodes = ref.prove(family, data, PROOF_L, first, count)
                revealed = leaves[first : first + count]
                assert ref.verify_proof(family, PROOF_L, size, digest, first, revealed, nodes)
                valid.append(
                    {
                        "family": family,
                        "leaf_size": PROOF_L,
                        "algorithm": ref.algorithm_id(family, PROOF_L),
                        "pattern": pat(PATTERN_A),
                        "size": size,
                        "leaf_count": n,
                        "digest": digest.hex(),
                        "first": first,
                        "count": count,
                        "nodes": [x.hex() for x in nodes],
                        "valid": True,
                    }
                )
        for size, first, count in ((5 * KIB - 1, 1, 2), (9 * KIB - 700, 8, 1), (1000, 0, 1)):
            invalid += invalid_proofs(
                family, size, pattern_bytes(*PATTERN_A, 0, size), first, count
            )
    ranges: list[JSON] = []
    for offset, length in BYTE_RANGES:
        first, count = ref.leaf_range(offset, length, PROOF_L)
        ranges.append(
            {
                "offset": offset,
                "length": length,
                "leaf_size": PROOF_L,
                "first": first,
                "count": count,
            }
        )
    return {
        "comment": [
            "gpuhash v1 inclusion proofs (spec section 7) at L = 1024 for merkle-* and blake3.",
            '"valid": the object is the "size" bytes of "pattern"; the revealed leaves are '
            'leaves first .. first+count-1 of it (section 2.1), and "nodes" is the proof P in '
            "emission order (blake3: chaining values). A verifier given the algorithm, L, size, "
            "digest, first, those leaves and nodes must accept.",
            '"invalid": tampered proofs that a verifier must reject; "leaves" gives the exact '
            'revealed leaf bytes (hex), "reason" says what was tampered with and '
            '"tampered_from" the valid proof it was derived from.',
            '"leaf_ranges": the leaves (first, count) covering the byte range [offset, '
            "offset+length): first = floor(offset/L), count = max(first+1, ceil((offset+length)/L))"
            " - first. The formula is defined for empty ranges (length 0: the leaf holding byte "
            "offset), but a proof is made only for a non-empty range inside its object, or for "
            "[0, 0) of the empty object (section 7).",
            PATTERN_TEXT,
            HEX_TEXT,
            REGEN_TEXT,
        ],
        "spec_version": ref.SPEC_VERSION,
        "valid": valid,
        "invalid": invalid,
        "leaf_ranges": ranges,
    }


# ---------------------------------------------------------------------------------------------
# identifiers.json
# ---------------------------------------------------------------------------------------------

INVALID_IDS: list[tuple[str, str]] = [
    ("gh1-merkle-sha256-65536", "leaf size in bytes instead of 64k"),
    ("gh1-merkle-sha256-1024k", "non-canonical: 1024k is 1m"),
    ("gh1-merkle-sha256-2048k", "non-canonical: 2048k is 2m"),
    ("gh1-merkle-sha256-0k", "zero leaf size"),
    ("gh1-merkle-sha256-0m", "zero leaf size"),
    ("gh1-merkle-sha256-064k", "leading zero"),
    ("gh1-merkle-sha256-3k", "leaf size not a power of two"),
    ("gh1-merkle-sha256-48k", "leaf size not a power of two"),
    ("gh1-merkle-sha256-512", "leaf size below 1k and without unit"),
    ("gh1-merkle-sha256-32m", "leaf size above 16m"),
    ("gh1-merkle-sha256-1024m", "leaf size above 16m"),
    ("gh1-merkle-sha256-0.0625m", "fractional leaf size"),
    ("gh1-merkle-sha256-1.5m", "fractional leaf size"),
    ("gh1-merkle-sha256-+64k", "sign in the leaf size"),
    ("gh1-merkle-sha256-\uff16\uff14k", "non-ASCII (fullwidth) digits"),
    ("gh1-merkle-sha256-64K", "upper-case unit"),
    ("gh1-merkle-sha256-1M", "upper-case unit"),
    ("gh1-merkle-sha256-64kb", "unit spelled kb"),
    ("gh1-merkle-sha256-64kib", "unit spelled kib"),
    ("GH1-merkle-sha256-64k", "upper-case prefix"),
    ("gh1-MERKLE-SHA256-64k", "upper-case family"),
    ("gh1-Blake3", "upper-case family"),
    ("gh1-merkle-sha256", "missing leaf part"),
    ("gh1-merkle-sha256-", "empty leaf part"),
    ("gh1-lthash16-shake256", "missing leaf part"),
    ("gh1-merkle-sha256-64k-64k", "two leaf parts"),
    ("gh1-blake3-64k", "a leaf part on blake3"),
    ("gh1-blake3-1k", "a leaf part on blake3"),
    ("gh2-merkle-sha256-64k", "wrong version prefix"),
    ("gh0-blake3", "wrong version prefix"),
    ("merkle-sha256-64k", "missing prefix"),
    ("blake3", "missing prefix"),
    ("gh1merkle-sha256-64k", "prefix without its dash"),
    ("gh1_merkle-sha256-64k", "wrong prefix separator"),
    ("gh1-sha256-64k", "unknown family (missing merkle-)"),
    ("gh1-merkle-sha3_256-64k", "unknown family spelling"),
    ("gh1-merkle-keccak256-64k", "unknown family"),
    ("gh1-merkle-sha384-64k", "unknown family"),
    ("gh1-blake2b", "unknown family"),
    ("gh1-lthash16-shake128-64k", "unknown family"),
    ("gh1-lthash-64k", "unknown family"),
    ("gh1-merkle-64k", "unknown family"),
    ("gh1-", "prefix only"),
    ("", "empty string"),
    (" gh1-blake3", "leading space"),
    ("gh1-blake3 ", "trailing space"),
    ("gh1-merkle-sha256-64k\n", "trailing newline"),
    ("gh1-merkle-sha256_64k", "wrong leaf separator"),
]


def digest_line_vectors() -> JSON:
    """Digest lines (section 2.3) of one safetensors file hashed as a file and as tensors."""
    file = safetensors_file(VALID_SAFETENSORS[0][1], VALID_SAFETENSORS[0][2], 0)
    data = content_bytes(file["content"])
    name = "model.safetensors"
    split = [(o[0], o[1], o[2]) for o in ref.safetensors_objects(name, data)]
    valid: list[JSON] = []
    lines: dict[tuple[str, bool], str] = {}
    for ident in (ref.algorithm_id("merkle-sha256", 64 * KIB), ref.algorithm_id(ref.BLAKE3, KIB)):
        for objects, tensors in (([(name, ref.KIND_FILE, data)], False), (split, True)):
            entries, digest = ref.hash_artifact(ident, objects)
            line = ref.digest_line(ident, [e[0] for e in entries], digest)
            assert ref.parse_digest_line(line) == (ident, tensors, digest)
            lines[ident, tensors] = line
            valid.append(
                {
                    "line": line,
                    "id": ident,
                    "objects": "tensors" if tensors else "files",
                    "artifact_digest": digest.hex(),
                }
            )
    files_line = lines[ref.algorithm_id("merkle-sha256", 64 * KIB), False]
    head, _, hexdigest = files_line.partition(":")
    tensors_line = lines[ref.algorithm_id("merkle-sha256", 64 * KIB), True]
    invalid_lines = [
        (f"{head}+files:{hexdigest}", "an object-model token other than +tensors"),
        (f"{head}+Tensors:{hexdigest}", "upper-case token"),
        (f"{head}-tensors:{hexdigest}", "the token joined with a dash, as a leaf part"),
        (f"{head}+tensors+tensors:{hexdigest}", "the token twice"),
        (tensors_line.replace("-64k+tensors", "+tensors-64k"), "the token inside the identifier"),
        (f"{head}:{hexdigest.upper()}", "upper-case hex"),
        (f"{head}:{hexdigest[:-2]}", "digest one byte short"),
        (f"{head}:{hexdigest}00", "digest one byte long"),
        (f"{head} {hexdigest}", "no colon"),
        (f"{head}:{hexdigest}\n", "trailing newline"),
        (f"+tensors:{hexdigest}", "token without an identifier"),
    ]
    invalid: list[JSON] = []
    for line, reason in invalid_lines:
        try:
            ref.parse_digest_line(line)
        except ref.SpecError:
            invalid.append({"line": line, "reason": reason})
        else:
            raise AssertionError(f"the reference accepts the digest line {line!r}")
    return {"file_name": name, "content": file["content"], "valid": valid, "invalid": invalid}


def identifier_vectors() -> JSON:
    valid: list[JSON] = []
    for family in ref.FAMILIES:
        if not ref.uses_leaf_size(family):
            ident = ref.algorithm_id(family, DEFAULT_L)
            assert ref.parse_algorithm_id(ident) == (family, None)
            valid.append({"id": ident, "family": family, "leaf_size": None})
            continue
        for shift in range(10, 25):
            ident = ref.algorithm_id(family, 1 << shift)
            assert ref.parse_algorithm_id(ident) == (family, 1 << shift)
            valid.append({"id": ident, "family": family, "leaf_size": 1 << shift})
    invalid: list[JSON] = []
    for ident, reason in INVALID_IDS:
        try:
            ref.parse_algorithm_id(ident)
        except ref.SpecError:
            invalid.append({"id": ident, "reason": reason})
        else:
            raise AssertionError(f"the reference accepts {ident!r}")
    return {
        "comment": [
            'gpuhash v1 algorithm identifiers (spec section 2.2). Every "valid" identifier '
            'must parse to its family and leaf size in bytes ("leaf_size" null for blake3, whose '
            'identifier names none); every "invalid" one must be rejected: identifiers are '
            "matched exactly, with the canonical leaf spelling (N k for L < 2^20, N m from 2^20 "
            "on; L a power of two from 2^10 to 2^24).",
            '"digest_lines" (section 2.3): the one safetensors file "content" (named '
            '"file_name") hashed as one FILE object ("objects": "files") and split into its '
            'tensor objects ("tensors"); each "line" is ID, "+tensors" for the tensor form, ":" '
            'and the artifact digest in hex, and must parse to its "id", object model and '
            '"artifact_digest"; every "invalid" line must be rejected.',
            PATTERN_TEXT,
            HEX_TEXT,
            REGEN_TEXT,
        ],
        "spec_version": ref.SPEC_VERSION,
        "valid": valid,
        "invalid": invalid,
        "digest_lines": digest_line_vectors(),
    }


# ---------------------------------------------------------------------------------------------
# tensors.json: the objects of safetensors files (section 1.3)
# ---------------------------------------------------------------------------------------------


def safetensors_file(tensors: list[tuple[str, str, list[int]]], metadata: Any, pad: int) -> JSON:
    """A safetensors file as a content: the JSON header (tensors in the given order, data
    offsets packed in that order), padded with ``pad`` spaces, then pattern data."""
    header: dict[str, Any] = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    at = 0
    for name, dtype, shape in tensors:
        n = ref.SAFETENSORS_DTYPES[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + n]}
        at += n
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * pad
    prefix = ref.le64(len(text)) + text
    return {"content": [{"hex": prefix.hex()}, seg(PATTERN_B, 0, at)], "data_bytes": at}


VALID_SAFETENSORS: list[tuple[str, list[tuple[str, str, list[int]]], Any, int]] = [
    (
        "two tensors and metadata",
        [("model.embed.weight", "F32", [2, 3]), ("model.step", "I64", [4])],
        {"format": "pt"},
        5,
    ),
    (
        "a BF16 tensor over several 1 KiB leaves, a unicode name, an empty tensor",
        [("\u03c0.weight", "BF16", [40, 20]), ("empty", "F16", [0, 7]), ("bias", "F16", [3])],
        None,
        0,
    ),
    ("no tensors at all", [], {"note": "empty"}, 2),
    ("only empty tensors", [("a", "I8", [0]), ("b", "BOOL", [5, 0])], None, 1),
]


def _raw_header(header: bytes, data: bytes) -> str:
    return (ref.le64(len(header)) + header + data).hex()


def invalid_safetensors() -> list[JSON]:
    f32 = '{"dtype":"F32","shape":[2],"data_offsets":[%d,%d]}'
    cases = [
        ("header length beyond the file", "ffff000000000000" + b"{}".hex()),
        ("header not a JSON object", "0200000000000000" + b"[]".hex()),
        (
            "duplicate tensor name",
            _raw_header(('{"a":' + f32 % (0, 8) + ',"a":' + f32 % (0, 8) + "}").encode(), bytes(8)),
        ),
        (
            "a gap before the tensor",
            _raw_header(('{"a":' + f32 % (4, 12) + "}").encode(), bytes(12)),
        ),
        (
            "overlapping tensors",
            _raw_header(
                ('{"a":' + f32 % (0, 8) + ',"b":' + f32 % (4, 12) + "}").encode(), bytes(12)
            ),
        ),
        (
            "dtype x shape is not the byte length",
            _raw_header(b'{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', bytes(8)),
        ),
        (
            "bytes after the last tensor",
            _raw_header(('{"a":' + f32 % (0, 8) + "}").encode(), bytes(9)),
        ),
        (
            "unknown dtype",
            _raw_header(b'{"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}', bytes(1)),
        ),
    ]
    out = []
    for reason, data_hex in cases:
        try:
            ref.safetensors_objects("model.safetensors", bytes.fromhex(data_hex))
        except ref.SpecError:
            out.append({"reason": reason, "content": [{"hex": data_hex}]})
        else:
            raise AssertionError(f"the reference accepts a file with {reason}")
    return out


def tensor_vectors() -> JSON:
    algorithms = [ref.algorithm_id("merkle-sha256", KIB), ref.algorithm_id(ref.BLAKE3, KIB)]
    valid: list[JSON] = []
    for label, tensors, metadata, pad in VALID_SAFETENSORS:
        file = safetensors_file(tensors, metadata, pad)
        data = content_bytes(file["content"])
        objects = ref.safetensors_objects("model.safetensors", data)
        record: JSON = {
            "label": label,
            "file_name": "model.safetensors",
            "content": file["content"],
            "objects": [
                {
                    "name_hex": name_hex(name),
                    "kind": KIND_NAMES[kind],
                    "size": len(body),
                    "tensor": None
                    if info is None
                    else {"dtype": info[0], "shape": info[1], "offset": info[2]},
                }
                for name, kind, body, info in objects
            ],
            "digests": {},
        }
        for algorithm in algorithms:
            entries, artifact = ref.hash_artifact(algorithm, [(o[0], o[1], o[2]) for o in objects])
            record["digests"][algorithm] = {
                "objects": {name_hex(e[1]): e[3].hex() for e in entries},
                "artifact": artifact.hex(),
            }
        valid.append(record)
    return {
        "comment": [
            "gpuhash v1 tensor objects of safetensors files (spec section 1.3). Each valid "
            'file (its bytes: "content") hashed with tensor objects as a one-file model named '
            '"model.safetensors" has exactly the listed objects (names as UTF-8 hex, kinds, '
            "sizes, tensor metadata with the offset in the file) and, per algorithm, these "
            "object digests and artifact digest. Each invalid file must be rejected.",
            CONTENT_TEXT,
            REGEN_TEXT,
        ],
        "spec_version": ref.SPEC_VERSION,
        "valid": valid,
        "invalid": invalid_safetensors(),
    }


# ---------------------------------------------------------------------------------------------
# Writing and checking
# ---------------------------------------------------------------------------------------------

GENERATORS = {
    "identifiers.json": identifier_vectors,
    "objects.json": object_vectors,
    "artifacts.json": artifact_vectors,
    "lattice_updates.json": lattice_update_vectors,
    "proofs.json": proof_vectors,
    "tensors.json": tensor_vectors,
}


def render() -> dict[str, str]:
    """Every vector file's exact text, by file name."""
    return {
        name: json.dumps(make(), indent=1, sort_keys=True, ensure_ascii=True) + "\n"
        for name, make in GENERATORS.items()
    }


def stale_files(directory: Path = HERE) -> list[str]:
    """The names of the vector files in ``directory`` that are missing or differ from render()."""
    stale = []
    for name, text in render().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a checked-in vector file is stale"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        action="append",
        help="a vector directory to write or check (repeatable; default: this script's and the "
        "conformance suite's copy)",
    )
    args = parser.parse_args(argv)
    directories: list[Path] = args.dir or [HERE, SHIPPED]
    if args.check:
        status = 0
        for directory in directories:
            stale = stale_files(directory)
            for name in stale:
                print(f"stale or missing: {(directory / name).as_posix()}")
            if stale:
                status = 1
            else:
                print(f"{len(GENERATORS)} vector files in {directory.as_posix()} are up to date")
        if status:
            print(f"regenerate with: {REGENERATE_COMMAND}")
        return status
    rendered = render()
    for directory in directories:
        for name, text in rendered.items():
            (directory / name).write_text(text, encoding="utf-8", newline="\n")
            print(f"wrote {(directory / name).as_posix()} ({len(text.encode('utf-8'))} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
