"""Boundary enumerations: the parameters a device port gets wrong, each walked systematically
on every default run (the Hypothesis properties explore around them; these never leave them to
chance).

Each ``check_*`` takes the backend, an algorithm family and a
:class:`~gpuhash_conformance.boundaries.calls.Coverage` that records what the check fed the
backend (calls, leaves per call, the largest byte offset and leaf index, object sizes), so the
report shows that a backend was tested past 2^32 bytes and 2^17 leaves per call. A check raises
``AssertionError`` naming the first wrong value: the call, the row, the leaf's offset, length
and index.

The modules, and what each enumeration is for (the bug it catches):

``calls``
    what the checks share: leaf tables, the coverage record, calls whose result sizes are
    checked, comparisons naming the first wrong value.

``counts``: ``check_leaf_counts`` / ``check_subtree_counts``
    leaves per call at every power of two and its neighbours up to 2^17 + 1: grids rounded
    to a block size, 16-bit launch or schedule indices, the last partial work-group.
``counts``: ``check_node_counts``
    pairs per ``hash_nodes`` call at the same counts, with root-flag patterns (none, all,
    alternating, first, last, every fourth): node grids and flags read at the wrong width.

``past_2_32``: ``check_offsets_past_2_32``
    one call whose leaves lie around 2^31 and 2^32 bytes into its buffer, on non-zero,
    position-dependent data: 32-bit (or signed) byte offsets.
``past_2_32``: ``check_indices_past_2_32``
    leaf indices whose byte position crosses 2^32, and indices (and BLAKE3 chunk counters)
    past 2^32: truncated counters, 32-bit index arithmetic.
``past_2_32``: ``check_object_over_4_gib``
    a generated object of 2^32 + 208,953 bytes (non-zero, different at every position) through
    the engine at the backend's own batch size, against cached digests
    (``large.json``).
``past_2_32``: ``check_read_file_past_2_32``
    ``read_file`` (backends that read files into device memory) at offsets past 2^32.

``large_call``: ``check_boundaries_in_a_large_call``
    the boundaries of the small checks (offsets and indices past 2^32, every padding length,
    shared prefixes and zero leaves, 1 MiB leaves) again, in one shuffled call of 2^17 + 2,600
    rows: a backend whose large-call path differs from its small-call path meets them there.

``state``: ``check_concurrent_calls``
    (``concurrent`` backends) several threads calling at once, each result compared: slots
    that share buffers, kernel objects or queue state.
``state``: ``check_repeated_calls``
    calls of changing shapes in one process: buffers, tables or schedules reused stale.
``state``: ``check_mixed_families``
    families and leaf sizes interleaved in one process: kernels or constants cached by the
    wrong key.

``batches``: ``check_mixed_batches``
    many objects of mixed sizes in one call, rows shuffled, groups out of order, windows of
    large objects beside whole ones: word-order slips in large batches, row-order assumptions.
``batches``: ``check_many_objects``
    2^17 + 1 one-leaf objects in one call: a root flag on every row, 2^17 + 1 tops to gather.

``contents``: ``check_block_boundaries``
    every message length around the primitive's block (and BLAKE3's chunk): padding.
``contents``: ``check_prefixes_and_zeros``
    leaves that share all but their last byte, all-zero leaves beside ones that are zero but
    for one byte, within one call and across calls: caches keyed on a prefix, zero shortcuts.

``objects``: ``check_large_leaves``
    leaves of 2 KiB to 16 MiB (the largest the spec allows): BLAKE3 chaining-value stacks,
    long messages.
``objects``: ``check_windows``
    objects spanning windows through the engine at small batch sizes (every family,
    lattice included), and an object of more than 1024 windows.
``objects``: ``check_files``
    files through the engine, read (handed to backends with ``file_spans`` as ``FileSpan``s)
    and mapped, around 1 MiB, in windows, a tensor at an offset: span offsets, short pieces.
``objects``: ``check_device_arrays``
    objects already in the backend's device memory (``device_array``), whole and in windows.
"""
