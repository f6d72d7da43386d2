"""Views, metadata and allocation: 0 MACs, 0 FLOPs, 0 bytes, on purpose.

A view shares its input's storage and moves no data (view, reshape as a view, permute, transpose,
expand, slice, select, split, squeeze, unsqueeze, as_strided, ...); detach and alias only re-wrap a
tensor; empty and its variants allocate without touching memory; scalar_tensor and lift_fresh wrap
a Python number as a 0-d tensor (CPU fills from the number where meta first makes the 0-d tensor,
so counting it would make the devices disagree); prim.device and prim.layout read a tensor's metadata
(fake tensors ask through them); a nested jagged tensor's views of its packed values and
offsets (``_nested_view_from_jagged``, ``_nested_get_values``, ...) are views too. Where one of these must copy
(reshape of a non-contiguous tensor), PyTorch dispatches a separate clone or _unsafe_view, and that
op is counted.
"""

from __future__ import annotations

from roofscope.cost import ZERO, Cost
from roofscope.events import OpEvent
from roofscope.formulas._registry import Family

__all__ = ["tensor_metadata", "view"]

family = Family("shape")

VIEWS_AND_METADATA = (
    "view",
    "_unsafe_view",
    "reshape",
    "_reshape_alias",
    "as_strided",
    "as_strided_",
    "expand",
    "expand_as",
    "permute",
    "transpose",
    "transpose_",
    "t",
    "t_",
    "numpy_T",
    "mT",
    "mH",
    "squeeze",
    "squeeze_",
    "unsqueeze",
    "unsqueeze_",
    "select",
    "slice",
    "narrow",
    "split",
    "split_with_sizes",
    "unsafe_split",
    "unsafe_split_with_sizes",
    "unbind",
    "chunk",
    "unsafe_chunk",
    "tensor_split",
    "unfold",
    "diagonal",
    "alias",
    "detach",
    "detach_",
    "view_as",
    "view_as_real",
    "view_as_complex",
    "real",
    "imag",
    "movedim",
    "lift_fresh",
    # a nested jagged tensor's views of its packed values and offsets
    "_nested_view_from_jagged",
    "_nested_get_values",
    "_nested_get_offsets",
    "_nested_get_lengths",
    "_nested_get_jagged_dummy",
    "_nested_get_max_seqlen",
    "_nested_get_min_seqlen",
    "scalar_tensor",
    "_neg_view",
    "_conj",
    "conj",
    "resolve_conj",
    "resolve_neg",
    "positive",
    "flatten",
    "unflatten",
    "_assert_async",
    "_linalg_check_errors",
    "_assert_scalar",
    "_functional_assert_async",
    "_assert_tensor_metadata",
    "empty",
    "empty_like",
    "new_empty",
    "new_empty_strided",
    "empty_strided",
    "empty_permuted",
    "resize_",
    "resize_as_",
    "set_",
    "requires_grad_",
    "_has_same_storage_numel",
    "is_same_size",
    "record_stream",
    "_make_dep_token",
    "sym_constrain_range_for_size",
    "_nested_tensor_from_mask_left_aligned",
    "contiguous",
    "lift",
    "_version",
    "retain_grad",
    "is_nonzero",
    "_propagate_xla_data",
)


@family(*[f"aten.{name}" for name in VIEWS_AND_METADATA])
def view(event: OpEvent) -> Cost:
    """No arithmetic and no data moved."""
    return ZERO


@family("prim.device", "prim.layout")
def tensor_metadata(event: OpEvent) -> Cost:
    """A query of a tensor's device or layout (autograd asks fake tensors for it): no work."""
    return ZERO
