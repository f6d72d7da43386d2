"""``Device``: one device's ceilings, in SI base units, each figure with its source."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from roofscope.devices.execution import KINDS, Execution
from roofscope.devices.interconnect import Interconnect
from roofscope.precision import PEAK_PRECISIONS

__all__ = ["Device", "DeviceError", "figure_value"]

_TERA = 1e12
_GIGA = 1e9


class DeviceError(ValueError):
    """A device name, file or figure that cannot be used; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class Device:
    """One device's ceilings.

    ``matrix``: dense peak FLOP/s (OP/s for int8) of the matrix units (tensor cores, AMX, MXU) per
    precision; ``vector``: the same for the vector units (CUDA cores, SIMD). A precision missing from
    both is not supported in hardware or not published. ``sources``: a note per figure, keyed
    "memory_bandwidth", "memory_capacity", "matrix.bf16", "sustained.matrix.bf16", "kernel_floor"...
    ``launch_overhead_s``: the host's time to issue one op that launches a kernel in eager PyTorch
    (Python, the dispatcher and the launch; 0 = none). ``execution``: the figures the prediction
    reads beyond the peaks (``roofscope.devices.execution``). ``interconnect``: how several of it
    talk to each other (``roofscope.devices.interconnect``; None where not given), read by the
    parallel layouts of ``roofscope.llm`` and not part of one device's roofline (nor of ``to_dict``).
    """

    name: str
    memory_bandwidth: float
    memory_capacity: float | None = None
    matrix: Mapping[str, float] = dataclasses.field(default_factory=dict)
    vector: Mapping[str, float] = dataclasses.field(default_factory=dict)
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict)
    launch_overhead_s: float = 0.0
    key: str = ""
    aliases: tuple[str, ...] = ()
    execution: Execution = dataclasses.field(default_factory=Execution)
    interconnect: Interconnect | None = None

    def __post_init__(self) -> None:
        if not self.memory_bandwidth or self.memory_bandwidth <= 0:
            raise DeviceError(f"device {self.name!r}: memory_bandwidth must be a positive number of bytes/s")
        for kind, peaks in (("matrix", self.matrix), ("vector", self.vector)):
            for dtype, value in peaks.items():
                if dtype not in PEAK_PRECISIONS:
                    raise DeviceError(
                        f"device {self.name!r}: unknown precision {dtype!r} in {kind} peaks; use one of {', '.join(PEAK_PRECISIONS)}"
                    )
                if value <= 0:
                    raise DeviceError(f"device {self.name!r}: {kind} {dtype} peak must be positive, got {value}")
        if self.launch_overhead_s < 0:
            raise DeviceError(f"device {self.name!r}: launch_overhead_s must be >= 0")
        execution = self.execution
        if execution.kind not in KINDS:
            raise DeviceError(f"device {self.name!r}: kind must be one of {', '.join(KINDS)}, got {execution.kind!r}")
        for figure in ("kernel_floor_s", "view_overhead_s", "module_overhead_s", "graph_kernel_s", "graph_launch_s"):
            if getattr(execution, figure) < 0:
                raise DeviceError(f"device {self.name!r}: {figure} must be >= 0")
        for figure in ("sustained_bandwidth", "cache_bytes", "cache_bandwidth", "first_touch_bandwidth"):
            value = getattr(execution, figure)
            if value is not None and value <= 0:
                raise DeviceError(f"device {self.name!r}: {figure} must be positive")

    @classmethod
    def custom(
        cls,
        name: str = "custom",
        *,
        peak_tflops: float | Mapping[str, float],
        bandwidth_gbs: float,
        capacity_gb: float | None = None,
        vector_tflops: float | Mapping[str, float] | None = None,
        launch_overhead_us: float = 0.0,
    ) -> Device:
        """A device from the two figures a roofline needs, in the units datasheets use.

        ``peak_tflops``: one number (taken as the matrix peak of every precision) or a dict per
        precision; ``vector_tflops`` likewise for non-matrix ops (defaults to the matrix peaks).
        """
        matrix = _per_dtype(peak_tflops)
        vector = _per_dtype(vector_tflops) if vector_tflops is not None else dict(matrix)
        return cls(
            name=name,
            memory_bandwidth=bandwidth_gbs * _GIGA,
            memory_capacity=capacity_gb * _GIGA if capacity_gb is not None else None,
            matrix={k: v * _TERA for k, v in matrix.items()},
            vector={k: v * _TERA for k, v in vector.items()},
            sources={"*": "given by the user"},
            launch_overhead_s=launch_overhead_us / 1e6,
            key=name,
        )

    def with_overrides(
        self,
        *,
        peak_tflops: float | Mapping[str, float] | None = None,
        vector_tflops: float | Mapping[str, float] | None = None,
        bandwidth_gbs: float | None = None,
        launch_overhead_us: float | None = None,
    ) -> Device:
        """This device with some figures replaced (a measured bandwidth, a sustained clock...)."""
        changes: dict[str, Any] = {}
        sources = dict(self.sources)
        if peak_tflops is not None:
            given = _per_dtype(peak_tflops, default=self.matrix)
            changes["matrix"] = {**self.matrix, **{k: v * _TERA for k, v in given.items()}}
            sources.update({f"matrix.{k}": "overridden by the user" for k in given})
        if vector_tflops is not None:
            given = _per_dtype(vector_tflops, default=self.vector)
            changes["vector"] = {**self.vector, **{k: v * _TERA for k, v in given.items()}}
            sources.update({f"vector.{k}": "overridden by the user" for k in given})
        if bandwidth_gbs is not None:
            changes["memory_bandwidth"] = bandwidth_gbs * _GIGA
            sources["memory_bandwidth"] = "overridden by the user"
        if launch_overhead_us is not None:
            changes["launch_overhead_s"] = launch_overhead_us / 1e6
        return dataclasses.replace(self, sources=sources, **changes)

    def peak(self, dtype: str, *, matrix: bool) -> tuple[float, str]:
        """The peak that applies to an op of this precision, and which figure it is ("bf16 matrix").

        Fallbacks, in order, when the device has no figure for the precision asked:
        matrix fp8 -> bf16 -> fp16 matrix (the op runs upcast, W8A16); int8 -> fp16 -> bf16 matrix;
        tf32 -> fp32 matrix; then the vector rate of the precision; then fp32 vector. The last
        resort (a device that publishes no vector rate, such as a TPU) is its lowest published peak.
        """
        chain: list[tuple[str, str]] = []
        if matrix:
            chain += [("matrix", d) for d in _MATRIX_FALLBACK.get(dtype, (dtype,))]
        chain += [("vector", dtype), ("vector", "fp32")]
        for kind, candidate in chain:
            value = (self.matrix if kind == "matrix" else self.vector).get(candidate)
            if value:
                return value, f"{candidate} {kind}"
        everything = [(v, f"{d} {k}") for k, peaks in (("matrix", self.matrix), ("vector", self.vector)) for d, v in peaks.items()]
        if not everything:
            raise DeviceError(f"device {self.name!r} has no peak FLOP/s at all; give one (peak_tflops=...)")
        return min(everything)

    def ridge(self, dtype: str, *, matrix: bool = True) -> float:
        """Arithmetic intensity (FLOP/byte) where the roof turns from memory- to compute-bound."""
        return self.peak(dtype, matrix=matrix)[0] / self.memory_bandwidth

    def source(self, figure: str) -> str:
        """The source note of one figure ("matrix.bf16", "memory_bandwidth", ...)."""
        return self.sources.get(figure) or self.sources.get("*", "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "memory_bandwidth": self.memory_bandwidth,
            "memory_capacity": self.memory_capacity,
            "matrix": dict(self.matrix),
            "vector": dict(self.vector),
            "launch_overhead_s": self.launch_overhead_s,
            "sources": dict(self.sources),
            "aliases": list(self.aliases),
            "execution": self.execution.to_dict(),
        }


_MATRIX_FALLBACK = {
    "fp8": ("fp8", "bf16", "fp16"),
    "int8": ("int8", "fp16", "bf16"),
    "tf32": ("tf32", "fp32"),
    "bf16": ("bf16",),
    "fp16": ("fp16",),
    "fp32": ("fp32",),
    "fp64": ("fp64",),
}


def _per_dtype(value: float | Mapping[str, float], default: Mapping[str, float] | None = None) -> dict[str, float]:
    if isinstance(value, Mapping):
        return {str(k): float(v) for k, v in value.items()}
    keys = list(default) if default else list(PEAK_PRECISIONS)
    return {k: float(value) for k in keys}


def figure_value(device: Device | None, figure: str) -> float | None:
    """A figure by its device-file name ("matrix.bf16", "vector.fp32", "memory_bandwidth",
    "launch_overhead"), None when the device has none."""
    if device is None:
        return None
    if figure == "memory_bandwidth":
        return device.memory_bandwidth
    if figure == "launch_overhead":
        return device.launch_overhead_s or None
    if figure in ("kernel_floor", "view_overhead", "module_overhead"):
        return getattr(device.execution, f"{figure}_s") or None
    if figure == "sustained.memory_bandwidth":
        return device.execution.sustained_bandwidth
    if figure == "first_touch":
        return device.execution.first_touch_bandwidth
    if figure.startswith("sustained."):
        _, kind, dtype = figure.split(".")
        execution = device.execution
        return (execution.sustained_matrix if kind == "matrix" else execution.sustained_vector).get(dtype)
    kind, dtype = figure.split(".")
    return (device.matrix if kind == "matrix" else device.vector).get(dtype)
