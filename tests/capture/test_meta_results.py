"""A repeated call of a pure aten op on meta tensors gets its outputs made afresh, not its kernel
run again: the outputs must be what the kernel would have returned, each a new tensor."""

from __future__ import annotations

import collections
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import roofscope
from roofscope.capture import recorder


class _KernelCalls(TorchDispatchMode):
    """Entered around an analysis, it sits below the analysis' own mode: it sees the calls that
    the analysis runs, not the ones it answers itself."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.calls[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


class _Norms(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return F.layer_norm(x, (8,)), F.layer_norm(x, (8,)), F.layer_norm(x, (8,)), F.layer_norm(x[:2], (8,))


def test_a_repeated_meta_call_runs_its_kernel_once() -> None:
    with _KernelCalls() as below:
        report = roofscope.analyze(_Norms(), torch.randn(4, 8, device="meta"))
    assert below.calls["aten.native_layer_norm"] == 2  # (4, 8) once, (2, 8) once
    norms = [record.event for record in report.ops if record.name == "aten.native_layer_norm"]
    assert [event.output.shape for event in norms] == [(4, 8), (4, 8), (4, 8), (2, 8)]
    assert len({event.output.buffer for event in norms}) == 4, "each output is a new tensor"


_LENGTH = [3]


@torch.library.custom_op("roofscope_tests::cached_rows", mutates_args=())
def cached_rows(x: torch.Tensor) -> torch.Tensor:
    return x.new_zeros(_LENGTH[0], x.shape[-1])


@cached_rows.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return x.new_empty(_LENGTH[0], x.shape[-1])  # reads Python state, as a KV cache's length may


class _GrowingCache(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        first = cached_rows(x)
        _LENGTH[0] += 1
        return first, cached_rows(x)


def test_a_custom_ops_meta_kernel_runs_at_every_call() -> None:
    _LENGTH[0] = 3
    report = roofscope.analyze(_GrowingCache(), torch.randn(2, 8, device="meta"))
    assert [record.event.output.shape for record in report.ops if record.name == "roofscope_tests.cached_rows"] == [(3, 8), (4, 8)]


class _Renewed(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        first = F.layer_norm(x, (8,))
        x.data = torch.empty(2, 8, device="meta")  # a new shape, without an op the analysis sees
        return first, F.layer_norm(x, (8,))


def test_a_tensor_given_new_data_is_known_by_its_new_shape() -> None:
    report = roofscope.analyze(_Renewed(), torch.randn(4, 8, device="meta"))
    norms = [record.event.output.shape for record in report.ops if record.name == "aten.native_layer_norm"]
    assert norms == [(4, 8), (2, 8)]


class _Mixed(nn.Module):
    """Ops whose outputs depend on what a signature must hold: strides (a channels-last input),
    the type of a scalar (an integer tensor times 2, 2.0 or True), dtypes and shapes; each run
    twice, the second time from what the first left."""

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


def _described(backward: bool) -> list[tuple[str, str, list[tuple[Any, ...]]]]:
    torch.manual_seed(0)
    with torch.device("meta"):
        model = _Mixed().train(backward)
    inputs = [torch.randn(2, 3, 8, 8, device="meta"), torch.randint(0, 9, (5, 6), device="meta")]
    report = roofscope.analyze(model, inputs, backward=backward)
    return [(r.name, r.event.phase, [(t.shape, t.stride, t.dtype, t.buffer, t.offset) for t in r.event.outputs]) for r in report.ops]


@pytest.mark.parametrize("backward", [False, True])
def test_outputs_made_afresh_are_the_kernels_own(backward: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    afresh = _described(backward)
    monkeypatch.setattr(recorder.Recorder, "_signature", lambda self, func, args, kwargs: None)
    assert afresh == _described(backward)  # op by op: shapes, strides, dtypes, and each output's own buffer
    dtypes = [outputs[0][2] for name, phase, outputs in afresh if name == "aten.mul" and phase == "forward"]
    assert dtypes == [torch.int64, torch.float32, torch.int64] * 2
    strides = [outputs[0][1] for name, phase, outputs in afresh if name == "aten.sigmoid"]
    assert strides[0] != strides[1] and strides[:2] == strides[2:]
    if backward:
        assert any(phase == "backward" for name, phase, outputs in afresh)
