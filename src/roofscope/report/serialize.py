"""A report as JSON data, and back: ``Report.to_dict`` and ``Report.from_dict``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from roofscope.cost import Cost
from roofscope.devices import Device
from roofscope.devices.execution import Execution
from roofscope.events import OpEvent, TensorMeta
from roofscope.measured import Measurement, OpMeasured
from roofscope.params import ParamCount
from roofscope.precision import parse_precision
from roofscope.prediction import PredictionSummary
from roofscope.report.conventions import CONVENTION
from roofscope.report.records import OpRecord
from roofscope.roofline import OpTiming

if TYPE_CHECKING:
    from roofscope.report.report import Report

__all__ = ["report_from_dict", "report_to_dict"]


def _timing_to_dict(timing: OpTiming) -> dict[str, Any]:
    return {
        "predicted_s": timing.predicted_s,
        "bound": timing.bound,
        "peak": timing.peak_label,
        "peak_flops": timing.peak,
        "kernel_flops": timing.flops,
        "kernel_bytes": timing.bytes,
        "bandwidth": timing.bandwidth,
        "compute_s": timing.compute_s,
        "memory_s": timing.memory_s,
        "roofline_s": timing.roofline_s,
        "roofline_bound": timing.roofline_bound,
        "device_s": timing.device_s,
        "cache_s": timing.cache_s,
        "efficiency_s": timing.efficiency_s,
        "host_s": timing.host_s,
        "level": timing.level,
    }


def report_to_dict(report: Report) -> dict[str, Any]:
    """``Report.to_dict``."""
    return {
        "model": report.model_name,
        "inputs": report.inputs,
        "convention": CONVENTION,
        "device": report.device.to_dict() if report.device else None,
        "precision": report.precision.name if report.precision else None,
        "measurement": report.measurement.to_dict() if report.measurement else None,
        "prediction": report.prediction.to_dict() if report.prediction else None,
        "total": report.total.to_dict(),
        **(
            {
                "phases": {phase: figures.to_dict() for phase, figures in report.phases.items()},
                "backward_forward_flops_ratio": report.backward_forward_ratio,
            }
            if report.backward is not None
            else {}
        ),
        "params": report.params.to_dict(),
        "complete": report.complete,
        "uncounted": dict(report.uncounted),
        "uncalled_modules": report.uncalled,
        "notes": list(report.notes),
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
                "complete": module.complete,
                "uncounted_total": dict(module.uncounted_total),
            }
            for module in report.modules()
        ],
        "by_op": [
            {
                "op": summary.name,
                "family": summary.family,
                "calls": summary.calls,
                "cost": summary.cost.to_dict() if summary.cost else None,
                **({"measured_s": summary.measured_s} if summary.measured_s is not None else {}),
            }
            for summary in report.by_op().values()
        ],
        "ops": [
            {
                "op": record.name,
                "module": record.module,
                "phase": record.event.phase,
                "inputs": [str(t) for t in record.event.inputs],
                "outputs": [str(t) for t in record.event.outputs],
                "cost": record.cost.to_dict() if record.cost else None,
                **(_timing_to_dict(record.timing) if record.timing else {}),
                **(record.measured.to_dict() if record.measured else {}),
            }
            for record in report.ops
        ],
    }


_TENSOR = re.compile(r"^(\w+)\[([\d, ]*)\]$")


def _tensor(text: str) -> TensorMeta:
    """A tensor from its report text, "float32[1, 3, 224, 224]", with contiguous strides."""
    import torch

    match = _TENSOR.match(text)
    dtype = getattr(torch, match.group(1), None) if match else None
    if match is None or not isinstance(dtype, torch.dtype):
        raise ValueError(f"not a tensor description: {text!r}")
    shape = tuple(int(size) for size in match.group(2).split(",") if size.strip())
    stride, step = [], 1
    for size in reversed(shape):
        stride.append(step)
        step *= max(size, 1)
    return TensorMeta(shape, tuple(reversed(stride)), dtype)


def _cost(data: Mapping[str, Any] | None) -> Cost | None:
    if data is None:
        return None
    return Cost(data["macs"], data["flops"], data["bytes_read"], data["bytes_written"])


def _device(data: Mapping[str, Any]) -> Device:
    return Device(
        name=data["name"],
        memory_bandwidth=data["memory_bandwidth"],
        memory_capacity=data["memory_capacity"],
        matrix=dict(data["matrix"]),
        vector=dict(data["vector"]),
        sources=dict(data["sources"]),
        launch_overhead_s=data["launch_overhead_s"],
        key=data["key"],
        aliases=tuple(data.get("aliases", ())),
        execution=Execution.from_dict(data["execution"]) if "execution" in data else Execution(),
    )


def _record(data: Mapping[str, Any], family: str) -> OpRecord:
    inputs = tuple(_tensor(text) for text in data["inputs"])
    event = OpEvent(
        op=data["op"],
        overload=data.get("overload", "default"),
        args=inputs,
        kwargs={},
        outputs=tuple(_tensor(text) for text in data["outputs"]),
        module=data["module"],
        phase=data["phase"],
    )
    cost = _cost(data["cost"])
    timing = None
    if "predicted_s" in data and cost is not None:
        timing = OpTiming(
            data["kernel_flops"],
            data["kernel_bytes"],
            data["peak_flops"],
            data["peak"],
            data["bandwidth"],
            data["compute_s"],
            data["memory_s"],
            data["predicted_s"],
            data["bound"],
            device_s=data["device_s"],
            cache_s=data["cache_s"],
            efficiency_s=data["efficiency_s"],
            host_s=data["host_s"],
            level=data["level"],
        )
    measured = None
    if "measured_s" in data:
        measured = OpMeasured(
            data["measured_s"],
            data["measured_min_s"],
            data["measured_max_s"],
            cost.flops if cost else None,
            cost.bytes if cost else None,
            timing,
        )
    return OpRecord(event, cost, family, timing, measured)


def _measurement(data: Mapping[str, Any]) -> Measurement:
    return Measurement(
        device=data["device"],
        clock=data["clock"],
        repeats=data["repeats"],
        warmup=data["warmup"],
        forward_s=data["forward_s"],
        forward_min_s=data["forward_min_s"],
        forward_max_s=data["forward_max_s"],
        timed_s=data["timed_forward_s"],
        ops_s=data["ops_s"],
        matched=data["matched"],
        note=data["note"],
        flops=data["flops"],
        peak=data["peak"],
        peak_label=data["utilization_peak"],
        ceilings=data["ceilings"],
    )


def report_from_dict(data: Mapping[str, Any]) -> Report:
    """``Report.from_dict``: the op records and the module tree are read back, every aggregate is
    computed again from them as ``roofscope.analyze`` computes it."""
    from roofscope.report.report import Report

    families = {summary["op"]: summary["family"] for summary in data["by_op"]}
    modules = {module["name"]: (module["type"], module["calls"], ParamCount(**module["params"])) for module in data["modules"]}
    return Report(
        model_name=data["model"],
        inputs=list(data["inputs"]),
        ops=[_record(op, families[op["op"]]) for op in data["ops"]],
        modules=modules,
        device=_device(data["device"]) if data["device"] is not None else None,
        precision=parse_precision(data["precision"]),
        measurement=_measurement(data["measurement"]) if data["measurement"] is not None else None,
        prediction=PredictionSummary.from_dict(data["prediction"]) if data.get("prediction") is not None else None,
        notes=data.get("notes", ()),
    )
