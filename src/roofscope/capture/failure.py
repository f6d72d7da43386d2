"""Errors of a run, and the message that says where the forward failed and why."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from roofscope.capture.modules import ModuleStack
from roofscope.capture.recorder import describe

__all__ = ["BackwardError", "CaptureError", "describe_call", "failure", "needs_real_tensors", "reads_values", "stopped_at"]


class CaptureError(RuntimeError):
    """The model could not be run for analysis; the message says where and why.
    ``needs_real_tensors``: the forward failed because its tensors were meta or fake (it read a
    value, ``.item()`` or a data-dependent shape, or ran an op with no meta kernel, or mixed them
    with tensors it made on the CPU): on real tensors it may well run."""

    def __init__(self, message: str, *, needs_real_tensors: bool = False) -> None:
        super().__init__(message)
        self.needs_real_tensors = needs_real_tensors


class BackwardError(ValueError):
    """The forward's output cannot be differentiated (no floating-point output, or none that
    requires grad); the message says why."""


def describe_call(args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    described = [str(describe(a)) if isinstance(a, torch.Tensor) else type(a).__name__ for a in args]
    described += [f"{key}={describe(value) if isinstance(value, torch.Tensor) else type(value).__name__}" for key, value in kwargs.items()]
    return ", ".join(described) or "no inputs"


def _dtypes(tensors: Any) -> str:
    return "/".join(sorted({str(t.dtype).removeprefix("torch.") for t in tensors}))


def _failing_call(error: BaseException, modules: ModuleStack) -> tuple[str, torch.nn.Module | None, Any]:
    """The innermost module of the model whose call (its forward, or one of its hooks) raised, read
    from the traceback's ``Module._call_impl`` frames, with the arguments it was called with; else the
    innermost module still on the stack."""
    found: tuple[str, torch.nn.Module | None, Any] = (modules.current, None, ())
    traceback = error.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_code is _CALL_IMPL:
            module = frame.f_locals.get("self")
            name = modules.names.get(id(module))
            if name is not None:
                found = (name, module, frame.f_locals.get("args", ()))
        traceback = traceback.tb_next
    return found


_CALL_IMPL = torch.nn.Module._call_impl.__code__


def failure(modules: ModuleStack, model: torch.nn.Module, error: Exception, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """Where the forward failed, on what, and a hint when the cause is a common one."""
    where, module, module_args = _failing_call(error, modules)
    hint = ""
    if where:
        module = module if module is not None else dict(model.named_modules())[where]
        module_args = module_args if isinstance(module_args, tuple) else ()
        module_desc = f"module '{where}' ({type(module).__name__})"
        if module_args:
            module_desc += f" on {describe_call(module_args, {})}"
        weights = [t for t in module.parameters(recurse=False) if t.is_floating_point()]
        if weights:
            module_desc += f" with {_dtypes(weights)} parameters"
        first = module_args[0] if module_args and isinstance(module_args[0], torch.Tensor) else None
        if isinstance(module, (torch.nn.Embedding, torch.nn.EmbeddingBag)):
            if first is not None and not _is_integer(first):
                hint = f"\nhint: {type(module).__name__} takes integer indices, got {_dtypes([first])}: give an integer input (TensorSpec(shape, torch.long, high=...), or on the command line --input 1,128:int64)"
        elif first is not None and _channels_differ(module, first):
            hint = (
                f"\nhint: {type(module).__name__} takes {_channels(module)} input channel(s) in dimension 1, "
                f"got {first.shape[1]}: give inputs of shape [batch, {_channels(module)}, ...]"
            )
        elif first is not None and weights and first.dtype not in {t.dtype for t in weights}:
            hint = (
                f"\nhint: {type(module).__name__} has {_dtypes(weights)} parameters but its input is {_dtypes([first])}: "
                f"give {_dtypes(weights)} inputs (a shape makes a random tensor in the model's dtype)"
            )
    else:
        module_desc = f"the model's own forward ({type(model).__name__})"
    if reads_values(error):
        hint += (
            "\nhint: the forward reads a tensor's value (a branch such as `if x.sum() > 0`, or .item()), "
            "which fake and meta tensors do not have: analyse with real tensors (fake=False, the model not on the meta device)"
        )
    return f"the forward pass failed in {module_desc}: {type(error).__name__}: {error}\ninputs given: {describe_call(args, kwargs)}{hint}"


def stopped_at(modules: ModuleStack, model: torch.nn.Module, error: Exception) -> str:
    """The note of a partial analysis: where the forward stopped, and why."""
    where, module, _ = _failing_call(error, modules)
    place = (
        f"module '{where}' ({type(module if module is not None else dict(model.named_modules())[where]).__name__})"
        if where
        else "the model's own forward"
    )
    reason = re.sub(r"\s*\([^()]*/[^()]*\)", "", str(error).split("\n")[0]).split(". ")[0].split(", ")[0]  # no file paths
    return (
        f"counted up to {place}, where the forward needs tensor values that meta and fake tensors do not have "
        f"({type(error).__name__}: {reason}); the rest of the forward is not counted: build the model on the CPU for a full count"
    )


def _channels(module: torch.nn.Module) -> int | None:
    """The input channels a convolution or batch norm takes (dimension 1 of its input)."""
    if isinstance(module, (torch.nn.modules.conv._ConvNd, torch.nn.modules.batchnorm._NormBase)):
        channels = getattr(module, "in_channels", None) or getattr(module, "num_features", None)
        return channels if isinstance(channels, int) else None
    return None


def _channels_differ(module: torch.nn.Module, first: torch.Tensor) -> bool:
    channels = _channels(module)
    return channels is not None and first.dim() >= 2 and first.shape[1] != channels


def _is_integer(tensor: torch.Tensor) -> bool:
    return not (tensor.is_floating_point() or tensor.is_complex())


def needs_real_tensors(error: BaseException) -> bool:
    """Whether a forward on meta or fake tensors failed for want of real ones (``CaptureError``)."""
    return reads_values(error) or (isinstance(error, (RuntimeError, NotImplementedError)) and "meta" in str(error).lower())


def reads_values(error: BaseException) -> bool:
    """The error of a forward that needs a tensor's data on a fake or meta tensor."""
    from torch._subclasses.fake_tensor import DataDependentOutputException

    if isinstance(error, DataDependentOutputException):
        return True
    text = str(error).lower()
    # meta's nonzero (a boolean mask's indices): "a correct data-independent implementation does not exist"
    return "cannot be called on meta tensors" in text or "data-dependent" in text or "data-independent implementation" in text
