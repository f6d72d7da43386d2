"""The report: costs per op, aggregated onto the module tree, with parameters per module.

A Report is data with queries. It computes aggregates once, when it is built, and never prints:
renderers in ``roofscope.render`` read it.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterator
from typing import Any

from roofscope.capture import Capture, OpEvent
from roofscope.cost import ZERO, Cost
from roofscope.formulas import Formulas
from roofscope.params import ParamCount

CONVENTION = (
    "MACs: multiply-accumulates of matmul-class ops (matmul, linear, conv, attention), bias excluded. "
    "FLOPs: 2 per MAC plus every other floating-point op. "
    "Bytes: each op reads its inputs once and writes its outputs once (eager, unfused). "
    "See docs/conventions.md."
)


@dataclasses.dataclass(frozen=True, slots=True)
class OpRecord:
    """One op call and its cost; ``cost`` is None when no formula knows the op."""

    event: OpEvent
    cost: Cost | None
    family: str

    @property
    def name(self) -> str:
        return self.event.op

    @property
    def module(self) -> str:
        return self.event.module

    @property
    def counted(self) -> bool:
        return self.cost is not None


@dataclasses.dataclass(frozen=True, slots=True)
class OpSummary:
    """All calls of one op name: how often it ran, its family, and their summed cost."""

    name: str
    family: str
    calls: int
    cost: Cost | None


class ModuleReport:
    """One module: its own cost (ops that ran directly in its forward), its total (with everything
    below it), its parameters, how often it was called, and its children."""

    def __init__(self, name: str, type_name: str, calls: int, params: ParamCount) -> None:
        self.name = name
        self.type = type_name
        self.calls = calls
        self.params = params
        self.children: list[ModuleReport] = []
        self._self = ZERO
        self._total = ZERO
        self.uncounted: dict[str, int] = {}

    @property
    def self(this) -> Cost:  # noqa: N805 - named "self" by the public API: report.module(x).self.macs
        return this._self

    @property
    def total(self) -> Cost:
        return self._total

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


class Report:
    """What a model costs for one set of inputs. Build it with ``roofscope.analyze``."""

    def __init__(
        self,
        *,
        model_name: str,
        inputs: list[str],
        ops: list[OpRecord],
        root: ModuleReport,
        params: ParamCount,
    ) -> None:
        self.model_name = model_name
        self.inputs = inputs
        self.ops = ops
        self.root = root
        self.params = params
        self._modules = {module.name: module for module in root.walk()}
        uncounted: dict[str, int] = {}
        for record in ops:
            if record.cost is None:
                uncounted[record.name] = uncounted.get(record.name, 0) + 1
        self.uncounted: dict[str, int] = dict(sorted(uncounted.items(), key=lambda item: (-item[1], item[0])))

    @property
    def total(self) -> Cost:
        return self.root.total

    @property
    def convention(self) -> str:
        return CONVENTION

    @property
    def uncalled(self) -> list[str]:
        """Modules of the model that never ran in this forward."""
        return [name for name, module in self._modules.items() if module.calls == 0 and name]

    def module(self, name: str) -> ModuleReport:
        """The module at this qualified name ("" for the whole model), as in ``model.named_modules()``."""
        try:
            return self._modules[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._modules), n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise KeyError(f"no module named {name!r} in {self.model_name}{hint}") from None

    def modules(self) -> Iterator[ModuleReport]:
        return self.root.walk()

    def by_op(self) -> dict[str, OpSummary]:
        """Per op name, most FLOPs first; uncounted ops last."""
        calls: dict[str, int] = {}
        costs: dict[str, Cost | None] = {}
        families: dict[str, str] = {}
        for record in self.ops:
            calls[record.name] = calls.get(record.name, 0) + 1
            families[record.name] = record.family
            previous = costs.get(record.name, ZERO)
            costs[record.name] = None if record.cost is None or previous is None else previous + record.cost
        summaries = [OpSummary(name, families[name], calls[name], costs[name]) for name in calls]
        summaries.sort(key=lambda s: (s.cost is None, -(s.cost.flops if s.cost else 0), -(s.cost.bytes if s.cost else 0), s.name))
        return {summary.name: summary for summary in summaries}

    def by_family(self) -> dict[str, Cost]:
        """Summed cost per op family (matmul, conv, attention, pointwise, ...), most FLOPs first."""
        families: dict[str, Cost] = {}
        for record in self.ops:
            if record.cost is not None:
                families[record.family] = families.get(record.family, ZERO) + record.cost
        return dict(sorted(families.items(), key=lambda item: (-item[1].flops, -item[1].bytes)))

    def to_dict(self) -> dict[str, Any]:
        """Everything in the report as plain JSON-serialisable data."""
        return {
            "model": self.model_name,
            "inputs": self.inputs,
            "convention": CONVENTION,
            "total": self.total.to_dict(),
            "params": self.params.to_dict(),
            "uncounted": dict(self.uncounted),
            "uncalled_modules": self.uncalled,
            "modules": [
                {
                    "name": module.name,
                    "type": module.type,
                    "depth": module.depth,
                    "calls": module.calls,
                    "params": module.params.to_dict(),
                    "self": module.self.to_dict(),
                    "total": module.total.to_dict(),
                    "uncounted": dict(module.uncounted),
                }
                for module in self.modules()
            ],
            "by_op": [
                {
                    "op": summary.name,
                    "family": summary.family,
                    "calls": summary.calls,
                    "cost": summary.cost.to_dict() if summary.cost else None,
                }
                for summary in self.by_op().values()
            ],
            "ops": [
                {
                    "op": record.name,
                    "module": record.module,
                    "phase": record.event.phase,
                    "inputs": [str(t) for t in record.event.inputs],
                    "outputs": [str(t) for t in record.event.outputs],
                    "cost": record.cost.to_dict() if record.cost else None,
                }
                for record in self.ops
            ],
        }

    def __repr__(self) -> str:
        return (
            f"<roofscope.Report {self.model_name}: {self.total.macs:,} MACs, {self.total.flops:,} FLOPs, "
            f"{self.total.bytes:,} bytes, {self.params.total:,} params, {len(self.uncounted)} uncounted op(s)>"
        )


def build_report(
    *,
    model_name: str,
    inputs: list[str],
    captured: Capture,
    formulas: Formulas,
    params: dict[str, ParamCount],
) -> Report:
    """Apply the formulas to every captured op and aggregate onto the module tree."""
    ops = []
    for event in captured.events:
        formula = formulas.get(event.op)
        ops.append(OpRecord(event, formula(event) if formula is not None else None, formulas.family(event.op)))

    nodes = {
        name: ModuleReport(name, captured.module_types.get(name, "?"), captured.module_calls.get(name, 0), params[name])
        for name in params
    }
    for name, node in nodes.items():
        if name:
            nodes[name.rpartition(".")[0]].children.append(node)
    for record in ops:
        node = nodes[record.module]
        if record.cost is None:
            node.uncounted[record.name] = node.uncounted.get(record.name, 0) + 1
        else:
            node._self = node._self + record.cost
    root = nodes[""]
    _accumulate(root)
    return Report(model_name=model_name, inputs=inputs, ops=ops, root=root, params=params[""])


def _accumulate(node: ModuleReport) -> Cost:
    total = node.self
    for child in node.children:
        total = total + _accumulate(child)
    node._total = total
    return total
