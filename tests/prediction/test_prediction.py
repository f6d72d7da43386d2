"""The prediction stage: each term against a hand calculation, and the identity that explains the gap
(predicted = roofline + cache + efficiency + host) for every op, module and model."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator

import pytest
import torch
from torch import nn

import roofscope
from roofscope.devices import Device
from roofscope.devices.execution import Execution
from roofscope.prediction import MathFlags
from roofscope.prediction.cache import cached_read_fractions
from roofscope.prediction.kernels import Gemm, gemm_time
from roofscope.prediction.timeline import Share, Step, timeline

TERA, GIGA = 1e12, 1e9


def _gpu(**execution: object) -> Device:
    """A GPU with round figures: 100 TFLOP/s (bf16 matrix, fp32 vector 10), 1000 GB/s."""
    base = {"kind": "gpu", "compute_units": 100, "sustained_matrix": {"bf16": 100 * TERA}, "sustained_vector": {"fp32": 10 * TERA}}
    return Device(
        name="round",
        memory_bandwidth=1000 * GIGA,
        matrix={"bf16": 100 * TERA, "tf32": 50 * TERA},
        vector={"fp32": 10 * TERA},
        launch_overhead_s=10e-6,
        execution=Execution(**{**base, **execution}),  # type: ignore[arg-type]
    )


# -- the timeline --------------------------------------------------------------------------------


def test_host_slower_than_the_device_gives_the_host_time() -> None:
    steps = [Step(host_s=10e-6, device_s=1e-6, launches=True)] * 50
    shares = timeline(steps, overlapped=True)
    # the device waits for each launch; the last kernel runs after the host is done
    assert sum(s.wall_s for s in shares) == pytest.approx(50 * 10e-6 + 1e-6)
    assert sum(s.host_s for s in shares) == pytest.approx(50 * 10e-6 + 1e-6 - 50 * 1e-6)


def test_device_slower_than_the_host_gives_the_device_time() -> None:
    steps = [Step(host_s=1e-6, device_s=10e-6, launches=True)] * 50
    shares = timeline(steps, overlapped=True)
    assert sum(s.wall_s for s in shares) == pytest.approx(1e-6 + 50 * 10e-6)  # the first kernel waits for its launch
    assert sum(s.host_s for s in shares) == pytest.approx(1e-6)


def test_a_cpu_adds_host_and_device_time() -> None:
    steps = [Step(host_s=3e-6, device_s=5e-6, launches=True), Step(host_s=2e-6, device_s=0.0, launches=False)]
    assert [s.wall_s for s in timeline(steps, overlapped=False)] == pytest.approx([8e-6, 2e-6])


def test_views_move_only_the_host_clock_and_a_trailing_host_tail_counts() -> None:
    steps = [Step(1e-6, 5e-6, True), Step(2e-6, 0.0, False), Step(1e-6, 5e-6, True)]
    shares = timeline(steps, overlapped=True)
    assert shares[1] == Share(0.0, 0.0)  # the view launches nothing: the device does not wait for it
    assert sum(s.wall_s for s in shares) == pytest.approx(11e-6)
    tail = timeline([Step(1e-6, 5e-6, True), Step(20e-6, 0.0, False)], overlapped=True)
    assert sum(s.wall_s for s in tail) == pytest.approx(21e-6)  # the host ends last: its time counts


# -- tiles and waves ------------------------------------------------------------------------------


def test_wave_quantisation_one_tile_more_than_the_units_takes_a_second_wave() -> None:
    rate, units = 100 * TERA, 100
    tile_s = 2 * 128 * 128 * 4096 / (rate / units)
    # 100 tiles of 128 x 128 fill one wave; 101 need two: the time doubles for 1% more work
    assert gemm_time(Gemm(1, 1280, 1280, 4096), rate, units) == pytest.approx(tile_s)
    assert gemm_time(Gemm(1, 1280, 1280 + 128, 4096), rate, units) == pytest.approx(2 * tile_s)


def test_tile_quantisation_rounds_each_dimension_up_to_whole_tiles() -> None:
    rate, units = 100 * TERA, 1
    # M = 129 takes two 128-row tiles: as long as M = 256
    assert gemm_time(Gemm(1, 129, 128, 512), rate, units) == pytest.approx(gemm_time(Gemm(1, 256, 128, 512), rate, units))
    # a short M takes a short tile: M = 16 runs 16-row tiles, not 128
    assert gemm_time(Gemm(1, 16, 128, 512), rate, units) == pytest.approx(2 * 16 * 128 * 512 / rate)


def test_split_k_fills_the_units_when_the_tiles_are_few() -> None:
    rate, units = 100 * TERA, 100
    # one tile, K = 51200: split 100 ways (parts of 512), one wave of 100 short tiles
    assert gemm_time(Gemm(1, 128, 128, 51200), rate, units) == pytest.approx(2 * 128 * 128 * 512 / (rate / units))


def test_a_large_gemm_runs_at_the_sustained_rate() -> None:
    rate = 100 * TERA
    gemm = Gemm(1, 128 * 100 * 8, 128 * 10, 4096)  # 8000 tiles: 80 full waves
    assert gemm_time(gemm, rate, 100) == pytest.approx(gemm.flops / rate)


def _probed_cpu(bandwidth: float = 1e6 * GIGA, **curves: object) -> Device:
    """A CPU known from a probe (fp32 at 0.1 TFLOP/s) with the given curves."""
    return Device(
        name="probed",
        memory_bandwidth=bandwidth,
        vector={"fp32": 0.1 * TERA},
        execution=Execution(kind="cpu", sustained_vector={"fp32": 0.1 * TERA}, **curves),  # type: ignore[arg-type]
    )


def _cpu_with_curves() -> Device:
    """A CPU known from a probe: GEMMs at 100 GFLOP/s, a dense 3 x 3 convolution at 40, a
    depthwise one at 2 and at 0.5 with stride 2 (their implicit GEMMs: groups, M, N, K; then the
    stride and the kernel positions), memory far faster than any."""
    return _probed_cpu(
        gemm_curve=((64, 64, 64, "fp32", 100 * GIGA),),
        conv_curve=(
            (1, 3136, 64, 576, 1, 9, "fp32", 40 * GIGA),
            (64, 3136, 1, 9, 1, 9, "fp32", 2 * GIGA),
            (64, 3136, 1, 9, 2, 9, "fp32", 0.5 * GIGA),
        ),
    )


def test_a_convolution_runs_at_the_probed_rate_of_the_nearest_convolution() -> None:
    model = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1, groups=64, bias=False), nn.Conv2d(64, 64, 3, padding=1, bias=False))
    report = roofscope.analyze(model, (1, 64, 56, 56), device=_cpu_with_curves())
    depthwise, dense = (r.timing for r in report.ops if r.event.op == "aten.convolution")
    assert depthwise is not None and dense is not None
    # 2 x 3136 positions x 64 channels x 9 taps at 2 GFLOP/s; 2 x 3136 x 64 x 576 at 40 GFLOP/s
    assert depthwise.device_s == pytest.approx(2 * 3136 * 64 * 9 / (2 * GIGA))
    assert dense.device_s == pytest.approx(2 * 3136 * 64 * 576 / (40 * GIGA))
    # stride 2, from 112 x 112 to the same 56 x 56 outputs: the same implicit GEMM, the stride-2 point
    strided = roofscope.analyze(nn.Conv2d(64, 64, 3, 2, 1, groups=64, bias=False), (1, 64, 112, 112), device=_cpu_with_curves())
    assert strided.ops[0].timing.device_s == pytest.approx(2 * 3136 * 64 * 9 / (0.5 * GIGA))  # type: ignore[union-attr]
    # a 1 x 1 convolution of stride 2 (none measured): the dense point, nearer than the depthwise one
    shortcut = roofscope.analyze(nn.Conv2d(64, 64, 1, 2, bias=False), (1, 64, 112, 112), device=_cpu_with_curves())
    assert shortcut.ops[0].timing.device_s == pytest.approx(2 * 3136 * 64 * 64 / (40 * GIGA))  # type: ignore[union-attr]


def test_a_convolution_reads_a_point_of_its_own_kernel_size() -> None:
    """A 1 x 1 convolution from 16 to 96 channels at 112 x 112 (implicit GEMM 12544 x 96 x 16): by
    its GEMM alone nearest the 3 x 3 from 3 channels (12544 x 128 x 27), but a 3 x 3 kernel is as
    far from a 1 x 1 as nine times the size, so it runs at the measured 1 x 1 (12544 x 32 x 32);
    with a device file that did not keep the kernel positions (0), at the 3 x 3's rate."""
    points = ((1, 12544, 128, 27, 1, 9, "fp32", 40 * GIGA), (1, 12544, 32, 32, 1, 1, "fp32", 10 * GIGA))
    flops = 2 * 12544 * 96 * 16
    for curve, rate in ((points, 10 * GIGA), (tuple((*p[:5], 0, *p[6:]) for p in points), 40 * GIGA)):
        report = roofscope.analyze(nn.Conv2d(16, 96, 1, bias=False), (1, 16, 112, 112), device=_probed_cpu(conv_curve=curve))
        assert report.ops[0].timing.device_s == pytest.approx(flops / rate)  # type: ignore[union-attr]


def test_a_matmul_reads_the_gemm_curve_and_a_convolution_without_a_conv_curve_too() -> None:
    probed = _cpu_with_curves()
    linear = roofscope.analyze(nn.Linear(64, 64, bias=False), (64, 64), device=probed)
    assert linear.ops[-1].timing.device_s == pytest.approx(2 * 64**3 / (100 * GIGA))  # type: ignore[union-attr]
    older = dataclasses.replace(probed, execution=dataclasses.replace(probed.execution, conv_curve=()))  # a probe file from before
    conv = roofscope.analyze(nn.Conv2d(64, 64, 3, padding=1, bias=False), (1, 64, 56, 56), device=older)
    assert conv.ops[0].timing.device_s == pytest.approx(2 * 3136 * 64 * 576 / (100 * GIGA))  # type: ignore[union-attr]
    # the probe times forward convolutions only: a transposed one's GEMM goes by the GEMM curve
    transposed = roofscope.analyze(nn.ConvTranspose2d(64, 64, 3, padding=1, bias=False), (1, 64, 56, 56), device=probed)
    record = transposed.ops[0]
    assert record.event.op == "aten.convolution" and record.cost is not None and record.timing is not None
    assert record.timing.device_s == pytest.approx(record.cost.flops / (100 * GIGA))


def test_a_matmul_between_the_measured_shapes_takes_the_rate_interpolated_in_log_space() -> None:
    """Rates measured at M = 64 and 256 (N = K = 64): M = 128, halfway in log space, runs at their
    geometric mean; beyond the grid the rate is held at its edge. A corner the grid left out (as a
    CPU probe leaves out the shapes over its FLOP cap) counts at the sustained rate (100 GFLOP/s
    here): M = K = 128 weighs its four corners a quarter each."""
    probed = _probed_cpu(gemm_curve=((64, 64, 64, "fp32", 50 * GIGA), (256, 64, 64, "fp32", 200 * GIGA)))

    def seconds(rows: int, k: int = 64, device: Device = probed) -> float:
        (record,) = roofscope.analyze(nn.Linear(k, 64, bias=False), (rows, k), device=device).ops[-1:]
        assert record.timing is not None
        return record.timing.device_s

    assert seconds(128) == pytest.approx(2 * 128 * 64 * 64 / (100 * GIGA))
    assert seconds(1024) == pytest.approx(2 * 1024 * 64 * 64 / (200 * GIGA))
    assert seconds(16) == pytest.approx(2 * 16 * 64 * 64 / (50 * GIGA))
    measured = ((64, 64, 64, 10), (64, 64, 256, 40), (256, 64, 64, 160))
    three = _probed_cpu(gemm_curve=tuple((m, n, k, "fp32", rate * GIGA) for m, n, k, rate in measured))
    rate = (10 * 40 * 160 * 100) ** 0.25 * GIGA  # the geometric mean of the four corners: about 50
    assert seconds(128, 128, three) == pytest.approx(2 * 128 * 64 * 128 / rate)


def test_max_pooling_moves_its_bytes_at_the_probed_pooling_bandwidth() -> None:
    """A 3 x 3, stride-2 max pooling of 8 x 32 x 32 fp32: 32 KiB read, 8 x 16 x 16 values and their
    int64 indices written (24 KiB), at the 2 GB/s the probe measured for pooling, not a copy's 100."""
    probed = _probed_cpu(
        100 * GIGA, bandwidth_curve=((1e3, 100 * GIGA), (1e9, 100 * GIGA)), family_curves={"pooling": ((1e3, 2 * GIGA), (1e9, 2 * GIGA))}
    )
    report = roofscope.analyze(nn.MaxPool2d(3, 2, 1), (1, 8, 32, 32), device=probed)
    (record,) = report.ops
    assert record.cost is not None and record.cost.bytes == 8 * 1024 * 4 + 8 * 256 * (4 + 8)
    assert record.timing is not None and record.timing.device_s == pytest.approx(record.cost.bytes / (2 * GIGA))


def test_a_pointwise_op_measured_on_its_own_reads_its_own_curve() -> None:
    """SiLU (in place too) at the 2 GB/s the probe measured for aten.silu; ReLU, not measured on its
    own, at the pointwise family's 20 GB/s. 1 MB read and 1 MB written each (the in-place op
    writes over its input)."""
    probed = _probed_cpu(
        100 * GIGA, family_curves={"pointwise": ((1e3, 20 * GIGA), (1e9, 20 * GIGA)), "aten.silu": ((1e3, 2 * GIGA), (1e9, 2 * GIGA))}
    )
    for model, rate in ((nn.SiLU(), 2 * GIGA), (nn.SiLU(inplace=True), 2 * GIGA), (nn.ReLU(), 20 * GIGA)):
        (record,) = roofscope.analyze(model, (250_000,), device=probed).ops
        assert record.cost is not None and record.cost.bytes == 2 * 250_000 * 4
        assert record.timing is not None and record.timing.device_s == pytest.approx(record.cost.bytes / rate)


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN:UserWarning")  # torch says so
def test_an_lstm_takes_the_probed_time_of_the_nearest_layer_at_its_batch_and_length() -> None:
    """Per layer, the measured layers nearest its (input, hidden); at each measured batch, the time
    at its steps (linear between the lengths measured, along the last segment beyond them); then
    at its batch likewise; scaled by the weights. Hand-computed."""
    probed = _probed_cpu(
        rnn_curve=(
            (1, 256, 512, 8, "fp32", 2e-3),
            (1, 256, 512, 32, "fp32", 5e-3),
            (1, 512, 512, 8, "fp32", 3e-3),
            (1, 512, 512, 32, "fp32", 7e-3),
            (8, 512, 512, 8, "fp32", 5e-3),
            (8, 512, 512, 32, "fp32", 17e-3),
        )
    )

    def device_s(model: nn.Module, shape: tuple[int, ...], device: Device = probed) -> float:
        (record,) = [r for r in roofscope.analyze(model, shape, device=device).ops if r.family == "recurrent"]
        assert record.timing is not None
        return record.timing.device_s

    lstm = nn.LSTM(256, 512, num_layers=2, batch_first=True)
    # 20 steps: layer 1 at 2 + 3 x 12/24 ms, layer 2 (512 inputs) at 3 + 4 x 12/24 ms
    assert device_s(lstm, (1, 20, 256)) == pytest.approx(3.5e-3 + 5e-3)
    # 64 steps, beyond the lengths measured: 5 + 3 x 32/24 and 7 + 4 x 32/24 ms
    assert device_s(lstm, (1, 64, 256)) == pytest.approx(9e-3 + (7 + 4 * 32 / 24) * 1e-3)
    # batch 4, 20 steps, a layer of 512 inputs: 5 ms at batch 1, 11 at batch 8, so 5 + 6 x 3/7
    single = nn.LSTM(512, 512, batch_first=True)
    assert device_s(single, (4, 20, 512)) == pytest.approx((5 + 6 * 3 / 7) * 1e-3)
    # sequence first ([steps, batch, features]): the same layer, the same time
    assert device_s(nn.LSTM(512, 512), (20, 4, 512)) == pytest.approx((5 + 6 * 3 / 7) * 1e-3)
    # half the hidden units (128 inputs, the nearest measured layer 256 x 512): a quarter of its weights
    assert device_s(nn.LSTM(128, 256, batch_first=True), (1, 20, 128)) == pytest.approx(3.5e-3 * (4 * 256 * 384) / (4 * 512 * 768))

    # a GRU, or an LSTM with a projection (a CPU runs both in a loop of its own, not oneDNN's
    # kernel), or no rnn curve at all (a probe file from before): the FLOPs at the vector rate
    older = dataclasses.replace(probed, execution=dataclasses.replace(probed.execution, rnn_curve=()))
    for model, device in (
        (nn.GRU(256, 512, batch_first=True), probed),
        (nn.LSTM(256, 512, batch_first=True, proj_size=128), probed),
        (lstm, older),
    ):
        (record,) = [r for r in roofscope.analyze(model, (1, 20, 256), device=device).ops if r.family == "recurrent"]
        assert record.cost is not None and record.timing is not None
        assert record.timing.device_s == pytest.approx(record.cost.flops / (0.1 * TERA))


# -- the cache ------------------------------------------------------------------------------------


class _Chain(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x * 2) + 1) * 3


def test_reads_hit_the_cache_below_its_size_and_miss_above_it() -> None:
    x = torch.empty(250_000, device="meta")  # 1 MB: each op reads 1 MB, writes 1 MB
    report = roofscope.analyze(_Chain(), [x])
    events = [r.event for r in report.ops]
    # x and the three outputs, 4 MB, fit in 5 MB: every read hits (x from the previous forward)
    assert cached_read_fractions(events, capacity=5e6) == [1.0, 1.0, 1.0]
    # in 3 MB, x is evicted by the three outputs before the next forward reads it again
    assert cached_read_fractions(events, capacity=3e6) == [0.0, 1.0, 1.0]
    assert cached_read_fractions(events, capacity=0.5e6) == [0.0, 0.0, 0.0]
    # on a device: the cached reads move at the cache's bandwidth (4x), the writes at memory's
    small = roofscope.analyze(_Chain(), [x], device=_gpu(cache_bytes=3e6, cache_bandwidth=4000 * GIGA, sustained_bandwidth=1000 * GIGA))
    large = roofscope.analyze(_Chain(), [x], device=_gpu(cache_bytes=0.5e6, cache_bandwidth=4000 * GIGA, sustained_bandwidth=1000 * GIGA))
    second = small.ops[1].timing
    assert second is not None and second.level == "DRAM"  # the write, to memory, takes most of its time
    assert second.device_s == pytest.approx(1e6 / 4000e9 + 1e6 / 1000e9)
    assert second.cache_s == pytest.approx((1e6 / 4000e9 + 1e6 / 1000e9) - 2e6 / 1000e9)
    assert large.ops[1].timing.device_s == pytest.approx(2e6 / 1000e9)  # type: ignore[union-attr]
    assert large.ops[1].timing.level == "DRAM"  # type: ignore[union-attr]


# -- precision flags ------------------------------------------------------------------------------


@contextlib.contextmanager
def _flags(*, conv: bool, matmul: bool) -> Iterator[None]:
    """torch's TF32 flags set with the legacy API for the block, then put back as they were (the
    new API's "none" included)."""
    backends = torch.backends
    saved = (
        backends.cudnn.allow_tf32,
        backends.cuda.matmul.allow_tf32,
        backends.cudnn.conv.fp32_precision,
        backends.cudnn.fp32_precision,
        backends.cuda.matmul.fp32_precision,
    )
    backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32 = conv, matmul
    try:
        yield
    finally:
        backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32 = saved[0], saved[1]
        backends.cudnn.conv.fp32_precision, backends.cudnn.fp32_precision, backends.cuda.matmul.fp32_precision = saved[2:]


def test_tf32_flags_are_read_from_torch_and_change_the_rate() -> None:
    conv = nn.Conv2d(8, 8, 3).eval()
    linear = nn.Linear(64, 64).eval()
    device = _gpu(sustained_matrix={"bf16": 100 * TERA, "tf32": 50 * TERA})
    on = roofscope.analyze(conv, (1, 8, 16, 16), device=device, tf32=MathFlags(conv_tf32=True, matmul_tf32=False))
    off = roofscope.analyze(conv, (1, 8, 16, 16), device=device, tf32=False)
    assert on.ops[0].timing.peak_label == "tf32 matrix" and off.ops[0].timing.peak_label == "fp32 vector"  # type: ignore[union-attr]
    assert roofscope.analyze(linear, (4, 64), device=device, tf32=MathFlags(True, False)).dominant()[0].timing.peak_label == "fp32 vector"  # type: ignore[union-attr]
    # read from torch: flip each flag, see the rate change
    with _flags(conv=False, matmul=False):
        assert roofscope.analyze(conv, (1, 8, 16, 16), device=device).ops[0].timing.peak_label == "fp32 vector"  # type: ignore[union-attr]
    with _flags(conv=True, matmul=False):
        assert roofscope.analyze(conv, (1, 8, 16, 16), device=device).ops[0].timing.peak_label == "tf32 matrix"  # type: ignore[union-attr]
        labels = {r.timing.peak_label for r in roofscope.analyze(linear, (4, 64), device=device).ops if r.family == "matmul" and r.timing}
        assert labels == {"fp32 vector"}
    with _flags(conv=True, matmul=True):
        labels = {r.timing.peak_label for r in roofscope.analyze(linear, (4, 64), device=device).ops if r.family == "matmul" and r.timing}
        assert labels == {"tf32 matrix"}
    # a CPU never runs TF32
    cpu = dataclasses.replace(device, execution=dataclasses.replace(device.execution, kind="cpu"))
    assert roofscope.analyze(conv, (1, 8, 16, 16), device=cpu, tf32=True).ops[0].timing.peak_label == "fp32 vector"  # type: ignore[union-attr]


# -- modes and the gap ----------------------------------------------------------------------------


def _block() -> nn.Module:
    return nn.Sequential(nn.Linear(256, 512), nn.GELU(), nn.LayerNorm(512), nn.Linear(512, 256), nn.ReLU()).eval()


@pytest.mark.parametrize("mode", ["eager", "cudagraph", "compiled"])
def test_the_gap_explanation_sums_to_the_prediction(mode: str) -> None:
    report = roofscope.analyze(_block(), (8, 256), device="h100", dtype="bf16", mode=mode)
    for record in report.ops:
        t = record.timing
        assert t is not None
        assert t.predicted_s == pytest.approx(t.roofline_s + t.cache_s + t.efficiency_s + t.host_s, abs=1e-15)
    for module in report.modules():
        timing = module.total.timing
        assert timing is not None
        assert timing.predicted_s == pytest.approx(
            timing.roofline_s + timing.cache_s + timing.efficiency_s + timing.host_s, rel=1e-9, abs=1e-15
        )
    assert report.prediction is not None and report.prediction.mode == mode
    assert report.total.predicted_s == pytest.approx(report.prediction.by_mode[mode])


def test_modes_remove_host_time_and_compiled_fuses_bytes() -> None:
    eager = roofscope.analyze(_block(), (8, 256), device="h100", dtype="bf16", mode="eager")
    graph = roofscope.analyze(_block(), (8, 256), device="h100", dtype="bf16", mode="cudagraph")
    compiled = roofscope.analyze(_block(), (8, 256), device="h100", dtype="bf16", mode="compiled")
    assert eager.total.bound == "host" and eager.total.host_s > 0.5 * eager.total.predicted_s  # type: ignore[operator]
    assert graph.total.host_s == pytest.approx(roofscope.get_device("h100").execution.graph_launch_s)
    assert graph.total.predicted_s < eager.total.predicted_s  # type: ignore[operator]
    fused_bytes = sum(r.timing.bytes for r in compiled.ops if r.timing)
    assert fused_bytes < sum(r.timing.bytes for r in eager.ops if r.timing)
    assert compiled.total.predicted_s <= graph.total.predicted_s  # type: ignore[operator]
    # the counts themselves do not change with the mode
    assert compiled.total.cost == eager.total.cost


def test_fusion_reads_each_outside_buffer_once_and_writes_only_what_is_read_later() -> None:
    """GELU -> LayerNorm between two Linears: one fused kernel reading the first Linear's output
    (8 x 512 bf16) and LayerNorm's weight and bias, writing its output once."""
    compiled = roofscope.analyze(_block(), (8, 256), device="h100", dtype="bf16", mode="compiled")
    fused = [r for r in compiled.ops if r.module in ("1", "2") and r.timing]
    assert sum(r.timing.bytes for r in fused) == 8 * 512 * 2 + 2 * 512 * 2 + 8 * 512 * 2  # type: ignore[union-attr]


def test_a_fused_gather_reads_the_rows_it_looks_up_not_the_whole_table() -> None:
    """Token and position embeddings added: one fused kernel reading the 16 token ids, 16 rows of
    the 1000 x 64 fp32 table and the 16 x 64 position rows, writing 16 x 64 once; never the table."""

    class Embed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tokens = nn.Embedding(1000, 64)
            self.positions = nn.Parameter(torch.zeros(16, 64))

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.tokens(ids) + self.positions

    ids = torch.zeros(1, 16, dtype=torch.long)
    compiled = roofscope.analyze(Embed(), ids, device="h100", mode="compiled")
    assert compiled.total.timing is not None
    assert compiled.total.timing.bytes == 16 * 8 + 16 * 64 * 4 + 16 * 64 * 4 + 16 * 64 * 4
    assert compiled.total.timing.bytes < compiled.total.cost.bytes  # the gathered rows are not written and read back


def test_eager_host_time_counts_each_op_and_module_call() -> None:
    device = _gpu(module_overhead_s=2e-6, view_overhead_s=1e-6)
    slow_host = dataclasses.replace(device, launch_overhead_s=1e-3)  # the host is far slower: its time
    report = roofscope.analyze(_block(), (8, 256), device=slow_host)
    kernels = sum(1 for r in report.ops if r.timing and (r.timing.flops or r.timing.bytes))
    views = sum(1 for r in report.ops if r.timing and not (r.timing.flops or r.timing.bytes))
    calls = sum(m.calls for m in report.modules())
    # the host's time, plus the last kernel's, which runs after the host is done
    assert report.total.predicted_s == pytest.approx(kernels * 1e-3 + views * 1e-6 + calls * 2e-6, rel=1e-4)


def test_the_roofline_is_the_seeds_and_stays_beside_the_prediction() -> None:
    report = roofscope.analyze(_block(), (64, 256), device="h100", dtype="bf16")
    device = roofscope.get_device("h100")
    for record in report.ops:
        t = record.timing
        assert t is not None and record.cost is not None
        peak = device.peak(t.peak_label.split()[0], matrix=t.peak_label.endswith("matrix"))[0]
        assert t.roofline_s == pytest.approx(max(record.cost.flops / peak, record.cost.bytes / device.memory_bandwidth))
    assert report.total.roofline_s == pytest.approx(sum(r.timing.roofline_s for r in report.ops if r.timing))  # type: ignore[union-attr]


def test_an_unknown_mode_is_a_clear_error() -> None:
    with pytest.raises(roofscope.AnalysisError, match="unknown execution mode 'fast'"):
        roofscope.analyze(_block(), (8, 256), device="h100", mode="fast")


def test_device_floors_a_tiny_kernel_at_the_shortest_kernel() -> None:
    report = roofscope.analyze(nn.ReLU(), (4,), device=_gpu(kernel_floor_s=2e-6))
    assert report.ops[0].timing.device_s == pytest.approx(2e-6)  # type: ignore[union-attr]
    assert math.isclose(report.ops[0].timing.efficiency_s, 2e-6 - report.ops[0].timing.roofline_s)  # type: ignore[union-attr]
