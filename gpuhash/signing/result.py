"""What a verification finds: the objects that differ from the signed (or listed) ones, the
result of ``verify`` and ``check``, the error raised when the model differs, and the selection
of the objects to check (``--only``)."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field

from gpuhash.errors import VerificationError

#: ``VerificationResult.method`` of ``check``: an unsigned manifest, nothing signed.
CHECK_METHOD = "manifest"


@dataclass(frozen=True)
class ChangedObject:
    """An object whose bytes differ from the signed ones; ``ranges``: the differing byte ranges
    ``[start, end)`` when the signature allows locating them (else None). ``reason``: why, when
    the bytes were not even hashed (a signed tensor file whose header no longer parses: ``name``
    is then the file, standing for all of its signed objects)."""

    name: str
    ranges: list[tuple[int, int]] | None = None
    reason: str | None = None


@dataclass
class VerificationResult:
    """What ``verify`` or ``check`` found: the signature's format, method, signer, subject and
    algorithm, how many objects were checked, and those missing, extra or changed."""

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
        """Whether the model matches: nothing missing, extra or changed."""
        return not (self.missing or self.extra or self.changed)

    def problems(self) -> list[str]:
        """One line per difference, naming the object."""
        lines = [f"missing: {n}" for n in self.missing]
        unlisted = "not in the manifest" if self.method == CHECK_METHOD else "not signed"
        lines += [f"extra ({unlisted}): {n}" for n in self.extra]
        for c in self.changed:
            where = ""
            if c.reason:
                where = f" ({c.reason})"
            elif c.ranges:
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


def selected(names: Sequence[str], only: list[str], what: str = "signature") -> list[str]:
    """The names matching any pattern of ``only`` (all names when it is empty); a pattern list
    that matches none is a ``VerificationError`` naming ``what`` (signature or manifest)."""
    if not only:
        return list(names)
    chosen = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in only)]
    if not chosen:
        raise VerificationError(f"--only {' '.join(only)}: matches no object the {what} lists")
    return chosen
