"""Awkward models: control flow, several inputs and outputs, in-place ops, repeated analysis."""

import dataclasses

import torch
from torch import nn

import roofscope


@dataclasses.dataclass
class Output:
    logits: torch.Tensor
    extra: dict


class Awkward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x, *, flag: bool = True):
        y = self.fc(x)
        if y.sum() > 0 and flag:  # control flow on a value
            y = self.fc(y)
        y.relu_()
        return Output(y, {"again": self.fc(y)})


def test_control_flow_dataclass_output_and_inplace():
    report = roofscope.analyze(Awkward(), {"x": torch.ones(2, 8), "flag": False})
    assert report.module("fc").calls == 2
    assert report.total.macs == 2 * 2 * 8 * 8
    assert report.uncounted == {}


def test_analysing_twice_does_not_accumulate():
    model = Awkward()
    first = roofscope.analyze(model, {"x": torch.ones(2, 8), "flag": False})
    second = roofscope.analyze(model, {"x": torch.ones(2, 8), "flag": False})
    assert first.total == second.total


def test_inside_inference_mode_counts_as_outside():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 4), nn.GELU()).eval()
    outside = roofscope.analyze(model, (2, 3, 8, 8))
    with torch.inference_mode():
        inside = roofscope.analyze(model, (2, 3, 8, 8))
    assert inside.uncounted == {}
    assert inside.total == outside.total


def test_thousand_layers():
    model = nn.Sequential(*[nn.Linear(4, 4, bias=False) for _ in range(1000)])
    report = roofscope.analyze(model, (1, 4))
    assert report.total.macs == 1000 * 16
    assert report.module("999").total.macs == 16
