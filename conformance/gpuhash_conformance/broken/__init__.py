"""Deliberately broken backends: each has one classic bug; the suite must fail on every one.

They are the suite's own test (``tests/test_conformance_suite.py`` runs the suite on each and
expects failures). Each subclasses the ``cpu`` backend and breaks one thing:

``OddNodeDuplicated``       a lone last value is paired with itself (Bitcoin's rule), not carried
``NoDomainSeparation``      leaves are H(d) and nodes H(l || r): no 0x00 / 0x01 role bytes
``ByteOrderSlip``           bytes 3 and 4 of each leaf (a word boundary) are swapped
``LeafBoundaryOffByOne``    every leaf but the buffer's last reads one byte of the next
``StateCarriedOver``        a leaf's hash starts from the previous leaf's state
``WrongLatticeModulus``     lattice lanes are summed modulo 65521 instead of 2^16
``PositionNotBound``        lattice leaf elements ignore the leaf's index

and, one per class of bug that an earlier suite let through (each caught by a boundary
enumeration of ``gpuhash_conformance.boundaries``):

``GridRoundedDown``         the leaf grid is rounded down to a multiple of 256 work-items
``GridLimit65535``          rows past 65,535 of a call are never launched (a 16-bit grid)
``NodeGridRoundedDown``     the node grid is rounded down to a multiple of 256
``ScheduleIndex16``         the tree schedule's source indices are stored in 16 bits
``TopsIndex16``             the gather of subtree tops indexes groups with 16 bits
``Offset32``                leaf byte offsets truncated to 32 bits
``OffsetSigned32``          leaf byte offsets held in a signed 32-bit integer
``Blake3StackDepth8``       BLAKE3 leaves of more than 256 chunks lose the rest (a short stack)
``Blake3CounterLow32``      BLAKE3 chunk counters lose their high word
``Blake3ByteOffset32``      BLAKE3 chunk counters derived from a 32-bit byte position
``LatticeIndex32``          lattice leaf indices truncated to 32 bits
``LargeCallsOffset32``      only calls of 1024 rows or more truncate offsets (small calls take
                            a correct host path)
``LargeCallsCounterLow32``  the same with BLAKE3 counters
``IndexFromRow``            a leaf's index taken from its row (rows assumed in object order)
``PrefixCache``             leaf values cached by their first 4 KiB
``ZeroPageShortcut``        a leaf whose first page is zero is taken as all zero
``LargeBatchWordSlip``      in calls of many objects and over 4096 rows, words 0 and 1 of
                            later values are swapped
``StaleTable``              a call with as many rows as the previous one reuses its offsets
``SharedOutputBuffer``      concurrent calls share one output buffer
``RootFlagsAsWords``        root flags read one per four pairs (a byte array read as words)
``LeafSizeBakedIn``         BLAKE3's chunks per leaf fixed by the first call's leaf size
``KernelByDigestSize``      kernels cached by digest size (SHA3-256 and BLAKE3 run SHA-256)
``PaddingAt55``             SHA-256 padding wrong when a message ends 55 bytes into a block,
                            and no ``digest_messages`` (so the NIST vectors do not run)
"""

from __future__ import annotations

from gpuhash_conformance.broken.faulty import (
    Crashes,
    Hangs,
    HangsHoldingTheGil,
    Raises,
    ShortValues,
)
from gpuhash_conformance.broken.geometry import (
    Blake3ByteOffset32,
    Blake3CounterLow32,
    Blake3StackDepth8,
    GridLimit65535,
    GridRoundedDown,
    IndexFromRow,
    LargeCallsCounterLow32,
    LargeCallsOffset32,
    LatticeIndex32,
    NodeGridRoundedDown,
    Offset32,
    OffsetSigned32,
    ScheduleIndex16,
    TopsIndex16,
)
from gpuhash_conformance.broken.state import (
    KernelByDigestSize,
    LargeBatchWordSlip,
    LeafSizeBakedIn,
    PrefixCache,
    RootFlagsAsWords,
    SharedOutputBuffer,
    StaleTable,
    ZeroPageShortcut,
)
from gpuhash_conformance.broken.values import (
    ByteOrderSlip,
    LeafBoundaryOffByOne,
    NoDomainSeparation,
    OddNodeDuplicated,
    PaddingAt55,
    PositionNotBound,
    StateCarriedOver,
    WrongLatticeModulus,
)

__all__ = [
    "BROKEN",
    "FAULTY",
    "Blake3ByteOffset32",
    "Blake3CounterLow32",
    "Blake3StackDepth8",
    "ByteOrderSlip",
    "Crashes",
    "GridLimit65535",
    "GridRoundedDown",
    "Hangs",
    "HangsHoldingTheGil",
    "IndexFromRow",
    "KernelByDigestSize",
    "LargeBatchWordSlip",
    "LargeCallsCounterLow32",
    "LargeCallsOffset32",
    "LatticeIndex32",
    "LeafBoundaryOffByOne",
    "LeafSizeBakedIn",
    "NoDomainSeparation",
    "NodeGridRoundedDown",
    "OddNodeDuplicated",
    "Offset32",
    "OffsetSigned32",
    "PaddingAt55",
    "PositionNotBound",
    "PrefixCache",
    "Raises",
    "RootFlagsAsWords",
    "ScheduleIndex16",
    "SharedOutputBuffer",
    "ShortValues",
    "StaleTable",
    "StateCarriedOver",
    "TopsIndex16",
    "WrongLatticeModulus",
    "ZeroPageShortcut",
]


#: Every broken backend, by name.
BROKEN = {
    cls.__name__: cls
    for cls in (
        OddNodeDuplicated,
        NoDomainSeparation,
        ByteOrderSlip,
        LeafBoundaryOffByOne,
        StateCarriedOver,
        WrongLatticeModulus,
        PositionNotBound,
        GridRoundedDown,
        GridLimit65535,
        NodeGridRoundedDown,
        ScheduleIndex16,
        TopsIndex16,
        Blake3StackDepth8,
        Offset32,
        OffsetSigned32,
        Blake3CounterLow32,
        Blake3ByteOffset32,
        LatticeIndex32,
        LargeCallsOffset32,
        LargeCallsCounterLow32,
        IndexFromRow,
        PrefixCache,
        ZeroPageShortcut,
        LargeBatchWordSlip,
        StaleTable,
        SharedOutputBuffer,
        RootFlagsAsWords,
        LeafSizeBakedIn,
        KernelByDigestSize,
        PaddingAt55,
    )
}


#: Backends that hang, raise, return short values or crash in ``hash_nodes``.
FAULTY = {cls.__name__: cls for cls in (Hangs, HangsHoldingTheGil, Raises, ShortValues, Crashes)}
