"""The suite as collected by ``pytest --pyargs gpuhash_conformance``: every property, for each
backend the plugin selected (``--gpuhash-backend``, ``GPUHASH_BACKEND`` or all available)."""

from __future__ import annotations

from gpuhash_conformance.mixins import ConformanceSuite


class TestConformance(ConformanceSuite):
    pass
