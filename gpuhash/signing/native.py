"""The native signature format (spec section 11): the gpuhash manifest in the predicate, the
artifact digest as the subject digest (keyed by the algorithm identifier), and optional range
values that let a verifier name the changed byte ranges of a changed object; and the comparison
of a model with such a manifest (``verify``, ``check``)."""

from __future__ import annotations

import hmac
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from gpuhash import reference as ref
from gpuhash._io import open_checked
from gpuhash.algorithms import FAMILY_TABLE
from gpuhash.digests import WindowTops, object_from_windows, source_file
from gpuhash.errors import GpuhashError, InputError, VerificationError
from gpuhash.formats import split_source, splits
from gpuhash.formats.safetensors import safetensors_prefix, tensor_sources
from gpuhash.manifest import Manifest
from gpuhash.signing.envelope import Statement
from gpuhash.signing.result import ChangedObject, VerificationResult, selected
from gpuhash.sources import Source

PREDICATE_TYPE = "https://gpuhash.dev/manifest/v1"
#: Families with range values (the lattice hash has no tree to cut).
RANGE_FAMILIES = tuple(f.name for f in FAMILY_TABLE if f.has_ranges)


@dataclass(frozen=True)
class Ranges:
    """Range values: per object, the values of consecutive ``span``-byte ranges."""

    span: int
    values: dict[str, list[bytes]]


def predicate(manifest: Manifest, tops: WindowTops | None) -> dict[str, Any]:
    body: dict[str, Any] = {"manifest": json.loads(manifest.without_stat().to_json())}
    if tops is not None and tops.values and manifest.algorithm.family in RANGE_FAMILIES:
        body["ranges"] = {
            "span": str(tops.span),
            "objects": [
                {"name": name, "values": [v.hex() for v in values]}
                for name, values in sorted(tops.values.items(), key=lambda kv: kv[0].encode())
            ],
        }
    return body


def subject_digest(manifest: Manifest) -> dict[str, str]:
    return {manifest.algorithm.id: manifest.hexdigest}


def parse(statement: Statement) -> tuple[Manifest, Ranges | None]:
    """The manifest of a verified native statement and its range values, all checked: the
    manifest against itself (spec section 8) and the subject digest, each range list against
    its object's digest."""
    body = statement.predicate
    unknown = set(body) - {"manifest", "ranges"}
    if unknown:
        raise VerificationError(f"predicate: unknown fields {sorted(unknown)}")
    if not isinstance(body.get("manifest"), dict):
        raise VerificationError("predicate: no manifest")
    try:
        manifest = Manifest.from_dict(body["manifest"])
    except GpuhashError as e:
        raise VerificationError(f"predicate: invalid manifest: {e}") from None
    if any(o.stat is not None for o in manifest.objects):
        raise VerificationError("predicate: the manifest carries file stats (never signed)")
    want = subject_digest(manifest)
    (key, value), *rest = statement.digest.items()
    if rest or key != manifest.algorithm.id:
        raise VerificationError(
            f"signature: the subject digest is not keyed by the manifest's algorithm "
            f"{manifest.algorithm.id}"
        )
    if not hmac.compare_digest(value.encode(), want[key].encode()):
        raise VerificationError("signature: the manifest disagrees with its subject digest")
    ranges = _parse_ranges(body.get("ranges"), manifest)
    return manifest, ranges


def _parse_ranges(raw: object, manifest: Manifest) -> Ranges | None:
    if raw is None:
        return None
    alg = manifest.algorithm
    if not isinstance(raw, dict) or alg.family not in RANGE_FAMILIES:
        raise VerificationError("predicate: malformed ranges")
    span_text, objects = raw.get("span"), raw.get("objects")
    if (
        not isinstance(span_text, str)
        or not re.fullmatch(r"[0-9]{1,20}", span_text)
        or not isinstance(objects, list)
    ):
        raise VerificationError("predicate: malformed ranges")
    span = int(span_text)
    if (
        span < alg.leaf_size
        or span % alg.leaf_size
        or (span // alg.leaf_size) & (span // alg.leaf_size - 1)
    ):
        raise VerificationError(
            f"predicate: range span {span} is not a power-of-two multiple of the leaf size"
        )
    values: dict[str, list[bytes]] = {}
    d = alg.digest_size
    for entry in objects:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise VerificationError("predicate: malformed ranges")
        name, hexes = entry["name"], entry.get("values")
        try:
            obj = manifest[name]
        except KeyError:
            raise VerificationError(
                f"predicate: ranges for {ref.shown(name)}, which is not in the manifest"
            ) from None
        if name in values or not isinstance(hexes, list):
            raise VerificationError(f"predicate: malformed ranges for {ref.shown(name)}")
        try:
            tops = [bytes.fromhex(h) for h in hexes]
        except (TypeError, ValueError):
            raise VerificationError(f"predicate: malformed ranges for {ref.shown(name)}") from None
        count = -(-obj.size // span)
        if count < 2 or len(tops) != count or any(len(t) != d for t in tops):
            raise VerificationError(
                f"predicate: wrong number or size of ranges for {ref.shown(name)}"
            )
        if not hmac.compare_digest(object_from_windows(alg, tops, obj.size), obj.digest):
            raise VerificationError(
                f"predicate: the ranges of {ref.shown(name)} do not match its digest"
            )
        values[name] = tops
    return Ranges(span, values)


def compare(
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
    use_mmap: bool = False,
) -> None:
    """Re-hash ``model``'s objects listed in ``manifest`` (those matching ``only``) and record
    in ``result`` the missing, extra (unless ``ignore_unsigned``) and changed ones; with
    ``ranges``, a changed object's differing byte ranges. ``mode``: the manifest's object model
    (files or tensors); ``what``: signature or manifest, for messages. Files are read with
    pread unless ``use_mmap`` (a file changed or truncated meanwhile is then an
    ``InputError``, spec section 1.2; a truncated mapping would end the process)."""
    from gpuhash import api
    from gpuhash.engine import hash_sources

    alg = manifest.algorithm
    signed = {o.name: o for o in manifest.objects}
    if not signed:
        raise VerificationError(f"{what}: it lists no objects, so it verifies nothing")
    wanted = selected(list(signed), only, what)
    result.objects = len(wanted)
    files = api.list_objects(model, ignore_paths=ignores, **walk)
    signed_files = {source_file(o) for o in signed.values()}
    # Only the files whose objects are checked are split (a selective check reads no other
    # header; with extra objects ignored, an unsigned file is not read at all).
    sources_of = signed_files if ignore_unsigned else None
    if only:
        # A selected tensor brings its file's header object: the header fixes the tensor's
        # dtype, shape and position, so checking the bytes alone is not enough.
        sources_of = {source_file(signed[n]) for n in wanted}
        headers = [f"{f}{ref.TENSOR_SEPARATOR}{ref.HEADER_OBJECT}" for f in sources_of]
        wanted += [n for n in signed if n in headers and n not in wanted]
    sources, broken = _objects(files, mode, sources_of, signed_files)
    local = {s.name: s for s in sources}
    result.missing = [n for n in wanted if n not in local and source_file(signed[n]) not in broken]
    result.extra = [] if ignore_unsigned else [n for n in local if n not in signed]
    result.changed.extend(ChangedObject(f, reason=why) for f, why in broken.items())
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


#: At most this many characters of a parser's message go into a ``changed:`` line.
_MAX_REASON = 300


def _objects(
    files: list[Source], mode: str, split: set[str] | None, signed_files: set[str]
) -> tuple[list[Source], dict[str, str]]:
    """The objects of the listed ``files`` in object model ``mode``, tensor files split (those
    in ``split``, when given), and, for each signed tensor file that no longer parses, why
    (its objects are then left out). An unsigned file that does not parse stays one object,
    named by its path (an extra file)."""
    from gpuhash import api

    out: list[Source] = []
    broken: dict[str, str] = {}
    for src in files:
        if (
            mode != "tensors"
            or not splits(src.name)
            or (split is not None and src.name not in split)
        ):
            out.append(src)
            continue
        objects, why = _tensor_objects(src)
        if why is None:
            out.extend(objects)
        elif src.name in signed_files:
            broken[src.name] = why
        else:
            out.append(src)
    # Object names must still be unique (a plain file named ``F::T`` is no tensor of ``F``).
    return api.objects_of_files(out, "files"), broken


def _tensor_objects(src: Source) -> tuple[list[Source], str | None]:
    """The objects of the tensor file ``src`` and None, or none and why its header does not
    parse. Reading is not parsing: a file that cannot be read, or that is no longer the file
    listed (changed while being verified), raises ``InputError`` as hashing it would."""
    if src.name.endswith(ref.SAFETENSORS_SUFFIX):
        prefix = safetensors_prefix(src)

        def parse() -> list[Source]:
            return tensor_sources(src, prefix)

    else:
        os.close(open_checked(src))

        def parse() -> list[Source]:
            return split_source(src)

    try:
        return parse(), None
    except InputError as e:
        if not _as_listed(src):
            raise
        detail = " ".join(str(e).replace(f"{src.name}: ", "", 1).split())
        if len(detail) > _MAX_REASON:
            detail = detail[: _MAX_REASON - 3] + "..."
        return [], f"its header no longer parses: {detail}"


def _as_listed(src: Source) -> bool:
    """Whether the file of ``src`` still has the size and identity it was listed with."""
    try:
        st = os.stat(src.path or "")
    except OSError:
        return False
    ident = (st.st_dev, st.st_ino, st.st_mtime_ns)
    return st.st_size == src.size and (src.identity is None or ident == src.identity)


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
