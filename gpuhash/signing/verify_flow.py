"""``verify``, ``check`` and ``signed_manifest``: check a signature with its method, then its
statement, then re-hash the model and compare it with what was signed (gpuhash's manifest or
model_signing's resources); ``check`` compares a model with an unsigned manifest."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from gpuhash import limits
from gpuhash import reference as ref
from gpuhash.errors import InputError, UsageError, VerificationError
from gpuhash.signing import dispatch, scope
from gpuhash.signing.result import CHECK_METHOD, VerificationFailed, VerificationResult


def verify(
    model: str | os.PathLike[str],
    signature: str | os.PathLike[str],
    *,
    method: str,
    public_key: str | os.PathLike[str] | None = None,
    certificate_chain: Sequence[str | os.PathLike[str]] = (),
    identity: str | None = None,
    identity_provider: str | None = None,
    trust_config: str | os.PathLike[str] | None = None,
    use_staging: bool = False,
    backend: Any = "auto",
    ignore_paths: Sequence[str] = (),
    allow_symlinks: bool = False,
    link_root: str | os.PathLike[str] | None = None,
    ignore_git_paths: bool = True,
    ignore_unsigned_files: bool = False,
    only: Sequence[str] = (),
    objects: str | None = None,
    range_proof: str | os.PathLike[str] | None = None,
    progress: Any = None,
    use_mmap: bool = False,
) -> VerificationResult:
    """Verify ``signature`` (made with ``method``) over ``model``; see the module docstring.

    ``only``: shell-style patterns; just the signed objects whose names match one are checked
    (and only their bytes read), and objects the signature does not list are not reported. A
    pattern list that matches no signed object is an error, never a pass. ``objects``: the object
    model (``files`` or ``tensors``) the signature must use. ``range_proof``: an inclusion proof
    file (``gpuhash prove``); only the proven bytes of its object are read and checked against
    the signed manifest, nothing else. ``progress(done, total)`` is called as the model's bytes
    are hashed. Files are read with pread; ``use_mmap=True`` maps them instead (on every path:
    gpuhash and model_signing formats, files and tensors; see ``gpuhash.hash_path``).

    ``gpuhash.VerifyConfig`` is the same call as a reusable, composable configuration (it calls
    this function); this one stays for one-off calls and the command line."""
    from gpuhash.signing import native, oms

    model_s, sig_s = os.fspath(model), os.fspath(signature)
    verifier = dispatch.verifier(
        method,
        {
            "public_key": public_key,
            "certificate_chain": certificate_chain,
            "identity": identity,
            "identity_provider": identity_provider,
            "trust_config": trust_config,
            "use_staging": use_staging,
        },
    )
    if not os.path.exists(model_s):
        raise InputError(f"{model_s}: no such file or directory")
    proof = None
    if range_proof is not None:
        from gpuhash.proofs import Proof

        if only:
            raise UsageError("--range checks one proven range; it takes no --only")
        proof = Proof.from_json(
            limits.read_limited(range_proof, limits.MAX_PROOF_BYTES, "inclusion proof")
        )
    statement = _verified_statement(sig_s, verifier)
    ignores = scope.ignore_with_signature(model_s, sig_s, ignore_paths)
    defaults = scope.default_ignores(ignore_git_paths)
    common = {"method": method, "signer": verifier.signer, "subject": statement.subject_name}
    if statement.predicate_type == native.PREDICATE_TYPE:
        manifest, ranges = native.parse(statement)
        result = VerificationResult(
            format="gpuhash",
            algorithm=manifest.algorithm.id,
            objects=len(manifest.objects),
            **common,
        )
        mode = _object_mode(manifest, objects, "signature")
        if proof is not None:
            from gpuhash.proofs import check_range

            start, end = check_range(
                model_s,
                manifest,
                proof,
                ignore_paths=ignores,
                allow_symlinks=allow_symlinks,
                link_root=link_root,
                ignore_git_paths=ignore_git_paths,
            )
            result.objects = 1
            result.proven = (proof.object_name, start, end)
            return result
        native.compare(
            model_s,
            manifest,
            ranges,
            backend,
            ignores,
            scope.walk(
                allow_symlinks,
                link_root,
                scope.verifier_defaults(defaults, [o.name for o in manifest.objects]),
            ),
            ignore_unsigned_files or bool(only),
            result,
            mode,
            list(only),
            progress=progress,
            use_mmap=use_mmap,
        )
    elif statement.predicate_type == oms.PREDICATE_TYPE:
        signed = oms.parse(statement.digest, statement.predicate)
        label = (
            signed.hash_type if signed.shard_size is None else f"sha256-sharded-{signed.shard_size}"
        )
        result = VerificationResult(format="oms", algorithm=label, **common)
        if proof is not None:
            raise VerificationError(
                "signature: a model_signing signature has no tree, so no range proofs"
            )
        if objects not in (None, "files"):
            raise VerificationError("signature: a model_signing signature covers files")
        oms.compare(
            model_s,
            signed,
            ignores,
            scope.walk(
                allow_symlinks,
                link_root,
                scope.verifier_defaults(defaults, [r.name for r in signed.resources]),
            ),
            ignore_unsigned_files or bool(only),
            result,
            list(only),
            progress,
            use_mmap,
        )
    else:
        raise VerificationError(
            f"signature: unknown predicate type {statement.predicate_type!r} (expected "
            f"{native.PREDICATE_TYPE} or {oms.PREDICATE_TYPE})"
        )
    if not result.ok:
        raise VerificationFailed(result)
    return result


def _object_mode(manifest: Any, objects: str | None, what: str) -> str:
    """``files`` or ``tensors``: the object model of ``manifest``, which must be ``objects``
    when that is given."""
    mode = "files" if all(o.kind == ref.KIND_FILE for o in manifest.objects) else "tensors"
    if objects is not None and objects != mode:
        raise VerificationError(f"{what}: its objects are {mode}, not {objects}")
    return mode


def check(
    model: str | os.PathLike[str],
    manifest: Any,
    *,
    manifest_path: str | os.PathLike[str] | None = None,
    backend: Any = "auto",
    ignore_paths: Sequence[str] = (),
    allow_symlinks: bool = False,
    link_root: str | os.PathLike[str] | None = None,
    ignore_git_paths: bool = True,
    only: Sequence[str] = (),
    objects: str | None = None,
    progress: Any = None,
) -> VerificationResult:
    """Re-hash ``model`` and compare it with an unsigned gpuhash ``manifest`` (a
    ``gpuhash.manifest.Manifest``, from ``gpuhash hash -o``), as ``verify`` compares a model with
    a signed manifest: missing, extra and changed objects; ``only`` and ``objects`` as there.
    ``manifest_path``, when it lies inside ``model``, is left out like a signature file. It
    proves nothing about who made the manifest; it raises ``VerificationFailed`` when the model
    differs."""
    from gpuhash.signing import native

    model_s = os.fspath(model)
    if not os.path.exists(model_s):
        raise InputError(f"{model_s}: no such file or directory")
    ignores = list(ignore_paths)
    if manifest_path is not None:
        ignores = scope.ignore_with_signature(model_s, os.fspath(manifest_path), ignore_paths)
    result = VerificationResult(
        format="gpuhash",
        method=CHECK_METHOD,
        signer="",
        subject=scope.subject_name(model_s),
        algorithm=manifest.algorithm.id,
        objects=len(manifest.objects),
    )
    mode = _object_mode(manifest, objects, "manifest")
    native.compare(
        model_s,
        manifest,
        None,
        backend,
        ignores,
        scope.walk(
            allow_symlinks,
            link_root,
            scope.verifier_defaults(
                scope.default_ignores(ignore_git_paths), [o.name for o in manifest.objects]
            ),
        ),
        bool(only),
        result,
        mode,
        list(only),
        what="manifest",
        progress=progress,
    )
    if not result.ok:
        raise VerificationFailed(result)
    return result


def _verified_statement(signature: str, verifier: Any) -> Any:
    """The statement of a signature file, after its signature was checked."""
    from gpuhash.signing import envelope

    data = limits.read_limited(signature, limits.MAX_SIGNATURE_BYTES, "signature")
    what = _what_it_is(data)
    if what is not None:
        raise VerificationError(f"{signature}: is {what}, not a signature (a Sigstore bundle)")
    payload_type, payload = verifier.verify(data)
    del data  # the bundle's bytes are not needed while the statement is parsed
    return envelope.parse_statement(payload_type, payload)


def _what_it_is(data: bytes) -> str | None:
    """What a file given as a signature is, when it is plainly something else (see
    ``envelope.not_a_bundle``; also an empty file and a binary gpuhash manifest)."""
    from gpuhash.signing import envelope

    if not data.strip():
        return "empty"
    what = envelope.not_a_bundle(data)
    if what is not None or data.lstrip()[:1] in (b"{", b"["):
        return what
    from gpuhash.manifest import Manifest, ManifestError

    try:
        Manifest.from_bytes(data)
    except (ManifestError, UsageError):
        return "neither JSON nor a gpuhash manifest"
    return "a gpuhash manifest (protobuf)"


def signed_manifest(
    signature: str | os.PathLike[str],
    *,
    method: str,
    public_key: str | os.PathLike[str] | None = None,
    certificate_chain: Sequence[str | os.PathLike[str]] = (),
    identity: str | None = None,
    identity_provider: str | None = None,
    trust_config: str | os.PathLike[str] | None = None,
    use_staging: bool = False,
) -> Any:
    """The manifest of a gpuhash-format signature, once the signature (with ``method``) and the
    manifest's consistency with its subject were checked (spec section 11). Nothing is hashed:
    the caller checks objects against it (verified loading does, tensor by tensor)."""
    from gpuhash.signing import native

    verifier = dispatch.verifier(
        method,
        {
            "public_key": public_key,
            "certificate_chain": certificate_chain,
            "identity": identity,
            "identity_provider": identity_provider,
            "trust_config": trust_config,
            "use_staging": use_staging,
        },
    )
    statement = _verified_statement(os.fspath(signature), verifier)
    if statement.predicate_type != native.PREDICATE_TYPE:
        raise VerificationError(
            f"signature: predicate type {statement.predicate_type!r} carries no gpuhash manifest"
        )
    manifest, _ = native.parse(statement)
    return manifest
