"""The committed protobuf code matches proto/, and the manifest obeys the evolution rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gpuhash._proto.gpuhash.v1 import manifest_pb2 as pb

ROOT = Path(__file__).resolve().parent.parent


def test_generated_code_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "proto" / "generate_python.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_enums_start_with_unspecified_zero() -> None:
    for enum in pb.DESCRIPTOR.enum_types_by_name.values():
        zero = enum.values_by_number[0]
        assert zero.name == f"{_upper_snake(enum.name)}_UNSPECIFIED", enum.name


def test_package_is_versioned() -> None:
    assert pb.DESCRIPTOR.package == "gpuhash.v1"


def _upper_snake(name: str) -> str:
    out = ""
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out += "_"
        out += ch.upper()
    return out


def test_manifest_family_numbers_match_the_proto() -> None:
    from gpuhash.manifest import FAMILY_ENUM

    for family, number in FAMILY_ENUM.items():
        name = "HASH_FAMILY_" + family.upper().replace("-", "_")
        assert pb.HashFamily.Value(name) == number
    assert len(FAMILY_ENUM) == len(pb.HashFamily.keys()) - 1  # all but UNSPECIFIED


def test_the_declared_protobuf_floor_is_what_the_generated_code_needs() -> None:
    """The generated module refuses an older protobuf runtime at import; pyproject.toml must
    not let an install pick one (it allowed 6.31 while the code needed 7.35.1)."""
    import re
    import tomllib

    root = Path(__file__).resolve().parent.parent
    generated = (root / "gpuhash" / "_proto" / "gpuhash" / "v1" / "manifest_pb2.py").read_text()
    call = re.search(
        r"ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,\s*(\d+),\s*(\d+),"
        r"\s*(\d+),",
        generated,
    )
    assert call is not None
    needed = tuple(int(x) for x in call.groups())
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    (floor,) = [d for d in project["dependencies"] if d.startswith("protobuf")]
    declared = tuple(int(x) for x in floor.removeprefix("protobuf>=").split("."))
    assert declared == needed, (floor, needed)
