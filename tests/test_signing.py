"""Signing and verification (gpuhash.signing, ``gpuhash sign`` / ``gpuhash verify``).

Everything is real: keys and a test PKI made with ``cryptography``, the real ``model_signing``
package signing and verifying in both directions, and the real signatures of model_signing's
releases in tests/data/model-signing-goldens (see its README). No network:
Sigstore bundles are verified offline with the trust configuration stored beside them.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hf_layouts as hf
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gpuhash
from gpuhash import cli
from gpuhash import reference as ref
from gpuhash.errors import UsageError, VerificationError
from gpuhash.signing import VerificationFailed, envelope, methods, native

#: Signatures made by released model_signing versions, with their models and keys (README there).
GOLDENS = Path(__file__).resolve().parent / "data" / "model-signing-goldens"
IBM_ID = "stefanb@us.ibm.com"
IBM_ISSUER = "https://sigstore.verify.ibm.com/oauth2"

NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)


# -- keys and a test PKI -----------------------------------------------------------------------


def _write_key(path: Path, key: Any) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _write_pub(path: Path, key: Any) -> Path:
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def _cert(
    subject: str,
    key: Any,
    issuer: tuple[str, Any] | None,
    ca: bool,
    usage: str = "sign",
    start: datetime.datetime = NOW - DAY,
    end: datetime.datetime = NOW + 365 * DAY,
    ca_eku: list[Any] | None = None,
    critical: x509.ExtensionType | None = None,
) -> x509.Certificate:
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
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if critical is not None:
        b = b.add_extension(critical, critical=True)
    if ca:
        b = b.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        if ca_eku is not None:
            b = b.add_extension(x509.ExtendedKeyUsage(ca_eku), critical=False)
    elif usage == "sign":
        b = b.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    else:  # a key-encipherment certificate: not for signing
        b = b.add_extension(
            x509.KeyUsage(False, False, True, False, False, False, False, False, False),
            critical=True,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _pem(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


class PKI:
    def __init__(self, root: Path) -> None:
        root.mkdir()
        self.dir = root
        self.p256 = ec.generate_private_key(ec.SECP256R1())
        self.p384 = ec.generate_private_key(ec.SECP384R1())
        self.key = _write_key(root / "key.pem", self.p256)
        self.pub = _write_pub(root / "pub.pem", self.p256)
        self.key384 = _write_key(root / "key384.pem", self.p384)
        self.pub384 = _write_pub(root / "pub384.pem", self.p384)
        ca_key = ec.generate_private_key(ec.SECP384R1())
        int_key = ec.generate_private_key(ec.SECP256R1())
        ca = _cert("test-root", ca_key, None, ca=True)
        inter = _cert("test-intermediate", int_key, ("test-root", ca_key), ca=True)
        issuer = ("test-intermediate", int_key)
        self.root = _pem(root / "root.pem", ca)
        self.chain = _pem(root / "int.pem", inter)
        self.leaf = _pem(root / "leaf.pem", _cert("signer", self.p256, issuer, ca=False))
        self.no_sign_leaf = _pem(
            root / "nosign.pem", _cert("tls", self.p256, issuer, ca=False, usage="tls")
        )
        self.expired_leaf = _pem(
            root / "expired.pem",
            _cert("old", self.p256, issuer, ca=False, start=NOW - 30 * DAY, end=NOW - DAY),
        )
        other_ca_key = ec.generate_private_key(ec.SECP256R1())
        self.other_root = _pem(root / "other.pem", _cert("other", other_ca_key, None, ca=True))
        # Intermediates that limit their extended key usage, and a leaf under each.
        self.limited: dict[str, tuple[Path, Path]] = {}
        for label, eku in (
            ("codesign", [ExtendedKeyUsageOID.CODE_SIGNING]),
            ("clientauth", [ExtendedKeyUsageOID.CLIENT_AUTH]),
        ):
            k = ec.generate_private_key(ec.SECP256R1())
            ca_cert = _cert(f"int-{label}", k, ("test-root", ca_key), ca=True, ca_eku=eku)
            leaf_cert = _cert("signer", self.p256, (f"int-{label}", k), ca=False)
            self.limited[label] = (
                _pem(root / f"int-{label}.pem", ca_cert),
                _pem(root / f"leaf-{label}.pem", leaf_cert),
            )
        self.odd_leaf = _pem(
            root / "odd.pem",
            _cert(
                "odd",
                self.p256,
                issuer,
                ca=False,
                critical=x509.UnrecognizedExtension(
                    x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"
                ),
            ),
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("pki") / "pki")


def pattern(n: int, seed: int) -> bytes:
    return bytes((i * 131 + seed * 7) % 251 for i in range(n))


@pytest.fixture
def model(tmp_path: Path) -> Path:
    m = tmp_path / "model"
    (m / "sub").mkdir(parents=True)
    (m / "weights.bin").write_bytes(pattern(300_000, 1))
    (m / "sub" / "config.json").write_bytes(b'{"layers": 2}')
    (m / "empty").write_bytes(b"")
    return m


def run(*argv: object) -> int:
    return cli.main([str(a) for a in argv])


# -- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "family", ["merkle-sha256", "merkle-sha3-256", "blake3", "lthash16-shake256"]
)
@pytest.mark.parametrize("curve", ["p256", "p384"])
def test_key_round_trip(pki: PKI, model: Path, tmp_path: Path, family: str, curve: str) -> None:
    key, pub = (pki.key, pki.pub) if curve == "p256" else (pki.key384, pki.pub384)
    sig = tmp_path / "model.sig"
    subject = gpuhash.sign(
        model, sig, method="key", private_key=key, algorithm=family, backend="cpu"
    )
    manifest = gpuhash.hash_path(model, algorithm=family, backend="cpu")
    assert subject == f"{manifest.algorithm.id}:{manifest.hexdigest}"
    result = gpuhash.verify(model, sig, method="key", public_key=pub)
    assert result.ok
    assert (result.objects, result.format) == (3, "gpuhash")
    bundle = json.loads(sig.read_bytes())
    assert bundle["mediaType"] == envelope.BUNDLE_MEDIA_TYPE
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["predicateType"] == native.PREDICATE_TYPE
    assert statement["subject"] == [
        {"name": "model", "digest": {manifest.algorithm.id: manifest.hexdigest}}
    ]
    other = pki.pub384 if curve == "p256" else pki.pub
    with pytest.raises(VerificationError, match="does not match the signed content"):
        gpuhash.verify(model, sig, method="key", public_key=other)


def test_certificate_round_trip_and_chain_checks(pki: PKI, model: Path, tmp_path: Path) -> None:
    sig = tmp_path / "model.sig"
    gpuhash.sign(
        model,
        sig,
        method="certificate",
        private_key=pki.key,
        signing_certificate=pki.leaf,
        certificate_chain=[pki.chain],
    )
    result = gpuhash.verify(model, sig, method="certificate", certificate_chain=[pki.root])
    assert result.ok
    assert result.signer == "certificate CN=signer"
    with pytest.raises(VerificationError, match="does not lead to a trusted anchor"):
        gpuhash.verify(model, sig, method="certificate", certificate_chain=[pki.other_root])
    with pytest.raises(UsageError, match="needs the trust anchors"):
        gpuhash.verify(model, sig, method="certificate")
    with pytest.raises(VerificationError, match="not made with a key"):
        gpuhash.verify(model, sig, method="key", public_key=pki.pub)


@pytest.mark.parametrize("fmt", ["gpuhash", "oms"])
@pytest.mark.parametrize("method", ["key", "certificate"])
def test_signed_bundles_are_what_sigstore_models_writes(
    pki: PKI, model: Path, tmp_path: Path, method: str, fmt: str
) -> None:
    """Signers write bundles without sigstore_models (its import is a tenth of a signing
    command); what they write, in either payload format, must be the JSON those models write
    for the same bundle, byte for byte (the same fields, in the same order), and hold what the
    method signs with."""
    from sigstore_models.bundle.v1 import Bundle

    sig = tmp_path / "model.sig"
    options: dict[str, Any] = {
        "method": method,
        "private_key": pki.key,
        "backend": "cpu",
        "format": fmt,
    }
    if method == "certificate":
        options |= {"signing_certificate": pki.leaf, "certificate_chain": [pki.chain]}
    gpuhash.sign(model, sig, **options)
    written = sig.read_bytes()
    parsed = Bundle.model_validate_json(written)
    assert (json.dumps(parsed.to_dict(), indent=2) + "\n").encode() == written
    material = json.loads(written)["verificationMaterial"]
    if method == "key":
        assert material == {
            "publicKey": {"hint": envelope.public_key_hint(pki.pub.read_bytes())},
            "tlogEntries": [],
        }
    else:
        ders = [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
            for path in (pki.leaf, pki.chain)
            for c in x509.load_pem_x509_certificates(path.read_bytes())
        ]
        assert material == {
            "x509CertificateChain": {"certificates": [{"rawBytes": d} for d in ders]},
            "tlogEntries": [],
        }


def _bundle_with_chain(pki: PKI, leaf: Path, payload: bytes) -> bytes:
    """A bundle signed by the test key with ``leaf`` as its certificate (bypassing the
    signer's own usage check, as an attacker would)."""
    ders = [
        base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
        for path in (leaf, pki.chain)
        for c in x509.load_pem_x509_certificates(path.read_bytes())
    ]
    material = {"x509CertificateChain": {"certificates": [{"rawBytes": d} for d in ders]}}
    return envelope.bundle_json(payload, methods._ecdsa_sign(pki.p256, payload), material)


def _native_payload(model: Path) -> bytes:
    manifest = gpuhash.hash_path(model, backend="cpu")
    return envelope.statement_bytes(
        "model",
        native.subject_digest(manifest),
        native.PREDICATE_TYPE,
        native.predicate(manifest, None),
    )


@pytest.mark.parametrize(
    ("leaf", "message"),
    [
        ("no_sign_leaf", "key usage excludes digital signatures"),
        ("expired_leaf", "outside its validity"),
    ],
)
def test_certificates_that_may_not_sign_fail(
    pki: PKI, model: Path, tmp_path: Path, leaf: str, message: str
) -> None:
    sig = tmp_path / "bad.sig"
    sig.write_bytes(_bundle_with_chain(pki, getattr(pki, leaf), _native_payload(model)))
    with pytest.raises(VerificationError, match=message):
        gpuhash.verify(model, sig, method="certificate", certificate_chain=[pki.root])
    # ...and gpuhash refuses to sign with the first one.
    if leaf == "no_sign_leaf":
        with pytest.raises(UsageError, match="excludes digital signatures"):
            gpuhash.sign(
                model,
                tmp_path / "x.sig",
                method="certificate",
                private_key=pki.key,
                signing_certificate=pki.no_sign_leaf,
            )
        assert not (tmp_path / "x.sig").exists()


# -- what verification reports -------------------------------------------------------------------


def test_report_names_missing_extra_and_changed_ranges(
    pki: PKI, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sig = tmp_path / "model.sig"
    assert (
        run(
            "sign",
            "key",
            model,
            "--signature",
            sig,
            "--private-key",
            pki.key,
            "-l",
            "4k",
            "--range-size",
            "64k",
            "--backend",
            "cpu",
        )
        == 0
    )
    capsys.readouterr()
    assert run("verify", "key", model, "--signature", sig, "--public-key", pki.pub) == 0
    assert "verified" in capsys.readouterr().out
    with open(model / "weights.bin", "r+b") as f:  # one byte in the fourth 64 KiB range
        f.seek(200_000)
        f.write(b"\xff" if pattern(300_000, 1)[200_000] != 0xFF else b"\x00")
    (model / "sub" / "config.json").rename(model / "sub" / "config2.json")
    assert run("verify", "key", model, "--signature", sig, "--public-key", pki.pub) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "missing: sub/config.json",
        "extra (not signed): sub/config2.json",
        "changed: weights.bin (bytes [196608, 262144))",
    ]
    assert err == (
        "gpuhash: error: verification failed: the model does not match its signature: "
        "1 changed, 1 missing, 1 extra (3 objects)\n"
    )
    # --ignore-unsigned-files leaves the extra file out, not the others.
    assert (
        run(
            "verify",
            "key",
            model,
            "--signature",
            sig,
            "--public-key",
            pki.pub,
            "--ignore-unsigned-files",
        )
        == 1
    )
    assert "extra" not in capsys.readouterr().out


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    size=st.integers(2 * 4096 + 1, 40 * 4096),
    data=st.data(),
    family=st.sampled_from(["merkle-sha256", "merkle-sha3-256"]),
)
def test_any_changed_byte_is_located(
    pki: PKI, tmp_path_factory: pytest.TempPathFactory, size: int, data: st.DataObject, family: str
) -> None:
    """One flipped byte anywhere: verification fails and names exactly the range holding it."""
    root = tmp_path_factory.mktemp("prop")
    m = root / "m"
    m.mkdir()
    original = pattern(size, size % 13)
    (m / "f").write_bytes(original)
    sig = root / "s.sig"
    span = 4096 * data.draw(st.sampled_from([1, 2, 4]))
    gpuhash.sign(
        m,
        sig,
        method="key",
        private_key=pki.key,
        algorithm=family,
        leaf_size=4096,
        range_size=span,
        backend="cpu",
    )
    at = data.draw(st.integers(0, size - 1))
    changed = bytearray(original)
    changed[at] ^= 0x5A
    (m / "f").write_bytes(bytes(changed))
    with pytest.raises(VerificationFailed) as info:
        gpuhash.verify(m, sig, method="key", public_key=pki.pub, backend="cpu")
    start = at - at % span
    # An object of one range (size <= span) has no range values: it is named, no more.
    where = [(start, min(start + span, size))] if size > span else None
    assert [(c.name, c.ranges) for c in info.value.result.changed] == [("f", where)]


# -- model_signing, both ways ------------------------------------------------------------------


def _ms() -> Any:
    """The model_signing package (its Config classes are untyped)."""
    import importlib

    return importlib.import_module("model_signing")


def _ms_hashing(alg: str, shard: int | None) -> Any:
    model_signing = _ms()

    config = model_signing.hashing.Config()
    if shard is not None:
        return config.use_shard_serialization(shard_size=shard)
    return config.use_file_serialization(hashing_algorithm=alg)


OMS_CASES = [("sha256", None), ("blake3", None), ("sha256", 100_000)]


@pytest.mark.parametrize(("alg", "shard"), OMS_CASES)
def test_oms_signatures_are_accepted_by_model_signing(
    pki: PKI, model: Path, tmp_path: Path, alg: str, shard: int | None
) -> None:
    model_signing = _ms()

    sig = tmp_path / "oms.sig"
    args = [
        "sign",
        "key",
        model,
        "--signature",
        sig,
        "--private-key",
        pki.key,
        "--format",
        "oms",
        "--algorithm",
        alg,
    ]
    if shard is not None:
        args += ["--shard-size", str(shard)]
    assert run(*args) == 0
    model_signing.verifying.Config().use_elliptic_key_verifier(
        public_key=pki.pub
    ).set_hashing_config(_ms_hashing(alg, shard)).verify(model, sig)
    assert gpuhash.verify(model, sig, method="key", public_key=pki.pub).format == "oms"
    # Certificates too.
    gpuhash.sign(
        model,
        sig,
        method="certificate",
        private_key=pki.key,
        signing_certificate=pki.leaf,
        certificate_chain=[pki.chain],
        format="oms",
        algorithm=alg,
        shard_size=shard,
    )
    model_signing.verifying.Config().use_certificate_verifier(
        certificate_chain=[pki.root, pki.chain]
    ).set_hashing_config(_ms_hashing(alg, shard)).verify(model, sig)
    # A changed byte: model_signing rejects it as well.
    with open(model / "weights.bin", "r+b") as f:
        f.seek(150_000)
        f.write(b"!")
    with pytest.raises(ValueError, match="Signature mismatch"):
        model_signing.verifying.Config().use_certificate_verifier(
            certificate_chain=[pki.root, pki.chain]
        ).set_hashing_config(_ms_hashing(alg, shard)).verify(model, sig)


@pytest.mark.parametrize(("alg", "shard"), OMS_CASES)
def test_model_signing_signatures_are_verified_by_gpuhash(
    pki: PKI, model: Path, tmp_path: Path, alg: str, shard: int | None
) -> None:
    model_signing = _ms()

    key_sig, cert_sig = tmp_path / "k.sig", tmp_path / "c.sig"
    model_signing.signing.Config().use_elliptic_key_signer(
        private_key=pki.key384
    ).set_hashing_config(_ms_hashing(alg, shard)).sign(model, key_sig)
    model_signing.signing.Config().use_certificate_signer(
        private_key=pki.key, signing_certificate=pki.leaf, certificate_chain=[pki.chain]
    ).set_hashing_config(_ms_hashing(alg, shard)).sign(model, cert_sig)
    assert gpuhash.verify(model, key_sig, method="key", public_key=pki.pub384).ok
    assert gpuhash.verify(model, cert_sig, method="certificate", certificate_chain=[pki.root]).ok
    with open(model / "weights.bin", "r+b") as f:
        f.seek(250_000)
        f.write(b"!")
    with pytest.raises(VerificationFailed) as info:
        gpuhash.verify(model, key_sig, method="key", public_key=pki.pub384)
    (changed,) = info.value.result.changed
    assert changed.name == "weights.bin"
    assert changed.ranges == ([(200_000, 300_000)] if shard else None)


# -- Hugging Face layouts, both ways -----------------------------------------------------------


def _hf_model(tmp_path: Path, layout: str) -> Path:
    """A download of ``hf.FILES_2`` as huggingface_hub writes it: a cache snapshot (links to
    ../../blobs, a first revision sharing blobs) or a local_dir with .cache/huggingface."""
    if layout == "cache":
        repo = hf.write_cache(tmp_path / "hub", {hf.REV_1: hf.FILES_1, hf.REV_2: hf.FILES_2})
        return repo / "snapshots" / hf.REV_2
    return hf.write_local_dir(tmp_path / "local", hf.FILES_2, hf.REV_2)


def _ms_cli(*argv: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model_signing", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("layout", ["cache", "local_dir"])
def test_huggingface_downloads_sign_and_verify_as_plain_folders(
    pki: PKI, tmp_path: Path, layout: str
) -> None:
    model = _hf_model(tmp_path, layout)
    plain = hf.write_plain(tmp_path / "plain", hf.FILES_2)
    sig, plain_sig = tmp_path / "m.sig", tmp_path / "p.sig"
    subject = gpuhash.sign(model, sig, private_key=pki.key)
    assert subject == gpuhash.sign(plain, plain_sig, private_key=pki.key)
    for allow in (False, True):
        result = gpuhash.verify(model, sig, method="key", public_key=pki.pub, allow_symlinks=allow)
        assert result.objects == len(hf.FILES_2)
    assert gpuhash.verify(plain, sig, method="key", public_key=pki.pub).ok
    assert run("verify", "key", model, "--signature", sig, "--public-key", pki.pub) == 0
    if layout == "local_dir":
        # huggingface_hub rewrites its metadata (a new timestamp) on a new download: still valid.
        hf.write_local_dir(model, {"config.json": hf.FILES_2["config.json"]}, hf.REV_2)
        assert gpuhash.verify(model, sig, method="key", public_key=pki.pub).ok
    else:
        blob = (model / "config.json").resolve()
        blob.write_bytes(b"changed")
        with pytest.raises(VerificationFailed, match="1 changed"):
            gpuhash.verify(model, sig, method="key", public_key=pki.pub)


@pytest.mark.parametrize("layout", ["cache", "local_dir"])
def test_huggingface_downloads_interoperate_with_model_signing(
    pki: PKI, tmp_path: Path, layout: str
) -> None:
    """model_signing's signature over the download verifies with gpuhash (with no option, or
    the one a model_signing user gives), and gpuhash's model_signing-format signature verifies
    with model_signing's Python API and its command line."""
    model_signing = _ms()
    model = _hf_model(tmp_path, layout)
    links = ["--allow_symlinks"] if layout == "cache" else []
    theirs, ours = tmp_path / "theirs.sig", tmp_path / "ours.sig"
    model_signing.signing.Config().use_elliptic_key_signer(private_key=pki.key).set_hashing_config(
        model_signing.hashing.Config().set_allow_symlinks(bool(links))
    ).sign(model, theirs)
    listed = json.loads(
        base64.b64decode(json.loads(theirs.read_text())["dsseEnvelope"]["payload"])
    )["predicate"]["resources"]
    # model_signing does not leave out .cache/huggingface: its signature lists the metadata.
    assert any(r["name"].startswith(".cache/huggingface/") for r in listed) == (
        layout == "local_dir"
    )
    for allow in (False, True):
        result = gpuhash.verify(
            model, theirs, method="key", public_key=pki.pub, allow_symlinks=allow
        )
        assert (result.format, result.objects) == ("oms", len(listed))
    assert run("verify", "key", model, "--signature", theirs, "--public_key", pki.pub, *links) == 0
    # Signed with model_signing's command line, as its users type it.
    by_cli = tmp_path / "theirs-cli.sig"
    done = _ms_cli("sign", "key", model, "--signature", by_cli, "--private_key", pki.key, *links)
    assert done.returncode == 0, done.stderr
    assert gpuhash.verify(model, by_cli, method="key", public_key=pki.pub).objects == len(listed)

    assert (
        run("sign", "key", model, "--signature", ours, "--private_key", pki.key, "--format", "oms")
        == 0
    )
    model_signing.verifying.Config().use_elliptic_key_verifier(
        public_key=pki.pub
    ).set_hashing_config(model_signing.hashing.Config().set_allow_symlinks(bool(links))).verify(
        model, ours
    )
    done = _ms_cli("verify", "key", model, "--signature", ours, "--public_key", pki.pub, *links)
    assert (done.returncode, done.stdout) == (0, "Verification succeeded\n"), done.stderr
    # The same signature fails in both tools once a signed file changes.
    (model / "tokenizer" / "vocab.txt").resolve().write_bytes(b"changed")
    done = _ms_cli("verify", "key", model, "--signature", ours, "--public_key", pki.pub, *links)
    assert done.returncode == 1
    with pytest.raises(VerificationFailed, match="1 changed"):
        gpuhash.verify(model, ours, method="key", public_key=pki.pub)


def test_signatures_listing_default_ignored_files_still_verify(pki: PKI, tmp_path: Path) -> None:
    """A gpuhash signature made before .cache/huggingface was a default ignore path lists its
    files: the verifier checks them (spec 11.1) rather than reporting them missing, and a
    changed one fails."""
    from gpuhash.algorithms import resolve_algorithm
    from gpuhash.api import list_objects
    from gpuhash.engine import hash_sources
    from gpuhash.manifest import Manifest
    from gpuhash.registry import get_backend

    local = hf.write_local_dir(tmp_path / "local", hf.FILES_1)
    alg = resolve_algorithm(None, None)
    sources = list_objects(local, defaults=ref.GIT_IGNORES)  # the old defaults
    with contextlib.closing(get_backend("cpu", algorithm=alg)) as backend:
        manifest = Manifest.build(alg, hash_sources(backend, alg, sources))
    assert any(o.name.startswith(".cache/huggingface/") for o in manifest.objects)
    payload = envelope.statement_bytes(
        "local",
        native.subject_digest(manifest),
        native.PREDICATE_TYPE,
        native.predicate(manifest, None),
    )
    sig = tmp_path / "old.sig"
    sig.write_bytes(methods.KeySigner(pki.key).sign(payload))
    result = gpuhash.verify(local, sig, method="key", public_key=pki.pub)
    assert result.objects == len(manifest.objects)
    metadata = local / ".cache" / "huggingface" / "download" / "config.json.metadata"
    metadata.write_text(metadata.read_text() + "changed")
    with pytest.raises(VerificationFailed) as info:
        gpuhash.verify(local, sig, method="key", public_key=pki.pub)
    assert [c.name for c in info.value.result.changed] == [
        ".cache/huggingface/download/config.json.metadata"
    ]


def test_model_signing_golden_commands_work_unchanged(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command model_signing documents for its golden signatures, with gpuhash for
    model_signing: the ignore path is relative to the current directory."""
    monkeypatch.chdir(GOLDENS)
    argv = ["--public_key", "keys/signing-key-pub.pem", "--signature"]
    argv += ["v1.1.0-elliptic-key/model.sig", "v1.1.0-elliptic-key"]
    assert run("verify", "key", "--ignore-paths", "v1.1.0-elliptic-key/ignore-me", *argv) == 0
    assert capsys.readouterr().err == ""
    assert run("verify", "key", "--ignore-paths", "v1.1.0-elliptic-key/ignore-mee", *argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        "gpuhash: warning: ignore path v1.1.0-elliptic-key/ignore-mee matches nothing in "
        "v1.1.0-elliptic-key"
    )
    assert err[1].startswith("gpuhash: error: verification failed: ")


# -- model_signing's released signatures -------------------------------------------------------


GOLDEN_METHODS: dict[str, Callable[[], dict[str, Any]]] = {
    "elliptic-key": lambda: {
        "method": "key",
        "public_key": GOLDENS / "keys" / "signing-key-pub.pem",
    },
    "certificate": lambda: {
        "method": "certificate",
        "certificate_chain": [GOLDENS / "keys" / "ca-cert.pem"],
    },
    "sigstore": lambda: {
        "method": "sigstore",
        "identity": IBM_ID,
        "identity_provider": IBM_ISSUER,
        "trust_config": GOLDENS / "sigstore-production-trust-config.json",
    },
}


def _golden(version: str, kind: str) -> tuple[Path, Path, list[str]]:
    folder = GOLDENS / f"{version}-{kind}"
    model = folder / "signme-1" if (version, kind) == ("v1.0.0", "elliptic-key") else folder
    ignores = ["ignore-me"] if (folder / "ignore-me").exists() else []
    return model, folder / "model.sig", ignores


@pytest.mark.parametrize("version", ["v1.0.0", "v1.0.1", "v1.1.0"])
@pytest.mark.parametrize("kind", ["elliptic-key", "certificate", "sigstore"])
def test_released_model_signing_signatures_verify_offline(version: str, kind: str) -> None:
    model, sig, ignores = _golden(version, kind)
    result = gpuhash.verify(model, sig, ignore_paths=ignores, **GOLDEN_METHODS[kind]())
    assert result.ok
    assert (result.format, result.algorithm) == ("oms", "sha256")
    if ignores:  # the ignored file, not passed, is reported: the signature does not cover it
        with pytest.raises(VerificationFailed, match="1 extra"):
            gpuhash.verify(model, sig, **GOLDEN_METHODS[kind]())


def test_released_sigstore_signature_with_wrong_identity_or_issuer_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    model, sig, ignores = _golden("v1.1.0", "sigstore")
    trust = GOLDENS / "sigstore-production-trust-config.json"
    common = ["--signature", sig, "--trust-config", trust, "--ignore-paths", *ignores]
    assert (
        run(
            "verify",
            "sigstore",
            model,
            *common,
            "--identity",
            IBM_ID,
            "--identity-provider",
            IBM_ISSUER,
        )
        == 0
    )
    assert (
        run(
            "verify",
            "sigstore",
            model,
            *common,
            "--identity",
            "mallory@example.com",
            "--identity-provider",
            IBM_ISSUER,
        )
        == 1
    )
    assert "SANs do not match mallory@example.com" in capsys.readouterr().err
    assert (
        run(
            "verify",
            "sigstore",
            model,
            *common,
            "--identity",
            IBM_ID,
            "--identity-provider",
            "https://accounts.google.com",
        )
        == 1
    )
    assert "verification failed" in capsys.readouterr().err
    # A Sigstore bundle is not a key signature, whatever key is offered.
    key = GOLDENS / "keys" / "signing-key-pub.pem"
    assert (
        run("verify", "key", model, *common[:2], "--public-key", key, "--ignore-paths", *ignores)
        == 1
    )


def test_released_signature_over_a_changed_model_fails(tmp_path: Path) -> None:
    import shutil

    model, sig, _ = _golden("v1.1.0", "elliptic-key")
    copy = tmp_path / "copy"
    shutil.copytree(model, copy)
    (copy / "signme-2").write_bytes((copy / "signme-2").read_bytes() + b"x")
    with pytest.raises(VerificationFailed) as info:
        gpuhash.verify(
            copy, sig, ignore_paths=["ignore-me", "model.sig"], **GOLDEN_METHODS["elliptic-key"]()
        )
    assert [c.name for c in info.value.result.changed] == ["signme-2"]


# -- bad input: clear messages, failed verification, never a pass ---------------------------------


def _resign(
    pki: PKI, sig: Path, edit: Any, oms_root: bool = False, text: Any = lambda t: t
) -> None:
    """Re-sign the (edited) statement of ``sig`` with the test key: a validly signed bundle
    whose content is wrong. ``oms_root``: recompute a model_signing subject digest over the
    edited resources (so only the edit is wrong); ``text``: a last edit of the JSON text."""
    import hashlib

    statement = json.loads(
        base64.b64decode(json.loads(sig.read_bytes())["dsseEnvelope"]["payload"])
    )
    edit(statement)
    if oms_root:
        raw = b"".join(bytes.fromhex(r["digest"]) for r in statement["predicate"]["resources"])
        statement["subject"][0]["digest"]["sha256"] = hashlib.sha256(raw).hexdigest()
    payload = text(json.dumps(statement)).encode()
    sig.write_bytes(methods.KeySigner(pki.key).sign(payload))


def _edit_bundle(sig: Path, edit: Any) -> None:
    bundle = json.loads(sig.read_bytes())
    edit(bundle)
    sig.write_text(json.dumps(bundle))


def _manifest_objects(statement: dict[str, Any]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = statement["predicate"]["manifest"]["objects"]
    return objects


BAD: dict[str, tuple[Callable[[PKI, Path], object], str]] = {
    "malformed JSON": (lambda p, s: s.write_text('{"mediaType": '), "not valid JSON"),
    "wrong media type": (
        lambda p, s: _edit_bundle(s, lambda b: b.update(mediaType="application/json")),
        "is not a Sigstore bundle v0.3",
    ),
    "wrong payload type": (
        lambda p, s: _edit_bundle(s, lambda b: b["dsseEnvelope"].update(payloadType="text/plain")),
        "payload type 'text/plain'",
    ),
    "signature over other bytes": (
        lambda p, s: _edit_bundle(
            s,
            lambda b: b["dsseEnvelope"].update(
                payload=base64.b64encode(
                    base64.b64decode(b["dsseEnvelope"]["payload"]) + b" "
                ).decode()
            ),
        ),
        "does not match the signed content",
    ),
    "two signatures": (
        lambda p, s: _edit_bundle(
            s, lambda b: b["dsseEnvelope"]["signatures"].append(b["dsseEnvelope"]["signatures"][0])
        ),
        "exactly one DSSE signature",
    ),
    "several subjects": (
        lambda p, s: _resign(p, s, lambda st: st["subject"].append(st["subject"][0])),
        "exactly one subject",
    ),
    "wrong predicate type": (
        lambda p, s: _resign(p, s, lambda st: st.update(predicateType="https://example.com/x")),
        "unknown predicate type",
    ),
    "wrong statement type": (
        lambda p, s: _resign(p, s, lambda st: st.update(_type="https://in-toto.io/Statement/v0.1")),
        "statement type",
    ),
    "subject digest disagrees": (
        lambda p, s: _resign(
            p,
            s,
            lambda st: st["subject"][0]["digest"].update(
                dict.fromkeys(st["subject"][0]["digest"], "00" * 32)
            ),
        ),
        "disagrees with its subject digest",
    ),
    "absolute name": (
        lambda p, s: _resign(p, s, lambda st: _manifest_objects(st)[0].update(name="/etc/passwd")),
        "invalid manifest",
    ),
    "dot-dot name": (
        lambda p, s: _resign(p, s, lambda st: _manifest_objects(st)[0].update(name="../x")),
        "invalid manifest",
    ),
    "forged ranges": (
        lambda p, s: _resign(
            p, s, lambda st: st["predicate"]["ranges"]["objects"][0]["values"].reverse()
        ),
        "ranges of 'weights.bin' do not match its digest",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_signatures_fail_with_a_clear_message(
    pki: PKI, model: Path, tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sig = tmp_path / "model.sig"
    gpuhash.sign(
        model,
        sig,
        method="key",
        private_key=pki.key,
        leaf_size=4096,
        range_size=65536,
        backend="cpu",
    )
    damage, message = BAD[case]
    damage(pki, sig)
    with pytest.raises(VerificationError, match=message):
        gpuhash.verify(model, sig, method="key", public_key=pki.pub)
    capsys.readouterr()
    assert run("verify", "key", model, "--signature", sig, "--public-key", pki.pub) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("gpuhash: error: verification failed: ")


def test_oms_names_outside_the_model_are_refused(pki: PKI, model: Path, tmp_path: Path) -> None:
    sig = tmp_path / "oms.sig"
    gpuhash.sign(model, sig, method="key", private_key=pki.key, format="oms")

    def escape(st: dict[str, Any]) -> None:
        st["predicate"]["resources"][0]["name"] = "../../etc/passwd"

    _resign(pki, sig, escape, oms_root=True)
    with pytest.raises(VerificationError, match=r"unsafe resource name '\.\./\.\./etc/passwd'"):
        gpuhash.verify(model, sig, method="key", public_key=pki.pub)


def test_symlinks_in_the_model_are_refused(pki: PKI, model: Path, tmp_path: Path) -> None:
    sig = tmp_path / "model.sig"
    gpuhash.sign(model, sig, method="key", private_key=pki.key)
    (tmp_path / "outside").write_bytes(b"secret")
    (model / "sub" / "config.json").unlink()
    (model / "sub" / "config.json").symlink_to(tmp_path / "outside")
    assert run("verify", "key", model, "--signature", sig, "--public-key", pki.pub) == 2
    assert (
        run("verify", "key", model, "--signature", sig, "--public-key", pki.pub, "--allow-symlinks")
        == 2
    )  # a link leaving the model is never followed


def test_private_keys_never_appear_in_errors(
    pki: PKI, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = pki.key.read_text().replace("PRIVATE KEY", "PRIVATE KEX")  # not loadable
    bad = tmp_path / "bad.pem"
    bad.write_text(secret)
    assert run("sign", "key", model, "--signature", tmp_path / "s.sig", "--private-key", bad) == 2
    err = capsys.readouterr().err
    assert err == f"gpuhash: error: {bad}: not a PEM private key\n"
    body = "".join(secret.splitlines()[1:-1])
    assert body[:40] not in err
    encrypted = tmp_path / "enc.pem"
    encrypted.write_bytes(
        pki.p256.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    assert (
        run("sign", "key", model, "--signature", tmp_path / "s.sig", "--private-key", encrypted)
        == 2
    )
    assert capsys.readouterr().err == (
        f"gpuhash: error: {encrypted}: the private key is encrypted; give its password with "
        "--password, $GPUHASH_KEY_PASSWORD or at a terminal\n"
    )
    other_curve = tmp_path / "p224.pem"
    _write_key(other_curve, ec.generate_private_key(ec.SECP224R1()))
    with pytest.raises(UsageError, match="must be ECDSA P-256, P-384 or P-521"):
        gpuhash.sign(model, tmp_path / "s.sig", method="key", private_key=other_curve)
    assert not (tmp_path / "s.sig").exists()


def test_signatures_are_written_atomically(pki: PKI, model: Path, tmp_path: Path) -> None:
    sig = tmp_path / "model.sig"
    gpuhash.sign(model, sig, method="key", private_key=pki.key)
    before = sig.read_bytes()
    (model / "fifo").unlink(missing_ok=True)
    os.mkfifo(model / "fifo")  # an unhashable object: signing fails after it started
    with pytest.raises(gpuhash.InputError):
        gpuhash.sign(model, sig, method="key", private_key=pki.key)
    assert sig.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "model.sig"]


def test_signature_inside_the_model_is_ignored(pki: PKI, model: Path) -> None:
    sig = model / "model.sig"
    gpuhash.sign(model, sig, method="key", private_key=pki.key)
    assert gpuhash.verify(model, sig, method="key", public_key=pki.pub).objects == 3
    gpuhash.sign(model, sig, method="key", private_key=pki.key, format="oms")
    assert gpuhash.verify(model, sig, method="key", public_key=pki.pub).objects == 3


def test_usage_errors_exit_2(
    pki: PKI, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sig = tmp_path / "s.sig"
    assert run("sign", "key", model, "--signature", sig) == 2
    assert "needs --private-key" in capsys.readouterr().err
    assert run("verify", "key", model, "--signature", sig, "--public-key", pki.pub) == 2
    assert "cannot read the signature" in capsys.readouterr().err
    assert run("verify", "sigstore", model, "--signature", sig) == 2
    assert "needs --identity and --identity-provider" in capsys.readouterr().err
    assert (
        run(
            "sign",
            "key",
            model,
            "--signature",
            sig,
            "--private-key",
            pki.key,
            "--format",
            "oms",
            "--algorithm",
            "sha512",
        )
        == 2
    )
    assert "sha256 or blake3" in capsys.readouterr().err
    assert not sig.exists()


def test_blake3_ranges_come_from_a_device_backend(pki: PKI, model: Path, tmp_path: Path) -> None:
    """BLAKE3 through the cpu backend is one native pass (no window tops, so no range values);
    through a backend with a device tree (opencl) the signature carries them and a change is
    located."""
    import gpuhash_opencl

    opencl = gpuhash_opencl.OpenCLBackend(device="Intel")
    sig = tmp_path / "model.sig"
    for backend, has_ranges in (("cpu", False), (opencl, True)):
        gpuhash.sign(
            model,
            sig,
            method="key",
            private_key=pki.key,
            algorithm="blake3",
            leaf_size=4096,
            range_size=65536,
            backend=backend,
        )
        payload = json.loads(
            base64.b64decode(json.loads(sig.read_bytes())["dsseEnvelope"]["payload"])
        )
        assert ("ranges" in payload["predicate"]) is has_ranges
    with open(model / "weights.bin", "r+b") as f:
        f.seek(70_000)
        f.write(b"\x00\x01")
    with pytest.raises(VerificationFailed) as info:
        gpuhash.verify(model, sig, method="key", public_key=pki.pub, backend=opencl)
    assert info.value.result.changed[0].ranges == [(65536, 131072)]
    with pytest.raises(VerificationFailed) as info:  # the cpu backend names the object only
        gpuhash.verify(model, sig, method="key", public_key=pki.pub, backend="cpu")
    assert info.value.result.changed[0].ranges is None


def test_sigstore_signing_errors_are_one_line_and_write_nothing(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Keyless signing needs an OIDC identity and the network, neither of which these machines
    have; a malformed identity token fails before any network access, with one line, and no
    signature is written."""
    sig = tmp_path / "s.sig"
    trust = GOLDENS / "sigstore-production-trust-config.json"
    code = run(
        "sign",
        "sigstore",
        model,
        "--signature",
        sig,
        "--trust-config",
        trust,
        "--identity-token",
        "not-a-jwt",
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("gpuhash: error: Sigstore signing failed: ")
    assert err.count("\n") == 1
    assert not sig.exists()


# -- from a review: corner cases that must fail cleanly --------------------------------------


def test_certificate_chains_with_limited_intermediates(
    pki: PKI, model: Path, tmp_path: Path
) -> None:
    """An intermediate whose extended key usage allows code signing may issue signing
    certificates; one limited to client authentication may not. A signing certificate with an
    unknown critical extension is refused (RFC 5280)."""
    sig = tmp_path / "s.sig"
    payload = _native_payload(model)
    for label, passes in (("codesign", True), ("clientauth", False)):
        inter, leaf = pki.limited[label]
        ders = [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
            for p in (leaf, inter)
            for c in x509.load_pem_x509_certificates(p.read_bytes())
        ]
        material = {"x509CertificateChain": {"certificates": [{"rawBytes": d} for d in ders]}}
        sig.write_bytes(
            envelope.bundle_json(payload, methods._ecdsa_sign(pki.p256, payload), material)
        )
        if passes:
            assert gpuhash.verify(model, sig, method="certificate", certificate_chain=[pki.root]).ok
        else:
            with pytest.raises(VerificationError, match="excludes code signing"):
                gpuhash.verify(model, sig, method="certificate", certificate_chain=[pki.root])
    sig.write_bytes(_bundle_with_chain(pki, pki.odd_leaf, payload))
    with pytest.raises(
        VerificationError,
        match=r"1\.3\.6\.1\.4\.1\.99999\.1: certificate contains unaccounted-for critical",
    ):
        gpuhash.verify(model, sig, method="certificate", certificate_chain=[pki.root])


def test_empty_signatures_verify_nothing(pki: PKI, model: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    sig = tmp_path / "e.sig"
    for fmt in ("gpuhash", "oms"):
        with pytest.raises(UsageError, match="nothing to sign"):
            gpuhash.sign(empty, sig, method="key", private_key=pki.key, format=fmt)
    # A validly signed statement listing no objects (made by hand) never verifies anything.
    manifest = gpuhash.Manifest.build(gpuhash.resolve_algorithm(None), [])
    payload = envelope.statement_bytes(
        "m",
        native.subject_digest(manifest),
        native.PREDICATE_TYPE,
        native.predicate(manifest, None),
    )
    sig.write_bytes(methods.KeySigner(pki.key).sign(payload))
    with pytest.raises(VerificationError, match="lists no objects"):
        gpuhash.verify(model, sig, method="key", public_key=pki.pub, ignore_unsigned_files=True)


def test_the_signature_never_overwrites_the_model_or_other_files(
    pki: PKI, model: Path, tmp_path: Path
) -> None:
    weights = model / "weights.bin"
    before = weights.read_bytes()
    with pytest.raises(UsageError, match="is the model itself"):
        gpuhash.sign(weights, weights, method="key", private_key=pki.key)
    with pytest.raises(UsageError, match="exists and is not a signature; not overwriting it"):
        gpuhash.sign(model, weights, method="key", private_key=pki.key)
    assert weights.read_bytes() == before
    sig = tmp_path / "s.sig"
    gpuhash.sign(model, sig, method="key", private_key=pki.key)
    gpuhash.sign(model, sig, method="key", private_key=pki.key, format="oms")  # replaces it
    assert gpuhash.verify(model, sig, method="key", public_key=pki.pub).format == "oms"


NUMBERS = {
    "huge number": (lambda st: st.update(junk=int("9" * 5000)), "not valid JSON"),
    "superscript span": (
        lambda st: st["predicate"]["ranges"].update(span="2\u00b2"),
        "malformed ranges",
    ),
}


def test_unparseable_numbers_fail_in_one_line(
    pki: PKI, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sig = tmp_path / "s.sig"
    # Not even valid for Python's JSON reader: checked before the signature.
    gpuhash.sign(model, sig, method="key", private_key=pki.key)
    bundle = sig.read_text()
    sig.write_text(bundle[:-2] + ', "junk": ' + "9" * 5000 + "}\n")
    with pytest.raises(VerificationError, match="not valid JSON"):
        gpuhash.verify(model, sig, method="key", public_key=pki.pub)
    sig.write_text(bundle.replace('"mediaType"', '"x": NaN, "mediaType"'))
    with pytest.raises(VerificationError, match="not valid JSON"):
        gpuhash.verify(model, sig, method="key", public_key=pki.pub)
    # Signed statements with numbers Python's int() would choke on. (A damaged file is no
    # signature, so signing refuses to overwrite it: it goes first.)
    sig.unlink()
    gpuhash.sign(model, sig, method="key", private_key=pki.key, leaf_size=4096, range_size=65536)
    _resign(pki, sig, lambda st: st["predicate"]["ranges"].update(span="6553\u00b2"))
    with pytest.raises(VerificationError, match="malformed ranges"):
        gpuhash.verify(model, sig, method="key", public_key=pki.pub)

    def superscript(st: dict[str, Any]) -> None:
        st["predicate"]["resources"][0]["name"] += "\u00b2"

    def infinite(st: dict[str, Any]) -> None:
        st["predicate"]["serialization"]["shard_size"] = "__INF__"

    # (1e999 is refused by the strict loader, issue 12, before the predicate is read.)
    for edit, message in (
        (superscript, "bad shard name"),
        (infinite, "number '1e999' is not finite"),
    ):
        gpuhash.sign(
            model, sig, method="key", private_key=pki.key, format="oms", shard_size=100_000
        )
        # 1e999 is valid JSON syntax that Python reads as an infinite float.
        _resign(pki, sig, edit, oms_root=True, text=lambda t: t.replace('"__INF__"', "1e999"))
        with pytest.raises(VerificationError, match=message):
            gpuhash.verify(model, sig, method="key", public_key=pki.pub)
    capsys.readouterr()
    assert run("verify", "key", model, "--signature", sig, "--public-key", pki.pub) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_a_bad_trust_configuration_is_not_quoted(
    pki: PKI, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "jwk.json"
    secret.write_text(json.dumps({"kty": "EC", "crv": "P-256", "d": "SECRETSCALAR" * 3}))
    sig = tmp_path / "s.sig"
    sig.write_text("{}")
    assert (
        run(
            "verify",
            "sigstore",
            model,
            "--signature",
            sig,
            "--identity",
            "a@b.c",
            "--identity-provider",
            "https://x",
            "--trust-config",
            secret,
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err == f"gpuhash: error: {secret}: not a Sigstore client trust configuration\n"
