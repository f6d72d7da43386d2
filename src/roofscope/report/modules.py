"""The module tree of a report, and the one fold that sums op records onto it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from roofscope.cost import Cost
from roofscope.measured import summarize_measured
from roofscope.params import ParamCount
from roofscope.report.figures import Figures
from roofscope.report.records import OpRecord
from roofscope.roofline import summarize

__all__ = ["ModuleInfo", "ModuleReport", "build_tree", "figures_of"]

#: What a report knows of a module besides its ops: (type name, calls, parameters).
ModuleInfo = tuple[str, int, ParamCount]


class ModuleReport:
    """One module: its own cost (ops that ran directly in its forward), its total (with everything
    below it), its parameters, how often it was called, and its children. Built by ``build_tree``."""

    __slots__ = ("_self", "_total", "calls", "children", "name", "params", "type", "uncounted", "uncounted_total")

    def __init__(
        self,
        name: str,
        type_name: str,
        calls: int,
        params: ParamCount,
        children: list[ModuleReport],
        own: Figures,
        total: Figures,
        uncounted: dict[str, int],
        uncounted_total: dict[str, int] | None = None,
    ) -> None:
        self.name = name
        self.type = type_name
        self.calls = calls
        self.params = params
        self.children = children
        #: Op calls without a formula that ran directly in this module (name: calls).
        self.uncounted = uncounted
        #: The same for this module and everything below it: its total leaves these out.
        self.uncounted_total = uncounted if uncounted_total is None else uncounted_total
        self._self = own
        self._total = total

    @property
    def self(this) -> Figures:  # noqa: N805 - named "self" by the public API: report.module(x).self.macs
        """Ops that ran directly in this module's forward."""
        return this._self

    @property
    def total(self) -> Figures:
        """This module with everything below it."""
        return self._total

    @property
    def complete(self) -> bool:
        """Whether every op call in this module and below it has a formula, so that its total is whole."""
        return not self.uncounted_total

    @property
    def depth(self) -> int:
        return self.name.count(".") + 1 if self.name else 0

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1] if self.name else ""

    def walk(self) -> Iterator[ModuleReport]:
        """This module, then every module below it, depth first in definition order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def __repr__(self) -> str:
        return f"ModuleReport({self.name!r}, {self.type}, macs={self.total.macs:,}, flops={self.total.flops:,})"


def figures_of(ops: Sequence[OpRecord], indices: Sequence[int], *, timed: bool) -> Figures:
    """The figures of a group of ops: their summed cost, their roofline timing (``timed``: the
    report has a device) and, where they were measured, their measured figures."""
    # Summed as plain integers: a module's total adds up every op below it, and a Cost per
    # addition would make building the tree the slowest part of a small model's analysis.
    macs = flops = bytes_read = bytes_written = 0
    for index in indices:
        op_cost = ops[index].cost
        if op_cost is not None:
            macs += op_cost.macs
            flops += op_cost.flops
            bytes_read += op_cost.bytes_read
            bytes_written += op_cost.bytes_written
    cost = Cost(macs, flops, bytes_read, bytes_written)
    timing = summarize((index, ops[index].timing) for index in indices) if timed else None
    measured = summarize_measured(ops[i].measured for i in indices if ops[i].measured is not None)  # type: ignore[misc]
    return Figures(cost, timing, measured)


def _uncounted(ops: Sequence[OpRecord], indices: Sequence[int]) -> dict[str, int]:
    """Calls per op name of the ops among ``indices`` that have no formula, most calls first."""
    found: dict[str, int] = {}
    for index in indices:
        if ops[index].cost is None:
            found[ops[index].name] = found.get(ops[index].name, 0) + 1
    return dict(sorted(found.items(), key=lambda item: (-item[1], item[0])))


def build_tree(ops: Sequence[OpRecord], modules: Mapping[str, ModuleInfo], *, timed: bool) -> ModuleReport:
    """The module tree with every module's self and total figures: the ops that ran directly in it,
    and those with everything below it. ``modules`` holds every module by qualified name ("" is the
    model), parents before children, as ``named_modules()`` lists them."""
    own: dict[str, list[int]] = {name: [] for name in modules}
    for index, record in enumerate(ops):
        own[record.module].append(index)
    children: dict[str, list[str]] = {name: [] for name in modules}
    for name in modules:
        if name:
            children[name.rpartition(".")[0]].append(name)

    def fold(name: str) -> tuple[ModuleReport, list[int]]:
        below = list(own[name])
        nodes = []
        for child in children[name]:
            node, indices = fold(child)
            nodes.append(node)
            below += indices
        below.sort()
        uncounted = _uncounted(ops, own[name])
        type_name, calls, params = modules[name]
        own_figures = figures_of(ops, own[name], timed=timed)
        total = figures_of(ops, below, timed=timed)
        return ModuleReport(name, type_name, calls, params, nodes, own_figures, total, uncounted, _uncounted(ops, below)), below

    return fold("")[0]
