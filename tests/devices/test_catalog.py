"""The device catalog: dense figures with sources, lookup, user devices and overrides."""

from __future__ import annotations

import json
import re

import pytest

import roofscope
from roofscope.devices import Device, DeviceError, get_device, load_devices
from roofscope.devices.execution import Execution, conv_point
from roofscope.precision import PEAK_PRECISIONS

REQUIRED = [
    "h100-sxm", "h100-pcie", "h200", "a100-40gb", "a100-80gb", "a10", "l4", "l40s", "t4", "v100",
    "rtx4090", "rtx3090", "jetson-agx-orin", "mi300x", "tpu-v4", "tpu-v5e", "xeon-8480",
]  # fmt: skip


def test_catalog_has_the_devices_of_the_issue():
    catalog = roofscope.devices()
    assert set(REQUIRED) <= set(catalog)
    for key, device in catalog.items():
        assert device.key == key
        assert device.memory_bandwidth > 1e10  # all in bytes/s, decimal
        assert device.matrix or device.vector
        assert set(device.matrix) | set(device.vector) <= set(PEAK_PRECISIONS)


def test_every_figure_has_a_source():
    for device in roofscope.devices().values():
        figures = ["memory_bandwidth", *(f"matrix.{d}" for d in device.matrix), *(f"vector.{d}" for d in device.vector)]
        if device.memory_capacity:
            figures.append("memory_capacity")
        for figure in figures:
            assert len(device.source(figure)) > 20, (device.key, figure)


def test_h100_figures_are_dense_and_decimal():
    h100 = get_device("h100")
    assert h100.key == "h100-sxm"
    assert h100.matrix["bf16"] == 989.5e12  # not the with-sparsity 1,979
    assert h100.matrix["fp8"] == 1979e12  # not 3,958
    assert h100.memory_bandwidth == 3350e9  # 3.35 TB/s, not 3.35 * 1024**4
    assert h100.vector["fp32"] == 67e12
    assert get_device("a100").key == "a100-80gb"
    assert get_device("A100 80GB SXM4").key == "a100-80gb"


def test_h20_and_rtx5090_figures() -> None:
    h20, rtx5090 = get_device("h20"), get_device("rtx5090")
    assert h20.matrix["fp16"] == h20.matrix["bf16"] == 148e12 and h20.matrix["fp8"] == 296e12  # AIConfigurator's h20_sxm.yaml
    assert h20.memory_bandwidth == 4000e9 and h20.memory_capacity == 96 * 2**30  # 4000GB/s, 96GiB
    assert rtx5090.matrix["bf16"] == 209.5e12  # FP32 accumulate; 419 with FP16 accumulate or with sparsity
    assert rtx5090.memory_bandwidth == 1792e9 and rtx5090.memory_capacity == 32e9 and rtx5090.execution.compute_units == 170


def test_tpus_gaudi3_gb200_b300_and_mi355x() -> None:
    """Each against its source's words (docs/devices.md); per GPU, dense."""
    v5p, v6e, gaudi3 = get_device("tpu-v5p"), get_device("tpu-v6e"), get_device("gaudi3")
    assert v5p.matrix == {"bf16": 459e12, "fp8": 459e12} and v5p.memory_bandwidth == 2765e9 and v5p.memory_capacity == 95 * 2**30
    assert v6e.matrix == {"bf16": 918e12, "int8": 1836e12} and v6e.memory_bandwidth == 1638e9 and v6e.interconnect is None  # a torus
    assert gaudi3.matrix["bf16"] == gaudi3.matrix["fp8"] == 1835e12 and gaudi3.memory_bandwidth == 3670e9
    gb200, b300, mi355x = get_device("gb200"), get_device("b300"), get_device("mi355x")
    assert gb200.matrix["bf16"] == 2500e12  # 10 PFLOPS with sparsity per superchip of 2 GPUs
    assert gb200.interconnect is not None and gb200.interconnect.gpus_per_node == 72  # one NVLink domain per NVL72 rack
    assert b300.matrix["fp8"] == 4500e12 and b300.matrix["int8"] == 153.5e12  # Blackwell Ultra's INT8 is not twice its FP8
    assert mi355x.matrix["bf16"] == 2516.6e12 and mi355x.memory_capacity == 288 * 2**30
    # Gaudi 3's scale-up: 3 x 200 GbE to each of the 7 others, 75 GB/s a pair, 525 GB/s over all 7
    assert gaudi3.interconnect is not None and [gaudi3.interconnect.group_bandwidth(g) for g in (2, 8)] == [75e9, 525e9]


def test_b200_and_mi325x_figures_are_dense() -> None:
    b200, mi325x = get_device("b200"), get_device("mi325x")
    assert b200.matrix["bf16"] == 2250e12 and b200.matrix["fp8"] == 4500e12  # HGX B200: 4.5 and 9 PFLOPS with sparsity, / 2
    assert b200.memory_bandwidth == 7700e9 and b200.memory_capacity == 180e9
    assert mi325x.matrix["bf16"] == 1307.4e12 and mi325x.memory_bandwidth == 6000e9 and mi325x.memory_capacity == 256e9


_SPARSE = re.compile(r"sparse ([\d,]+(?:\.\d+)?)")


def test_no_figure_is_a_with_sparsity_number():
    """A note that names the sparse figure gives the dense value as about sparse / 2.

    Exact halves everywhere but the L40S, whose datasheet's dense bf16 (362.05) is 1.2% under 733/2.
    """
    checked = 0
    for device in roofscope.devices().values():
        for kind, peaks in (("matrix", device.matrix), ("vector", device.vector)):
            for dtype, value in peaks.items():
                note = device.source(f"{kind}.{dtype}")
                match = _SPARSE.search(note)
                if match:
                    sparse = float(match.group(1).replace(",", "")) * 1e12
                    assert value == pytest.approx(sparse / 2, rel=0.02), (device.key, dtype, note)
                    checked += 1
                elif kind == "matrix" and dtype not in ("fp64", "fp32"):
                    # A vendor that publishes sparse figures: each tensor figure must say which it is.
                    publishes_sparse = re.search(r"with sparsity|sparsity figure|\* with sparsity", note, re.I)
                    assert not publishes_sparse, (device.key, dtype, note)
    assert checked >= 40


def test_ridge_points():
    assert get_device("h100").ridge("bf16") == pytest.approx(295, abs=1)  # 989.5e12 / 3350e9
    assert get_device("a100").ridge("bf16") == pytest.approx(153, abs=1)  # 312e12 / 2039e9
    assert get_device("h100").ridge("fp32", matrix=False) == pytest.approx(20, abs=0.1)
    assert get_device("l4").ridge("bf16") == pytest.approx(403, abs=1)
    assert get_device("rtx4090").ridge("bf16") == pytest.approx(164, abs=1)
    assert get_device("mi300x").ridge("bf16") == pytest.approx(247, abs=1)
    assert get_device("tpu-v5e").ridge("bf16") == pytest.approx(240, abs=1)


def test_peak_fallbacks():
    assert get_device("a100").peak("fp8", matrix=True) == (312e12, "bf16 matrix")  # runs upcast
    assert get_device("v100").peak("bf16", matrix=True) == (15.7e12, "fp32 vector")
    assert get_device("h100").peak("fp32", matrix=True) == (67e12, "fp32 vector")  # no TF32 unless asked
    assert get_device("h100").peak("tf32", matrix=True) == (494.5e12, "tf32 matrix")
    assert get_device("h100").peak("bf16", matrix=False) == (67e12, "fp32 vector")
    assert get_device("tpu-v4").peak("fp32", matrix=False) == (275e12, "bf16 matrix")  # no VPU figure


def test_unknown_device_names_the_closest():
    with pytest.raises(DeviceError, match="did you mean 'h100'"):
        get_device("h10")
    with pytest.raises(roofscope.AnalysisError, match="unknown device"):
        roofscope.analyze(__import__("torch").nn.Linear(2, 2), (1, 2), device="nosuchgpu")


def test_user_device_from_toml_and_json(tmp_path):
    toml = tmp_path / "mine.toml"
    toml.write_text('[mygpu]\nname = "My GPU"\nmemory_bandwidth_gbs = 1000\nmatrix = { bf16 = 100 }\nvector = { fp32 = 10 }\n')
    device = get_device(toml)
    assert (device.name, device.memory_bandwidth, device.matrix["bf16"]) == ("My GPU", 1e12, 100e12)
    assert device.source("matrix.bf16").startswith("from ")
    single = tmp_path / "other.json"
    single.write_text(json.dumps({"memory_bandwidth_gbs": 500, "matrix": {"fp16": 50}, "launch_overhead_us": 4}))
    device = get_device(str(single))
    assert (device.key, device.memory_bandwidth, device.launch_overhead_s) == ("other", 5e11, 4e-6)
    assert list(load_devices(toml)) == ["mygpu"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[x]\nmatrix = { bf16 = 1 }\n")
    with pytest.raises(DeviceError, match="memory_bandwidth_gbs"):
        get_device(bad)


def test_custom_device_and_overrides():
    device = Device.custom("lab", peak_tflops=100, bandwidth_gbs=1000)
    assert device.peak("bf16", matrix=True) == (100e12, "bf16 matrix")
    assert device.ridge("bf16") == 100
    measured = get_device("h100").with_overrides(bandwidth_gbs=3000, peak_tflops={"bf16": 787})
    assert measured.memory_bandwidth == 3000e9 and measured.matrix["bf16"] == 787e12
    assert measured.matrix["fp8"] == 1979e12
    assert measured.source("memory_bandwidth") == "overridden by the user"
    assert get_device("h100").memory_bandwidth == 3350e9  # the catalog is untouched
    with pytest.raises(DeviceError):
        Device("x", memory_bandwidth=1e9, matrix={"fp4": 1e12})


def test_conv_points_of_older_device_files_read_with_what_they_kept():
    """A conv curve point: (groups, m, n, k, stride, kernel positions, precision, FLOP/s); device
    files written before kept no kernel positions (read as 0: not known) or no stride either (read
    as stride 1)."""
    assert conv_point([1, 3136, 64, 576, 2, 9, "fp32", 4e10]) == (1, 3136, 64, 576, 2, 9, "fp32", 4e10)
    assert conv_point([1, 3136, 64, 576, 2, "fp32", 4e10]) == (1, 3136, 64, 576, 2, 0, "fp32", 4e10)
    assert conv_point([1, 3136, 64, 576, "fp32", 4e10]) == (1, 3136, 64, 576, 1, 0, "fp32", 4e10)


def test_execution_figures_made_in_code_read_older_conv_points_as_a_file_does():
    old = [(1, 3136, 64, 576, 2, "fp32", 4e10), (1, 3136, 64, 576, "fp32", 4e10)]
    execution = Execution(kind="cpu", conv_curve=tuple(old))  # type: ignore[arg-type]
    assert execution.conv_curve == ((1, 3136, 64, 576, 2, 0, "fp32", 4e10), (1, 3136, 64, 576, 1, 0, "fp32", 4e10))
    assert Execution.from_dict(execution.to_dict()) == execution
