"""``ConformanceSuite``: every conformance property as a test method, for any backend.

A vendor's repository needs three lines to run the whole suite against its backend::

    from gpuhash_conformance import ConformanceSuite
    class TestMyBackend(ConformanceSuite):
        backend_factory = staticmethod(lambda: MyBackend())

Optionally ``variant_factories`` lists other configurations of the same backend (work-group
sizes, layouts) that must give identical results. Without a factory the backend comes from the
plugin's ``--gpuhash-backend`` option (or ``GPUHASH_BACKEND``; default: every available
backend). Each property's example count is recorded for ``gpuhash conformance``'s report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpuhash import reference as ref
from gpuhash.algorithms import FAMILIES, LTHASH, Algorithm
from gpuhash.backend import HashBackend
from gpuhash_conformance import checks
from gpuhash_conformance import strategies as gs
from gpuhash_conformance.boundaries import (
    batches,
    contents,
    counts,
    large_call,
    objects,
    past_2_32,
    state,
)
from gpuhash_conformance.boundaries.calls import Coverage
from gpuhash_conformance.plugin import PropertySettings

__all__ = ["COVERAGE", "EXAMPLES", "ConformanceSuite"]

#: Examples run per test (node id -> count), for the report.
EXAMPLES: dict[str, int] = {}
#: What each boundary check fed the backend (node id -> coverage), for the report.
COVERAGE: dict[str, Coverage] = {}

_families = pytest.mark.parametrize("family", FAMILIES)


def _claimed(backend: HashBackend, trees: bool = False) -> list[str]:
    """The families the backend claims (spec section 10), those with trees when ``trees``."""
    families = sorted(backend.capabilities().families)
    return [f for f in families if f != LTHASH] if trees else families


def _supported(backend: HashBackend, family: str) -> None:
    """Skip a family the backend does not claim (spec section 10: it need not claim all)."""
    if family not in backend.capabilities().families:
        pytest.skip(f"{backend.name} does not claim {family}")


class ConformanceSuite:
    """Mix into a test class; set ``backend_factory`` (or use the plugin's option)."""

    backend_factory: ClassVar[Callable[[], HashBackend] | None] = None
    variant_factories: ClassVar[Sequence[Callable[[], HashBackend]]] = ()

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_backend(cls, conformance_backend_name: str) -> Iterator[HashBackend]:
        from gpuhash_conformance.plugin import load_backend

        factory = cls.backend_factory
        backend = factory() if factory is not None else load_backend(conformance_backend_name)
        yield backend
        backend.close()

    @pytest.fixture
    def examples(self, request: pytest.FixtureRequest) -> Callable[[], None]:
        node = request.node.nodeid
        EXAMPLES[node] = 0

        def count() -> None:
            EXAMPLES[node] += 1

        return count

    @pytest.fixture
    def coverage(self, request: pytest.FixtureRequest) -> Coverage:
        record = COVERAGE[request.node.nodeid] = Coverage()
        return record

    # -- known answers -------------------------------------------------------------------------

    def test_spec_vectors(self, conformance_backend: HashBackend, examples: Any) -> None:
        """Every object, artifact and valid proof of the spec's vector files."""
        for check in (checks.check_object_vectors, checks.check_artifact_vectors):
            for _ in range(check(conformance_backend)):
                examples()
        for _ in range(checks.check_proof_vectors(conformance_backend)):
            examples()

    @pytest.mark.parametrize("primitive", sorted(checks.NIST_FILES))
    def test_nist_vectors(
        self, conformance_backend: HashBackend, primitive: str, examples: Any
    ) -> None:
        """NIST CAVP ShortMsg and LongMsg for the plain digests a backend exposes
        (``digest_messages``); a backend that exposes none is skipped with that reason."""
        if getattr(conformance_backend, "digest_messages", None) is None:
            pytest.skip(f"{conformance_backend.name} exposes no plain digests (digest_messages)")
        for _ in range(checks.check_nist(conformance_backend, primitive)):
            examples()

    # -- boundary enumerations (every default run; cheapest first) -----------------------------

    @_families
    def test_block_boundaries(
        self, conformance_backend: HashBackend, family: str, coverage: Coverage
    ) -> None:
        """Every leaf length around the primitive's block and BLAKE3's chunk."""
        _supported(conformance_backend, family)
        contents.check_block_boundaries(conformance_backend, family, coverage)

    def test_mixed_families(self, conformance_backend: HashBackend, coverage: Coverage) -> None:
        """Families and leaf sizes interleaved in one process."""
        state.check_mixed_families(conformance_backend, coverage)

    @_families
    def test_prefixes_and_zero_leaves(
        self, conformance_backend: HashBackend, family: str, coverage: Coverage
    ) -> None:
        """Leaves sharing all but one byte; zero leaves beside nearly-zero ones; across calls."""
        _supported(conformance_backend, family)
        contents.check_prefixes_and_zeros(conformance_backend, family, coverage)

    @_families
    def test_repeated_calls(
        self, conformance_backend: HashBackend, family: str, coverage: Coverage
    ) -> None:
        """Call shapes that change and repeat in one process (stale buffers and tables)."""
        _supported(conformance_backend, family)
        state.check_repeated_calls(conformance_backend, family, coverage)

    @_families
    def test_concurrent_calls(
        self, conformance_backend: HashBackend, family: str, coverage: Coverage
    ) -> None:
        """Several threads calling at once (backends that declare ``concurrent``)."""
        _supported(conformance_backend, family)
        if not conformance_backend.capabilities().concurrent:
            pytest.skip(f"{conformance_backend.name} is never called from two threads")
        state.check_concurrent_calls(conformance_backend, family, coverage)

    @_families
    def test_boundaries_in_a_large_call(
        self, conformance_backend: HashBackend, family: str, coverage: Coverage
    ) -> None:
        """Offsets and indices past 2^32, padding lengths, prefixes and zero leaves, 1 MiB
        leaves: all in one shuffled call of 2^17 + 2,600 rows (and as groups)."""
        _supported(conformance_backend, family)
        large_call.check_boundaries_in_a_large_call(conformance_backend, family, coverage)

    @_families
    def test_mixed_batches(
        self, conformance_backend: HashBackend, family: str, coverage: Coverage
    ) -> None:
        """About 70 objects of mixed sizes in one call, rows and groups out of order."""
        _supported(conformance_backend, family)
        batches.check_mixed_batches(conformance_backend, family, coverage)

    @_families
    def test_large_leaves(
        self, conformance_backend: HashBackend, family: str, coverage: Coverage
    ) -> None:
        """Leaves of 2 KiB to 16 MiB, through every primitive and the engine."""
        _supported(conformance_backend, family)
        objects.check_large_leaves(conformance_backend, family, coverage)

    @_families
    def test_many_objects(
        self, conformance_backend: HashBackend, family: str, coverage: Coverage
    ) -> None:
        """2^17 + 1 one-leaf objects in one call (every row a root; as many tops)."""
        _supported(conformance_backend, family)
        batches.check_many_objects(conformance_backend, family, coverage)

    @_families
    def test_leaf_indices_past_2_32(
        self, conformance_backend: HashBackend, family: str, coverage: Coverage
    ) -> None:
        """Leaf indices (and BLAKE3 chunk counters) whose byte position or value passes 2^32."""
        _supported(conformance_backend, family)
        past_2_32.check_indices_past_2_32(conformance_backend, family, coverage)

    @_families
    def test_offsets_past_2_32(
        self, conformance_backend: HashBackend, family: str, coverage: Coverage
    ) -> None:
        """One call whose leaves lie around 2^31 and 2^32 bytes into a 4 GiB buffer."""
        _supported(conformance_backend, family)
        past_2_32.check_offsets_past_2_32(conformance_backend, family, coverage)

    @_families
    def test_node_counts(
        self, conformance_backend: HashBackend, family: str, coverage: Coverage
    ) -> None:
        """hash_nodes at every power of two of pairs and its neighbours, with root patterns."""
        _supported(conformance_backend, family)
        counts.check_node_counts(conformance_backend, family, coverage)

    @_families
    def test_leaf_counts(
        self, conformance_backend: HashBackend, family: str, coverage: Coverage
    ) -> None:
        """hash_leaves at every power of two of leaves and its neighbours up to 2^17 + 1."""
        _supported(conformance_backend, family)
        counts.check_leaf_counts(conformance_backend, family, coverage)

    @_families
    def test_subtree_counts(
        self, conformance_backend: HashBackend, family: str, coverage: Coverage
    ) -> None:
        """hash_subtrees at the same counts, and 2^17 + 1 leaves in many groups in one call."""
        _supported(conformance_backend, family)
        counts.check_subtree_counts(conformance_backend, family, coverage)

    @_families
    def test_windows(
        self, conformance_backend: HashBackend, family: str, coverage: Coverage
    ) -> None:
        """Objects spanning windows through the engine, and one of more than 1024 windows."""
        _supported(conformance_backend, family)
        objects.check_windows(conformance_backend, family, coverage)

    @_families
    def test_files(self, conformance_backend: HashBackend, family: str, coverage: Coverage) -> None:
        """Files read (``FileSpan``s for backends with ``file_spans``) and mapped, through the
        engine: around 1 MiB, in windows, and a tensor at an offset into its file."""
        _supported(conformance_backend, family)
        objects.check_files(conformance_backend, family, coverage)

    @_families
    def test_device_arrays(
        self, conformance_backend: HashBackend, family: str, coverage: Coverage
    ) -> None:
        """Objects already in device memory, hashed in place (backends with device_arrays)."""
        _supported(conformance_backend, family)
        caps = conformance_backend.capabilities()
        if not caps.device_arrays:
            pytest.skip(f"{conformance_backend.name} hashes host memory only (device_arrays)")
        if getattr(conformance_backend, "device_array", None) is None:
            pytest.fail(
                f"{conformance_backend.name} declares device_arrays but has no "
                "device_array(data, offset) to make one: its in-place path cannot be checked"
            )
        objects.check_device_arrays(conformance_backend, family, coverage)

    # -- bit-identical values ---------------------------------------------------------------

    def test_leaf_values(
        self,
        conformance_backend: HashBackend,
        conformance_settings: PropertySettings,
        examples: Any,
    ) -> None:
        claimed = _claimed(conformance_backend)

        @conformance_settings
        @given(alg=gs.algorithms(among=claimed), size=gs.sizes(), data=st.data())
        def prop(alg: Algorithm, size: int, data: st.DataObject) -> None:
            examples()
            blob = gs.payloads(size, size % 251)
            n = ref.leaf_count(size, alg.leaf_size)
            order = data.draw(st.permutations(range(n)))
            checks.check_leaf_values(conformance_backend, alg, blob, order)

        prop()

    def test_node_values(
        self,
        conformance_backend: HashBackend,
        conformance_settings: PropertySettings,
        examples: Any,
    ) -> None:
        claimed = _claimed(conformance_backend)

        @conformance_settings
        @given(family=st.sampled_from(claimed), pairs=st.integers(1, 9), seed=st.integers(0, 255))
        def prop(family: str, pairs: int, seed: int) -> None:
            examples()
            alg = Algorithm(family)
            children = gs.payloads(2 * pairs * alg.digest_size, seed)
            roots = bytes((seed >> i) & 1 for i in range(pairs))
            checks.check_node_values(conformance_backend, alg, children, roots)

        prop()

    def test_tree_levels(
        self,
        conformance_backend: HashBackend,
        conformance_settings: PropertySettings,
        examples: Any,
    ) -> None:
        @conformance_settings
        @given(
            family=st.sampled_from(_claimed(conformance_backend, trees=True)),
            size=gs.sizes(1024, 20),
        )
        def prop(family: str, size: int) -> None:
            examples()
            alg = Algorithm(family, 1024)
            checks.check_tree_levels(conformance_backend, alg, gs.payloads(size, 7))

        prop()

    def test_object_digests(
        self,
        conformance_backend: HashBackend,
        conformance_settings: PropertySettings,
        examples: Any,
    ) -> None:
        @conformance_settings
        @given(
            alg=gs.algorithms(among=_claimed(conformance_backend)),
            objs=st.lists(gs.objects(), min_size=1, max_size=5),
            batch=st.sampled_from([None, 1024, 3072, 8192, 1 << 20]),
        )
        def prop(alg: Algorithm, objs: list[gs.Obj], batch: int | None) -> None:
            examples()
            batch_bytes = None if batch is None else max(batch, alg.leaf_size)
            checks.check_object_digests(conformance_backend, alg, objs, batch_bytes)

        prop()

    def test_artifact_digest(
        self,
        conformance_backend: HashBackend,
        conformance_settings: PropertySettings,
        examples: Any,
    ) -> None:
        @conformance_settings
        @given(artifact=gs.artifacts(among=_claimed(conformance_backend)))
        def prop(artifact: gs.Artifact) -> None:
            examples()
            checks.check_artifact(conformance_backend, artifact)

        prop()

    # -- proofs -------------------------------------------------------------------------------

    def test_inclusion_proofs(
        self,
        conformance_backend: HashBackend,
        conformance_settings: PropertySettings,
        examples: Any,
    ) -> None:
        @conformance_settings
        @given(
            family=st.sampled_from(_claimed(conformance_backend, trees=True)),
            size=gs.sizes(1024, 24),
            data=st.data(),
        )
        def prop(family: str, size: int, data: st.DataObject) -> None:
            examples()
            alg = Algorithm(family, 1024)
            n = ref.leaf_count(size, 1024)
            first = data.draw(st.integers(0, n - 1))
            count = data.draw(st.integers(1, n - first))
            checks.check_proofs(conformance_backend, alg, gs.payloads(size, 3), first, count)

        prop()

    # -- the lattice update law ----------------------------------------------------------------

    def test_lattice_update_law(
        self,
        conformance_backend: HashBackend,
        conformance_settings: PropertySettings,
        examples: Any,
    ) -> None:
        _supported(conformance_backend, LTHASH)

        @conformance_settings
        @given(artifact=gs.artifacts(), replacement=gs.objects())
        def prop(artifact: gs.Artifact, replacement: gs.Obj) -> None:
            examples()
            lattice = gs.Artifact(Algorithm(LTHASH, artifact.algorithm.leaf_size), artifact.objects)
            checks.check_lattice_update(conformance_backend, lattice, replacement)

        prop()

    # -- every change changes the digest -------------------------------------------------------

    def test_changes_change_the_digest(
        self,
        conformance_backend: HashBackend,
        conformance_settings: PropertySettings,
        examples: Any,
    ) -> None:
        @conformance_settings
        @given(
            alg=gs.algorithms(among=_claimed(conformance_backend)),
            size=gs.sizes(1024, 12),
            position=st.integers(0, 1 << 20),
        )
        def prop(alg: Algorithm, size: int, position: int) -> None:
            examples()
            checks.check_changes(conformance_backend, alg, gs.payloads(size, 11), position)

        prop()

    def test_renaming_changes_the_artifact(
        self,
        conformance_backend: HashBackend,
        conformance_settings: PropertySettings,
        examples: Any,
    ) -> None:
        @conformance_settings
        @given(artifact=gs.artifacts(among=_claimed(conformance_backend)), name=gs.names)
        def prop(artifact: gs.Artifact, name: str) -> None:
            examples()
            checks.check_renaming(conformance_backend, artifact, name)

        prop()

    # -- determinism -----------------------------------------------------------------------------

    def test_determinism(
        self,
        conformance_backend: HashBackend,
        conformance_settings: PropertySettings,
        examples: Any,
    ) -> None:
        """The same artifact twice, and through every configured variant, gives one digest."""
        variants = [factory() for factory in type(self).variant_factories]
        try:

            @conformance_settings
            @given(artifact=gs.artifacts(among=_claimed(conformance_backend)))
            def prop(artifact: gs.Artifact) -> None:
                examples()
                first = checks.check_artifact(conformance_backend, artifact)
                again = checks.check_artifact(conformance_backend, artifact)
                assert first == again, "two runs differ"
                for variant in variants:
                    assert checks.check_artifact(variant, artifact) == first, variant

            prop()
        finally:
            for variant in variants:
                variant.close()

    # -- 64-bit sizes (the most expensive checks, last) ------------------------------------------

    def test_read_file_past_2_32(
        self, conformance_backend: HashBackend, coverage: Coverage
    ) -> None:
        """``read_file`` at offsets past 2^32 (backends that read files into device memory)."""
        if not conformance_backend.capabilities().file_reads:
            pytest.skip(f"{conformance_backend.name} does not read files itself (file_reads)")
        past_2_32.check_read_file_past_2_32(conformance_backend, coverage)

    @_families
    def test_generated_object_over_4_gib(
        self, conformance_backend: HashBackend, family: str, coverage: Coverage
    ) -> None:
        """2^32 + 208,953 generated bytes (different at every position) through the engine at
        the backend's own batch size, against cached digests (skipped for the reference)."""
        _supported(conformance_backend, family)
        if conformance_backend.name == "reference":
            pytest.skip("the pure-Python reference would take hours over 4 GiB")
        past_2_32.check_object_over_4_gib(conformance_backend, family, coverage)

    def test_object_over_4_gib(self, conformance_backend: HashBackend, examples: Any) -> None:
        """A sparse file of 2^32 + 65537 zero bytes, merkle-sha256: sizes and offsets past 32
        bits through the engine and the backend (about 4 GiB of hashing; skipped for the
        pure-Python reference). The expected digest is built from the spec's tree shape with
        every full leaf's value computed once."""
        if conformance_backend.name == "reference":
            pytest.skip("the pure-Python reference would take hours over 4 GiB")
        _supported(conformance_backend, "merkle-sha256")
        examples()
        checks.check_64bit_size(conformance_backend, "merkle-sha256", (1 << 32) + 65537, 65536)
