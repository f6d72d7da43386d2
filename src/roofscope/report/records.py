"""One op's record in a report, and the summary of all calls of one op name."""

from __future__ import annotations

import dataclasses

from roofscope.cost import Cost
from roofscope.events import OpEvent
from roofscope.measured import OpMeasured
from roofscope.roofline import OpTiming

__all__ = ["OpRecord", "OpSummary"]


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
    def roofline_s(self) -> float | None:
        return self.timing.roofline_s if self.timing else None

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


@dataclasses.dataclass(frozen=True, slots=True)
class OpSummary:
    """All calls of one op name: how often it ran, its family, their summed cost and, in a measured
    report, their summed measured time."""

    name: str
    family: str
    calls: int
    cost: Cost | None
    measured_s: float | None = None
