"""The report: costs per op, aggregated onto the module tree, with parameters per module.

A ``Report`` is data with queries, built once (``roofscope.analyze``) and never changed afterwards;
renderers in ``roofscope.render`` read it. Its parts: ``records`` (one op), ``figures`` (a group's
cost, roofline timing and measured figures), ``modules`` (the tree and its fold), ``report``,
``serialize`` (JSON both ways), ``conventions`` (the sentences printed under the figures), ``views``
(the chart and notebook methods, handed to the renderers).
"""

from __future__ import annotations

from roofscope.report.conventions import CONVENTION, MEASURED_CONVENTION
from roofscope.report.figures import Figures
from roofscope.report.modules import ModuleReport
from roofscope.report.records import OpRecord, OpSummary
from roofscope.report.report import Report

__all__ = ["CONVENTION", "MEASURED_CONVENTION", "Figures", "ModuleReport", "OpRecord", "OpSummary", "Report"]
