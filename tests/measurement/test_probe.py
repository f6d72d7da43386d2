"""roofscope.probe and `roofscope probe`: every code path on the CPU with small sizes, and on CUDA
where there is a GPU. Speeds are never asserted (the machine is shared); structure, units, the
device file's round trip and the errors are."""

from __future__ import annotations

import importlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import roofscope
from roofscope.devices import DeviceError, catalog_match
from roofscope.measurement.probe import GEMM_PRECISIONS, Probe, ProbeFigure
from roofscope.render.probe import probe_table

probe_module = importlib.import_module("roofscope.measurement.probe")  # the module: roofscope.probe is the function
CUDA = torch.cuda.is_available()
SMALL = {"gemm_size": 32, "copy_bytes": 2**16, "launch_ops": 10, "repeats": 2, "warmup": 0}


@pytest.fixture(scope="module")
def cpu_probe() -> Probe:
    return roofscope.probe("cpu", compare="xeon-8480", **SMALL)


def test_every_ceiling_is_measured_or_says_why_not(cpu_probe):
    names = [f.figure for f in cpu_probe.figures]
    assert names == [*GEMM_PRECISIONS.values(), "memory_bandwidth", "launch_overhead", "view_overhead", "module_overhead", "first_touch"]
    for item in cpu_probe.figures:
        if item.figure == "matrix.tf32":  # a tensor-core mode: not on a CPU
            assert item.value is None and "not probed on CPU" in item.error
            continue
        if item.value is None:  # a precision this build cannot run: the reason is kept
            assert item.error
            continue
        assert item.value > 0 and len(item.samples) == 2 and item.error is None
        low, high = item.spread
        assert low <= item.value <= high
    fp32 = cpu_probe.figure("vector.fp32")
    assert "32 x 32 x 32 torch.mm fp32" in fp32.how and "random normal" in fp32.how
    assert "bytes read + written" in cpu_probe.figure("memory_bandwidth").how
    for overhead in ("launch_overhead", "view_overhead", "module_overhead"):
        assert cpu_probe.figure(overhead).unit == "s" and cpu_probe.figure(overhead).value > 0
    assert cpu_probe.figure("memory_bandwidth").unit == "B/s"
    assert cpu_probe.figure("first_touch").unit == "B/s" and "fresh 64 MiB anonymous mapping" in cpu_probe.figure("first_touch").how
    assert cpu_probe.device == "cpu" and cpu_probe.repeats == 2 and cpu_probe.torch_version.startswith(torch.__version__.split("+")[0])


def test_the_device_file_round_trips(cpu_probe, tmp_path):
    device = cpu_probe.to_device()
    for suffix in (".toml", ".json"):
        path = cpu_probe.save(tmp_path / f"mine{suffix}")
        loaded = roofscope.get_device(path)
        assert loaded.matrix == device.matrix and loaded.vector == device.vector
        assert loaded.memory_bandwidth == device.memory_bandwidth and loaded.launch_overhead_s == device.launch_overhead_s
        assert loaded.name.endswith("(roofscope probe)") and "roofscope probe" in loaded.source("memory_bandwidth")
        assert "median of 2" in loaded.source("vector.fp32")
        assert loaded.execution.first_touch_bandwidth == pytest.approx(cpu_probe.value("first_touch"), rel=1e-3)
        assert "anonymous mapping" in loaded.source("first_touch")
    # four significant digits of each measured value, in the catalog's units
    fp32 = cpu_probe.value("vector.fp32")
    assert device.vector["fp32"] == pytest.approx(fp32, rel=1e-3)
    assert device.memory_bandwidth == pytest.approx(cpu_probe.value("memory_bandwidth"), rel=1e-3)
    assert "tf32" not in device.matrix  # not measured, so not in the file
    with pytest.raises(ValueError, match=".toml or .json"):
        cpu_probe.save(tmp_path / "mine.txt")


def test_the_conv_curve_stops_at_the_copy_size_and_travels_in_the_file(cpu_probe, tmp_path):
    curve = cpu_probe.conv_curve  # (groups, m, n, k, stride, kernel positions, precision, FLOP/s)
    assert curve and all(precision == "fp32" and rate > 0 for *_, precision, rate in curve)
    # a 64 KiB copy: no convolution whose output alone (m x output channels, fp32) is larger ran
    assert all(m * groups * n * 4 <= 2**16 for groups, m, n, *_ in curve)
    assert any(groups > 1 and n == 1 for groups, _, n, *_ in curve)  # depthwise ones: groups = channels
    assert {stride for _, _, _, _, stride, *_ in curve} == {1, 2}
    assert {positions for *_, positions, _, _ in curve} == {1, 9, 49}
    # 1 x 1 from as many, a quarter and four times the output channels
    assert {k / n for groups, _, n, k, _, positions, *_ in curve if positions == 1} == {1, 0.25, 4}
    assert cpu_probe.family_curves["pooling"] and all(rate > 0 for _, rate in cpu_probe.family_curves["pooling"])
    for op in ("aten.silu", "aten.gelu", "aten.sigmoid", "aten.tanh", "aten.exp"):  # measured on their own
        assert cpu_probe.family_curves[op] and all(rate > 0 for _, rate in cpu_probe.family_curves[op])
    loaded = roofscope.get_device(cpu_probe.save(tmp_path / "mine.toml")).execution.conv_curve
    assert [point[:7] for point in loaded] == [point[:7] for point in curve]
    assert [point[7] for point in loaded] == pytest.approx([point[7] for point in curve], rel=1e-3)


def test_a_device_file_whose_conv_points_have_no_stride_or_kernel_size_reads_them_as_before(cpu_probe, tmp_path):
    """Device files written before the conv curve kept the kernel positions: (groups, m, n, k,
    stride, precision, TFLOP/s), read with kernel positions 0 (not known); and before it kept the
    stride: (groups, m, n, k, precision, TFLOP/s), read as stride 1."""
    entry = cpu_probe.entry()
    points = entry["curves"]["conv"]
    for older, kept in (
        ([[g, m, n, k, s, p, rate] for g, m, n, k, s, _, p, rate in points], [pt for pt in cpu_probe.conv_curve]),
        ([[g, m, n, k, p, rate] for g, m, n, k, s, _, p, rate in points if s == 1], [pt for pt in cpu_probe.conv_curve if pt[4] == 1]),
    ):
        entry["curves"]["conv"] = older
        path = tmp_path / "older.json"
        path.write_text(json.dumps(entry), encoding="utf-8")
        loaded = roofscope.get_device(path).execution.conv_curve
        assert [point[:5] for point in loaded] == [point[:5] for point in kept]
        assert {point[5] for point in loaded} == {0}
        assert [point[7] for point in loaded] == pytest.approx([point[7] for point in kept], rel=1e-3)


def test_the_rnn_curve_times_lstm_layers_of_several_lengths_and_travels_in_the_file(cpu_probe, tmp_path):
    curve = cpu_probe.rnn_curve  # (batch, input, hidden, steps, precision, seconds)
    assert curve and all(precision == "fp32" and seconds > 0 for *_, precision, seconds in curve)
    # a 64 KiB copy: no sequence whose input and output (fp32) are larger ran
    assert all(batch * steps * (inputs + hidden) * 4 <= 2**16 for batch, inputs, hidden, steps, *_ in curve)
    assert len({steps for *_, steps, _, _ in curve}) > 1  # several lengths, to interpolate between
    loaded = roofscope.get_device(cpu_probe.save(tmp_path / "mine.toml")).execution.rnn_curve
    assert [point[:5] for point in loaded] == [point[:5] for point in curve]
    assert [point[5] for point in loaded] == pytest.approx([point[5] for point in curve], rel=1e-3)


def test_a_probed_device_file_is_a_roofline(cpu_probe, tmp_path):
    path = cpu_probe.save(tmp_path / "mine.toml")
    report = roofscope.analyze(torch.nn.Linear(8, 8), (4, 8), device=str(path))
    timing = report.ops[-1].timing
    assert timing.peak == pytest.approx(cpu_probe.value("vector.fp32"), rel=1e-3)  # fp32 GEMMs: the probed fp32 rate
    assert report.total.predicted_s >= cpu_probe.value("launch_overhead") * 0.999  # the probed launch floor


def test_rows_and_table_beside_the_catalog(cpu_probe):
    rows = {figure: (value, listed) for figure, value, listed, _ in cpu_probe.rows()}
    xeon = roofscope.get_device("xeon-8480")
    assert rows["vector.fp32"][1] == xeon.vector["fp32"] and rows["matrix.bf16"][1] == xeon.matrix["bf16"]
    assert rows["memory_bandwidth"][1] == xeon.memory_bandwidth and rows["matrix.fp16"][1] is None
    from rich.console import Console

    console = Console(width=240, record=True, file=io.StringIO())
    console.print(probe_table(cpu_probe))
    text = console.export_text()
    assert "catalog: xeon-8480" in text and "probed / catalog" in text and "not probed on CPU" in text
    data = json.loads(json.dumps(cpu_probe.to_dict()))
    assert data["catalog"] == "xeon-8480" and len(data["figures"]) == 10
    assert roofscope.probe("cpu", dtypes=["fp32"], compare=None, **SMALL).catalog is None


def test_print_and_the_notebook_show_the_probe_table(cpu_probe):
    text = str(cpu_probe)
    assert "catalog: xeon-8480" in text and "memory_bandwidth" in text and "Probe(" not in text
    assert all(line == line.rstrip() for line in text.splitlines())
    html = cpu_probe._repr_html_()
    assert html.startswith("<pre") and "memory_bandwidth" in html and "xeon-8480" in html


def test_cpu_gemm_size_grows_until_a_gemm_takes_long_enough(monkeypatch):
    monkeypatch.setattr(probe_module, "CPU_START_N", 8)
    monkeypatch.setattr(probe_module, "CPU_MAX_N", 64)
    monkeypatch.setattr(probe_module, "CPU_TARGET_S", 1e9)  # never long enough: stops at the largest size
    grown = roofscope.probe("cpu", dtypes=["fp32"], copy_bytes=2**12, launch_ops=2, repeats=1, warmup=0)
    assert grown.figure("vector.fp32").how.startswith("64 x 64 x 64")
    monkeypatch.setattr(probe_module, "CPU_TARGET_S", 0.0)  # long enough at once: stays at the first size
    first = roofscope.probe("cpu", dtypes=["fp32"], copy_bytes=2**12, launch_ops=2, repeats=1, warmup=0)
    assert first.figure("vector.fp32").how.startswith("8 x 8 x 8")


def test_a_precision_that_fails_is_reported_not_fatal(monkeypatch):
    real = probe_module._gemm

    def failing(precision, *args):
        if precision == "bf16":
            raise RuntimeError("\"addmm_impl_cpu_\" not implemented for 'BFloat16'\nmore detail")
        return real(precision, *args)

    monkeypatch.setattr(probe_module, "_gemm", failing)
    result = roofscope.probe("cpu", dtypes=["fp32", "bf16"], **SMALL)
    bf16 = result.figure("matrix.bf16")
    assert bf16.value is None and bf16.error == "bf16 GEMM not supported here: \"addmm_impl_cpu_\" not implemented for 'BFloat16'"
    assert "bf16" not in result.to_device().matrix and result.value("vector.fp32") > 0


def test_a_probe_needs_a_bandwidth_to_be_a_device():
    empty = Probe("cpu", "x", (ProbeFigure("vector.fp32", 1e9, (1e9,), "given"),), 1, 0, "host", "date", "torch")
    with pytest.raises(DeviceError, match="memory bandwidth"):
        empty.entry()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"dtypes": ["fp32", "fp4"]}, "unknown GEMM precision"),
        ({"repeats": 0}, "repeats"),
        ({"warmup": -1}, "warmup"),
        ({"gemm_size": 0}, "gemm_size"),
        ({"launch_ops": 0}, "launch_ops"),
        ({"device": "meta"}, "'cpu' or 'cuda'"),
        ({"compare": "h1000"}, "unknown device"),
    ],
)
def test_clear_errors(options, message):
    options = {"device": "cpu", **options}
    with pytest.raises((ValueError, DeviceError), match=message):
        roofscope.probe(options.pop("device"), **options)


@pytest.mark.skipif(CUDA, reason="checks the error on a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        roofscope.probe("cuda", **SMALL)


@pytest.mark.parametrize(
    "name, key",
    [
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("NVIDIA H100 PCIe", "h100-pcie"),
        ("NVIDIA H100 NVL", None),
        ("NVIDIA H200", "h200"),
        ("NVIDIA A100-SXM4-80GB", "a100-80gb"),
        ("NVIDIA A100-SXM4-40GB", "a100-40gb"),
        ("NVIDIA A100 80GB PCIe", "a100-80gb"),
        ("NVIDIA A10", "a10"),
        ("NVIDIA A10G", None),
        ("NVIDIA L4", "l4"),
        ("NVIDIA L40S", "l40s"),
        ("Tesla T4", "t4"),
        ("Tesla V100-SXM2-32GB", "v100"),
        ("NVIDIA GeForce RTX 4090", "rtx4090"),
        ("NVIDIA GeForce RTX 3090", "rtx3090"),
        ("AMD Instinct MI300X", "mi300x"),
        ("NVIDIA GeForce GTX 1080", None),
    ],
)
def test_catalog_match(name, key):
    assert catalog_match(name) == key
    if key:
        roofscope.get_device(key)  # a real catalog key


def test_cli_probe_then_measure_against_it(tmp_path):
    """As a user runs it: `roofscope probe cpu -o mine.toml`, then `--measure --device mine.toml`."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""), "COLUMNS": "200"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "roofscope", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )

    probed = run(
        "probe",
        "cpu",
        "--gemm-size",
        "32",
        "--copy-mib",
        "0.0625",
        "--launch-ops",
        "10",
        "--repeats",
        "2",
        "--warmup",
        "0",
        "--dtypes",
        "fp32,bf16",
        "--compare",
        "xeon-8480",
        "-o",
        "mine.toml",
    )
    assert probed.returncode == 0, probed.stderr
    assert "vector.fp32" in probed.stdout and "catalog: xeon-8480" in probed.stdout and "wrote mine.toml" in probed.stderr
    measured = run("seed-conv", "--measure", "cpu", "--device", "mine.toml", "--repeats", "2", "--warmup", "0", "--format", "json")
    assert measured.returncode == 0, measured.stderr
    data = json.loads(measured.stdout)
    assert data["device"]["name"].endswith("(roofscope probe)") and "file mine.toml" in data["measurement"]["ceilings"]
    assert data["measurement"]["utilization_peak"] == "fp32 vector"
    assert all(op["efficiency"] is None or op["efficiency"] > 0 for op in data["ops"])
    bad = run("probe", "cpu", "-o", "mine.txt")
    assert bad.returncode == 2 and ".toml or .json" in bad.stderr
    listed = run("probe", "--help")
    assert listed.returncode == 0 and "roofscope probe cuda -o" in listed.stdout


def test_cli_probe_json_in_process(capsys):
    from roofscope.cli import main

    assert (
        main(
            ["probe", "cpu", "--json", "--gemm-size", "16", "--copy-mib", "0.01", "--launch-ops", "5", "--repeats", "1", "--dtypes", "fp32"]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert [f["figure"] for f in data["figures"]] == [
        "vector.fp32",
        "memory_bandwidth",
        "launch_overhead",
        "view_overhead",
        "module_overhead",
        "first_touch",
    ]
    assert main(["probe", "cpu", "--dtypes", "fp4"]) == 2
    assert "unknown GEMM precision" in capsys.readouterr().err


@pytest.mark.skipif(not CUDA, reason="no CUDA device on this machine")
def test_probe_on_cuda():
    result = roofscope.probe("cuda", gemm_size=512, copy_bytes=2**22, launch_ops=20, repeats=2, warmup=1)
    assert result.device.startswith("cuda:")
    for figure in ("vector.fp32", "matrix.fp16", "memory_bandwidth", "launch_overhead"):
        assert result.value(figure) > 0, figure
    tf32 = result.figure("matrix.tf32")
    assert tf32.value is not None or tf32.error
    assert "TF32 off" in result.figure("vector.fp32").how
    fp8 = result.figure("matrix.fp8")
    assert fp8.value is not None or "not supported" in fp8.error


@pytest.mark.skipif(not CUDA, reason="no CUDA device on this machine")
def test_probe_restores_the_tf32_setting():
    before = torch.backends.cuda.matmul.fp32_precision
    roofscope.probe("cuda", dtypes=["fp32", "tf32"], gemm_size=256, copy_bytes=2**20, launch_ops=5, repeats=1, warmup=0)
    assert torch.backends.cuda.matmul.fp32_precision == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--copy-mib", "-1"], "argument --copy-mib: expected a positive number, got -1"),
        (["--copy-mib", "0"], "argument --copy-mib: expected a positive number, got 0"),
        (["--dtypes", ","], "--dtypes names GEMM precisions"),
    ],
)
def test_cli_probe_rejects_meaningless_sizes(capsys, argv, message):
    from roofscope.cli import main

    assert main(["probe", "cpu", "--repeats", "1", "--warmup", "0", *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_curve_point_leaves_out_the_first_touch_its_outputs_take_in_the_probes_loop(monkeypatch):
    """An output over glibc's largest mmap threshold is mapped afresh by every call of the probe's
    loop (the prediction adds the first touch the model's own allocations take); one below it is
    not, and an op writing into a tensor it was given allocates nothing."""
    from roofscope.prediction.pages import MMAP_THRESHOLD_MAX, Allocator, loop_fresh_bytes

    monkeypatch.setattr(probe_module, "_per_op", lambda timer, fn, repeats, warmup: [1.0, 1.0, 1.0])
    timer = probe_module._Timer(torch.device("cpu"))
    run = probe_module._CurveRun(torch.device("cpu"), timer, 0.01, 3, 0, torch.Generator(), 2**16, Allocator(), 1e9)
    large = MMAP_THRESHOLD_MAX + 2**20
    assert run.kernel_s(lambda: torch.empty(large, dtype=torch.uint8)) == pytest.approx(
        1.0 - 0.01 - loop_fresh_bytes([large], Allocator()) / 1e9
    )
    assert run.kernel_s(lambda: torch.empty(2**20, dtype=torch.uint8)) == pytest.approx(1.0 - 0.01)
    out = torch.empty(large, dtype=torch.uint8)
    assert run.kernel_s(lambda: out, allocates=False) == pytest.approx(1.0 - 0.01)
