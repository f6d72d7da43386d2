"""roofscope.measure: every code path on the CPU with small models, and on CUDA where there is a GPU.

Times on a shared machine are noisy: these tests check structure, arithmetic identities and the
model left as found, never a speed. bench/measure_gpu.py measures speeds and agreement.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import roofscope
from roofscope.measurement.run import MeasureError
from roofscope.render import export
from roofscope.render.html import to_html
from roofscope.render.table import render_terminal

CUDA = torch.cuda.is_available()
FAST = {"repeats": 3, "warmup": 1}


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(8 * 8 * 8, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(self.bn(self.conv(x))))


class Attention(nn.Module):
    """A logical op (SDPA), RMS norm, and nn.MultiheadAttention (a fused fast path in eval)."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(32, 96)
        self.norm = nn.RMSNorm(32)
        self.mha = nn.MultiheadAttention(32, 4, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.norm(x)).view(x.shape[0], x.shape[1], 3, 4, 8).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(x.shape)
        return self.mha(y, y, y, need_weights=False)[0]


def snapshot(model: nn.Module):
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        {name: (m.training, dict(m._forward_hooks), dict(m._forward_pre_hooks), sorted(vars(m))) for name, m in model.named_modules()},
        {name: (p.requires_grad, p.device, p.grad) for name, p in model.named_parameters()},
    )


def same(a, b) -> bool:
    state_a, modules_a, params_a = a
    state_b, modules_b, params_b = b
    return modules_a == modules_b and params_a == params_b and all(torch.equal(state_a[k], state_b[k]) for k in state_a)


@pytest.fixture(scope="module")
def measured() -> tuple[nn.Module, roofscope.Report]:
    model = ConvNet()  # train mode: batch norm updates its running statistics, dropout draws random numbers
    return model, roofscope.measure(model, (4, 3, 8, 8), roofline="h100", **FAST)


def test_every_op_module_and_the_model_are_measured(measured):
    _, report = measured
    run = report.measurement
    assert run is not None and run.matched and run.note == ""
    assert run.repeats == 3 and run.warmup == 1 and run.device.startswith("cpu (")
    assert "perf_counter" in run.clock
    assert run.forward_min_s <= run.forward_s <= run.forward_max_s and run.timed_s > 0
    for record in report.ops:
        taken = record.measured
        assert taken is not None and 0 < taken.min_s <= taken.measured_s <= taken.max_s
    for module in report.modules():
        if module.calls:
            below = [r for r in report.ops if r.module == module.name or r.module.startswith(module.name + ".") or not module.name]
            assert math.isclose(module.total.measured_s, sum(r.measured.measured_s for r in below))
            mine = [r for r in report.ops if r.module == module.name]
            assert (module.self.measured_s is None) == (not mine)
    assert math.isclose(run.ops_s, report.total.measured_s)
    assert math.isclose(run.coverage, run.ops_s / run.forward_s) and math.isclose(run.overhead, run.timed_s / run.forward_s)


def test_achieved_utilization_and_efficiency_follow_their_definitions(measured):
    _, report = measured
    for record in report.ops:
        taken, timing = record.measured, record.timing
        assert taken.roofline_s == timing.roofline_s
        assert math.isclose(taken.achieved_flops, record.cost.flops / taken.measured_s)
        assert math.isclose(taken.achieved_bandwidth, record.cost.bytes / taken.measured_s)
        assert math.isclose(taken.utilization, taken.achieved_flops / timing.peak)
        assert math.isclose(taken.bandwidth_utilization, taken.achieved_bandwidth / timing.bandwidth)
        if timing.roofline_s:
            assert math.isclose(taken.efficiency, timing.roofline_s / taken.measured_s)
            assert math.isclose(taken.shortfall_s, taken.measured_s - timing.roofline_s)
        else:
            assert taken.efficiency is None  # a view: no work predicted
    total = report.total
    # the whole model: FLOPs over the summed op times, against the peak of the precision that did
    # most of them: the convolution's, TF32 (cuDNN runs fp32 convolutions in TF32 by default)
    assert total.measured.peak_label == "tf32 matrix"
    assert math.isclose(total.achieved_flops, total.flops / total.measured_s)
    assert math.isclose(total.utilization, total.achieved_flops / total.measured.peak)
    timed = [r for r in report.ops if r.timing is not None]  # views included: their 0 s roofline is theirs
    assert math.isclose(total.efficiency, sum(r.timing.roofline_s for r in timed) / sum(r.measured.measured_s for r in timed))
    run = report.measurement
    assert math.isclose(run.achieved_flops, total.flops / run.forward_s)
    assert math.isclose(run.utilization, run.achieved_flops / run.peak) and run.peak_label == total.measured.peak_label
    assert "h100" in run.ceilings


def test_a_bf16_run_is_compared_with_the_bf16_peak_and_named_bf16():
    """A bf16 model: the report names the precision that ran, its matmuls take the bf16 tensor-core
    rate, and the whole model's utilization is against that rate (the precision that did most of
    the FLOPs), not the fp32 rate its element-wise ops fall back to."""
    model = nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64)).eval().to(torch.bfloat16)
    report = roofscope.measure(model, [torch.randn(8, 64, dtype=torch.bfloat16)], roofline="h100", **FAST)
    assert report.precision is not None and report.precision.name == "bf16"
    assert "bf16" in _text(report).splitlines()[0]
    labels = {r.name: r.timing.peak_label for r in report.ops if r.timing.flops}
    assert labels["aten.addmm"] == "bf16 matrix" and labels["aten.gelu"] == "fp32 vector"
    assert report.total.measured.peak_label == report.measurement.peak_label == "bf16 matrix"
    assert report.measurement.peak == roofscope.get_device("h100").matrix["bf16"]
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())  # left as found


def test_a_forward_faster_than_its_peak_says_the_ceilings_are_too_low():
    report = roofscope.measure(ConvNet().eval(), (2, 3, 8, 8), roofline=None, peak_tflops=1e-9, bandwidth_gbs=20, **FAST)
    run = report.measurement
    assert run.utilization > 1  # 1 kFLOP/s: any CPU beats it
    assert f"ran faster than the {run.peak_label} peak" in run.note and "--peak-tflops" in run.note


def test_the_model_is_left_as_found():
    model = ConvNet()  # train mode
    before = snapshot(model)
    rng = torch.get_rng_state()
    roofscope.measure(model, (2, 3, 8, 8), roofline=None, repeats=2, warmup=1)
    assert same(before, snapshot(model)), "running statistics, mode, hooks or attributes changed"
    assert model.training and model.bn.num_batches_tracked.item() == 0
    assert torch.equal(rng, torch.get_rng_state()), "dropout's random numbers came from torch's global RNG"
    model.eval()
    roofscope.measure(model, (2, 3, 8, 8), roofline=None, repeats=1, warmup=0)
    assert not model.training and not any(m.training for m in model.modules())


class _ClampsItsWeight(nn.Module):
    """A forward that writes its own parameter in place: in the plain (untimed) forwards too."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        with torch.no_grad():
            self.fc.weight.mul_(10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self.fc.weight.clamp_(-0.1, 0.1)
        return self.fc(x)


@pytest.mark.parametrize("warmup", [0, 2])
def test_weights_written_by_the_forward_are_put_back(warmup):
    from state_guard import untouched

    model = _ClampsItsWeight()
    with untouched(model):
        roofscope.measure(model, (2, 8), roofline=None, repeats=2, warmup=warmup)


def test_counts_are_the_analysis_of_the_same_inputs(measured):
    model, report = measured
    x = torch.randn(4, 3, 8, 8)
    again = roofscope.measure(model, x, roofline="h100", repeats=1, warmup=0)
    analysis = roofscope.analyze(model, x, device="h100")
    assert again.total.cost == analysis.total.cost == report.total.cost
    assert again.total.predicted_s == analysis.total.predicted_s
    assert [r.name for r in again.ops] == [r.name for r in analysis.ops]


def test_without_ceilings_there_is_achieved_but_no_utilization():
    report = roofscope.measure(ConvNet().eval(), (2, 3, 8, 8), **FAST)  # "auto" on a CPU: no catalog entry
    assert report.device is None and report.measurement.ceilings is None
    total = report.total
    assert total.measured_s > 0 and total.achieved_flops > 0
    assert total.utilization is None and total.efficiency is None and total.predicted_s is None
    assert all(r.measured.utilization is None and r.measured.efficiency is None for r in report.ops)
    assert report.measurement.utilization is None and report.shortfalls() == []
    text = _text(report)
    assert "no ceilings" in text and "measured" in text


def test_ceilings_from_a_device_file_or_overrides(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "Mine"\nmemory_bandwidth_gbs = 20\nlaunch_overhead_us = 2\nvector = { fp32 = 0.1 }\n')
    report = roofscope.measure(ConvNet().eval(), (2, 3, 8, 8), roofline=str(path), **FAST)
    assert report.device.name == "Mine" and "file" in report.measurement.ceilings
    assert all(r.timing.predicted_s >= 2e-6 for r in report.ops if r.timing.bound)  # the launch floor
    custom = roofscope.measure(ConvNet().eval(), (2, 3, 8, 8), roofline=None, peak_tflops=0.1, bandwidth_gbs=20, **FAST)
    assert custom.device.name == "custom" and custom.total.efficiency is not None
    overridden = roofscope.measure(ConvNet().eval(), (2, 3, 8, 8), roofline="a100", bandwidth_gbs=100, **FAST)
    assert overridden.device.memory_bandwidth == 100e9 and "overrides" in overridden.measurement.ceilings


def test_logical_ops_decompositions_and_inference_mode_match_the_analysis():
    model = Attention().eval()
    report = roofscope.measure(model, (2, 6, 32), roofline="h100", **FAST)
    assert report.measurement.matched
    names = [r.name for r in report.ops]
    assert "aten.scaled_dot_product_attention" in names and "aten.rms_norm" in names
    assert "roofscope.multi_head_attention_forward" in names
    with torch.inference_mode():
        inside = roofscope.measure(model, (2, 6, 32), roofline="h100", **FAST)
    assert inside.measurement.matched and [r.name for r in inside.ops] == names
    assert all(r.measured is not None for r in inside.ops)


class Changes(nn.Module):
    """Data-dependent control flow: relu on the calls in ``relu_calls`` (0 is the analysis), sigmoid
    on the others. measure runs: the analysis (0), ``warmup`` plain forwards, one timed warm-up, then
    ``repeats`` rounds of a plain and a timed forward."""

    def __init__(self, relu_calls: set[int]) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.relu_calls = relu_calls
        self.calls = itertools.count()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return y.relu() if next(self.calls) in self.relu_calls else y.sigmoid()


def test_ops_that_differ_are_reported_not_misattributed():
    report = roofscope.measure(Changes({0}), (2, 4), roofline="h100", repeats=2, warmup=0)
    run = report.measurement
    assert not run.matched and run.ops_s is None and run.coverage is None
    assert "2 of 2 timed forwards ran other ops" in run.note and "aten.relu" in run.note and "aten.sigmoid" in run.note
    assert all(r.measured is None for r in report.ops) and report.total.measured is None
    assert run.forward_s > 0  # the whole forward is still timed, and its utilization taken
    assert run.peak_label == "fp32 vector" and math.isclose(run.utilization, run.flops / run.forward_s / run.peak)
    for text in (_text(report), export.to_markdown(report), to_html(report)):
        assert "ran other ops" in text
    assert next(csv.DictReader(io.StringIO(export.to_csv(report)))).keys() == set(export.CSV_COLUMNS)  # no measured columns
    json.dumps(report.to_dict())


def test_forwards_that_differ_are_left_out():
    # calls: 0 analysis, 1 warm-up, 2 timed warm-up, then plain 3, timed 4, plain 5, timed 6:
    # the timed forward 4 runs the analysis' ops, 6 does not
    report = roofscope.measure(Changes({0, 2, 4}), (2, 4), roofline=None, repeats=2, warmup=1)
    run = report.measurement
    assert run.matched and "1 of 2 timed forwards" in run.note and "no per-op time" not in run.note
    assert all(r.measured.min_s == r.measured.measured_s == r.measured.max_s for r in report.ops)  # one sample each


@pytest.mark.parametrize(
    "make, options, message",
    [
        (lambda: ConvNet().to("meta"), {}, "meta device"),
        (lambda: _two_devices(), {}, "several devices"),
        (ConvNet, {"repeats": 0}, "repeats"),
        (ConvNet, {"warmup": -1}, "warmup"),
        (ConvNet, {"device": "mps"}, "'cpu' or 'cuda'"),
        (ConvNet, {"device": "not-a-device"}, "not a torch device"),
        (ConvNet, {"roofline": "h1000"}, "unknown device"),
        (ConvNet, {"batch": 2}, "batch= and seq_len="),
        (lambda: "seed-conv-nope", {}, "unknown model"),
    ],
)
def test_clear_errors(make, options, message):
    model = make()
    with pytest.raises((MeasureError, ValueError), match=message):
        roofscope.measure(model, None if isinstance(model, str) else (2, 3, 8, 8), **{**FAST, **options})


def _two_devices() -> nn.Module:
    model = ConvNet()
    model.register_buffer("elsewhere", torch.empty(1, device="meta"))
    return model


def test_inputs_must_be_real_and_where_the_model_is():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with pytest.raises(MeasureError, match="meta tensor"):
        roofscope.measure(ConvNet(), torch.empty(2, 3, 8, 8, device="meta"), **FAST)
    with FakeTensorMode() as mode:
        fake = mode.from_tensor(torch.randn(2, 3, 8, 8))
    with pytest.raises(MeasureError, match="fake tensor"):
        roofscope.measure(ConvNet(), fake, **FAST)
    with pytest.raises(MeasureError, match="needs a torch.nn.Module"):
        roofscope.measure(42, (1,), **FAST)


@pytest.mark.skipif(CUDA, reason="checks the error on a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(MeasureError, match="CUDA is not available"):
        roofscope.measure(ConvNet(), (2, 3, 8, 8), device="cuda", **FAST)


def test_named_models_are_built_and_measured():
    report = roofscope.measure("seed-linear", roofline="h100", repeats=2, warmup=0)
    assert report.model_name == "seed-linear" and report.measurement.matched
    assert report.total.macs == 515
    with pytest.raises(MeasureError, match="meta device"):
        roofscope.measure("gpt2", seq_len=8, repeats=1, warmup=0)


def test_a_parameterless_model_runs_where_asked():
    report = roofscope.measure(nn.Softmax(-1), (3, 5), device="cpu", **FAST)
    assert report.measurement.matched and report.ops[0].name == "aten._softmax"


def test_whole_model_time_agrees_with_the_sum_of_its_ops():
    # big matmuls: kernel time dominates the Python between ops, so the ops cover the forward. One
    # thread: on a shared machine a preempted worker thread stalls a parallel op for milliseconds.
    model = nn.Sequential(*[nn.Linear(384, 384) for _ in range(4)]).eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        report = roofscope.measure(model, (384, 384), roofline=None, repeats=7, warmup=2)
    finally:
        torch.set_num_threads(threads)
    run = report.measurement
    assert 0.5 < run.coverage < 1.5, run  # loose: the machine is shared; bench/measure_gpu.py holds it to 10%
    assert 0.5 < run.overhead < 2.0, run


def test_shortfalls_and_by_op(measured):
    _, report = measured
    found = report.shortfalls(limit=None)
    assert found and all(r.timing.bound is not None for r in found)  # views have no roof
    lost = [r.measured.shortfall_s for r in found]
    assert lost == sorted(lost, reverse=True)
    assert report.shortfalls(limit=2) == found[:2]
    assert all(r.module.startswith("head") for r in report.shortfalls("head"))
    summaries = report.by_op()
    for name, summary in summaries.items():
        assert math.isclose(summary.measured_s, sum(r.measured.measured_s for r in report.ops if r.name == name))
    assert roofscope.analyze(ConvNet(), (1, 3, 8, 8)).by_op()["aten.convolution"].measured_s is None


def _text(report: roofscope.Report) -> str:
    from rich.console import Console

    console = Console(width=250, record=True, file=io.StringIO())
    console.print(render_terminal(report))
    return console.export_text()


def test_renderers_show_predicted_and_measured_side_by_side(measured, tmp_path):
    _, report = measured
    text = _text(report)
    for expected in ("measured", "eff", "util", "furthest below their roof", "forward", "timing each op", "Measured: median"):
        assert expected in text
    markdown = export.to_markdown(report)
    assert "| measured | FLOP/s | util | eff |" in markdown and "## Furthest below their roof" in markdown
    rows = list(csv.DictReader(io.StringIO(export.to_csv(report))))
    assert list(rows[0]) == [*export.CSV_COLUMNS, *export.MEASURED_COLUMNS]
    assert math.isclose(float(rows[0]["measured_s"]), report.total.measured_s)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["measurement"]["matched"] and data["measurement"]["forward_s"] > 0
    assert data["total"]["measured_s"] == report.total.measured_s and "efficiency" in data["total"]
    assert all("measured_s" in op and "utilization" in op for op in data["ops"])
    assert all("measured_s" in op for op in data["by_op"])
    page = to_html(report)
    assert "Furthest below their roof" in page and "measured forward" in page and "roofline efficiency" in page
    assert '<span class="n" data-type="num">measured</span>' in page and "<svg" in page
    assert roofscope.analyze(ConvNet(), (1, 3, 8, 8)).to_dict()["measurement"] is None


def test_chart_puts_measured_points_under_their_roofs(measured, tmp_path):
    pytest.importorskip("matplotlib")
    _, report = measured
    for by in ("op", "module"):
        figure = report.plot_roofline(tmp_path / f"{by}.png", by=by)
        axes = figure.axes[0]
        labels = [text.get_text() for text in axes.get_legend().get_texts()]
        assert any(label.startswith("predicted") for label in labels)
        assert any(label.startswith("measured") for label in labels)
        assert "predicted and measured" in axes.get_title(loc="left")
        assert (tmp_path / f"{by}.png").stat().st_size > 10_000
    unmeasured = roofscope.analyze(ConvNet(), (1, 3, 8, 8), device="h100").plot_roofline(None)
    assert not any(t.get_text().startswith("measured") for t in unmeasured.axes[0].get_legend().get_texts())


def test_cli_measure_in_process(tmp_path, capsys):
    from roofscope.cli import main

    assert (
        main(
            [
                "seed-conv",
                "--measure",
                "cpu",
                "--device",
                "h100",
                "--repeats",
                "2",
                "--warmup",
                "0",
                "--format",
                "json",
                "-o",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["measurement"]["repeats"] == 2 and all("measured_s" in op for op in data["ops"])
    assert main(["seed-linear", "--measure", "--dtype", "fp64", "--repeats", "1", "--warmup", "0", "--ops", "3"]) == 0
    out = capsys.readouterr().out
    assert "measured" in out and "float64[1, 10]" in out
    for argv, message in (
        (["seed-conv", "--measure", "tpu"], "runs on cpu or cuda"),
        (["seed-conv", "--measure", "--dtype", "int8-weights"], "casts the model"),
        (["gpt2", "--seq", "8", "--measure"], "meta device"),
        (["seed-conv", "--measure", "--repeats", "0"], "--repeats"),
        *([] if CUDA else [(["seed-conv", "--measure", "cuda"], "CUDA is not available")]),
    ):
        assert main(argv) == 2
        assert message in capsys.readouterr().err.replace("\n", " ")


@pytest.mark.skipif(not CUDA, reason="no CUDA device on this machine")
def test_measure_on_cuda_with_events():
    model = ConvNet().cuda().eval()
    before = snapshot(model)
    report = roofscope.measure(model, (8, 3, 8, 8), device="cuda", roofline="h100", repeats=5, warmup=2)
    run = report.measurement
    assert run.matched and "CUDA events" in run.clock and run.device.startswith("cuda:")
    assert all(r.measured is not None and r.measured.measured_s >= 0 for r in report.ops)
    assert run.coverage > 0 and run.overhead > 0
    assert same(before, snapshot(model)) and next(model.parameters()).device.type == "cuda"
    bf16 = roofscope.measure(ConvNet().cuda().eval().bfloat16(), (8, 3, 8, 8), **FAST)
    assert bf16.measurement.matched


@pytest.mark.skipif(not CUDA, reason="no CUDA device on this machine")
def test_cuda_device_mismatch_is_a_clear_error():
    with pytest.raises(MeasureError, match="does not move it"):
        roofscope.measure(ConvNet(), (2, 3, 8, 8), device="cuda", **FAST)
    with pytest.raises(MeasureError, match="is on cpu but the model runs on cuda"):
        roofscope.measure(ConvNet().cuda(), torch.randn(2, 3, 8, 8), **FAST)
