"""What capture records and formulas read: ``TensorMeta`` (a tensor's shape, strides and dtype) and
``OpEvent`` (one operator call), and ``iter_tensors``, the one walk over nested arguments.

Plain data: this module does not import torch (it reads the attributes of the tensors it is given)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import torch

__all__ = ["OpEvent", "TensorMeta", "iter_tensors"]

T = TypeVar("T")

#: Argument types that hold no tensor.
_SCALARS = frozenset({int, float, bool, str, type(None)})


def _local_shard(tensor: torch.Tensor) -> torch.Tensor | None:
    """A DTensor's local tensor (this rank's shard); None for any other tensor. Told by its type's
    name and module: this module imports no torch, and a model that is not distributed never loads
    ``torch.distributed``."""
    if type(tensor).__name__ == "DTensor" and type(tensor).__module__.startswith("torch.distributed.tensor"):
        local = getattr(tensor, "_local_tensor", None)
        return local if hasattr(local, "shape") else None
    return None


def iter_tensors(value: Any, kind: type[T]) -> Iterator[T]:
    """Every instance of ``kind`` (``TensorMeta``, ``torch.Tensor``) in ``value``, depth first: the
    value itself, the items of lists and tuples, the values of mappings (a ModelOutput is one)."""
    if isinstance(value, kind):
        yield value
    elif isinstance(value, (list, tuple)):
        # An op's arguments are mostly tensors and plain numbers: those are taken here rather than
        # through a generator each, which would make this walk a large part of an analysis.
        for item in value:
            if isinstance(item, kind):
                yield item
            elif type(item) not in _SCALARS:
                yield from iter_tensors(item, kind)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from iter_tensors(item, kind)


@dataclasses.dataclass(frozen=True, slots=True)
class TensorMeta:
    """Shape, strides and dtype of one tensor an op touched: all a formula may look at.

    ``values``: the contents of a small integer tensor whose values decide an op's work (the
    sequence offsets of packed attention), recorded for the few op arguments that need them and
    only where the tensor has data (not on meta or fake tensors); None otherwise.

    A nested jagged tensor (``torch.nested``, layout ``torch.jagged``) is described by its packed
    values, [total tokens, ...], so that its element count and bytes are exact, and ``lengths``
    holds its sequences' lengths; on meta and fake tensors, whose offsets have no values, each
    sequence is taken at the tensor's maximum length where it knows one (an upper bound), else None.

    A DTensor (``torch.distributed.tensor``) is described by its local shard, the tensor this rank
    holds: an analysis of a model parallelised with DTensor counts one GPU's work."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype
    #: Which buffer the tensor lives in, a number unique within one capture (a view has its base's);
    #: 0 when unknown. Not part of a tensor's description: two TensorMetas compare equal without it.
    buffer: int = dataclasses.field(default=0, compare=False)
    #: Where in its buffer the tensor starts, in elements (tells apart views such as a split's parts).
    offset: int = dataclasses.field(default=0, compare=False)
    values: tuple[int, ...] | None = None
    lengths: tuple[int, ...] | None = None  # a nested jagged tensor's sequence lengths, where known

    @classmethod
    def of(cls, tensor: torch.Tensor, buffer: int = 0) -> TensorMeta:
        local = _local_shard(tensor)
        if local is not None:
            tensor = local
        if tensor.is_nested:
            return cls._nested(tensor, buffer)
        offset = int(tensor.storage_offset()) if buffer else 0
        if not tensor._has_symbolic_sizes_strides:  # plain ints already, not converted one by one
            return cls(tuple(tensor.shape), tensor.stride(), tensor.dtype, buffer, offset)
        return cls(tuple(map(int, tensor.shape)), tuple(map(int, tensor.stride())), tensor.dtype, buffer, offset)

    @classmethod
    def _nested(cls, tensor: Any, buffer: int = 0) -> TensorMeta:
        """A nested jagged tensor as its packed values ([total, ...]: exactly the elements it holds),
        with its sequence lengths in ``lengths``."""
        values = tensor.values()
        offsets = tensor.offsets()
        lengths: tuple[int, ...] | None = None
        if offsets.device.type != "meta" and not type(offsets).__name__.startswith("Fake"):
            bounds = [int(v) for v in offsets.tolist()]
            lengths = tuple(end - start for start, end in itertools.pairwise(bounds))
        elif tensor._maybe_max_seqlen is not None:  # no values: every sequence at the longest, an upper bound
            lengths = (int(tensor._maybe_max_seqlen),) * (int(offsets.shape[0]) - 1)
        return cls(tuple(int(s) for s in values.shape), tuple(int(s) for s in values.stride()), values.dtype, buffer, lengths=lengths)

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
    entered: int = 0  # module calls (nn.Module.__call__) that began since the previous op

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        """An argument given positionally or by keyword."""
        if index < len(self.args):
            return self.args[index]
        return self.kwargs.get(name, default)

    @property
    def inputs(self) -> list[TensorMeta]:
        """Every tensor argument that is read (an ``out=`` tensor is written, not read)."""
        read = [*self.args, *(value for key, value in self.kwargs.items() if key != "out")]
        return list(iter_tensors(read, TensorMeta))

    @property
    def output(self) -> TensorMeta:
        return self.outputs[0]
