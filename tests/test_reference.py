"""Property tests of the reference implementation (gpuhash.reference) itself."""

from __future__ import annotations

import os
import random
from pathlib import Path

import hf_layouts as hf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpuhash import reference as ref

L = 1024
TREE_FAMILIES = (*ref.MERKLE_HASHES, ref.BLAKE3)
ARTIFACT_ALGORITHMS = ("gh1-merkle-sha256-1k", "gh1-blake3", "gh1-lthash16-shake256-1k")
LATTICE_ID = "gh1-lthash16-shake256-1k"

SETTINGS = settings(max_examples=50, deadline=None)


def rand_bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def flip_byte(b: bytes, index: int, mask: int) -> bytes:
    return b[:index] + bytes([b[index] ^ mask]) + b[index + 1 :]


# Object sizes of 1 to 17 leaves at L = 1024 (empty, partial and full last leaves).
sizes = st.builds(
    lambda n, last: (n - 1) * L + (last if n == 1 else max(last, 1)),
    st.integers(min_value=1, max_value=17),
    st.integers(min_value=0, max_value=L),
)
seeds = st.integers(min_value=0, max_value=2**32)
masks = st.integers(min_value=1, max_value=255)
names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00/"), min_size=1, max_size=8
).filter(lambda s: s not in (".", ".."))


# ---------------------------------------------------------------------------------------------
# Inclusion proofs (section 7)
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(family=st.sampled_from(TREE_FAMILIES), size=sizes, seed=seeds, data=st.data())
def test_proof_round_trip_and_tampering(
    family: str, size: int, seed: int, data: st.DataObject
) -> None:
    blob = rand_bytes(seed, size)
    n = ref.leaf_count(size, L)
    first = data.draw(st.integers(0, n - 1), label="first")
    count = data.draw(st.integers(1, n - first), label="count")
    digest = ref.object_digest(family, blob, L)
    leaves = ref.split_leaves(blob, L)[first : first + count]
    nodes = ref.prove(family, blob, L, first, count)
    assert ref.verify_proof(family, L, size, digest, first, leaves, nodes)

    revealed = sum(len(x) for x in leaves)
    if revealed:
        pos = data.draw(st.integers(0, revealed - 1), label="leaf byte")
        mask = data.draw(masks, label="leaf mask")
        i = 0
        while pos >= len(leaves[i]):
            pos -= len(leaves[i])
            i += 1
        bad = [*leaves[:i], flip_byte(leaves[i], pos, mask), *leaves[i + 1 :]]
        assert not ref.verify_proof(family, L, size, digest, first, bad, nodes)
    if nodes:
        j = data.draw(st.integers(0, len(nodes) - 1), label="node")
        pos = data.draw(st.integers(0, len(nodes[j]) - 1), label="node byte")
        mask = data.draw(masks, label="node mask")
        bad_nodes = [*nodes[:j], flip_byte(nodes[j], pos, mask), *nodes[j + 1 :]]
        assert not ref.verify_proof(family, L, size, digest, first, leaves, bad_nodes)
        assert not ref.verify_proof(family, L, size, digest, first, leaves, nodes[:-1])
    assert not ref.verify_proof(family, L, size, digest, first, leaves, [*nodes, bytes(32)])


def test_proof_ranges_from_byte_ranges() -> None:
    assert ref.leaf_range(0, 0, L) == (0, 1)
    assert ref.leaf_range(L - 1, 2, L) == (0, 2)
    assert ref.leaf_range(L, L, L) == (1, 1)
    assert ref.leaf_range(5 * L + 3, 0, L) == (5, 1)


def test_lattice_has_no_proofs() -> None:
    with pytest.raises(ref.SpecError):
        ref.prove(ref.LTHASH, b"x" * 3000, L, 0, 1)
    digest = ref.object_digest(ref.LTHASH, b"x", L)
    assert not ref.verify_proof(ref.LTHASH, L, 1, digest, 0, [b"x"], [])


# ---------------------------------------------------------------------------------------------
# The lattice update law (sections 5 and 6)
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(size=st.integers(1, 6 * L), seed=seeds, data=st.data())
def test_lattice_replace_leaf(size: int, seed: int, data: st.DataObject) -> None:
    blob = rand_bytes(seed, size)
    leaves = ref.split_leaves(blob, L)
    i = data.draw(st.integers(0, len(leaves) - 1), label="leaf")
    new_leaf = rand_bytes(seed + 1, len(leaves[i]))
    new_blob = blob[: i * L] + new_leaf + blob[i * L + len(new_leaf) :]
    old = ref.lattice_from_bytes(ref.object_digest(ref.LTHASH, blob, L))
    updated = ref.lattice_add(
        ref.lattice_sub(old, ref.lattice_leaf_element(leaves[i], i)),
        ref.lattice_leaf_element(new_leaf, i),
    )
    assert ref.lattice_bytes(updated) == ref.object_digest(ref.LTHASH, new_blob, L)


@SETTINGS
@given(old_size=st.integers(0, 5 * L), new_size=st.integers(0, 5 * L), seed=seeds)
def test_lattice_resize(old_size: int, new_size: int, seed: int) -> None:
    """Append or truncate: swap ELEN, remove/add leaves, replace a changed last leaf."""
    stream = rand_bytes(seed, max(old_size, new_size))
    old_blob, new_blob = stream[:old_size], stream[:new_size]
    acc = ref.lattice_from_bytes(ref.object_digest(ref.LTHASH, old_blob, L))
    acc = ref.lattice_sub(acc, ref.lattice_length_element(old_size, L))
    acc = ref.lattice_add(acc, ref.lattice_length_element(new_size, L))
    old_leaves, new_leaves = ref.split_leaves(old_blob, L), ref.split_leaves(new_blob, L)
    for i in range(max(len(old_leaves), len(new_leaves))):
        o = old_leaves[i] if i < len(old_leaves) else None
        w = new_leaves[i] if i < len(new_leaves) else None
        if o != w:
            if o is not None:
                acc = ref.lattice_sub(acc, ref.lattice_leaf_element(o, i))
            if w is not None:
                acc = ref.lattice_add(acc, ref.lattice_leaf_element(w, i))
    assert ref.lattice_bytes(acc) == ref.object_digest(ref.LTHASH, new_blob, L)


def lattice_entries(objects: dict[str, bytes]) -> list[ref.Entry]:
    return [
        (ref.KIND_FILE, name, len(b), ref.object_digest(ref.LTHASH, b, L))
        for name, b in objects.items()
    ]


@SETTINGS
@given(
    objects=st.dictionaries(names, st.binary(max_size=40), max_size=5),
    extra_name=names,
    extra=st.binary(max_size=40),
)
def test_lattice_artifact_add_remove(
    objects: dict[str, bytes], extra_name: str, extra: bytes
) -> None:
    objects.pop(extra_name, None)
    before = lattice_entries(objects)
    after = lattice_entries({**objects, extra_name: extra})
    new_entry = (ref.KIND_FILE, extra_name, len(extra), ref.object_digest(ref.LTHASH, extra, L))
    element = ref.lattice_object_element(LATTICE_ID, new_entry)
    old = ref.lattice_from_bytes(ref.artifact_digest(LATTICE_ID, before))
    new = ref.artifact_digest(LATTICE_ID, after)
    assert ref.lattice_bytes(ref.lattice_add(old, element)) == new
    assert ref.lattice_bytes(ref.lattice_sub(ref.lattice_from_bytes(new), element)) == (
        ref.lattice_bytes(old)
    )


# ---------------------------------------------------------------------------------------------
# What changes an artifact digest (section 6)
# ---------------------------------------------------------------------------------------------

artifacts = st.dictionaries(names, st.binary(max_size=3 * L), min_size=1, max_size=4)


def digest_of(algorithm: str, objects: dict[str, bytes], kind: int = ref.KIND_FILE) -> bytes:
    return ref.hash_artifact(algorithm, [(n, kind, b) for n, b in objects.items()])[1]


@SETTINGS
@given(algorithm=st.sampled_from(ARTIFACT_ALGORITHMS), objects=artifacts, data=st.data())
def test_artifact_digest_changes(
    algorithm: str, objects: dict[str, bytes], data: st.DataObject
) -> None:
    base = digest_of(algorithm, objects)
    name = data.draw(st.sampled_from(sorted(objects)), label="object")
    blob = objects[name]

    # Input order does not matter: objects are sorted by name.
    items = list(objects.items())
    shuffled = data.draw(st.permutations(items), label="order")
    assert ref.hash_artifact(algorithm, [(n, ref.KIND_FILE, b) for n, b in shuffled])[1] == base

    if blob:
        pos = data.draw(st.integers(0, 8 * len(blob) - 1), label="bit")
        flipped = flip_byte(blob, pos // 8, 1 << (pos % 8))
        assert digest_of(algorithm, {**objects, name: flipped}) != base
        cut = data.draw(st.integers(0, len(blob) - 1), label="cut")
        assert digest_of(algorithm, {**objects, name: blob[:cut]}) != base
    tail = data.draw(st.binary(min_size=1, max_size=8), label="tail")
    assert digest_of(algorithm, {**objects, name: blob + tail}) != base

    new_name = name + "~"
    while new_name in objects:
        new_name += "~"
    renamed = {n: b for n, b in objects.items() if n != name}
    renamed[new_name] = blob
    assert digest_of(algorithm, renamed) != base

    assert digest_of(algorithm, objects, kind=ref.KIND_TENSOR) != base

    # Reordering bytes between objects: swap the contents of two objects that differ.
    others = [n for n in objects if objects[n] != blob]
    if others:
        other = data.draw(st.sampled_from(others), label="other")
        swapped = {**objects, name: objects[other], other: blob}
        assert digest_of(algorithm, swapped) != base


def test_empty_artifact_and_empty_object() -> None:
    for algorithm in ARTIFACT_ALGORITHMS:
        empty = ref.hash_artifact(algorithm, [])[1]
        one_empty = ref.hash_artifact(algorithm, [("e", ref.KIND_FILE, b"")])[1]
        assert empty != one_empty
    for family in ref.FAMILIES:
        assert ref.object_digest(family, b"", L) != ref.object_digest(family, b"\0", L)


def test_algorithm_identifier_is_bound() -> None:
    objects = [("a", ref.KIND_FILE, b"abc" * 500)]
    assert (
        ref.hash_artifact("gh1-merkle-sha256-1k", objects)[1]
        != (ref.hash_artifact("gh1-merkle-sha256-2k", objects)[1])
    )


# ---------------------------------------------------------------------------------------------
# Names and their order (section 1.1)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["/abs", "a//b", "./a", "a/../b", "a/.", "..", ".", "a/", "", "a\x00b", "\ud800"]
)
def test_check_name_rejects(name: str) -> None:
    with pytest.raises(ref.SpecError):
        ref.check_name(name, ref.KIND_FILE)


@pytest.mark.parametrize("name", ["a", "a/b/c.bin", ".hidden", "a..b", "日本/モデル.bin", "é"])
def test_check_name_accepts(name: str) -> None:
    ref.check_name(name, ref.KIND_FILE)


@pytest.mark.parametrize("kind", [0, 4, 255])
def test_unknown_kind_rejected(kind: int) -> None:
    with pytest.raises(ref.SpecError):
        ref.check_name("a", kind)


def test_sort_by_bytes() -> None:
    entries = [(ref.KIND_FILE, n, 0, b"") for n in ["a/b", "a.txt", "a-b", "a0", "a"]]
    assert [e[1] for e in ref.sort_entries(entries)] == ["a", "a-b", "a.txt", "a/b", "a0"]
    # UTF-8 byte order, not UTF-16 code units: U+FF21 (ef bc a1) < U+1F600 (f0 9f 98 80).
    entries = [(ref.KIND_FILE, n, 0, b"") for n in ["\U0001f600", "\uff21"]]
    assert [e[1] for e in ref.sort_entries(entries)] == ["\uff21", "\U0001f600"]


def test_duplicate_names_rejected() -> None:
    with pytest.raises(ref.SpecError):
        ref.hash_artifact("gh1-blake3", [("a", ref.KIND_FILE, b"1"), ("a", ref.KIND_FILE, b"2")])


@SETTINGS
@given(st.lists(names, unique=True, max_size=8))
def test_sort_order_is_utf8_byte_order(name_list: list[str]) -> None:
    entries = [(ref.KIND_FILE, n, 0, b"") for n in name_list]
    ordered = [e[1].encode("utf-8") for e in ref.sort_entries(entries)]
    assert ordered == sorted(n.encode("utf-8") for n in name_list)


# ---------------------------------------------------------------------------------------------
# The objects of a model directory (section 1.2)
# ---------------------------------------------------------------------------------------------


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def object_names(
    path: Path, ignore_paths: tuple[str, ...] = (), allow_symlinks: bool = False
) -> dict[str, bytes]:
    objects = ref.read_model(str(path), ignore_paths, allow_symlinks)
    return {n: b for n, _kind, b in objects}


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    write(root / "config.json", b"{}")
    write(root / "weights" / "layer0.bin", b"\x00" * 100)
    write(root / "weights" / "deep" / "er" / "layer1.bin", b"\x01" * 10)
    (root / "empty_dir" / "nested_empty").mkdir(parents=True)
    return root


def test_read_model_nested(model: Path) -> None:
    objects = object_names(model)
    assert objects == {
        "config.json": b"{}",
        "weights/layer0.bin": b"\x00" * 100,
        "weights/deep/er/layer1.bin": b"\x01" * 10,
    }
    assert all(kind == ref.KIND_FILE for _n, kind, _b in ref.read_model(str(model)))


def test_read_model_default_ignores(model: Path) -> None:
    write(model / ".git" / "config", b"x")
    write(model / ".git" / "objects" / "ab" / "cd", b"x")
    write(model / ".github" / "workflows" / "ci.yml", b"x")
    write(model / ".gitattributes", b"x")
    write(model / ".gitignore", b"x")
    write(model / "sub" / ".gitignore", b"kept: the ignores are relative to the root")
    write(model / ".github2" / "kept", b"x")
    write(model / ".gitignore.bak", b"x")
    objects = object_names(model)
    assert not any(n.startswith((".git/", ".github/")) for n in objects)
    assert ".gitattributes" not in objects
    assert ".gitignore" not in objects
    assert {"sub/.gitignore", ".github2/kept", ".gitignore.bak"} <= set(objects)


def test_read_model_extra_ignores(model: Path) -> None:
    objects = object_names(model, ignore_paths=("weights/deep", "config.json"))
    assert set(objects) == {"weights/layer0.bin"}


@pytest.mark.parametrize("ignore", ["..", "../model", "a/../..", "weights/../../x", "."])
def test_read_model_ignore_outside_refused(model: Path, ignore: str) -> None:
    with pytest.raises(ref.SpecError):
        ref.read_model(str(model), ignore_paths=[ignore])


def test_read_model_single_file(model: Path) -> None:
    assert ref.read_model(str(model / "config.json")) == [("config.json", ref.KIND_FILE, b"{}")]


def test_read_model_symlink_refused_by_default(model: Path) -> None:
    (model / "alias.bin").symlink_to("weights/layer0.bin")
    with pytest.raises(ref.SpecError, match=r"alias\.bin"):
        ref.read_model(str(model))


def test_read_model_symlink_inside_allowed(model: Path) -> None:
    (model / "alias.bin").symlink_to("weights/layer0.bin")
    (model / "linked_dir").symlink_to("weights/deep", target_is_directory=True)
    objects = object_names(model, allow_symlinks=True)
    assert objects["alias.bin"] == b"\x00" * 100
    assert objects["linked_dir/er/layer1.bin"] == b"\x01" * 10
    assert objects["weights/layer0.bin"] == b"\x00" * 100


def test_read_model_symlink_outside_refused(model: Path, tmp_path: Path) -> None:
    write(tmp_path / "secret", b"outside")
    (model / "escape").symlink_to(tmp_path / "secret")
    for allow in (False, True):
        with pytest.raises(ref.SpecError, match="escape"):
            ref.read_model(str(model), allow_symlinks=allow)


def test_read_model_symlink_relative_escape_refused(model: Path, tmp_path: Path) -> None:
    write(tmp_path / "secret", b"outside")
    (model / "weights" / "escape").symlink_to("../../secret")
    with pytest.raises(ref.SpecError, match="outside"):
        ref.read_model(str(model), allow_symlinks=True)


def test_read_model_dangling_and_cyclic_links_refused(model: Path) -> None:
    (model / "dangling").symlink_to("does-not-exist")
    with pytest.raises(ref.SpecError):
        ref.read_model(str(model), allow_symlinks=True)
    (model / "dangling").unlink()
    (model / "weights" / "loop").symlink_to("..", target_is_directory=True)
    with pytest.raises(ref.SpecError, match="cycle"):
        ref.read_model(str(model), allow_symlinks=True)


def test_link_fan_out_is_bounded(tmp_path: Path) -> None:
    """A directory is entered at most MAX_DIRECTORY_VISITS times (section 1.2): a tree of n
    folders, each with two links to the next, names 2^n paths and no file; before, walking it
    took exponential time (10 s at n = 16) with nothing for the object limit to count."""
    root = tmp_path / "fan"
    n = 40
    for i in range(n + 1):
        (root / f"d{i}").mkdir(parents=True)
    for i in range(n):
        (root / f"d{i}" / "a").symlink_to(f"../d{i + 1}", target_is_directory=True)
        (root / f"d{i}" / "b").symlink_to(f"../d{i + 1}", target_is_directory=True)
    too_often = f"reach this directory more than {ref.MAX_DIRECTORY_VISITS} times"
    with pytest.raises(ref.SpecError, match=too_often):
        ref.list_model(str(root), allow_symlinks=True)
    with pytest.raises(ref.SpecError, match=too_often):
        ref.list_model(str(root / "d0"), link_root=str(root))
    # A folder outside the model, inside the link root, linked from MAX_DIRECTORY_VISITS
    # places: each name lists its files; one link more is refused.
    model = tmp_path / "model"
    write(model / "w", b"w")
    write(tmp_path / "shared" / "x", b"x")
    for i in range(ref.MAX_DIRECTORY_VISITS):
        (model / f"s{i:02}").symlink_to("../shared", target_is_directory=True)
    listed = ref.list_model(str(model), link_root=str(tmp_path))
    assert len(listed) == ref.MAX_DIRECTORY_VISITS + 1
    (model / "t").symlink_to("../shared", target_is_directory=True)
    with pytest.raises(ref.SpecError, match=f"^t: symbolic links {too_often[:5]}"):
        ref.list_model(str(model), link_root=str(tmp_path))


def test_read_model_ignores_huggingface_download_metadata(tmp_path: Path) -> None:
    """A ``local_dir`` download hashes as the same files in a plain folder: the metadata that
    huggingface_hub keeps in ``.cache/huggingface/`` (with timestamps) is ignored by default."""
    local = hf.write_local_dir(tmp_path / "local", hf.FILES_1)
    assert (local / ".cache" / "huggingface" / "download" / "config.json.metadata").is_file()
    plain = hf.write_plain(tmp_path / "plain", hf.FILES_1)
    assert object_names(local) == object_names(plain) == hf.FILES_1
    alg = "gh1-merkle-sha256-64k"
    assert ref.hash_model(str(local), alg) == ref.hash_model(str(plain), alg)
    # Only at the top: a folder of the model named .cache/huggingface further down is hashed.
    write(local / "sub" / ".cache" / "huggingface" / "x", b"x")
    assert "sub/.cache/huggingface/x" in object_names(local)
    # Without the default list (as a verifier of an older signature may ask), it is hashed.
    names = ref.read_model(str(local), default_ignores=ref.GIT_IGNORES)
    assert any(n.startswith(".cache/huggingface/download/") for n, _k, _b in names)


def test_read_model_ignore_path_may_not_be_the_model(model: Path) -> None:
    for ignore in (".", str(model), "weights/.."):
        with pytest.raises(ref.SpecError, match="the model directory itself"):
            ref.read_model(str(model), ignore_paths=[ignore])


@pytest.mark.parametrize("allow", [False, True])
def test_huggingface_snapshot_hashes_as_the_plain_folder(tmp_path: Path, allow: bool) -> None:
    repo = hf.write_cache(tmp_path / "hub", {hf.REV_1: hf.FILES_1, hf.REV_2: hf.FILES_2})
    alg = "gh1-merkle-sha256-64k"
    for rev, files in ((hf.REV_1, hf.FILES_1), (hf.REV_2, hf.FILES_2)):
        snapshot = repo / "snapshots" / rev
        assert (snapshot / "config.json").is_symlink()
        plain = hf.write_plain(tmp_path / f"plain-{rev[0]}", files)
        assert object_names(snapshot, allow_symlinks=allow) == files
        got = ref.hash_model(str(snapshot), alg, allow_symlinks=allow)
        assert got == ref.hash_model(str(plain), alg)
        # A folder of a snapshot is a snapshot too (its links go three levels up).
        sub = object_names(snapshot / "tokenizer", allow_symlinks=allow)
        assert sub == object_names(plain / "tokenizer")
        assert ref.walk_base(str(snapshot / "tokenizer")) == os.path.realpath(repo)


@pytest.mark.parametrize("allow", [False, True])
def test_huggingface_snapshot_links_never_leave_the_blobs(tmp_path: Path, allow: bool) -> None:
    repo = hf.write_cache(tmp_path / "hub", {hf.REV_1: hf.FILES_1})
    snapshot = repo / "snapshots" / hf.REV_1
    write(tmp_path / "hub" / "secret", b"outside the repository folder")
    for target in ("../../../secret", str(tmp_path / "hub" / "secret"), "../../refs/main"):
        (snapshot / "escape").symlink_to(target)
        with pytest.raises(ref.SpecError, match="escape"):
            ref.read_model(str(snapshot), allow_symlinks=allow)
        (snapshot / "escape").unlink()
    # A link into blobs that names a folder, or a missing blob: refused too.
    (repo / "blobs" / "folder").mkdir()
    (snapshot / "folder").symlink_to("../../blobs/folder", target_is_directory=True)
    with pytest.raises(ref.SpecError, match="folder"):
        ref.read_model(str(snapshot), allow_symlinks=allow)
    (snapshot / "folder").unlink()
    (snapshot / "gone").symlink_to("../../blobs/" + "0" * 64)
    with pytest.raises(ref.SpecError, match="gone: symbolic link is dangling"):
        ref.read_model(str(snapshot), allow_symlinks=allow)


def test_huggingface_snapshot_is_recognised_narrowly(tmp_path: Path) -> None:
    """Only ``<type>s--NAME/snapshots/<40 hex>`` with a real ``blobs`` folder is a snapshot;
    anything that merely looks like one keeps the plain rule (links refused)."""
    outside = tmp_path / "outside"
    write(outside / "secret", b"x")
    for repo_name, rev, blobs_is_link in (
        ("models--a--b", "main", False),  # not a commit hash
        ("models--a--b", "A" * 40, False),  # not lower-case hex
        ("mymodels--a--b", "1" * 40, False),  # not a repository folder
        ("models--", "1" * 40, False),  # no name
        ("models--a--b", "1" * 40, True),  # blobs is a link out of the repository
    ):
        repo = tmp_path / f"case-{len(list(tmp_path.iterdir()))}" / repo_name
        snapshot = repo / "snapshots" / rev
        snapshot.mkdir(parents=True)
        if blobs_is_link:
            (repo / "blobs").symlink_to(outside, target_is_directory=True)
        else:
            write(repo / "blobs" / "secret", b"x")
        (snapshot / "config.json").symlink_to("../../blobs/secret")
        assert ref.hf_repository(os.path.realpath(snapshot)) is None
        with pytest.raises(ref.SpecError, match=r"config\.json"):
            ref.read_model(str(snapshot))


def test_link_root_allows_links_inside_it_only(tmp_path: Path) -> None:
    store = tmp_path / "store"
    write(store / "shared" / "w.bin", b"shared weights")
    (store / "shared" / "dir").mkdir()
    write(store / "shared" / "dir" / "f", b"f")
    model = store / "model"
    write(model / "config.json", b"{}")
    (model / "w.bin").symlink_to("../shared/w.bin")
    (model / "dir").symlink_to("../shared/dir", target_is_directory=True)
    with pytest.raises(ref.SpecError, match="outside the model directory"):
        ref.read_model(str(model), allow_symlinks=True)
    got = ref.read_model(str(model), link_root=str(store))  # the link root allows links
    assert {n: b for n, _k, b in got} == {
        "config.json": b"{}",
        "w.bin": b"shared weights",
        "dir/f": b"f",
    }
    assert ref.walk_base(str(model), str(store)) == os.path.realpath(store)
    write(tmp_path / "secret", b"x")
    (model / "escape").symlink_to("../../secret")
    with pytest.raises(ref.SpecError, match="escape: symbolic link points outside the link root"):
        ref.read_model(str(model), link_root=str(store))
    with pytest.raises(ref.SpecError, match="does not contain the model directory"):
        ref.read_model(str(model), link_root=str(store / "shared"))
    # A link to a folder above the model, inside the link root: a cycle, refused.
    (model / "escape").unlink()
    (model / "up").symlink_to("..", target_is_directory=True)
    with pytest.raises(ref.SpecError, match="cycle"):
        ref.read_model(str(model), link_root=str(store))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_read_model_fifo_refused(model: Path) -> None:
    os.mkfifo(model / "pipe")
    with pytest.raises(ref.SpecError, match="pipe"):
        ref.read_model(str(model))


def test_read_model_non_utf8_name_refused(model: Path) -> None:
    try:
        fd = os.open(os.fsencode(model) + b"/bad\xff.bin", os.O_WRONLY | os.O_CREAT, 0o644)
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    os.close(fd)
    with pytest.raises(ref.SpecError, match="UTF-8"):
        ref.read_model(str(model))
