"""What an analysis must leave untouched: the model, and torch's global state.

``model_state(model)`` and ``global_state()`` take snapshots; ``differences(before, after)`` lists
what changed, one line each; ``untouched(*models)`` wraps a block and fails if anything changed,
whether the block returned or raised. The autouse fixture in conftest.py checks ``global_state``
(without the RNG, which tests may use) around every test; the zoo (test_zoo.py), the bad-input
tests and the API tests check everything around each analysis.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.modules import module as module_module

# Namespaces whose functions roofscope intercepts (roofscope.capture.LOGICAL_OPS) or could patch:
# every name present before an analysis must still be bound to the very same object after it.
NAMESPACES = {
    "torch": torch,
    "torch.nn.functional": F,
    "torch.Tensor": torch.Tensor,
    "torch._C.TensorBase": torch._C.TensorBase,
    "torch.nn.Module": torch.nn.Module,
}


class Bits:
    """A tensor's exact contents (bitwise: NaN equals NaN, -0.0 differs from 0.0) and metadata; the
    contents only where there are any (not on meta, not for fake tensors)."""

    def __init__(self, tensor: torch.Tensor) -> None:
        from torch._subclasses.fake_tensor import is_fake

        tensor = tensor.detach()
        self.meta = (type(tensor).__name__, tensor.dtype, tuple(tensor.shape), tuple(tensor.stride()), str(tensor.device))
        self.data = None
        if tensor.device.type != "meta" and not is_fake(tensor):
            flat = tensor.contiguous().reshape(-1)
            self.data = (flat.view(torch.uint8) if flat.dtype.itemsize else flat).cpu().clone()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Bits) or self.meta != other.meta:
            return False
        if self.data is None or other.data is None:
            return self.data is other.data
        return torch.equal(self.data, other.data)

    def __repr__(self) -> str:
        return f"Bits{self.meta}"


def _hook_dicts(module: torch.nn.Module) -> dict[str, dict[Any, Any]]:
    """Every hook registry of a module (forward, pre, with-kwargs, always-called, backward, state-dict...)."""
    return {name: dict(value) for name, value in vars(module).items() if "hook" in name and isinstance(value, dict)}


def model_state(model: torch.nn.Module) -> dict[str, Any]:
    """A snapshot of everything an analysis must not change in ``model``."""
    state: dict[str, Any] = {}
    state_dict = model.state_dict(keep_vars=True)
    state["state_dict keys"] = list(state_dict)
    for name, value in state_dict.items():
        state[f"state_dict[{name}]"] = Bits(value) if isinstance(value, torch.Tensor) else value
    for name, parameter in model.named_parameters(remove_duplicate=False):
        state[f"parameter {name}"] = (
            id(parameter),  # the same object: an optimizer holding it still updates the model
            parameter.requires_grad,
            parameter.device,
            parameter.dtype,
            None if parameter.grad is None else Bits(parameter.grad),
        )
    for name, buffer in model.named_buffers(remove_duplicate=False):
        state[f"buffer {name}"] = (id(buffer), buffer.requires_grad, buffer.device, buffer.dtype)
    for name, module in model.named_modules(remove_duplicate=False):
        where = f"module {name or '(root)'}"
        state[f"{where} type"] = type(module)
        state[f"{where} training"] = module.training
        state[f"{where} __dict__ keys"] = sorted(vars(module))
        state[f"{where} children"] = {key: id(child) for key, child in module._modules.items()}
        state[f"{where} non-persistent buffers"] = set(module._non_persistent_buffers_set)
        for registry, hooks in _hook_dicts(module).items():
            state[f"{where} {registry}"] = hooks
    return state


def _tf32_flags() -> dict[str, Any]:
    with warnings.catch_warnings():  # reading the legacy flags warns on some versions
        warnings.simplefilter("ignore")
        flags = {
            "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
        }
        for path in ("cuda.matmul", "cudnn", "cudnn.conv", "cudnn.rnn", "mkldnn"):
            backend: Any = torch.backends
            for part in path.split("."):
                backend = getattr(backend, part, None)
            if backend is not None and hasattr(backend, "fp32_precision"):
                flags[f"{path}.fp32_precision"] = backend.fp32_precision
    return flags


def global_state(*, rng: bool = True) -> dict[str, Any]:
    """A snapshot of torch's process-wide state that an analysis must leave as it found it."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

    state: dict[str, Any] = {
        "dispatch mode stack": list(_get_current_dispatch_mode_stack()),
        "torch function mode stack": list(torch.overrides._get_current_function_mode_stack()),
        "torch function enabled": torch._C._is_torch_function_enabled(),
        "dispatch TLS include set": str(torch._C._dispatch_tls_local_include_set()),
        "dispatch TLS exclude set": str(torch._C._dispatch_tls_local_exclude_set()),
        "grad enabled": torch.is_grad_enabled(),
        "inference mode": torch.is_inference_mode_enabled(),
        "anomaly detection": torch.is_anomaly_enabled(),
        "default dtype": torch.get_default_dtype(),
        "default device": torch.get_default_device(),
        "deterministic algorithms": torch.are_deterministic_algorithms_enabled(),
        "deterministic warn only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cudnn deterministic": torch.backends.cudnn.deterministic,
        "cudnn benchmark": torch.backends.cudnn.benchmark,
        "cudnn enabled": torch.backends.cudnn.enabled,
        "threads": torch.get_num_threads(),
        # torch's switches (TORCH_FORCE_WEIGHTS_ONLY_LOAD is set while roofscope reads a .pt2)
        "environment": {key: value for key, value in os.environ.items() if key.startswith("TORCH")},
        **_tf32_flags(),
    }
    for name in dir(module_module):  # _global_forward_hooks, _global_backward_pre_hooks, ...
        if name.startswith("_global_"):
            value = getattr(module_module, name)
            state[f"torch.nn.modules.module.{name}"] = dict(value) if isinstance(value, dict) else value
    for label, namespace in NAMESPACES.items():
        state[f"names of {label}"] = dict(vars(namespace))
    if rng:
        state["cpu RNG"] = torch.get_rng_state()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda RNG"] = torch.cuda.get_rng_state_all()
    return state


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_object(a[key], b[key]) for key in a)
    return bool(a == b)


def _same_object(a: Any, b: Any) -> bool:
    """Entries of dicts (hook registries, namespaces): the same object, or equal values."""
    return a is b or (not callable(a) and _same(a, b))


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """One line per entry that changed between two snapshots."""
    found = []
    for key in before.keys() | after.keys():
        if key not in after or key not in before:
            found.append(f"{key}: {'gone' if key not in after else 'added'}")
        elif key.startswith("names of "):
            # Names may be added (a submodule imported lazily); none may be rebound.
            rebound = [name for name, value in before[key].items() if name in after[key] and after[key][name] is not value]
            if rebound:
                found.append(f"{key}: rebound {', '.join(sorted(rebound))}")
        elif isinstance(before[key], dict) and isinstance(after[key], dict):
            old, new = before[key], after[key]
            changed = sorted(map(str, old.keys() ^ new.keys())) + [
                str(k) for k in old.keys() & new.keys() if not _same_object(old[k], new[k])
            ]
            if changed:
                found.append(f"{key}: changed at {', '.join(changed)}")
        elif not _same(before[key], after[key]):
            found.append(f"{key}: {before[key]!r} -> {after[key]!r}")
    return sorted(found)


def assert_same(before: dict[str, Any], after: dict[str, Any], what: str = "state") -> None:
    changed = differences(before, after)
    assert not changed, f"{what} changed:\n  " + "\n  ".join(changed)


@contextlib.contextmanager
def untouched(*models: torch.nn.Module, rng: bool = True) -> Iterator[None]:
    """Fail if the block changes any of ``models`` or torch's global state (on return or on raise)."""
    globals_before = global_state(rng=rng)
    models_before = [model_state(model) for model in models]
    try:
        yield
    finally:
        assert_same(globals_before, global_state(rng=rng), "torch's global state")
        for model, before in zip(models, models_before):
            assert_same(before, model_state(model), f"the model {type(model).__name__}")
