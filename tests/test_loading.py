"""Verified loading (``gpuhash.load_safetensors``): tensors land on the device, are hashed there,
and are returned only if every one matches the signed manifest."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors
from safetensors.numpy import save_file

import gpuhash
from gpuhash.errors import UsageError, VerificationError

WEIGHTS: dict[str, np.ndarray] = {
    "embed": np.random.default_rng(5).standard_normal((300, 64)).astype(np.float32),
    "norm": np.random.default_rng(6).standard_normal(64).astype(np.float16),
    "steps": np.arange(7, dtype=np.int64),
    "empty": np.zeros((0, 8), np.int8),
}


@pytest.fixture
def signed(tmp_path: Path, ec_keys: tuple[Path, Path]) -> dict[str, Path]:
    model = tmp_path / "model"
    (model / "shards").mkdir(parents=True)
    save_file(WEIGHTS, str(model / "shards" / "model.safetensors"))
    bf16 = np.arange(12, dtype=np.uint16)
    spec = safetensors.TensorSpec(
        dtype="bfloat16", shape=[3, 4], data_ptr=bf16.ctypes.data, data_len=bf16.nbytes
    )
    (model / "bf16.safetensors").write_bytes(safetensors.serialize({"w": spec}, None))
    private, public = ec_keys
    sig = tmp_path / "model.sig"
    gpuhash.sign(model, sig, method="key", private_key=private, objects="tensors", leaf_size=4096)
    return {"model": model, "sig": sig, "pub": public, "private": private}


def _load(s: dict[str, Path], device: str = "numpy", **kw: Any) -> dict[str, Any]:
    kw.setdefault("name_in_manifest", "shards/model.safetensors")
    return gpuhash.load_safetensors(
        s["model"] / "shards" / "model.safetensors",
        s["sig"],
        device=device,
        method="key",
        public_key=s["pub"],
        **kw,
    )


@pytest.mark.parametrize("device", ["numpy", "opencl"])
def test_tensors_load_verified(signed: dict[str, Path], device: str) -> None:
    loaded = _load(signed, device)
    assert set(loaded) == set(WEIGHTS)
    for name, want in WEIGHTS.items():
        got = loaded[name] if device == "numpy" else loaded[name].get()
        assert got.dtype == want.dtype
        assert got.shape == want.shape
        assert np.array_equal(got, want)
    if device == "opencl":
        import pyopencl.array as cl_array

        assert isinstance(loaded["embed"], cl_array.Array)
    assert list(_load(signed, device, names=["norm"])) == ["norm"]


def test_a_changed_tensor_is_never_returned(signed: dict[str, Path]) -> None:
    path = signed["model"] / "shards" / "model.safetensors"
    info = gpuhash.hash_path(path, objects="tensors", backend="cpu")["model.safetensors::norm"]
    assert info.tensor is not None
    with open(path, "r+b") as f:
        f.seek(int(info.tensor["offset"]) + 3)  # type: ignore[call-overload]
        f.write(b"\x7f")
    for device in ("numpy", "opencl"):
        with pytest.raises(
            VerificationError, match=r"^shards/model\.safetensors::norm: does not match"
        ):
            _load(signed, device)
    assert set(_load(signed, names=["embed", "steps"])) == {"embed", "steps"}  # others intact


def test_a_changed_header_stops_everything(signed: dict[str, Path]) -> None:
    """The header is checked first: here F32 becomes I32 (same size, so the tensor bytes and
    the tiling still look fine), which would make every value wrong."""
    path = signed["model"] / "shards" / "model.safetensors"
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    text = data[8 : 8 + n].replace(b'"F32"', b'"I32"')
    assert text != data[8 : 8 + n]
    assert json.loads(text)["embed"]["dtype"] == "I32"
    path.write_bytes(data[:8] + text + data[8 + n :])
    with pytest.raises(VerificationError, match="differs from the signed header"):
        _load(signed)


def test_bf16_and_bad_requests(signed: dict[str, Path]) -> None:
    loaded = gpuhash.load_safetensors(
        signed["model"] / "bf16.safetensors", signed["sig"], method="key", public_key=signed["pub"]
    )
    assert loaded["w"].dtype == np.uint16  # bit patterns: numpy has no bfloat16
    assert np.array_equal(loaded["w"], np.arange(12, dtype=np.uint16).reshape(3, 4))
    with pytest.raises(VerificationError, match="not in the signed manifest"):
        _load(signed, name_in_manifest="model.safetensors")  # the wrong object name
    with pytest.raises(UsageError, match="no tensors named"):
        _load(signed, names=["nope"])
    with pytest.raises(UsageError, match="device must be one of"):
        _load(signed, device="tpu")
    with pytest.raises(UsageError, match="needs method="):
        gpuhash.load_safetensors(signed["model"] / "bf16.safetensors", signed["sig"])
    files_sig = signed["sig"].with_name("files.sig")
    gpuhash.sign(signed["model"], files_sig, method="key", private_key=signed["private"])
    with pytest.raises(VerificationError, match="not in the signed manifest"):
        gpuhash.load_safetensors(
            signed["model"] / "bf16.safetensors", files_sig, method="key", public_key=signed["pub"]
        )
