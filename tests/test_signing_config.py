"""SignConfig / VerifyConfig: signing and verification through configuration objects.

Real keys and certificates made with ``cryptography``; signatures written, verified, tampered
with; the same payload as the function API; model_signing itself accepts an ``oms`` signature
made through the config. No network (Sigstore needs one and is covered in test_signing.py).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import gpuhash
from gpuhash import SignConfig, VerifyConfig
from gpuhash.errors import UsageError, VerificationError
from gpuhash.signing import VerificationFailed

README = Path(__file__).resolve().parents[1] / "README.md"
PHRASE, WRONG = "s3cret", "wrong"  # a test key's passphrase, and another
FAKE_OIDC = "not-a-real-identity-jwt"


@pytest.fixture
def model(tmp_path: Path) -> Path:
    m = tmp_path / "model"
    (m / "sub").mkdir(parents=True)
    (m / "weights.bin").write_bytes(bytes(i % 251 for i in range(200_000)))
    (m / "sub" / "config.json").write_bytes(b'{"layers": 2}')
    return m


def payload(signature: Path) -> dict[str, object]:
    """The signed in-toto statement of a signature file."""
    bundle = json.loads(signature.read_text(encoding="utf-8"))
    statement: dict[str, object] = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    return statement


# ---------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------


def test_sign_then_verify_with_a_key(
    model: Path, tmp_path: Path, ec_keys: tuple[Path, Path]
) -> None:
    private, public = ec_keys
    sig = tmp_path / "model.sig"
    subject = SignConfig().use_key_signer(private).sign(model, sig)
    assert subject == f"gh1-merkle-sha256-64k:{gpuhash.hash_path(model).hexdigest}"
    assert payload(sig)["subject"] == [  # the statement signed names that digest
        {"name": "model", "digest": {"gh1-merkle-sha256-64k": subject.split(":")[1]}}
    ]
    result = VerifyConfig().use_key_verifier(public).verify(model, sig)
    assert (result.ok, result.format, result.method, result.objects) == (True, "gpuhash", "key", 2)
    assert result.algorithm == "gh1-merkle-sha256-64k"
    assert result.signer == f"public key {public}"


def test_tampering_fails(model: Path, tmp_path: Path, ec_keys: tuple[Path, Path]) -> None:
    private, public = ec_keys
    sig = tmp_path / "model.sig"
    SignConfig().use_key_signer(private).set_format("gpuhash", range_size=65536).sign(model, sig)
    verifier = VerifyConfig().use_key_verifier(public)
    # A changed byte in the model, located to its 64 KiB range.
    data = bytearray((model / "weights.bin").read_bytes())
    data[150_000] ^= 1
    (model / "weights.bin").write_bytes(bytes(data))
    with pytest.raises(VerificationFailed) as failed:
        verifier.verify(model, sig)
    assert [c.name for c in failed.value.result.changed] == ["weights.bin"]
    assert failed.value.result.changed[0].ranges == [(131_072, 196_608)]
    # Another key.
    other = ec.generate_private_key(ec.SECP256R1())
    other_pub = tmp_path / "other.pem"
    other_pub.write_bytes(
        other.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    with pytest.raises(VerificationError, match="does not match the signed content"):
        VerifyConfig().use_key_verifier(other_pub).verify(model, sig)
    # A changed signed statement.
    bundle = json.loads(sig.read_text(encoding="utf-8"))
    statement = payload(sig)
    statement["subject"][0]["name"] = "other"  # type: ignore[index]
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    sig.write_text(json.dumps(bundle), encoding="utf-8")
    with pytest.raises(VerificationError, match="does not match the signed content"):
        verifier.verify(model, sig)


def test_same_as_the_function_api(model: Path, tmp_path: Path, ec_keys: tuple[Path, Path]) -> None:
    """The config and gpuhash.sign sign the same statement; each verifies the other's."""
    private, public = ec_keys
    by_config, by_function = tmp_path / "a.sig", tmp_path / "b.sig"
    config = SignConfig().use_key_signer(private).set_hashing(algorithm="blake3", leaf_size=4096)
    assert config.sign(model, by_config) == gpuhash.sign(
        model, by_function, method="key", private_key=private, algorithm="blake3", leaf_size=4096
    )
    assert payload(by_config) == payload(by_function)
    assert gpuhash.verify(model, by_config, method="key", public_key=public).algorithm == (
        "gh1-blake3"
    )
    assert VerifyConfig().use_key_verifier(public).verify(model, by_function).ok


def test_encrypted_key_needs_its_password(
    model: Path, tmp_path: Path, ec_keys: tuple[Path, Path]
) -> None:
    _, public = ec_keys
    key = serialization.load_pem_private_key(ec_keys[0].read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PHRASE.encode()),
        )
    )
    sig = tmp_path / "model.sig"
    with pytest.raises(UsageError, match=r"the private key is encrypted; give its password"):
        SignConfig().use_key_signer(encrypted).sign(model, sig)
    with pytest.raises(UsageError, match=r"wrong password for the private key$"):
        SignConfig().use_key_signer(encrypted, password=WRONG).sign(model, sig)
    with pytest.raises(UsageError, match=r"not encrypted, yet a password was given$"):
        SignConfig().use_key_signer(ec_keys[0], password=PHRASE).sign(model, sig)
    assert not sig.exists()
    config = SignConfig().use_key_signer(encrypted, password=PHRASE)
    assert PHRASE not in repr(config)
    config.sign(model, sig)
    assert VerifyConfig().use_key_verifier(public).verify(model, sig).ok
    config = SignConfig().use_key_signer(encrypted, password=PHRASE.encode())
    config.sign(model, sig)  # bytes too; over its own earlier signature


# ---------------------------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------------------------


def _cert(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None, ca_key: object
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    ca = issuer is None
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),  # type: ignore[attr-defined]
            critical=False,
        )
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
        builder = builder.add_extension(usage, critical=True).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]


def test_certificates(model: Path, tmp_path: Path) -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    root = _cert("test-root", ca_key, None, ca_key)
    leaf = _cert("signer", key, root.subject, ca_key)
    paths = {name: tmp_path / f"{name}.pem" for name in ("root", "leaf", "key")}
    paths["root"].write_bytes(root.public_bytes(serialization.Encoding.PEM))
    paths["leaf"].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    sig = tmp_path / "model.sig"
    with pytest.raises(UsageError, match="pass them with --certificate-chain"):
        SignConfig().use_certificate_signer(paths["key"], paths["leaf"]).sign(model, sig)
    assert not sig.exists()
    signer = SignConfig().use_certificate_signer(paths["key"], paths["leaf"], [paths["root"]])
    signer.sign(model, sig)
    result = VerifyConfig().use_certificate_verifier([paths["root"]]).verify(model, sig)
    assert (result.ok, result.method) == (True, "certificate")
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = tmp_path / "other.pem"
    other.write_bytes(
        _cert("other", other_key, None, other_key).public_bytes(serialization.Encoding.PEM)
    )
    with pytest.raises(VerificationError):
        VerifyConfig().use_certificate_verifier([other]).verify(model, sig)
    with pytest.raises(UsageError, match="a list of paths, not one path"):
        VerifyConfig().use_certificate_verifier(str(paths["root"]))


# ---------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------


def test_oms_format_is_model_signings(
    model: Path, tmp_path: Path, ec_keys: tuple[Path, Path]
) -> None:
    model_signing: Any = importlib.import_module("model_signing")  # its Config is untyped
    importlib.import_module("model_signing.verifying")
    private, public = ec_keys
    sig = tmp_path / "model.sig"
    SignConfig().use_key_signer(private).set_format("oms", shard_size=65536).sign(model, sig)
    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public).verify(model, sig)
    result = VerifyConfig().use_key_verifier(public).verify(model, sig)
    assert (result.format, result.algorithm) == ("oms", "sha256-sharded-65536")


def test_hashing_options(model: Path, tmp_path: Path, ec_keys: tuple[Path, Path]) -> None:
    private, public = ec_keys
    sig = tmp_path / "model.sig"
    (model / "scratch.txt").write_bytes(b"notes")
    SignConfig().use_key_signer(private).set_hashing(
        algorithm="gh1-lthash16-shake256-4k", ignore_paths=["scratch.txt"], backend="cpu"
    ).sign(model, sig)
    verifier = VerifyConfig().use_key_verifier(public)
    assert verifier.signed_manifest(sig).algorithm.id == "gh1-lthash16-shake256-4k"
    with pytest.raises(VerificationFailed) as failed:
        verifier.verify(model, sig)  # scratch.txt was not signed
    assert failed.value.result.extra == ["scratch.txt"]
    assert verifier.set_hashing(ignore_paths=["scratch.txt"]).verify(model, sig).ok
    assert verifier.set_ignore_unsigned_files().verify(model, sig).ok
    (model / "sub" / "config.json").write_bytes(b"{}")
    only = verifier.set_ignore_unsigned_files().set_only(["weights.*"])
    assert only.verify(model, sig).objects == 1  # the changed config.json is not checked
    with pytest.raises(VerificationError, match="matches no object"):
        only.set_only(["nothing*"]).verify(model, sig)
    with pytest.raises(VerificationError, match="its objects are files, not tensors"):
        verifier.set_hashing(objects="tensors").verify(model, sig)


def test_signed_manifest(model: Path, tmp_path: Path, ec_keys: tuple[Path, Path]) -> None:
    private, public = ec_keys
    sig = tmp_path / "model.sig"
    SignConfig().use_key_signer(private).sign(model, sig)
    manifest = VerifyConfig().use_key_verifier(public).signed_manifest(sig)
    assert manifest.artifact_digest == gpuhash.hash_path(model).artifact_digest


def test_configs_are_immutable_values(ec_keys: tuple[Path, Path]) -> None:
    private, public = ec_keys
    base = SignConfig().set_hashing(algorithm="blake3")
    keyed = base.use_key_signer(private, password=PHRASE)
    assert base.method is None
    assert (keyed.method, keyed.algorithm, keyed.private_key) == ("key", "blake3", private)
    with pytest.raises(dataclasses.FrozenInstanceError):
        keyed.method = "sigstore"  # type: ignore[misc]
    # The last signer chosen wins, and leaves nothing of the one before.
    sigstore = keyed.use_sigstore_signer(identity_token=FAKE_OIDC)
    assert (sigstore.method, sigstore.private_key, sigstore.password) == ("sigstore", None, None)
    assert FAKE_OIDC not in repr(sigstore)
    # set_hashing sets every option: one left out is back to its default.
    assert keyed.set_hashing(leaf_size=4096).algorithm is None
    assert VerifyConfig().use_key_verifier(public).use_certificate_verifier().public_key is None


def test_misuse_is_one_line(model: Path, tmp_path: Path, ec_keys: tuple[Path, Path]) -> None:
    sig = tmp_path / "model.sig"
    with pytest.raises(UsageError, match=r"^no signer chosen: call use_key_signer"):
        SignConfig().sign(model, sig)
    with pytest.raises(UsageError, match=r"^no verifier chosen: call use_key_verifier"):
        VerifyConfig().verify(model, sig)
    with pytest.raises(UsageError, match=r"^no verifier chosen"):
        VerifyConfig().signed_manifest(sig)
    with pytest.raises(UsageError, match="unknown signature format 'native'"):
        SignConfig().set_format("native")
    with pytest.raises(UsageError, match="ignore_paths must be a list"):
        SignConfig().set_hashing(ignore_paths="scratch.txt")
    with pytest.raises(UsageError, match="patterns must be a list"):
        VerifyConfig().set_only("*.bin")
    with pytest.raises(UsageError, match="unknown algorithm"):
        SignConfig().use_key_signer(ec_keys[0]).set_hashing(algorithm="md5").sign(model, sig)
    assert not sig.exists()


# ---------------------------------------------------------------------------------------------
# The README's example runs as written
# ---------------------------------------------------------------------------------------------


def test_readme_python_example(
    tmp_path: Path, ec_keys: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's block on streaming and signing, run in a folder holding ``model/``,
    ``key.pem`` and ``pub.pem``."""
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    (block,) = [b for b in blocks if "SignConfig" in b]
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"\x01" * 100_000)
    (tmp_path / "key.pem").write_bytes(ec_keys[0].read_bytes())
    (tmp_path / "pub.pem").write_bytes(ec_keys[1].read_bytes())
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert (tmp_path / "model.sig").is_file()
    assert namespace["result"].ok  # type: ignore[attr-defined]
