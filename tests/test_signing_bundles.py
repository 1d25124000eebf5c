"""Key and certificate bundles through ``sigstore_models`` (gpuhash.signing.envelope): what
gpuhash writes parses with the models sigstore-python and model_signing use and model_signing
verifies it; the verification material holds exactly one of its kinds; a ``publicKey`` hint
names the verifying key, computed as model_signing computes it."""

from __future__ import annotations

import base64
import datetime
import hashlib
import importlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_run import one_error_line, run
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from sigstore_models.bundle.v1 import Bundle

import gpuhash
from gpuhash.errors import VerificationError
from gpuhash.signing import envelope

GOLDENS = Path(__file__).resolve().parent / "data" / "model-signing-goldens"


def _self_signed(key_path: Path, out: Path) -> Path:
    """A self-signed code-signing certificate for the key at ``key_path`` (its own anchor)."""
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bundle-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .sign(key, hashes.SHA256())
    )
    out.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return out


@pytest.fixture
def model(tmp_path: Path) -> Path:
    m = tmp_path / "model"
    m.mkdir()
    (m / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (m / "config.json").write_bytes(b'{"layers": 2}')
    return m


@pytest.fixture
def other_key(tmp_path: Path) -> Path:
    """The public key of another P-256 key pair."""
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "other-pub.pem"
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def _edit(sig: Path, edit: Callable[[dict[str, Any]], object]) -> None:
    bundle = json.loads(sig.read_bytes())
    edit(bundle["verificationMaterial"])
    sig.write_text(json.dumps(bundle))


@pytest.mark.parametrize("fmt", ["gpuhash", "oms"])
def test_gpuhash_bundles_parse_with_sigstore_models_and_model_signing_verifies_them(
    model: Path, tmp_path: Path, ec_keys: tuple[Path, Path], fmt: str
) -> None:
    private, public = ec_keys
    cert = _self_signed(private, tmp_path / "cert.pem")
    key_sig, cert_sig = tmp_path / "k.sig", tmp_path / "c.sig"
    gpuhash.sign(model, key_sig, method="key", private_key=private, format=fmt)
    gpuhash.sign(
        model,
        cert_sig,
        method="certificate",
        private_key=private,
        signing_certificate=cert,
        format=fmt,
    )
    for sig in (key_sig, cert_sig):  # (byte for byte what the models write: test_signing.py)
        assert Bundle.from_json(sig.read_bytes()).dsse_envelope is not None
    material = Bundle.from_json(key_sig.read_bytes()).verification_material
    assert material.public_key is not None
    assert material.x509_certificate_chain is None
    assert material.public_key.hint == hashlib.sha256(public.read_bytes()).hexdigest()
    chain = Bundle.from_json(cert_sig.read_bytes()).verification_material.x509_certificate_chain
    assert chain is not None
    assert [c.raw_bytes for c in chain.certificates] == [
        x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(serialization.Encoding.DER)
    ]
    assert gpuhash.verify(model, key_sig, method="key", public_key=public).ok
    assert gpuhash.verify(model, cert_sig, method="certificate", certificate_chain=[cert]).ok
    if fmt == "oms":
        ms = importlib.import_module("model_signing")
        ms.verifying.Config().use_elliptic_key_verifier(public_key=public).verify(model, key_sig)
        ms.verifying.Config().use_certificate_verifier(certificate_chain=[cert]).verify(
            model, cert_sig
        )


_B64 = st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())
#: Near the three shapes of verification material: right and wrong field names, types and
#: base64 (padding, the URL alphabet, whitespace), empty and missing parts.
_TEXT = st.one_of(_B64, st.text(max_size=12), st.sampled_from(["AA", "AAB=", "-_8=", "AA AA"]))
_VALUE = st.one_of(_TEXT, st.integers(), st.none(), st.lists(_TEXT, max_size=2))
_CERTIFICATE = st.one_of(
    st.fixed_dictionaries({"rawBytes": _TEXT}),
    st.dictionaries(st.sampled_from(["rawBytes", "raw_bytes", "x"]), _VALUE, max_size=2),
    _VALUE,
)
_MATERIAL = st.one_of(
    st.fixed_dictionaries({"publicKey": st.fixed_dictionaries({"hint": _TEXT})}),
    st.fixed_dictionaries(
        {"publicKey": st.dictionaries(st.sampled_from(["hint", "rawBytes"]), _VALUE, max_size=2)}
    ),
    st.fixed_dictionaries({"certificate": _CERTIFICATE}),
    st.fixed_dictionaries(
        {
            "x509CertificateChain": st.one_of(
                st.fixed_dictionaries({"certificates": st.lists(_CERTIFICATE, max_size=3)}),
                st.dictionaries(st.sampled_from(["certificates", "x"]), _VALUE, max_size=2),
            )
        }
    ),
    st.dictionaries(
        st.sampled_from(["publicKey", "certificate", "tlogEntries", "x"]),
        st.fixed_dictionaries({"hint": _TEXT}),
        max_size=3,
    ),
)


def _written_back(text: bytes) -> bytes | None:
    """The bundle ``sigstore_models`` writes for ``text``, or None if it refuses it."""
    try:
        parsed = Bundle.model_validate_json(text)
    except ValueError:  # pydantic's ValidationError
        return None
    return (json.dumps(parsed.to_dict(), indent=2) + "\n").encode()


@settings(max_examples=400, deadline=None)
@given(material=_MATERIAL)
def test_bundle_json_writes_only_what_sigstore_models_writes_back(material: dict[str, Any]) -> None:
    """Signers build bundles without the models: any material ``bundle_json`` accepts gives a
    bundle the models read and write back byte for byte; any other is one ValueError naming
    the material, and the models would refuse it, rewrite it, or find no certificate in it."""
    try:
        written, refused = envelope.bundle_json(b"{}", b"signature", material), ""
    except ValueError as e:
        written, refused = b"", str(e)
    if not refused:
        assert _written_back(written) == written
        return
    assert refused.startswith("verification material ")
    assert "\n" not in refused
    dsse = {"payload": "e30=", "payloadType": envelope.PAYLOAD_TYPE, "signatures": []}
    bundle = {
        "mediaType": envelope.BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {**material, "tlogEntries": material.get("tlogEntries", [])},
        "dsseEnvelope": dsse,
    }
    text = json.dumps(bundle, indent=2).encode() + b"\n"
    if _written_back(text) == text:  # the models take it as it is: it holds no certificate
        ((kind, body),) = material.items()
        assert kind != "publicKey"
        held = body.get("certificates", [body])
        assert not held or not all(c["rawBytes"] for c in held)


def test_the_hint_is_computed_as_model_signing_computes_it() -> None:
    """model_signing 1.1's key bundle carries the SHA-256 of the signing key's PEM as
    ``cryptography`` writes it (SubjectPublicKeyInfo; not the key file's own bytes): gpuhash's
    hint of the same key is the same string."""
    material = json.loads((GOLDENS / "v1.1.0-elliptic-key" / "model.sig").read_bytes())[
        "verificationMaterial"
    ]
    key = serialization.load_pem_public_key((GOLDENS / "keys" / "signing-key-pub.pem").read_bytes())
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert envelope.public_key_hint(pem) == material["publicKey"]["hint"]


def test_a_hint_of_another_key_is_refused(
    model: Path,
    tmp_path: Path,
    ec_keys: tuple[Path, Path],
    other_key: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The hint is not signed: a valid signature beside another key's hint was altered, and a
    signature checked with the key the hint does not name says so. Both fail verification
    (exit 1), as model_signing's "Key mismatch" does."""
    private, public = ec_keys
    sig = tmp_path / "model.sig"
    gpuhash.sign(model, sig, method="key", private_key=private, format="oms")
    other_hint = envelope.public_key_hint(other_key.read_bytes())
    _edit(sig, lambda m: m["publicKey"].update(hint=other_hint))
    with pytest.raises(VerificationError, match="publicKey hint does not match this public key"):
        gpuhash.verify(model, sig, method="key", public_key=public)
    code, out, err = run(capsys, "verify", "key", model, "--signature", sig, "--public-key", public)
    assert (code, out) == (1, "")
    one_error_line(err, "verification failed", "publicKey hint does not match")
    ms = importlib.import_module("model_signing")
    with pytest.raises(ValueError, match="Key mismatch"):
        ms.verifying.Config().use_elliptic_key_verifier(public_key=public).verify(model, sig)
    # Verified with the key the (original) hint does not name: the signature fails, and the
    # message says the bundle names another key.
    gpuhash.sign(model, sig, method="key", private_key=private)
    with pytest.raises(
        VerificationError, match=r"does not match the signed content .*hint names another key"
    ):
        gpuhash.verify(model, sig, method="key", public_key=other_key)
    # No hint (model_signing 1.0's bundles) or an empty one: nothing to compare.
    _edit(sig, lambda m: m["publicKey"].pop("hint"))
    assert gpuhash.verify(model, sig, method="key", public_key=public).ok
    _edit(sig, lambda m: m["publicKey"].update(hint=""))
    assert gpuhash.verify(model, sig, method="key", public_key=public).ok


@pytest.mark.parametrize("method", ["key", "certificate"])
@pytest.mark.parametrize("holds", ["both", "neither"])
def test_verification_material_holds_exactly_one_kind(
    model: Path,
    tmp_path: Path,
    ec_keys: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    method: str,
    holds: str,
) -> None:
    private, public = ec_keys
    cert = _self_signed(private, tmp_path / "cert.pem")
    key_sig, cert_sig = tmp_path / "k.sig", tmp_path / "c.sig"
    gpuhash.sign(model, key_sig, method="key", private_key=private)
    gpuhash.sign(
        model, cert_sig, method="certificate", private_key=private, signing_certificate=cert
    )
    sig = key_sig if method == "key" else cert_sig
    if holds == "both":
        other = cert_sig if method == "key" else key_sig
        _edit(sig, lambda m: m.update(json.loads(other.read_bytes())["verificationMaterial"]))
        said = "it holds publicKey and x509CertificateChain"
    else:
        _edit(sig, lambda m: [m.pop(k) for k in ("publicKey", "x509CertificateChain") if k in m])
        said = "it holds none of them"
    options: dict[str, Any] = (
        {"public_key": public} if method == "key" else {"certificate_chain": [cert]}
    )
    with pytest.raises(VerificationError, match=said):
        gpuhash.verify(model, sig, method=method, **options)
    flags = ["--public-key", public] if method == "key" else ["--certificate-chain", cert]
    code, out, err = run(capsys, "verify", method, model, "--signature", sig, *flags)
    assert (code, out) == (1, "")
    one_error_line(err, "exactly one of publicKey, x509CertificateChain or certificate", said)


@pytest.mark.parametrize(
    "edit",
    [
        # an unknown key named with a line break and 300 more characters
        lambda m: m.update({"evil\nsecond line" + "A" * 300: 1}),
        # a log index (a decimal string in the proto JSON) that is not a number, quoted by
        # sigstore_models' own validator in its message
        lambda m: m.update(tlogEntries=[{"logIndex": "\n1" + "0" * 300 + "\n"}]),
        lambda m: m.update(tlogEntries=[{"logIndex": "x" * 500}]),
        # no material at all, spelled as nulls
        lambda m: m.update(publicKey=None),
    ],
    ids=["unknown-key", "log-index-newlines", "log-index-text", "null-material"],
)
def test_an_invalid_bundle_is_one_short_line_quoting_nothing(
    model: Path, tmp_path: Path, ec_keys: tuple[Path, Path], edit: Callable[..., object]
) -> None:
    """The bundle is parsed before its signature is checked: whatever it holds, the refusal is
    one line of our words, without the input's text."""
    private, public = ec_keys
    sig = tmp_path / "model.sig"
    gpuhash.sign(model, sig, method="key", private_key=private)
    _edit(sig, edit)
    with pytest.raises(VerificationError) as caught:
        gpuhash.verify(model, sig, method="key", public_key=public)
    message = str(caught.value)
    assert "\n" not in message, message
    assert len(message) < 200, message
    for quoted in ("AAAA", "0000", "xxxx", "evil", "second line"):
        assert quoted not in message, message


def test_without_sigstore_models_signing_stops_before_hashing(
    model: Path, tmp_path: Path, ec_keys: tuple[Path, Path]
) -> None:
    """Key and certificate bundles need sigstore-models (the sign extra): without it, signing
    and verifying stop at once with the install hint, one line, exit 2, before any hashing."""
    private, public = ec_keys
    script = (
        "import sys\n"
        "sys.modules['sigstore_models'] = None\n"  # as if not installed: imports fail
        "import gpuhash.engine\n"
        "def hashed(*a, **k):\n"
        "    raise SystemExit('hashed before checking what signing needs')\n"
        "gpuhash.engine.hash_sources = hashed\n"
        "from gpuhash.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    sig = tmp_path / "model.sig"
    for args in (
        ["sign", "key", str(model), "--private-key", str(private), "--signature", str(sig)],
        ["verify", "key", str(model), "--public-key", str(public), "--signature", str(sig)],
    ):
        if args[0] == "verify":
            gpuhash.sign(model, sig, method="key", private_key=private)
        done = subprocess.run(
            [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        lines = done.stderr.splitlines()
        assert len(lines) == 1, lines
        assert "sigstore-models" in lines[0], lines
        assert "install" in lines[0], lines
