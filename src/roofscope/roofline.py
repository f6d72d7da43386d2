"""The roofline stage: Report costs x Device -> per-op intensity, bound and predicted time.

Per op (docs/conventions.md, "Roofline"):
- intensity = FLOPs / bytes;
- the peak that applies: matmul-class ops (families matmul, conv, attention) run at the matrix
  (tensor-core) rate of their precision, every other op at the vector rate (``Device.peak`` gives
  the fallbacks when the device has no figure for a precision);
- predicted time = max(FLOPs / peak, bytes / bandwidth), then max(that, the device's launch floor)
  for an op that does any work; bound = "compute" when FLOPs / peak is the larger term, else "memory".
Aggregates (a module, the model): predicted time summed over ops, attainable FLOP/s = FLOPs /
predicted time, the share of the time spent in memory-bound ops, and the ops that dominate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from roofscope.cost import Cost
from roofscope.devices import Device
from roofscope.events import OpEvent
from roofscope.precision import Precision, dtype_key

__all__ = ["MATRIX_FAMILIES", "OpTiming", "Roof", "Timing", "compute_key", "op_timing", "roofs", "summarize"]

#: Op families whose FLOPs run on the matrix units.
MATRIX_FAMILIES = frozenset({"matmul", "conv", "attention"})


def compute_key(event: OpEvent, family: str, precision: Precision | None) -> str:
    """The precision whose peak applies to the op."""
    if precision is not None:
        return precision.compute if family in MATRIX_FAMILIES else (precision.activations if precision.activations != "tf32" else "fp32")
    tensors = [*event.inputs, *event.outputs]
    for tensor in tensors:
        if tensor.is_floating and dtype_key(tensor.dtype):
            return dtype_key(tensor.dtype)  # type: ignore[return-value]
    for tensor in tensors:
        if dtype_key(tensor.dtype):
            return dtype_key(tensor.dtype)  # type: ignore[return-value]
    return "fp32"


@dataclasses.dataclass(frozen=True, slots=True)
class OpTiming:
    """One op on one device: the peak that applies, both roofline terms, and the prediction."""

    flops: int
    bytes: int
    peak: float  # FLOP/s
    peak_label: str  # e.g. "bf16 matrix"
    bandwidth: float  # bytes/s
    compute_s: float
    memory_s: float
    predicted_s: float
    bound: str | None  # "compute", "memory", or None for an op that does no work
    launch_bound: bool = False

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes if self.bytes else 0.0

    @property
    def attainable(self) -> float:
        """FLOP/s the op reaches at its predicted time."""
        return self.flops / self.predicted_s if self.predicted_s else 0.0


def op_timing(cost: Cost, event: OpEvent, family: str, device: Device, precision: Precision | None) -> OpTiming:
    key = compute_key(event, family, precision)
    peak, label = device.peak(key, matrix=family in MATRIX_FAMILIES)
    compute_s = cost.flops / peak
    memory_s = cost.bytes / device.memory_bandwidth
    roof_s = max(compute_s, memory_s)
    works = cost.flops > 0 or cost.bytes > 0
    predicted = max(roof_s, device.launch_overhead_s) if works else 0.0
    bound = None if not works else ("compute" if compute_s > memory_s else "memory")
    return OpTiming(
        cost.flops,
        cost.bytes,
        peak,
        label,
        device.memory_bandwidth,
        compute_s,
        memory_s,
        predicted,
        bound,
        launch_bound=works and device.launch_overhead_s > roof_s,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Timing:
    """Roofline figures of a group of ops (a module, the model)."""

    flops: int
    bytes: int
    predicted_s: float
    memory_bound_s: float
    compute_bound_s: float
    launch_bound_s: float
    dominant: tuple[int, ...]  # indices into Report.ops, heaviest predicted time first
    unpredicted: int  # op calls without a formula, hence without a prediction

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes if self.bytes else 0.0

    @property
    def attainable(self) -> float:
        """Attainable FLOP/s: FLOPs / predicted time."""
        return self.flops / self.predicted_s if self.predicted_s else 0.0

    @property
    def memory_bound_share(self) -> float:
        """Share of the predicted time spent in memory-bound ops (0..1)."""
        return self.memory_bound_s / self.predicted_s if self.predicted_s else 0.0

    @property
    def bound(self) -> str | None:
        """ "memory" when memory-bound ops take most of the predicted time, else "compute"."""
        if not self.predicted_s:
            return None
        return "memory" if self.memory_bound_s >= self.compute_bound_s else "compute"

    def to_dict(self) -> dict[str, object]:
        return {
            "predicted_s": self.predicted_s,
            "attainable_flops": self.attainable,
            "intensity": self.intensity,
            "bound": self.bound,
            "memory_bound_share": self.memory_bound_share,
            "launch_bound_s": self.launch_bound_s,
            "dominant_ops": list(self.dominant),
            "unpredicted_calls": self.unpredicted,
        }


def summarize(timed: Iterable[tuple[int, OpTiming | None]], *, top: int = 5) -> Timing:
    """Aggregate op timings (index, timing); a None timing is an uncounted op."""
    flops = nbytes = unpredicted = 0
    predicted = memory_s = compute_s = launch_s = 0.0
    ranked: list[tuple[float, int]] = []
    for index, timing in timed:
        if timing is None:
            unpredicted += 1
            continue
        flops += timing.flops
        nbytes += timing.bytes
        predicted += timing.predicted_s
        if timing.bound == "memory":
            memory_s += timing.predicted_s
        elif timing.bound == "compute":
            compute_s += timing.predicted_s
        if timing.launch_bound:
            launch_s += timing.predicted_s
        if timing.predicted_s:
            ranked.append((timing.predicted_s, index))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    return Timing(flops, nbytes, predicted, memory_s, compute_s, launch_s, tuple(i for _, i in ranked[:top]), unpredicted)


@dataclasses.dataclass(frozen=True, slots=True)
class Roof:
    """One ceiling of the chart: a peak, the memory slope, and where they meet."""

    label: str  # "bf16 matrix"
    peak: float  # FLOP/s
    bandwidth: float  # bytes/s

    @property
    def ridge(self) -> float:
        """FLOP/byte at which the roof turns from memory- to compute-bound."""
        return self.peak / self.bandwidth


def roofs(device: Device, labels: Iterable[str]) -> list[Roof]:
    """The roofs for the peaks in play, highest first."""
    found = {}
    for label in labels:
        dtype, kind = label.split(" ")
        peak = (device.matrix if kind == "matrix" else device.vector).get(dtype)
        if peak:
            found[label] = Roof(label, peak, device.memory_bandwidth)
    return sorted(found.values(), key=lambda roof: -roof.peak)
