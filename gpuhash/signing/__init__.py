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

import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gpuhash import limits
from gpuhash import reference as ref
from gpuhash.errors import InputError, UsageError, VerificationError

__all__ = [
    "ChangedObject",
    "VerificationFailed",
    "VerificationResult",
    "check",
    "sign",
    "signed_manifest",
    "verify",
]

METHODS = ("key", "certificate", "sigstore")
#: ``VerificationResult.method`` of ``check``: an unsigned manifest, nothing signed.
CHECK_METHOD = "manifest"
FORMATS = ("gpuhash", "oms")


@dataclass(frozen=True)
class ChangedObject:
    """An object whose bytes differ from the signed ones; ``ranges``: the differing byte ranges
    ``[start, end)`` when the signature allows locating them (else None)."""

    name: str
    ranges: list[tuple[int, int]] | None = None


@dataclass
class VerificationResult:
    format: str  # "gpuhash" or "oms"
    method: str
    signer: str
    subject: str
    algorithm: str
    objects: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    changed: list[ChangedObject] = field(default_factory=list)
    #: With a range proof: the object and the byte range [start, end) verified.
    proven: tuple[str, int, int] | None = None

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.changed)

    def problems(self) -> list[str]:
        """One line per difference, naming the object."""
        lines = [f"missing: {n}" for n in self.missing]
        unlisted = "not in the manifest" if self.method == CHECK_METHOD else "not signed"
        lines += [f"extra ({unlisted}): {n}" for n in self.extra]
        for c in self.changed:
            where = ""
            if c.ranges:
                shown = ", ".join(f"[{a}, {b})" for a, b in c.ranges[:8])
                more = f" and {len(c.ranges) - 8} more" if len(c.ranges) > 8 else ""
                where = f" (bytes {shown}{more})"
            lines.append(f"changed: {c.name}{where}")
        return lines


class VerificationFailed(VerificationError):
    """The signature is valid but the model differs from what was signed."""

    def __init__(self, result: VerificationResult) -> None:
        n = len(result.missing) + len(result.extra) + len(result.changed)
        against = "manifest" if result.method == CHECK_METHOD else "signature"
        super().__init__(
            f"the model does not match its {against}: {len(result.changed)} changed, "
            f"{len(result.missing)} missing, {len(result.extra)} extra "
            f"({n} object{'s' if n != 1 else ''})"
        )
        self.result = result


def _ignore_with_signature(model: str, signature: str, ignore_paths: Sequence[str]) -> list[str]:
    """The ignore paths, plus the signature file when it lies inside the model directory."""
    from gpuhash import api

    return api.ignoring_own_files(model, [signature], ignore_paths)


def _check_signature_target(model: str, signature: str) -> None:
    """Never write the signature over the model, or over any file that is not a signature."""
    from gpuhash._atomic import check_destination
    from gpuhash.signing import envelope

    if os.path.exists(model) and os.path.realpath(signature) == os.path.realpath(model):
        raise UsageError(f"{signature}: is the model itself")
    check_destination(signature)
    if os.path.lexists(signature):
        try:
            head = limits.read_limited(signature, limits.MAX_SIGNATURE_BYTES, "signature")
            media = envelope.parse_json(head, "it").get("mediaType")
        except (UsageError, VerificationError, AttributeError):
            media = None
        if media not in envelope.BUNDLE_MEDIA_TYPES:
            raise UsageError(f"{signature}: exists and is not a signature; not overwriting it")


def _subject_name(model: str) -> str:
    return os.path.basename(os.path.normpath(os.path.abspath(model)))


def _signer(method: str, options: dict[str, Any]) -> Any:
    from gpuhash.signing import methods

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
        return methods.SigstoreSigner(
            options.get("identity_token"),
            options.get("trust_config"),
            options.get("oidc_issuer"),
            use_staging=bool(options.get("use_staging")),
            client_id=options.get("client_id"),
            client_secret=options.get("client_secret"),
            force_oob=bool(options.get("force_oob")),
        )
    raise UsageError(f"unknown signing method {method!r}; one of {', '.join(METHODS)}")


def _verifier(method: str, options: dict[str, Any]) -> Any:
    from gpuhash.signing import methods

    if method == "key":
        if not options.get("public_key"):
            raise UsageError("verifying with a key needs --public-key")
        return methods.KeyVerifier(options["public_key"])
    if method == "certificate":
        return methods.CertificateVerifier(options.get("certificate_chain") or ())
    if method == "sigstore":
        return methods.SigstoreVerifier(
            options.get("identity"),
            options.get("identity_provider"),
            options.get("trust_config"),
            use_staging=bool(options.get("use_staging")),
        )
    raise UsageError(f"unknown verification method {method!r}; one of {', '.join(METHODS)}")


def sign(
    model: str | os.PathLike[str],
    signature: str | os.PathLike[str],
    *,
    method: str = "key",
    private_key: str | os.PathLike[str] | None = None,
    password: str | bytes | None = None,
    signing_certificate: str | os.PathLike[str] | None = None,
    certificate_chain: Sequence[str | os.PathLike[str]] = (),
    identity_token: str | None = None,
    trust_config: str | os.PathLike[str] | None = None,
    oidc_issuer: str | None = None,
    use_staging: bool = False,
    client_id: str | None = None,
    client_secret: str | None = None,
    force_oob: bool = False,
    format: str = "gpuhash",
    algorithm: str | None = None,
    leaf_size: int | None = None,
    backend: Any = "auto",
    ignore_paths: Sequence[str] = (),
    allow_symlinks: bool = False,
    link_root: str | os.PathLike[str] | None = None,
    ignore_git_paths: bool = True,
    shard_size: int | None = None,
    range_size: int | None = None,
    progress: Any = None,
    use_mmap: bool = True,
    objects: str = "files",
) -> str:
    """Hash ``model`` and write a signature of it to ``signature`` (atomically). Returns the
    signed subject digest as ``<key>:<hex>``. ``password`` decrypts an encrypted
    ``private_key`` (text as UTF-8). Sigstore: ``use_staging`` signs with the staging instance;
    ``client_id``, ``client_secret`` and ``force_oob`` tune the OAuth login (as model_signing).

    ``format="gpuhash"`` (default): the gpuhash manifest with ``algorithm`` (default
    merkle-sha256); ``range_size`` (a power-of-two multiple of the leaf size) sets the span of the
    range values that let a verifier name changed byte ranges (default: the backend's window).
    ``format="oms"``: a model_signing v1.0 signature; ``algorithm`` is ``sha256`` (default) or
    ``blake3`` for whole files, and ``shard_size`` selects SHA-256 shards instead.
    ``objects="tensors"`` (gpuhash format) signs each safetensors tensor as an object.
    ``password``: for an encrypted ``private_key``.

    ``gpuhash.SignConfig`` is the same call as a reusable, composable configuration (it calls
    this function); this one stays for one-off calls and the command line."""
    from gpuhash._atomic import write_atomic
    from gpuhash.signing import envelope

    model_s, sig_s = os.fspath(model), os.fspath(signature)
    if format not in FORMATS:
        raise UsageError(f"unknown signature format {format!r}; one of {', '.join(FORMATS)}")
    _check_signature_target(model_s, sig_s)
    signer = _signer(
        method,
        {
            "private_key": private_key,
            "password": password,
            "signing_certificate": signing_certificate,
            "certificate_chain": certificate_chain,
            "identity_token": identity_token,
            "trust_config": trust_config,
            "oidc_issuer": oidc_issuer,
            "use_staging": use_staging,
            "client_id": client_id,
            "client_secret": client_secret,
            "force_oob": force_oob,
        },
    )
    ignores = _ignore_with_signature(model_s, sig_s, ignore_paths)
    walk = _walk(allow_symlinks, link_root, _default_ignores(ignore_git_paths))
    if format == "oms":
        if objects != "files":
            raise UsageError("--format oms signs files; --objects tensors needs --format gpuhash")
        digest, predicate_type, predicate = _oms_content(
            model_s, algorithm, shard_size, ignores, walk, use_mmap, progress
        )
    else:
        if shard_size is not None:
            raise UsageError("--shard-size applies to --format oms only")
        digest, predicate_type, predicate = _native_content(
            model_s,
            algorithm,
            leaf_size,
            backend,
            ignores,
            walk,
            range_size,
            progress,
            use_mmap,
            objects,
        )
    payload = envelope.statement_bytes(_subject_name(model_s), digest, predicate_type, predicate)
    write_atomic(sig_s, signer.sign(payload))
    ((key, value),) = digest.items()
    return f"{key}:{value}"


def _native_content(
    model: str,
    algorithm: str | None,
    leaf_size: int | None,
    backend: Any,
    ignores: list[str],
    walk: dict[str, Any],
    range_size: int | None,
    progress: Any,
    use_mmap: bool,
    objects: str,
) -> tuple[dict[str, str], str, dict[str, Any]]:
    from gpuhash import api
    from gpuhash.algorithms import resolve_algorithm
    from gpuhash.engine import WindowTops, hash_sources
    from gpuhash.manifest import Manifest
    from gpuhash.signing import native

    alg = resolve_algorithm(algorithm, leaf_size)
    if range_size is not None:
        units = range_size // alg.leaf_size
        if range_size % alg.leaf_size or units < 1 or units & (units - 1):
            raise UsageError(
                f"range size {range_size} is not a power-of-two multiple of the leaf size "
                f"{alg.leaf_size}"
            )
    sources = api.list_objects(model, ignore_paths=ignores, objects=objects, **walk)
    if not sources:
        raise UsageError(f"{model}: nothing to sign (no files)")
    tops = WindowTops()
    with api.backend_for(backend, alg, sum(s.size for s in sources)) as b:
        digests = hash_sources(
            b,
            alg,
            sources,
            progress=progress,
            batch_bytes=range_size,
            use_mmap=use_mmap,
            window_tops=tops,
        )
    manifest = Manifest.build(alg, digests)
    return native.subject_digest(manifest), native.PREDICATE_TYPE, native.predicate(manifest, tops)


def _oms_content(
    model: str,
    algorithm: str | None,
    shard_size: int | None,
    ignores: list[str],
    walk: dict[str, Any],
    use_mmap: bool,
    progress: Any = None,
) -> tuple[dict[str, str], str, dict[str, Any]]:
    from gpuhash import api
    from gpuhash.signing import oms

    hash_type = algorithm or "sha256"
    if hash_type not in oms.FILE_HASHES:
        raise UsageError(f"--format oms hashes files with sha256 or blake3, not {hash_type!r}")
    if shard_size is not None:
        oms.check_shard_size(shard_size)
        if hash_type != "sha256":
            raise UsageError("model_signing shards are hashed with sha256 only")
    sources = api.list_objects(model, ignore_paths=ignores, **walk)
    if not sources:
        raise UsageError(f"{model}: nothing to sign (no files)")
    single = os.path.isfile(model)
    resources = oms.hash_resources(
        sources, single, hash_type, shard_size, use_mmap=use_mmap, progress=progress
    )
    # Recorded as model_signing does, relative to the model (never an absolute path), with the
    # default ignore paths that applied: model_signing's verifier ignores the recorded paths,
    # so it leaves out .cache/huggingface as gpuhash did.
    root = os.path.realpath(model)
    recorded = list(walk["defaults"])
    for ig in ignores:
        rel = os.path.relpath(ig, root) if os.path.isabs(ig) else ig
        recorded.append(rel.replace(os.sep, "/"))
    # model_signing follows links only with allow_symlinks: a signature over links says so.
    followed = not single and any(s.path != os.path.join(root, *s.name.split("/")) for s in sources)
    links = walk["allow_symlinks"] or followed
    predicate = oms.predicate(resources, hash_type, shard_size, links, recorded)
    return {"sha256": oms.root_digest(resources).hex()}, oms.PREDICATE_TYPE, predicate


def _default_ignores(ignore_git_paths: bool) -> tuple[str, ...]:
    """The default ignore paths (spec section 1.2), with or without git's."""
    from gpuhash import api

    return api.default_ignores(ignore_git_paths)


def _walk(
    allow_symlinks: bool, link_root: str | os.PathLike[str] | None, defaults: Sequence[str]
) -> dict[str, Any]:
    """The options of ``api.list_objects`` that decide which files are the model's."""
    return {"allow_symlinks": allow_symlinks, "link_root": link_root, "defaults": tuple(defaults)}


def _verifier_defaults(defaults: Sequence[str], signed: Sequence[str]) -> tuple[str, ...]:
    """The default ignore paths a verifier applies (spec section 11.1): those under which the
    signature lists no object (a signer without that default listed them: they are checked).
    Names of tensors (``F::T``) and shards (``F:start:end``) begin with their file's path."""
    return tuple(d for d in defaults if not any(n == d or n.startswith(d + "/") for n in signed))


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
    use_mmap: bool = True,
) -> VerificationResult:
    """Verify ``signature`` (made with ``method``) over ``model``; see the module docstring.

    ``only``: shell-style patterns; just the signed objects whose names match one are checked
    (and only their bytes read), and objects the signature does not list are not reported. A
    pattern list that matches no signed object is an error, never a pass. ``objects``: the object
    model (``files`` or ``tensors``) the signature must use. ``range_proof``: an inclusion proof
    file (``gpuhash prove``); only the proven bytes of its object are read and checked against
    the signed manifest, nothing else. ``progress(done, total)`` is called as the model's bytes
    are hashed. ``use_mmap=False`` reads the files with pread instead of mapping them (on every
    path: gpuhash and model_signing formats, files and tensors).

    ``gpuhash.VerifyConfig`` is the same call as a reusable, composable configuration (it calls
    this function); this one stays for one-off calls and the command line."""
    from gpuhash.signing import native, oms

    model_s, sig_s = os.fspath(model), os.fspath(signature)
    verifier = _verifier(
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
    ignores = _ignore_with_signature(model_s, sig_s, ignore_paths)
    defaults = _default_ignores(ignore_git_paths)
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
        _compare_native(
            model_s,
            manifest,
            ranges,
            backend,
            ignores,
            _walk(
                allow_symlinks,
                link_root,
                _verifier_defaults(defaults, [o.name for o in manifest.objects]),
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
        _compare_oms(
            model_s,
            signed,
            ignores,
            _walk(
                allow_symlinks,
                link_root,
                _verifier_defaults(defaults, [r.name for r in signed.resources]),
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
    model_s = os.fspath(model)
    if not os.path.exists(model_s):
        raise InputError(f"{model_s}: no such file or directory")
    ignores = list(ignore_paths)
    if manifest_path is not None:
        ignores = _ignore_with_signature(model_s, os.fspath(manifest_path), ignore_paths)
    result = VerificationResult(
        format="gpuhash",
        method=CHECK_METHOD,
        signer="",
        subject=_subject_name(model_s),
        algorithm=manifest.algorithm.id,
        objects=len(manifest.objects),
    )
    mode = _object_mode(manifest, objects, "manifest")
    _compare_native(
        model_s,
        manifest,
        None,
        backend,
        ignores,
        _walk(
            allow_symlinks,
            link_root,
            _verifier_defaults(
                _default_ignores(ignore_git_paths), [o.name for o in manifest.objects]
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


def _selected(names: Sequence[str], only: list[str], what: str = "signature") -> list[str]:
    """The names matching any pattern of ``only`` (all names when it is empty)."""
    if not only:
        return list(names)
    import fnmatch

    chosen = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in only)]
    if not chosen:
        raise VerificationError(f"--only {' '.join(only)}: matches no object the {what} lists")
    return chosen


def _verified_statement(signature: str, verifier: Any) -> Any:
    """The statement of a signature file, after its signature was checked."""
    from gpuhash.signing import envelope

    data = limits.read_limited(signature, limits.MAX_SIGNATURE_BYTES, "signature")
    what = _what_it_is(data)
    if what is not None:
        raise VerificationError(f"{signature}: is {what}, not a signature (a Sigstore bundle)")
    payload_type, payload = verifier.verify(data)
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

    verifier = _verifier(
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


def _compare_native(
    model: str,
    manifest: Any,
    ranges: Any,
    backend: Any,
    ignores: list[str],
    walk: dict[str, Any],
    ignore_unsigned: bool,
    result: VerificationResult,
    mode: str,
    only: list[str],
    what: str = "signature",
    progress: Any = None,
    use_mmap: bool = True,
) -> None:
    from gpuhash import api
    from gpuhash.engine import WindowTops, hash_sources

    alg = manifest.algorithm
    signed = {o.name: o for o in manifest.objects}
    if not signed:
        raise VerificationError(f"{what}: it lists no objects, so it verifies nothing")
    wanted = _selected(list(signed), only, what)
    result.objects = len(wanted)
    files = api.list_objects(model, ignore_paths=ignores, **walk)
    if only:
        # A selected tensor brings its file's header object: the header fixes the tensor's
        # dtype, shape and position, so checking the bytes alone is not enough.
        sources_of = {api.source_file(signed[n]) for n in wanted}
        headers = [f"{f}{ref.TENSOR_SEPARATOR}{ref.HEADER_OBJECT}" for f in sources_of]
        wanted += [n for n in signed if n in headers and n not in wanted]
        sources = api.objects_of_files(files, mode, lambda name: name in sources_of)
    else:
        sources = api.objects_of_files(files, mode)
    local = {s.name: s for s in sources}
    result.missing = [n for n in wanted if n not in local]
    result.extra = [] if ignore_unsigned else [n for n in local if n not in signed]
    both = [local[n] for n in wanted if n in local]
    with api.backend_for(backend, alg, sum(s.size for s in both)) as b:
        digests = hash_sources(b, alg, both, progress=progress, use_mmap=use_mmap)
        changed = [
            d
            for d in digests
            if (d.kind, d.size) != (signed[d.name].kind, signed[d.name].size)
            or not hmac.compare_digest(d.digest, signed[d.name].digest)
        ]
        # Range values need window tops: a backend that hashes this family natively (whole
        # objects, the cpu backend's BLAKE3) has none to give, and is not asked.
        locate = ranges is not None and alg.family not in b.capabilities().native_objects
        for d in changed:
            spans = None
            if locate and d.name in ranges.values:
                tops = WindowTops()
                hash_sources(
                    b,
                    alg,
                    [local[d.name]],
                    batch_bytes=ranges.span,
                    window_tops=tops,
                    use_mmap=use_mmap,
                )
                spans = _changed_ranges(
                    ranges.values[d.name], tops.values.get(d.name, []), ranges.span, d.size
                )
            result.changed.append(ChangedObject(d.name, spans))


def _changed_ranges(
    signed: list[bytes], local: list[bytes], span: int, size: int
) -> list[tuple[int, int]]:
    """Byte ranges whose values differ (a range past either end counts as changed); adjacent
    ranges are merged."""
    out: list[tuple[int, int]] = []
    count = max(len(signed), len(local), -(-size // span))
    for j in range(count):
        a = signed[j] if j < len(signed) else None
        b = local[j] if j < len(local) else None
        if a is not None and b is not None and hmac.compare_digest(a, b):
            continue
        start = j * span
        end = min(start + span, size) if start < size else start + span
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _compare_oms(
    model: str,
    signed: Any,
    ignores: list[str],
    walk: dict[str, Any],
    ignore_unsigned: bool,
    result: VerificationResult,
    only: list[str],
    progress: Any = None,
    use_mmap: bool = True,
) -> None:
    from gpuhash import api
    from gpuhash.signing import oms

    single = os.path.isfile(model)
    sources = api.list_objects(model, ignore_paths=ignores, **walk)
    local = {oms.oms_name(s, single): s for s in sources}
    by_file: dict[str, dict[str, bytes]] = {}
    for r in signed.resources:
        path = r.name if signed.shard_size is None else r.name.rsplit(":", 2)[0]
        by_file.setdefault(path, {})[r.name] = r.digest
    if not by_file:
        raise VerificationError("signature: it lists no objects, so it verifies nothing")
    wanted = set(_selected(list(by_file), only))
    by_file = {path: shards for path, shards in by_file.items() if path in wanted}
    result.objects = len(by_file)
    result.missing = [n for n in by_file if n not in local]
    # An empty file has no shards, so a sharded signature cannot list it (model_signing's
    # format): empty local files are not reported as extra there.
    result.extra = [
        n
        for n, src in local.items()
        if n not in by_file
        and not ignore_unsigned
        and not (signed.shard_size is not None and src.size == 0)
    ]
    both = [local[n] for n in by_file if n in local]
    mine = oms.hash_resources(
        both,
        single,
        signed.hash_type,
        signed.shard_size,
        progress=progress,
        use_mmap=use_mmap,
    )
    got: dict[str, dict[str, bytes]] = {}
    for r in mine:
        path = r.name if signed.shard_size is None else r.name.rsplit(":", 2)[0]
        got.setdefault(path, {})[r.name] = r.digest
    for path in (n for n in by_file if n in local):
        want, have = by_file[path], got.get(path, {})
        differing = sorted(
            n
            for n in set(want) | set(have)
            if n not in want or n not in have or not hmac.compare_digest(want[n], have[n])
        )
        if not differing:
            continue
        spans = None
        if signed.shard_size is not None:
            spans = sorted((int(n.rsplit(":", 2)[1]), int(n.rsplit(":", 2)[2])) for n in differing)
        result.changed.append(ChangedObject(path, spans))
