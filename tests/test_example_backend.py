"""The example backend (backends/example) through the whole conformance suite: the three lines
docs/new-backend.md shows a vendor."""

from gpuhash_conformance import ConformanceSuite
from gpuhash_example import ExampleBackend


class TestExampleBackend(ConformanceSuite):
    backend_factory = staticmethod(ExampleBackend)
