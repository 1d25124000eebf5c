"""Sigstore keyless signing and its verification, by sigstore-python: an OIDC identity token,
a short-lived Fulcio certificate and a Rekor transparency-log entry; verified against an
identity and its OIDC issuer with the trusted root of a trust configuration (offline) or of the
public-good instance.

Error messages are one line, and never quote a file given as the trust configuration.
"""

from __future__ import annotations

import os
from typing import Any

from gpuhash import limits
from gpuhash.errors import SigningError, UsageError, VerificationError
from gpuhash.signing import envelope


def _sigstore() -> Any:
    try:
        import sigstore.models
        import sigstore.verify
    except ImportError as e:
        raise UsageError(
            f"Sigstore signing needs sigstore ({e}); install: {envelope.INSTALL}"
        ) from None
    import sigstore

    return sigstore


def _trust_config(path: str | os.PathLike[str] | None, staging: bool = False) -> Any:
    _sigstore()
    from sigstore.models import ClientTrustConfig

    if staging:
        if path is not None:
            raise UsageError("--use-staging and --trust-config exclude each other")
        try:
            return ClientTrustConfig.staging()  # fetched and checked through TUF (network)
        except Exception as e:
            raise UsageError(
                f"cannot fetch the Sigstore staging trust root ({type(e).__name__}); "
                "offline, pass --trust-config FILE"
            ) from None
    if path is None:
        try:
            return ClientTrustConfig.production()  # fetched and checked through TUF (network)
        except Exception as e:
            raise UsageError(
                "cannot fetch the Sigstore public-good trust root "
                f"({type(e).__name__}); offline, pass --trust-config FILE"
            ) from None
    text = limits.read_limited(path, limits.MAX_TRUST_CONFIG_BYTES, "trust configuration").decode(
        "utf-8", "replace"
    )
    try:
        return ClientTrustConfig.from_json(text)
    except Exception:  # its messages quote the input, which may be anything (a key file)
        raise UsageError(f"{os.fspath(path)}: not a Sigstore client trust configuration") from None


class SigstoreSigner:
    """Keyless signing: an OIDC identity token (given, ambient, or from an interactive flow),
    a short-lived Fulcio certificate, and a Rekor transparency-log entry, by sigstore-python."""

    method = "sigstore"

    def __init__(
        self,
        identity_token: str | None = None,
        trust_config: str | os.PathLike[str] | None = None,
        oidc_issuer: str | None = None,
        *,
        use_staging: bool = False,
        client_id: str | None = None,
        client_secret: str | None = None,
        force_oob: bool = False,
    ) -> None:
        self._trust = _trust_config(trust_config, use_staging)
        self._token = identity_token
        self._issuer = oidc_issuer
        self._client_id = client_id or "sigstore"  # sigstore-python's public client
        self._client_secret = client_secret or ""
        self._force_oob = force_oob

    def sign(self, payload: bytes) -> bytes:
        from sigstore import dsse, oidc
        from sigstore.sign import SigningContext

        try:
            token = self._token or oidc.detect_credential(self._client_id)
            if token:
                identity = oidc.IdentityToken(token, self._client_id)
            else:
                issuer = self._issuer or self._trust.signing_config.get_oidc_url()
                identity = oidc.Issuer(issuer).identity_token(
                    client_id=self._client_id,
                    client_secret=self._client_secret,
                    force_oob=self._force_oob,
                )
            context = SigningContext.from_trust_config(self._trust)
            with context.signer(identity) as signer:
                bundle = signer.sign_dsse(dsse.Statement(payload))
        except Exception as e:  # sigstore's and the network's errors, as one line
            detail = " ".join(str(e).split())[:300] or type(e).__name__
            raise SigningError(f"Sigstore signing failed: {detail}") from None
        return (bundle.to_json() + "\n").encode("utf-8")


class SigstoreVerifier:
    """Verification of a Sigstore bundle against an identity and its OIDC issuer, with the
    trusted root of a trust configuration (offline) or of the public-good instance."""

    method = "sigstore"

    def __init__(
        self,
        identity: str | None,
        identity_provider: str | None,
        trust_config: str | os.PathLike[str] | None = None,
        *,
        use_staging: bool = False,
    ) -> None:
        if not identity or not identity_provider:
            raise UsageError(
                "verifying a Sigstore signature needs --identity and --identity-provider"
            )
        self._trust = _trust_config(trust_config, use_staging)
        self._identity = identity
        self._issuer = identity_provider
        self.signer = f"Sigstore identity {identity} ({identity_provider})"

    def verify(self, data: bytes) -> tuple[str, bytes]:
        from sigstore.errors import Error as SigstoreError
        from sigstore.models import Bundle
        from sigstore.verify import Verifier, policy

        env = envelope.parse_bundle(data)  # the same shape checks as for the other methods
        if "certificate" not in env.material and "x509CertificateChain" not in env.material:
            raise VerificationError(
                "signature: not a Sigstore signature (its bundle carries no certificate); "
                "verify it with the method it was made with"
            )
        try:
            bundle = Bundle.from_json(data)
        except Exception as e:
            detail = " ".join(str(e).split())[:200]
            raise VerificationError(f"signature: not a valid Sigstore bundle: {detail}") from None
        try:
            verifier = Verifier(trusted_root=self._trust.trusted_root)
        except Exception as e:
            detail = " ".join(str(e).split())[:200] or type(e).__name__
            raise UsageError(f"the Sigstore trust configuration is unusable: {detail}") from None
        try:
            payload_type, payload = verifier.verify_dsse(
                bundle, policy.Identity(identity=self._identity, issuer=self._issuer)
            )
        except (SigstoreError, ValueError) as e:
            detail = " ".join(str(e).split())[:300]
            raise VerificationError(f"signature: Sigstore verification failed: {detail}") from None
        return str(payload_type), bytes(payload)
