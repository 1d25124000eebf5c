"""MkDocs hook: the site's pages are the repository's own Markdown files, at their own paths.

MkDocs reads one folder (``docs_dir``); this hook also takes the README (the home page) and the
specification (``spec/v*/*.md``) from where they live, and gives every page its path in the
repository (``docs/signing.md``, ``spec/v1/spec.md``). So nothing is copied, and a relative link
that works on GitHub works on the site, and the reverse.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files, InclusionLevel

ROOT = Path(__file__).resolve().parent.parent
#: Markdown outside ``docs_dir`` that the site shows (globs relative to the repository root).
EXTRA_PAGES = ("README.md", "spec/v*/*.md")


def _repository_file(
    path: str, config: MkDocsConfig, inclusion: InclusionLevel = InclusionLevel.UNDEFINED
) -> File:
    return File(path, str(ROOT), config.site_dir, config.use_directory_urls, inclusion=inclusion)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Move the docs folder's files to their repository paths and add ``EXTRA_PAGES``."""
    docs = Path(config.docs_dir).resolve()
    prefix = docs.relative_to(ROOT).as_posix()
    out = [
        _repository_file(f"{prefix}/{file.src_uri}", config, file.inclusion)
        if file.src_dir is not None and Path(file.src_dir).resolve() == docs
        else file
        for file in files
    ]
    out.extend(
        _repository_file(path.relative_to(ROOT).as_posix(), config)
        for pattern in EXTRA_PAGES
        for path in sorted(ROOT.glob(pattern))
    )
    return Files(out)
