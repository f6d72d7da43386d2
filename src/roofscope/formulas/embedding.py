"""Embedding lookups.

embedding: a gather of rows, 0 FLOPs. Bytes read = the indices plus only the rows looked up
(output elements * element size), not the whole table; bytes written = the output.
embedding_bag: the looked-up rows are reduced per bag: sum and max (n_indices - n_bags) * dim,
mean n_indices * dim (the adds and one divide per output element), plus n_indices * dim multiplies
with per-sample weights. Bytes as for embedding, the rows read once per index.
"""

from __future__ import annotations

from roofscope.cost import Cost
from roofscope.events import OpEvent
from roofscope.formulas._registry import Family

__all__ = ["embedding", "embedding_backward", "embedding_bag"]

family = Family("embedding")


@family("aten.embedding")
def embedding(event: OpEvent) -> Cost:
    """(weight, indices, ...): the gathered rows are read, the output written."""
    indices, out = event.args[1], event.output
    return Cost(0, 0, indices.nbytes + out.numel * out.itemsize, out.nbytes)


@family("aten._embedding_bag", "aten._embedding_bag_forward_only")
def embedding_bag(event: OpEvent) -> Cost:
    """(weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights, ...); mode
    0 = sum, 1 = mean, 2 = max."""
    weight, indices, offsets = event.args[0], event.args[1], event.args[2]
    dim = weight.shape[1]
    looked_up = indices.numel * dim
    bags = event.output.shape[0]
    mode = event.arg(4, "mode", 0)
    flops = looked_up if mode == 1 else looked_up - bags * dim
    per_sample = event.arg(6, "per_sample_weights")
    flops += looked_up if per_sample is not None else 0
    bytes_read = indices.nbytes + offsets.nbytes + looked_up * weight.itemsize
    bytes_read += per_sample.nbytes if per_sample is not None else 0
    return Cost(0, max(flops, 0), bytes_read, sum(t.nbytes for t in event.outputs))


@family("aten.embedding_dense_backward")
def embedding_backward(event: OpEvent) -> Cost:
    """(grad_out, indices, num_weights, ...): each gradient row is added into the weight gradient."""
    grad = event.args[0]
    return Cost(0, grad.numel, grad.nbytes + event.args[1].nbytes, event.output.nbytes)
