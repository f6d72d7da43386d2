"""Detection ops of torchvision: non-maximum suppression, RoI Align and deformable convolution.

nms(boxes [N, 4], scores [N], iou_threshold): the intersection-over-union of every pair of boxes,
N * (N - 1) / 2 pairs, as the CUDA kernel computes its suppression mask (the CPU kernel skips the
pairs of boxes already suppressed, which depends on the values: this is its upper bound), 13 FLOPs a
pair: the intersection's corners (4 max/min), its width and height (2 subtracts, 2 clamps at 0), its
area (1), the union a1 + a2 - inter (2), the ratio (1) and the comparison with the threshold (1);
plus 3 FLOPs per box for its area. Sorting the scores is selection: 0 FLOPs. MACs 0.
Bytes: boxes and scores read, the kept indices written.

roi_align(input [N, C, H, W], rois [K, 5], spatial_scale, pooled_h, pooled_w, sampling_ratio,
aligned) -> [K, C, pooled_h, pooled_w]: each output element averages s x s bilinear samples,
s = sampling_ratio (torchvision's detection models use 2); 9 FLOPs a sample (three lerps, as
bilinear resizing) and s^2 for the average (s^2 - 1 adds, 1 divide): 10 s^2 per output element.
An adaptive sampling ratio (<= 0) takes ceil(box size / pooled size) samples, which depends on the
boxes' values: it is counted at s = 1, a lower bound. ps_roi_align is the same per output element.
Bytes: the rois read, the 4 neighbours of every sample (at most the whole input) read, the output
written. MACs 0.

deform_conv2d(input [N, Cin, H, W], weight [Cout, Cin/g, kh, kw], offset, mask, bias, stride,
padding, dilation, groups, offset_groups, use_mask): MACs as a convolution,
N * Cout * Ho * Wo * Cin/g * kh * kw; FLOPs = 2 * MACs + one per output element for the bias + per
sampled input value (N * Cin * kh * kw * Ho * Wo of them) the offset added to both coordinates (2),
its bilinear sample (9) and, with use_mask, the modulation (1). Bytes: every input read once, the
output written once.
"""

from __future__ import annotations

from math import prod

from roofscope.cost import Cost
from roofscope.events import OpEvent, TensorMeta
from roofscope.formulas._registry import Family, with_io
from roofscope.formulas.resize import FLOPS_PER_OUTPUT

__all__ = ["IOU_FLOPS", "deform_conv2d", "nms", "roi_align"]

family = Family("detection")

IOU_FLOPS = 4 + 2 + 2 + 1 + 2 + 1 + 1
_BILINEAR = FLOPS_PER_OUTPUT["bilinear"]


@family("torchvision.nms")
def nms(event: OpEvent) -> Cost:
    """Every pair's IoU and threshold test, N * (N - 1) / 2 * 13 FLOPs, and 3 per box for its area."""
    boxes = event.args[0].shape[0]
    return with_io(event, 0, boxes * (boxes - 1) // 2 * IOU_FLOPS + 3 * boxes)


@family("torchvision.roi_align", "torchvision.ps_roi_align")
def roi_align(event: OpEvent) -> Cost:
    """10 * s^2 FLOPs per output element, s the sampling ratio (1 where adaptive)."""
    x, rois = event.args[0], event.args[1]
    ratio = int(event.arg(5, "sampling_ratio", 0))
    samples = ratio * ratio if ratio > 0 else 1
    out = event.output
    gathered = min(x.numel, 4 * samples * out.numel)
    bytes_read = rois.nbytes + gathered * x.itemsize
    return Cost(0, (_BILINEAR + 1) * samples * out.numel, bytes_read, sum(t.nbytes for t in event.outputs))


@family("torchvision.deform_conv2d")
def deform_conv2d(event: OpEvent) -> Cost:
    """A convolution's MACs, with its bias, plus 2 + 9 (+ 1 with use_mask) per sampled input value."""
    x, weight, bias = event.args[0], event.args[1], event.args[4]
    out = event.output
    kernel = prod(weight.shape[2:])
    macs = out.shape[0] * out.shape[1] * prod(out.shape[2:]) * weight.shape[1] * kernel
    samples = x.shape[0] * x.shape[1] * kernel * prod(out.shape[2:])
    per_sample = 2 + _BILINEAR + (1 if event.arg(13, "use_mask") else 0)
    bias_flops = out.numel if isinstance(bias, TensorMeta) and bias.numel else 0
    return with_io(event, macs, 2 * macs + bias_flops + per_sample * samples)
