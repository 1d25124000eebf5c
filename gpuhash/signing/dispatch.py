"""The signing methods and signature formats by name, and the signer or verifier of a method
made from the options of ``sign`` or ``verify`` (each option checked before anything is read or
hashed)."""

from __future__ import annotations

from typing import Any

from gpuhash.errors import UsageError

METHODS = ("key", "certificate", "sigstore")
FORMATS = ("gpuhash", "oms")


def signer(method: str, options: dict[str, Any]) -> Any:
    """The signer of ``method`` from the options of ``sign``; a ``UsageError`` names what is
    missing."""
    from gpuhash.signing import keyless, methods

    if method == "key":
        if not options.get("private_key"):
            raise UsageError("signing with a key needs --private-key")
        return methods.KeySigner(options["private_key"], options.get("password"))
    if method == "certificate":
        if not options.get("private_key") or not options.get("signing_certificate"):
            raise UsageError(
                "signing with a certificate needs --private-key and --signing-certificate"
            )
        return methods.CertificateSigner(
            options["private_key"],
            options["signing_certificate"],
            options.get("certificate_chain") or (),
            options.get("password"),
        )
    if method == "sigstore":
        if options.get("password") is not None:
            raise UsageError("Sigstore signing uses no private key, so no password")
        return keyless.SigstoreSigner(
            options.get("identity_token"),
            options.get("trust_config"),
            options.get("oidc_issuer"),
            use_staging=bool(options.get("use_staging")),
            client_id=options.get("client_id"),
            client_secret=options.get("client_secret"),
            force_oob=bool(options.get("force_oob")),
        )
    raise UsageError(f"unknown signing method {method!r}; one of {', '.join(METHODS)}")


def verifier(method: str, options: dict[str, Any]) -> Any:
    """The verifier of ``method`` from the options of ``verify``; a ``UsageError`` names what
    is missing."""
    from gpuhash.signing import keyless, methods

    if method == "key":
        if not options.get("public_key"):
            raise UsageError("verifying with a key needs --public-key")
        return methods.KeyVerifier(options["public_key"])
    if method == "certificate":
        return methods.CertificateVerifier(options.get("certificate_chain") or ())
    if method == "sigstore":
        return keyless.SigstoreVerifier(
            options.get("identity"),
            options.get("identity_provider"),
            options.get("trust_config"),
            use_staging=bool(options.get("use_staging")),
        )
    raise UsageError(f"unknown verification method {method!r}; one of {', '.join(METHODS)}")
