"""The fuzz targets: one per parser of hostile input, each calling gpuhash's public entry point
on the bytes it is given, as a user's file would reach it.

A target returns when gpuhash accepts the input and lets gpuhash's own errors
(``GpuhashError``) through; the engine (``fuzz.engine``) treats anything else it raises as a
failure. Round-trip properties are checked where a parser has a writer: an accepted manifest
written back (JSON and protobuf) and read again is the same manifest; an accepted proof too.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gpuhash
from gpuhash import reference as ref
from gpuhash.manifest import Manifest

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
MODEL = HERE / "model"
KEYS = HERE / "keys"
GOLDENS = HERE.parent / "data" / "model-signing-goldens"
LEAF = 1024


class RoundTripError(AssertionError):
    """An accepted input that does not survive being written back and read again."""


@dataclass
class Target:
    """A parser under test: ``run(data)`` feeds it one input; ``seeds`` are extra inputs made at
    set-up (besides ``corpus/<name>/``); ``json`` says whether its inputs are JSON text."""

    name: str
    run: Callable[[bytes], None]
    json: bool = False
    seeds: list[bytes] = field(default_factory=list)


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _model(work: Path) -> Path:
    """A private copy of the fuzzing model (the targets never touch the checkout)."""
    model = work / "model"
    if not model.exists():
        shutil.copytree(MODEL, model)
    return model


def _round_trip(m: Manifest) -> None:
    if Manifest.from_bytes(m.to_bytes()) != m:
        raise RoundTripError("manifest -> protobuf -> manifest changed it")
    if Manifest.from_json(m.to_json()) != m:
        raise RoundTripError("manifest -> JSON -> manifest changed it")


def tensor_file(work: Path, suffix: str) -> Target:
    """safetensors or GGUF: the input is a model's only file, listed and hashed as tensors."""
    folder = work / f"model-{suffix}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"model.{suffix}"

    def run(data: bytes) -> None:
        _write(path, data)
        gpuhash.list_objects(folder, objects="tensors")
        gpuhash.hash_path(folder, algorithm="merkle-sha256", leaf_size=LEAF, objects="tensors")

    return Target(suffix, run)


def manifest_json(work: Path) -> Target:
    def run(data: bytes) -> None:
        _round_trip(Manifest.from_json(data))

    return Target("manifest-json", run, json=True)


def manifest_pb(work: Path) -> Target:
    def run(data: bytes) -> None:
        _round_trip(Manifest.from_bytes(data))

    return Target("manifest-pb", run)


def _key_options() -> dict[str, Any]:
    return {"method": "key", "public_key": KEYS / "fuzz-pub.pem"}


def bundle(work: Path) -> Target:
    """A signature file (Sigstore bundle, DSSE envelope) verified over the fuzzing model: with
    the fuzzing key, or, for a bundle carrying certificates, with the model_signing goldens'
    certificate authority."""
    model = _model(work)
    sig = work / "model.sig"
    golden = GOLDENS / "v1.1.0-certificate"
    authority = [GOLDENS / "keys" / "ca-cert.pem"]
    ignores = ["ignore-me", "model.sig"]

    def run(data: bytes) -> None:
        _write(sig, data)
        if b'"publicKey"' not in data and b"ertificate" in data:
            gpuhash.verify(
                golden,
                sig,
                method="certificate",
                certificate_chain=authority,
                ignore_paths=ignores,
                backend="cpu",
            )
        else:
            gpuhash.verify(model, sig, backend="cpu", **_key_options())

    return Target("bundle", run, json=True)


def statement(work: Path) -> Target:
    """A signed payload (the in-toto statement with its gpuhash or model_signing predicate):
    signed with the fuzzing key, so verification reaches the statement, then verified."""
    from gpuhash.signing.methods import KeySigner

    model = _model(work)
    sig = work / "statement.sig"
    signer = KeySigner(KEYS / "fuzz-key.pem")

    def run(data: bytes) -> None:
        _write(sig, signer.sign(data))
        gpuhash.verify(model, sig, backend="cpu", **_key_options())

    return Target("statement", run, json=True)


def proof(work: Path) -> Target:
    """An inclusion proof checked against the fuzzing model's verified manifests (files with
    merkle-sha256, tensors with blake3); an accepted proof must survive its own JSON."""
    from gpuhash.proofs import Proof, check_range

    model = _model(work)
    files = gpuhash.hash_path(model, algorithm="merkle-sha256", leaf_size=LEAF, backend="cpu")
    tensors = gpuhash.hash_path(
        model, algorithm="blake3", leaf_size=LEAF, objects="tensors", backend="cpu"
    )

    def run(data: bytes) -> None:
        p = Proof.from_json(data)
        if Proof.from_json(p.to_json()) != p:
            raise RoundTripError("proof -> JSON -> proof changed it")
        manifest = tensors if p.algorithm.family == ref.BLAKE3 else files
        check_range(model, manifest, p)

    return Target("proof", run, json=True)


def incremental(work: Path) -> Target:
    """A previous manifest (JSON or protobuf, read as ``gpuhash hash --incremental`` reads it),
    then the model re-hashed with it. Set-up adds seeds whose stats match the model copy, so
    mutations reach the reuse of digests as well as the re-hashing: made once the copy's ctimes
    are out of the racy window (spec section 8), since racily recent files are never reused."""
    from gpuhash.cli.resolve import read_manifest
    from gpuhash.sources import RACY_NS

    model = _model(work)
    newest = max(p.stat().st_ctime_ns for p in model.rglob("*") if p.is_file())
    while (left := newest + RACY_NS + 10_000_000 - time.time_ns()) > 0:
        time.sleep(left / 1e9)
    previous = work / "previous.manifest"

    def run(data: bytes) -> None:
        _write(previous, data)
        gpuhash.rehash(model, read_manifest(str(previous), "previous manifest"), backend="cpu")

    live = [
        gpuhash.hash_path(model, algorithm=alg, leaf_size=LEAF, objects=objects, backend="cpu")
        for alg, objects in (("merkle-sha256", "files"), ("lthash16-shake256", "tensors"))
    ]
    seeds = [live[0].to_json().encode(), live[1].to_json().encode(), live[0].to_bytes()]
    return Target("incremental", run, json=True, seeds=seeds)


#: Every target by name, each made in a work folder of its own.
TARGETS: dict[str, Callable[[Path], Target]] = {
    "safetensors": lambda work: tensor_file(work, "safetensors"),
    "gguf": lambda work: tensor_file(work, "gguf"),
    "manifest-json": manifest_json,
    "manifest-pb": manifest_pb,
    "bundle": bundle,
    "statement": statement,
    "proof": proof,
    "incremental": incremental,
}


def corpus(name: str) -> list[tuple[str, bytes]]:
    """The checked-in inputs of target ``name``, by file name: seeds and past failures."""
    folder = CORPUS / name
    return [(p.name, p.read_bytes()) for p in sorted(folder.iterdir()) if p.is_file()]
