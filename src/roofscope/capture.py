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

import bisect
import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["BackwardError", "Capture", "CaptureError", "OpEvent", "TensorMeta", "capture", "sum_of_outputs"]


class CaptureError(RuntimeError):
    """The model could not be run for analysis; the message says where and why."""


class BackwardError(ValueError):
    """The forward's output cannot be differentiated (no floating-point output, or none that
    requires grad); the message says why."""


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
    phase: str = "forward"  # "forward", or "backward" for the ops of the backward pass

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


_ACCUMULATE_GRAD = 2**64 - 1  # the sequence number of AccumulateGrad nodes (they have none of their own)


class _BackwardModules:
    """Which module a backward op belongs to: the module whose forward created the autograd node
    the engine is running.

    Module hooks do not run in the backward pass. Instead, during the forward, every torch function
    call that returns a tensor with a ``grad_fn`` marks that node's sequence number with the module
    that called it. Sequence numbers grow in creation order, so the nodes a composite function
    creates inside itself (linear's transpose, say) fall between the previous mark and its own: the
    first mark at or above a node's number names its module. AccumulateGrad nodes (writing a
    parameter's .grad) belong to the module that owns the parameter; work outside any node (the
    engine seeding the gradient) and the loss belong to the model itself ("").
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.sequence: list[int] = []
        self.modules: list[str] = []
        self.owners = {id(p): name.rpartition(".")[0] for name, p in model.named_parameters(remove_duplicate=False)}

    def mark(self, result: Any, module: str) -> None:
        node = _grad_fn(result)
        if node is None:
            return
        number = node._sequence_nr()
        if number == _ACCUMULATE_GRAD or (self.sequence and number <= self.sequence[-1]):
            return  # an existing node returned again (a tensor passed through): already marked
        self.sequence.append(number)
        self.modules.append(module)

    def current(self) -> str:
        node = torch._C._current_autograd_node()
        if node is None:
            return ""
        number = node._sequence_nr()
        if number == _ACCUMULATE_GRAD:
            variable = getattr(node, "variable", None)
            return self.owners.get(id(variable), "")
        index = bisect.bisect_left(self.sequence, number)
        return self.modules[index] if index < len(self.modules) else ""


def _grad_fn(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.grad_fn
    if isinstance(value, (list, tuple)):
        for item in value:
            node = _grad_fn(item)
            if node is not None:
                return node
    return None


class _Recorder(TorchDispatchMode):
    def __init__(self, modules: _ModuleStack, guard: _Guard | None = None, backward_modules: _BackwardModules | None = None) -> None:
        super().__init__()
        self.modules = modules
        self.guard = guard
        self.backward_modules = backward_modules
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
        if info.writes and self.guard is not None and self.guard.owners:
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
        if self.inside_logical_op:
            return func(*args, **kwargs)
        return self.call((info.op, info.overload), func, args, kwargs)

    def call(self, names: tuple[str, str], func: Callable[..., Any], args: Any, kwargs: Mapping[str, Any]) -> Any:
        """Run one recorded op (an aten op, or a whole logical op) and record it. The only place an
        op the analysis sees is executed: ``roofscope.measure`` overrides it to time each op."""
        result = func(*args, **kwargs)
        self.record(*names, args, kwargs, result)
        return result

    def record(self, op: str, overload: str, args: Any, kwargs: Mapping[str, Any], result: Any) -> None:
        if self.phase == "backward" and self.backward_modules is not None:
            module = self.backward_modules.current()
        else:
            module = self.modules.current
        self.events.append(
            OpEvent(
                op=op,
                overload=overload,
                args=tuple(_describe(arg) for arg in args),
                kwargs={key: _describe(value) for key, value in kwargs.items()},
                outputs=_outputs(result),
                module=module,
                phase=self.phase,
            )
        )


# Logical ops whose backward is captured as one logical op too (backward=True), because autograd's
# backward of them depends on the device as their forward does: attention's is the fused kernel's
# backward on CPU and CUDA but the math decomposition's (bmm, softmax backward, L x S matrices) on
# meta; RMS norm's is fused on some devices only. Per op: the backward's name, the names of its
# arguments in order (the tensors among them are differentiated), and whether the backward reads
# the forward's output (attention's does, for the softmax gradient).
LOGICAL_BACKWARD: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "aten.scaled_dot_product_attention": (
        "roofscope.scaled_dot_product_attention_backward",
        ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa"),
        True,
    ),
    "aten.rms_norm": ("roofscope.rms_norm_backward", ("input", "normalized_shape", "weight", "eps"), False),
}


class _LogicalBackward(torch.autograd.Function):
    """A logical op whose backward is recorded as one op, as a fused kernel runs it.

    The forward calls the op as it is. The backward records ``backward_name`` with the arguments
    (grad_output, the op's tensor arguments[, its output]) and, as keywords, the op's other
    arguments, ``tensor_names`` (the names of the tensor arguments) and ``output_mask`` (which of
    them get a gradient); it returns zero gradients of the right shapes: an analysis needs the
    shapes of the gradients, not their values (``capture`` puts every ``.grad`` back afterwards).
    """

    @staticmethod
    def forward(ctx: Any, recorder: _Recorder, backward: tuple[str, bool], func: Any, names: tuple[str, ...],
                options: dict[str, Any], *tensors: torch.Tensor) -> Any:
        ctx.recorder, ctx.backward, ctx.names, ctx.options = recorder, backward, names, options
        output = func(**dict(zip(names, tensors)), **options)
        ctx.save_for_backward(*tensors, output)
        return output

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> Any:
        *tensors, output = ctx.saved_tensors
        needs = ctx.needs_input_grad[5:]
        recorder = ctx.recorder
        recorder.inside_logical_op += 1  # making the zero gradients is not the model's work
        try:
            grads = [torch.zeros_like(t) if need else None for t, need in zip(tensors, needs)]
        finally:
            recorder.inside_logical_op -= 1
        name, reads_output = ctx.backward
        recorder.record(
            name,
            "default",
            (grad_output, *tensors, *((output,) if reads_output else ())),
            {**ctx.options, "tensor_names": ctx.names, "output_mask": tuple(bool(n) for n in needs)},
            tuple(g for g in grads if g is not None),
        )
        return (None, None, None, None, None, *grads)


def _bind(names: tuple[str, ...], args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[tuple[str, ...], list[Any], dict[str, Any]] | None:
    """(tensor argument names, their values, the other arguments), or None if the call does not fit."""
    bound = dict(zip(names, args))
    if len(args) > len(names) or any(key not in names or key in bound for key in kwargs):
        return None
    bound.update(kwargs)
    tensor_names = tuple(n for n in names if isinstance(bound.get(n), torch.Tensor))
    options = {n: v for n, v in bound.items() if n not in tensor_names}
    return tensor_names, [bound[n] for n in tensor_names], options


class _LogicalOps(TorchFunctionMode):
    def __init__(self, recorder: _Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = LOGICAL_OPS.get(func)
        recorder = self.recorder
        tracking = recorder.backward_modules is not None and recorder.phase == "forward"
        if name is None:
            result = func(*args, **kwargs)
        elif recorder.inside_logical_op:  # a logical op inside another: part of the outer one
            result = func(*args, **kwargs)
        else:

            def run(*args: Any, **kwargs: Any) -> Any:
                recorder.inside_logical_op += 1
                try:
                    if tracking and torch.is_grad_enabled():
                        return self._logical(func, name, args, kwargs)
                    return func(*args, **kwargs)
                finally:
                    recorder.inside_logical_op -= 1

            result = recorder.call((name, "default"), run, args, kwargs)
        if tracking:
            recorder.backward_modules.mark(result, recorder.modules.current)  # type: ignore[union-attr]
        return result

    def _logical(self, func: Any, name: str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        """A logical op in a capture with a backward: one whose backward is also one op goes
        through _LogicalBackward; the others (multi-head attention) run as they are, and their
        backward is what autograd runs on the device (the mode does not see the functions they call)."""
        backward = LOGICAL_BACKWARD.get(name)
        if backward is None:
            return func(*args, **kwargs)
        backward_name, names, reads_output = backward
        bound = _bind(names, args, kwargs)
        if bound is None or not any(t.requires_grad for t in bound[1]):
            return func(*args, **kwargs)
        tensor_names, tensors, options = bound
        return _LogicalBackward.apply(self.recorder, (backward_name, reads_output), func, tensor_names, options, *tensors)


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


def sum_of_outputs(output: Any) -> torch.Tensor:
    """The default loss of a backward analysis: the sum of every floating-point output tensor that
    requires grad (a ModelOutput, dict, list or tuple is searched; other values are skipped).

    Raises BackwardError when there is none, saying what the forward returned.
    """
    found: list[torch.Tensor] = []
    _floating_outputs(output, found)
    differentiable = [t for t in found if t.requires_grad]
    if not differentiable:
        returned = ", ".join(str(TensorMeta.of(t)) for t in _all_tensors(output)) or f"no tensor ({type(output).__name__})"
        if not found:
            raise BackwardError(f"the forward returned no floating-point tensor to differentiate (it returned {returned})")
        raise BackwardError(
            f"no output requires grad (the forward returned {returned}): the output depends on no parameter "
            "with requires_grad=True (the model has none, or they are frozen, or the forward detached them)"
        )
    loss = differentiable[0].sum()
    for tensor in differentiable[1:]:
        loss = loss + tensor.sum()
    return loss


def _floating_outputs(value: Any, found: list[torch.Tensor]) -> None:
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex():
            found.append(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            _floating_outputs(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _floating_outputs(item, found)


def _all_tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    items = value.values() if isinstance(value, Mapping) else value if isinstance(value, (list, tuple)) else ()
    return [t for item in items for t in _all_tensors(item)]


def capture(
    model: torch.nn.Module,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    loss: Callable[[Any], torch.Tensor] | None = None,
    grad: bool = False,
    fake_mode: Any = None,
) -> Capture:
    """Run ``model(*args, **kwargs)`` once and record every aten op with the module it ran in.

    ``loss``, if given, maps the forward's output to the tensor to differentiate (e.g.
    ``sum_of_outputs``); it runs in the forward phase, then ``loss.backward()`` runs under capture
    and its ops are recorded with ``phase="backward"``, each attributed to the module whose forward
    created the autograd node that ran it. Every parameter's ``.grad`` is put back as it was.
    ``fake_mode``, a FakeTensorMode, runs the forward on fake tensors. A ``BackwardError`` raised
    by ``loss`` is passed on as it is.
    """
    modules = _ModuleStack(model)
    guard = _Guard(model)
    rng = RandomState()
    recorder = _Recorder(modules, guard, _BackwardModules(model) if loss is not None else None)
    saved_grads = [(p, p.grad) for p in model.parameters()] if loss is not None else []
    grad_context = torch.enable_grad() if (grad or loss) else torch.no_grad()
    try:
        fake_context = fake_mode if fake_mode is not None else contextlib.nullcontext()
        with fake_context, grad_context, modules.installed(), recorder, _LogicalOps(recorder):
            output = model(*args, **kwargs)
            if loss is not None:
                modules.stack.clear()
                target = loss(output)
                recorder.phase = "backward"
                target.backward()
    except BackwardError:
        raise
    except Exception as error:
        if recorder.phase == "backward":
            raise CaptureError(
                f"the backward pass of {type(model).__name__} failed: {type(error).__name__}: {error}\n"
                f"inputs given: {_first_tensor_error_context(args, kwargs)}"
            ) from error
        raise CaptureError(_failure(modules, model, error, args, kwargs)) from error
    finally:
        guard.restore()
        rng.restore()
        for parameter, saved in saved_grads:
            parameter.grad = saved
    return Capture(recorder.events, modules.calls, modules.types)
