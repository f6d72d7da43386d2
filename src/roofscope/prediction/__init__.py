"""The prediction stage: how long each op, module and the model take in an execution mode.

    timings, summary = predict(ops, device, precision, mode="eager")

``ops``: (event, cost, family) per captured op, in order (cost None: no formula, no prediction).
Per op, the seeds' roofline (``roofscope.roofline``) and, beside it, the predicted time: the
kernel's device time (``kernels``: achievable rates, tile and wave quantisation, the cache, the
shortest kernel), placed on the timeline of the host issuing ops and the device running them
(``timeline``), with the host costs of the mode:

- ``"eager"`` (a plain forward): every op costs the host the device's ``launch_overhead_s`` (an op
  that launches no kernel, ``view_overhead_s``) and every module call ``module_overhead_s``;
- ``"cudagraph"`` (a captured CUDA graph replayed, as ``torch.cuda.graphs`` or
  ``torch.compile(mode="reduce-overhead")`` do): no host time per op; each kernel costs the device
  ``graph_kernel_s`` more, and the replay ``graph_launch_s`` once;
- ``"compiled"`` (``torch.compile(mode="reduce-overhead")``): the kernels a fusing compiler makes
  (``fusion``), replayed as a CUDA graph.

fp32 matrix ops run in TF32 where torch's flags say so (``flags``). On a CPU whose device gives a
first-touch rate, an eager op's device time also holds the page faults of the fresh pages its new
buffers take (``pages``: glibc's malloc replayed over the forward's allocations). Every figure used comes from the
device entry or its class's defaults, each with its source (docs/conventions.md, "Predicted time").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from roofscope.cost import Cost
from roofscope.devices import Device
from roofscope.events import OpEvent, TensorMeta
from roofscope.precision import Precision, target_nbytes
from roofscope.prediction.cache import cached_read_fractions
from roofscope.prediction.flags import MathFlags
from roofscope.prediction.fusion import Group, fuse_groups
from roofscope.prediction.kernels import Kernel, kernel
from roofscope.prediction.pages import Allocator, fresh_bytes
from roofscope.prediction.timeline import Step, timeline
from roofscope.roofline import MATRIX_FAMILIES, OpTiming, compute_key, op_timing

__all__ = ["BATCH_SCALE", "MODES", "MODE_LABELS", "Alternative", "MathFlags", "PredictionSummary", "check_mode", "predict"]

#: The execution modes a prediction is made for.
MODES = ("eager", "cudagraph", "compiled")

Op = tuple[OpEvent, Cost | None, str]


#: What each mode is, as the advice names it.
MODE_LABELS = {
    "eager": "a plain (eager) forward",
    "cudagraph": "a CUDA graph (torch.cuda.graphs)",
    "compiled": 'torch.compile(mode="reduce-overhead")',
}

#: The batch multiple the advice estimates a larger batch at.
BATCH_SCALE = 8


@dataclasses.dataclass(frozen=True)
class Alternative:
    """Another way to run the same model: what it is, its predicted seconds per forward and per
    sample (relative to this batch), and the share of the time it saves (negative: it costs more)."""

    label: str
    seconds: float
    per_sample: float
    saves: float


@dataclasses.dataclass(frozen=True)
class PredictionSummary:
    """How a report's predicted times were made: the ``mode``, the TF32 ``flags`` that applied,
    the model's predicted time in every mode (``by_mode``, seconds), an estimate of a forward at
    ``BATCH_SCALE`` times the batch in this mode (``scaled_batch_s``: the host's time per op the
    same, the device's scaled by that factor), and ``notes`` on the figures that came from a
    device class's defaults rather than the device's own entry."""

    mode: str
    flags: MathFlags
    by_mode: dict[str, float]
    scaled_batch_s: float
    notes: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        return self.by_mode[self.mode]

    def alternatives(self) -> list[Alternative]:
        """The other modes and a larger batch, with what each would save against this mode."""
        now = self.seconds
        found = [
            Alternative(MODE_LABELS[mode], seconds, seconds, 1 - seconds / now if now else 0.0)
            for mode, seconds in self.by_mode.items()
            if mode != self.mode
        ]
        per_sample = self.scaled_batch_s / BATCH_SCALE
        found.append(
            Alternative(f"{BATCH_SCALE}x the batch (an estimate)", self.scaled_batch_s, per_sample, 1 - per_sample / now if now else 0.0)
        )
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "flags": self.flags.to_dict(),
            "by_mode": dict(self.by_mode),
            "scaled_batch": {"scale": BATCH_SCALE, "predicted_s": self.scaled_batch_s},
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PredictionSummary:
        return cls(
            data["mode"], MathFlags(**data["flags"]), dict(data["by_mode"]), data["scaled_batch"]["predicted_s"], tuple(data["notes"])
        )


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown execution mode {mode!r}; use one of {', '.join(MODES)}")
    return mode


def predict(
    ops: Sequence[Op],
    device: Device,
    precision: Precision | None,
    *,
    mode: str = "eager",
    flags: MathFlags | None = None,
    allocator: Allocator | str | None = "process",
) -> tuple[list[OpTiming | None], PredictionSummary]:
    """Each op's timing in ``mode`` (None for an op without a cost), and the summary.
    ``allocator``: the CPU allocator whose fresh pages an eager op's outputs take ("process":
    this process's, ``Allocator.of_process``; None: first touch not predicted)."""
    check_mode(mode)
    flags = flags if flags is not None else MathFlags.from_torch()
    notes = list(_notes(device))
    first_touch: list[float] | None = None
    if device.execution.kind == "cpu" and device.execution.first_touch_bandwidth:
        if allocator == "process":
            allocator, why = Allocator.of_process()
            if why:
                notes.append(why)
        if isinstance(allocator, Allocator):
            first_touch = _first_touch(ops, allocator, precision, device.execution.first_touch_bandwidth)
    unfused = [Group((index,), event, cost, family) for index, (event, cost, family) in enumerate(ops) if cost is not None]
    kernels = {"eager": _kernels(unfused, device, precision, flags, first_touch)}
    kernels["cudagraph"] = kernels["eager"]
    kernels["compiled"] = _kernels(fuse_groups(ops, precision), device, precision, flags)
    placed = {name: _place(kernels[name], len(ops), ops, device, name) for name in MODES}
    scaled = _place(kernels[mode], len(ops), ops, device, mode, device_scale=BATCH_SCALE)
    by_mode = {name: sum(t.predicted_s for t in timings if t is not None) for name, timings in placed.items()}
    summary = PredictionSummary(mode, flags, by_mode, sum(t.predicted_s for t in scaled if t is not None), tuple(notes))
    return placed[mode], summary


Placed = list[tuple[Group, OpTiming, Kernel]]


def _first_touch(ops: Sequence[Op], allocator: Allocator, precision: Precision | None, bandwidth: float) -> list[float]:
    """Per op, the seconds its new buffers' fresh pages take to fault in (``pages``), at the
    device's first-touch rate; tensors as large as in the target ``precision``."""

    def size(tensor: TensorMeta) -> int:
        return target_nbytes(tensor, precision.activations) if precision is not None else tensor.nbytes

    return [nbytes / bandwidth for nbytes in fresh_bytes([event for event, _, _ in ops], allocator, size)]


def _kernels(
    groups: Sequence[Group], device: Device, precision: Precision | None, flags: MathFlags, first_touch: Sequence[float] | None = None
) -> Placed:
    """Each kernel's roofline and device time; ``first_touch``: per op, the seconds of page faults
    its device time holds besides (eager ops on a CPU)."""
    execution = device.execution
    capacity = execution.cache_bytes if execution.cache_bytes and not execution.bandwidth_curve else 0.0
    touched = [_touched(group) for group in groups]
    cached = cached_read_fractions([group.event for group in groups], capacity, precision, touched) if capacity else [0.0] * len(groups)
    placed: Placed = []
    for group, share in zip(groups, cached):
        tf32 = _runs_tf32(group.family, device, flags)
        roofline = op_timing(group.cost, group.event, group.family, device, precision, tf32=tf32)
        key = compute_key(group.event, group.family, precision, tf32=tf32)
        run = kernel(group.event, group.cost, group.family, group.family in MATRIX_FAMILIES, key, roofline.peak_label, device, share)
        faults = sum(first_touch[index] for index in group.members) if first_touch is not None else 0.0
        if faults:
            run = dataclasses.replace(run, device_s=run.device_s + faults)
        placed.append((group, roofline, run))
    return placed


def _place(placed: Placed, count: int, ops: Sequence[Op], device: Device, mode: str, *, device_scale: float = 1.0) -> list[OpTiming | None]:
    """The kernels on the timeline of ``mode``: each op's timing (its share of its kernel's)."""
    execution = device.execution
    steps = [_step(group.event, run, device, mode, device_scale) for group, _, run in placed]
    if mode != "eager" and steps:
        steps[0] = dataclasses.replace(steps[0], host_s=steps[0].host_s + execution.graph_launch_s)
    timings: list[OpTiming | None] = [None] * count
    for (group, roofline, run), step, share_of_wall in zip(placed, steps, timeline(steps, overlapped=execution.overlaps)):
        timing = _timing(roofline, run, step, share_of_wall.wall_s, share_of_wall.host_s, device)
        for index, part in zip(group.members, _split(timing, [ops[i][1] for i in group.members])):
            timings[index] = part
    return timings


def _split(timing: OpTiming, costs: Sequence[Cost | None]) -> list[OpTiming]:
    """A fused kernel's timing shared among the ops it runs, by their own (unfused) bytes, or FLOPs
    when they move none; the shares sum to the kernel's."""
    if len(costs) == 1:
        return [timing]
    weights = [c.bytes if c is not None else 0 for c in costs]
    if not sum(weights):
        weights = [c.flops if c is not None else 0 for c in costs]
    if not sum(weights):
        weights = [1] * len(costs)
    total = sum(weights)
    parts = []
    flops_left, bytes_left = timing.flops, timing.bytes
    for position, weight in enumerate(weights):
        share = weight / total
        last = position == len(weights) - 1
        flops = flops_left if last else int(timing.flops * share)
        nbytes = bytes_left if last else int(timing.bytes * share)
        flops_left -= flops
        bytes_left -= nbytes
        parts.append(
            dataclasses.replace(
                timing,
                flops=flops,
                bytes=nbytes,
                compute_s=timing.compute_s * share,
                memory_s=timing.memory_s * share,
                predicted_s=timing.predicted_s * share,
                device_s=timing.device_s * share,
                cache_s=timing.cache_s * share,
                efficiency_s=timing.efficiency_s * share,
                host_s=timing.host_s * share,
            )
        )
    return parts


def _touched(group: Group) -> float:
    """The share of its input tensors' bytes a kernel reads: 0 for a view, a gather's rows."""
    if not group.cost.bytes:
        return 0.0
    inputs = sum(t.nbytes for t in group.event.inputs)
    return min(1.0, group.cost.bytes_read / inputs) if inputs else 1.0


def _runs_tf32(family: str, device: Device, flags: MathFlags) -> bool:
    if device.execution.kind != "gpu" or "tf32" not in device.matrix:
        return False
    if family == "conv":
        return flags.conv_tf32
    return family in ("matmul", "attention") and flags.matmul_tf32


def _step(event: OpEvent, run: Kernel, device: Device, mode: str, device_scale: float) -> Step:
    execution = device.execution
    if mode == "eager":
        issue = device.launch_overhead_s if run.launches else execution.view_overhead_s
        return Step(issue + event.entered * execution.module_overhead_s, run.device_s * device_scale, run.launches)
    return Step(0.0, run.device_s * device_scale + (execution.graph_kernel_s if run.launches else 0.0), run.launches)


def _timing(roofline: OpTiming, run: Kernel, step: Step, wall_s: float, host_s: float, device: Device) -> OpTiming:
    """The roofline timing with the prediction's terms, so that predicted = roofline + cache +
    efficiency + host."""
    execution = device.execution
    if run.cached_bytes:
        cache_bandwidth = execution.cache_bandwidth or device.memory_bandwidth
        memory_at_level = (roofline.bytes - run.cached_bytes) / device.memory_bandwidth + run.cached_bytes / cache_bandwidth
    else:
        memory_at_level = roofline.memory_s
    cached_roofline = max(roofline.compute_s, memory_at_level) if run.launches else 0.0
    cache_s = cached_roofline - roofline.roofline_s if run.launches else 0.0
    device_s = step.device_s
    efficiency_s = device_s - cached_roofline
    predicted = roofline.roofline_s + cache_s + efficiency_s + host_s
    if not wall_s and not host_s:
        bound: str | None = None
    elif host_s > device_s:
        bound = "host"
    else:
        bound = "compute" if run.compute_s > run.memory_s else "memory"
    level = execution.cache_name if run.cached_bytes * 2 > roofline.bytes else "DRAM"
    return dataclasses.replace(
        roofline,
        predicted_s=predicted,
        bound=bound,
        device_s=device_s,
        cache_s=cache_s,
        efficiency_s=efficiency_s,
        host_s=host_s,
        level=level,
    )


def _notes(device: Device) -> tuple[str, ...]:
    """The device's figures that the prediction took from its class's defaults, with their sources."""
    return tuple(f"{figure}: {source}" for figure, source in sorted(device.sources.items()) if "default:" in source)
