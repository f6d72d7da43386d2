"""roofscope: what a PyTorch model costs, and what limits its speed.

    report = roofscope.analyze(model, (1, 3, 224, 224))
    report.total.macs, report.total.flops, report.params.total
"""

from roofscope.api import AnalysisError, analyze
from roofscope.capture import CaptureError, OpEvent, TensorMeta
from roofscope.cost import Cost
from roofscope.formulas import Formulas, default_formulas
from roofscope.inputs import TensorSpec
from roofscope.params import ParamCount
from roofscope.report import ModuleReport, OpRecord, OpSummary, Report

__version__ = "0.1.0"

__all__ = [
    "AnalysisError",
    "CaptureError",
    "Cost",
    "Formulas",
    "ModuleReport",
    "OpEvent",
    "OpRecord",
    "OpSummary",
    "ParamCount",
    "Report",
    "TensorMeta",
    "TensorSpec",
    "__version__",
    "analyze",
    "default_formulas",
]
