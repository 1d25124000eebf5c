"""Regenerate the committed Python for the protobuf manifest (gpuhash/_proto).

    python proto/generate_python.py            # rewrite gpuhash/_proto
    python proto/generate_python.py --check    # exit 1 if the committed files differ

Uses the protoc bundled with the grpcio-tools version pinned in requirements-dev.txt, so the
output is reproducible; tests/test_proto.py runs the check.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "gpuhash" / "_proto"
SOURCES = ["gpuhash/v1/manifest.proto"]
GENERATED = ["gpuhash/v1/manifest_pb2.py", "gpuhash/v1/manifest_pb2.pyi"]
COMMAND = "python proto/generate_python.py"


def generate(out: Path) -> None:
    from grpc_tools import protoc

    out.mkdir(parents=True, exist_ok=True)
    args = ["protoc", f"-I{PROTO_DIR}", f"--python_out={out}", f"--pyi_out={out}", *SOURCES]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    if not args.check:
        generate(OUT_DIR)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        stale = [
            name
            for name in GENERATED
            if not (OUT_DIR / name).exists()
            or not filecmp.cmp(Path(tmp) / name, OUT_DIR / name, shallow=False)
        ]
    if stale:
        print(f"stale generated protobuf code: {', '.join(stale)}; run: {COMMAND}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
