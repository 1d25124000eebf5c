"""The native signature format (spec section 11): the gpuhash manifest in the predicate, the
artifact digest as the subject digest (keyed by the algorithm identifier), and optional range
values that let a verifier name the changed byte ranges of a changed object."""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from gpuhash.digests import WindowTops, object_from_windows
from gpuhash.errors import GpuhashError, VerificationError
from gpuhash.manifest import Manifest
from gpuhash.signing.envelope import Statement

PREDICATE_TYPE = "https://gpuhash.dev/manifest/v1"
#: Families with range values (the lattice hash has no tree to cut).
RANGE_FAMILIES = ("merkle-sha256", "merkle-sha512", "merkle-sha3-256", "blake3")


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
