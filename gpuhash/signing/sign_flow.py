"""``sign``: hash a model (gpuhash's manifest, or model_signing's resources with ``--format
oms``), put the result in an in-toto statement, sign it with the chosen method and write the
bundle atomically, never over the model or a file that is not a signature."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from gpuhash import limits
from gpuhash.errors import UsageError, VerificationError
from gpuhash.signing import dispatch, scope


def _is_signature(path: str) -> bool:
    from gpuhash.signing import envelope

    try:
        head = limits.read_limited(path, limits.MAX_SIGNATURE_BYTES, "signature")
        media = envelope.parse_json(head, "it").get("mediaType")
    except (UsageError, VerificationError, AttributeError):
        return False
    return media in envelope.BUNDLE_MEDIA_TYPES


def _check_signature_target(model: str, signature: str) -> None:
    """Refuse a signature path that is the model, or an existing file that is not a signature:
    never write the signature over the model, or over any file that is not a signature."""
    from gpuhash.atomic import check_destination
    from gpuhash.limits import refuse_nul

    refuse_nul(signature, "cannot write here")
    if os.path.exists(model) and os.path.realpath(signature) == os.path.realpath(model):
        raise UsageError(f"{signature}: is the model itself")
    check_destination(signature, _is_signature, "signature")


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
    use_mmap: bool = False,
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
    from gpuhash.atomic import write_atomic
    from gpuhash.signing import envelope

    model_s, sig_s = os.fspath(model), os.fspath(signature)
    if format not in dispatch.FORMATS:
        raise UsageError(
            f"unknown signature format {format!r}; one of {', '.join(dispatch.FORMATS)}"
        )
    _check_signature_target(model_s, sig_s)
    signer = dispatch.signer(
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
    ignores = scope.ignore_with_signature(model_s, sig_s, ignore_paths)
    walk = scope.walk(allow_symlinks, link_root, scope.default_ignores(ignore_git_paths))
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
    payload = envelope.statement_bytes(
        scope.subject_name(model_s), digest, predicate_type, predicate
    )
    # A signature a verifier would refuse unread is not made (base64: 4 bytes per 3).
    limits.check_writable(
        sig_s, 4 * -(-len(payload) // 3) + limits.MIB, limits.MAX_SIGNATURE_BYTES, "signature"
    )
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
    from gpuhash.digests import WindowTops
    from gpuhash.engine import hash_sources
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
