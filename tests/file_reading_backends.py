"""Backends that read files into device memory themselves (``read_file``, what the cuda
backend does with kvikio), on Intel's CPU OpenCL runtime: one correct, one with a 32-bit file
offset. The conformance suite's self-test runs them by ``module:Class`` name (with this folder
on ``PYTHONPATH``), since no backend that runs here reads files itself."""

from __future__ import annotations

import dataclasses
import os

import gpuhash_opencl

from gpuhash.backend import Capabilities

__all__ = ["ReadFileOffset32", "ReadsFiles"]


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
