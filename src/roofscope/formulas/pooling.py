"""Pooling: max, average, and adaptive pooling in 1, 2 and 3 dimensions, and their backward.

Max pooling: (window - 1) comparisons per output element, window = prod(kernel_size), padded
positions included. Average pooling: window - 1 adds and one divide = window FLOPs per output
element. Adaptive pooling: the windows differ per output position (start = floor(i * L / O),
end = ceil((i + 1) * L / O) along each dimension); the formula sums their exact sizes.
Backward: max pooling routes each gradient once (0 FLOPs, bytes only); average pooling spreads each
gradient over its window (window FLOPs per grad_out element, adds and the divide).
Bytes = input read once, outputs (indices included) written once.
"""

from __future__ import annotations

from math import prod

from roofscope.cost import Cost
from roofscope.events import OpEvent
from roofscope.formulas._registry import Family, with_io

__all__ = [
    "adaptive_avg_pool",
    "adaptive_avg_pool_backward",
    "adaptive_max_pool",
    "adaptive_window_total",
    "avg_pool",
    "avg_pool_backward",
    "max_pool",
    "max_pool_backward",
]

family = Family("pooling")


def _as_tuple(value: object, dims: int) -> tuple[int, ...]:
    """A kernel size given as an int, a 1-element list (repeated) or one entry per dimension."""
    if isinstance(value, (list, tuple)):
        return tuple(value) * dims if len(value) == 1 else tuple(value)
    return (int(value),) * dims  # type: ignore[call-overload]


def _dims(event: OpEvent) -> int:
    return int(event.op.rstrip("_").split("pool")[1][0]) if "pool" in event.op else 2


def _window(event: OpEvent) -> int:
    return prod(_as_tuple(event.arg(1, "kernel_size"), _dims(event)))


@family(
    "aten.max_pool1d",
    "aten.max_pool2d",
    "aten.max_pool3d",
    "aten.max_pool1d_with_indices",
    "aten.max_pool2d_with_indices",
    "aten.max_pool3d_with_indices",
    "aten.mkldnn_max_pool2d",
)
def max_pool(event: OpEvent) -> Cost:
    """(window - 1) * output elements."""
    return with_io(event, 0, (_window(event) - 1) * event.output.numel)


@family("aten.avg_pool1d", "aten.avg_pool2d", "aten.avg_pool3d")
def avg_pool(event: OpEvent) -> Cost:
    """window * output elements."""
    return with_io(event, 0, _window(event) * event.output.numel)


def adaptive_window_total(in_size: int, out_size: int) -> int:
    """Sum over the output positions of their window lengths along one dimension."""
    return sum(-(-(i + 1) * in_size // out_size) - (i * in_size // out_size) for i in range(out_size))


def _adaptive_elements(event: OpEvent) -> tuple[int, int]:
    """(sum of window sizes over all outputs, number of outputs)."""
    x, out = event.args[0], event.output
    spatial_dims = len(event.arg(1, "output_size"))
    per_window = 1
    for in_size, out_size in zip(x.shape[-spatial_dims:], out.shape[-spatial_dims:]):
        per_window *= adaptive_window_total(in_size, out_size)
    planes = prod(out.shape[:-spatial_dims])
    return planes * per_window, out.numel


@family(
    "aten._adaptive_avg_pool2d",
    "aten._adaptive_avg_pool3d",
    "aten.adaptive_avg_pool1d",
    "aten.adaptive_avg_pool2d",
    "aten.adaptive_avg_pool3d",
)
def adaptive_avg_pool(event: OpEvent) -> Cost:
    """Sum of the window sizes: one add per element beyond the first and one divide per window."""
    window_total, _ = _adaptive_elements(event)
    return with_io(event, 0, window_total)


@family("aten.adaptive_max_pool1d", "aten.adaptive_max_pool2d", "aten.adaptive_max_pool3d")
def adaptive_max_pool(event: OpEvent) -> Cost:
    """Sum of (window size - 1) over the outputs."""
    window_total, outputs = _adaptive_elements(event)
    return with_io(event, 0, window_total - outputs)


@family(
    "aten.max_pool2d_with_indices_backward",
    "aten.max_pool3d_with_indices_backward",
    "aten.adaptive_max_pool2d_backward",
    "aten.adaptive_max_pool3d_backward",
)
def max_pool_backward(event: OpEvent) -> Cost:
    """Gradients are routed, not computed: 0 FLOPs."""
    return with_io(event)


@family("aten.avg_pool2d_backward", "aten.avg_pool3d_backward")
def avg_pool_backward(event: OpEvent) -> Cost:
    """(grad_out, input, kernel_size, ...): window FLOPs per grad_out element."""
    kernel = event.args[2]
    dims = 3 if "3d" in event.op else 2
    return with_io(event, 0, prod(_as_tuple(kernel, dims)) * event.args[0].numel)


@family("aten._adaptive_avg_pool2d_backward", "aten._adaptive_avg_pool3d_backward")
def adaptive_avg_pool_backward(event: OpEvent) -> Cost:
    """One divide and one add per input element."""
    return with_io(event, 0, 2 * event.args[1].numel)
