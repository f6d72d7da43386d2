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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

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
FUSIBLE_FAMILIES = frozenset({"pointwise", "reduction", "softmax", "norm", "pooling", "memory", "embedding", "resize", "shape"})


@dataclasses.dataclass(frozen=True)
class Group:
    """One kernel: the indices of the ops it runs, the event and cost it runs as."""

    members: tuple[int, ...]
    event: OpEvent
    cost: Cost
    family: str


def _nbytes(tensor: TensorMeta, precision: Precision | None) -> int:
    return target_nbytes(tensor, precision.activations) if precision is not None else tensor.nbytes


def fuse_groups(ops: Sequence[tuple[OpEvent, Cost | None, str]], precision: Precision | None) -> list[Group]:
    """The kernels of the forward: each matrix (or unfusible) op alone, each run of fusible ops
    joined by the buffers they share as one. Ops without a cost are left out."""
    runs: list[list[int]] = []
    current: list[int] = []
    touched: set[int] = set()
    for index, (event, cost, family) in enumerate(ops):
        if cost is None:
            continue
        if not cost.flops and not cost.bytes:  # a view: no kernel, fused or not
            runs.append([index])
            continue
        buffers = {t.buffer for t in (*event.inputs, *event.outputs) if t.buffer}
        if family not in FUSIBLE_FAMILIES:
            if current:
                runs.append(current)
            runs.append([index])
            current, touched = [], set()
            continue
        if current and not (buffers & touched):
            runs.append(current)
            current, touched = [], set()
        current.append(index)
        touched |= buffers
    if current:
        runs.append(current)
    later_reads = _later_reads(ops)
    last = max((i for i, (_, cost, _) in enumerate(ops) if cost is not None), default=-1)
    groups = []
    for members in runs:
        event, cost, family = ops[members[0]]
        assert cost is not None
        if len(members) == 1 and (family not in FUSIBLE_FAMILIES or not (cost.flops or cost.bytes)):
            groups.append(Group((members[0],), event, cost, family))
            continue
        groups.append(_fused(ops, members, later_reads, last, precision))
    return groups


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
    written: dict[int, TensorMeta] = {}
    read: dict[tuple[int, int, tuple[int, ...], tuple[int, ...]], TensorMeta] = {}
    unnamed_reads: list[TensorMeta] = []
    macs = flops = gathered = 0
    for index in members:
        event, cost, _ = ops[index]
        assert cost is not None
        macs += cost.macs
        flops += cost.flops
        reads = event.inputs
        if event.op in GATHERS and reads and reads[0].buffer not in written:
            reads = reads[1:]  # the table: only the gathered rows are read
            gathered += cost.bytes_read - sum(_nbytes(t, precision) for t in reads)
        for tensor in reads:
            if not tensor.buffer:
                unnamed_reads.append(tensor)
            elif tensor.buffer not in written:
                read.setdefault((tensor.buffer, tensor.offset, tensor.shape, tensor.stride), tensor)
        for tensor in event.outputs:
            if tensor.buffer:
                previous = written.get(tensor.buffer)
                if previous is None or tensor.nbytes > previous.nbytes:
                    written[tensor.buffer] = tensor
    end = members[-1]
    kept = [
        tensor
        for buffer, tensor in written.items()
        if later_reads.get(buffer, -1) > end or (end == last and any(t.buffer == buffer for t in ops[end][0].outputs))
    ]
    inputs = (*read.values(), *unnamed_reads)
    event = dataclasses.replace(
        ops[members[0]][0],
        op="roofscope.fused",
        overload="default",
        args=inputs,
        kwargs={},
        outputs=tuple(kept),
        entered=sum(ops[i][0].entered for i in members),
    )
    cost = Cost(macs, flops, gathered + sum(_nbytes(t, precision) for t in inputs), sum(_nbytes(t, precision) for t in kept))
    return Group(tuple(members), event, cost, "fused")
