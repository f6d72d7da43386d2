"""Precisions: the one table of their names, the target precision of an analysis, and retargeting.

Names: "fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8" are the precisions a device has a peak
for (``PEAK_PRECISIONS``) and a tensor may be stored in (``ITEMSIZE``); "int4" is a weight format
only (``WEIGHT_FORMATS``: 4 bits a weight plus one 16-bit scale per group of 128). torch dtypes map
onto them (``dtype_key``), and the ones a model can really be cast to back onto torch dtypes
(``torch_dtype``). A ``Precision`` says which storage size each tensor has and which peak applies,
so a model captured in fp32 can be analysed as if it ran in bf16, fp8, int8, with int8 or int4
weights only, or with an fp8 KV cache (``retarget``), without running those kernels. This module imports no torch: the device catalog, which imports it,
is read before torch is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from roofscope.cost import Cost
from roofscope.events import OpEvent, TensorMeta, iter_tensors

if TYPE_CHECKING:
    import torch

__all__ = [
    "INT4_GROUP",
    "ITEMSIZE",
    "PEAK_PRECISIONS",
    "WEIGHT_FORMATS",
    "Precision",
    "dtype_key",
    "parse_precision",
    "retarget",
    "storage_nbytes",
    "target_nbytes",
    "torch_dtype",
    "weight_index",
]

#: The precisions a device publishes a peak for.
PEAK_PRECISIONS = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")

#: Bytes per element stored in each precision (tf32 is fp32 storage, computed on the matrix units).
ITEMSIZE = {"fp64": 8, "fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1}

#: Weights in int4 are grouped along their input dimension, as GPTQ, AWQ and the Marlin kernels
#: store them: each group of this many weights shares one 16-bit scale.
INT4_GROUP = 128

#: The precisions weights may be stored in (``Precision.weights``): every storage precision, and int4.
WEIGHT_FORMATS = (*ITEMSIZE, "int4")

#: torch dtype names (``str(dtype)`` less "torch.") and the precision each is stored in.
_TORCH_NAMES = {
    "float64": "fp64",
    "float32": "fp32",
    "bfloat16": "bf16",
    "float16": "fp16",
    "int8": "int8",
    "uint8": "int8",
    **{name: "fp8" for name in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu")},
}

#: Other spellings of the precision names, as users write them.
ALIASES = {
    "float32": "fp32",
    "float": "fp32",
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "float64": "fp64",
    "double": "fp64",
    "w8a16": "int8-weights",
    "w4a16": "int4-weights",
}

#: The precisions a model or tensor can really be cast to, and their torch dtype names.
_CASTABLE = {"fp64": "float64", "fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def _canonical(text: str) -> str:
    text = text.lower().strip().replace("_", "-")
    return ALIASES.get(text, text)


def dtype_key(dtype: torch.dtype) -> str | None:
    """The precision name of a torch dtype ("bf16"), None for other integer and bool types."""
    return _TORCH_NAMES.get(str(dtype).removeprefix("torch."))


def torch_dtype(name: str) -> torch.dtype | None:
    """The torch dtype a model is cast to for a precision name ("bf16", "bfloat16", "half"...);
    None for a name that is no castable floating-point precision (tf32, fp8, int8, unknown)."""
    import torch

    storage = _CASTABLE.get(_canonical(name))
    return getattr(torch, storage) if storage is not None else None


@dataclasses.dataclass(frozen=True, slots=True)
class Precision:
    """A target precision: storage of floating-point activations, of weights and of a serving
    engine's KV cache, and matmul compute.

    "bf16": every floating tensor is 2 bytes, matmuls at the bf16 matrix rate. "tf32": fp32 storage,
    matmuls at the tf32 rate. "int8-weights": weights (see ``weight_index``) 1 byte, everything else
    bf16, matmuls at the bf16 rate (the weights are dequantised on the fly); "int4-weights" likewise
    with int4 weights (``storage_nbytes``). ``kv``: the KV cache's storage ("fp8": an fp8 cache
    beside bf16 activations); None keeps it in the activation precision. It applies where the KV
    cache is known as such (``roofscope.llm``'s serving convention), not to the ops of a plain
    analysis. Composed names read "bf16+int4-weights+fp8-kv".
    """

    name: str
    activations: str
    weights: str
    compute: str
    kv: str | None = None

    @property
    def weight_only(self) -> bool:
        return self.weights != self.activations

    @property
    def kv_cache(self) -> str:
        """The KV cache's storage precision: ``kv``, or the activations'."""
        return self.kv or self.activations


def parse_precision(value: str | torch.dtype | Precision | None, *, weights: str | None = None, kv: str | None = None) -> Precision | None:
    """ "bf16", "fp16", "fp32", "tf32", "fp64", "fp8", "int8", "int8-weights", "fp8-weights",
    "int4-weights" (or "w8a16", "w4a16"), a torch dtype, or None (keep the model's own dtypes).

    ``weights`` sets the weights' storage apart ("int4", "int8", "fp8", any storage precision) and
    ``kv`` the KV cache's ("fp8", ...): ``parse_precision("bf16", weights="int4", kv="fp8")`` is
    "bf16+int4-weights+fp8-kv", which ``parse_precision`` reads back. They need a base precision.
    """
    if isinstance(value, str) and "+" in value:
        base, *parts = value.split("+")
        for part in parts:
            text = _canonical(part)
            if text.endswith("-weights") and weights is None:
                weights = text.removesuffix("-weights")
            elif text.endswith("-kv") and kv is None:
                kv = text.removesuffix("-kv")
            else:
                raise ValueError(f"unknown part {part!r} of the precision {value!r}; it reads like bf16+int4-weights+fp8-kv")
        value = base
    base_precision = _parse_base(value)
    if weights is None and kv is None:
        return base_precision
    if base_precision is None:
        raise ValueError("a weight or KV-cache precision needs a base precision (dtype) as well, e.g. bf16")
    return _compose(base_precision, weights, kv)


def _parse_base(value: str | torch.dtype | Precision | None) -> Precision | None:
    if value is None or isinstance(value, Precision):
        return value
    if not isinstance(value, str):  # a torch dtype
        key = dtype_key(value)
        if key is None:
            raise ValueError(f"no target precision for {value}; use one of {', '.join(PEAK_PRECISIONS)}")
        return Precision(key, key, key, key)
    text = _canonical(value)
    if text in ITEMSIZE:
        storage = "fp32" if text == "tf32" else text
        return Precision(text, storage, storage, text)
    if text.endswith("-weights"):
        weights = text.removesuffix("-weights")
        if weights in ("int8", "fp8", "int4"):
            return Precision(text, "bf16", weights, "bf16")
    raise ValueError(
        f"unknown target precision {value!r}; use one of {', '.join(PEAK_PRECISIONS)}, 'int8-weights', 'fp8-weights' or 'int4-weights'"
    )


def _compose(base: Precision, weights: str | None, kv: str | None) -> Precision:
    """``base`` with its weights and KV cache stored in the precisions given."""
    weights = _canonical(weights) if weights is not None else base.weights
    kv = _canonical(kv) if kv is not None else base.kv
    if weights not in WEIGHT_FORMATS:
        raise ValueError(f"unknown weight precision {weights!r}; use one of {', '.join(WEIGHT_FORMATS)}")
    if kv is not None and kv not in ITEMSIZE:
        raise ValueError(f"unknown KV-cache precision {kv!r}; use one of {', '.join(ITEMSIZE)}")
    if kv == base.activations:
        kv = None
    parts = [base.activations if base.weight_only else base.name]  # "int8-weights" is bf16 with int8 weights
    if weights != base.activations:
        parts.append(f"{weights}-weights")
    if kv is not None:
        parts.append(f"{kv}-kv")
    return Precision("+".join(parts), base.activations, weights, base.compute, kv)


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
    "roofscope.expert_linear": 1,  # a mixture of experts' stacked expert weights (roofscope.models.moe)
}


def weight_index(event: OpEvent) -> int | None:
    """The positional argument holding the op's weight, None for an op without one."""
    index = _WEIGHT_ARG.get(event.op)
    if index is None or index >= len(event.args) or not isinstance(event.args[index], TensorMeta):
        return None
    return index


def storage_nbytes(elements: int, key: str) -> int:
    """Bytes of ``elements`` values stored in precision ``key``: ``ITEMSIZE`` each, or for "int4"
    half a byte each (rounded up) plus a 2-byte scale per group of ``INT4_GROUP``."""
    if key == "int4":
        return (elements + 1) // 2 + 2 * -(-elements // INT4_GROUP)
    return elements * ITEMSIZE[key]


def target_nbytes(tensor: TensorMeta, key: str) -> int:
    """The tensor's bytes if it were stored in precision ``key`` ("bf16", "int4"); integer and
    bool tensors keep their size."""
    return storage_nbytes(tensor.addressed_elements, key) if tensor.is_floating else tensor.nbytes


def _ratio(tensors: Sequence[tuple[TensorMeta, str]]) -> tuple[int, int]:
    before = sum(t.nbytes for t, _ in tensors)
    after = sum(target_nbytes(t, key) for t, key in tensors)
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
        for tensor in iter_tensors(value, TensorMeta):
            inputs.append((tensor, precision.weights if position == weight else precision.activations))
    for key, value in event.kwargs.items():
        if key != "out":
            inputs.extend((tensor, precision.activations) for tensor in iter_tensors(value, TensorMeta))
    outputs = [(tensor, precision.activations) for tensor in event.outputs]
    read_after, read_before = _ratio(inputs)
    written_after, written_before = _ratio(outputs)
    bytes_read = cost.bytes_read * read_after // read_before if read_before else cost.bytes_read
    bytes_written = cost.bytes_written * written_after // written_before if written_before else cost.bytes_written
    return Cost(cost.macs, cost.flops, bytes_read, bytes_written)
