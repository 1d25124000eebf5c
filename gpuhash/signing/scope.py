"""Which files of a model a signature covers: the ignore paths (the signature file itself, the
defaults of spec section 1.2 a signer and a verifier apply), the walk options that decide which
files are the model's, and the subject name a statement gives the model."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any


def ignore_with_signature(model: str, signature: str, ignore_paths: Sequence[str]) -> list[str]:
    """The ignore paths, plus the signature file when it lies inside the model directory."""
    from gpuhash import api

    return api.ignoring_own_files(model, [signature], ignore_paths)


def subject_name(model: str) -> str:
    """The name of the statement's subject: the model's last path component."""
    return os.path.basename(os.path.normpath(os.path.abspath(model)))


def default_ignores(ignore_git_paths: bool) -> tuple[str, ...]:
    """The default ignore paths (spec section 1.2), with or without git's."""
    from gpuhash import api

    return api.default_ignores(ignore_git_paths)


def verifier_defaults(defaults: Sequence[str], signed: Sequence[str]) -> tuple[str, ...]:
    """The default ignore paths a verifier applies (spec section 11.1): those under which the
    signature lists no object (a signer without that default listed them: they are checked).
    Names of tensors (``F::T``) and shards (``F:start:end``) begin with their file's path."""
    return tuple(d for d in defaults if not any(n == d or n.startswith(d + "/") for n in signed))


def walk(
    allow_symlinks: bool, link_root: str | os.PathLike[str] | None, defaults: Sequence[str]
) -> dict[str, Any]:
    """The options of ``api.list_objects`` that decide which files are the model's."""
    return {"allow_symlinks": allow_symlinks, "link_root": link_root, "defaults": tuple(defaults)}
