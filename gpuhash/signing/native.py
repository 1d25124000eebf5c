"""The native signature format (spec section 11): the gpuhash manifest in the predicate, the
artifact digest as the subject digest (keyed by the algorithm identifier), and optional range
values that let a verifier name the changed byte ranges of a changed object; and the comparison
of a model with such a manifest (``verify``, ``check``)."""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from gpuhash import reference as ref
from gpuhash.algorithms import FAMILY_TABLE
from gpuhash.digests import WindowTops, object_from_windows, source_file
from gpuhash.errors import GpuhashError, VerificationError
from gpuhash.manifest import Manifest
from gpuhash.signing.envelope import Statement
from gpuhash.signing.result import ChangedObject, VerificationResult, selected

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
        manifest = Manifest.from_json(json.dumps(body["manifest"]))
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
                f"predicate: ranges for {name!r}, which is not in the manifest"
            ) from None
        if name in values or not isinstance(hexes, list):
            raise VerificationError(f"predicate: malformed ranges for {name!r}")
        try:
            tops = [bytes.fromhex(h) for h in hexes]
        except (TypeError, ValueError):
            raise VerificationError(f"predicate: malformed ranges for {name!r}") from None
        count = -(-obj.size // span)
        if count < 2 or len(tops) != count or any(len(t) != d for t in tops):
            raise VerificationError(f"predicate: wrong number or size of ranges for {name!r}")
        if not hmac.compare_digest(object_from_windows(alg, tops, obj.size), obj.digest):
            raise VerificationError(f"predicate: the ranges of {name!r} do not match its digest")
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
    if only:
        # A selected tensor brings its file's header object: the header fixes the tensor's
        # dtype, shape and position, so checking the bytes alone is not enough.
        sources_of = {source_file(signed[n]) for n in wanted}
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
