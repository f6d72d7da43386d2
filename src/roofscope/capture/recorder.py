"""The dispatch mode that records every aten op a forward (or backward) runs, as an OpEvent."""

from __future__ import annotations

import dataclasses
import functools
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from roofscope.capture.guard import Guard
from roofscope.capture.modules import BackwardModules, ModuleStack
from roofscope.events import OpEvent, TensorMeta, iter_tensors

__all__ = ["VALUE_ARGUMENTS", "Buffers", "OpInfo", "Recorder", "describe", "describe_values"]

#: Op arguments whose integer values decide the op's work, recorded in ``TensorMeta.values``: the
#: cumulative sequence offsets of packed (variable-length) attention, per op the argument positions.
VALUE_ARGUMENTS: dict[str, tuple[int, ...]] = {
    "aten._flash_attention_forward": (3, 4),
    "aten._efficient_attention_forward": (4, 5),
    "aten._flash_attention_backward": (6, 7),
    "aten._efficient_attention_backward": (6, 7),
}


#: Argument types kept as they are. Most of an op's arguments are of these (strides, paddings, dims,
#: flags), and recognising them by exact type first keeps recording an op cheap.
_PLAIN_TYPES = frozenset({int, float, bool, str, type(None), torch.dtype, torch.device, torch.layout, torch.memory_format})


def describe(value: Any, buffers: Buffers | None = None) -> Any:
    """An op argument as an OpEvent holds it: tensors as TensorMeta (with their buffer's number
    when ``buffers`` numbers them), symbolic ints as ints."""
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return value
    if isinstance(value, torch.Tensor):
        return TensorMeta.of(value, buffers.of(value) if buffers is not None else 0)
    if isinstance(value, (list, tuple)):
        if _PLAIN_TYPES.issuperset(map(type, value)):
            return tuple(value)
        return tuple(describe(item, buffers) for item in value)
    if isinstance(value, torch.SymInt):
        return int(value)
    if isinstance(value, torch.ScriptObject) and value._has_method("unpack"):  # type: ignore[attr-defined]
        # a quantised layer's packed weights (torch.ao): (weight, bias) as stored, int8 and float
        return tuple(describe(item, buffers) for item in value.unpack())  # type: ignore[attr-defined]
    return value


class Buffers:
    """A number for each buffer the run's tensors live in, so that the prediction can follow data
    from the op that writes it to the ops that read it. A view has its base's number: views made
    by an op are recognised by their ``_base``. Numbers are kept by the tensor's identity, checked
    with a weak reference, so a freed tensor's reused address gets a new number."""

    def __init__(self) -> None:
        self._numbers: dict[int, tuple[weakref.ref[torch.Tensor], int]] = {}
        self._count = 0

    def of(self, tensor: torch.Tensor) -> int:
        base = tensor._base
        if base is not None:
            tensor = base
        entry = self._numbers.get(id(tensor))
        if entry is not None and entry[0]() is tensor:
            return entry[1]
        self._count += 1
        self._numbers[id(tensor)] = (weakref.ref(tensor), self._count)
        return self._count


def describe_values(value: Any, buffers: Buffers | None = None) -> Any:
    """A small integer tensor with its values (``TensorMeta.values``) where it has data; else as ``describe``."""
    if isinstance(value, torch.Tensor) and not value.is_floating_point() and value.dim() == 1 and _has_data(value):
        return dataclasses.replace(describe(value, buffers), values=tuple(int(v) for v in value.tolist()))
    return describe(value, buffers)


def _has_data(tensor: torch.Tensor) -> bool:
    from torch._subclasses.fake_tensor import is_fake

    return tensor.device.type != "meta" and not is_fake(tensor)


@dataclasses.dataclass(frozen=True, slots=True)
class OpInfo:
    op: str  # "aten.mm"
    overload: str  # "default"
    composite: bool  # an aten op with a CompositeImplicitAutograd kernel (see __torch_dispatch__)
    writes: tuple[tuple[int, str], ...]  # (position, name) of each argument the schema marks written
    #: Per return, the position of the argument it is a view of or writes into (None: new memory);
    #: a single return that is a list of tensors: the argument each of them views.
    aliases: tuple[int | None, ...] = ()
    aliased: bool = False  # some return is a view of, or written into, an argument
    #: an aten or prims op that returns new tensors, shaped by nothing but its arguments' shapes,
    #: strides, dtypes and values: on meta tensors, a repeated call's outputs can be made afresh
    #: (``_MetaResults``)
    pure: bool = False

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
        sets: dict[frozenset[str], int] = {}
        # A list of views (split, chunk, unbind: "Tensor(a -> *) self -> Tensor(a)[]") shows no set
        # on the list itself: its tensors alias the argument whose set goes to the wildcard.
        wildcard = None
        for index, argument in enumerate(func._schema.arguments):
            if argument.alias_info is not None:
                sets[frozenset(argument.alias_info.before_set)] = index
                if wildcard is None and "*" in argument.alias_info.after_set:
                    wildcard = index
        aliases = tuple(
            (sets.get(frozenset(ret.alias_info.before_set)) if ret.alias_info.before_set else wildcard)
            if ret.alias_info is not None
            else None
            for ret in func._schema.returns
        )
        aliased = any(a is not None for a in aliases)
        pure = (
            func.namespace in ("aten", "prims")
            and not (composite or writes or aliased or _IMPURE.intersection(func.tags))
            and bool(func._schema.returns)
            and all(isinstance(ret.type, torch._C.TensorType) for ret in func._schema.returns)
        )
        return cls(str(func.overloadpacket), func._overloadname, composite, writes, aliases, aliased, pure)


#: Tags of ops whose outputs a call's arguments do not decide: random draws, and outputs whose shape
#: depends on the values (which a meta tensor does not have).
_IMPURE = frozenset({torch.Tag.nondeterministic_seeded, torch.Tag.dynamic_output_shape, torch.Tag.data_dependent_output})


class _MetaResults:
    """The outputs of meta kernels run so far, by call, to make a repeated call's outputs afresh.

    Many meta kernels are Python decompositions that cost hundreds of microseconds a call (batch
    norm, layer norm, softmax, GELU, where a CPU kernel of the same op takes a fraction of that),
    and a model calls them again and again on the same shapes: each block of a stack of identical
    blocks. aten's meta kernels read nothing but their arguments' shapes, strides, dtypes and
    storage offsets, the values of the other arguments and the default dtype, so for a pure op
    (``OpInfo.pure``) on plain meta tensors, the same signature gives outputs of the same shapes,
    strides and dtypes: new, empty tensors of that description are what the kernel would have
    returned. A user's custom op is not pure in this sense: its meta kernel may read anything.
    """

    def __init__(self) -> None:
        #: per signature: whether the op returned one tensor, and (shape, stride, dtype) of each
        #: output, None for an undefined one (a gradient a backward op was told not to compute)
        self._outputs: dict[tuple[Any, ...], tuple[bool, tuple[tuple[tuple[int, ...], tuple[int, ...], torch.dtype] | None, ...]]] = {}

    def call(self, key: tuple[Any, ...], func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        known = self._outputs.get(key)
        if known is not None:
            single, described = known
            outputs = tuple(None if d is None else _EMPTY_STRIDED(d[0], d[1], dtype=d[2], device=_META) for d in described)
            return outputs[0] if single else outputs
        result = func(*args, **kwargs)
        single = isinstance(result, torch.Tensor)
        outputs = (result,) if single else result
        if isinstance(outputs, tuple) and _fresh(outputs, args, kwargs):
            self._outputs[key] = (single, tuple(None if o is None else (tuple(o.shape), o.stride(), o.dtype) for o in outputs))
        return result


_META = torch.device("meta")
_EMPTY_STRIDED = torch.ops.aten.empty_strided.default


def _fresh(outputs: tuple[Any, ...], args: Any, kwargs: Any) -> bool:
    """Whether empty_strided on meta makes the same outputs again: each output is None (an
    undefined gradient) or a plain meta tensor at the start of a storage of its own (none of the
    inputs', nor another output's), with no lazy negation or conjugation, and not a zero tensor."""
    tensors = [output for output in outputs if output is not None]
    for tensor in tensors:
        if not (type(tensor) is torch.Tensor and _plain_meta(tensor) and not tensor._is_view() and tensor.storage_offset() == 0):
            return False
    storages = {tensor.untyped_storage()._cdata for tensor in tensors}
    inputs = {tensor.untyped_storage()._cdata for tensor in iter_tensors([args, kwargs], torch.Tensor)}
    return bool(tensors) and len(storages) == len(tensors) and storages.isdisjoint(inputs)


def _plain_meta(tensor: torch.Tensor) -> bool:
    """A strided meta tensor whose description is all there is to it: no lazy negation or
    conjugation, not a zero tensor."""
    return bool(tensor.is_meta and tensor.layout == torch.strided and not (tensor.is_neg() or tensor.is_conj() or tensor._is_zerotensor()))


#: Per OpOverload, what the recorder needs to know about it, looked up once per process: formatting
#: the packet's name or asking the dispatcher on every call is measurable, and an op's schema and
#: kernels do not change while it exists. Keyed by the overload's id (an OpOverload hashes in
#: Python, on every op), with the overload kept beside its info so that the id stays its own.
_OP_INFO: dict[int, tuple[Any, OpInfo]] = {}


class Recorder(TorchDispatchMode):
    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps a mode's __torch_dispatch__ in torch._disable_dynamo unless this says not
        # to, which costs on every op about as much again as the mode's own dispatch. It keeps
        # dynamo from compiling inside the mode; a capture runs compiled code eagerly
        # (``session``), so there is nothing for it to keep out.
        return False

    def __init__(self, modules: ModuleStack, guard: Guard | None = None, backward_modules: BackwardModules | None = None) -> None:
        super().__init__()
        self.modules = modules
        self.guard = guard
        self.backward_modules = backward_modules
        self.events: list[OpEvent] = []
        self.buffers = Buffers()
        self._aliases: tuple[int | None, ...] = ()  # of the aten op being recorded (OpInfo.aliases)
        self.inside_logical_op = 0
        self.phase = "forward"
        # Each tensor's TensorMeta, by id, kept while the tensor lives (the weak reference tells a
        # reused id apart): most tensors are an op's output and then the next ops' input, and
        # reading shape and strides again costs more than the rest of recording an op. An output is
        # always described afresh, and an argument an op writes is forgotten before the op runs, so
        # an op that changes a tensor's shape in place (unsqueeze_, resize_) is seen as it leaves it.
        self._described: dict[int, tuple[weakref.ref[torch.Tensor], TensorMeta]] = {}
        self._meta_results = _MetaResults()
        self._on_meta = False  # of the call whose signature is being taken: a meta tensor or device seen

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        known = _OP_INFO.get(id(func))
        if known is None or known[0] is not func:
            known = _OP_INFO[id(func)] = (func, OpInfo.of(func))
        info = known[1]
        if info.writes:
            for index, name in info.writes:
                written = args[index] if index < len(args) else kwargs.get(name)
                for tensor in iter_tensors(written, torch.Tensor):
                    self._described.pop(id(tensor), None)
                if self.guard is not None and self.guard.owners:
                    self.guard.before_write(written)
        # Under inference_mode the autograd keys are skipped, so composite ops (aten.linear,
        # aten.matmul, ...) arrive here whole; run their decomposition so that the same aten ops
        # are recorded as in any other mode. A nested tensor's composite ops are its own: it
        # implements them (aten.linear on a jagged tensor), and their decomposition would recurse.
        if info.composite and not any(isinstance(arg, torch.Tensor) and arg.is_nested for arg in args):
            with self:
                decomposed = func.decompose(*args, **kwargs)
            if decomposed is not NotImplemented:
                return decomposed
        if info.pure:
            key = self._signature(func, args, kwargs)
            if key is not None:
                func = functools.partial(self._meta_results.call, key, func)
        if self.inside_logical_op:
            return func(*args, **kwargs)
        if info.aliased:
            self._aliases = info.aliases
        return self.call((info.op, info.overload), func, args, kwargs)

    def call(self, names: tuple[str, str], func: Callable[..., Any], args: Any, kwargs: Mapping[str, Any]) -> Any:
        """Run one recorded op (an aten op, or a whole logical op) and record it. The only place an
        op the analysis sees is executed: ``roofscope.measure`` overrides it to time each op."""
        result = func(*args, **kwargs)
        self.record(*names, args, kwargs, result)
        return result

    def _signature(self, func: Any, args: Any, kwargs: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """What a meta kernel may read of a call (``_MetaResults``), or None where the call is not
        on meta (no meta tensor among its arguments, nor the meta device: a real kernel is run
        every time), some tensor is not a plain meta tensor, or some argument is of a kind that is
        not compared by value."""
        # the op stays alive in _OP_INFO; the default dtype is what a Python float makes of an
        # integer tensor (type promotion)
        parts: list[Any] = [id(func), torch.get_default_dtype()]
        self._on_meta = False
        for value in (*args, *kwargs.values()):
            part = self._signature_part(value)
            if part is None:
                return None
            parts.append(part)
        if not self._on_meta:
            return None
        if kwargs:
            parts.append(tuple(kwargs))
        return tuple(parts)

    def _signature_part(self, value: Any) -> Any:
        kind = type(value)
        if kind in _PLAIN_TYPES:
            if kind is torch.device and value.type == "meta":
                self._on_meta = True
            return kind, value  # by type too: 1, 1.0 and True are equal keys, but not the same argument
        if kind is torch.Tensor or kind is torch.nn.Parameter:
            if not _plain_meta(value):
                return None
            self._on_meta = True
            # read from the tensor, not from what is known of it: .data = ... changes a tensor's
            # shape without an op the recorder sees
            return tuple(value.shape), value.stride(), value.dtype, value.storage_offset()
        if kind is list or kind is tuple:
            parts = tuple(map(self._signature_part, value))
            return None if any(part is None for part in parts) else (kind, parts)
        return None

    def _output_buffers(self, args: Any, results: tuple[torch.Tensor, ...]) -> list[int]:
        """The buffer of each output: a view's or an in-place op's is its argument's (the op's
        schema says which; ``_base`` is not set yet where the recorder sees the output)."""
        aliases, self._aliases = self._aliases, ()
        numbers = []
        for position, tensor in enumerate(results):
            source = aliases[position] if position < len(aliases) else aliases[0] if len(aliases) == 1 else None
            if source is not None and source < len(args) and isinstance(args[source], torch.Tensor):
                numbers.append(self.buffers.of(args[source]))
            else:
                numbers.append(self.buffers.of(tensor))
        return numbers

    def _argument(self, value: Any) -> Any:
        """``describe(value)``, with a tensor's TensorMeta taken from what is known of it."""
        if type(value) in _PLAIN_TYPES:
            return value
        if not isinstance(value, torch.Tensor):
            return describe(value, self.buffers)
        known = self._described.get(id(value))
        if known is not None and known[0]() is value:
            return known[1]
        return self._output(value, self.buffers.of(value))

    def _output(self, tensor: torch.Tensor, buffer: int) -> TensorMeta:
        meta = TensorMeta.of(tensor, buffer)
        self._described[id(tensor)] = (weakref.ref(tensor), meta)
        return meta

    def record(self, op: str, overload: str, args: Any, kwargs: Mapping[str, Any], result: Any) -> None:
        if self.phase == "backward" and self.backward_modules is not None:
            module = self.backward_modules.current()
        else:
            module = self.modules.current
        results = (result,) if isinstance(result, torch.Tensor) else tuple(iter_tensors(result, torch.Tensor))
        outputs = tuple(map(self._output, results, self._output_buffers(args, results)))
        with_values = VALUE_ARGUMENTS.get(op)
        if with_values is None:
            arguments = tuple(map(self._argument, args))
        else:
            arguments = tuple(describe_values(arg, self.buffers) if i in with_values else self._argument(arg) for i, arg in enumerate(args))
        self.events.append(
            OpEvent(
                op=op,
                overload=overload,
                args=arguments,
                kwargs={key: self._argument(value) for key, value in kwargs.items()} if kwargs else {},
                outputs=outputs,
                module=module,
                phase=self.phase,
                entered=self.modules.entered(),
            )
        )
