"""roofscope: what a PyTorch model costs, and what limits its speed.

    report = roofscope.analyze(model, (1, 3, 224, 224))
    report.total.macs, report.total.flops, report.params.total

    report = roofscope.analyze(model, (1, 3, 224, 224), device="h100", dtype="bf16")
    report.total.predicted_s, report.total.bound, report.plot_roofline("roofline.png")

    report = roofscope.measure(model.eval(), (64, 3, 224, 224), device="cuda", roofline="h100")
    report.total.measured_s, report.total.utilization, report.total.efficiency, report.shortfalls()
    roofscope.probe("cuda").save("mine.toml")   # this machine's ceilings, a file --device accepts
"""

from roofscope.api import AnalysisError, analyze
from roofscope.capture import CaptureError, OpEvent, TensorMeta
from roofscope.cost import Cost
from roofscope.devices import Device, DeviceError, devices, get_device
from roofscope.formulas import Formulas, default_formulas
from roofscope.inputs import TensorSpec
from roofscope.models import ModelSpecError
from roofscope.measure import MeasureError, measure
from roofscope.measured import Measured, Measurement, OpMeasured
from roofscope.params import ParamCount
from roofscope.probe import Probe, probe
from roofscope.report import Figures, ModuleReport, OpRecord, OpSummary, Report
from roofscope.roofline import OpTiming, Precision, Roof, Timing

__version__ = "0.1.0"

__all__ = [
    "AnalysisError",
    "CaptureError",
    "Cost",
    "Device",
    "DeviceError",
    "Figures",
    "Formulas",
    "ModelSpecError",
    "MeasureError",
    "Measured",
    "Measurement",
    "ModuleReport",
    "OpEvent",
    "OpMeasured",
    "OpRecord",
    "OpSummary",
    "OpTiming",
    "ParamCount",
    "Precision",
    "Probe",
    "Report",
    "Roof",
    "TensorMeta",
    "TensorSpec",
    "Timing",
    "__version__",
    "analyze",
    "default_formulas",
    "devices",
    "get_device",
    "measure",
    "probe",
]
