"""gpuhash: vendor-agnostic, bit-exact hashing of machine-learning models on accelerators and CPUs.

The stable public names::

    gpuhash.hash_path(path, *, algorithm=..., leaf_size=None, backend="auto") -> Manifest
    gpuhash.hash_bytes(data, *, algorithm=..., leaf_size=None, backend="auto") -> bytes
    gpuhash.new(algorithm, data=b"", *, leaf_size=None, size=None, backend="auto") -> Hasher
    gpuhash.SignConfig().use_key_signer(key).sign(model, signature) -> str
    gpuhash.VerifyConfig().use_key_verifier(pub).verify(model, signature) -> VerificationResult
    gpuhash.get_backend(name) -> HashBackend
    gpuhash.available_backends() -> list[BackendInfo]

Importing gpuhash is cheap: modules (numpy, protobuf, device stacks) load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"
SPEC_VERSION = 1

_LAZY = {
    "hash_path": "gpuhash.api",
    "hash_bytes": "gpuhash.api",
    "hash_tensors": "gpuhash.api",
    "rehash": "gpuhash.incremental",
    "new": "gpuhash.hasher",
    "Hasher": "gpuhash.hasher",
    "load_safetensors": "gpuhash.loading",
    "list_objects": "gpuhash.api",
    "prove": "gpuhash.api",
    "verify_proof": "gpuhash.api",
    "get_backend": "gpuhash.registry",
    "available_backends": "gpuhash.registry",
    "BackendInfo": "gpuhash.registry",
    "Manifest": "gpuhash.manifest",
    "ManifestError": "gpuhash.manifest",
    "ObjectDigest": "gpuhash.digests",
    "HashBackend": "gpuhash.backend",
    "Capabilities": "gpuhash.backend",
    "LeafTable": "gpuhash.backend",
    "Algorithm": "gpuhash.algorithms",
    "resolve_algorithm": "gpuhash.algorithms",
    "GpuhashError": "gpuhash.errors",
    "UsageError": "gpuhash.errors",
    "InputError": "gpuhash.errors",
    "BackendUnavailable": "gpuhash.errors",
    "BackendError": "gpuhash.errors",
    "VerificationError": "gpuhash.errors",
    "SigningError": "gpuhash.errors",
    "sign": "gpuhash.signing",
    "SignConfig": "gpuhash.signing.config",
    "VerifyConfig": "gpuhash.signing.config",
    "verify": "gpuhash.signing",
    "VerificationResult": "gpuhash.signing",
    "VerificationFailed": "gpuhash.signing",
}

__all__ = ["SPEC_VERSION", "__version__", *_LAZY]

if TYPE_CHECKING:
    from gpuhash.algorithms import Algorithm as Algorithm
    from gpuhash.algorithms import resolve_algorithm as resolve_algorithm
    from gpuhash.api import hash_bytes as hash_bytes
    from gpuhash.api import hash_path as hash_path
    from gpuhash.api import hash_tensors as hash_tensors
    from gpuhash.api import list_objects as list_objects
    from gpuhash.api import prove as prove
    from gpuhash.api import verify_proof as verify_proof
    from gpuhash.backend import Capabilities as Capabilities
    from gpuhash.backend import HashBackend as HashBackend
    from gpuhash.backend import LeafTable as LeafTable
    from gpuhash.digests import ObjectDigest as ObjectDigest
    from gpuhash.errors import BackendError as BackendError
    from gpuhash.errors import BackendUnavailable as BackendUnavailable
    from gpuhash.errors import GpuhashError as GpuhashError
    from gpuhash.errors import InputError as InputError
    from gpuhash.errors import SigningError as SigningError
    from gpuhash.errors import UsageError as UsageError
    from gpuhash.errors import VerificationError as VerificationError
    from gpuhash.hasher import Hasher as Hasher
    from gpuhash.hasher import new as new
    from gpuhash.incremental import rehash as rehash
    from gpuhash.loading import load_safetensors as load_safetensors
    from gpuhash.manifest import Manifest as Manifest
    from gpuhash.manifest import ManifestError as ManifestError
    from gpuhash.registry import BackendInfo as BackendInfo
    from gpuhash.registry import available_backends as available_backends
    from gpuhash.registry import get_backend as get_backend
    from gpuhash.signing import VerificationFailed as VerificationFailed
    from gpuhash.signing import VerificationResult as VerificationResult
    from gpuhash.signing import sign as sign
    from gpuhash.signing import verify as verify
    from gpuhash.signing.config import SignConfig as SignConfig
    from gpuhash.signing.config import VerifyConfig as VerifyConfig


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gpuhash' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
