"""The kernels a fusing compiler makes of a forward, estimated without compiling it.

What torch.compile's inductor does by default, in outline: matrix ops (matmul, convolution,
attention) stay library kernels (cuBLAS, cuDNN, flash attention); the ops between them that are
pointwise, reductions or normalisations, copies, gathers and pooling fuse into generated kernels;
views cost nothing. Here, consecutive fusible ops that share a buffer (one reads what another reads
or writes) form one kernel; a matrix op, an op of a user formula or an uncounted op ends a group.

A fused kernel reads each buffer it takes from outside the group once and writes each buffer it
produces that a later op reads (or the last group's outputs, the model's); its intermediates
neither reach memory nor are read back. Its FLOPs are its ops'. Its bytes are tensor sizes (in the
target precision), not the ops' own formulas: what is fused moves whole buffers. The one exception
is the table a gather looks rows up in (an embedding, ``index_select``, ``gather``, ``index``): the
kernel reads the rows it gathers, as the op's own formula counts them, not the whole table.

Each kernel's cost is also split among the ops it runs (``Group.parts``): every op keeps its own
MACs and FLOPs, a buffer read from outside the group is charged to the first op that reads it, a
buffer written is charged to the op that produced it, and the intermediates to no one; the parts
sum to the kernel's cost. A caller may keep ops out of every group (``keep``): each is its own kernel.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

from roofscope.cost import Cost
from roofscope.events import OpEvent, TensorMeta
from roofscope.precision import Precision, target_nbytes

__all__ = ["FUSIBLE_FAMILIES", "GATHERS", "Group", "fuse_groups"]

#: Ops that read only the rows they look up in their first argument, the table.
GATHERS = frozenset(
    {
        "aten.embedding",
        "aten._embedding_bag",
        "aten._embedding_bag_forward_only",
        "aten.index_select",
        "aten.gather",
        "aten.index",
        "aten._unsafe_index",
        "aten.take",
        "aten.take_along_dim",
    }
)

#: Op families a fusing compiler generates kernels for (and fuses with each other).
FUSIBLE_FAMILIES = frozenset({"pointwise", "reduction", "softmax", "loss", "norm", "pooling", "memory", "embedding", "resize", "shape"})


@dataclasses.dataclass(frozen=True)
class Group:
    """One kernel: the indices of the ops it runs, the event and cost it runs as, and each
    member's part of that cost (``parts``, in ``members`` order; they sum to ``cost``)."""

    members: tuple[int, ...]
    event: OpEvent
    cost: Cost
    family: str
    parts: tuple[Cost, ...] = ()


def _nbytes(tensor: TensorMeta, precision: Precision | None) -> int:
    return target_nbytes(tensor, precision.activations) if precision is not None else tensor.nbytes


def fuse_groups(
    ops: Sequence[tuple[OpEvent, Cost | None, str]], precision: Precision | None, *, keep: Collection[int] = (), across: bool = False
) -> list[Group]:
    """The kernels of the forward: each matrix (or unfusible) op alone, each run of fusible ops
    joined by the buffers they share as one. Ops without a cost are left out; the ops at the
    indices in ``keep`` are unfusible ones here. ``across``: an unfusible op that neither reads
    what the open group wrote nor writes what it touched leaves the group open (the kernel can run
    after it), so that SiLU(gate) joins the product with the up projection that follows it."""
    runs: list[list[int]] = []
    current: list[int] = []
    touched: set[int] = set()
    wrote: set[int] = set()
    for index, (event, cost, family) in enumerate(ops):
        if cost is None:
            continue
        if not cost.flops and not cost.bytes:  # a view: no kernel, fused or not
            runs.append([index])
            continue
        buffers = {t.buffer for t in (*event.inputs, *event.outputs) if t.buffer}
        if family not in FUSIBLE_FAMILIES or index in keep:
            outputs = {t.buffer for t in event.outputs if t.buffer}
            if current and not (across and not (buffers & wrote) and not (outputs & touched)):
                runs.append(current)
                current, touched, wrote = [], set(), set()
            runs.append([index])
            continue
        if current and not (buffers & touched):
            runs.append(current)
            current, touched, wrote = [], set(), set()
        current.append(index)
        touched |= buffers
        wrote |= {t.buffer for t in event.outputs if t.buffer}
    if current:
        runs.append(current)
    later_reads = _later_reads(ops)
    last = max((i for i, (_, cost, _) in enumerate(ops) if cost is not None), default=-1)
    groups = []
    for members in runs:
        event, cost, family = ops[members[0]]
        assert cost is not None
        if len(members) == 1 and (family not in FUSIBLE_FAMILIES or members[0] in keep or not (cost.flops or cost.bytes)):
            groups.append(Group((members[0],), event, cost, family, (cost,)))
            continue
        groups.append(_fused(ops, members, later_reads, last, precision))
    return groups


def _read_nbytes(views: list[TensorMeta], precision: Precision | None) -> int:
    """Bytes of the views of one buffer a kernel reads, each element once: the views' bytes, scaled
    down to the span of the buffer they cover together where they overlap (a rotation's halves of a
    tensor the kernel also reads whole)."""
    total = sum(_nbytes(tensor, precision) for tensor in views)
    elements = sum(tensor.addressed_elements for tensor in views)
    covered, end = 0, None
    for start, stop in sorted(_span(tensor) for tensor in views):
        if end is None or start >= end:
            covered += stop - start
            end = stop
        elif stop > end:
            covered += stop - end
            end = stop
    return total * covered // elements if elements and covered < elements else total


def _span(tensor: TensorMeta) -> tuple[int, int]:
    """The elements of its buffer a tensor lies within: [first, last + 1)."""
    low = high = tensor.offset
    for size, stride in zip(tensor.shape, tensor.stride):
        reach = (size - 1) * stride if size else 0
        low, high = (low + reach, high) if reach < 0 else (low, high + reach)
    return low, high + 1


def _later_reads(ops: Sequence[tuple[OpEvent, Cost | None, str]]) -> dict[int, int]:
    """Per buffer, the index of the last op that reads it."""
    last: dict[int, int] = {}
    for index, (event, _, _) in enumerate(ops):
        for tensor in event.inputs:
            if tensor.buffer:
                last[tensor.buffer] = index
    return last


def _fused(
    ops: Sequence[tuple[OpEvent, Cost | None, str]], members: list[int], later_reads: dict[int, int], last: int, precision: Precision | None
) -> Group:
    written: dict[int, tuple[int, TensorMeta]] = {}  # buffer -> (the member that wrote it, its largest tensor)
    read: dict[tuple[int, int, tuple[int, ...], tuple[int, ...]], tuple[int, TensorMeta]] = {}
    unnamed_reads: list[tuple[int, TensorMeta]] = []
    gathered = [0] * len(members)  # per member, the rows a gather reads of its table
    for position, index in enumerate(members):
        event, cost, _ = ops[index]
        assert cost is not None
        tensors = event.inputs
        if event.op in GATHERS and tensors and tensors[0].buffer not in written:
            tensors = tensors[1:]  # the table: only the gathered rows are read
            gathered[position] = cost.bytes_read - sum(_nbytes(t, precision) for t in tensors)
        for tensor in tensors:
            if not tensor.buffer:
                unnamed_reads.append((position, tensor))
            elif tensor.buffer not in written:
                read.setdefault((tensor.buffer, tensor.offset, tensor.shape, tensor.stride), (position, tensor))
        for tensor in event.outputs:
            if tensor.buffer:
                previous = written.get(tensor.buffer)
                if previous is None or tensor.nbytes > previous[1].nbytes:
                    written[tensor.buffer] = (position, tensor)
    end = members[-1]
    kept = [
        (position, tensor)
        for buffer, (position, tensor) in written.items()
        if later_reads.get(buffer, -1) > end or (end == last and any(t.buffer == buffer for t in ops[end][0].outputs))
    ]
    inputs = [*read.values(), *unnamed_reads]
    reads = gathered
    writes = [0] * len(members)
    views: dict[int, list[tuple[int, TensorMeta]]] = {}
    for position, tensor in read.values():
        views.setdefault(tensor.buffer, []).append((position, tensor))
    for found in views.values():
        reads[found[0][0]] += _read_nbytes([tensor for _, tensor in found], precision)
    for position, tensor in unnamed_reads:
        reads[position] += _nbytes(tensor, precision)
    for position, tensor in kept:
        writes[position] += _nbytes(tensor, precision)
    parts = []
    for position, index in enumerate(members):
        own = ops[index][1]
        assert own is not None
        parts.append(Cost(own.macs, own.flops, reads[position], writes[position]))
    event = dataclasses.replace(
        ops[members[0]][0],
        op="roofscope.fused",
        overload="default",
        args=tuple(tensor for _, tensor in inputs),
        kwargs={},
        outputs=tuple(tensor for _, tensor in kept),
        entered=sum(ops[i][0].entered for i in members),
    )
    cost = Cost(sum(p.macs for p in parts), sum(p.flops for p in parts), sum(reads), sum(writes))
    return Group(tuple(members), event, cost, "fused", tuple(parts))
