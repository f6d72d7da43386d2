"""Normalization: batch, layer, group, instance and RMS norms, forward and backward.

Counting each add, subtract, multiply, divide, square root and reciprocal square root as one FLOP,
over groups of k elements that share statistics (a row for layer/RMS norm, a channel over the batch
for batch norm, a group for group and instance norm):
  statistics: mean k (k - 1 adds, 1 divide), variance 3k (subtract, square, k - 1 adds, 1 divide),
  eps and rsqrt 2 per group; normalizing: 1 multiply per element    -> 5k + 2 per group.
  affine: 1 multiply per element with a weight, 1 add with a bias.
Batch norm in eval uses running statistics: 2 per channel (eps, rsqrt) and 2 per element (subtract,
multiply); training adds the statistics and 8 FLOPs per channel to update running mean and variance.
RMS norm: mean of squares 2k, eps and rsqrt 2, multiply k -> 3k + 2 per row, plus k with a weight.
Weight norm (w = g * v / ||v||, the 2-norm over every dimension but dim, per slice along dim): the
norm 2 per element (square, add), g / norm 1 per slice, the multiply 1 per element -> 3n + slices.
Backward: 9 FLOPs per element for the input gradient, 2 for the weight gradient and 1 for the bias
gradient (each only when requested).
Bytes = every tensor argument read once, every output (statistics included) written once, except
that batch norm in eval writes only its output: the saved statistics it returns are empty on CPU and
CUDA and full-size on meta, and no kernel writes them in eval.
"""

from __future__ import annotations

from math import prod

from roofscope.cost import Cost
from roofscope.events import OpEvent, TensorMeta
from roofscope.formulas._registry import Family, io_bytes, with_io

__all__ = [
    "batch_norm_flops",
    "fused_rms_norm_backward",
    "layer_norm_flops",
    "logical_rms_norm_backward",
    "native_batch_norm",
    "native_batch_norm_backward",
    "native_batch_norm_legit",
    "native_batch_norm_no_training",
    "native_group_norm",
    "native_group_norm_backward",
    "native_layer_norm",
    "native_layer_norm_backward",
    "rms_norm",
    "weight_norm",
]

family = Family("norm")

RUNNING_STATS_UPDATE_FLOPS = 8  # per channel: mean 3 (lerp), variance 5 (unbias, lerp)


def layer_norm_flops(rows: int, length: int, *, weight: bool, bias: bool) -> int:
    return rows * (5 * length + 2) + rows * length * (int(weight) + int(bias))


def _present(value: object) -> bool:
    return isinstance(value, TensorMeta)


@family("aten.native_layer_norm")
def native_layer_norm(event: OpEvent) -> Cost:
    """(input, normalized_shape, weight, bias, eps): rows * (5k + 2) + affine."""
    x = event.args[0]
    length = prod(event.args[1])
    rows = x.numel // length if length else 0
    flops = layer_norm_flops(rows, length, weight=_present(event.arg(2, "weight")), bias=_present(event.arg(3, "bias")))
    return with_io(event, 0, flops)


@family("aten._weight_norm_interface")
def weight_norm(event: OpEvent) -> Cost:
    """(v, g, dim): 3n + slices, where dim=-1 takes the norm of the whole tensor (one slice)."""
    v = event.args[0]
    dim = event.arg(2, "dim", 0)
    slices = 1 if dim == -1 or not v.shape else v.shape[dim % len(v.shape)]
    return with_io(event, 0, 3 * v.numel + slices)


def _batch_norm_cost(event: OpEvent, flops: int, training: bool) -> Cost:
    bytes_read, bytes_written = io_bytes(event)
    if not training:
        bytes_written = event.output.nbytes
    return Cost(0, flops, bytes_read, bytes_written)


def batch_norm_flops(x: TensorMeta, *, weight: bool, bias: bool, training: bool, running_stats: bool) -> int:
    channels = x.shape[1] if len(x.shape) > 1 else 1
    per_channel = x.numel // channels if channels else 0
    affine = x.numel * (int(weight) + int(bias))
    if training:
        stats = channels * (5 * per_channel + 2)
        return stats + affine + (channels * RUNNING_STATS_UPDATE_FLOPS if running_stats else 0)
    return channels * 2 + 2 * x.numel + affine


@family("aten.native_batch_norm", "aten.cudnn_batch_norm", "aten.miopen_batch_norm", "aten._native_batch_norm_legit_functional")
def native_batch_norm(event: OpEvent) -> Cost:
    """(input, weight, bias, running_mean, running_var, training, momentum, eps)."""
    training = bool(event.arg(5, "training"))
    flops = batch_norm_flops(
        event.args[0],
        weight=_present(event.arg(1, "weight")),
        bias=_present(event.arg(2, "bias")),
        training=training,
        running_stats=_present(event.arg(3, "running_mean")),
    )
    return _batch_norm_cost(event, flops, training)


@family("aten._native_batch_norm_legit")
def native_batch_norm_legit(event: OpEvent) -> Cost:
    """(input, weight, bias, running_mean, running_var, training, momentum, eps), or the no_stats
    overload (input, weight, bias, training, momentum, eps)."""
    no_stats = event.overload == "no_stats"
    training = bool(event.arg(3 if no_stats else 5, "training"))
    flops = batch_norm_flops(
        event.args[0],
        weight=_present(event.arg(1, "weight")),
        bias=_present(event.arg(2, "bias")),
        training=training,
        running_stats=not no_stats,
    )
    return _batch_norm_cost(event, flops, training)


@family("aten._native_batch_norm_legit_no_training")
def native_batch_norm_no_training(event: OpEvent) -> Cost:
    """(input, weight, bias, running_mean, running_var, momentum, eps): eval."""
    flops = batch_norm_flops(
        event.args[0], weight=_present(event.arg(1, "weight")), bias=_present(event.arg(2, "bias")), training=False, running_stats=True
    )
    return _batch_norm_cost(event, flops, False)


@family("aten.native_group_norm")
def native_group_norm(event: OpEvent) -> Cost:
    """(input, weight, bias, N, C, HxW, group, eps): N * group rows of (C / group) * HxW."""
    x = event.args[0]
    batch, channels, spatial, groups = event.args[3], event.args[4], event.args[5], event.args[6]
    rows = batch * groups
    length = (channels // groups) * spatial if groups else 0
    flops = rows * (5 * length + 2)
    flops += x.numel * (int(_present(event.arg(1, "weight"))) + int(_present(event.arg(2, "bias"))))
    return with_io(event, 0, flops)


@family("aten.rms_norm", "aten._fused_rms_norm")
def rms_norm(event: OpEvent) -> Cost:
    """(input, normalized_shape, weight, eps): rows * (3k + 2), plus k per row with a weight."""
    x = event.args[0]
    length = prod(event.args[1])
    rows = x.numel // length if length else 0
    flops = rows * (3 * length + 2) + (x.numel if _present(event.arg(2, "weight")) else 0)
    return with_io(event, 0, flops)


def _backward_flops(elements: int, output_mask: object) -> int:
    mask = tuple(output_mask) if isinstance(output_mask, (list, tuple)) else (True, True, True)
    return elements * (9 * int(bool(mask[0])) + 2 * int(bool(mask[1])) + int(bool(mask[2])))


@family("aten.native_layer_norm_backward")
def native_layer_norm_backward(event: OpEvent) -> Cost:
    """(grad_out, input, normalized_shape, mean, rstd, weight, bias, output_mask)."""
    return with_io(event, 0, _backward_flops(event.args[1].numel, event.arg(7, "output_mask")))


@family("aten.native_batch_norm_backward", "aten.cudnn_batch_norm_backward", "aten.miopen_batch_norm_backward")
def native_batch_norm_backward(event: OpEvent) -> Cost:
    """(grad_out, input, weight, running_mean, running_var, save_mean, save_invstd, train, eps, output_mask)."""
    return with_io(event, 0, _backward_flops(event.args[1].numel, event.arg(9, "output_mask")))


@family("aten.native_group_norm_backward")
def native_group_norm_backward(event: OpEvent) -> Cost:
    """(grad_out, input, mean, rstd, weight, N, C, HxW, group, output_mask)."""
    return with_io(event, 0, _backward_flops(event.args[1].numel, event.arg(9, "output_mask")))


@family("aten._fused_rms_norm_backward")
def fused_rms_norm_backward(event: OpEvent) -> Cost:
    """(grad_out, input, normalized_shape, rstd, weight, output_mask)."""
    return with_io(event, 0, _backward_flops(event.args[1].numel, event.arg(5, "output_mask")))


@family("roofscope.rms_norm_backward")
def logical_rms_norm_backward(event: OpEvent) -> Cost:
    """The backward of F.rms_norm as one logical op (``backward=True``): (grad_output, input[,
    weight]); ``output_mask`` says which of input and weight get a gradient. Costed as the fused
    kernel's backward (``_fused_rms_norm_backward``)."""
    mask = (*tuple(event.kwargs.get("output_mask", (True, True))), False, False)
    return with_io(event, 0, _backward_flops(event.args[1].numel, (mask[0], mask[1], False)))
