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

Target precision: ``Precision`` says which storage size each tensor has and which peak applies, so
a model captured in fp32 can be analysed as if it ran in bf16, fp8, int8 or with int8 weights only
(``retarget``), without running those kernels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import torch

from roofscope.capture import OpEvent, TensorMeta
from roofscope.cost import Cost
from roofscope.devices import DTYPES, Device

__all__ = [
    "MATRIX_FAMILIES",
    "OpTiming",
    "Precision",
    "Roof",
    "Timing",
    "dtype_key",
    "op_timing",
    "parse_precision",
    "retarget",
    "roofs",
    "summarize",
    "target_nbytes",
]

#: Op families whose FLOPs run on the matrix units.
MATRIX_FAMILIES = frozenset({"matmul", "conv", "attention"})

ITEMSIZE = {"fp64": 8, "fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1}

_TORCH_KEYS = {
    torch.float64: "fp64",
    torch.float32: "fp32",
    torch.bfloat16: "bf16",
    torch.float16: "fp16",
    torch.int8: "int8",
    torch.uint8: "int8",
}
for _name in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu"):
    if hasattr(torch, _name):
        _TORCH_KEYS[getattr(torch, _name)] = "fp8"


def dtype_key(dtype: torch.dtype) -> str | None:
    """The catalog's precision name for a torch dtype ("bf16"), None for other integer/bool types."""
    return _TORCH_KEYS.get(dtype)


@dataclasses.dataclass(frozen=True, slots=True)
class Precision:
    """A target precision: storage of floating-point activations and of weights, and matmul compute.

    "bf16": every floating tensor is 2 bytes, matmuls at the bf16 matrix rate. "tf32": fp32 storage,
    matmuls at the tf32 rate. "int8-weights": weights (see ``weight_index``) 1 byte, everything else
    bf16, matmuls at the bf16 rate (the weights are dequantised on the fly).
    """

    name: str
    activations: str
    weights: str
    compute: str

    @property
    def weight_only(self) -> bool:
        return self.weights != self.activations


def parse_precision(value: str | torch.dtype | Precision | None) -> Precision | None:
    """"bf16", "fp16", "fp32", "tf32", "fp64", "fp8", "int8", "int8-weights", "fp8-weights"
    (or "w8a16"), a torch dtype, or None (keep the model's own dtypes)."""
    if value is None or isinstance(value, Precision):
        return value
    if isinstance(value, torch.dtype):
        key = dtype_key(value)
        if key is None:
            raise ValueError(f"no target precision for {value}; use one of {', '.join(DTYPES)}")
        return Precision(key, key, key, key)
    text = value.lower().strip().replace("_", "-")
    text = {"float32": "fp32", "float": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float64": "fp64", "w8a16": "int8-weights"}.get(text, text)
    if text in ITEMSIZE:
        storage = "fp32" if text == "tf32" else text
        return Precision(text, storage, storage, text)
    if text.endswith("-weights"):
        weights = text.removesuffix("-weights")
        if weights in ("int8", "fp8"):
            return Precision(text, "bf16", weights, "bf16")
    raise ValueError(
        f"unknown target precision {value!r}; use one of {', '.join(DTYPES)}, 'int8-weights' or 'fp8-weights'"
    )


# Which argument of a matmul-class op is the weight, for weight-only precisions: the second matrix
# operand of the 2-D products that linear layers become, and a convolution's weight. Batched
# products (bmm) and attention multiply activations by activations and have no weight; embedding
# tables and biases keep the activation precision.
_WEIGHT_ARG = {
    "aten.mm": 1,
    "aten._int_mm": 1,
    "aten._scaled_mm": 1,
    "aten.mv": 0,
    "aten.addmm": 2,
    "aten.addmv": 1,
    "aten.convolution": 1,
    "aten._convolution": 1,
    "aten.conv1d": 1,
    "aten.conv2d": 1,
    "aten.conv3d": 1,
    "aten.linear": 1,
    "roofscope.expert_linear": 1,  # a mixture of experts' stacked expert weights (roofscope.llm.moe)
}


def weight_index(event: OpEvent) -> int | None:
    """The positional argument holding the op's weight, None for an op without one."""
    index = _WEIGHT_ARG.get(event.op)
    if index is None or index >= len(event.args) or not isinstance(event.args[index], TensorMeta):
        return None
    return index


def target_nbytes(tensor: TensorMeta, key: str) -> int:
    """The tensor's bytes if it were stored in precision ``key`` ("bf16"); integer and bool
    tensors keep their size."""
    return tensor.addressed_elements * ITEMSIZE[key] if tensor.is_floating else tensor.nbytes


_target_nbytes = target_nbytes


def _ratio(tensors: Sequence[tuple[TensorMeta, str]]) -> tuple[int, int]:
    before = sum(t.nbytes for t, _ in tensors)
    after = sum(_target_nbytes(t, key) for t, key in tensors)
    return after, before


def retarget(cost: Cost, event: OpEvent, precision: Precision) -> Cost:
    """The op's cost with its bytes as if each floating tensor had the target precision's size.

    Bytes read scale by (sum of the inputs' target sizes) / (sum of their captured sizes), bytes
    written likewise over the outputs; this is exact for every formula that reads each input once
    and proportional for the gathers. Integer and bool tensors (indices, masks) keep their size.
    FLOPs and MACs do not change.
    """
    weight = weight_index(event)
    inputs: list[tuple[TensorMeta, str]] = []
    for position, value in enumerate(event.args):
        for tensor in _tensors(value):
            inputs.append((tensor, precision.weights if position == weight else precision.activations))
    for key, value in event.kwargs.items():
        if key != "out":
            inputs.extend((tensor, precision.activations) for tensor in _tensors(value))
    outputs = [(tensor, precision.activations) for tensor in event.outputs]
    read_after, read_before = _ratio(inputs)
    written_after, written_before = _ratio(outputs)
    bytes_read = cost.bytes_read * read_after // read_before if read_before else cost.bytes_read
    bytes_written = cost.bytes_written * written_after // written_before if written_before else cost.bytes_written
    return Cost(cost.macs, cost.flops, bytes_read, bytes_written)


def _tensors(value: object) -> Iterable[TensorMeta]:
    if isinstance(value, TensorMeta):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


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
        cost.flops, cost.bytes, peak, label, device.memory_bandwidth, compute_s, memory_s, predicted, bound,
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
        """"memory" when memory-bound ops take most of the predicted time, else "compute"."""
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
