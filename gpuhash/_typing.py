"""Typing helpers shared by the package (Python 3.11 has no ``collections.abc.Buffer``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Buffer as Buffer
else:
    Buffer = object

__all__ = ["Buffer"]
