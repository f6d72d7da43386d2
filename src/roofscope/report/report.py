"""``Report``: what a model costs for one set of inputs, per op and per module. Data with queries:
its aggregates are computed once, when it is built, and nothing changes it afterwards (a stage that
adds figures, such as ``with_measured``, returns a new report)."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from roofscope.cost import ZERO, Cost
from roofscope.devices import Device
from roofscope.measured import Measurement, op_measured
from roofscope.precision import Precision
from roofscope.prediction import PredictionSummary
from roofscope.report.conventions import CONVENTION
from roofscope.report.figures import Figures
from roofscope.report.modules import ModuleInfo, ModuleReport, build_tree, figures_of
from roofscope.report.records import OpRecord, OpSummary
from roofscope.report.views import Views
from roofscope.roofline import Roof, roofs

__all__ = ["Report"]


class Report(Views):
    """What a model costs for one set of inputs. ``roofscope.analyze`` builds one from the model's
    op records; ``Report.from_dict`` reads one back from its JSON."""

    def __init__(
        self,
        *,
        model_name: str,
        inputs: list[str],
        ops: list[OpRecord],
        modules: Mapping[str, ModuleInfo],
        device: Device | None = None,
        precision: Precision | None = None,
        measurement: Measurement | None = None,
        prediction: PredictionSummary | None = None,
        notes: Sequence[str] = (),
    ) -> None:
        """``modules``: every module of the model by qualified name ("" for the model), parents
        first, with its (type name, calls, parameters); ``ops`` the op records in the order they ran;
        ``notes``: one line each about how the model was analysed (a compiled module unwrapped, a
        forward on meta counted up to the op that needed tensor values)."""
        self.model_name = model_name
        self.notes: tuple[str, ...] = tuple(notes)
        #: How the measured figures were taken (``roofscope.measure``); None for an analysis only.
        self.measurement = measurement
        self.device = device
        self.precision = precision
        #: How the predicted times were made (mode, TF32 flags, every mode's total); None without a device.
        self.prediction = prediction
        self.inputs = list(inputs)
        self.ops = list(ops)
        self._module_info = dict(modules)
        timed = device is not None
        self.root: ModuleReport = build_tree(self.ops, self._module_info, timed=timed)
        self.params = self.root.params
        self._modules = {module.name: module for module in self.root.walk()}
        labels = {record.timing.peak_label for record in self.ops if record.timing and record.timing.flops}
        self.roofs: list[Roof] = roofs(device, labels) if device is not None else []
        phase_ops: dict[str, list[int]] = {}
        for index, record in enumerate(self.ops):
            phase_ops.setdefault(record.event.phase, []).append(index)
        self._phases = {phase: figures_of(self.ops, indices, timed=timed) for phase, indices in phase_ops.items()}
        #: Op calls without a formula, by name, most calls first: the totals leave them out.
        self.uncounted: dict[str, int] = self.root.uncounted_total

    def _with(
        self,
        ops: list[OpRecord],
        measurement: Measurement | None,
        prediction: PredictionSummary | None = None,
        notes: Sequence[str] = (),
    ) -> Report:
        return Report(
            model_name=self.model_name,
            inputs=self.inputs,
            ops=ops,
            modules=self._module_info,
            device=self.device,
            precision=self.precision,
            measurement=measurement,
            prediction=self.prediction if prediction is None else prediction,
            notes=(*self.notes, *notes),
        )

    def with_ops(self, ops: list[OpRecord], *, prediction: PredictionSummary | None = None, notes: Sequence[str] = ()) -> Report:
        """A new report of the same model and inputs over these op records (the same ops, counted by
        another convention: ``roofscope.llm``'s serving traffic), with their predictions' summary
        (``prediction``; None: this report's) and ``notes`` added to this report's."""
        if len(ops) != len(self.ops):
            raise ValueError(f"{len(ops)} op records for {len(self.ops)} ops in the report")
        return self._with(ops, self.measurement, prediction, notes)

    def with_measured(self, samples: Sequence[Sequence[float]] | None, measurement: Measurement) -> Report:
        """A new report: this one with a real run's figures. ``samples`` holds, for each op in
        ``ops`` order, its time in seconds in each timed repeat (None when the timed ops could not
        be matched to the report's: then only ``measurement`` is added). ``measurement.ops_s`` is
        set to the sum of the ops' median times."""
        if samples is None:
            return self._with(self.ops, measurement)
        if len(samples) != len(self.ops):
            raise ValueError(f"{len(samples)} timed ops for {len(self.ops)} ops in the report")
        ops = [
            dataclasses.replace(
                record,
                measured=op_measured(
                    list(times), record.cost.flops if record.cost else None, record.cost.bytes if record.cost else None, record.timing
                ),
            )
            for record, times in zip(self.ops, samples)
        ]
        ops_s = sum(record.measured.measured_s for record in ops if record.measured is not None)
        return self._with(ops, dataclasses.replace(measurement, ops_s=ops_s))

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
        return self._phases.get("forward", Figures(ZERO))

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
        timing = self.module(name).total.timing
        return [self.ops[i] for i in timing.dominant] if timing else []

    def shortfalls(self, name: str = "", *, limit: int | None = 10) -> list[OpRecord]:
        """In a measured report with a device: the ops of a module ("" = the model) that fall furthest
        short of their roof, most time lost (measured - roofline) first. Ops that do no work (views)
        have no roof and are not listed."""
        below = self.module(name)
        prefix = below.name + "." if below.name else ""
        found = [
            record
            for record in self.ops
            if record.measured is not None
            and record.timing is not None
            and record.timing.bound is not None
            and (not below.name or record.module == below.name or record.module.startswith(prefix))
        ]
        found.sort(key=lambda record: -(record.measured.shortfall_s or 0.0))  # type: ignore[union-attr]
        return found[:limit] if limit is not None else found

    @property
    def complete(self) -> bool:
        """Whether every op call has a formula; False: the totals leave out ``uncounted``."""
        return not self.uncounted

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
        """Everything in the report as plain JSON-serialisable data (the JSON Schema shipped in the
        package, ``roofscope/schema/report.schema.json``, describes it)."""
        from roofscope.report.serialize import report_to_dict

        return report_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        """The report that ``to_dict`` wrote: ``Report.from_dict(report.to_dict()).to_dict()`` equals
        ``report.to_dict()``. Tensors keep their shape and dtype (their strides read as contiguous)."""
        from roofscope.report.serialize import report_from_dict

        return report_from_dict(data)

    def __repr__(self) -> str:
        return (
            f"<roofscope.Report {self.model_name}: {self.total.macs:,} MACs, {self.total.flops:,} FLOPs, "
            f"{self.total.bytes:,} bytes, {self.params.total:,} params, {len(self.uncounted)} uncounted op(s)>"
        )
