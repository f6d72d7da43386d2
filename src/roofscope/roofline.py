"""The roofline stage: Report costs x Device -> per-op intensity, bound and predicted time.

Per op (docs/conventions.md, "Roofline"):
- intensity = FLOPs / bytes;
- the peak that applies: matmul-class ops (families matmul, conv, attention) run at the matrix
  (tensor-core) rate of their precision, every other op at the vector rate (``Device.peak`` gives
  the fallbacks when the device has no figure for a precision);
- roofline time = max(FLOPs / peak, bytes / bandwidth); bound = "compute" when FLOPs / peak is the
  larger term, else "memory".
The prediction stage (``roofscope.prediction``) puts the predicted time of an execution mode beside
it, with the terms that explain the difference. Aggregates (a module, the model): times summed over
ops, attainable FLOP/s = FLOPs / predicted time, the shares of the predicted time spent in memory-,
compute- and host-bound ops, and the ops that dominate.
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


def compute_key(event: OpEvent, family: str, precision: Precision | None, *, tf32: bool = False) -> str:
    """The precision whose peak applies to the op; ``tf32``: an fp32 matrix op runs in TF32 (the
    prediction stage reads when from torch's flags)."""
    if precision is not None:
        key = precision.compute if family in MATRIX_FAMILIES else (precision.activations if precision.activations != "tf32" else "fp32")
    else:
        key = _stored_key(event)
    return "tf32" if tf32 and key == "fp32" and family in MATRIX_FAMILIES else key


def _stored_key(event: OpEvent) -> str:
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
    """One op on one device: the seeds' roofline, and the predicted time in an execution mode.

    The roofline: the peak that applies (``peak``, ``peak_label``) and the datasheet bandwidth; its
    two terms ``compute_s`` = FLOPs / peak and ``memory_s`` = bytes / bandwidth; ``roofline_s`` =
    the larger; ``roofline_bound`` = which.

    The prediction (``roofscope.prediction``): ``device_s`` is the kernel's expected time on the
    device, ``predicted_s`` the op's share of the expected wall time, and

        predicted_s = roofline_s + cache_s + efficiency_s + host_s

    ``cache_s`` (<= 0): what the memory term gains from data served by the cache (``level``);
    ``efficiency_s``: the kernel's time beyond its roofline at that level (achievable rates, tile
    and wave quantisation, the shortest kernel); ``host_s``: wall time the host adds (waiting for
    it, on a GPU; its own time, on a CPU). ``bound``: what limits ``predicted_s``: "compute",
    "memory", "host", or None for an op that takes no time. Without a prediction, ``predicted_s``
    is the roofline time and the other terms are 0.
    """

    flops: int
    bytes: int
    peak: float  # FLOP/s
    peak_label: str  # e.g. "bf16 matrix"
    bandwidth: float  # bytes/s
    compute_s: float
    memory_s: float
    predicted_s: float
    bound: str | None
    device_s: float = 0.0
    cache_s: float = 0.0
    efficiency_s: float = 0.0
    host_s: float = 0.0
    level: str = "DRAM"

    @property
    def roofline_s(self) -> float:
        """The seeds' roofline time: max(FLOPs / peak, bytes / bandwidth) at the datasheet figures."""
        return max(self.compute_s, self.memory_s)

    @property
    def roofline_bound(self) -> str | None:
        """ "compute" or "memory" by the roofline alone; None for an op that does no work."""
        if not self.flops and not self.bytes:
            return None
        return "compute" if self.compute_s > self.memory_s else "memory"

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes if self.bytes else 0.0

    @property
    def attainable(self) -> float:
        """FLOP/s the op reaches at its predicted time."""
        return self.flops / self.predicted_s if self.predicted_s else 0.0


def op_timing(cost: Cost, event: OpEvent, family: str, device: Device, precision: Precision | None, *, tf32: bool = False) -> OpTiming:
    """The op on the device's roofline, its predicted time the roofline time (the prediction stage
    replaces it)."""
    key = compute_key(event, family, precision, tf32=tf32)
    peak, label = device.peak(key, matrix=family in MATRIX_FAMILIES)
    compute_s = cost.flops / peak
    memory_s = cost.bytes / device.memory_bandwidth
    roofline_s = max(compute_s, memory_s)
    works = cost.flops > 0 or cost.bytes > 0
    bound = None if not works else ("compute" if compute_s > memory_s else "memory")
    return OpTiming(
        cost.flops, cost.bytes, peak, label, device.memory_bandwidth, compute_s, memory_s, roofline_s, bound, device_s=roofline_s
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Timing:
    """Roofline figures and the prediction of a group of ops (a module, the model): sums of the
    ops' terms, so ``predicted_s = roofline_s + cache_s + efficiency_s + host_s`` here too."""

    flops: int
    bytes: int
    predicted_s: float
    roofline_s: float
    device_s: float
    cache_s: float
    efficiency_s: float
    host_s: float
    memory_bound_s: float
    compute_bound_s: float
    host_bound_s: float
    roofline_memory_s: float  # roofline time of the ops the roofline calls memory-bound
    roofline_compute_s: float
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
    def host_bound_share(self) -> float:
        """Share of the predicted time spent in host-bound ops (0..1)."""
        return self.host_bound_s / self.predicted_s if self.predicted_s else 0.0

    @property
    def roofline_bound(self) -> str | None:
        """ "memory" when the roofline's memory-bound ops take most of the roofline time, else
        "compute" (the seeds' verdict, without the prediction's host and efficiency terms)."""
        if not self.roofline_s:
            return None
        return "memory" if self.roofline_memory_s >= self.roofline_compute_s else "compute"

    @property
    def bound(self) -> str | None:
        """What takes most of the predicted time: "memory", "compute" or "host" (ties: memory first)."""
        if not self.predicted_s:
            return None
        shares = {"memory": self.memory_bound_s, "compute": self.compute_bound_s, "host": self.host_bound_s}
        return max(shares, key=lambda name: shares[name])

    def to_dict(self) -> dict[str, object]:
        return {
            "predicted_s": self.predicted_s,
            "roofline_s": self.roofline_s,
            "device_s": self.device_s,
            "cache_s": self.cache_s,
            "efficiency_s": self.efficiency_s,
            "host_s": self.host_s,
            "attainable_flops": self.attainable,
            "intensity": self.intensity,
            "bound": self.bound,
            "roofline_bound": self.roofline_bound,
            "memory_bound_share": self.memory_bound_share,
            "host_bound_share": self.host_bound_share,
            "dominant_ops": list(self.dominant),
            "unpredicted_calls": self.unpredicted,
        }


def summarize(timed: Iterable[tuple[int, OpTiming | None]], *, top: int = 5) -> Timing:
    """Aggregate op timings (index, timing); a None timing is an uncounted op."""
    flops = nbytes = unpredicted = 0
    predicted = roofline = device = cache = efficiency = host = 0.0
    bound_s = {"memory": 0.0, "compute": 0.0, "host": 0.0}
    roofline_bound_s = {"memory": 0.0, "compute": 0.0}
    ranked: list[tuple[float, int]] = []
    for index, timing in timed:
        if timing is None:
            unpredicted += 1
            continue
        flops += timing.flops
        nbytes += timing.bytes
        predicted += timing.predicted_s
        roofline += timing.roofline_s
        device += timing.device_s
        cache += timing.cache_s
        efficiency += timing.efficiency_s
        host += timing.host_s
        if timing.bound in bound_s:
            bound_s[timing.bound] += timing.predicted_s
        if timing.roofline_bound is not None:
            roofline_bound_s[timing.roofline_bound] += timing.roofline_s
        if timing.predicted_s:
            ranked.append((timing.predicted_s, index))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    return Timing(
        flops,
        nbytes,
        predicted,
        roofline,
        device,
        cache,
        efficiency,
        host,
        bound_s["memory"],
        bound_s["compute"],
        bound_s["host"],
        roofline_bound_s["memory"],
        roofline_bound_s["compute"],
        tuple(i for _, i in ranked[:top]),
        unpredicted,
    )


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
