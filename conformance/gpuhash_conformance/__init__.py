"""gpuhash-conformance: the suite that proves a backend bit-identical to the reference.

Run it on any registered backend::

    pytest --pyargs gpuhash_conformance --gpuhash-backend NAME
    gpuhash conformance NAME --report report.json

or in a vendor's own tests with three lines (see ``ConformanceSuite``). Importing this package
has no side effects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gpuhash_conformance.mixins import ConformanceSuite

__all__ = ["ConformanceSuite"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the package (pytest loads its plugin at start-up) imports neither
    # Hypothesis nor gpuhash before pytest is ready to rewrite their assertions.
    if name == "ConformanceSuite":
        from gpuhash_conformance.mixins import ConformanceSuite

        return ConformanceSuite
    raise AttributeError(f"module 'gpuhash_conformance' has no attribute {name!r}")
