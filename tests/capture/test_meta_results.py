"""A repeated call of a pure op on meta tensors gets its outputs made afresh, not its kernel run
again: the outputs must be what the kernel would have returned, each a new tensor."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import roofscope
from roofscope.capture import recorder

_KERNEL_CALLS: list[tuple[int, ...]] = []


@torch.library.custom_op("roofscope_tests::doubled", mutates_args=())
def doubled(x: torch.Tensor) -> torch.Tensor:
    return torch.cat((x, x), dim=-1)


@doubled.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    _KERNEL_CALLS.append(tuple(x.shape))
    return x.new_empty((*x.shape[:-1], 2 * x.shape[-1]))


class _Doubling(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = doubled(x)
        b = doubled(x)
        c = doubled(x[:2])
        return a + b, c


def test_a_repeated_meta_call_runs_its_kernel_once() -> None:
    _KERNEL_CALLS.clear()
    report = roofscope.analyze(_Doubling(), torch.randn(4, 8, device="meta"))
    assert _KERNEL_CALLS == [(4, 8), (2, 8)]  # the second call on (4, 8) did not run it
    calls = [record.event for record in report.ops if record.name == "roofscope_tests.doubled"]
    assert [event.output.shape for event in calls] == [(4, 16), (4, 16), (2, 16)]
    assert len({event.output.buffer for event in calls}) == 3, "each output is a new tensor"


class _Mixed(nn.Module):
    """Ops whose outputs depend on what a signature must hold: strides (a channels-last input),
    the type of a scalar (an integer tensor times 2 or 2.0), dtypes and shapes; each run twice,
    the second time from what the first left."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.norm = nn.BatchNorm2d(4)
        self.layer_norm = nn.LayerNorm(6)

    def forward(self, image: torch.Tensor, counts: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for _ in range(2):
            for x in (image, image.contiguous(memory_format=torch.channels_last)):
                outputs += [F.relu(self.norm(self.conv(x))), x.sigmoid()]
            outputs += [counts * 2, counts * 2.0, counts * True, counts.float().softmax(-1)]
            outputs.append(self.layer_norm(counts.float()))
        return outputs


def _described() -> list[tuple[str, list[tuple[Any, ...]]]]:
    torch.manual_seed(0)
    with torch.device("meta"):
        model = _Mixed().eval()
    inputs = [torch.randn(2, 3, 8, 8, device="meta"), torch.randint(0, 9, (5, 6), device="meta")]
    report = roofscope.analyze(model, inputs)
    return [(r.name, [(t.shape, t.stride, t.dtype, t.buffer, t.offset) for t in r.event.outputs]) for r in report.ops]


def test_outputs_made_afresh_are_the_kernels_own(monkeypatch: pytest.MonkeyPatch) -> None:
    afresh = _described()
    monkeypatch.setattr(recorder._MetaResults, "call", lambda self, key, func, *args, **kwargs: func(*args, **kwargs))
    assert afresh == _described()  # op by op: shapes, strides, dtypes, and each output's own buffer
    dtypes = [outputs[0][2] for name, outputs in afresh if name == "aten.mul"]
    assert dtypes == [torch.int64, torch.float32, torch.int64] * 2
    strides = [outputs[0][1] for name, outputs in afresh if name == "aten.sigmoid"]
    assert strides[0] != strides[1] and strides[:2] == strides[2:]
