"""Bugs that outside users and an outside implementation found (issue 16), each pinned by a
test that failed before its fix: options accepted and ignored, files read whole without a
limit, destinations checked only after hashing, a command hashing its own output, an
identifier that did not name the object model, documentation claims about model_signing,
certificate signatures that could never verify, empty ranges, a manifest given as a
signature, and BLAKE3 leaf sizes lost when signing.

Everything runs for real (the cli in-process, model_signing's own CLI as a subprocess); where a
test must show that a file is *not* memory-mapped, it makes mapping a file fail, which is the
only observable difference.
"""

from __future__ import annotations

import datetime
import mmap
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_run import one_error_line, run
from safetensors.numpy import save_file

import gpuhash
from gpuhash import limits, proofs
from gpuhash import reference as ref
from gpuhash.proofs import Proof


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """Files over the engine's 1 MiB mapping threshold, small files, and a safetensors file
    whose data is over it too."""
    rng = random.Random(16)
    m = tmp_path / "model"
    (m / "sub").mkdir(parents=True)
    (m / "big.bin").write_bytes(rng.randbytes((1 << 20) + 3 * 1024 + 17))
    (m / "sub" / "small.bin").write_bytes(rng.randbytes(3 * 1024 + 5))
    (m / "config.json").write_bytes(b'{"layers": 2}\n')
    save_file(
        {
            "w": np.arange(300_000, dtype=np.float32).reshape(600, 500),
            "b": np.ones(7, dtype=np.float16),
        },
        str(m / "model.safetensors"),
    )
    return m


@pytest.fixture
def no_file_mapping(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Mapping a file raises (anonymous memory is still allowed); yields the refused fds."""
    real = mmap.mmap
    refused: list[int] = []

    def guarded(fileno: int, *args: object, **kwargs: object) -> mmap.mmap:
        if fileno != -1:
            refused.append(fileno)
            raise OSError(19, "file mapping forbidden by the test")
        return real(fileno, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(mmap, "mmap", guarded)
    return refused


# -- 1. --no-mmap is honoured by prove and verify --------------------------------------------------


@pytest.mark.parametrize("family", ["merkle-sha256", "blake3"])
def test_prove_no_mmap_reads_and_gives_the_same_proof(
    model: Path,
    tmp_path: Path,
    family: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    no_file_mapping: list[int],
) -> None:
    # Small windows, so that subtrees larger than one read are split and joined.
    monkeypatch.setattr(proofs, "READ_WINDOW", 4096)
    data = random.Random(7).randbytes(20 * 1024 + 7)  # 21 leaves: subtrees over 4 leaves split
    (model / "mid.bin").write_bytes(data)
    L = 1024
    n = ref.leaf_count(len(data), L)
    for start, end in ((0, 1), (5000, 9000), (len(data) - 1, len(data)), (0, len(data))):
        out = tmp_path / "p.json"
        argv = ["prove", model, "--object", "mid.bin", "--range", f"{start}:{end}", "-o", out]
        code, _, err = run(capsys, *argv, "-a", family, "-l", "1k", "--no-mmap")
        assert code == 0, err
        proof = Proof.from_json(out.read_bytes())
        first, count = ref.leaf_range(start, end - start, L)
        assert (proof.first_leaf, proof.leaf_count) == (first, count)
        # Independently: the stdlib reference over the file's bytes.
        assert list(proof.nodes) == ref.prove(family, data, L, first, count)
        assert first + count <= n
    assert no_file_mapping == []


def test_prove_with_mmap_maps(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_file_mapping: list[int]
) -> None:
    """The guard itself: with --mmap (before issue 12, the default) prove maps the file, so the
    test above can fail."""
    argv = ["prove", model, "--object", "big.bin", "--range", "0:1", "-o", tmp_path / "p.json"]
    code, _, _ = run(capsys, *argv, "--mmap")
    assert code == 2
    assert no_file_mapping


@pytest.mark.parametrize(
    ("label", "sign_options"),
    [
        ("files", []),
        ("tensors", ["--objects", "tensors"]),
        ("oms", ["--format", "oms"]),
        ("oms-shards", ["--format", "oms", "--shard-size", "4096"]),
    ],
)
def test_verify_no_mmap_on_every_path(
    model: Path,
    tmp_path: Path,
    label: str,
    sign_options: list[str],
    capsys: pytest.CaptureFixture[str],
    ec_keys: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    private, public = ec_keys
    sig = tmp_path / "m.sig"
    code, _, err = run(
        capsys, "sign", "key", model, "--signature", sig, "--private-key", private, *sign_options
    )
    assert code == 0, err
    verify = ["verify", "key", model, "--signature", sig, "--public-key", public, "--no-mmap"]
    refused: list[int] = []
    real = mmap.mmap

    def guarded(fileno: int, *args: object, **kwargs: object) -> mmap.mmap:
        if fileno != -1:
            refused.append(fileno)
            raise OSError(19, "file mapping forbidden by the test")
        return real(fileno, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(mmap, "mmap", guarded)
    code, out, err = run(capsys, *verify)
    assert code == 0, err
    assert out.startswith(f"verified {model}")
    # Still a real check: a changed byte (of the big file, or inside the tensor) fails.
    target = model / ("model.safetensors" if label == "tensors" else "big.bin")
    with open(target, "r+b") as f:
        f.seek(-3, os.SEEK_END)
        byte = f.read(1)
        f.seek(-3, os.SEEK_END)
        f.write(bytes([byte[0] ^ 1]))
    code, out, _ = run(capsys, *verify)
    assert code == 1
    assert f"changed: {target.name}" in out
    assert refused == []


# -- 2. small files are read with a limit ------------------------------------------------------


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
    return path


@pytest.mark.parametrize("source", ["oversized", "/dev/zero"])
def test_key_certificate_proof_manifest_signature_limits(
    model: Path,
    tmp_path: Path,
    source: str,
    capsys: pytest.CaptureFixture[str],
    ec_keys: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    private, public = ec_keys
    sig = tmp_path / "m.sig"
    assert run(capsys, "sign", "key", model, "--signature", sig, "--private-key", private)[0] == 0
    # The GiB limits are lowered so that the test reads megabytes, not gigabytes; they are read
    # where the files are read, so the code under test is the same.
    monkeypatch.setattr(limits, "MAX_MANIFEST_BYTES", 3 << 20)
    monkeypatch.setattr(limits, "MAX_SIGNATURE_BYTES", 5 << 20)

    def big(limit: int) -> Path:
        if source == "/dev/zero":
            return Path("/dev/zero")
        return _sparse(tmp_path / f"big-{limit}", limit + 1)

    verify = ["verify", "key", model, "--signature"]
    sign_new = ["sign", "key", model, "--signature", tmp_path / "new.sig"]
    verify_cert = ["verify", "certificate", model, "--signature", sig]
    cases = [
        ([*verify, sig, "--public-key", big(limits.MAX_KEY_BYTES)], limits.MAX_KEY_BYTES),
        (
            [*sign_new, "--private-key", big(limits.MAX_KEY_BYTES)],
            limits.MAX_KEY_BYTES,
        ),
        (
            [*verify_cert, "--certificate-chain", big(limits.MAX_CERTIFICATE_BYTES)],
            limits.MAX_CERTIFICATE_BYTES,
        ),
        (
            [*verify, sig, "--public-key", public, "--range", big(limits.MAX_PROOF_BYTES)],
            limits.MAX_PROOF_BYTES,
        ),
        (
            ["hash", model, "--incremental", big(limits.MAX_MANIFEST_BYTES)],
            limits.MAX_MANIFEST_BYTES,
        ),
        (
            [*verify, big(limits.MAX_SIGNATURE_BYTES), "--public-key", public],
            limits.MAX_SIGNATURE_BYTES,
        ),
    ]
    for argv, limit in cases:
        code, out, err = run(capsys, *argv)
        assert code == 2, (argv, err)
        assert out == ""
        shown = "/dev/zero" if source == "/dev/zero" else f"big-{limit}"
        one_error_line(err, shown, limits.describe_size(limit))


def test_limits_are_what_the_docs_say() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "signing.md").read_text("utf-8")
    for limit in (limits.MAX_KEY_BYTES, limits.MAX_MANIFEST_BYTES, limits.MAX_SIGNATURE_BYTES):
        assert limits.describe_size(limit) in docs
    assert limits.describe_size(1 << 20) == "1 MiB"
    assert limits.describe_size(3 << 29) == "1.5 GiB"
    assert limits.describe_size(1000) == "1000 bytes"


# -- 3. destinations are checked before hashing ------------------------------------------------


def _as_unprivileged(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gpuhash argv``; as root, without the capability to ignore modes."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv: directory modes do not apply")
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "gpuhash", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("command", ["hash", "sign", "prove"])
def test_unwritable_destination_fails_before_hashing(
    model: Path, tmp_path: Path, command: str, ec_keys: tuple[Path, Path]
) -> None:
    """A read-only output directory is reported, naming the user's path, before anything is
    hashed: the model here holds a symbolic link that hashing would refuse first."""
    (model / "link").symlink_to("config.json")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        dest = str(locked / "out.json")
        argv = {
            "hash": ["hash", str(model), "-o", dest],
            "sign": [
                "sign",
                "key",
                str(model),
                "--signature",
                dest,
                "--private-key",
                str(ec_keys[0]),
            ],
            "prove": ["prove", str(model), "--object", "link", "--range", "0:1", "-o", dest],
        }[command]
        proc = _as_unprivileged(argv)
        if proc.returncode == 2 and "link" in proc.stderr and "cannot write" not in proc.stderr:
            probe = _as_unprivileged(["hash", str(model / "config.json"), "-o", dest])
            if "cannot write" not in probe.stderr and probe.returncode == 0:
                pytest.skip("this machine lets the process write into a mode-555 directory")
        assert proc.returncode == 2, proc.stderr
        one_error_line(proc.stderr, dest, "cannot write here")
        assert ".tmp" not in proc.stderr
        assert os.listdir(locked) == []
    finally:
        locked.chmod(0o755)


def test_write_errors_name_the_destination(tmp_path: Path) -> None:
    from gpuhash import atomic

    with pytest.raises(FileNotFoundError) as info:
        atomic.write_atomic(tmp_path / "missing" / "out.json", b"x")
    assert info.value.filename == os.fspath(tmp_path / "missing" / "out.json")


# -- 4. hash -o inside the model ---------------------------------------------------------------


def test_hash_output_inside_the_model_is_not_hashed(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = model / "manifest.json"
    expected = ref.hash_model(str(model), "gh1-merkle-sha256-64k", (), False)[1].hex()
    lines = []
    for argv in (
        ["hash", model, "-o", out],
        ["hash", model, "--incremental", out, "-o", out],
        ["hash", model, "--incremental", out, "-o", out],
        ["hash", model, "--incremental", out, "-o", out, "--full"],
    ):
        code, stdout, err = run(capsys, *argv)
        assert code == 0, err
        lines.append(stdout.splitlines()[-1])
        assert "manifest.json" not in stdout
    assert lines == [f"gh1-merkle-sha256-64k:{expected}"] * 4
    # The previous manifest inside the model is not an object either, without -o.
    code, stdout, _ = run(capsys, "hash", model, "--incremental", out)
    assert code == 0
    assert stdout.splitlines()[-1] == lines[0]


# -- 9. a file that is not a signature -----------------------------------------------------------


def test_not_a_signature_says_what_it_is(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], ec_keys: tuple[Path, Path]
) -> None:
    public = ec_keys[1]
    manifest_json, manifest_pb = tmp_path / "m.json", tmp_path / "m.pb"
    assert run(capsys, "hash", model, "-o", manifest_json)[0] == 0
    assert run(capsys, "hash", model, "-o", manifest_pb)[0] == 0
    proof = tmp_path / "p.json"
    argv = ["prove", model, "--object", "config.json", "--range", "0:1", "-o", proof]
    assert run(capsys, *argv)[0] == 0
    garbage = tmp_path / "garbage"
    garbage.write_bytes(bytes(range(256)) * 4)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]", encoding="utf-8")
    for path, what in (
        (manifest_json, "is a gpuhash manifest (JSON)"),
        (manifest_pb, "is a gpuhash manifest (protobuf)"),
        (proof, "is a gpuhash inclusion proof"),
        (garbage, "is neither JSON nor a gpuhash manifest"),
        (empty, "is empty"),
        (listed, "is a JSON list"),
    ):
        argv = ["verify", "key", model, "--signature", path, "--public-key", public]
        code, _, err = run(capsys, *argv)
        assert code == 1, err
        one_error_line(err, str(path), what, "not a signature")
        assert "None" not in err


# -- 10. BLAKE3 signatures record the leaf size they were made with ------------------------------


@pytest.mark.parametrize("sign_leaf", ["1k", "64k"])
@pytest.mark.parametrize("prove_leaf", ["1k", "64k"])
def test_blake3_sign_prove_verify_range_at_any_leaf_size(
    model: Path,
    tmp_path: Path,
    sign_leaf: str,
    prove_leaf: str,
    capsys: pytest.CaptureFixture[str],
    ec_keys: tuple[Path, Path],
) -> None:
    private, public = ec_keys
    sig, proof = tmp_path / "m.sig", tmp_path / "p.json"
    sign = ["sign", "key", model, "--signature", sig, "--private-key", private]
    code, _, err = run(capsys, *sign, "-a", "blake3", "-l", sign_leaf)
    assert code == 0, err
    manifest = gpuhash.signing.signed_manifest(sig, method="key", public_key=public)
    assert manifest.algorithm.leaf_size == {"1k": 1024, "64k": 65536}[sign_leaf]
    prove = ["prove", model, "--object", "big.bin", "--range", "2000:5000", "-o", proof]
    assert run(capsys, *prove, "-a", "blake3", "-l", prove_leaf)[0] == 0
    verify = ["verify", "key", model, "--signature", sig, "--public-key", public]
    code, out, err = run(capsys, *verify, "--range", proof)
    assert code == 0, err
    L = {"1k": 1024, "64k": 65536}[prove_leaf]
    assert f"verified bytes [{2000 // L * L}, {-(-5000 // L) * L}) of big.bin" in out
    # A changed byte inside the proven range is still caught.
    with open(model / "big.bin", "r+b") as f:
        f.seek(4000)
        b = f.read(1)
        f.seek(4000)
        f.write(bytes([b[0] ^ 1]))
    code, _, err = run(capsys, *verify, "--range", proof)
    assert code == 1
    assert "do not match the signed digest" in err


# -- 7. certificate signatures that a verifier can check -----------------------------------------


def _certificate(
    subject: str, key: Any, issuer: tuple[str, Any] | None, ca: bool, path: Path
) -> Path:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = (
        (x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer[0])]), issuer[1])
        if issuer
        else (name, key)
    )
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
    else:
        b = b.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    path.write_bytes(b.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return path


def _sign_without_checks(sig: Path, key: Path, cert: Path) -> Path:
    """A certificate bundle with no chain, as another tool would write it: the statement of
    ``sig`` signed again by the certificate's key, with only that certificate in the bundle."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from gpuhash.signing import envelope, methods

    payload = envelope.parse_bundle(sig.read_bytes()).payload
    private = methods.load_private_key(key)
    signed = private.sign(envelope.pae(envelope.PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(serialization.Encoding.DER)
    material = {
        "x509CertificateChain": {"certificates": [{"rawBytes": base64.b64encode(der).decode()}]}
    }
    out = sig.with_name("no-chain.sig")
    out.write_bytes(envelope.bundle_json(payload, signed, material))
    return out


def test_certificate_signing_needs_the_chain_a_verifier_needs(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = tmp_path / "key.pem"
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    root_key, int_key, other_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _certificate("root", root_key, None, True, tmp_path / "root.pem")
    inter = _certificate("intermediate", int_key, ("root", root_key), True, tmp_path / "int.pem")
    other = _certificate("other", other_key, None, True, tmp_path / "other.pem")
    leaf = _certificate("signer", key, ("intermediate", int_key), False, tmp_path / "leaf.pem")
    direct = _certificate("signer", key, ("root", root_key), False, tmp_path / "direct.pem")
    selfsigned = _certificate("self", key, None, False, tmp_path / "self.pem")
    sig = tmp_path / "m.sig"

    def sign(cert: Path, *chain: Path) -> tuple[int, str, str]:
        argv = ["sign", "certificate", model, "--signature", sig, "--private-key", key_pem]
        argv += ["--signing-certificate", cert]
        return run(capsys, *argv, *(["--certificate-chain", *chain] if chain else []))

    def verify(*anchors: Path) -> int:
        argv = ["verify", "certificate", model, "--signature", sig, "--certificate-chain"]
        return run(capsys, *argv, *anchors)[0]

    # Issued by another, without a chain: refused before hashing, in one line.
    for cert in (leaf, direct):
        code, out, err = sign(cert)
        assert code == 2
        assert out == ""
        one_error_line(err, cert.name, "--certificate-chain")
        assert not sig.exists()
    # A chain that did not issue the certificate: refused too.
    code, _, err = sign(leaf, other)
    assert code == 2
    one_error_line(err, "did not issue", "CN=other")
    code, _, err = sign(leaf, root)  # the root, but not the intermediate between
    assert code == 2
    one_error_line(err, "did not issue")
    # What signs verifies against the root.
    assert sign(leaf, inter)[0] == 0
    assert verify(root) == 0
    assert verify(other) == 1
    assert sign(leaf, inter, root)[0] == 0
    assert verify(root) == 0
    assert sign(direct, root)[0] == 0
    assert verify(root) == 0
    # A bundle made without the chain (by another tool; gpuhash refuses to make one) is named.
    bundle_without_chain = _sign_without_checks(sig, key_pem, leaf)
    code, _, err = run(
        capsys,
        "verify",
        "certificate",
        model,
        "--signature",
        bundle_without_chain,
        "--certificate-chain",
        root,
    )
    assert code == 1
    one_error_line(err, "carries only the signing certificate", "CN=intermediate")
    # A self-signed certificate needs no chain: it is its own anchor.
    assert sign(selfsigned)[0] == 0
    assert verify(selfsigned) == 0
    assert verify(root) == 1


# -- 8. empty ranges -----------------------------------------------------------------------------


def test_empty_ranges_are_refused_as_empty_except_the_empty_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ec_keys: tuple[Path, Path]
) -> None:
    m = tmp_path / "m"
    m.mkdir()
    (m / "three").write_bytes(b"abc")
    (m / "empty").write_bytes(b"")
    (m / "two-leaves").write_bytes(bytes(2048))
    proof = tmp_path / "p.json"

    def prove(name: str, rng: str) -> tuple[int, str, str]:
        return run(capsys, "prove", m, "--object", name, "--range", rng, "-o", proof, "-l", "1k")

    for name, rng, message in (
        ("three", "1:1", "range 1:1 is empty"),
        ("three", "0:0", "range 0:0 is empty"),
        ("three", "3:3", "range 3:3 is empty"),
        ("two-leaves", "2048:2048", "range 2048:2048 is empty"),
        ("three", "2:1", "range 2:1 ends before it starts"),
        ("three", "0:4", "range 0:4 ends past the object's 3 bytes"),
        ("empty", "0:1", "range 0:1 ends past the object's 0 bytes"),
    ):
        code, out, err = prove(name, rng)
        assert code == 2, (name, rng)
        assert out == ""
        one_error_line(err, name, message)
        assert not proof.exists()
    # The empty object's one (empty) leaf is proven with 0:0, and verifies.
    private, public = ec_keys
    sig = tmp_path / "m.sig"
    assert (
        run(capsys, "sign", "key", m, "--signature", sig, "--private-key", private, "-l", "1k")[0]
        == 0
    )
    for name, rng in (("empty", "0:0"), ("three", "2:3"), ("two-leaves", "1024:1025")):
        code, out, err = prove(name, rng)
        assert code == 0, err
        verify = ["verify", "key", m, "--signature", sig, "--public-key", public, "--range", proof]
        code, out, err = run(capsys, *verify)
        assert code == 0, err
    assert "verified bytes [1024, 2048) of two-leaves" in out
    # The reference says the same: its covering leaves for every accepted range.
    assert ref.proof_leaves(0, 0, 0, 1024) == (0, 1) == ref.leaf_range(0, 0, 1024)
    assert ref.proof_leaves(1023, 1025, 4096, 1024) == (0, 2)
    with pytest.raises(ref.SpecError, match="is empty"):
        ref.proof_leaves(5, 5, 10, 1024)


# -- 5. digest lines name the object model -------------------------------------------------------


def test_digest_lines_of_files_and_tensors_differ_in_their_identifier_part(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = {}
    for objects in ("files", "tensors"):
        code, out, err = run(capsys, "digest", model, "--objects", objects)
        assert code == 0, err
        lines[objects] = out.strip()
    files_id, _, files_hex = lines["files"].partition(":")
    tensors_id, _, tensors_hex = lines["tensors"].partition(":")
    assert files_id == "gh1-merkle-sha256-64k"  # unchanged: existing digest lines stay valid
    assert tensors_id == "gh1-merkle-sha256-64k+tensors"
    # Each digest is the reference's, over the objects its line names.
    assert files_hex == ref.hash_model(str(model), files_id, (), False)[1].hex()
    assert tensors_hex == ref.hash_model(str(model), files_id, (), False, tensors=True)[1].hex()
    assert ref.parse_digest_line(lines["tensors"]) == (files_id, True, bytes.fromhex(tensors_hex))
    # The table of `hash` ends with the same line; a model with nothing to split has none.
    code, out, _ = run(capsys, "hash", model, "--objects", "tensors")
    assert out.splitlines()[-1] == lines["tensors"]
    (model / "model.safetensors").unlink()
    a = run(capsys, "digest", model, "--objects", "tensors")[1]
    b = run(capsys, "digest", model)[1]
    assert a == b
    assert "+tensors" not in a


def test_digest_line_vectors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The vectors' lines (from the reference) are what `gpuhash digest` prints for their file,
    and every invalid line is rejected by the reference parser."""
    import json

    here = Path(__file__).resolve().parents[1]
    vectors = json.loads((here / "spec/v1/vectors/identifiers.json").read_text("utf-8"))
    section = vectors["digest_lines"]
    data = b"".join(
        bytes.fromhex(s["hex"])
        if "hex" in s
        else bytes(
            (s["mul"] * i + s["add"]) % 251 for i in range(s["start"], s["start"] + s["size"])
        )
        for s in section["content"]
    )
    m = tmp_path / "m"
    m.mkdir()
    (m / section["file_name"]).write_bytes(data)
    seen = set()
    for v in section["valid"]:
        ident, tensors, digest = ref.parse_digest_line(v["line"])
        assert (ident, "tensors" if tensors else "files", digest.hex()) == (
            v["id"],
            v["objects"],
            v["artifact_digest"],
        )
        code, out, err = run(capsys, "digest", m, "-a", v["id"], "--objects", v["objects"])
        assert code == 0, err
        assert out == v["line"] + "\n"
        seen.add((v["id"], v["objects"]))
    assert len(seen) == 4
    assert len(section["invalid"]) >= 10
    for v in section["invalid"]:
        with pytest.raises(ref.SpecError):
            ref.parse_digest_line(v["line"])


# -- 6. what model_signing accepts, by its command line and by its Python API ----------------------


def _model_signing_cli() -> list[str]:
    script = Path(sys.executable).parent / "model_signing"
    if script.exists():
        return [str(script)]
    found = shutil.which("model_signing")
    if found is None:
        pytest.skip("the model_signing command is not installed")
    return [found]


@pytest.mark.parametrize(
    ("label", "options", "cli_accepts"),
    [
        ("sha256", [], True),
        ("blake3", ["--algorithm", "blake3"], False),
        ("shards", ["--shard-size", "65536"], False),
    ],
)
def test_model_signing_cli_and_api_on_gpuhash_oms_signatures(
    model: Path,
    tmp_path: Path,
    label: str,
    options: list[str],
    cli_accepts: bool,
    capsys: pytest.CaptureFixture[str],
    ec_keys: tuple[Path, Path],
) -> None:
    """docs/signing.md: model_signing's CLI accepts gpuhash's SHA-256 oms signatures and
    rejects BLAKE3 and shard ones; its Python API accepts all three with the matching hashing
    configuration. Both are run here, for real."""
    import importlib

    model_signing: Any = importlib.import_module("model_signing")  # its Config is untyped
    docs = (Path(__file__).resolve().parents[1] / "docs" / "signing.md").read_text("utf-8")
    flat = " ".join(docs.split())
    assert "`model_signing verify` accepts gpuhash's default `--format oms` signatures" in flat
    assert "rejects BLAKE3 and shard signatures" in flat
    assert "Its Python API accepts all three when given the matching hashing configuration" in flat
    private, public = ec_keys
    (model / "model.safetensors").unlink()  # model_signing hashes files; keep the model small
    sig = tmp_path / f"{label}.sig"
    argv = ["sign", "key", model, "--signature", sig, "--private-key", private, "--format", "oms"]
    code, _, err = run(capsys, *argv, *options)
    assert code == 0, err
    verify = ["verify", "key", str(model), "--signature", str(sig), "--public_key", str(public)]
    proc = subprocess.run(
        [*_model_signing_cli(), *verify],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    if cli_accepts:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Verification succeeded" in proc.stdout + proc.stderr
    else:
        assert proc.returncode != 0
        assert "Signature mismatch" in proc.stdout + proc.stderr
    hashing = model_signing.hashing.Config()
    if label == "shards":
        hashing = hashing.use_shard_serialization(shard_size=65536)
    else:
        hashing = hashing.use_file_serialization(hashing_algorithm=label)
    model_signing.verifying.Config().use_elliptic_key_verifier(
        public_key=public
    ).set_hashing_config(hashing).verify(model, sig)


def test_hash_leaves_out_its_output_named_through_a_linked_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-o M/sub/manifest.json`` where ``sub`` is a link (inside the link root) to a folder
    elsewhere: the walk lists the file as ``sub/manifest.json``, so that name is left out, not
    only the resolved path (it was hashed, and every run changed the digest)."""
    model = tmp_path / "m"
    (model).mkdir()
    (model / "w").write_bytes(b"w")
    (tmp_path / "real").mkdir()
    (model / "sub").symlink_to("../real", target_is_directory=True)
    (tmp_path / "real" / "manifest.json").write_text("")  # there before the first run
    out = model / "sub" / "manifest.json"
    lines = []
    for _ in range(2):
        code, stdout, err = run(capsys, "hash", model, "--link-root", tmp_path, "-o", out)
        assert (code, err) == (0, "")
        lines.append(stdout.splitlines()[-1])
    assert lines[0] == lines[1]
    manifest = gpuhash.manifest.Manifest.from_json(out.read_bytes())
    assert [o.name for o in manifest.objects] == ["w"]


def test_a_file_swapped_for_a_fifo_is_opened_without_blocking(tmp_path: Path) -> None:
    """A listed file replaced by a FIFO before it is opened: the open returns (and the caller's
    regular-file check refuses it) instead of blocking forever for a writer."""
    os.mkfifo(tmp_path / "f")
    code = (
        "import os, stat, sys\n"
        "from gpuhash._io import open_beneath\n"
        "fd = open_beneath(sys.argv[1], 'f')\n"
        "print(stat.S_ISFIFO(os.fstat(fd).st_mode))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (0, "True\n"), done.stderr


# -- hostile strings are quoted short ---------------------------------------------------------


def test_hostile_strings_are_quoted_short(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A megabyte dtype, tensor name or bundle media type was quoted whole in its error line
    (95 MB lines were seen): each is cut to an excerpt, by the message and by the CLI."""
    import json as json_
    import struct

    long = "x" * 1_000_000
    header = json_.dumps({"t": {"dtype": long, "shape": [1], "data_offsets": [0, 1]}}).encode()
    st = tmp_path / "m.safetensors"
    st.write_bytes(struct.pack("<Q", len(header)) + header + b"\0")
    code, _, err = run(capsys, "digest", st, "--objects", "tensors")
    assert code == 2
    one_error_line(err, "unknown dtype 'xxx")
    assert len(err) < 1000
    sig = tmp_path / "m.sig"
    sig.write_text(json_.dumps({"mediaType": long}))
    code, _, err = run(capsys, "verify", "key", st, "--signature", sig, "--public-key", sig)
    assert code in (1, 2)
    assert err.count("\n") == 1
    assert len(err) < 1000


def test_an_error_line_is_cut_to_a_readable_length(capsys: pytest.CaptureFixture[str]) -> None:
    from gpuhash.cli import progress

    progress.error("head " + "y" * 100_000 + " tail")
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert len(err) < progress.MAX_ERROR_CHARS + 100
    assert err.startswith("gpuhash: error: head yyy")
    assert err.endswith("yyy tail\n")
    assert "characters ...]" in err
