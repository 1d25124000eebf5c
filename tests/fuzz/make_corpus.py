"""Regenerate the fuzzing seed corpus (``tests/fuzz/corpus/``), the small model the targets run
against (``tests/fuzz/model/``) and the test-only key pair that signs the bundle seeds
(``tests/fuzz/keys/``): ``python -m fuzz.make_corpus`` from ``tests/`` (``PYTHONPATH=tests``).

Every seed is written by the format's own writer: safetensors by the ``safetensors`` package,
GGUF by gguf-py's ``GGUFWriter``, manifests, bundles and proofs by gpuhash itself; the
model_signing bundles and statements come from ``tests/data/model-signing-goldens``. Seeds are
kept to a few KiB each, so one execution stays quick. Inputs that once broke a parser
(``crash-*`` files) are kept beside the seeds and are not rewritten here.
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
MODEL = HERE / "model"
KEYS = HERE / "keys"
GOLDENS = HERE.parent / "data" / "model-signing-goldens"
#: The leaf size of the seeds made with a tree algorithm: small, so a few KiB have several leaves.
LEAF = 1024


def write_model(root: Path) -> None:
    """The fuzzing model: a plain file of a few leaves, a JSON file and a safetensors file."""
    from safetensors.numpy import save_file

    root.mkdir(parents=True, exist_ok=True)
    (root / "data.bin").write_bytes(bytes((i * 7 + i // 251) & 0xFF for i in range(5000)))
    (root / "config.json").write_text('{"model_type": "fuzz", "layers": 2}\n')
    save_file(
        {
            "w": np.arange(12, dtype=np.float32).reshape(3, 4),
            "b": np.array([1, 2, 3], dtype=np.int16),
        },
        str(root / "weights.safetensors"),
        metadata={"format": "np"},
    )


def write_keys(folder: Path) -> None:
    """A fresh ECDSA P-256 key pair: ``fuzz-key.pem`` and ``fuzz-pub.pem`` (test-only)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    (folder / "fuzz-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (folder / "fuzz-pub.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def gguf_seed(path: Path) -> None:
    """A small GGUF file: a few metadata kinds (string, integer, array) and three tensors."""
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_string("general.name", "fuzz")
    w.add_array("tokenizer.ggml.tokens", ["a", "bc"])
    w.add_uint32("general.alignment", 32)
    w.add_tensor("token_embd.weight", np.arange(8, dtype=np.float32).reshape(2, 4))
    w.add_tensor("blk.0.attn_q.weight", np.ones((3, 2), dtype=np.float16))
    q8 = np.zeros((1, 34), dtype=np.uint8)  # one 32-weight Q8_0 block
    w.add_tensor("blk.0.ffn.weight", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _put(parser: str, name: str, data: bytes) -> None:
    folder = CORPUS / parser
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def _payload(bundle: bytes) -> bytes:
    return base64.b64decode(json.loads(bundle)["dsseEnvelope"]["payload"])


def make(new_keys: bool = False) -> None:
    """Write the model, the keys (only when missing or ``new_keys``) and every seed."""
    import gpuhash
    from gpuhash.proofs import prove_object

    if MODEL.exists():
        shutil.rmtree(MODEL)
    write_model(MODEL)
    if new_keys or not (KEYS / "fuzz-key.pem").exists():
        write_keys(KEYS)
    for folder in CORPUS.glob("*"):  # seeds are rewritten; inputs found by fuzzing are kept
        for seed in folder.glob("seed-*"):
            seed.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        st = MODEL / "weights.safetensors"
        _put("safetensors", "seed-model.safetensors", st.read_bytes())
        empty = work / "empty.safetensors"
        from safetensors.numpy import save_file

        save_file({}, str(empty))
        _put("safetensors", "seed-empty.safetensors", empty.read_bytes())
        gguf_seed(work / "model.gguf")
        _put("gguf", "seed-model.gguf", (work / "model.gguf").read_bytes())

        kinds = [
            ("merkle-sha256", "files"),
            ("blake3", "tensors"),
            ("lthash16-shake256", "files"),
            ("merkle-sha3-256", "tensors"),
        ]
        for alg, objects in kinds:
            m = gpuhash.hash_path(MODEL, algorithm=alg, leaf_size=LEAF, objects=objects)
            stem = f"seed-{alg}-{objects}"
            _put("manifest-json", f"{stem}.json", m.without_stat().to_json().encode())
            _put("manifest-pb", f"{stem}.pb", m.without_stat().to_bytes())
            _put("incremental", f"{stem}.json", m.to_json().encode())
        m = gpuhash.hash_path(MODEL, algorithm="merkle-sha512", leaf_size=LEAF)
        _put("incremental", "seed-merkle-sha512-files.pb", m.to_bytes())

        key = KEYS / "fuzz-key.pem"
        signs = [
            ("gpuhash", {"algorithm": "merkle-sha256", "leaf_size": LEAF, "range_size": 2 * LEAF}),
            ("gpuhash-tensors", {"algorithm": "blake3", "objects": "tensors"}),
            ("oms", {"format": "oms"}),
            ("oms-shards", {"format": "oms", "shard_size": 2048}),
        ]
        for label, options in signs:
            sig = work / f"{label}.sig"
            gpuhash.sign(MODEL, sig, method="key", private_key=key, **options)  # type: ignore[arg-type]
            _put("bundle", f"seed-{label}.sig", sig.read_bytes())
            _put("statement", f"seed-{label}.json", _payload(sig.read_bytes()))
        for kind in ("elliptic-key", "certificate"):
            golden = (GOLDENS / f"v1.1.0-{kind}" / "model.sig").read_bytes()
            _put("bundle", f"seed-model-signing-{kind}.sig", golden)
        golden = (GOLDENS / "v1.0.0-elliptic-key" / "model.sig").read_bytes()
        _put("statement", "seed-model-signing-single-file.json", _payload(golden))

        proofs = [
            ("merkle-sha256", "files", "data.bin", 1500, 3000),
            ("merkle-sha256", "files", "config.json", 0, 1),
            ("blake3", "tensors", "weights.safetensors::w", 0, 48),
        ]
        for alg, objects, name, start, end in proofs:
            p = prove_object(
                MODEL, name, start, end, algorithm=alg, leaf_size=LEAF, objects=objects
            )
            stem = name.replace("::", "-").replace(".", "-")
            _put("proof", f"seed-{alg}-{stem}.json", p.to_json().encode())


if __name__ == "__main__":
    make()
