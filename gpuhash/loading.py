"""Verified loading: safetensors tensors read into device memory and checked there, against a
signed (or otherwise trusted) manifest, before the caller sees any of them.

Order of work for ``load_safetensors(path, expected)``:

1. the expected manifest: a ``Manifest`` the caller trusts, or a gpuhash signature file whose
   signature is checked first (``gpuhash.signing.signed_manifest``);
2. the file's header is read, validated (spec section 1.3) and its object digest compared with
   the signed ``FILE::__metadata__``: every dtype, shape and offset used below is then the
   signed one;
3. each tensor's bytes go into an array on the target device, which the backend of that device
   hashes where it lies; a digest or size that differs from the manifest raises
   ``VerificationError`` naming the tensor, and no array at all is returned.

Devices: ``numpy`` (host memory, hashed by ``backend``, default ``cpu``), ``opencl`` (pyopencl
arrays in the opencl backend's context), ``dpctl`` (``dpctl.tensor`` arrays on the intel
backend's queue), ``cupy`` (CUDA, the cuda backend), ``torch`` (CPU torch tensors sharing the
verified numpy arrays' memory). For CUDA torch tensors, load with ``device="cupy"`` and pass each
array to ``torch.from_dlpack``: no copy, and nothing reaches torch before it was verified.
"""

from __future__ import annotations

import dataclasses
import hmac
import os
from collections.abc import Iterable, Sequence
from typing import Any

from gpuhash import reference as ref
from gpuhash._io import OpenFile, pread_into
from gpuhash.errors import UsageError, VerificationError

__all__ = ["DEVICES", "load_safetensors"]

DEVICES = ("numpy", "opencl", "dpctl", "cupy", "torch")

#: safetensors dtype -> numpy dtype name (BF16 has none in numpy: its arrays hold the 16-bit
#: patterns as uint16 unless ml_dtypes provides bfloat16).
NUMPY_DTYPES = {
    "BOOL": "bool",
    "U8": "uint8",
    "I8": "int8",
    "F8_E5M2": "uint8",
    "F8_E4M3": "uint8",
    "I16": "int16",
    "U16": "uint16",
    "F16": "float16",
    "BF16": "uint16",
    "I32": "int32",
    "U32": "uint32",
    "F32": "float32",
    "I64": "int64",
    "U64": "uint64",
    "F64": "float64",
}


def _expected(expected: Any, verify_options: dict[str, Any]) -> Any:
    from gpuhash.manifest import Manifest

    if isinstance(expected, Manifest):
        if verify_options:
            raise UsageError("verification options apply to a signature, not to a Manifest")
        return expected
    if not isinstance(expected, str | os.PathLike):
        raise UsageError("expected a Manifest or the path of a gpuhash signature")
    if "method" not in verify_options:
        raise UsageError("loading against a signature needs method= (key, certificate, sigstore)")
    from gpuhash.signing import signed_manifest

    return signed_manifest(expected, **verify_options)


def _numpy_dtype(dtype: str) -> Any:
    import numpy as np

    if dtype == "BF16":
        try:
            import ml_dtypes

            return np.dtype(ml_dtypes.bfloat16)
        except ImportError:
            pass
    return np.dtype(NUMPY_DTYPES[dtype])


class _Target:
    """Where arrays go and which backend hashes them there."""

    def __init__(self, device: str, backend: Any) -> None:
        import gpuhash

        if device not in DEVICES:
            raise UsageError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
        self.device = device
        default = {"numpy": "cpu", "opencl": "opencl", "dpctl": "intel", "cupy": "cuda"}
        name = default.get(device, "cpu")
        if isinstance(backend, str) or backend is None:
            backend = gpuhash.get_backend(backend or name)
            self.owned = True
        else:
            self.owned = False
        self.backend = backend

    def array(self, host: Any) -> Any:
        """The bytes of ``host`` (a numpy uint8 array) in an array on the device."""
        if self.device in ("numpy", "torch"):
            return host
        if self.device == "opencl":
            import pyopencl.array as cl_array

            return cl_array.to_device(self.backend.queue, host)
        if self.device == "dpctl":
            try:
                import dpctl.tensor as dpt
            except ImportError:
                raise UsageError(
                    "device='dpctl' needs dpctl.tensor, which this dpctl no longer ships; "
                    "load to numpy, or hash dpnp arrays with gpuhash.hash_tensors"
                ) from None
            return dpt.asarray(host, sycl_queue=self.backend.queue)
        import cupy

        return cupy.asarray(host)

    def close(self) -> None:
        if self.owned:
            self.backend.close()


def _typed(target: _Target, array: Any, dtype: str, shape: list[int]) -> Any:
    """A verified byte array viewed as its tensor's dtype and shape, on its device."""
    np_dtype = _numpy_dtype(dtype)
    if target.device in ("numpy", "torch"):
        typed = array.view(np_dtype).reshape(shape)
        if target.device == "torch":
            import torch

            return torch.from_numpy(typed)
        return typed
    if target.device == "opencl":
        return array.view(np_dtype).reshape(shape)
    if target.device == "dpctl":
        import dpctl.tensor as dpt

        return dpt.usm_ndarray(shape, dtype=np_dtype, buffer=array)
    return array.view(np_dtype).reshape(shape)


def load_safetensors(
    path: str | os.PathLike[str],
    signature_or_manifest: Any,
    *,
    device: str = "numpy",
    backend: Any = None,
    names: Iterable[str] | None = None,
    name_in_manifest: str | None = None,
    **verify_options: Any,
) -> dict[str, Any]:
    """Load the tensors of one safetensors file onto ``device``, each verified there against
    the expected manifest before any is returned (see the module docstring). ``names``: load
    only these tensors (default: all). ``name_in_manifest``: the file's object name in the
    manifest when it is not the file's base name (``shards/model.safetensors`` in a signed
    directory). ``verify_options``: ``method`` and the key, chain or identity options of
    ``gpuhash.verify`` when ``signature_or_manifest`` is a signature."""
    from gpuhash import api
    from gpuhash.engine import hash_sources
    from gpuhash.formats.safetensors import safetensors_prefix, tensor_sources
    from gpuhash.sources import memory_source

    manifest = _expected(signature_or_manifest, verify_options)
    sources = api.list_objects(path, objects="files")
    if len(sources) != 1 or not sources[0].name.endswith(ref.SAFETENSORS_SUFFIX):
        raise UsageError(f"{os.fspath(path)}: not a .safetensors file")
    file_name = name_in_manifest or sources[0].name
    file_src = dataclasses.replace(sources[0], name=file_name)
    # The header is read once: these bytes are both hashed and parsed, so the layout used
    # below is the one whose digest matched.
    prefix = safetensors_prefix(file_src)
    parts = tensor_sources(file_src, prefix)
    header, tensors = parts[0], {p.name: p for p in parts[1:]}
    signed = {o.name: o for o in manifest.objects}
    sep = ref.TENSOR_SEPARATOR
    base = f"{file_name}{sep}"
    wanted: Sequence[str]
    if names is None:
        wanted = [n[len(base) :] for n in tensors]
    else:
        wanted = list(names)
        unknown = [n for n in wanted if f"{base}{n}" not in tensors]
        if unknown:
            raise UsageError(f"{file_name}: no tensors named {unknown}")
    alg = manifest.algorithm
    want = signed.get(header.name)
    if want is None or want.kind != ref.KIND_TENSOR_HEADER:
        raise VerificationError(f"{header.name}: not in the signed manifest")
    got = api.hash_bytes(prefix, algorithm=alg, backend="cpu")  # small, on the host
    if want.size != len(prefix) or not hmac.compare_digest(got, want.digest):
        raise VerificationError(f"{header.name}: differs from the signed header")
    import numpy as np

    target = _Target(device, backend)
    try:
        # Then each tensor: bytes into a device array, hashed where it lies.
        arrays: dict[str, Any] = {}
        srcs = []
        # One descriptor for every tensor, checked once they are hashed: tensors read from a
        # file that changed meanwhile (mixed versions of it) are an error.
        with OpenFile(file_src, "read") as f:
            for tensor in wanted:
                src = tensors[f"{base}{tensor}"]
                expected = signed.get(src.name)
                if expected is None or expected.kind != ref.KIND_TENSOR:
                    raise VerificationError(f"{src.name}: not in the signed manifest")
                if expected.size != src.size:
                    raise VerificationError(
                        f"{src.name}: {src.size} bytes here, {expected.size} signed"
                    )
                host = np.empty(src.size, dtype=np.uint8)
                pread_into(f.fd, memoryview(host.data), src.offset, src.name, "read")
                arrays[tensor] = target.array(host)
                srcs.append(memory_source(src.name, ref.KIND_TENSOR, arrays[tensor]))
            digests = hash_sources(target.backend, alg, srcs)
            f.check()
        for d in digests:
            if not hmac.compare_digest(d.digest, signed[d.name].digest):
                raise VerificationError(f"{d.name}: does not match its signed digest")
        out = {}
        for tensor in wanted:
            info = tensors[f"{base}{tensor}"].tensor
            assert info is not None
            out[tensor] = _typed(target, arrays[tensor], str(info["dtype"]), list(info["shape"]))
        return out
    finally:
        target.close()
