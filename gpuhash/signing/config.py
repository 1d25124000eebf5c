"""Signing and verification as small, immutable configuration objects.

Read like model_signing's ``signing.Config`` / ``verifying.Config``::

    gpuhash.SignConfig().use_key_signer("key.pem").sign("model", "model.sig")
    gpuhash.VerifyConfig().use_key_verifier("pub.pem").verify("model", "model.sig")

Each ``use_*`` / ``set_*`` method returns a *new* config (the dataclasses are frozen), so a base
configuration can be shared and specialised without one caller changing another's. Nothing is
read or checked until ``sign`` / ``verify``: they call ``gpuhash.signing.sign`` /
``gpuhash.signing.verify`` with the configured arguments, so every rule (and every error) is
that one implementation's. Unlike model_signing there is no default signer: signing with
nothing chosen is an error, never a silent interactive Sigstore login.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gpuhash.errors import UsageError
from gpuhash.signing import FORMATS, VerificationResult, sign, signed_manifest, verify

if TYPE_CHECKING:
    from typing import Self

    from gpuhash.backend import HashBackend
    from gpuhash.engine import ProgressFn
    from gpuhash.manifest import Manifest

__all__ = ["SignConfig", "VerifyConfig"]

PathLike = str | os.PathLike[str]


def _paths(paths: Iterable[PathLike]) -> tuple[PathLike, ...]:
    if isinstance(paths, str | bytes | os.PathLike):
        raise UsageError("certificate_chain must be a list of paths, not one path")
    return tuple(paths)


def _patterns(patterns: Iterable[str], what: str) -> tuple[str, ...]:
    if isinstance(patterns, str | bytes):
        raise UsageError(f"{what} must be a list of strings, not one string")
    return tuple(patterns)


@dataclass(frozen=True)
class SignConfig:
    """How to sign a model: the signer, the hashing and the signature format.

    Defaults: gpuhash's own format, ``merkle-sha256`` with 64 KiB leaves, file objects, the
    ``auto`` backend. A signer must be chosen.
    """

    method: str | None = None
    private_key: PathLike | None = None
    password: str | bytes | None = dataclasses.field(default=None, repr=False)
    signing_certificate: PathLike | None = None
    certificate_chain: tuple[PathLike, ...] = ()
    identity_token: str | None = dataclasses.field(default=None, repr=False)
    trust_config: PathLike | None = None
    oidc_issuer: str | None = None
    format: str = "gpuhash"
    shard_size: int | None = None
    range_size: int | None = None
    algorithm: str | None = None
    leaf_size: int | None = None
    objects: str = "files"
    ignore_paths: tuple[str, ...] = ()
    allow_symlinks: bool = False
    backend: str | HashBackend = "auto"
    use_mmap: bool = False

    # -- the signer (one; the last chosen wins) ------------------------------------------------

    def use_key_signer(self, private_key: PathLike, *, password: str | bytes | None = None) -> Self:
        """Sign with an ECDSA P-256 or P-384 private key (a PEM file, encrypted or not)."""
        return self._signer("key", private_key=private_key, password=password)

    def use_certificate_signer(
        self,
        private_key: PathLike,
        signing_certificate: PathLike,
        certificate_chain: Iterable[PathLike] = (),
        *,
        password: str | bytes | None = None,
    ) -> Self:
        """Sign with a private key and its X.509 code-signing certificate; the chain (the
        certificates above it, up to the trust anchor) is embedded for the verifier. Without a
        chain only a self-signed certificate is accepted (spec section 11.2)."""
        return self._signer(
            "certificate",
            private_key=private_key,
            signing_certificate=signing_certificate,
            certificate_chain=_paths(certificate_chain),
            password=password,
        )

    def use_sigstore_signer(
        self,
        *,
        identity_token: str | None = None,
        trust_config: PathLike | None = None,
        oidc_issuer: str | None = None,
    ) -> Self:
        """Sigstore keyless signing: ``identity_token`` (else an ambient credential, else an
        interactive OIDC flow with ``oidc_issuer``), against the public-good instance or the
        client trust configuration ``trust_config``."""
        return self._signer(
            "sigstore",
            identity_token=identity_token,
            trust_config=trust_config,
            oidc_issuer=oidc_issuer,
        )

    def _signer(self, method: str, **chosen: Any) -> Self:
        cleared: dict[str, Any] = {
            "private_key": None,
            "password": None,
            "signing_certificate": None,
            "certificate_chain": (),
            "identity_token": None,
            "trust_config": None,
            "oidc_issuer": None,
        }
        return dataclasses.replace(self, method=method, **{**cleared, **chosen})

    # -- what is signed ------------------------------------------------------------------------

    def set_hashing(
        self,
        *,
        algorithm: str | None = None,
        leaf_size: int | None = None,
        objects: str = "files",
        ignore_paths: Iterable[str] = (),
        allow_symlinks: bool = False,
        backend: str | HashBackend = "auto",
        use_mmap: bool = False,
    ) -> Self:
        """The hashing options, all at once (an option left out takes its default). With the
        gpuhash format ``algorithm`` is a family or identifier (``merkle-sha256``, ``blake3``,
        ``gh1-merkle-sha256-64k``...); with ``oms`` it is ``sha256`` or ``blake3``.
        ``objects="tensors"`` signs each safetensors / GGUF tensor as an object of its own.
        ``use_mmap=True`` maps files instead of reading them (see ``gpuhash.hash_path``)."""
        return dataclasses.replace(
            self,
            algorithm=algorithm,
            leaf_size=leaf_size,
            objects=objects,
            ignore_paths=_patterns(ignore_paths, "ignore_paths"),
            allow_symlinks=allow_symlinks,
            backend=backend,
            use_mmap=use_mmap,
        )

    def set_format(
        self, format: str, *, shard_size: int | None = None, range_size: int | None = None
    ) -> Self:
        """``gpuhash`` (the manifest; ``range_size`` sets the span of the range values that let
        a verifier name changed bytes) or ``oms`` (a model_signing v1.0 signature that
        model_signing verifies; ``shard_size`` for its sharded form)."""
        if format not in FORMATS:
            raise UsageError(f"unknown signature format {format!r}; one of {', '.join(FORMATS)}")
        return dataclasses.replace(
            self, format=format, shard_size=shard_size, range_size=range_size
        )

    # -- signing -------------------------------------------------------------------------------

    def sign(
        self, model: PathLike, signature: PathLike, *, progress: ProgressFn | None = None
    ) -> str:
        """Hash ``model`` and write its signature to ``signature`` (atomically); returns the
        signed subject digest (``<algorithm>:<hex>``). ``progress(done, total)``: bytes hashed."""
        if self.method is None:
            raise UsageError(
                "no signer chosen: call use_key_signer, use_certificate_signer or "
                "use_sigstore_signer first"
            )
        return sign(
            model,
            signature,
            method=self.method,
            private_key=self.private_key,
            password=self.password,
            signing_certificate=self.signing_certificate,
            certificate_chain=self.certificate_chain,
            identity_token=self.identity_token,
            trust_config=self.trust_config,
            oidc_issuer=self.oidc_issuer,
            format=self.format,
            algorithm=self.algorithm,
            leaf_size=self.leaf_size,
            backend=self.backend,
            ignore_paths=self.ignore_paths,
            allow_symlinks=self.allow_symlinks,
            shard_size=self.shard_size,
            range_size=self.range_size,
            progress=progress,
            use_mmap=self.use_mmap,
            objects=self.objects,
        )


@dataclass(frozen=True)
class VerifyConfig:
    """How to verify a signature over a model: who must have signed it, and how to re-hash.

    The algorithm, leaf size and format come from the (verified) signature itself.
    """

    method: str | None = None
    public_key: PathLike | None = None
    certificate_chain: tuple[PathLike, ...] = ()
    identity: str | None = None
    identity_provider: str | None = None
    trust_config: PathLike | None = None
    backend: str | HashBackend = "auto"
    ignore_paths: tuple[str, ...] = ()
    allow_symlinks: bool = False
    objects: str | None = None
    ignore_unsigned_files: bool = False
    only: tuple[str, ...] = ()

    # -- the verifier (one; the last chosen wins) ----------------------------------------------

    def use_key_verifier(self, public_key: PathLike) -> Self:
        """Signatures made with the private key of this ECDSA public key (a PEM file)."""
        return self._verifier("key", public_key=public_key)

    def use_certificate_verifier(self, certificate_chain: Iterable[PathLike] = ()) -> Self:
        """Signatures whose certificate chains up to one of these trust anchors (PEM files);
        with none, the operating system's."""
        return self._verifier("certificate", certificate_chain=_paths(certificate_chain))

    def use_sigstore_verifier(
        self, identity: str, identity_provider: str, *, trust_config: PathLike | None = None
    ) -> Self:
        """Sigstore signatures by ``identity`` (an e-mail or workload URI) as certified by the
        OIDC issuer ``identity_provider``; ``trust_config`` for a private Sigstore instance."""
        return self._verifier(
            "sigstore",
            identity=identity,
            identity_provider=identity_provider,
            trust_config=trust_config,
        )

    def _verifier(self, method: str, **chosen: Any) -> Self:
        cleared: dict[str, Any] = {
            "public_key": None,
            "certificate_chain": (),
            "identity": None,
            "identity_provider": None,
            "trust_config": None,
        }
        return dataclasses.replace(self, method=method, **{**cleared, **chosen})

    # -- what is checked -----------------------------------------------------------------------

    def set_hashing(
        self,
        *,
        backend: str | HashBackend = "auto",
        ignore_paths: Iterable[str] = (),
        allow_symlinks: bool = False,
        objects: str | None = None,
    ) -> Self:
        """How the model is re-hashed, all at once (an option left out takes its default).
        ``objects`` (``files`` or ``tensors``): the object model the signature must use."""
        return dataclasses.replace(
            self,
            backend=backend,
            ignore_paths=_patterns(ignore_paths, "ignore_paths"),
            allow_symlinks=allow_symlinks,
            objects=objects,
        )

    def set_ignore_unsigned_files(self, ignore: bool = True) -> Self:
        """Whether files the signature does not list are ignored instead of reported."""
        return dataclasses.replace(self, ignore_unsigned_files=ignore)

    def set_only(self, patterns: Iterable[str]) -> Self:
        """Check only the signed objects whose names match one of these shell-style patterns
        (and read only their bytes); a list matching no signed object fails verification."""
        return dataclasses.replace(self, only=_patterns(patterns, "patterns"))

    # -- verifying -----------------------------------------------------------------------------

    def verify(
        self, model: PathLike, signature: PathLike, *, range_proof: PathLike | None = None
    ) -> VerificationResult:
        """Verify ``signature`` over ``model``: returns the result when everything matches,
        raises ``VerificationError`` otherwise (``VerificationFailed``, with the result, when
        the signature is good but the model differs). ``range_proof``: a ``gpuhash prove``
        file; only its proven bytes are read and checked."""
        return verify(
            model,
            signature,
            method=self._method(),
            public_key=self.public_key,
            certificate_chain=self.certificate_chain,
            identity=self.identity,
            identity_provider=self.identity_provider,
            trust_config=self.trust_config,
            backend=self.backend,
            ignore_paths=self.ignore_paths,
            allow_symlinks=self.allow_symlinks,
            ignore_unsigned_files=self.ignore_unsigned_files,
            only=self.only,
            objects=self.objects,
            range_proof=range_proof,
        )

    def signed_manifest(self, signature: PathLike) -> Manifest:
        """The manifest of a gpuhash-format signature once its signature is verified; nothing
        is hashed (check objects against it yourself)."""
        manifest: Manifest = signed_manifest(
            signature,
            method=self._method(),
            public_key=self.public_key,
            certificate_chain=self.certificate_chain,
            identity=self.identity,
            identity_provider=self.identity_provider,
            trust_config=self.trust_config,
        )
        return manifest

    def _method(self) -> str:
        if self.method is None:
            raise UsageError(
                "no verifier chosen: call use_key_verifier, use_certificate_verifier or "
                "use_sigstore_verifier first"
            )
        return self.method
