"""The roofline stage: the seeds' roofline by hand, target precision, aggregation, the chart.
(The predicted time beside it: tests/prediction/.)"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import roofscope
from roofscope.formulas import Formulas, default_formulas

H100_BF16 = 989.5e12
H100_BW = 3.35e12


def _linear(dtype=torch.bfloat16):
    return nn.Linear(4096, 4096, bias=False, device="meta", dtype=dtype)


def _mm(report):
    (record,) = [r for r in report.ops if r.name == "aten.mm"]
    return record


@pytest.mark.parametrize("built, target", [(torch.bfloat16, None), (torch.float32, "bf16")])
def test_linear_one_token_is_memory_bound(built, target):
    report = roofscope.analyze(_linear(built), torch.empty(1, 4096, device="meta", dtype=built), device="h100", dtype=target)
    nbytes = 2 * 4096 * 4096 + 2 * 4096 + 2 * 4096  # bf16 weight, input row, output row
    assert report.total.bytes == nbytes
    assert report.total.roofline_bound == "memory" and _mm(report).timing.roofline_bound == "memory"
    assert report.total.roofline_s == pytest.approx(nbytes / H100_BW, rel=1e-12)  # 10.02 us
    assert _mm(report).timing.peak_label == "bf16 matrix"
    assert report.total.intensity == pytest.approx(2 * 4096 * 4096 / nbytes)  # ~1 FLOP/B, far left of 295


@pytest.mark.parametrize("built, target", [(torch.bfloat16, None), (torch.float32, "bf16")])
def test_linear_4096_tokens_is_compute_bound(built, target):
    report = roofscope.analyze(_linear(built), torch.empty(4096, 4096, device="meta", dtype=built), device="h100", dtype=target)
    assert report.total.roofline_bound == "compute" and report.total.bound == "compute"
    assert report.total.roofline_s == pytest.approx(2 * 4096**3 / H100_BF16, rel=1e-12)  # 138.9 us
    assert report.total.intensity == pytest.approx(2 * 4096**3 / (3 * 2 * 4096 * 4096))  # 1365 > 295
    assert report.total.flops / report.total.roofline_s == pytest.approx(H100_BF16)
    assert report.module("").total.predicted_s == report.total.predicted_s


def test_without_device_there_is_no_prediction():
    report = roofscope.analyze(nn.Linear(4, 4), (2, 4))
    assert report.device is None
    assert report.total.predicted_s is None and report.total.bound is None
    assert all(record.timing is None for record in report.ops)
    assert report.total.macs == 2 * 4 * 4  # the Cost fields are unchanged
    with pytest.raises(ValueError, match="no roofline"):
        report.plot_roofline()


def test_the_host_time_per_op_bounds_a_small_forward():
    """launch_overhead_us: the host's time to issue one op. The device waits for it: a one-token
    linear is host-bound at 20 us per op (plus the module call), and the roofline stays what the seeds say."""
    one_token = torch.empty(1, 4096, device="meta", dtype=torch.bfloat16)
    report = roofscope.analyze(_linear(), one_token, device="h100", launch_overhead_us=20)
    execution = roofscope.get_device("h100").execution
    view = execution.view_overhead_s  # aten.t launches no kernel
    call = execution.module_overhead_s  # the nn.Linear call around them
    assert call > 0
    mm = _mm(report).timing
    assert mm.bound == "host" and mm.host_s == pytest.approx(call + view + 20e-6)
    assert report.total.predicted_s == pytest.approx(call + view + 20e-6 + mm.device_s)
    assert report.total.roofline_s == pytest.approx((2 * 4096 * 4096 + 4 * 4096) / H100_BW)
    tiny = roofscope.analyze(nn.ReLU(), (4,), device="h100", launch_overhead_us=11.2)
    assert tiny.total.predicted_s == pytest.approx(call + 11.2e-6 + execution.kernel_floor_s)


def test_weight_only_and_low_precision_targets():
    one_token = torch.empty(1, 4096, device="meta")
    w8 = roofscope.analyze(_linear(torch.float32), one_token, device="h100", dtype="int8-weights")
    assert w8.total.bytes == 4096 * 4096 * 1 + 2 * 4096 * 2  # int8 weight, bf16 activations
    assert _mm(w8).timing.peak_label == "bf16 matrix"
    fp8 = roofscope.analyze(_linear(torch.float32), torch.empty(4096, 4096, device="meta"), device="h100", dtype="fp8")
    assert fp8.total.bytes == 3 * 4096 * 4096
    assert fp8.total.roofline_s == pytest.approx(2 * 4096**3 / 1979e12)
    upcast = roofscope.analyze(_linear(torch.float32), torch.empty(4096, 4096, device="meta"), device="a100", dtype="fp8")
    assert _mm(upcast).timing.peak_label == "bf16 matrix"  # A100 has no FP8: runs upcast (W8A16)
    tf32 = roofscope.analyze(_linear(torch.float32), torch.empty(4096, 4096, device="meta"), device="h100", dtype="tf32")
    assert tf32.total.bytes == 3 * 4 * 4096 * 4096 and _mm(tf32).timing.peak_label == "tf32 matrix"
    fp32 = roofscope.analyze(_linear(torch.float32), torch.empty(4096, 4096, device="meta"), device="h100")
    assert _mm(fp32).timing.peak_label == "fp32 vector"  # fp32 matmul without TF32: CUDA cores
    with pytest.raises(roofscope.AnalysisError, match="unknown target precision"):
        roofscope.analyze(nn.Linear(2, 2), (1, 2), dtype="fp7")


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(self.relu(self.conv(x)))


@pytest.mark.parametrize("target, size", [(None, 4), ("bf16", 2)])
def test_small_cnn_bytes_by_hand(target, size):
    report = roofscope.analyze(SmallCNN(), (1, 3, 8, 8), device="h100", dtype=target)
    by_name = {record.name: record.cost for record in report.ops}
    conv = by_name["aten.convolution"]
    assert conv.bytes_read == size * (3 * 8 * 8 + 8 * 3 * 3 * 3 + 8)  # input 192 + weight 216 + bias 8
    assert conv.bytes_written == size * 8 * 8 * 8  # 512 outputs
    relu = by_name["aten.relu"]
    assert (relu.bytes_read, relu.bytes_written) == (size * 512, size * 512)
    pool_read = size * 512
    pool = next(r.cost for r in report.ops if r.name.startswith("aten.max_pool2d"))
    assert pool.bytes_read == pool_read
    # max_pool2d_with_indices writes the pooled values (dtype-sized) and int64 indices (never rescaled).
    assert pool.bytes_written == size * 8 * 4 * 4 + 8 * 8 * 4 * 4
    assert report.total.bytes == sum(r.cost.bytes for r in report.ops)


class Block(nn.Module):
    """One pre-norm attention block: x + proj(sdpa(qkv(ln(x))))."""

    def __init__(self, dim=16, heads=2):
        super().__init__()
        self.heads = heads
        self.ln = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(y.transpose(1, 2).reshape(b, t, d))


@pytest.mark.parametrize("target, size", [(None, 4), ("bf16", 2)])
def test_transformer_block_bytes_by_hand(target, size):
    report = roofscope.analyze(Block(), (2, 5, 16), device="h100", dtype=target)
    costs = {}
    for record in report.ops:
        costs.setdefault(record.name, []).append(record.cost)
    qkv, proj = costs["aten.addmm"]
    assert qkv.bytes_read == size * (48 + 10 * 16 + 16 * 48)  # bias, 10 tokens x 16, weight 16 x 48
    assert qkv.bytes_written == size * 10 * 48
    assert proj.bytes_read == size * (16 + 10 * 16 + 16 * 16)
    assert proj.bytes_written == size * 10 * 16
    (sdpa,) = costs["aten.scaled_dot_product_attention"]
    assert (sdpa.bytes_read, sdpa.bytes_written) == (size * 3 * 2 * 2 * 5 * 8, size * 2 * 2 * 5 * 8)
    (add,) = costs["aten.add"]
    assert (add.bytes_read, add.bytes_written) == (size * 2 * 160, size * 160)
    timed = {r.name: r.timing for r in report.ops}
    assert timed["aten.addmm"].peak_label == ("bf16 matrix" if target else "fp32 vector")
    assert timed["aten.add"].peak_label == "fp32 vector"
    assert all(r.timing.roofline_bound == "memory" for r in report.ops if r.timing.roofline_bound)  # tiny: all memory-bound


def test_bf16_target_matches_a_bf16_model_for_linear_layers():
    model = nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64))
    retargeted = roofscope.analyze(model, (8, 64), device="h100", dtype="bf16")
    native = roofscope.analyze(model.to(torch.bfloat16), (8, 64), device="h100")
    assert [r.cost for r in retargeted.ops] == [r.cost for r in native.ops]
    assert retargeted.total.predicted_s == pytest.approx(native.total.predicted_s)


def test_aggregates_are_consistent():
    report = roofscope.analyze(Block(), (4, 64, 16), device="a100", dtype="bf16")
    total = report.total
    op_times = [r.predicted_s for r in report.ops if r.timing]
    assert total.predicted_s == pytest.approx(sum(op_times))
    assert total.attainable == pytest.approx(total.flops / total.predicted_s)
    assert 0 <= total.memory_bound_share <= 1
    for module in report.modules():
        below = sum((m.self.predicted_s for m in module.walk()), 0.0)
        assert module.total.predicted_s == pytest.approx(below)
    dominant = report.dominant()
    assert [r.predicted_s for r in dominant] == sorted((r.predicted_s for r in dominant), reverse=True)
    assert dominant[0].predicted_s == max(op_times)
    assert report.dominant("qkv")[0].module == "qkv"
    data = report.to_dict()
    assert data["total"]["predicted_s"] == total.predicted_s
    assert data["device"]["key"] == "a100-80gb" and data["precision"] == "bf16"
    assert {roof.label for roof in report.roofs} >= {"bf16 matrix"}


def test_uncounted_ops_have_no_prediction():
    full = default_formulas()
    formulas = Formulas({k: v for k, v in full._formulas.items() if k != "aten.relu"}, full._families)
    report = roofscope.analyze(SmallCNN(), (1, 3, 8, 8), device="h100", formulas=formulas)
    (relu,) = [r for r in report.ops if r.name == "aten.relu"]
    assert relu.timing is None and relu.predicted_s is None
    assert report.uncounted == {"aten.relu": 1}
    assert report.total.timing.unpredicted == 1
    assert report.total.predicted_s > 0


def test_chart_png_and_svg(tmp_path):
    report = roofscope.analyze(SmallCNN(), (1, 3, 32, 32), device="h100", dtype="bf16")
    for suffix in ("png", "svg"):
        path = tmp_path / f"roofline.{suffix}"
        report.plot_roofline(path)
        assert path.stat().st_size > 5000
    report.plot_roofline(tmp_path / "modules.png", by="module")
    assert (tmp_path / "modules.png").stat().st_size > 5000
    assert (tmp_path / "roofline.svg").read_text().lstrip().startswith("<?xml")


def test_cli_roofline(tmp_path, capsys):
    from roofscope.cli import main

    chart = tmp_path / "chart.png"
    assert main(["seed-conv", "--device", "h100", "--dtype", "bf16", "--plot", str(chart), "--ops", "0"]) == 0
    assert "roofline" in capsys.readouterr().out and chart.stat().st_size > 5000
    assert main(["seed-conv", "--peak-tflops", "100", "--bandwidth-gbs", "800", "--json"]) == 0
    assert '"predicted_s"' in capsys.readouterr().out
    assert main(["--devices"]) == 0 and "h100-sxm" in capsys.readouterr().out
    assert main(["seed-conv", "--device", "h1000"]) == 2
