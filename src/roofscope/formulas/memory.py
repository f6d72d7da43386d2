"""Data movement: copies, concatenation, padding, indexing, and ops that create tensors.

All count 0 FLOPs (they move or produce data, they do no arithmetic), except the accumulating index
ops (index_add, scatter_add, index_put with accumulate), which add one FLOP per source element.
Bytes:
  copies, concatenation, padding, flips, rolls, masks: every input read once, output written once.
  copy_(dst, src): src read, dst written. fill_ and zero_: the tensor written.
  gathers (index_select, gather, index, _unsafe_index): the index tensors plus only the gathered
    elements (output size) read; output written.
  scatters into a tensor in place (index_put_, scatter_, index_add_ ...): the indices and source
    read (and, when accumulating, the updated elements of the target), the updated elements written.
  creation (zeros, ones, full, arange, rand, randn, ...): the output written; random number
    generation is not counted as FLOPs. empty and friends allocate and move nothing.
  item() (_local_scalar_dense): one element read.
  backward of views (slice_backward, select_backward): the gradient of a view is the incoming
    gradient placed into a zero tensor of the input's shape: grad read, the whole output written.
"""

from __future__ import annotations

from roofscope.cost import Cost
from roofscope.events import OpEvent, TensorMeta
from roofscope.formulas._registry import Family, with_io

__all__ = ["copy", "copy_into", "create", "fill", "gather", "item", "scatter", "view_backward"]

family = Family("memory")


def _copy_names() -> list[str]:
    names = [
        "clone",
        "_to_copy",
        "cat",
        "stack",
        "hstack",
        "vstack",
        "repeat",
        "repeat_interleave",
        "constant_pad_nd",
        "flip",
        "roll",
        "rot90",
        "tril",
        "triu",
        "masked_select",
        "nonzero",
        "lift_fresh_copy",
        "index_put",
        "scatter",
        "masked_scatter",
        "_pdist_forward",
        "expand_copy",
        "permute_copy",
        "view_copy",
        "transpose_copy",
        "unsqueeze_copy",
        "squeeze_copy",
        "slice_copy",
        "select_copy",
        "t_copy",
        "alias_copy",
        "detach_copy",
        "split_copy",
        "split_with_sizes_copy",
        "unbind_copy",
        "diagonal_copy",
        "unfold_copy",
        "as_strided_copy",
        "one_hot",
        "bucketize",
        "searchsorted",
        "tril_indices",
        "triu_indices",
        "_unique",
        "col2im",
        "im2col",
        "pixel_shuffle",
        "pixel_unshuffle",
        "channel_shuffle",
        "native_channel_shuffle",
        "block_diag",
        "diag_embed",
        "diag",
        "_pin_memory",
        "to_padded_tensor",
    ]
    for kind in ("reflection", "replication"):
        names += [f"{kind}_pad{dims}" for dims in ("1d", "2d", "3d")]
    return [f"aten.{name}" for name in names]


@family(*_copy_names())
def copy(event: OpEvent) -> Cost:
    """0 FLOPs; inputs read once, outputs written once."""
    return with_io(event)


@family("aten.copy_", "aten.copy")
def copy_into(event: OpEvent) -> Cost:
    """copy_(dst, src): src read, dst written."""
    src, dst = event.args[1], event.args[0]
    return Cost(0, 0, src.nbytes, dst.nbytes)


@family("aten.fill_", "aten.zero_", "aten.fill", "aten.zeros_like", "aten.ones_like", "aten.full_like")
def fill(event: OpEvent) -> Cost:
    """The output written; nothing read (a fill value given as a 0-d tensor is read)."""
    value = event.arg(1, "value")
    bytes_read = value.nbytes if isinstance(value, TensorMeta) and event.op.startswith("aten.fill") else 0
    return Cost(0, 0, bytes_read, sum(t.nbytes for t in event.outputs))


def _creation_names() -> list[str]:
    names = [
        "zeros",
        "ones",
        "full",
        "new_zeros",
        "new_ones",
        "new_full",
        "arange",
        "linspace",
        "logspace",
        "eye",
        "rand",
        "randn",
        "randint",
        "randperm",
        "rand_like",
        "randn_like",
        "randint_like",
        "normal",
        "normal_",
        "uniform",
        "uniform_",
        "bernoulli",
        "bernoulli_",
        "exponential_",
        "geometric_",
        "cauchy_",
        "log_normal_",
        "random_",
        "multinomial",
        "poisson",
        "_standard_gamma",
    ]
    return [f"aten.{name}" for name in names]


@family(*_creation_names())
def create(event: OpEvent) -> Cost:
    """The output written; random sampling is not counted as FLOPs. A tensor argument (the
    probabilities of bernoulli, say) is read."""
    return with_io(event)


@family("aten.index_select", "aten.gather", "aten.index", "aten._unsafe_index", "aten.take", "aten.take_along_dim")
def gather(event: OpEvent) -> Cost:
    """The index tensors and the gathered elements read; the output written."""
    out = event.output
    indices = [t for t in event.inputs[1:]]
    return Cost(0, 0, sum(t.nbytes for t in indices) + out.numel * out.itemsize, out.nbytes)


@family(
    "aten.index_put_",
    "aten._index_put_impl_",
    "aten.scatter_",
    "aten.scatter_add_",
    "aten.scatter_add",
    "aten.scatter_reduce_",
    "aten.scatter_reduce",
    "aten.index_add_",
    "aten.index_add",
    "aten.index_copy_",
    "aten.index_copy",
    "aten.index_fill_",
    "aten.masked_scatter_",
    "aten._unsafe_index_put",
)
def scatter(event: OpEvent) -> Cost:
    """Indices and source read, the updated elements written; accumulating variants add one FLOP
    per source element and read the elements they update."""
    target = event.args[0]
    sources = event.inputs[1:]
    updated = max((t for t in sources), key=lambda t: t.numel, default=None)
    updated_elements = updated.numel if updated is not None else 0
    accumulate = event.op in (
        "aten.scatter_add_",
        "aten.scatter_add",
        "aten.index_add_",
        "aten.index_add",
        "aten.scatter_reduce_",
        "aten.scatter_reduce",
    ) or (bool(event.arg(3, "accumulate", False)) and event.op in ("aten.index_put_", "aten._index_put_impl_", "aten._unsafe_index_put"))
    out_of_place = not event.op.endswith("_")
    bytes_read = sum(t.nbytes for t in sources)
    bytes_written = updated_elements * target.itemsize
    if accumulate:
        bytes_read += updated_elements * target.itemsize
    if out_of_place:  # the target is copied first
        bytes_read += target.nbytes
        bytes_written = target.nbytes
    flops = updated_elements if accumulate and target.is_floating else 0
    return Cost(0, flops, bytes_read, bytes_written)


@family("aten.slice_backward", "aten.select_backward", "aten.as_strided_scatter", "aten.slice_scatter", "aten.select_scatter")
def view_backward(event: OpEvent) -> Cost:
    """0 FLOPs; the incoming gradient (and, for the scatters, the base) read, the output written."""
    return with_io(event)


@family("aten._local_scalar_dense")
def item(event: OpEvent) -> Cost:
    """tensor.item(): one element read."""
    return Cost(0, 0, event.args[0].itemsize, 0)
