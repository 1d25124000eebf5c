"""Griffe extension for the docs site: ``__all__`` entries written as ``*NAME``.

``gpuhash/__init__.py`` exports its lazily imported names as ``__all__ = [..., *_LAZY]``, where
``_LAZY`` is a dict literal. Griffe (which mkdocstrings uses to read the code without importing
it) expands ``*NAME`` only when NAME is another module's ``__all__``; this expands it when NAME is
a list, tuple or dict literal of strings in the same module, so the API reference shows those
names. Any other value is logged as a warning, which fails ``mkdocs build --strict``, so the
reference never silently loses the package's names.
"""

from __future__ import annotations

import ast
from typing import Any

import griffe

logger = griffe.logger


def _literal_names(value: object) -> list[str] | None:
    try:
        names = ast.literal_eval(str(value))
    except (ValueError, SyntaxError):
        return None
    if isinstance(names, list | tuple | dict) and all(isinstance(n, str) for n in names):
        return list(names)
    return None


class LiteralExports(griffe.Extension):
    """Replace ``*NAME`` in a module's ``__all__`` by the keys or items of the literal NAME."""

    def on_module_members(self, *, mod: griffe.Module, **kwargs: Any) -> None:
        """Expand the exports once the module's own members are known."""
        if not mod.exports:
            return
        expanded: list[str | griffe.ExprName] = []
        for export in mod.exports:
            member = None if isinstance(export, str) else mod.members.get(export.name)
            if not isinstance(export, griffe.ExprName) or not isinstance(member, griffe.Attribute):
                expanded.append(export)  # a string, or another module's __all__ for Griffe
                continue
            names = _literal_names(member.value)
            if names is None:
                message = "%s.__all__: cannot expand *%s (not a literal of strings)"
                logger.warning(message, mod.path, export.name)
                expanded.append(export)
            else:
                expanded.extend(names)
        mod.exports = expanded
