"""Hugging Face download layouts, written by huggingface_hub's own code (offline): a cache
repository (``models--ORG--NAME`` with ``refs/``, ``blobs/`` and ``snapshots/REV/`` whose files
are links to ``../../blobs/<hash>``) and a ``local_dir`` download (with its
``.cache/huggingface/`` metadata)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from huggingface_hub import _local_folder, file_download, scan_cache_dir

REPO_ID = "acme/tiny-model"
REV_1 = "1" * 40
REV_2 = "2" * 40

FILES_1 = {
    "config.json": b'{"hidden": 4}',
    "model.safetensors": b"weights-v1" * 100,
    "tokenizer/vocab.txt": b"a\nb\nc\n",
    "tokenizer/deep/merges.txt": b"a b\n",
}
#: The second revision changes the weights only: its other files link to the same blobs.
FILES_2 = {**FILES_1, "model.safetensors": b"weights-v2" * 100}


def write_cache(cache: Path, revisions: dict[str, dict[str, bytes]], ref: str = "main") -> Path:
    """A cache repository holding ``revisions`` (commit hash -> files), ``ref`` pointing at the
    last one, as huggingface_hub writes it; returns the repository folder."""
    storage = cache / file_download.repo_folder_name(repo_id=REPO_ID, repo_type="model")
    for commit, files in revisions.items():
        for name, data in files.items():
            blob = storage / "blobs" / hashlib.sha256(data).hexdigest()
            blob.parent.mkdir(parents=True, exist_ok=True)
            new = not blob.exists()
            if new:
                blob.write_bytes(data)
            pointer = Path(file_download._get_pointer_path(str(storage), commit, name))
            pointer.parent.mkdir(parents=True, exist_ok=True)
            file_download._create_symlink(str(blob), str(pointer), new_blob=new)
        file_download._cache_commit_hash_for_specific_revision(str(storage), ref, commit)
    info = scan_cache_dir(cache)
    assert not info.warnings, info.warnings
    (repo,) = info.repos
    assert repo.repo_id == REPO_ID
    assert {r.commit_hash for r in repo.revisions} == set(revisions)
    return storage


def write_local_dir(local_dir: Path, files: dict[str, bytes], commit: str = REV_1) -> Path:
    """A ``local_dir`` download of ``files``: the files, and the download metadata (commit,
    etag, timestamp) huggingface_hub keeps in ``.cache/huggingface/``."""
    for name, data in files.items():
        path = local_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        etag = hashlib.sha256(data).hexdigest()
        _local_folder.write_download_metadata(local_dir, name, commit, etag)
    assert (local_dir / ".cache" / "huggingface" / ".gitignore").is_file()
    return local_dir


def write_plain(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder
