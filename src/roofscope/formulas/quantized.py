"""Quantised ops of torch.ao (dynamic and static int8): linear and convolution on packed int8
weights, quantising and dequantising, and the quantised element-wise ops.

The packed weights are recorded as (weight, bias) at their stored dtypes (int8 weight, float bias),
so bytes are their stored sizes. Integer products count as MACs, as int8 GEMM rates are quoted in
operations per second (the convention of ``_int_mm``):
- linear [rows, in] x int8 [out, in]: MACs = rows * in * out; FLOPs = 2 * MACs + rows * out for the
  bias + the requantisation of the output, 3 FLOPs an element (scale, round, zero point), or, for
  the dynamic linear (float input and output), the input's quantisation instead: its range (min and
  max, 2 an element) and x / scale + zero point rounded (3 an element), and the output's rescale
  (1 an element);
- convolution: MACs as a float convolution, N * C_out * prod(out) * C_in / groups * prod(kernel);
  FLOPs = 2 * MACs + the bias + 3 per output element for the requantisation;
- a fused ReLU (``linear_relu``, ``conv2d_relu``, ``add_relu``...): 1 more per output element;
- quantize_per_tensor / per_channel: 3 per element (divide, round, add the zero point);
  dequantize: 2 per element ((q - zero point) * scale);
- quantised add and mul: 1 per element plus 3 for the requantisation.
Bytes: every operand read once at its stored size, the output written once.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod

from roofscope.cost import Cost
from roofscope.events import OpEvent, TensorMeta
from roofscope.formulas._registry import Family, with_io

__all__ = ["REQUANTIZE_FLOPS", "dequantize", "quantize", "quantized_conv", "quantized_linear", "quantized_linear_dynamic"]

family = Family("quantized")

REQUANTIZE_FLOPS = 3
DEQUANTIZE_FLOPS = 2


def _packed(event: OpEvent) -> tuple[TensorMeta, TensorMeta | None]:
    weight, bias = event.args[1][0], event.args[1][1]
    return weight, bias if isinstance(bias, TensorMeta) else None


def _relu(event: OpEvent) -> int:
    return event.output.numel if "relu" in event.op else 0


@family("quantized.linear", "quantized.linear_relu")
def quantized_linear(event: OpEvent) -> Cost:
    """(qinput [rows, in], packed (weight [out, in], bias), output scale, output zero point)."""
    x = event.args[0]
    weight, bias = _packed(event)
    rows = x.numel // x.shape[-1] if x.shape[-1] else 0
    macs = rows * weight.numel
    out = rows * weight.shape[0]
    flops = 2 * macs + (out if bias is not None else 0) + REQUANTIZE_FLOPS * out + _relu(event)
    return with_io(event, macs, flops)


@family("quantized.linear_dynamic", "quantized.linear_relu_dynamic")
def quantized_linear_dynamic(event: OpEvent) -> Cost:
    """(input [rows, in] float, packed (weight [out, in], bias), reduce_range): the input quantised
    on the fly, the int8 product, the float output rescaled."""
    x = event.args[0]
    weight, bias = _packed(event)
    rows = x.numel // x.shape[-1] if x.shape[-1] else 0
    macs = rows * weight.numel
    out = rows * weight.shape[0]
    flops = 2 * macs + (out if bias is not None else 0) + (2 + REQUANTIZE_FLOPS) * x.numel + out + _relu(event)
    return with_io(event, macs, flops)


@family(
    "quantized.conv1d", "quantized.conv2d", "quantized.conv3d", "quantized.conv1d_relu", "quantized.conv2d_relu", "quantized.conv3d_relu"
)
def quantized_conv(event: OpEvent) -> Cost:
    """(qinput, packed (weight [C_out, C_in / groups, *kernel], bias), output scale, zero point)."""
    weight, bias = _packed(event)
    out = event.output
    macs = out.shape[0] * out.shape[1] * prod(out.shape[2:]) * weight.shape[1] * prod(weight.shape[2:])
    flops = 2 * macs + (out.numel if bias is not None else 0) + REQUANTIZE_FLOPS * out.numel + _relu(event)
    return with_io(event, macs, flops)


def _per_element(flops: int) -> Callable[[OpEvent], Cost]:
    def formula(event: OpEvent) -> Cost:
        return with_io(event, 0, flops * event.output.numel + _relu(event))

    formula.__doc__ = f"{flops} FLOPs per output element (+1 with a fused ReLU)."
    return formula


quantize = _per_element(REQUANTIZE_FLOPS)
dequantize = _per_element(DEQUANTIZE_FLOPS)
family.add(["aten.quantize_per_tensor", "aten.quantize_per_channel", "aten.quantize_per_tensor_dynamic"], quantize)
family.add(["aten.dequantize"], dequantize)
family.add(["quantized.add", "quantized.add_relu", "quantized.mul", "quantized.mul_relu"], _per_element(1 + REQUANTIZE_FLOPS))
