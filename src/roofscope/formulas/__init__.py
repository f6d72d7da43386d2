"""The formula registry: one op family per module, each formula a small pure function.

Every module of this package but ``_registry`` is an op family: it declares ``family = Family(name)``
and registers its formulas with ``@family("aten.op", ...)``; the built-in registry gathers every
family it finds here, so a new family is one new file. ``default_formulas()`` returns a fresh copy of
the built-in formulas for one analysis; add a formula for your own op with
``formulas.register("mylib::op")``.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from roofscope.formulas._registry import Family, Formula, Formulas, io_bytes, op_name, with_io

__all__ = ["FAMILIES", "Family", "Formula", "Formulas", "default_formulas", "io_bytes", "op_name", "with_io"]

#: The built-in op families, one per module of this package, in module-name order.
FAMILIES: tuple[Family, ...] = tuple(
    importlib.import_module(f"{__name__}.{info.name}").family
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name)
    if not info.name.startswith("_")
)

_BUILT_IN = Formulas.from_families(FAMILIES)


def default_formulas(*, causal: str = "full") -> Formulas:
    """A fresh, independent copy of the built-in formulas.

    ``causal``: how attention with ``is_causal=True`` is counted: "full" (the whole L x S score
    matrix, as dense kernels compute it) or "triangle" / "half" (only the scores the causal mask
    keeps). See docs/conventions.md.
    """
    from roofscope.formulas.attention import check_causal

    check_causal(causal)
    return _configured(causal).copy()


@functools.cache  # binding the option walks every formula: once per convention, not per analysis
def _configured(causal: str) -> Formulas:
    return _BUILT_IN.configured(causal=causal)
