"""Parsers within their memory goal (issue 12, item 3; docs/security.md, "Parser limits"):
peak memory under ten times the input's size, in a fresh process; the size limits that keep
every accepted input under 512 MiB; nothing written that gpuhash would not read back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import one_error_line, run

from gpuhash import limits
from gpuhash import reference as ref
from gpuhash.algorithms import resolve_algorithm
from gpuhash.digests import ObjectDigest
from gpuhash.errors import VerificationError
from gpuhash.manifest import Manifest, ManifestError
from gpuhash.signing import envelope, native

OBJECTS = 1 << 16  # inputs of a few MiB: ratios are those of the largest (docs/security.md)

CHILD = r"""
import sys
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
kind, path, small = sys.argv[1:]
from gpuhash.manifest import Manifest
from gpuhash.signing import envelope, native
def parse(data):
    if kind == "json":
        Manifest.from_json(data)
    elif kind == "pb":
        Manifest.from_bytes(data)
    else:
        native.parse(envelope.parse_statement(envelope.PAYLOAD_TYPE, data))
parse(open(small, "rb").read())  # imports and first-use costs are not the parser's
data = open(path, "rb").read()
base = hwm()
parse(data)
print(hwm() - base)
"""


def _manifest(n: int) -> Manifest:
    alg = resolve_algorithm("merkle-sha256")
    objects = [
        ObjectDigest(f"layers/{i:07d}/weights.bin", ref.KIND_FILE, i, i.to_bytes(32, "little"))
        for i in range(n)
    ]
    return Manifest.build(alg, objects)


def _inputs(n: int) -> dict[str, bytes]:
    manifest = _manifest(n)
    statement = envelope.statement_bytes(
        "model",
        native.subject_digest(manifest),
        native.PREDICATE_TYPE,
        native.predicate(manifest, None),
    )
    return {
        "json": manifest.to_json().encode(),
        "pb": manifest.to_bytes(),
        "statement": statement,
    }


@pytest.mark.parametrize("kind", ["json", "pb", "statement"])
def test_peak_memory_under_ten_times_the_input(tmp_path: Path, kind: str) -> None:
    data, small = _inputs(OBJECTS)[kind], _inputs(8)[kind]
    (tmp_path / "big").write_bytes(data)
    (tmp_path / "small").write_bytes(small)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(tmp_path / "big"), str(tmp_path / "small")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    grown = int(out.stdout)
    assert grown < 10 * len(data), (kind, len(data), grown)


def test_the_object_limit_is_the_specifications() -> None:
    spec = (Path(__file__).resolve().parents[1] / "spec" / "v1" / "spec.md").read_text("utf-8")
    assert ref.MAX_OBJECTS == 1 << 18
    assert "more than 2^18 (262 144) objects" in spec


def test_manifests_and_bundles_over_their_limit_are_refused_unparsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _inputs(64)
    monkeypatch.setattr(limits, "MAX_MANIFEST_BYTES", len(data["pb"]) - 1)
    with pytest.raises(ManifestError, match=r"larger than .*the most gpuhash reads for a manifest"):
        Manifest.from_bytes(data["pb"])
    monkeypatch.setattr(limits, "MAX_MANIFEST_BYTES", len(data["json"]) - 1)
    with pytest.raises(ManifestError, match="larger than"):
        Manifest.from_json(data["json"])
    monkeypatch.setattr(limits, "MAX_SIGNATURE_BYTES", 100)
    with pytest.raises(VerificationError, match="larger than the 100 bytes gpuhash reads"):
        envelope.parse_bundle(b" " * 101)


def _model(tmp_path: Path, files: int) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    for i in range(files):
        (model / f"f{i:03d}.bin").write_bytes(bytes([i]) * 10)
    return model


def test_hash_refuses_to_write_a_manifest_it_would_not_read_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _model(tmp_path, 40)
    for name in ("m.json", "m.pb"):
        out = tmp_path / name
        assert run(capsys, "hash", model, "-o", out)[0] == 0
        size = out.stat().st_size
        out.unlink()
        monkeypatch.setattr(limits, "MAX_MANIFEST_BYTES", size - 1)
        code, stdout, err = run(capsys, "hash", model, "-o", out)
        assert code == 2
        assert stdout == ""
        one_error_line(err, str(out), "the manifest would be", "gpuhash reads for a manifest")
        assert not out.exists()
        assert list(tmp_path.iterdir()) == [model]
        monkeypatch.undo()


def test_sign_refuses_a_signature_verify_would_not_read(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    ec_keys: tuple[Path, Path],
) -> None:
    private, public = ec_keys
    model = _model(tmp_path, 40)
    sig = tmp_path / "m.sig"
    sign = ["sign", "key", model, "--signature", sig, "--private-key", private]
    assert run(capsys, *sign)[0] == 0
    payload = envelope.parse_bundle(sig.read_bytes()).payload
    sig.unlink()
    # The check allows 1 MiB for the verification material beside the base64 statement.
    monkeypatch.setattr(limits, "MAX_SIGNATURE_BYTES", 4 * -(-len(payload) // 3) + limits.MIB - 1)
    code, stdout, err = run(capsys, *sign)
    assert code == 2
    assert stdout == ""
    one_error_line(err, str(sig), "the signature would be", "gpuhash reads for a signature")
    assert not sig.exists()
    monkeypatch.undo()
    assert run(capsys, *sign)[0] == 0
    assert run(capsys, "verify", "key", model, "--signature", sig, "--public-key", public)[0] == 0
