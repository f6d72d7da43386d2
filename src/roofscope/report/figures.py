"""``Figures``: a Cost with its roofline Timing and measured figures, as a module or the model shows them."""

from __future__ import annotations

from typing import Any

from roofscope.cost import Cost
from roofscope.measured import Measured
from roofscope.roofline import Timing

__all__ = ["Figures"]


class Figures:
    """A Cost (MACs, FLOPs, bytes) together with its roofline Timing on the report's device, and
    what a real run measured (``roofscope.measure``).

    Reads like a Cost: ``.macs``, ``.flops``, ``.bytes``, ``.intensity``..., and compares equal to a
    Cost with the same counts. The roofline and prediction fields (``roofline_s``, ``predicted_s``,
    ``host_s``, ``bound``, ``attainable``,
    ``memory_bound_share``) are None when the report has no device; the measured fields
    (``measured_s``, ``achieved_flops``, ``utilization``, ``efficiency``...) when it was not measured.
    """

    __slots__ = ("cost", "measured", "timing")

    def __init__(self, cost: Cost, timing: Timing | None = None, measured: Measured | None = None) -> None:
        self.cost = cost
        self.timing = timing
        self.measured = measured

    macs = property(lambda self: self.cost.macs)
    flops = property(lambda self: self.cost.flops)
    bytes_read = property(lambda self: self.cost.bytes_read)
    bytes_written = property(lambda self: self.cost.bytes_written)
    bytes = property(lambda self: self.cost.bytes)
    matmul_flops = property(lambda self: self.cost.matmul_flops)
    intensity = property(lambda self: self.cost.intensity, doc="FLOPs per byte moved.")

    @property
    def predicted_s(self) -> float | None:
        """Predicted wall time in seconds in the analysis' execution mode: the sum of the ops' shares
        (``roofline_s`` + ``cache_s`` + ``efficiency_s`` + ``host_s``; docs/conventions.md, "Predicted time")."""
        return self.timing.predicted_s if self.timing else None

    @property
    def roofline_s(self) -> float | None:
        """The seeds' roofline time: the sum over ops of max(FLOPs / peak, bytes / bandwidth)."""
        return self.timing.roofline_s if self.timing else None

    @property
    def roofline_bound(self) -> str | None:
        """ "memory" or "compute" by the roofline alone: which kind of op takes most roofline time."""
        return self.timing.roofline_bound if self.timing else None

    @property
    def host_s(self) -> float | None:
        """Predicted time the host adds (the device waiting for it; on a CPU, its own time)."""
        return self.timing.host_s if self.timing else None

    @property
    def bound(self) -> str | None:
        """ "memory" or "compute": which kind of op takes most of the predicted time."""
        return self.timing.bound if self.timing else None

    @property
    def attainable(self) -> float | None:
        """Attainable FLOP/s: FLOPs / predicted time."""
        return self.timing.attainable if self.timing else None

    @property
    def memory_bound_share(self) -> float | None:
        return self.timing.memory_bound_share if self.timing else None

    @property
    def measured_s(self) -> float | None:
        """Measured time in seconds: the sum of the ops' median times (``roofscope.measure``)."""
        return self.measured.measured_s if self.measured else None

    @property
    def achieved_flops(self) -> float | None:
        """FLOP/s achieved: FLOPs / measured time."""
        return self.measured.achieved_flops if self.measured else None

    @property
    def achieved_bandwidth(self) -> float | None:
        """Bytes/s achieved: bytes / measured time."""
        return self.measured.achieved_bandwidth if self.measured else None

    @property
    def utilization(self) -> float | None:
        """Achieved FLOP/s over the highest peak among the ops (None without a device)."""
        return self.measured.utilization if self.measured else None

    @property
    def efficiency(self) -> float | None:
        """Roofline efficiency: predicted time / measured time (None without both)."""
        return self.measured.efficiency if self.measured else None

    def __add__(self, other: Cost | Figures) -> Cost:
        return self.cost + (other.cost if isinstance(other, Figures) else other)

    __radd__ = __add__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Figures):
            return self.cost == other.cost and self.timing == other.timing and self.measured == other.measured
        if isinstance(other, Cost):
            return self.cost == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.cost, self.timing, self.measured))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.cost.to_dict()
        if self.timing is not None:
            data.update(self.timing.to_dict())
        if self.measured is not None:
            data.update(self.measured.to_dict())
        return data

    def __repr__(self) -> str:
        timing = f", predicted_s={self.predicted_s:.3g}, bound={self.bound}" if self.timing else ""
        measured = f", measured_s={self.measured_s:.3g}" if self.measured else ""
        return f"Figures(macs={self.macs}, flops={self.flops}, bytes={self.bytes}{timing}{measured})"
