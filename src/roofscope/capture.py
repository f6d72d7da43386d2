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


@dataclasses.dataclass(frozen=True, slots=True)
class _OpInfo:
    op: str  # "aten.mm"
    overload: str  # "default"
    composite: bool  # an aten op with a CompositeImplicitAutograd kernel (see __torch_dispatch__)
    writes: tuple[tuple[int, str], ...]  # (position, name) of each argument the schema marks written

    @classmethod
    def of(cls, func: Any) -> _OpInfo:
        composite = func.namespace == "aten" and torch._C._dispatch_has_kernel_for_dispatch_key(
            func.name(), torch._C.DispatchKey.CompositeImplicitAutograd
        )
        writes = tuple(
            (index, argument.name)
            for index, argument in enumerate(func._schema.arguments)
            if argument.alias_info is not None and argument.alias_info.is_write
        )
        return cls(str(func.overloadpacket), func._overloadname, composite, writes)


class _Guard:
    """Keeps the model's tensors as they were: the forward may update them in place.

    Buffers are copied before the run (batch norm's running statistics are written by kernels whose
    schema does not say so: ``native_batch_norm``, ``cudnn_batch_norm``). Parameters, which can be
    large, are copied on write: the first time an op whose schema marks an argument written
    (``clamp_``, ``mul_``, ``copy_``, an ``out=``...) is about to write storage a parameter lives in,
    through the parameter, ``.data`` or a view. ``restore`` puts everything back. Meta tensors hold
    no values and are skipped.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.saved: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.owners: dict[int, list[torch.Tensor]] = {}
        for parameter in model.parameters():
            pointer = _storage_pointer(parameter)
            if pointer:
                self.owners.setdefault(pointer, []).append(parameter)
        with torch.no_grad():
            for buffer in model.buffers():
                if buffer.device.type != "meta":
                    self.saved.append((buffer, buffer.detach().clone()))

    def before_write(self, value: Any) -> None:
        if isinstance(value, (list, tuple)):
            for item in value:
                self.before_write(item)
            return
        if not isinstance(value, torch.Tensor):
            return
        owners = self.owners.pop(_storage_pointer(value), None)
        if owners:
            # Outside every mode (the copy is neither recorded nor made fake), without autograd.
            with torch.utils._python_dispatch._disable_current_modes(), torch.no_grad():
                self.saved += [(owner, torch.ops.aten.clone.default(owner.detach())) for owner in owners]

    def restore(self) -> None:
        with torch.utils._python_dispatch._disable_current_modes(), torch.no_grad():
            for tensor, saved in reversed(self.saved):
                torch.ops.aten.copy_.default(tensor.detach(), saved)


_PLAIN_DISPATCH = torch.Tensor.__torch_dispatch__


def _storage_pointer(tensor: torch.Tensor) -> int:
    """The address of the storage a tensor views (0 when it has none: meta, empty, or a subclass with
    its own dispatch, such as a fake tensor, whose storage is not the model's)."""
    if tensor.device.type == "meta" or type(tensor).__torch_dispatch__ is not _PLAIN_DISPATCH:
        return 0
    try:
        return int(tensor.untyped_storage().data_ptr())
    except (RuntimeError, NotImplementedError, TypeError):
        return 0


class RandomState:
    """torch's global random generators as they were: a forward in training mode draws from them
    (dropout), building a model with random weights too, and an analysis must not change what the
    user's next random number is. Saved when made, put back by ``restore`` or at the end of a
    ``with`` block."""

    def __init__(self) -> None:
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)

    def __enter__(self) -> RandomState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()


class _Recorder(TorchDispatchMode):
    def __init__(self, modules: _ModuleStack, guard: _Guard) -> None:
        super().__init__()
        self.modules = modules
        self.guard = guard
        self.events: list[OpEvent] = []
        self.inside_logical_op = 0
        self.phase = "forward"
        # Per OpOverload, what the recorder needs to know about it, looked up once: formatting the
        # packet's name or asking the dispatcher on every call is measurable.
        self._ops: dict[Any, _OpInfo] = {}

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        info = self._ops.get(func)
        if info is None:
            info = self._ops[func] = _OpInfo.of(func)
        if info.writes and self.guard.owners:
            for index, name in info.writes:
                self.guard.before_write(args[index] if index < len(args) else kwargs.get(name))
        # Under inference_mode the autograd keys are skipped, so composite ops (aten.linear,
        # aten.matmul, ...) arrive here whole; run their decomposition so that the same aten ops
        # are recorded as in any other mode.
        if info.composite:
            with self:
                decomposed = func.decompose(*args, **kwargs)
            if decomposed is not NotImplemented:
                return decomposed
        result = func(*args, **kwargs)
        if not self.inside_logical_op:
            self.record(info.op, info.overload, args, kwargs, result)
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
        self.recorder.inside_logical_op += 1
        try:
            result = func(*args, **kwargs)
        finally:
            self.recorder.inside_logical_op -= 1
        if not self.recorder.inside_logical_op:
            self.recorder.record(name, "default", args, kwargs, result)
        return result


def _first_tensor_error_context(args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    described = [str(_describe(a)) if isinstance(a, torch.Tensor) else type(a).__name__ for a in args]
    described += [
        f"{key}={_describe(value) if isinstance(value, torch.Tensor) else type(value).__name__}"
        for key, value in kwargs.items()
    ]
    return ", ".join(described) or "no inputs"


def _dtypes(tensors: Any) -> str:
    return "/".join(sorted({str(t.dtype).removeprefix("torch.") for t in tensors}))


def _failing_call(error: BaseException, modules: _ModuleStack) -> tuple[str, torch.nn.Module | None, Any]:
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


def _failure(modules: _ModuleStack, model: torch.nn.Module, error: Exception, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """Where the forward failed, on what, and a hint when the cause is a common one."""
    where, module, module_args = _failing_call(error, modules)
    hint = ""
    if where:
        module = module if module is not None else dict(model.named_modules())[where]
        module_args = module_args if isinstance(module_args, tuple) else ()
        module_desc = f"module '{where}' ({type(module).__name__})"
        if module_args:
            module_desc += f" on {_first_tensor_error_context(module_args, {})}"
        weights = [t for t in module.parameters(recurse=False) if t.is_floating_point()]
        if weights:
            module_desc += f" with {_dtypes(weights)} parameters"
        first = module_args[0] if module_args and isinstance(module_args[0], torch.Tensor) else None
        if isinstance(module, (torch.nn.Embedding, torch.nn.EmbeddingBag)):
            if first is not None and not _is_integer(first):
                hint = f"\nhint: {type(module).__name__} takes integer indices, got {_dtypes([first])}: give an integer input (TensorSpec(shape, torch.long, high=...), or on the command line --input 1,128:int64)"
        elif first is not None and weights and first.dtype not in {t.dtype for t in weights}:
            hint = (
                f"\nhint: {type(module).__name__} has {_dtypes(weights)} parameters but its input is {_dtypes([first])}: "
                f"give {_dtypes(weights)} inputs (a shape makes a random tensor in the model's dtype)"
            )
    else:
        module_desc = f"the model's own forward ({type(model).__name__})"
    if _reads_values(error):
        hint += (
            "\nhint: the forward reads a tensor's value (a branch such as `if x.sum() > 0`, or .item()), "
            "which fake and meta tensors do not have: analyse with real tensors (fake=False, the model not on the meta device)"
        )
    return (
        f"the forward pass failed in {module_desc}: {type(error).__name__}: {error}\n"
        f"inputs given: {_first_tensor_error_context(args, kwargs)}{hint}"
    )


def _is_integer(tensor: torch.Tensor) -> bool:
    return not (tensor.is_floating_point() or tensor.is_complex())


def _reads_values(error: Exception) -> bool:
    """The error of a forward that needs a tensor's data on a fake or meta tensor."""
    from torch._subclasses.fake_tensor import DataDependentOutputException

    if isinstance(error, DataDependentOutputException):
        return True
    text = str(error)
    return "cannot be called on meta tensors" in text or "data-dependent" in text.lower()


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
    guard = _Guard(model)
    rng = RandomState()
    recorder = _Recorder(modules, guard)
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
        raise CaptureError(_failure(modules, model, error, args, kwargs)) from error
    finally:
        guard.restore()
        rng.restore()
    return Capture(recorder.events, modules.calls, modules.types)
