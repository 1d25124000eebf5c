"""Peak memory of gpuhash's parsers on large inputs (docs/security.md, "Parser limits").

    python benchmarks/parser_memory.py [--objects 262144] [--payload-mib 64] [--only NAME]
    python benchmarks/parser_memory.py --at-limits

Each input is generated into a temporary directory, then parsed in a fresh child process: the
child reads the file, notes its peak resident memory (``VmHWM``, Linux), parses, and prints the
growth of the peak, the input's size and their ratio, and whether the parser accepted it.

The safetensors headers list zero-size tensors, the most objects a header's bytes can ask for:
``safetensors-N`` (N tensors, short names), ``safetensors-names-LB-N`` (the longest header,
``reference.MAX_HEADER_BYTES``, of N tensors with names of L bytes), ``safetensors-dims-64-N``
(N tensors of 64 dimensions, the most a tensor may have) and ``safetensors-metadata-N`` (the
longest header of one ``__metadata__`` of N short strings).
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

CHILD = r"""
import sys, time
def hwm():  # the peak resident memory of this process (not inherited across exec, unlike ru_maxrss)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
name, path = sys.argv[1], sys.argv[2]
kind = name.removeprefix("limit-")
import gpuhash.manifest, gpuhash.signing.envelope, gpuhash.signing.native, gpuhash.proofs
from gpuhash.formats import safetensors
data = open(path, "rb").read()
size = len(data)
base = hwm()
t = time.perf_counter()
verdict = "accepted"
try:
    if kind.startswith("manifest-json"):
        gpuhash.manifest.Manifest.from_json(data)
    elif kind.startswith("manifest-pb"):
        gpuhash.manifest.Manifest.from_bytes(data)
    elif kind.startswith("bundle"):
        from gpuhash.signing import envelope
        envelope.not_a_bundle(data)
        envelope.parse_bundle(data)
    elif kind.startswith("signed-statement"):  # what verify parses, but the signature check
        from gpuhash.signing import envelope, native
        envelope.not_a_bundle(data)
        env = envelope.parse_bundle(data)
        envelope.verification_material(env)
        payload_type, payload = env.payload_type, env.payload
        del env, data
        native.parse(envelope.parse_statement(payload_type, payload))
    elif kind.startswith("statement"):
        from gpuhash.signing import envelope, native
        native.parse(envelope.parse_statement(envelope.PAYLOAD_TYPE, data))
    elif kind.startswith("gguf"):
        from gpuhash.sources import Source
        from gpuhash import reference as ref
        from gpuhash.formats import gguf
        src = Source(name="m.gguf", path=path, size=size, kind=ref.KIND_FILE)
        gguf.gguf_sources(src)
    elif kind.startswith("safetensors"):
        from gpuhash.sources import Source
        from gpuhash import reference as ref
        src = Source(name="m.safetensors", path=path, size=size, kind=ref.KIND_FILE)
        safetensors.tensor_sources(src)
except Exception as e:
    verdict = "refused: " + str(e)[:70]
grow = max(0, hwm() - base)
print(f"{name:28} {size / 2**20:8.1f} MiB  peak +{grow / 2**20:7.0f} MiB  "
      f"{grow / size:5.1f}x  {time.perf_counter() - t:6.1f} s  {verdict}")
"""


def _manifest(n: int, pad: int = 0) -> object:
    from gpuhash import reference as ref
    from gpuhash.algorithms import resolve_algorithm
    from gpuhash.digests import ObjectDigest
    from gpuhash.manifest import Manifest

    alg = resolve_algorithm("merkle-sha256")
    objects = [
        ObjectDigest(f"layers/{i:07d}/{'w' * pad}weights.bin", ref.KIND_FILE, i, bytes(32))
        for i in range(n)
    ]
    return Manifest.build(alg, objects)


def _compact_tensors(n: int) -> bytes:
    """A manifest of ``n`` tensors of four dimensions with short names, as compact JSON (no
    indentation: what another writer may produce), the densest real manifest."""
    from gpuhash import reference as ref
    from gpuhash.algorithms import resolve_algorithm
    from gpuhash.digests import ObjectDigest
    from gpuhash.manifest import Manifest

    def tensor(i: int) -> ObjectDigest:
        info = {"dtype": "F32", "shape": [i, 4, 3, 2], "source": "m.safetensors", "offset": 4 * i}
        return ObjectDigest(f"m.safetensors#l.{i}.w", ref.KIND_TENSOR, 4 * i, bytes(32), info)

    objects = sorted((tensor(i) for i in range(n)), key=lambda o: o.name.encode())
    manifest = Manifest.build(resolve_algorithm("merkle-sha256"), objects)
    return json.dumps(json.loads(manifest.to_json()), separators=(",", ":")).encode()


def _filling(n: int, limit: int, encode: Callable[[Any], bytes]) -> bytes:
    """The encoding (``encode(manifest)``) of a manifest of ``n`` objects whose names are padded
    to make it as large as ``limit`` allows."""
    pad, data = 0, b""
    while True:
        data = encode(_manifest(n, pad))
        room = (limit - len(data)) // n
        if room <= 0:
            break
        pad += room
    while len(data) > limit:  # a length prefix grew a byte: step back
        pad -= 1
        data = encode(_manifest(n, pad))
    return data


def _statement(manifest: Any) -> bytes:
    from gpuhash.signing import envelope, native

    return envelope.statement_bytes(
        "model",
        native.subject_digest(manifest),
        native.PREDICATE_TYPE,
        native.predicate(manifest, None),
    )


def _bundle(payload: bytes, **extra: object) -> bytes:
    """A Sigstore bundle shaped like a key bundle around ``payload`` (the signature is not
    checked: what is measured is the parsing)."""
    from gpuhash.signing import envelope

    body = {
        "mediaType": envelope.BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": "00"}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": envelope.PAYLOAD_TYPE,
            "signatures": [{"sig": "AAAA", "keyid": ""}],
        },
        **extra,
    }
    return json.dumps(body).encode()


def at_limits() -> dict[str, Callable[[], bytes]]:
    """Inputs as large as the limits admit: 2^18 objects (spec section 1.2) with names padded to
    fill a manifest of ``MAX_MANIFEST_BYTES``, and a signature of ``MAX_SIGNATURE_BYTES``."""
    from gpuhash import limits
    from gpuhash import reference as ref

    n = ref.MAX_OBJECTS
    most = limits.MAX_MANIFEST_BYTES
    statement_room = (limits.MAX_SIGNATURE_BYTES - limits.MIB) * 3 // 4
    return {
        "limit-manifest-json": lambda: _filling(n, most, lambda m: m.to_json().encode()),
        "limit-manifest-pb": lambda: _filling(n, most, lambda m: m.to_bytes()),
        "limit-signed-statement": lambda: _bundle(_filling(n, statement_room, _statement)),
    }


def inputs(objects: int, payload_mib: int) -> dict[str, Callable[[], bytes]]:
    """The inputs, by name, each generated when called."""
    from gpuhash.reference import MAX_HEADER_BYTES

    @functools.cache
    def manifest() -> Any:
        return _manifest(objects)

    def statement() -> bytes:
        return _statement(manifest())

    bundle = _bundle

    def safetensors(
        names: Iterable[str], shape: list[int], metadata: dict[str, str] | None = None
    ) -> bytes:
        header: dict[str, object] = {"__metadata__": metadata} if metadata else {}
        for name in names:  # zero-size tensors: the most objects per byte of header
            header[name] = {"dtype": "U8", "shape": shape, "data_offsets": [0, 0]}
        head = json.dumps(header, separators=(",", ":")).encode()
        return len(head).to_bytes(8, "little") + head

    def dense(item: str, n: int) -> bytes:
        return ("[" + ",".join([item] * n) + "]").encode()

    def distinct(n: int) -> bytes:
        per = max(1, min(38, (MAX_HEADER_BYTES // n - 60) // 8))
        header = {
            f"t{i}": {
                "dtype": "U8",
                "shape": [0, *range(1_000_000 + i * per, 1_000_000 + (i + 1) * per)],
                "data_offsets": [0, 0],
            }
            for i in range(n)
        }
        head = json.dumps(header, separators=(",", ":")).encode()[: MAX_HEADER_BYTES + 1]
        return len(head).to_bytes(8, "little") + head

    def gguf_file(n: int) -> bytes:
        """A GGUF file of ``n`` one-element F32 tensors (the most tensors per byte of file:
        an info of 32 bytes and 32 bytes of data each, at the default alignment)."""
        import struct

        infos = b"".join(
            struct.pack("<Q", len(f"t{i}"))
            + f"t{i}".encode()
            + struct.pack("<IQIQ", 1, 1, 0, 32 * i)
            for i in range(n)
        )
        head = b"GGUF" + struct.pack("<IQQ", 3, n, 0) + infos
        head += bytes(-len(head) % 32)
        return head + (b"\0" * 4 + bytes(28)) * n

    # The longest header (MAX_HEADER_BYTES) of as many tensors, their names as long as fits:
    # each tensor takes its name and 51 bytes ("":{"dtype":...,"data_offsets":[0,0]},).
    long = max(8, (MAX_HEADER_BYTES - 2) // objects - 51)
    # The longest header of one __metadata__ of short strings: 14 bytes per pair ("k0000000":"",).
    pairs = (MAX_HEADER_BYTES - 20) // 14
    # As many tensors of the most dimensions (64) as fit: about 310 bytes each.
    dims = [0] + [999] * 63
    deep = min(objects, MAX_HEADER_BYTES // 320)
    pad = payload_mib << 20
    return {
        f"manifest-json-{objects}": lambda: manifest().to_json().encode(),
        f"manifest-pb-{objects}": lambda: manifest().to_bytes(),
        f"manifest-json-compact-tensors-{objects}": lambda: _compact_tensors(objects),
        f"statement-{objects}": statement,
        f"signed-statement-{objects}": lambda: bundle(statement()),
        f"bundle-payload-{payload_mib}MiB": lambda: bundle(os.urandom(pad * 3 // 4)),
        # Under the size limit, so that the values limit is what refuses it.
        f"bundle-pad-zeros-{payload_mib}MiB": lambda: bundle(
            b"{}", pad=[0] * (pad // 2 - (1 << 20))
        ),
        f"bundle-pad-string-{payload_mib}MiB": lambda: bundle(b"{}", pad="A" * pad),
        # As many values as a manifest may hold (2^23): two-letter strings (40 MiB of JSON, 618
        # MiB to parse before the reckoning of docs/security.md) or one-key objects holding one
        # (29 MiB, 746 MiB to parse before).
        "manifest-json-dense-strings": lambda: dense('"ab"', (1 << 23) - 2),
        "manifest-json-dense-objects": lambda: dense('{"a":"xy"}', (1 << 23) // 3 - 1),
        f"safetensors-{objects}": lambda: safetensors((f"t{i}" for i in range(objects)), [0]),
        f"safetensors-names-{long}B-{objects}": lambda: safetensors(
            (f"t{i:0{long - 1}d}" for i in range(objects)), [0]
        ),
        f"safetensors-dims-64-{deep}": lambda: safetensors((f"t{i}" for i in range(deep)), dims),
        # Zero-size tensors of many large dimensions, distinct across the header (not shared).
        f"safetensors-distinct-dims-{objects}": lambda: distinct(objects),
        f"gguf-{objects}": lambda: gguf_file(objects),
        # As many of them as the limit on dimensions in all (2^21) admits: 39 per tensor.
        "safetensors-distinct-dims-2^21": lambda: distinct((1 << 21) // 39),
        f"safetensors-metadata-{pairs}": lambda: safetensors(
            (), [0], {f"k{i:07d}": "" for i in range(pairs)}
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1 << 18)
    parser.add_argument("--payload-mib", type=int, default=64)
    parser.add_argument("--only", default="")
    parser.add_argument(
        "--at-limits",
        action="store_true",
        help="inputs as large as the limits admit (2^18 objects, names padded to fill them)",
    )
    args = parser.parse_args()
    generated = at_limits() if args.at_limits else inputs(args.objects, args.payload_mib)
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in generated.items():
            if args.only not in name:
                continue
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(make())
            subprocess.run([sys.executable, "-c", CHILD, name, path], check=True)
            os.unlink(path)


if __name__ == "__main__":
    main()
