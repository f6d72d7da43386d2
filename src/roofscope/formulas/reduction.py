"""Reductions over one or more dimensions, and cumulative sums and products.

With n input elements reduced into m outputs of k = n / m elements each:
  sum, prod, amax, amin, max, min, argmax, argmin, nansum: m * (k - 1) (one add or compare per pair)
  mean, nanmean: m * k (k - 1 adds and a divide)
  var, std (and var_mean, std_mean): 4n (mean n, subtract n, square n, sum n - m, divide m),
    + m square roots for std
  vector norms: see vector_norm below
  logsumexp: 4n (max n - m, subtract n, exp n, sum n - m, log m, add m)
  cumsum, cumprod, logcumsumexp: m * (k - 1) (cumulative along rows of k), logcumsumexp 3x that
Sorting and selection (sort, topk, argsort, kthvalue, median) count 0 FLOPs on purpose: their
comparisons depend on the algorithm; their bytes are counted. Reductions of integer or boolean
tensors (all, any, count_nonzero) count 0 FLOPs.
Bytes = input read once, output written once.
"""

from __future__ import annotations

from collections.abc import Callable

from roofscope.cost import Cost
from roofscope.events import OpEvent, TensorMeta
from roofscope.formulas._registry import Family, with_io

__all__ = ["reduced_shape", "vector_norm"]

family = Family("reduction")


def reduced_shape(event: OpEvent) -> tuple[int, int]:
    """(inputs n, outputs m) of a reduction: m is the first output's element count."""
    x = event.args[0]
    n = x.numel
    m = event.output.numel if event.outputs else 1
    return n, max(m, 1) if n else 0


def _is_float(event: OpEvent) -> bool:
    return isinstance(event.args[0], TensorMeta) and event.args[0].is_floating


def _reduction(flops_of: Callable[[int, int], int], doc: str) -> Callable[[OpEvent], Cost]:
    def formula(event: OpEvent) -> Cost:
        n, m = reduced_shape(event)
        return with_io(event, 0, flops_of(n, m) if _is_float(event) and n else 0)

    formula.__doc__ = doc
    return formula


family.add(
    [f"aten.{name}" for name in ("sum", "prod", "amax", "amin", "max", "min", "argmax", "argmin", "nansum", "aminmax")],
    _reduction(lambda n, m: n - m, "m * (k - 1) = n - m FLOPs."),
)
family.add(["aten.mean", "aten.nanmean"], _reduction(lambda n, m: n, "m * k = n FLOPs."))
family.add(["aten.var", "aten.var_mean"], _reduction(lambda n, m: 4 * n, "4n FLOPs."))
family.add(["aten.std", "aten.std_mean"], _reduction(lambda n, m: 4 * n + m, "4n + m FLOPs."))
family.add(["aten.logsumexp"], _reduction(lambda n, m: 4 * n, "4n FLOPs."))


@family("aten.linalg_vector_norm", "aten.norm")
def vector_norm(event: OpEvent) -> Cost:
    """(|x|^p summed)^(1/p): p=2: square n, add n - m, sqrt m = 2n; p=1: abs n, add n - m = 2n - m;
    p=inf: abs n, max n - m; p=0: compare n, add n - m; other p: abs n, pow n, add n - m, root m = 3n."""
    n, m = reduced_shape(event)
    p = event.arg(1, "ord" if event.op == "aten.linalg_vector_norm" else "p", 2)
    p = 2 if p is None else float(p)
    if p == 2:
        flops = 2 * n
    elif p in (1, float("inf"), float("-inf"), 0):
        flops = 2 * n - m
    else:
        flops = 3 * n
    return with_io(event, 0, flops if _is_float(event) and n else 0)


def _cumulative(multiplier: int) -> Callable[[OpEvent], Cost]:
    def formula(event: OpEvent) -> Cost:
        x = event.args[0]
        dim = event.arg(1, "dim")
        length = x.shape[dim] if x.shape else 1
        rows = x.numel // length if length else 0
        return with_io(event, 0, multiplier * rows * (length - 1) if _is_float(event) and length else 0)

    formula.__doc__ = f"{multiplier} * rows * (k - 1) FLOPs along rows of k."
    return formula


family.add(["aten.cumsum", "aten.cumsum_", "aten.cumprod", "aten.cumprod_", "aten.cummax", "aten.cummin"], _cumulative(1))
family.add(["aten.logcumsumexp"], _cumulative(3))


def _no_flops(event: OpEvent) -> Cost:
    """Sorting, selection and boolean reductions: bytes only (module docstring)."""
    return with_io(event)


family.add(
    [
        f"aten.{name}"
        for name in (
            "sort",
            "argsort",
            "topk",
            "kthvalue",
            "median",
            "nanmedian",
            "mode",
            "msort",
            "all",
            "any",
            "count_nonzero",
            "unique_dim",
            "_unique2",
            "unique_consecutive",
        )
    ],
    _no_flops,
)
