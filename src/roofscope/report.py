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
from roofscope.devices import Device
from roofscope.formulas import Formulas
from roofscope.measurement.figures import Measured, Measurement, OpMeasured, op_measured, summarize_measured
from roofscope.params import ParamCount
from roofscope.roofline import OpTiming, Precision, Roof, Timing, op_timing, retarget, roofs, summarize

CONVENTION = (
    "MACs: multiply-accumulates of matmul-class ops (matmul, linear, conv, attention), bias excluded. "
    "FLOPs: 2 per MAC plus every other floating-point op. "
    "Bytes: each op reads its inputs once and writes its outputs once (eager, unfused). "
    "See docs/conventions.md."
)

MEASURED_CONVENTION = (
    "Measured: median over the repeats of each op's own time (CUDA events or perf_counter around the op); "
    "a module's time is the sum of its ops'. Utilization = achieved FLOP/s / the peak that applies; "
    "eff = roofline efficiency = predicted / measured (100% = at the roof). See docs/conventions.md, \"Measured\"."
)


class Figures:
    """A Cost (MACs, FLOPs, bytes) together with its roofline Timing on the report's device, and
    what a real run measured (``roofscope.measure``).

    Reads like a Cost: ``.macs``, ``.flops``, ``.bytes``, ``.intensity``..., and compares equal to a
    Cost with the same counts. The roofline fields (``predicted_s``, ``bound``, ``attainable``,
    ``memory_bound_share``) are None when the report has no device; the measured fields
    (``measured_s``, ``achieved_flops``, ``utilization``, ``efficiency``...) when it was not measured.
    """

    __slots__ = ("cost", "timing", "measured")

    def __init__(self, cost: Cost, timing: Timing | None = None, measured: Measured | None = None) -> None:
        self.cost = cost
        self.timing = timing
        self.measured = measured

    macs = property(lambda self: self.cost.macs)
    flops = property(lambda self: self.cost.flops)
    bytes_read = property(lambda self: self.cost.bytes_read)
    bytes_written = property(lambda self: self.cost.bytes_written)
    bytes = property(lambda self: self.cost.bytes)
    matmul_flops = property(lambda self: self.cost.matmul_flops)
    intensity = property(lambda self: self.cost.intensity, doc="FLOPs per byte moved.")

    @property
    def predicted_s(self) -> float | None:
        """Predicted time in seconds: the sum of the ops' roofline times."""
        return self.timing.predicted_s if self.timing else None

    @property
    def bound(self) -> str | None:
        """"memory" or "compute": which kind of op takes most of the predicted time."""
        return self.timing.bound if self.timing else None

    @property
    def attainable(self) -> float | None:
        """Attainable FLOP/s: FLOPs / predicted time."""
        return self.timing.attainable if self.timing else None

    @property
    def memory_bound_share(self) -> float | None:
        return self.timing.memory_bound_share if self.timing else None

    @property
    def measured_s(self) -> float | None:
        """Measured time in seconds: the sum of the ops' median times (``roofscope.measure``)."""
        return self.measured.measured_s if self.measured else None

    @property
    def achieved_flops(self) -> float | None:
        """FLOP/s achieved: FLOPs / measured time."""
        return self.measured.achieved_flops if self.measured else None

    @property
    def achieved_bandwidth(self) -> float | None:
        """Bytes/s achieved: bytes / measured time."""
        return self.measured.achieved_bandwidth if self.measured else None

    @property
    def utilization(self) -> float | None:
        """Achieved FLOP/s over the highest peak among the ops (None without a device)."""
        return self.measured.utilization if self.measured else None

    @property
    def efficiency(self) -> float | None:
        """Roofline efficiency: predicted time / measured time (None without both)."""
        return self.measured.efficiency if self.measured else None

    def __add__(self, other: Cost | Figures) -> Cost:
        return self.cost + (other.cost if isinstance(other, Figures) else other)

    __radd__ = __add__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Figures):
            return self.cost == other.cost and self.timing == other.timing and self.measured == other.measured
        if isinstance(other, Cost):
            return self.cost == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.cost, self.timing, self.measured))

    def scaled(self, factor: int) -> Cost:
        return self.cost.scaled(factor)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.cost.to_dict()
        if self.timing is not None:
            data.update(self.timing.to_dict())
        if self.measured is not None:
            data.update(self.measured.to_dict())
        return data

    def __repr__(self) -> str:
        timing = f", predicted_s={self.predicted_s:.3g}, bound={self.bound}" if self.timing else ""
        measured = f", measured_s={self.measured_s:.3g}" if self.measured else ""
        return f"Figures(macs={self.macs}, flops={self.flops}, bytes={self.bytes}{timing}{measured})"


@dataclasses.dataclass(frozen=True, slots=True)
class OpRecord:
    """One op call and its cost; ``cost`` is None when no formula knows the op.

    ``timing`` is its roofline on the report's device (None without a device or without a cost);
    ``measured`` what a real run of it took (``roofscope.measure``; None otherwise).
    """

    event: OpEvent
    cost: Cost | None
    family: str
    timing: OpTiming | None = None
    measured: OpMeasured | None = None

    @property
    def predicted_s(self) -> float | None:
        return self.timing.predicted_s if self.timing else None

    @property
    def measured_s(self) -> float | None:
        return self.measured.measured_s if self.measured else None

    @property
    def bound(self) -> str | None:
        return self.timing.bound if self.timing else None

    @property
    def intensity(self) -> float | None:
        return self.cost.intensity if self.cost else None

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
    """All calls of one op name: how often it ran, its family, their summed cost and, in a measured
    report, their summed measured time."""

    name: str
    family: str
    calls: int
    cost: Cost | None
    measured_s: float | None = None


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
        self._self_timing: Timing | None = None
        self._total_timing: Timing | None = None
        self._self_measured: Measured | None = None
        self._total_measured: Measured | None = None
        self.uncounted: dict[str, int] = {}

    @property
    def self(this) -> Figures:  # noqa: N805 - named "self" by the public API: report.module(x).self.macs
        """Ops that ran directly in this module's forward."""
        return Figures(this._self, this._self_timing, this._self_measured)

    @property
    def total(self) -> Figures:
        """This module with everything below it."""
        return Figures(self._total, self._total_timing, self._total_measured)

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
        device: Device | None = None,
        precision: Precision | None = None,
        roofs: list[Roof] | None = None,
        measurement: Measurement | None = None,
    ) -> None:
        self.model_name = model_name
        #: How the measured figures were taken (``roofscope.measure``); None for an analysis only.
        self.measurement = measurement
        self.device = device
        self.precision = precision
        self.roofs: list[Roof] = roofs or []
        self.inputs = inputs
        self.ops = ops
        self.root = root
        self.params = params
        self._modules = {module.name: module for module in root.walk()}
        #: Set by the command line for a transformer preset: a ``roofscope.llm.ServingSummary`` (it
        #: goes into ``to_dict()`` under "llm" and the renderers print it after the report).
        self.llm: Any = None
        phase_costs: dict[str, Cost] = {}
        phase_ops: dict[str, list[int]] = {}
        for index, record in enumerate(ops):
            phase_ops.setdefault(record.event.phase, []).append(index)
            if record.cost is not None:
                phase_costs[record.event.phase] = phase_costs.get(record.event.phase, ZERO) + record.cost
        self._phases = {
            phase: Figures(
                phase_costs.get(phase, ZERO),
                summarize((i, ops[i].timing) for i in indices) if device is not None else None,
            )
            for phase, indices in phase_ops.items()
        }
        uncounted: dict[str, int] = {}
        for record in ops:
            if record.cost is None:
                uncounted[record.name] = uncounted.get(record.name, 0) + 1
        self.uncounted: dict[str, int] = dict(sorted(uncounted.items(), key=lambda item: (-item[1], item[0])))

    @property
    def total(self) -> Figures:
        return self.root.total

    @property
    def phases(self) -> dict[str, Figures]:
        """Totals per phase: {"forward": ...} and, for ``analyze(..., backward=True)``, "backward"."""
        return dict(self._phases)

    @property
    def forward(self) -> Figures:
        """The forward pass's ops (all of them unless the backward was analysed too)."""
        return self._phases.get("forward", Figures(ZERO, None))

    @property
    def backward(self) -> Figures | None:
        """The backward pass's ops, None when it was not analysed."""
        return self._phases.get("backward")

    @property
    def backward_forward_ratio(self) -> float | None:
        """Backward FLOPs / forward FLOPs (about 2 for matmul-dominated models), None without a backward."""
        backward = self.backward
        if backward is None or not self.forward.flops:
            return None
        return backward.flops / self.forward.flops

    def dominant(self, name: str = "") -> list[OpRecord]:
        """The ops that take the most predicted time in a module ("" = the model), heaviest first."""
        timing = self.module(name)._total_timing
        return [self.ops[i] for i in timing.dominant] if timing else []

    def shortfalls(self, name: str = "", *, limit: int | None = 10) -> list[OpRecord]:
        """In a measured report with a device: the ops of a module ("" = the model) that fall furthest
        short of their roof, most time lost (measured - predicted) first. Ops that do no work (views)
        have no roof and are not listed."""
        below = self.module(name)
        prefix = below.name + "." if below.name else ""
        found = [
            record for record in self.ops
            if record.measured is not None and record.timing is not None and record.timing.bound is not None
            and (not below.name or record.module == below.name or record.module.startswith(prefix))
        ]
        found.sort(key=lambda record: -(record.measured.shortfall_s or 0.0))  # type: ignore[union-attr]
        return found[:limit] if limit is not None else found

    def plot_roofline(self, path: Any = None, **options: Any) -> Any:
        """Draw the roofline chart (PNG, SVG or PDF by the path's suffix); returns the Figure.

        Options: ``by="op"`` or ``"module"``, ``depth`` (for modules), ``labels`` (how many of the
        heaviest points to name), ``title``. Needs matplotlib (``pip install roofscope[plot]``).
        """
        from roofscope.render.plot import plot_roofline

        return plot_roofline(self, path, **options)

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
        times: dict[str, float | None] = {}
        for record in self.ops:
            calls[record.name] = calls.get(record.name, 0) + 1
            families[record.name] = record.family
            previous = costs.get(record.name, ZERO)
            costs[record.name] = None if record.cost is None or previous is None else previous + record.cost
            time = times.get(record.name, 0.0)
            times[record.name] = None if record.measured is None or time is None else time + record.measured.measured_s
        summaries = [OpSummary(name, families[name], calls[name], costs[name], times[name]) for name in calls]
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
            "device": self.device.to_dict() if self.device else None,
            "precision": self.precision.name if self.precision else None,
            "measurement": self.measurement.to_dict() if self.measurement else None,
            "total": self.total.to_dict(),
            **(
                {
                    "phases": {phase: figures.to_dict() for phase, figures in self._phases.items()},
                    "backward_forward_flops_ratio": self.backward_forward_ratio,
                }
                if self.backward is not None
                else {}
            ),
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
                    **({"measured_s": summary.measured_s} if summary.measured_s is not None else {}),
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
                    **(
                        {
                            "predicted_s": record.timing.predicted_s,
                            "bound": record.timing.bound,
                            "peak": record.timing.peak_label,
                        }
                        if record.timing
                        else {}
                    ),
                    **(record.measured.to_dict() if record.measured else {}),
                }
                for record in self.ops
            ],
            **({"llm": self.llm.to_dict()} if self.llm is not None else {}),
        }

    def _repr_html_(self) -> str:
        """The compact HTML report for notebooks (module tree, totals, uncounted ops)."""
        from roofscope.render.html import to_html

        return to_html(self, full=False)

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
    device: Device | None = None,
    precision: Precision | None = None,
) -> Report:
    """Apply the formulas to every captured op and aggregate onto the module tree.

    ``precision``: rescale each op's bytes to a target precision (``roofline.retarget``).
    ``device``: attach a roofline timing to every counted op and aggregate it per module.
    """
    ops = []
    for event in captured.events:
        formula = formulas.get(event.op)
        family = formulas.family(event.op)
        cost = formula(event) if formula is not None else None
        if cost is not None and precision is not None:
            cost = retarget(cost, event, precision)
        timing = op_timing(cost, event, family, device, precision) if cost is not None and device is not None else None
        ops.append(OpRecord(event, cost, family, timing))

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
    chart_roofs: list[Roof] = []
    if device is not None:
        own: dict[str, list[int]] = {name: [] for name in nodes}
        for index, record in enumerate(ops):
            own[record.module].append(index)
        _accumulate_timing(root, own, ops)
        chart_roofs = roofs(device, {record.timing.peak_label for record in ops if record.timing and record.timing.flops})
    return Report(
        model_name=model_name, inputs=inputs, ops=ops, root=root, params=params[""],
        device=device, precision=precision, roofs=chart_roofs,
    )


def _accumulate_timing(node: ModuleReport, own: dict[str, list[int]], ops: list[OpRecord]) -> list[int]:
    """Self and total timings of every module; returns the indices of the ops below ``node``."""
    mine = own[node.name]
    node._self_timing = summarize((i, ops[i].timing) for i in mine)
    below = list(mine)
    for child in node.children:
        below += _accumulate_timing(child, own, ops)
    below.sort()
    node._total_timing = summarize((i, ops[i].timing) for i in below)
    return below


def attach_measured(report: Report, samples: list[list[float]] | None, measurement: Measurement) -> None:
    """Put a real run's figures into ``report`` (built from the same run's inputs): ``samples`` holds,
    for each op in ``report.ops`` order, its time in seconds in each timed repeat (None when the
    timed ops could not be matched to the report's: then only ``report.measurement`` is set)."""
    report.measurement = measurement
    if samples is None:
        return
    if len(samples) != len(report.ops):
        raise ValueError(f"{len(samples)} timed ops for {len(report.ops)} ops in the report")
    report.ops = [
        dataclasses.replace(
            record,
            measured=op_measured(
                times, record.cost.flops if record.cost else None, record.cost.bytes if record.cost else None, record.timing
            ),
        )
        for record, times in zip(report.ops, samples)
    ]
    own: dict[str, list[int]] = {name: [] for name in report._modules}
    for index, record in enumerate(report.ops):
        own[record.module].append(index)
    _accumulate_measured(report.root, own, report.ops)


def _accumulate_measured(node: ModuleReport, own: dict[str, list[int]], ops: list[OpRecord]) -> list[int]:
    mine = own[node.name]
    node._self_measured = summarize_measured(ops[i].measured for i in mine)  # type: ignore[misc]
    below = list(mine)
    for child in node.children:
        below += _accumulate_measured(child, own, ops)
    node._total_measured = summarize_measured(ops[i].measured for i in below)  # type: ignore[misc]
    return below


def _accumulate(node: ModuleReport) -> Cost:
    total = node._self
    for child in node.children:
        total = total + _accumulate(child)
    node._total = total
    return total
