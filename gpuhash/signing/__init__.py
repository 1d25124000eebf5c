"""Sign and verify models: an in-toto statement in a DSSE envelope in a Sigstore bundle, made
with an ECDSA key, an X.509 certificate or Sigstore keyless signing (see docs/signing.md and
spec section 11).

``sign`` hashes the model and writes the signature atomically. ``verify`` checks the signature
(key, chain or Sigstore identity), then the signed content, then re-hashes the model with
gpuhash and compares: it returns a ``VerificationResult`` only when everything matches, and
raises ``VerificationError`` (``VerificationFailed`` with the result when the model differs)
otherwise. Both formats are read: gpuhash's own and model_signing v1.0.
"""

from __future__ import annotations

from gpuhash.signing.dispatch import FORMATS, METHODS
from gpuhash.signing.result import (
    CHECK_METHOD,
    ChangedObject,
    VerificationFailed,
    VerificationResult,
)
from gpuhash.signing.sign_flow import sign
from gpuhash.signing.verify_flow import check, signed_manifest, verify

__all__ = [
    "CHECK_METHOD",
    "FORMATS",
    "METHODS",
    "ChangedObject",
    "VerificationFailed",
    "VerificationResult",
    "check",
    "sign",
    "signed_manifest",
    "verify",
]
