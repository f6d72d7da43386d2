"""roofscope: what a PyTorch model costs, and what limits its speed.

    report = roofscope.analyze(model, (1, 3, 224, 224))
    report.total.macs, report.total.flops, report.params.total

    report = roofscope.analyze(model, (1, 3, 224, 224), device="h100", dtype="bf16")
    report.total.predicted_s, report.total.bound, report.plot_roofline("roofline.png")

    report = roofscope.measure(model.eval(), (64, 3, 224, 224), device="cuda", roofline="h100")
    report.total.measured_s, report.total.utilization, report.total.efficiency, report.shortfalls()
    roofscope.probe("cuda").save("mine.toml")   # this machine's ceilings, a file --device accepts

The names below are imported on first use, so ``import roofscope`` (and ``roofscope --version``)
does not import torch until something needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The device catalog imports no torch. Imported here, not on first use, because ``devices`` names
# both the subpackage and its function: the function must be what ``roofscope.devices`` is.
from roofscope.devices import Device, DeviceError, devices, get_device

__version__ = "0.1.0"

#: Each public name and the module that defines it.
_EXPORTS = {
    "AnalysisError": "roofscope.analysis",
    "analyze": "roofscope.analysis",
    "CaptureError": "roofscope.capture",
    "OpEvent": "roofscope.events",
    "TensorMeta": "roofscope.events",
    "Cost": "roofscope.cost",
    "MissingDependency": "roofscope.extras",
    "Formulas": "roofscope.formulas",
    "default_formulas": "roofscope.formulas",
    "TensorSpec": "roofscope.inputs",
    "ModelSpecError": "roofscope.models",
    "MeasureError": "roofscope.measurement.run",
    "measure": "roofscope.measurement.run",
    "Measured": "roofscope.measured",
    "Measurement": "roofscope.measured",
    "OpMeasured": "roofscope.measured",
    "ParamCount": "roofscope.params",
    "Probe": "roofscope.measurement.probe",
    "probe": "roofscope.measurement.probe",
    "Figures": "roofscope.report",
    "ModuleReport": "roofscope.report",
    "OpRecord": "roofscope.report",
    "OpSummary": "roofscope.report",
    "Report": "roofscope.report",
    "OpTiming": "roofscope.roofline",
    "Precision": "roofscope.precision",
    "Roof": "roofscope.roofline",
    "Timing": "roofscope.roofline",
}

__all__ = sorted([*_EXPORTS, "Device", "DeviceError", "devices", "get_device", "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'roofscope' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:
    from roofscope.analysis import AnalysisError, analyze
    from roofscope.capture import CaptureError
    from roofscope.cost import Cost
    from roofscope.events import OpEvent, TensorMeta
    from roofscope.extras import MissingDependency
    from roofscope.formulas import Formulas, default_formulas
    from roofscope.inputs import TensorSpec
    from roofscope.measured import Measured, Measurement, OpMeasured
    from roofscope.measurement.probe import Probe, probe
    from roofscope.measurement.run import MeasureError, measure
    from roofscope.models import ModelSpecError
    from roofscope.params import ParamCount
    from roofscope.precision import Precision
    from roofscope.report import Figures, ModuleReport, OpRecord, OpSummary, Report
    from roofscope.roofline import OpTiming, Roof, Timing
