"""Correct backends of kinds that none registered here is, for the conformance suite's
self-test (run by ``module:Class`` name, with this folder on ``PYTHONPATH``):

* ``ReadsFiles`` reads files into device memory itself (``read_file``, what the cuda backend
  does with kvikio), on Intel's CPU OpenCL runtime; ``ReadFileOffset32`` does it with a 32-bit
  file offset (a broken one);
* ``OnlySha256`` claims one family, as spec section 10 allows.
"""

from __future__ import annotations

import dataclasses
import os

import gpuhash_opencl

from gpuhash.backend import Capabilities
from gpuhash.backends.cpu import CpuBackend

__all__ = ["OnlySha256", "ReadFileOffset32", "ReadsFiles"]


class ReadsFiles(gpuhash_opencl.OpenCLBackend):
    def __init__(self) -> None:
        super().__init__(device="Intel")

    def capabilities(self) -> Capabilities:
        return dataclasses.replace(super().capabilities(), file_reads=True)

    def file_offset(self, offset: int) -> int:
        return offset

    def read_file(self, fd: int, offset: int, length: int) -> object:
        data = os.pread(fd, length, self.file_offset(offset))
        if len(data) != length:
            raise OSError(f"read {len(data)} of {length} bytes")
        return self.device_array(data)


class ReadFileOffset32(ReadsFiles):
    def file_offset(self, offset: int) -> int:
        return offset & 0xFFFFFFFF


class OnlySha256(CpuBackend):
    name = "only-sha256"

    def capabilities(self) -> Capabilities:
        caps = super().capabilities()
        return dataclasses.replace(
            caps, families=frozenset({"merkle-sha256"}), native_objects=frozenset()
        )
