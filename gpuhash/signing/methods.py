"""The key and certificate signing methods: ECDSA keys and X.509 certificates (Sigstore keyless
is in ``keyless``). Each signer turns a statement into a Sigstore bundle; each verifier returns
the payload of a bundle whose signature it checked, or raises ``VerificationError``. The
cryptography is ``cryptography``'s; nothing here implements a primitive.

Error messages name files and problems, never key material.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from typing import Any

from gpuhash import limits
from gpuhash.errors import UsageError, VerificationError
from gpuhash.signing import envelope

#: Curves a signature may be made and verified with; ECDSA hashes with SHA-256, SHA-384 and
#: SHA-512 on them (as model_signing).
SIGNING_CURVES = ("secp256r1", "secp384r1", "secp521r1")
VERIFYING_CURVES = SIGNING_CURVES


def _cryptography() -> Any:
    try:
        import cryptography  # noqa: F401
    except ImportError as e:
        raise UsageError(
            f"signing needs the cryptography package ({e}); install: {envelope.INSTALL}"
        ) from None
    from cryptography.hazmat.primitives import hashes

    return hashes


def _hash_for(curve_name: str) -> Any:
    hashes = _cryptography()
    return {"secp256r1": hashes.SHA256(), "secp384r1": hashes.SHA384()}.get(
        curve_name, hashes.SHA512()
    )


def _read(path: str | os.PathLike[str], what: str, limit: int = limits.MAX_KEY_BYTES) -> bytes:
    return limits.read_limited(path, limit, what)


def _load_pem_private_key(data: bytes, password: bytes | None) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(data, password=password)


def _needs_password(data: bytes) -> bool:
    try:
        _load_pem_private_key(data, None)
    except TypeError:
        return True
    except Exception:  # never echo what was read
        return False
    return False


def private_key_is_encrypted(path: str | os.PathLike[str]) -> bool:
    """Whether the PEM private key at ``path`` needs a password (False for anything that is
    not a readable PEM private key of at most the key size limit: loading it reports that)."""
    _cryptography()
    try:
        data = _read(path, "private key")
    except UsageError:
        return False
    try:
        return _needs_password(data)
    finally:
        del data


def load_private_key(path: str | os.PathLike[str], password: str | bytes | None = None) -> Any:
    """An EC private key (P-256, P-384 or P-521) from a PEM file, decrypted with ``password``
    (text is taken as UTF-8) when it is encrypted."""
    _cryptography()
    from cryptography.hazmat.primitives.asymmetric import ec

    secret = password.encode("utf-8") if isinstance(password, str) else password
    where = os.fspath(path)
    data = _read(path, "private key")
    try:
        key = _load_pem_private_key(data, secret)
    except TypeError:
        if secret is None:
            raise UsageError(f"{where}: the private key is encrypted; give its password") from None
        raise UsageError(
            f"{where}: the private key is not encrypted, yet a password was given"
        ) from None
    except Exception:  # never echo what was read
        if secret is not None and _needs_password(data):
            raise UsageError(f"{where}: wrong password for the private key") from None
        raise UsageError(f"{where}: not a PEM private key") from None
    finally:
        del data, secret
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in SIGNING_CURVES:
        raise UsageError(f"{where}: the private key must be ECDSA P-256, P-384 or P-521")
    return key


def load_public_key(path: str | os.PathLike[str]) -> Any:
    _cryptography()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    data = _read(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except Exception:
        raise UsageError(f"{os.fspath(path)}: not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in VERIFYING_CURVES:
        raise UsageError(f"{os.fspath(path)}: the public key must be ECDSA P-256, P-384 or P-521")
    return key


def load_certificates(paths: Sequence[str | os.PathLike[str]], what: str) -> list[Any]:
    _cryptography()
    from cryptography import x509

    certs: list[Any] = []
    for path in paths:
        data = _read(path, what, limits.MAX_CERTIFICATE_BYTES)
        try:
            certs.extend(x509.load_pem_x509_certificates(data))
        except ValueError:
            raise UsageError(f"{os.fspath(path)}: not a PEM certificate") from None
    return certs


def _public_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _ecdsa_sign(key: Any, payload: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import ec

    return bytes(
        key.sign(envelope.pae(envelope.PAYLOAD_TYPE, payload), ec.ECDSA(_hash_for(key.curve.name)))
    )


def _ecdsa_verify(key: Any, env: envelope.Envelope, who: str) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key.verify(
            env.signature,
            envelope.pae(env.payload_type, env.payload),
            ec.ECDSA(_hash_for(key.curve.name)),
        )
    except InvalidSignature:
        raise VerificationError(
            f"signature: the signature does not match the signed content with {who}"
        ) from None


# -- keys ---------------------------------------------------------------------------------------


class KeySigner:
    """Signs with an ECDSA private key (PEM, decrypted with ``password`` when encrypted)."""

    method = "key"

    def __init__(
        self, private_key: str | os.PathLike[str], password: str | bytes | None = None
    ) -> None:
        envelope.require_sign_extra()
        self._key = load_private_key(private_key, password)

    def sign(self, payload: bytes) -> bytes:
        """The bundle of ``payload`` signed with the key, with the key's ``publicKey`` hint."""
        material = envelope.key_material(_public_pem(self._key.public_key()))
        return envelope.bundle_json(payload, _ecdsa_sign(self._key, payload), material)


class KeyVerifier:
    """Checks a key bundle with an ECDSA public key (PEM): the signature, and the bundle's
    ``publicKey`` hint, where it has one, must be this key's (as model_signing checks)."""

    method = "key"

    def __init__(self, public_key: str | os.PathLike[str]) -> None:
        envelope.bundle_models()
        self._key = load_public_key(public_key)
        self._hint = envelope.public_key_hint(_public_pem(self._key))
        self.signer = f"public key {os.fspath(public_key)}"

    def verify(self, data: bytes) -> tuple[str, bytes]:
        """The payload type and payload of ``data``, a bundle signed with this key."""
        env = envelope.parse_bundle(data)
        material = envelope.verification_material(env)
        if material.public_key is None:
            raise VerificationError(
                "signature: not made with a key (its bundle carries no publicKey); "
                "verify it with the method it was made with"
            )
        # The hint is not signed: a signature that does not verify says which key made it;
        # one that verifies beside another key's hint was altered, and is refused as well.
        hint = material.public_key.hint
        other_key = bool(hint) and hint != self._hint
        try:
            _ecdsa_verify(self._key, env, "this public key")
        except VerificationError as e:
            if other_key:
                raise VerificationError(f"{e} (its publicKey hint names another key)") from None
            raise
        if other_key:
            raise VerificationError(
                "signature: the bundle's publicKey hint does not match this public key"
            )
        return env.payload_type, env.payload


# -- certificates ---------------------------------------------------------------------------------


def _check_signing_usage(cert: Any, where: str) -> None:
    """The certificate may sign: key usage digitalSignature (when it states a key usage) and
    extended key usage codeSigning (when it states one), and at least one of the two."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    stated = False
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        stated = True
        if not usage.digital_signature:
            raise VerificationError(
                f"{where}: the certificate's key usage excludes digital signatures"
            )
    except x509.ExtensionNotFound:
        pass
    try:
        extended = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        stated = True
        if (
            ExtendedKeyUsageOID.CODE_SIGNING not in extended
            and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in extended
        ):
            raise VerificationError(
                f"{where}: the certificate's extended key usage excludes code signing"
            )
    except x509.ExtensionNotFound:
        pass
    if not stated:
        raise VerificationError(f"{where}: the certificate states no key usage for signing")


def _ca_may_sign_code(policy: Any, cert: Any, extended: Any) -> None:
    """Extension-policy validator for CA certificates: an extended key usage, where stated,
    includes code signing or any purpose."""
    from cryptography.x509.oid import ExtendedKeyUsageOID

    if extended is None:
        return
    if (
        ExtendedKeyUsageOID.CODE_SIGNING not in extended
        and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in extended
    ):
        raise ValueError("a CA's extended key usage excludes code signing")


def _issued_by(cert: Any, issuer: Any) -> bool:
    """Whether ``issuer``'s key signed ``cert`` and its subject is ``cert``'s issuer."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, Exception):  # InvalidSignature, unsupported key types
        return False
    return True


def _check_chain_links(leaf: Any, chain: Sequence[Any], where: str) -> None:
    """What a verifier needs of the bundle (11.2): a path from the signing certificate to a
    trust anchor, built from the bundled certificates. Without a chain that is possible only
    when the signing certificate is self-signed (its own anchor); so a certificate issued by
    another needs ``--certificate-chain``, and each certificate given must have issued the
    one below it. Raises ``UsageError`` before anything is hashed."""
    if not chain:
        if not _issued_by(leaf, leaf):
            issuer = leaf.issuer.rfc4514_string()
            raise UsageError(
                f"{where}: issued by {issuer}, so a verifier needs the certificates above it: "
                "pass them with --certificate-chain (up to the trust anchor; without a chain "
                "only a self-signed certificate can verify)"
            )
        return
    below = leaf
    for i, cert in enumerate(chain):
        if not _issued_by(below, cert):
            what = "the signing certificate" if i == 0 else f"chain certificate {i}"
            raise UsageError(
                f"--certificate-chain: certificate {i + 1} ({cert.subject.rfc4514_string()}) "
                f"did not issue {what} ({below.subject.rfc4514_string()}); give the chain in "
                "order, from the issuer of the signing certificate up"
            )
        below = cert


class CertificateSigner:
    """Signs with an ECDSA private key and its X.509 certificate, which must be allowed to sign
    and, with the chain given, lead to a trust anchor (checked before anything is hashed)."""

    method = "certificate"

    def __init__(
        self,
        private_key: str | os.PathLike[str],
        signing_certificate: str | os.PathLike[str],
        certificate_chain: Sequence[str | os.PathLike[str]] = (),
        password: str | bytes | None = None,
    ) -> None:
        envelope.require_sign_extra()
        self._key = load_private_key(private_key, password)
        certs = load_certificates([signing_certificate], "signing certificate")
        if len(certs) != 1:
            raise UsageError(
                f"{os.fspath(signing_certificate)}: expected one certificate, found {len(certs)}"
            )
        self._cert = certs[0]
        if self._cert.public_key() != self._key.public_key():
            raise UsageError(
                f"{os.fspath(signing_certificate)}: the certificate is not for this private key"
            )
        try:
            _check_signing_usage(self._cert, os.fspath(signing_certificate))
        except VerificationError as e:
            raise UsageError(str(e)) from None
        self._chain = load_certificates(certificate_chain, "certificate chain")
        _check_chain_links(self._cert, self._chain, os.fspath(signing_certificate))

    def sign(self, payload: bytes) -> bytes:
        """The bundle of ``payload`` signed with the key, with the certificate and its chain."""
        from cryptography.hazmat.primitives import serialization

        ders = [c.public_bytes(serialization.Encoding.DER) for c in [self._cert, *self._chain]]
        material = envelope.certificate_material(ders)
        return envelope.bundle_json(payload, _ecdsa_sign(self._key, payload), material)


class CertificateVerifier:
    """Checks the bundle's chain (leaf first) up to one of the trust anchors given, at the
    current time, then the leaf's key usage, then the signature with the leaf's key."""

    method = "certificate"

    def __init__(
        self,
        certificate_chain: Sequence[str | os.PathLike[str]],
        now: datetime.datetime | None = None,
    ) -> None:
        envelope.bundle_models()
        if not certificate_chain:
            raise UsageError(
                "verifying a certificate signature needs the trust anchors: --certificate-chain"
            )
        self._anchors = load_certificates(certificate_chain, "certificate chain")
        if not self._anchors:
            raise UsageError("--certificate-chain: no certificate found")
        self._now = now
        self.signer = "certificate"

    def verify(self, data: bytes) -> tuple[str, bytes]:
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509 import verification as xv

        env = envelope.parse_bundle(data)
        chain = envelope.verification_material(env).x509_certificate_chain
        if chain is None:
            raise VerificationError(
                "signature: not made with a certificate (its bundle carries no "
                "x509CertificateChain); verify it with the method it was made with"
            )
        if not chain.certificates:
            raise VerificationError("signature: the certificate chain is empty")
        certs = []
        for i, entry in enumerate(chain.certificates):
            try:
                certs.append(x509.load_der_x509_certificate(entry.raw_bytes))
            except ValueError:
                raise VerificationError(f"signature: certificate {i} is not DER X.509") from None
        leaf = certs[0]
        now = self._now or datetime.datetime.now(datetime.UTC)
        if not (leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc):
            raise VerificationError(
                f"signature: the signing certificate is outside its validity "
                f"({leaf.not_valid_before_utc:%Y-%m-%d} to {leaf.not_valid_after_utc:%Y-%m-%d})"
            )
        try:
            verifier = (
                xv.PolicyBuilder()
                .store(xv.Store(self._anchors))
                .time(now)
                .extension_policies(
                    # A CA that limits its extended key usage must allow code signing (the
                    # client verifier's default would demand client authentication instead).
                    ca_policy=xv.ExtensionPolicy.webpki_defaults_ca().may_be_present(
                        x509.ExtendedKeyUsage, xv.Criticality.AGNOSTIC, _ca_may_sign_code
                    ),
                    # Code-signing leaves are not web PKI leaves (model_signing's test PKI has
                    # CA:TRUE on its leaf): their usage is checked below instead. Unknown
                    # critical extensions are still refused by the verifier (RFC 5280).
                    ee_policy=xv.ExtensionPolicy.permit_all(),
                )
                .build_client_verifier()
            )
            verifier.verify(leaf, certs[1:])
        except xv.VerificationError as e:
            detail = " ".join(str(e).split())[:200]
            if len(certs) == 1 and not _issued_by(leaf, leaf):
                detail = (
                    "the bundle carries only the signing certificate, issued by "
                    f"{leaf.issuer.rfc4514_string()}, and no anchor given issued it"
                )
            raise VerificationError(
                f"signature: the certificate chain does not lead to a trusted anchor: {detail}"
            ) from None
        _check_signing_usage(leaf, "signature")
        key = leaf.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in VERIFYING_CURVES:
            raise VerificationError("signature: the signing certificate's key is not ECDSA")
        _ecdsa_verify(key, env, "the signing certificate's key")
        self.signer = f"certificate {leaf.subject.rfc4514_string()}"
        return env.payload_type, env.payload
