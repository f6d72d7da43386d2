"""Measured figures: what a real run took, per op and aggregated, beside the roofline's prediction.

The data types of ``roofscope.measure`` (which runs the model; ``roofscope.measurement.run``) and the arithmetic
that turns per-op times into per-module figures. Definitions (docs/conventions.md, "Measured"):

- an op's **measured time** is the median, over the timed repeats, of that op call's own time;
- a group's (module, model) measured time is the sum of its ops' measured times;
- **achieved** FLOP/s = FLOPs / measured time, achieved bytes/s = bytes / measured time;
- **utilization** = achieved FLOP/s / the peak that applies (an op: the roofline's peak for its
  precision and family; a group: the peak of the precision that did most of its FLOPs), and bandwidth utilization =
  achieved bytes/s / the device's memory bandwidth;
- **roofline efficiency** = roofline time / measured time, over the ops that have a roofline
  (1.0 = the op runs at its roof; 0.25 = it takes 4x the roofline's time).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterable
from typing import Any

from roofscope.roofline import OpTiming

__all__ = ["Measured", "Measurement", "OpMeasured", "dominant_peak", "op_measured", "summarize_measured"]


@dataclasses.dataclass(frozen=True, slots=True)
class OpMeasured:
    """One op call measured: its median time over the repeats (with the fastest and slowest), and
    what that achieves against its roofline (``timing``, None without a device or without a formula)."""

    measured_s: float
    min_s: float
    max_s: float
    flops: int | None  # None: the op has no formula
    bytes: int | None
    timing: OpTiming | None = None

    @property
    def roofline_s(self) -> float | None:
        return self.timing.roofline_s if self.timing else None

    @property
    def achieved_flops(self) -> float | None:
        """FLOP/s: FLOPs / measured time."""
        return self.flops / self.measured_s if self.flops is not None and self.measured_s > 0 else None

    @property
    def achieved_bandwidth(self) -> float | None:
        """Bytes/s: bytes read and written / measured time."""
        return self.bytes / self.measured_s if self.bytes is not None and self.measured_s > 0 else None

    @property
    def utilization(self) -> float | None:
        """Achieved FLOP/s over the peak that applies to the op (its ``timing.peak_label``)."""
        achieved = self.achieved_flops
        return achieved / self.timing.peak if achieved is not None and self.timing and self.timing.peak else None

    @property
    def bandwidth_utilization(self) -> float | None:
        """Achieved bytes/s over the device's memory bandwidth."""
        achieved = self.achieved_bandwidth
        return achieved / self.timing.bandwidth if achieved is not None and self.timing else None

    @property
    def efficiency(self) -> float | None:
        """Roofline efficiency: roofline time / measured time (None for an op whose roofline is 0 s)."""
        if self.timing is None or not self.timing.roofline_s or self.measured_s <= 0:
            return None
        return self.timing.roofline_s / self.measured_s

    @property
    def shortfall_s(self) -> float | None:
        """Measured time beyond the roofline's: measured - roofline (negative: faster than the roofline)."""
        return self.measured_s - self.timing.roofline_s if self.timing else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "measured_s": self.measured_s,
            "measured_min_s": self.min_s,
            "measured_max_s": self.max_s,
            "achieved_flops": self.achieved_flops,
            "achieved_bandwidth": self.achieved_bandwidth,
            "utilization": self.utilization,
            "bandwidth_utilization": self.bandwidth_utilization,
            "efficiency": self.efficiency,
        }


def op_measured(samples: list[float], flops: int | None, nbytes: int | None, timing: OpTiming | None) -> OpMeasured:
    """An op's figures from its time in each timed repeat (seconds)."""
    return OpMeasured(statistics.median(samples), min(samples), max(samples), flops, nbytes, timing)


@dataclasses.dataclass(frozen=True, slots=True)
class Measured:
    """Measured figures of a group of ops (a module, the model).

    ``measured_s`` sums every op's measured time, those without a formula included;
    ``roofline_s`` and ``measured_timed_s`` cover only the ops with a roofline, so that
    ``efficiency`` compares like with like. ``peak`` is the peak of the precision that did most of
    the group's FLOPs (``peak_label`` its name, e.g. "bf16 matrix" for a bf16 run's matmuls, not the
    fp32 vector rate its element-wise ops fall back to; a tie goes to the higher peak).
    """

    measured_s: float
    flops: int
    bytes: int
    roofline_s: float | None
    measured_timed_s: float
    peak: float | None
    peak_label: str | None
    bandwidth: float | None
    ops: int

    @property
    def achieved_flops(self) -> float:
        return self.flops / self.measured_s if self.measured_s > 0 else 0.0

    @property
    def achieved_bandwidth(self) -> float:
        return self.bytes / self.measured_s if self.measured_s > 0 else 0.0

    @property
    def utilization(self) -> float | None:
        return self.achieved_flops / self.peak if self.peak else None

    @property
    def bandwidth_utilization(self) -> float | None:
        return self.achieved_bandwidth / self.bandwidth if self.bandwidth else None

    @property
    def efficiency(self) -> float | None:
        if self.roofline_s is None or self.measured_timed_s <= 0:
            return None
        return self.roofline_s / self.measured_timed_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "measured_s": self.measured_s,
            "achieved_flops": self.achieved_flops,
            "achieved_bandwidth": self.achieved_bandwidth,
            "utilization": self.utilization,
            "utilization_peak": self.peak_label,
            "bandwidth_utilization": self.bandwidth_utilization,
            "efficiency": self.efficiency,
        }


def dominant_peak(work: dict[tuple[str, float], int]) -> tuple[str | None, float | None]:
    """The (label, peak) that did the most FLOPs (a tie: the higher peak); (None, None) for none."""
    if not work:
        return None, None
    (label, peak), _ = max(work.items(), key=lambda item: (item[1], item[0][1]))
    return label, peak


def summarize_measured(measured: Iterable[OpMeasured]) -> Measured | None:
    """Aggregate op measurements; None for a group with no measured op."""
    ops = flops = nbytes = 0
    total = measured_predicted = 0.0
    predicted: float | None = None
    bandwidth: float | None = None
    work: dict[tuple[str, float], int] = {}  # FLOPs per (peak label, peak)
    for item in measured:
        ops += 1
        total += item.measured_s
        flops += item.flops or 0
        nbytes += item.bytes or 0
        timing = item.timing
        if timing is None:
            continue
        predicted = (predicted or 0.0) + timing.roofline_s
        measured_predicted += item.measured_s
        bandwidth = timing.bandwidth
        if timing.flops:
            key = (timing.peak_label, timing.peak)
            work[key] = work.get(key, 0) + timing.flops
    if not ops:
        return None
    label, peak = dominant_peak(work)
    return Measured(total, flops, nbytes, predicted, measured_predicted, peak, label, bandwidth, ops)


@dataclasses.dataclass(frozen=True)
class Measurement:
    """How a report's measured figures were taken, and the whole-model times.

    ``forward_s``: the median of ``repeats`` plain forwards (no dispatch mode, no hook), the
    model's real time; ``timed_s``: the median wall time of the forwards run under the per-op
    timer; ``ops_s``: the sum of the per-op medians (None when the ops could not be matched).
    ``overhead`` = timed / plain: what the per-op timing costs. ``coverage`` = ops / plain: the
    share of the forward's time that the ops account for (the rest is host time between them).
    """

    device: str  # "cpu (AMD EPYC, 2 threads)", "cuda:0 (NVIDIA H100 80GB HBM3)"
    clock: str  # how one op is timed
    repeats: int
    warmup: int
    forward_s: float
    forward_min_s: float
    forward_max_s: float
    timed_s: float
    ops_s: float | None
    matched: bool
    note: str = ""  # why the ops could not be matched, or a caveat
    flops: int = 0
    peak: float | None = None
    peak_label: str | None = None
    ceilings: str | None = None  # where the peaks came from: "catalog: h100-sxm", "file: probe.toml"

    @property
    def overhead(self) -> float:
        """Wall time of a per-op-timed forward / a plain forward."""
        return self.timed_s / self.forward_s if self.forward_s > 0 else 0.0

    @property
    def coverage(self) -> float | None:
        """Sum of the ops' measured times / a plain forward."""
        return self.ops_s / self.forward_s if self.ops_s is not None and self.forward_s > 0 else None

    @property
    def achieved_flops(self) -> float:
        """The model's FLOPs / the plain forward's time."""
        return self.flops / self.forward_s if self.forward_s > 0 else 0.0

    @property
    def utilization(self) -> float | None:
        """Achieved FLOP/s of the whole forward over the highest peak among its ops."""
        return self.achieved_flops / self.peak if self.peak else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "clock": self.clock,
            "repeats": self.repeats,
            "warmup": self.warmup,
            "forward_s": self.forward_s,
            "forward_min_s": self.forward_min_s,
            "forward_max_s": self.forward_max_s,
            "timed_forward_s": self.timed_s,
            "ops_s": self.ops_s,
            "overhead": self.overhead,
            "coverage": self.coverage,
            "flops": self.flops,
            "achieved_flops": self.achieved_flops,
            "utilization": self.utilization,
            "utilization_peak": self.peak_label,
            "peak": self.peak,
            "ceilings": self.ceilings,
            "matched": self.matched,
            "note": self.note,
        }
