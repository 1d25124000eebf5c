"""Incremental re-hashing (``gpuhash.rehash``): a model hashed again, reusing the digests of the
files whose size, modification time, ctime, inode and device are those a previous manifest
recorded."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from gpuhash import api
from gpuhash import reference as ref
from gpuhash.backend import HashBackend
from gpuhash.digests import ObjectDigest, digests_equal, lattice_update, source_file
from gpuhash.engine import ProgressFn, hash_sources
from gpuhash.errors import InputError
from gpuhash.formats import split_source, splits
from gpuhash.manifest import Manifest
from gpuhash.sources import RACY_TIME, FileStat, Source, source_stat

__all__ = ["RehashReport", "rehash", "reusable"]


@dataclasses.dataclass
class RehashReport:
    """What ``rehash`` did: object names reused from the previous manifest, re-hashed, gone,
    and (with ``full``) changed although their file's stat was not."""

    reused: list[str] = dataclasses.field(default_factory=list)
    hashed: list[str] = dataclasses.field(default_factory=list)
    removed: list[str] = dataclasses.field(default_factory=list)
    stale: list[str] = dataclasses.field(default_factory=list)
    hashed_bytes: int = 0


def reusable(stat: FileStat | None) -> bool:
    """Whether a file listed with ``stat`` may keep a digest recorded with an equal stat (spec
    section 8): not memory, and neither time racily recent (``RACY_TIME``) nor the ctime unknown
    (0: a manifest written before ``FileStat`` had one, or a file system that keeps none)."""
    return stat is not None and stat[1] != RACY_TIME and stat[2] not in (RACY_TIME, 0)


def rehash(
    path: str | os.PathLike[str],
    previous: Manifest,
    *,
    backend: str | HashBackend = "auto",
    ignore_paths: Sequence[str] = (),
    allow_symlinks: bool = False,
    link_root: str | os.PathLike[str] | None = None,
    ignore_git_paths: bool = True,
    objects: str | None = None,
    full: bool = False,
    progress: ProgressFn | None = None,
    use_mmap: bool = False,
) -> tuple[Manifest, RehashReport]:
    """Hash ``path`` again with ``previous``'s algorithm (and object model), reusing the digests
    of every file whose size, modification time, ctime, inode and device equal those recorded
    in ``previous`` (``reusable``); the result equals a full re-hash whenever files change only
    in ways that change those (see docs). Every write moves the ctime, so a same-size rewrite
    whose mtime was put back is re-hashed; a manifest without ctimes (written by gpuhash 0.2.0)
    has all its files re-hashed. The files hashed again are checked for changes while hashed as
    ever. ``full=True`` re-hashes everything and reports, in ``stale``, the objects whose digest
    changed although their file's stat did not. The lattice artifact digest is updated in
    O(changed objects) (spec section 6)."""
    alg = previous.algorithm
    mode = objects or (
        "files" if all(o.kind == ref.KIND_FILE for o in previous.objects) else "tensors"
    )
    files = api.list_objects(
        path,
        ignore_paths=ignore_paths,
        allow_symlinks=allow_symlinks,
        link_root=link_root,
        ignore_git_paths=ignore_git_paths,
    )
    by_file: dict[str, list[ObjectDigest]] = {}
    for o in previous.objects:
        by_file.setdefault(source_file(o), []).append(o)
    report = RehashReport()
    kept: list[ObjectDigest] = []
    todo: list[Source] = []
    for src in files:
        old = by_file.get(src.name, [])
        split = mode == "tensors" and splits(src.name)
        same_model = bool(old) and all((o.kind != ref.KIND_FILE) == split for o in old)
        stat_now = source_stat(src)
        if not full and same_model and reusable(stat_now) and all(o.stat == stat_now for o in old):
            kept.extend(old)
            continue
        todo.extend(split_source(src) if split else [src])
    report.hashed_bytes = sum(s.size for s in todo)
    with api.backend_for(backend, alg, report.hashed_bytes) as b:
        fresh = hash_sources(b, alg, todo, progress=progress, use_mmap=use_mmap)
    report.reused = [o.name for o in kept]
    report.hashed = [o.name for o in fresh]
    objects_now = [*kept, *fresh]
    now_names = {o.name for o in objects_now}
    report.removed = [o.name for o in previous.objects if o.name not in now_names]
    if full:
        before = {o.name: o for o in previous.objects}
        report.stale = [
            o.name
            for o in fresh
            if o.name in before
            and before[o.name].stat is not None
            and before[o.name].stat == o.stat
            and not digests_equal(before[o.name].digest, o.digest)
        ]
    if alg.family == ref.LTHASH:
        old_entries = {o.entry for o in previous.objects}
        new_entries = {o.entry for o in objects_now}
        digest = lattice_update(
            alg,
            previous.artifact_digest,
            [o for o in previous.objects if o.entry not in new_entries],
            [o for o in fresh if o.entry not in old_entries],
        )
        ordered = tuple(sorted(objects_now, key=lambda o: o.name.encode("utf-8")))
        try:
            ref.sort_entries(o.entry for o in ordered)  # names unique
        except ref.SpecError as e:
            raise InputError(str(e)) from None
        return Manifest(alg, ordered, digest), report
    return Manifest.build(alg, objects_now), report
