"""The dispatch mode that records every aten op a forward (or backward) runs, as an OpEvent."""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from roofscope.capture.guard import Guard
from roofscope.capture.modules import BackwardModules, ModuleStack
from roofscope.events import OpEvent, TensorMeta, iter_tensors

__all__ = ["OpInfo", "Recorder", "describe"]


def describe(value: Any) -> Any:
    """An op argument as an OpEvent holds it: tensors as TensorMeta, symbolic ints as ints."""
    if isinstance(value, torch.Tensor):
        return TensorMeta.of(value)
    if isinstance(value, (list, tuple)):
        return tuple(describe(item) for item in value)
    if isinstance(value, torch.SymInt):
        return int(value)
    return value


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


#: Per OpOverload, what the recorder needs to know about it, looked up once per process: formatting
#: the packet's name or asking the dispatcher on every call is measurable, and an op's schema and
#: kernels do not change while it exists.
_OP_INFO: dict[Any, OpInfo] = {}


class Recorder(TorchDispatchMode):
    def __init__(self, modules: ModuleStack, guard: Guard | None = None, backward_modules: BackwardModules | None = None) -> None:
        super().__init__()
        self.modules = modules
        self.guard = guard
        self.backward_modules = backward_modules
        self.events: list[OpEvent] = []
        self.inside_logical_op = 0
        self.phase = "forward"
        # Each tensor's TensorMeta, by id, kept while the tensor lives (the weak reference tells a
        # reused id apart): most tensors are an op's output and then the next ops' input, and
        # reading shape and strides again costs more than the rest of recording an op. An output is
        # always described afresh, and an argument an op writes is forgotten before the op runs, so
        # an op that changes a tensor's shape in place (unsqueeze_, resize_) is seen as it leaves it.
        self._described: dict[int, tuple[weakref.ref[torch.Tensor], TensorMeta]] = {}

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        info = _OP_INFO.get(func)
        if info is None:
            info = _OP_INFO[func] = OpInfo.of(func)
        if info.writes:
            for index, name in info.writes:
                written = args[index] if index < len(args) else kwargs.get(name)
                for tensor in iter_tensors(written, torch.Tensor):
                    self._described.pop(id(tensor), None)
                if self.guard is not None and self.guard.owners:
                    self.guard.before_write(written)
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

    def _argument(self, value: Any) -> Any:
        """``describe(value)``, with a tensor's TensorMeta taken from what is known of it."""
        if not isinstance(value, torch.Tensor):
            return describe(value)
        known = self._described.get(id(value))
        if known is not None and known[0]() is value:
            return known[1]
        return self._output(value)

    def _output(self, tensor: torch.Tensor) -> TensorMeta:
        meta = TensorMeta.of(tensor)
        self._described[id(tensor)] = (weakref.ref(tensor), meta)
        return meta

    def record(self, op: str, overload: str, args: Any, kwargs: Mapping[str, Any], result: Any) -> None:
        if self.phase == "backward" and self.backward_modules is not None:
            module = self.backward_modules.current()
        else:
            module = self.modules.current
        argument = self._argument
        if type(result) is torch.Tensor:  # the common case: one plain tensor out
            outputs: tuple[TensorMeta, ...] = (self._output(result),)
        else:
            outputs = tuple(map(self._output, iter_tensors(result, torch.Tensor)))
        self.events.append(
            OpEvent(
                op,
                overload,
                tuple(map(argument, args)),
                {key: argument(value) for key, value in kwargs.items()} if kwargs else {},
                outputs,
                module,
                self.phase,
            )
        )
