"""Capture: run a model once and record every aten operator it executes.

This is the only module that touches torch's dispatch machinery. A ``TorchDispatchMode`` sees every
aten op (functional calls included), and a ``TorchFunctionMode`` turns a few composite functions into
one logical op each, because their aten decomposition depends on the device: scaled dot-product
attention is one fused kernel on CPU and CUDA but a chain of bmm/softmax ops on meta, and the fused
multi-head-attention fast path only exists on some devices. An active function mode also makes
``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer`` take their reference path, so the same
model gives the same ops on cpu, cuda, meta and fake tensors.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["CaptureError", "Capture", "OpEvent", "TensorMeta", "capture"]


class CaptureError(RuntimeError):
    """The model could not be run for analysis; the message says where and why."""


@dataclasses.dataclass(frozen=True, slots=True)
class TensorMeta:
    """Shape, strides and dtype of one tensor an op touched: all a formula may look at."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype

    @classmethod
    def of(cls, tensor: torch.Tensor) -> TensorMeta:
        return cls(tuple(int(s) for s in tensor.shape), tuple(int(s) for s in tensor.stride()), tensor.dtype)

    @property
    def numel(self) -> int:
        count = 1
        for size in self.shape:
            count *= size
        return count

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def addressed_elements(self) -> int:
        """Distinct memory elements the tensor addresses: a broadcast (stride-0) dimension adds none."""
        count = 1
        for size, stride in zip(self.shape, self.stride):
            if size == 0:
                return 0
            if stride != 0:
                count *= size
        return count

    @property
    def nbytes(self) -> int:
        return self.addressed_elements * self.itemsize

    @property
    def is_floating(self) -> bool:
        return self.dtype.is_floating_point or self.dtype.is_complex

    def __str__(self) -> str:
        return f"{str(self.dtype).removeprefix('torch.')}[{', '.join(map(str, self.shape))}]"


@dataclasses.dataclass(frozen=True, slots=True)
class OpEvent:
    """One operator call: its name, its arguments with tensors replaced by TensorMeta, its outputs."""

    op: str  # overload packet, e.g. "aten.mm"
    overload: str  # e.g. "default", "Tensor"
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    outputs: tuple[TensorMeta, ...]
    module: str  # qualified name of the innermost module that ran it; "" is the root
    phase: str = "forward"

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        """An argument given positionally or by keyword."""
        if index < len(self.args):
            return self.args[index]
        return self.kwargs.get(name, default)

    @property
    def inputs(self) -> list[TensorMeta]:
        """Every tensor argument that is read (an ``out=`` tensor is written, not read)."""
        found: list[TensorMeta] = []
        _collect(self.args, found)
        _collect([value for key, value in self.kwargs.items() if key != "out"], found)
        return found

    @property
    def output(self) -> TensorMeta:
        return self.outputs[0]


def _collect(values: Sequence[Any], found: list[TensorMeta]) -> None:
    for value in values:
        if isinstance(value, TensorMeta):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            _collect(value, found)


def _describe(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return TensorMeta.of(value)
    if isinstance(value, (list, tuple)):
        return tuple(_describe(item) for item in value)
    if isinstance(value, torch.SymInt):
        return int(value)
    return value


def _outputs(value: Any) -> tuple[TensorMeta, ...]:
    if isinstance(value, torch.Tensor):
        return (TensorMeta.of(value),)
    if isinstance(value, (list, tuple)):
        return tuple(meta for item in value for meta in _outputs(item))
    return ()


# Composite functions captured as one logical op, named as the aten op they stand for. Their aten
# decomposition differs between devices; the logical op and its formula do not.
LOGICAL_OPS: dict[Callable[..., Any], str] = {
    F.scaled_dot_product_attention: "aten.scaled_dot_product_attention",
    F.multi_head_attention_forward: "roofscope.multi_head_attention_forward",
    F.rms_norm: "aten.rms_norm",
    torch.rms_norm: "aten.rms_norm",
}


@dataclasses.dataclass
class Capture:
    """What one run recorded: the op events in order, and how often each module was called."""

    events: list[OpEvent]
    module_calls: dict[str, int]
    module_types: dict[str, str]


class _ModuleStack:
    """Tracks the innermost module of the analysed model that is running.

    ``torch.utils.module_tracker.ModuleTracker`` exposes only an unordered set of parent names and
    names the root by its class, so the innermost module cannot be read from it; a stack of the
    model's own qualified names can, from the same global forward hooks.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        named = list(model.named_modules())
        self.names: dict[int, str] = {id(module): name for name, module in named}
        self.stack: list[str] = []
        self.calls: dict[str, int] = {}
        self.types: dict[str, str] = {name: type(module).__name__ for name, module in named}

    @property
    def current(self) -> str:
        return self.stack[-1] if self.stack else ""

    def _enter(self, module: torch.nn.Module, args: Any) -> None:
        name = self.names.get(id(module))
        if name is not None:
            self.stack.append(name)
            self.calls[name] = self.calls.get(name, 0) + 1

    def _leave(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        # Not registered with always_call: when a forward raises, the failing module stays on top of
        # the stack for the error message. A parent that caught its child's exception pops both here.
        name = self.names.get(id(module))
        if name is not None and name in self.stack:
            while self.stack.pop() != name:
                pass

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        from torch.nn.modules.module import (
            register_module_forward_hook,
            register_module_forward_pre_hook,
        )

        pre = register_module_forward_pre_hook(self._enter)
        try:
            post = register_module_forward_hook(self._leave)
            try:
                yield
            finally:
                post.remove()
        finally:
            pre.remove()


class _Recorder(TorchDispatchMode):
    def __init__(self, modules: _ModuleStack) -> None:
        super().__init__()
        self.modules = modules
        self.events: list[OpEvent] = []
        self.inside_logical_op = 0
        self.phase = "forward"
        # (op, overload) per OpOverload: formatting the packet's name on every call is measurable.
        self._op_names: dict[Any, tuple[str, str]] = {}

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        # Under inference_mode the autograd keys are skipped, so composite ops (aten.linear,
        # aten.matmul, ...) arrive here whole; run their decomposition so that the same aten ops
        # are recorded as in any other mode.
        if func.namespace == "aten" and torch._C._dispatch_has_kernel_for_dispatch_key(
            func.name(), torch._C.DispatchKey.CompositeImplicitAutograd
        ):
            with self:
                decomposed = func.decompose(*args, **kwargs)
            if decomposed is not NotImplemented:
                return decomposed
        if self.inside_logical_op:
            return func(*args, **kwargs)
        names = self._op_names.get(func)
        if names is None:
            names = self._op_names[func] = (str(func.overloadpacket), func._overloadname)
        return self.call(names, func, args, kwargs)

    def call(self, names: tuple[str, str], func: Callable[..., Any], args: Any, kwargs: Mapping[str, Any]) -> Any:
        """Run one recorded op (an aten op, or a whole logical op) and record it. The only place an
        op the analysis sees is executed: ``roofscope.measure`` overrides it to time each op."""
        result = func(*args, **kwargs)
        self.record(*names, args, kwargs, result)
        return result

    def record(self, op: str, overload: str, args: Any, kwargs: Mapping[str, Any], result: Any) -> None:
        self.events.append(
            OpEvent(
                op=op,
                overload=overload,
                args=tuple(_describe(arg) for arg in args),
                kwargs={key: _describe(value) for key, value in kwargs.items()},
                outputs=_outputs(result),
                module=self.modules.current,
                phase=self.phase,
            )
        )


class _LogicalOps(TorchFunctionMode):
    def __init__(self, recorder: _Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = LOGICAL_OPS.get(func)
        if name is None:
            return func(*args, **kwargs)
        recorder = self.recorder
        if recorder.inside_logical_op:  # a logical op inside another: part of the outer one
            return func(*args, **kwargs)

        def run(*args: Any, **kwargs: Any) -> Any:
            recorder.inside_logical_op += 1
            try:
                return func(*args, **kwargs)
            finally:
                recorder.inside_logical_op -= 1

        return recorder.call((name, "default"), run, args, kwargs)


def _first_tensor_error_context(args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    described = [str(_describe(a)) if isinstance(a, torch.Tensor) else type(a).__name__ for a in args]
    described += [
        f"{key}={_describe(value) if isinstance(value, torch.Tensor) else type(value).__name__}"
        for key, value in kwargs.items()
    ]
    return ", ".join(described) or "no inputs"


def _restore(saved_buffers: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Put back buffers the forward updated in place (batch norm's running statistics in train mode)."""
    with torch.no_grad():
        for buffer, saved in saved_buffers:
            if buffer.device.type != "meta":
                buffer.copy_(saved)


def capture(
    model: torch.nn.Module,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    backward: Callable[[Any], None] | None = None,
    grad: bool = False,
    fake_mode: Any = None,
) -> Capture:
    """Run ``model(*args, **kwargs)`` once and record every aten op with the module it ran in.

    ``backward``, if given, is called with the forward's output (still under capture) so that the
    backward pass is recorded too, with ``phase="backward"``. ``fake_mode``, a FakeTensorMode, runs
    the forward on fake tensors.
    """
    modules = _ModuleStack(model)
    recorder = _Recorder(modules)
    saved_buffers = [(buffer, buffer.detach().clone()) for buffer in model.buffers()]
    grad_context = torch.enable_grad() if (grad or backward) else torch.no_grad()
    try:
        fake_context = fake_mode if fake_mode is not None else contextlib.nullcontext()
        with fake_context, grad_context, modules.installed(), recorder, _LogicalOps(recorder):
            output = model(*args, **kwargs)
            if backward is not None:
                recorder.phase = "backward"
                modules.stack.clear()
                backward(output)
    except Exception as error:
        where = modules.current
        module_desc = (
            f"module '{where}' ({modules.types.get(where, '?')})"
            if where
            else f"the model's own forward ({type(model).__name__})"
        )
        raise CaptureError(
            f"the forward pass failed in {module_desc}: {type(error).__name__}: {error}\n"
            f"inputs given: {_first_tensor_error_context(args, kwargs)}"
        ) from error
    finally:
        _restore(saved_buffers)
    return Capture(recorder.events, modules.calls, modules.types)
