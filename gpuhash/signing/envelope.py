"""The signature container: an in-toto Statement v1 in a DSSE envelope in a Sigstore bundle
(v0.3, JSON). Building and strict parsing; no cryptography here (``methods`` signs and checks).

Bundles of the key and certificate methods are read with ``sigstore_models`` (the models
sigstore-python and model_signing use), so the bundle's own rules hold: exactly one of
``publicKey``, ``x509CertificateChain`` or ``certificate`` as verification material, exactly one
of a DSSE envelope or a message signature. They are written as the JSON those models write,
byte for byte, without importing them (:func:`bundle_json`).

A bundle is parsed before its signature is checked only as far as needed to find the signature
and the verification material; the statement is parsed only from a payload whose signature has
been verified.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import importlib.util
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gpuhash import limits, strict_json
from gpuhash.errors import UsageError, VerificationError

if TYPE_CHECKING:
    from sigstore_models.bundle.v1 import VerificationMaterial

INSTALL = 'python -m pip install "gpuhash[sign]"'

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
#: Media types of bundles this version reads (the v0.3 spelling and its older alias).
BUNDLE_MEDIA_TYPES = (BUNDLE_MEDIA_TYPE, "application/vnd.dev.sigstore.bundle+json;version=0.3")
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is actually signed."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def statement_bytes(
    subject_name: str, digest: dict[str, str], predicate_type: str, predicate: dict[str, Any]
) -> bytes:
    """An in-toto Statement v1 with one subject, as deterministic JSON bytes."""
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject_name, "digest": digest}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }
    return json.dumps(statement, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8")


def bundle_models() -> Any:
    """``sigstore_models``' bundle module (the sign extra); without it, one UsageError line
    with the install hint. Verifiers call it first, before any hashing."""
    try:
        import pydantic  # noqa: F401
        from sigstore_models.bundle import v1
    except ImportError as e:
        raise UsageError(f"signing needs sigstore-models ({e}); install: {INSTALL}") from None
    return v1


def require_sign_extra() -> None:
    """What signers call first, before any hashing: the sign extra is installed, else one
    UsageError line with the install hint (as :func:`bundle_models`), without importing its
    models, which a signer does not need (:func:`bundle_json`)."""
    for name in ("pydantic", "sigstore_models"):
        if importlib.util.find_spec(name) is None:
            raise UsageError(
                f"signing needs sigstore-models (no module named {name!r}); install: {INSTALL}"
            )


def key_material(public_pem: bytes) -> dict[str, Any]:
    """The verification material of a key signature, in the bundle's JSON form: the
    ``publicKey`` hint of the signing key (as model_signing writes it)."""
    return {"publicKey": {"hint": public_key_hint(public_pem)}}


def certificate_material(ders: Sequence[bytes]) -> dict[str, Any]:
    """The verification material of a certificate signature, in the bundle's JSON form: the
    chain of DER certificates, signing certificate first."""
    certificates = [{"rawBytes": base64.b64encode(d).decode("ascii")} for d in ders]
    return {"x509CertificateChain": {"certificates": certificates}}


def bundle_json(payload: bytes, signature: bytes, material: Mapping[str, Any]) -> bytes:
    """A Sigstore bundle v0.3 holding a DSSE envelope with one signature, as indented JSON:
    byte for byte what ``sigstore_models`` writes for the same bundle (tests/test_signing.py
    checks it), written without it, since a signer would otherwise import pydantic's models
    (about 0.1 s of a signing command) only to serialise four fields. ``material``: one of
    ``publicKey``, ``x509CertificateChain`` or ``certificate`` in JSON form (``key_material``,
    ``certificate_material``); no transparency-log entries. A material of another shape (a
    field the models do not have, a missing or mistyped one, base64 they would write back
    differently, no certificate) is a ValueError naming what is wrong, never a bundle."""
    _check_material(material)
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {**material, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode("ascii"),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode("ascii"), "keyid": ""}],
        },
    }
    return (json.dumps(bundle, indent=2) + "\n").encode("utf-8")


_MATERIALS = ("publicKey", "x509CertificateChain", "certificate")


def _check_material(material: Mapping[str, Any]) -> None:
    """``material`` has exactly the shape of :data:`_MATERIALS`' JSON forms in Sigstore's
    bundle v0.3 (what ``sigstore_models`` reads and writes back unchanged), else a ValueError."""
    if len(material) != 1 or next(iter(material)) not in _MATERIALS:
        raise ValueError(f"verification material must be one of {', '.join(_MATERIALS)}")
    ((kind, body),) = material.items()

    def fields(value: object, where: str, names: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping) or set(value) != set(names):
            raise ValueError(f"verification material {where}: must hold exactly {', '.join(names)}")
        return value

    def der(value: object, where: str) -> None:
        raw = fields(value, where, ("rawBytes",))["rawBytes"]
        try:
            canonical = (
                isinstance(raw, str)
                and base64.b64encode(base64.b64decode(raw, validate=True)).decode("ascii") == raw
            )
        except (binascii.Error, ValueError):
            canonical = False
        if not canonical or not raw:
            raise ValueError(f"verification material {where}.rawBytes: not a certificate in base64")

    if kind == "publicKey":
        if not isinstance(fields(body, kind, ("hint",))["hint"], str):
            raise ValueError("verification material publicKey.hint: not a string")
    elif kind == "certificate":
        der(body, kind)
    else:
        certificates = fields(body, kind, ("certificates",))["certificates"]
        if not isinstance(certificates, list) or not certificates:
            raise ValueError(
                f"verification material {kind}.certificates: not a list of certificates"
            )
        for i, certificate in enumerate(certificates):
            der(certificate, f"{kind}.certificates[{i}]")


#: pydantic's error types in our own words: its messages may quote the (unverified) input.
_PROBLEMS = {
    "missing": "missing",
    "extra_forbidden": "not a field of a Sigstore bundle",
    "int_parsing": "not an integer",
    "int_type": "not an integer",
    "string_type": "not a string",
    "list_type": "not a list",
    "dict_type": "not an object",
    "model_type": "not an object",
    "bool_type": "not a boolean",
}
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def _location(loc: Sequence[object]) -> str:
    """Where a validation error is, from list indices and field-like names only (an unknown
    key of the input may be anything)."""
    parts = [
        str(p) if isinstance(p, int) or (isinstance(p, str) and _FIELD.fullmatch(p)) else "<key>"
        for p in loc[:8]
    ]
    return ".".join(parts) or "the bundle"


def _validated(model: Any, value: dict[str, Any]) -> Any:
    """``value`` as the ``sigstore_models`` ``model``; any failure is one VerificationError
    line naming the first problem (never quoting the input)."""
    from pydantic import ValidationError

    try:
        return model.model_validate(value)
    except ValidationError as e:
        errors = e.errors(include_input=False, include_url=False)
        material = value.get("verificationMaterial", value)
        held = [k for k in _MATERIALS if isinstance(material, dict) and material.get(k) is not None]
        if any("Exactly one of publicKey" in err["msg"] for err in errors) or (
            len(held) != 1 and isinstance(material, dict)
        ):
            what = " and ".join(held) if held else "none of them"
            raise VerificationError(
                "signature: the bundle's verification material must hold exactly one of "
                f"publicKey, x509CertificateChain or certificate; it holds {what}"
            ) from None
        first = errors[0]
        problem = _PROBLEMS.get(str(first["type"]), "not a valid value")
        raise VerificationError(
            f"signature: not a valid Sigstore bundle: {_location(first['loc'])}: {problem}"
        ) from None


def public_key_hint(public_pem: bytes) -> str:
    """The ``publicKey.hint`` model_signing writes: SHA-256 of the public key's PEM bytes."""
    return hashlib.sha256(public_pem).hexdigest()


@dataclass(frozen=True)
class Envelope:
    """What a bundle carries, before anything is verified."""

    bundle: dict[str, Any]
    payload_type: str
    payload: bytes
    signature: bytes
    material: dict[str, Any]


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise VerificationError(f"signature: {what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(f"signature: {what} is not valid base64") from None


def _names(keys: set[str]) -> str:
    """Field names for a message: sorted, each a short printable excerpt, at most five."""
    shown = [strict_json.excerpt(k) for k in sorted(keys)[:5]]
    return ", ".join(shown) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise VerificationError(f"signature: {what} is missing or not a JSON object")
    return value


def parse_json(data: bytes, what: str, max_values: int = limits.MAX_BUNDLE_VALUES) -> Any:
    """Strict JSON (``strict_json.loads``: UTF-8 only, no duplicate keys, no NaN, Infinity or
    non-finite numbers, bounded nesting, at most ``max_values`` values counted before
    parsing); any failure is a VerificationError naming ``what``."""
    try:
        return strict_json.loads(data, what, max_values=max_values)
    except strict_json.JSONError as e:
        raise VerificationError(str(e)) from None


def not_a_bundle(data: bytes) -> str | None:
    """What ``data`` is when it is plainly not a Sigstore bundle (a JSON object without a
    ``mediaType``): a gpuhash manifest, an inclusion proof, a bare DSSE envelope or in-toto
    statement, other JSON. None for anything else (a bundle, or bytes that are not JSON, left
    to ``parse_bundle``'s messages)."""
    try:
        value = strict_json.loads(data, "it", max_values=limits.MAX_BUNDLE_VALUES)
    except strict_json.JSONError:
        return None
    if not isinstance(value, dict):
        return f"a JSON {type(value).__name__.replace('dict', 'object')}"
    if "mediaType" in value:
        return None
    keys = set(value)
    if {"algorithm", "objects"} & keys and "artifactDigest" in keys:
        return "a gpuhash manifest (JSON)"
    if {"objectName", "nodes"} & keys and "algorithm" in keys:
        return "a gpuhash inclusion proof"
    if {"payloadType", "signatures"} <= keys:
        return "a bare DSSE envelope (not inside a Sigstore bundle)"
    if "_type" in keys and "subject" in keys:
        return "a bare in-toto statement (not signed)"
    return "a JSON object without a mediaType"


#: The fields of a Sigstore bundle v0.3, its DSSE envelope and a DSSE signature: anything else
#: is refused, so that no unsigned field rides along (or pads the file) unnoticed.
_BUNDLE_FIELDS = ("mediaType", "verificationMaterial", "dsseEnvelope", "messageSignature")
_ENVELOPE_FIELDS = ("payload", "payloadType", "signatures")
_SIGNATURE_FIELDS = ("sig", "keyid")


def _known(value: dict[str, Any], fields: Sequence[str], what: str) -> None:
    unknown = set(value) - set(fields)
    if unknown:
        raise VerificationError(f"signature: {what} has unknown fields {_names(unknown)}")


def parse_bundle(data: bytes) -> Envelope:
    """The envelope of a Sigstore bundle (JSON), checked for shape; raises VerificationError."""
    if len(data) > limits.MAX_SIGNATURE_BYTES:
        most = limits.describe_size(limits.MAX_SIGNATURE_BYTES)
        size = limits.describe_size(len(data))
        raise VerificationError(f"signature: {size}, larger than the {most} gpuhash reads")
    bundle = _object(parse_json(data, "signature"), "the bundle")
    media = bundle.get("mediaType")
    if media not in BUNDLE_MEDIA_TYPES:
        raise VerificationError(
            f"signature: media type {strict_json.excerpt(media)} is not a Sigstore bundle "
            f"v0.3 ({BUNDLE_MEDIA_TYPE})"
        )
    _known(bundle, _BUNDLE_FIELDS, "the bundle")
    if "dsseEnvelope" not in bundle:
        raise VerificationError("signature: the bundle holds no DSSE envelope")
    envelope = _object(bundle["dsseEnvelope"], "dsseEnvelope")
    _known(envelope, _ENVELOPE_FIELDS, "the DSSE envelope")
    payload_type = envelope.get("payloadType")
    if payload_type != PAYLOAD_TYPE:
        raise VerificationError(
            f"signature: payload type {strict_json.excerpt(payload_type)} is not {PAYLOAD_TYPE!r}"
        )
    payload = _b64(envelope.get("payload"), "the payload")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or len(signatures) != 1:
        count = len(signatures) if isinstance(signatures, list) else 0
        raise VerificationError(f"signature: expected exactly one DSSE signature, found {count}")
    entry = _object(signatures[0], "the DSSE signature")
    _known(entry, _SIGNATURE_FIELDS, "the DSSE signature")
    signature = _b64(entry.get("sig"), "the signature")
    material = _object(bundle.get("verificationMaterial"), "verificationMaterial")
    return Envelope(bundle, payload_type, payload, signature, material)


def verification_material(env: Envelope) -> VerificationMaterial:
    """The verification material of a key or certificate bundle, read with ``sigstore_models``
    (exactly one of ``publicKey``, ``x509CertificateChain`` or ``certificate``). The older
    spellings model_signing reads are read too: no ``tlogEntries``, a ``publicKey`` without
    ``hint`` or with the embedded key (``rawBytes``, ``keyDetails``, never used: the verifier
    is given the key). Certificates must be strict base64, which the models do not demand."""
    bundle = dict(env.bundle)
    material = dict(env.material)
    material.setdefault("tlogEntries", [])
    if isinstance(material.get("publicKey"), dict):
        key = {
            k: v for k, v in material["publicKey"].items() if k not in ("rawBytes", "keyDetails")
        }
        key.setdefault("hint", None)
        material["publicKey"] = key
    chain = material.get("x509CertificateChain")
    if isinstance(chain, dict) and isinstance(chain.get("certificates"), list):
        for i, entry in enumerate(chain["certificates"]):
            _b64(entry.get("rawBytes") if isinstance(entry, dict) else None, f"certificate {i}")
    bundle["verificationMaterial"] = material
    return _validated(bundle_models().Bundle, bundle).verification_material  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Statement:
    """An authenticated in-toto statement with exactly one subject."""

    subject_name: str
    digest: dict[str, str]
    predicate_type: str
    predicate: dict[str, Any]


def parse_statement(payload_type: str, payload: bytes) -> Statement:
    """The statement of a verified payload; raises VerificationError when it is not an in-toto
    Statement v1 with exactly one subject."""
    if payload_type != PAYLOAD_TYPE:
        raise VerificationError(
            f"signature: payload type {strict_json.excerpt(payload_type)} is not {PAYLOAD_TYPE!r}"
        )
    statement = _object(
        parse_json(payload, "the signed statement", limits.MAX_MANIFEST_VALUES), "the statement"
    )
    unknown = set(statement) - {"_type", "subject", "predicateType", "predicate"}
    if unknown:
        raise VerificationError(f"signature: the statement has unknown fields {_names(unknown)}")
    if statement.get("_type") != STATEMENT_TYPE:
        raise VerificationError(
            f"signature: statement type {statement.get('_type')!r} is not {STATEMENT_TYPE!r}"
        )
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1:
        count = len(subjects) if isinstance(subjects, list) else 0
        raise VerificationError(f"signature: expected exactly one subject, found {count}")
    subject = _object(subjects[0], "the subject")
    unknown = set(subject) - {"name", "digest"}
    if unknown:
        raise VerificationError(f"signature: the subject has unknown fields {_names(unknown)}")
    name = subject.get("name")
    digest = subject.get("digest")
    if not isinstance(name, str):
        raise VerificationError("signature: the subject has no name")
    if (
        not isinstance(digest, dict)
        or not digest
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in digest.items())
    ):
        raise VerificationError("signature: the subject has no digest set")
    predicate_type = statement.get("predicateType")
    if not isinstance(predicate_type, str):
        raise VerificationError("signature: the statement has no predicate type")
    predicate = _object(statement.get("predicate"), "the predicate")
    return Statement(name, dict(digest), predicate_type, predicate)
