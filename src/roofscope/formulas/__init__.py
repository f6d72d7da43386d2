"""The formula registry: one op family per module, each formula a small pure function.

``default_formulas()`` returns a fresh copy of the built-in formulas for one analysis; add a
formula for your own op with ``formulas.register("mylib::op")``.
"""

from __future__ import annotations

from roofscope.formulas import (
    attention,
    conv,
    embedding,
    matmul,
    memory,
    norm,
    pointwise,
    pooling,
    reduction,
    resize,
    shape,
    softmax,
)
from roofscope.formulas._registry import Family, Formula, Formulas, io_bytes, op_name, with_io

FAMILIES: tuple[Family, ...] = tuple(
    module.family for module in (matmul, conv, attention, pointwise, reduction, softmax, norm, pooling, resize, embedding, memory, shape)
)

_BUILT_IN = Formulas.from_families(FAMILIES)


def default_formulas(*, causal: str = "full") -> Formulas:
    """A fresh, independent copy of the built-in formulas.

    ``causal``: how attention with ``is_causal=True`` is counted: "full" (the whole L x S score
    matrix, as dense kernels compute it) or "triangle" / "half" (only the scores the causal mask
    keeps). See docs/conventions.md.
    """
    attention.check_causal(causal)
    return _BUILT_IN.configured(causal=causal)


__all__ = ["FAMILIES", "Family", "Formula", "Formulas", "default_formulas", "io_bytes", "op_name", "with_io"]
