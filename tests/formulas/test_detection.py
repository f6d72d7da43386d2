"""torchvision's detection ops and grid sampling against hand counts (formulas/detection.py, resize.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import roofscope

ops = pytest.importorskip("torchvision.ops")


class Call(nn.Module):
    def __init__(self, function) -> None:
        super().__init__()
        self.function = function

    def forward(self, *args):
        return self.function(*args)


def analyze(function, *args) -> roofscope.Report:
    report = roofscope.analyze(Call(function), args)
    assert report.uncounted == {}
    return report


def test_nms_compares_every_pair() -> None:
    """6 boxes: 15 pairs x 13 FLOPs + 6 areas x 3 = 213; reads boxes and scores, writes the kept indices."""
    boxes = torch.tensor(
        [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [21, 21, 31, 31], [50, 50, 60, 60], [0, 0, 5, 5]], dtype=torch.float32
    )
    scores = torch.arange(6, dtype=torch.float32)
    report = analyze(lambda b, s: ops.nms(b, s, 0.5), boxes, scores)
    kept = ops.nms(boxes, scores, 0.5).numel()
    assert report.total.flops == 15 * 13 + 6 * 3
    assert report.total.macs == 0
    assert (report.total.bytes_read, report.total.bytes_written) == (6 * 4 * 4 + 6 * 4, kept * 8)


def test_roi_align() -> None:
    """3 boxes, 8 channels, 7 x 7 bins, 2 x 2 samples a bin: 3*8*49 outputs x 10 * 4 FLOPs."""
    x = torch.randn(1, 8, 32, 32)
    rois = torch.tensor([[0, 0, 0, 16, 16], [0, 4, 4, 30, 30], [0, 1, 2, 3, 4]], dtype=torch.float32)
    report = analyze(lambda a, r: ops.roi_align(a, r, (7, 7), 1.0, 2), x, rois)
    outputs = 3 * 8 * 49
    assert report.total.flops == outputs * 10 * 4
    assert report.total.bytes_read == rois.numel() * 4 + min(x.numel(), 4 * 4 * outputs) * 4


def test_deform_conv2d() -> None:
    """3 -> 4 channels, 3x3 kernel, 8x8 -> 6x6: MACs as the convolution, 2*4*36*3*9; the bias; per
    sampled value (2*3*9*36 of them) 2 + 9, and 1 more with a mask."""
    x, weight, bias = torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3), torch.randn(4)
    offset = torch.randn(2, 2 * 9, 6, 6)
    mask = torch.rand(2, 9, 6, 6)
    macs = 2 * 4 * 36 * 3 * 9
    samples = 2 * 3 * 9 * 36
    plain = analyze(lambda a, o: ops.deform_conv2d(a, o, weight, bias), x, offset)
    assert (plain.total.macs, plain.total.flops) == (macs, 2 * macs + 2 * 4 * 36 + 11 * samples)
    masked = analyze(lambda a, o, m: ops.deform_conv2d(a, o, weight, bias, mask=m), x, offset, mask)
    assert masked.total.flops == plain.total.flops + samples


@pytest.mark.parametrize(("mode", "per_output"), [("bilinear", 9), ("nearest", 0), ("bicubic", 35)])
def test_grid_sample(mode: str, per_output: int) -> None:
    """torchprofile's grid_sample cases' shapes, (1, 3, 8, 8) sampled at a 4 x 4 grid: 48 outputs,
    plus 2 x 2 FLOPs per grid point for the coordinates (MACs 0: not a matrix product)."""
    report = analyze(lambda a, g: F.grid_sample(a, g, mode=mode, align_corners=True), torch.randn(1, 3, 8, 8), torch.randn(1, 4, 4, 2))
    assert (report.total.macs, report.total.flops) == (0, 48 * per_output + 16 * 4)
