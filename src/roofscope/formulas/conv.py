"""Convolution, every dimensionality, stride, padding, dilation, groups and transposed.

MACs, ordinary convolution: N * C_out * prod(output spatial) * (C_in / groups) * prod(kernel), every
output position times its receptive field, padded positions included (the convention of torchvision,
fvcore, thop and torch.utils.flop_counter).
MACs, transposed convolution: N * C_in * prod(input spatial) * (C_out / groups) * prod(kernel): each
input element is scattered through the kernel.
FLOPs = 2 * MACs + one per output element for the bias.
Bytes = input, weight and bias read once; output written once.
"""

from __future__ import annotations

from math import prod

from roofscope.cost import Cost
from roofscope.events import OpEvent, TensorMeta
from roofscope.formulas._registry import Family, with_io

__all__ = ["conv_macs", "convolution", "convolution_backward"]

family = Family("conv")


def conv_macs(x: TensorMeta, weight: TensorMeta, out: TensorMeta, transposed: bool) -> int:
    kernel = prod(weight.shape[2:])
    if transposed:
        # weight is [C_in, C_out / groups, *kernel]
        return x.shape[0] * x.shape[1] * prod(x.shape[2:]) * weight.shape[1] * kernel
    # weight is [C_out, C_in / groups, *kernel]
    return out.shape[0] * out.shape[1] * prod(out.shape[2:]) * weight.shape[1] * kernel


def _conv_cost(event: OpEvent, x: TensorMeta, weight: TensorMeta, bias: object, transposed: bool) -> Cost:
    out = event.output
    macs = conv_macs(x, weight, out, transposed)
    bias_flops = out.numel if isinstance(bias, TensorMeta) else 0
    return with_io(event, macs, 2 * macs + bias_flops)


@family("aten.convolution", "aten._convolution")
def convolution(event: OpEvent) -> Cost:
    """convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)."""
    return _conv_cost(event, event.args[0], event.args[1], event.arg(2, "bias"), bool(event.arg(6, "transposed")))


@family("aten.convolution_backward")
def convolution_backward(event: OpEvent) -> Cost:
    """Gradients of a convolution: grad_input and grad_weight each cost the forward's MACs.

    convolution_backward(grad_out, input, weight, bias_sizes, stride, padding, dilation, transposed,
    output_padding, groups, output_mask); output_mask says which of (grad_input, grad_weight,
    grad_bias) are computed. grad_bias is a sum over the grad_out elements (one FLOP each).
    """
    grad_out, x, weight = event.args[0], event.args[1], event.args[2]
    transposed = bool(event.arg(7, "transposed"))
    output_mask = event.arg(10, "output_mask") or (True, True, True)
    forward_macs = conv_macs(x, weight, grad_out, transposed)
    macs = forward_macs * (int(bool(output_mask[0])) + int(bool(output_mask[1])))
    bias_flops = grad_out.numel if output_mask[2] else 0
    return with_io(event, macs, 2 * macs + bias_flops)
