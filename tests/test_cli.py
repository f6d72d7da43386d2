"""The command line as a user runs it: ``python -m roofscope ...`` in a subprocess.

The subprocesses all start at once (a few at a time) in one module-scoped fixture, since each pays
for importing torch; the tests then read their results.
"""

from __future__ import annotations

import concurrent.futures
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

import roofscope
from roofscope.examples import SimpleConv

SRC = str(Path(__file__).resolve().parents[1] / "src")

TINY_MODEL = '''
import torch
from torch import nn

class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))
'''


class _Exported(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x).softmax(-1)


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "roofscope", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def runs():
    """name -> (CompletedProcess, tmp folder) for every command the tests check."""
    tmp = Path(tempfile.mkdtemp(prefix="roofscope_cli_"))
    (tmp / "tiny.py").write_text(TINY_MODEL)
    model = _Exported()
    torch.export.save(torch.export.export(model, (torch.randn(2, 6),)), str(tmp / "tiny.pt2"))
    commands = {
        "file_json": ["tiny.py:TinyNet", "--input", "2,8", "--device", "h100", "--format", "json", "-o", "tiny.json"],
        "factory_csv": ["roofscope.examples:SimpleConv", "-o", "conv.csv"],
        "pt2_md": ["tiny.pt2", "--format", "md"],
        "html": ["seed-conv", "--device", "h100", "--format", "html", "-o", "report.html"],
        "torchvision": ["torchvision:resnet18", "--batch", "2", "--depth", "1", "--exact"],
        "compare": ["compare", "seed-conv", "seed-linear", "--device", "h100", "--format", "json"],
        "sweep": ["sweep", "seed-conv", "--batch", "1,2,...,8", "--device", "h100", "--plot", "sweep.png"],
        "err_model": ["resnet5O"],
        "err_shape": ["seed-conv", "--input", "1,x,28"],
        "err_rejected": ["seed-conv", "--input", "1,3,28,28"],
        "err_device": ["seed-conv", "--device", "h1000"],
        "err_output": ["seed-conv", "-o", "/nonexistent/dir/x.json"],
        "timm": ["timm:resnet18", "--depth", "0", "--format", "json"],
        "llm": ["llama-2-7b", "--seq", "128", "--device", "a100-80gb", "--dtype", "fp16", "--format", "json"],
        "err_timm": ["timm:resnet5O"],
        "err_no_inputs": ["tiny.py:TinyNet"],
    }
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(_run, args, tmp) for name, args in commands.items()}
        results = {name: future.result() for name, future in futures.items()}
    yield results, tmp
    shutil.rmtree(tmp, ignore_errors=True)


def _ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_file_py_class_form_and_json_schema(runs):
    results, tmp = runs
    _ok(results["file_json"])
    data = json.loads((tmp / "tiny.json").read_text())
    for key in ("model", "inputs", "convention", "device", "precision", "total", "params", "uncounted", "modules", "by_op", "ops"):
        assert key in data
    assert data["model"] == "tiny:TinyNet" and data["inputs"] == ["float32[2, 8]"]
    assert data["total"]["macs"] == 2 * (8 * 16 + 16 * 4)
    for module in data["modules"]:
        assert {"name", "type", "depth", "calls", "params", "self", "total", "uncounted"} <= set(module)
        assert {"macs", "flops", "predicted_s", "bound"} <= set(module["total"])
    assert all("predicted_s" in op for op in data["ops"] if op["cost"])


def test_module_factory_form_and_csv_equals_api(runs):
    results, tmp = runs
    _ok(results["factory_csv"])
    rows = list(csv.DictReader(io.StringIO((tmp / "conv.csv").read_text())))
    assert list(rows[0]) == ["name", "type", "depth", "calls", "params", "macs", "flops", "bytes_read", "bytes_written", "intensity", "predicted_s", "bound"]
    report = roofscope.analyze(SimpleConv(), (1, 1, 28, 28))
    modules = list(report.modules())
    assert [row["name"] for row in rows] == [m.name for m in modules]
    for row, module in zip(rows, modules):
        assert int(row["macs"]) == module.total.macs == (3_976_448 if not module.name else module.total.macs)
        assert int(row["flops"]) == module.total.flops
        assert int(row["bytes_read"]) == module.total.bytes_read
        assert int(row["bytes_written"]) == module.total.bytes_written
        assert int(row["params"]) == module.params.total
        assert row["predicted_s"] == "" and row["bound"] == ""


def test_pt2_form_and_markdown_table_shape(runs):
    results, _ = runs
    _ok(results["pt2_md"])
    lines = results["pt2_md"].stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| module |"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    header, separator, body = table[0], table[1], table[2:]
    assert set(separator.replace("|", "").replace(":", "")) == {"-"}
    assert separator.count("|") == header.count("|")
    assert all(row.count("|") == header.count("|") for row in body)
    report = roofscope.analyze(torch.export.load(str(runs[1] / "tiny.pt2")).module(), (2, 6))
    assert len(body) == len(list(report.modules()))
    assert f"- MACs: {report.total.macs:,}" in lines
    assert "## Uncounted ops" in lines


def test_torchvision_form_terminal_report(runs):
    result = runs[0]["torchvision"]
    _ok(result)
    out = result.stdout
    assert "resnet18" in out and "float32[2, 3, 224, 224]" in out
    assert f"{2 * 1_814_073_344:,}" in out  # torchvision's resnet18: 1.814 GMACs per image, --exact
    assert "See docs/conventions.md" in out.replace("\n", " ")


def test_timm_form(runs):
    result = runs[0]["timm"]
    _ok(result)
    data = json.loads(result.stdout)
    assert data["model"] == "timm:resnet18" and data["inputs"] == ["float32[1, 3, 224, 224]"]
    assert data["params"]["total"] == 11_689_512  # timm's resnet18 is torchvision's: same count
    assert data["total"]["macs"] == 1_814_073_344


def test_transformer_preset_with_seq(runs):
    result = runs[0]["llm"]
    _ok(result)
    data = json.loads(result.stdout)
    assert data["model"] == "llama-2-7b" and data["inputs"][0] == "input_ids=int64[1, 128]"
    assert data["params"]["total"] == 6_738_415_616
    assert round(data["total"]["macs"], -9) == 850_000_000_000  # calflops' published 850 GMACs
    assert data["device"]["name"].startswith("NVIDIA A100") and data["precision"] == "fp16"


def test_compare_and_sweep(runs):
    results, tmp = runs
    _ok(results["compare"])
    rows = json.loads(results["compare"].stdout)
    assert [row["model"] for row in rows] == ["seed-conv", "seed-linear"]
    assert rows[0]["macs"] == 3_976_448 and rows[1]["macs"] == 515
    assert all(row["predicted_s"] > 0 and row["throughput"] > 0 for row in rows)
    _ok(results["sweep"])
    out = results["sweep"].stdout
    for batch in ("1", "2", "4", "8"):
        assert f"\n│ {batch} " in out
    assert "bound" in out
    assert (tmp / "sweep.png").stat().st_size > 20_000


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("err_model", "unknown model 'resnet5O'. Did you mean: resnet50"),
        ("err_shape", "a shape is comma-separated integers"),
        ("err_rejected", "expected input[1, 3, 28, 28] to have 1 channels"),
        ("err_device", "unknown device 'h1000'"),
        ("err_output", "cannot write /nonexistent/dir/x.json: the folder /nonexistent/dir does not exist"),
        ("err_timm", "unknown timm model 'resnet5O'. Did you mean: resnet50"),
        ("err_no_inputs", "give them with --input"),
    ],
)
def test_errors_exit_2_without_traceback(runs, name, message):
    result = runs[0][name]
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert message in " ".join(result.stderr.split())


def test_help_shows_examples(capsys):
    from roofscope.cli import main

    for argv, expected in ((["--help"], "roofscope sweep resnet50"), (["compare", "--help"], "roofscope compare resnet18"),
                           (["sweep", "--help"], "--batch 1,2,4,...,256")):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert "examples:" in out and expected in out


def test_html_is_self_contained(runs):
    results, tmp = runs
    _ok(results["html"])
    text = (tmp / "report.html").read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "<details" in text and "<summary>" in text and "<svg" in text and 'class="sortable"' in text
    for remote in ("http://", "https://", "src=\"//"):
        # the only URLs allowed are XML namespaces inside the inline SVG
        assert all(line.count(remote) == line.count(remote + "www.w3.org") for line in text.splitlines())


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed (apt-get install chromium): the browser test needs it")
def test_html_in_headless_chromium(runs):
    _, tmp = runs
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--window-size=1200,900"]
    url = (tmp / "report.html").as_uri()
    shot = tmp / "shot.png"
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(["chromium", *flags, f"--user-data-dir={profile}", f"--screenshot={shot}", "--enable-logging=stderr", "--v=0", url],
                                capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000, result.stderr[-2000:]
    assert "Uncaught" not in result.stderr and "ERROR:CONSOLE" not in result.stderr
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(["chromium", *flags, f"--user-data-dir={profile}", "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    assert 'data-sortable="ready"' in dom  # the inline script ran
    assert 'aria-sort="descending"' in dom  # and sorted the op table by FLOPs
    flops = [int(v) for v in __import__("re").findall(r'<td data-v="(\d+)">[^<]*</td><td data-v="\d+">[^<]*</td><td data-v="[\d.e+-]+">[^<]*</td><td data-v="[\d.e+-]+">[^<]*%', dom)]
    assert flops == sorted(flops, reverse=True) and flops


def test_analyze_accepts_a_model_name_and_repr_html():
    report = roofscope.analyze("seed-conv")
    assert report.model_name == "seed-conv" and report.total.macs == 3_976_448
    assert roofscope.analyze("roofscope.examples:SimpleLinearModel").total.macs == 515
    fragment = report._repr_html_()
    assert fragment.startswith('<div class="roofscope">') and "<details" in fragment and "<html" not in fragment


def test_value_series_and_input_specs():
    from roofscope.inputs import parse_input_spec
    from roofscope.sweep import parse_values

    assert parse_values("1,2,4,...,256") == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert parse_values("128,160,192,...,320") == [128, 160, 192, 224, 256, 288, 320]
    assert parse_values("1,8,32") == [1, 8, 32]
    with pytest.raises(ValueError):
        parse_values("1,...,8")
    spec = parse_input_spec("1,128:int64")
    assert spec.shape == (1, 128) and spec.dtype == torch.int64
    with pytest.raises(ValueError):
        parse_input_spec("1,128:int65")
