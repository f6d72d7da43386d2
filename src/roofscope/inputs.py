"""Turn what the user passed as inputs into the positional and keyword arguments of a forward call.

Accepted: a tensor; a shape (a tuple or list of ints, or torch.Size) for one random tensor; a
TensorSpec for a random tensor of a given dtype; a tuple or list of any of these (and of other
values, passed through) as positional arguments; a dict as keyword arguments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from roofscope.precision import torch_dtype

__all__ = ["TensorSpec", "as_specs", "describe_inputs", "model_device", "model_dtype", "parse_input_spec", "prepare_inputs", "replace_dims"]


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """A random input tensor: its shape, dtype, and for integer dtypes the range [low, high)."""

    shape: tuple[int, ...]
    dtype: torch.dtype = torch.float32
    low: int = 0
    high: int = 2

    def __post_init__(self) -> None:
        shape = tuple(self.shape)
        if not all(isinstance(size, int) and size >= 0 for size in shape):
            raise ValueError(f"a shape is a sequence of non-negative ints, got {self.shape!r}")
        object.__setattr__(self, "shape", shape)


def _is_shape(value: Any) -> bool:
    return isinstance(value, torch.Size) or (
        isinstance(value, (tuple, list)) and len(value) > 0 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )


def model_device(model: torch.nn.Module) -> torch.device:
    for tensor in _tensors_of(model):
        return tensor.device
    return torch.device("cpu")


def model_dtype(model: torch.nn.Module) -> torch.dtype:
    for tensor in _tensors_of(model):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def _tensors_of(model: torch.nn.Module) -> Any:
    yield from model.parameters()
    yield from model.buffers()


class _Maker:
    """Makes random inputs with a private generator, so torch's global RNG state is left alone."""

    def __init__(self, device: torch.device, float_dtype: torch.dtype) -> None:
        self.device = device
        self.float_dtype = float_dtype
        self.generator: torch.Generator | None = None
        if device.type != "meta":
            self.generator = torch.Generator(device=device)
            self.generator.manual_seed(0)

    def make(self, spec: TensorSpec) -> torch.Tensor:
        dtype = spec.dtype
        if dtype.is_floating_point:
            return torch.randn(spec.shape, dtype=dtype, device=self.device, generator=self.generator)
        if dtype == torch.bool:
            return torch.randint(0, 2, spec.shape, device=self.device, generator=self.generator).bool()
        return torch.randint(spec.low, spec.high, spec.shape, dtype=dtype, device=self.device, generator=self.generator)

    def convert(self, value: Any) -> Any:
        if isinstance(value, TensorSpec):
            return self.make(value)
        if _is_shape(value):
            return self.make(TensorSpec(tuple(value), self.float_dtype))
        if isinstance(value, torch.Tensor) and self.device.type == "meta" and value.device.type != "meta":
            return value.to("meta")
        if type(value) in (list, tuple):  # a list of images (detection models), a tuple of states
            return type(value)(self.convert(item) for item in value)
        return value


def prepare_inputs(model: torch.nn.Module, inputs: Any, *, device: torch.device | None = None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """(args, kwargs) for ``model(*args, **kwargs)``; see the module docstring for what is accepted.
    Random tensors are made on ``device``, by default the model's."""
    maker = _Maker(device or model_device(model), model_dtype(model))
    if inputs is None:
        return (), {}
    if isinstance(inputs, Mapping):
        return (), {str(key): maker.convert(value) for key, value in inputs.items()}
    if isinstance(inputs, (torch.Tensor, TensorSpec)) or _is_shape(inputs):
        return (maker.convert(inputs),), {}
    if isinstance(inputs, Sequence) and not isinstance(inputs, str):
        return tuple(maker.convert(value) for value in inputs), {}
    raise TypeError(
        "inputs must be a tensor, a shape such as (1, 3, 224, 224), a TensorSpec, a tuple or list of "
        f"these (positional arguments) or a dict (keyword arguments); got {type(inputs).__name__}"
    )


def describe_inputs(args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[str]:
    """Short descriptions, e.g. "float32[1, 3, 224, 224]", for the report."""

    def describe(value: Any) -> str:
        if isinstance(value, torch.Tensor):
            dtype = str(value.dtype).removeprefix("torch.")
            return f"{dtype}[{', '.join(str(s) for s in value.shape)}]"  # a nested tensor's ragged size reads j1
        if value is None:
            return "None"
        if isinstance(value, (list, tuple)) and value and all(isinstance(item, torch.Tensor) for item in value):
            return f"[{', '.join(describe(item) for item in value)}]"
        return type(value).__name__

    return [describe(value) for value in args] + [f"{key}={describe(value)}" for key, value in kwargs.items()]


def parse_input_spec(text: str) -> TensorSpec:
    """A command-line input: "1,3,224,224" (float32), "1,128:int64", "1x3x224x224:bf16"."""
    shape_text, _, dtype_text = text.partition(":")
    try:
        shape = tuple(int(part) for part in shape_text.replace("x", ",").split(","))  # an empty part is an error
    except ValueError:
        raise ValueError(f"a shape is comma-separated integers such as 1,3,224,224 (optionally :int64); got {text!r}") from None
    if not shape or any(size < 0 for size in shape):
        raise ValueError(f"a shape is comma-separated non-negative integers such as 1,3,224,224; got {text!r}")
    if not dtype_text:
        return TensorSpec(shape)
    name = dtype_text.strip().lower()
    dtype = torch_dtype(name) or getattr(torch, {"long": "int64", "int": "int32"}.get(name, name), None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype {dtype_text!r} in {text!r}; use e.g. float32, bf16, int64, bool")
    return TensorSpec(shape, dtype)


def as_specs(inputs: Any) -> Any:
    """Tensors and shapes as TensorSpecs (other values unchanged), so dimensions can be replaced."""

    def one(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return TensorSpec(tuple(value.shape), value.dtype, 0, 2)
        if _is_shape(value):
            return TensorSpec(tuple(value))
        return value

    if isinstance(inputs, Mapping):
        return {key: one(value) for key, value in inputs.items()}
    if isinstance(inputs, (torch.Tensor, TensorSpec)) or _is_shape(inputs):
        return [one(inputs)]
    return [one(value) for value in inputs]


def replace_dims(inputs: Any, *, batch: int | None = None, size: int | None = None, seq: int | None = None) -> Any:
    """The inputs with their first dimension set to ``batch``, the last two of image-like (4-D)
    inputs to ``size`` x ``size``, and dimension 1 of 2-D-or-more inputs to ``seq``."""

    def one(value: Any) -> Any:
        if not isinstance(value, TensorSpec) or not value.shape:
            return value
        shape = list(value.shape)
        if batch is not None:
            shape[0] = batch
        if size is not None and len(shape) == 4:
            shape[2] = shape[3] = size
        if seq is not None and len(shape) >= 2:
            shape[1] = seq
        return dataclasses.replace(value, shape=tuple(shape))

    specs = as_specs(inputs)
    if isinstance(specs, Mapping):
        return {key: one(value) for key, value in specs.items()}
    return [one(value) for value in specs]
