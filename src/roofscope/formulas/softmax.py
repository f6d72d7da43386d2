"""Softmax and log-softmax along one dimension.

For rows of k elements (m rows, n = m * k elements), counting each max, subtract, exp, add, log and
divide as one FLOP:
softmax(x) = exp(x - max) / sum(exp(x - max)): (k - 1) + k + k + (k - 1) + k = 5k - 2 per row.
log_softmax(x) = x - max - log(sum(exp(x - max))): (k - 1) + k + k + (k - 1) + 1 + k = 4k - 1 per row.
Backward: softmax 3 per element (dot product of grad and output, subtract, multiply) minus 1 per row;
log_softmax 2 per element plus k - 1 per row for the sum of grads (see the functions).
Bytes = input read once, output written once.
"""

from __future__ import annotations

from roofscope.cost import Cost
from roofscope.events import OpEvent
from roofscope.formulas._registry import Family, with_io

__all__ = ["log_softmax", "log_softmax_backward", "log_softmax_flops", "rows_and_length", "softmax", "softmax_backward", "softmax_flops"]

family = Family("softmax")


def rows_and_length(shape: tuple[int, ...], dim: int) -> tuple[int, int]:
    if not shape:
        return 1, 1
    length = shape[dim]
    total = 1
    for size in shape:
        total *= size
    return (total // length if length else 0), length


def softmax_flops(rows: int, length: int) -> int:
    return rows * (5 * length - 2) if length else 0


def log_softmax_flops(rows: int, length: int) -> int:
    return rows * (4 * length - 1) if length else 0


def _float_or_zero(event: OpEvent, flops: int) -> int:
    return flops if event.args[0].is_floating else 0


@family("aten._softmax", "aten._safe_softmax", "aten.softmax")
def softmax(event: OpEvent) -> Cost:
    """Rows of k along ``dim``: FLOPs = rows * (5k - 2)."""
    rows, length = rows_and_length(event.args[0].shape, event.arg(1, "dim"))
    return with_io(event, 0, _float_or_zero(event, softmax_flops(rows, length)))


@family("aten._log_softmax", "aten.log_softmax")
def log_softmax(event: OpEvent) -> Cost:
    """Rows of k along ``dim``: FLOPs = rows * (4k - 1)."""
    rows, length = rows_and_length(event.args[0].shape, event.arg(1, "dim"))
    return with_io(event, 0, _float_or_zero(event, log_softmax_flops(rows, length)))


@family("aten._softmax_backward_data")
def softmax_backward(event: OpEvent) -> Cost:
    """grad_in = y * (grad - sum(grad * y)): per row k multiplies, k - 1 adds, k subtracts, k multiplies."""
    rows, length = rows_and_length(event.args[0].shape, event.arg(2, "dim"))
    return with_io(event, 0, rows * (4 * length - 1) if length else 0)


@family("aten._log_softmax_backward_data")
def log_softmax_backward(event: OpEvent) -> Cost:
    """grad_in = grad - exp(y) * sum(grad): per row k - 1 adds, k exps, k multiplies, k subtracts."""
    rows, length = rows_and_length(event.args[0].shape, event.arg(2, "dim"))
    return with_io(event, 0, rows * (4 * length - 1) if length else 0)
