"""``Execution``: how a device runs a model's kernels, beyond its peaks: what the prediction stage
reads (docs/conventions.md, "Predicted time").

The datasheet peaks bound what a kernel can do; these figures say what kernels do: the matrix and
vector rates and the memory bandwidth large kernels sustain, the number of compute units a kernel's
tiles spread over, the cache that keeps one kernel's output for the next, the shortest time a kernel
takes, and the host's time to issue work (per op, per view, per module call; per kernel of a CUDA
graph). A figure the device's own entry lacks comes from its class's defaults in the catalog
(``[defaults.gpu]``, ``[defaults.cpu]``), which say where they were measured. A device file written
by ``roofscope probe`` also carries curves: the GEMM rate measured over a grid of shapes and the
copy bandwidth over a range of sizes, which the prediction reads in place of the analytic models.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["KINDS", "ConvPoint", "Execution", "GemmPoint", "RnnPoint", "conv_point"]

#: Device kinds: a GPU's host and device overlap (the host queues kernels), a CPU's do not.
KINDS = ("gpu", "cpu", "accelerator")

#: One measured GEMM: (m, n, k, precision, FLOP/s).
GemmPoint = tuple[int, int, int, str, float]
#: One measured convolution, keyed by its implicit GEMM, its stride and its kernel positions (3 x 3:
#: 9): (groups, m, n, k, stride, kernel positions, precision, FLOP/s); kernel positions 0 where a
#: device file from before did not keep them.
ConvPoint = tuple[int, int, int, int, int, int, str, float]
#: One measured recurrent layer over a sequence: (batch, input size, hidden size, steps, precision, seconds).
RnnPoint = tuple[int, int, int, int, str, float]


def conv_point(fields: Sequence[Any]) -> ConvPoint:
    """A conv curve point from its fields: (groups, m, n, k, stride, kernel positions, precision,
    rate); from device files written before, without the kernel positions (0: not known) or
    without the stride too (every point then of stride 1)."""
    if len(fields) == 6:
        fields = (*fields[:4], 1, *fields[4:])
    if len(fields) == 7:
        fields = (*fields[:5], 0, *fields[5:])
    groups, m, n, k, stride, positions, precision, rate = fields
    return (int(groups), int(m), int(n), int(k), int(stride), int(positions), str(precision), float(rate))


@dataclasses.dataclass(frozen=True)
class Execution:
    """The figures of a device that the prediction reads; SI units (seconds, bytes, bytes/s, FLOP/s).

    ``sustained_matrix`` / ``sustained_vector``: FLOP/s a large kernel of the precision reaches;
    ``sustained_bandwidth``: bytes/s a large copy reaches (read + written); ``compute_units``: SMs,
    CUs or cores; ``cache_bytes`` / ``cache_bandwidth``: the last-level cache (a GPU's L2, a CPU's
    LLC) and its bandwidth, named ``cache_name``; ``kernel_floor_s``: the shortest device time of one
    kernel; ``view_overhead_s``: host time of an op that launches no kernel; ``module_overhead_s``:
    host time of one ``nn.Module`` call; ``graph_kernel_s``: device time added per kernel when a
    CUDA graph replays them (and ``graph_launch_s`` once per replay); ``gemm_curve`` and
    ``bandwidth_curve``: a probe's measurements, (m, n, k, precision, FLOP/s) and (bytes, bytes/s);
    ``conv_curve``: the FLOP/s it measured for convolutions, keyed by their implicit GEMM, stride
    and kernel positions (groups, m, n, k, stride, kernel positions, precision, FLOP/s; see
    ``conv_point`` for device files written before); ``rnn_curve``: the seconds it measured for one recurrent layer over
    sequences of several lengths (batch, input, hidden, steps, precision, seconds);
    ``family_curves``: the bytes/s the probe measured for ops of a family (softmax, norm...) by
    the bytes they move; ``first_touch_bandwidth``: on a CPU, the bytes/s at which freshly mapped
    pages are written beyond the time of writing resident ones (their page faults; None: not
    measured, first touch not predicted).
    """

    kind: str = "gpu"
    compute_units: int | None = None
    sustained_matrix: Mapping[str, float] = dataclasses.field(default_factory=dict)
    sustained_vector: Mapping[str, float] = dataclasses.field(default_factory=dict)
    sustained_bandwidth: float | None = None
    cache_bytes: float | None = None
    cache_bandwidth: float | None = None
    cache_name: str = "L2"
    kernel_floor_s: float = 0.0
    view_overhead_s: float = 0.0
    module_overhead_s: float = 0.0
    graph_kernel_s: float = 0.0
    graph_launch_s: float = 0.0
    gemm_curve: tuple[GemmPoint, ...] = ()
    conv_curve: tuple[ConvPoint, ...] = ()
    rnn_curve: tuple[RnnPoint, ...] = ()
    bandwidth_curve: tuple[tuple[float, float], ...] = ()
    family_curves: Mapping[str, tuple[tuple[float, float], ...]] = dataclasses.field(default_factory=dict)
    first_touch_bandwidth: float | None = None

    def __post_init__(self) -> None:
        # the one place conv points take their current form, from a device file (which may be of a
        # form from before: 6 or 7 fields) or made in code, so that the lookup sees one form
        object.__setattr__(self, "conv_curve", tuple(conv_point(point) for point in self.conv_curve))

    @property
    def overlaps(self) -> bool:
        """Whether host and device work overlap: a GPU's (and an accelerator's) kernels are queued
        and run while the host issues the next; a CPU runs each op on the thread that issued it."""
        return self.kind != "cpu"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["sustained_matrix"] = dict(self.sustained_matrix)
        data["sustained_vector"] = dict(self.sustained_vector)
        data["gemm_curve"] = [list(point) for point in self.gemm_curve]
        data["conv_curve"] = [list(point) for point in self.conv_curve]
        data["rnn_curve"] = [list(point) for point in self.rnn_curve]
        data["bandwidth_curve"] = [list(point) for point in self.bandwidth_curve]
        data["family_curves"] = {family: [list(point) for point in curve] for family, curve in self.family_curves.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Execution:
        fields = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in fields}
        values["gemm_curve"] = tuple((int(m), int(n), int(k), str(p), float(rate)) for m, n, k, p, rate in values.get("gemm_curve", ()))
        values["rnn_curve"] = tuple(
            (int(b), int(i), int(h), int(t), str(p), float(seconds)) for b, i, h, t, p, seconds in values.get("rnn_curve", ())
        )
        values["bandwidth_curve"] = tuple((float(size), float(rate)) for size, rate in values.get("bandwidth_curve", ()))
        values["family_curves"] = {
            str(family): tuple((float(size), float(rate)) for size, rate in curve)
            for family, curve in values.get("family_curves", {}).items()
        }
        return cls(**values)
