"""Exceptions: each error raised on purpose is a ``GpuhashError`` with a one-line message."""

from __future__ import annotations


class GpuhashError(Exception):
    """Base class: the message is one line that names the problem."""


class UsageError(GpuhashError, ValueError):
    """Bad input from the caller: an unknown algorithm, a bad leaf size, a bad name..."""


class InputError(GpuhashError, OSError):
    """A path that cannot be hashed: missing, unreadable, a refused symlink, changed while read."""


class BackendUnavailable(GpuhashError):
    """A backend that is unknown, not installed, or has no usable device."""


class BackendError(GpuhashError):
    """A backend failed while hashing (a device error); never accompanied by a digest."""


class VerificationError(GpuhashError):
    """A signature that does not verify: malformed, not signed by the expected key or identity,
    or over other content; never a pass (exit status 1 from the command line)."""


class SigningError(GpuhashError):
    """Signing could not complete (an identity token refused, a signing service unreachable);
    no signature is written."""
