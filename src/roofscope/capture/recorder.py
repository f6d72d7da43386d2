"""The dispatch mode that records every aten op a forward (or backward) runs, as an OpEvent."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from roofscope.capture.guard import Guard
from roofscope.capture.modules import BackwardModules, ModuleStack
from roofscope.events import OpEvent, TensorMeta, iter_tensors

__all__ = ["VALUE_ARGUMENTS", "OpInfo", "Recorder", "describe", "describe_values"]

#: Op arguments whose integer values decide the op's work, recorded in ``TensorMeta.values``: the
#: cumulative sequence offsets of packed (variable-length) attention, per op the argument positions.
VALUE_ARGUMENTS: dict[str, tuple[int, ...]] = {
    "aten._flash_attention_forward": (3, 4),
    "aten._efficient_attention_forward": (4, 5),
    "aten._flash_attention_backward": (6, 7),
    "aten._efficient_attention_backward": (6, 7),
}


def describe(value: Any) -> Any:
    """An op argument as an OpEvent holds it: tensors as TensorMeta, symbolic ints as ints."""
    if isinstance(value, torch.Tensor):
        return TensorMeta.of(value)
    if isinstance(value, (list, tuple)):
        return tuple(describe(item) for item in value)
    if isinstance(value, torch.SymInt):
        return int(value)
    if isinstance(value, torch.ScriptObject) and value._has_method("unpack"):  # type: ignore[attr-defined]
        # a quantised layer's packed weights (torch.ao): (weight, bias) as stored, int8 and float
        return tuple(describe(item) for item in value.unpack())  # type: ignore[attr-defined]
    return value


def describe_values(value: Any) -> Any:
    """A small integer tensor with its values (``TensorMeta.values``) where it has data; else as ``describe``."""
    if isinstance(value, torch.Tensor) and not value.is_floating_point() and value.dim() == 1 and _has_data(value):
        return dataclasses.replace(TensorMeta.of(value), values=tuple(int(v) for v in value.tolist()))
    return describe(value)


def _has_data(tensor: torch.Tensor) -> bool:
    from torch._subclasses.fake_tensor import is_fake

    return tensor.device.type != "meta" and not is_fake(tensor)


@dataclasses.dataclass(frozen=True, slots=True)
class OpInfo:
    op: str  # "aten.mm"
    overload: str  # "default"
    composite: bool  # an aten op with a CompositeImplicitAutograd kernel (see __torch_dispatch__)
    writes: tuple[tuple[int, str], ...]  # (position, name) of each argument the schema marks written

    @classmethod
    def of(cls, func: Any) -> OpInfo:
        composite = func.namespace == "aten" and torch._C._dispatch_has_kernel_for_dispatch_key(
            func.name(), torch._C.DispatchKey.CompositeImplicitAutograd
        )
        writes = tuple(
            (index, argument.name)
            for index, argument in enumerate(func._schema.arguments)
            if argument.alias_info is not None and argument.alias_info.is_write
        )
        return cls(str(func.overloadpacket), func._overloadname, composite, writes)


class Recorder(TorchDispatchMode):
    def __init__(self, modules: ModuleStack, guard: Guard | None = None, backward_modules: BackwardModules | None = None) -> None:
        super().__init__()
        self.modules = modules
        self.guard = guard
        self.backward_modules = backward_modules
        self.events: list[OpEvent] = []
        self.inside_logical_op = 0
        self.phase = "forward"
        # Per OpOverload, what the recorder needs to know about it, looked up once: formatting the
        # packet's name or asking the dispatcher on every call is measurable.
        self._ops: dict[Any, OpInfo] = {}

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        info = self._ops.get(func)
        if info is None:
            info = self._ops[func] = OpInfo.of(func)
        if info.writes and self.guard is not None and self.guard.owners:
            for index, name in info.writes:
                self.guard.before_write(args[index] if index < len(args) else kwargs.get(name))
        # Under inference_mode the autograd keys are skipped, so composite ops (aten.linear,
        # aten.matmul, ...) arrive here whole; run their decomposition so that the same aten ops
        # are recorded as in any other mode. A nested tensor's composite ops are its own: it
        # implements them (aten.linear on a jagged tensor), and their decomposition would recurse.
        if info.composite and not any(isinstance(arg, torch.Tensor) and arg.is_nested for arg in args):
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
                args=_describe_args(op, args),
                kwargs={key: describe(value) for key, value in kwargs.items()},
                outputs=tuple(TensorMeta.of(t) for t in iter_tensors(result, torch.Tensor)),
                module=module,
                phase=self.phase,
            )
        )


def _describe_args(op: str, args: Any) -> tuple[Any, ...]:
    with_values = VALUE_ARGUMENTS.get(op)
    if with_values is None:
        return tuple(describe(arg) for arg in args)
    return tuple(describe_values(arg) if index in with_values else describe(arg) for index, arg in enumerate(args))
