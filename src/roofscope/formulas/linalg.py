"""Linear algebra beyond products: triangular solves.

``linalg_solve_triangular(A, B, *, upper, left=True, unitriangular=False)`` with A [..., n, n]:
each of the k right-hand sides (the columns of B [..., n, k]; the rows of B [..., k, n] with
left=False) is solved by substitution, n (n - 1) / 2 multiply-adds and n divisions (none when A is
unit triangular):
  MACs  = batch * k * n (n - 1) / 2
  FLOPs = 2 * MACs + batch * k * n (divisions, unless unitriangular)
Bytes = A and B read once, X written once.
"""

from __future__ import annotations

from math import prod

from roofscope.cost import Cost
from roofscope.events import OpEvent
from roofscope.formulas._registry import Family, with_io

__all__ = ["solve_triangular"]

family = Family("linalg")


@family("aten.linalg_solve_triangular")
def solve_triangular(event: OpEvent) -> Cost:
    """(A [..., n, n], B, *, upper, left=True, unitriangular=False)."""
    matrix, rhs = event.args[:2]
    n = matrix.shape[-1]
    left = bool(event.arg(3, "left", True))
    columns = rhs.shape[-1] if left else rhs.shape[-2]
    batch = prod(event.output.shape[:-2])
    macs = batch * columns * n * (n - 1) // 2
    divisions = 0 if event.arg(4, "unitriangular", False) else batch * columns * n
    return with_io(event, macs, 2 * macs + divisions)
