"""The command line as a user runs it: ``python -m roofscope ...`` in a subprocess.

The subprocesses all start at once (a few at a time) in one module-scoped fixture, since each pays
for importing torch; the tests then read their results.
"""

from __future__ import annotations

import concurrent.futures
import csv
import importlib.resources
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import pytest
import torch
from rich.console import Console

import roofscope
from roofscope.models.examples import SimpleConv
from tiny_configs import TINY_LLAMA

SRC = str(Path(__file__).resolve().parents[2] / "src")

TINY_MODEL = """
import torch
from torch import nn

class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class IntNet(nn.Module):
    def forward(self, x):
        return x.argmax(-1)
"""

# A device with almost no memory, so that the tiny Llama does not fit.
SMALL_DEVICE = """
name = "Small device"
memory_bandwidth_gbs = 100
memory_capacity_gb = 0.0001
matrix = { bf16 = 10 }
vector = { fp32 = 1 }
"""


#: A few presets that build and trace quickly, through the command line as bench/presets_cli.py runs
#: every one of them (name -> whether it is a causal LM, with a serving summary).
CHEAP_PRESETS = {"gpt2": True, "bert-base": False, "t5-small": True, "qwen3-0.6b": True, "vit-b-16": False}
PRESET_ARGS = ["--seq", "16", "--device", "h100", "--dtype", "bf16", "--depth", "0", "--ops", "0"]


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
    (tmp / "tiny_llama").mkdir()
    (tmp / "tiny_llama" / "config.json").write_text(json.dumps(TINY_LLAMA))
    (tmp / "small.toml").write_text(SMALL_DEVICE)
    model = _Exported()
    torch.export.save(torch.export.export(model, (torch.randn(2, 6),)), str(tmp / "tiny.pt2"))
    commands = {
        "file_json": ["tiny.py:TinyNet", "--input", "2,8", "--device", "h100", "--format", "json", "-o", "tiny.json"],
        "factory_csv": ["roofscope.models.examples:SimpleConv", "-o", "conv.csv"],
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
        "llm_terminal": ["tiny_llama", "--seq", "64", "--device", "small.toml", "--dtype", "bf16", "--depth", "0", "--ops", "0"],
        "llm_json": [
            "tiny_llama/config.json",
            "--batch",
            "2",
            "--seq",
            "32",
            "--decode-context",
            "256",
            "--device",
            "h100",
            "--dtype",
            "fp8",
            "--format",
            "json",
            "-o",
            "llm.json",
        ],
        "backward_json": ["tiny.py:TinyNet", "--input", "4,8", "--backward", "--device", "h100", "--json"],
        "presets": ["presets"],
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
    schema = json.loads((importlib.resources.files("roofscope") / "schema" / "report.schema.json").read_text())
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)
    assert data["model"] == "tiny:TinyNet" and data["inputs"] == ["float32[2, 8]"]
    assert data["total"]["macs"] == 2 * (8 * 16 + 16 * 4)
    for module in data["modules"]:
        assert {"name", "type", "depth", "calls", "params", "self", "total", "uncounted"} <= set(module)
        assert {"macs", "flops", "predicted_s", "bound"} <= set(module["total"])
    assert all("predicted_s" in op for op in data["ops"] if op["cost"])


def test_module_factory_form_and_csv_equals_api(runs):
    results, tmp = runs
    _ok(results["factory_csv"])
    rows = [row for row in csv.DictReader(io.StringIO((tmp / "conv.csv").read_text())) if row["kind"] == "module"]
    assert list(rows[0]) == [
        "kind",
        "name",
        "type",
        "depth",
        "calls",
        "params",
        "macs",
        "flops",
        "bytes_read",
        "bytes_written",
        "intensity",
        "roofline_s",
        "predicted_s",
        "host_s",
        "bound",
        "complete",
        "uncounted",
    ]
    report = roofscope.analyze(SimpleConv(), (1, 1, 28, 28))
    modules = list(report.modules())
    assert [row["name"] for row in rows] == [m.name for m in modules]
    for row, module in zip(rows, modules):
        assert int(row["macs"]) == module.total.macs == (3_976_448 if not module.name else module.total.macs)
        assert int(row["flops"]) == module.total.flops
        assert int(row["bytes_read"]) == module.total.bytes_read
        assert int(row["bytes_written"]) == module.total.bytes_written
        assert int(row["params"]) == module.params.total
        assert row["predicted_s"] == "" and row["roofline_s"] == "" and row["bound"] == ""


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
    report = roofscope.analyze(torch.export.unflatten(torch.export.load(str(runs[1] / "tiny.pt2"))), (2, 6))
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
    # the report is the serving prefill's, which computes the last token's logits only, as generation
    # does: calflops' published 850 GMACs (every position's logits) less 127 rows of the lm_head
    lm_head_rows = 127 * 4096 * 32000
    assert round(data["total"]["macs"] + lm_head_rows, -9) == 850_000_000_000
    assert data["device"]["name"].startswith("NVIDIA A100") and data["precision"] == "fp16"
    # the serving summary: a decode step at 128 cached tokens, weight-bound, its bytes / 2,039 GB/s
    llm = data["llm"]
    assert llm["seq_len"] == llm["context"] == 128 and llm["batch"] == 1 and llm["params"] == 6_738_415_616
    assert llm["time_per_output_token_s"] == pytest.approx(
        llm["decode"]["bytes"] / 2.039e12, rel=1e-4
    )  # a fused kernel's intermediates add their FLOPs / peak
    assert llm["time_per_output_token_s"] == pytest.approx(13.3e9 / 2.039e12, rel=0.01)  # 13.31 GB a step
    assert llm["prefill_s"] == data["total"]["roofline_s"]  # the report is the prefill's
    assert llm["memory"]["fits"] is True and llm["memory"]["capacity"] == 80e9


def test_transformer_serving_summary_in_the_terminal(runs):
    result = runs[0]["llm_terminal"]
    _ok(result)
    out = " ".join(result.stdout.split())
    assert "LLM serving: tiny_llama on Small device, bf16, batch 1, prompt 64 tokens, decode at context 64" in out
    for label in ("params", "KV cache", "memory", "prefill", "per output token", "tokens/s"):
        assert label in out, label
    assert "does NOT fit in 100KB" in out  # a device file with 0.0001 GB of memory
    assert "logits of the last token only, as generation does" in out  # unlike roofscope.analyze's plain forward
    assert out.index("LLM serving") > out.index("MACs: multiply-accumulates")  # after the generic report


def test_presets_lists_the_built_in_presets(runs):
    result = runs[0]["presets"]
    _ok(result)
    out = result.stdout
    for name, source in (
        ("llama-2-7b", "meta-llama/Llama-2-7b-hf"),
        ("deepseek-v3", "deepseek-ai/DeepSeek-V3"),
        ("gpt2", "openai-community/gpt2"),
    ):
        assert re.search(rf"\b{re.escape(name)}\b.*{re.escape(source)}", out), name
    from roofscope.models.presets import preset_names

    assert all(name in out for name in preset_names())


@pytest.mark.parametrize("name", sorted(CHEAP_PRESETS))
def test_a_preset_through_the_command_line(name, capsys, monkeypatch):
    """A preset by name exits 0 (in-process); a causal LM (or encoder-decoder) with its serving
    summary after the report, any other model with the report alone."""
    from roofscope.cli import main

    monkeypatch.setenv("COLUMNS", "160")
    assert main([name, *PRESET_ARGS]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "MACs: multiply-accumulates" in out
    assert ("LLM serving" in out) is CHEAP_PRESETS[name]


def test_transformer_serving_summary_json_equals_api(runs):
    results, tmp = runs
    _ok(results["llm_json"])
    data = json.loads((tmp / "llm.json").read_text())
    from roofscope.llm import LLM

    path = str(tmp / "tiny_llama" / "config.json")
    expected = LLM(path, device="h100", dtype="fp8").summary(batch=2, seq_len=32, context=256).to_dict()
    expected["model"] = "tiny_llama/config.json"
    assert data["llm"] == expected
    llm = data["llm"]
    assert llm["context"] == 256 and llm["seq_len"] == 32 and llm["precision"] == "fp8"
    assert llm["kv_cache_bytes"] == 2 * 2 * 2 * 16 * 256 * 2 * 1  # K and V, layers, kv heads, head_dim, tokens, batch, fp8
    assert llm["tokens_per_s"] == pytest.approx(2 / llm["time_per_output_token_s"])
    memory = llm["memory"]
    assert memory["total"] == memory["weights"] + memory["kv_cache"] + memory["activations"]
    assert memory["kv_cache"] == llm["kv_cache_bytes"]  # the cache at max(seq, decode context) = 256 tokens
    assert data["inputs"][0] == "input_ids=int64[2, 32]"


def test_serving_summary_and_backward_in_markdown_and_terminal(tmp_path):
    """The renderers, in process: the Markdown section and the terminal's forward/backward line."""
    from roofscope.llm import LLM
    from roofscope.render.export import to_markdown
    from roofscope.render.table import render_terminal

    path = tmp_path / "config.json"
    path.write_text(json.dumps(TINY_LLAMA))
    llm = LLM(str(path))
    report = llm.prefill(1, 16)
    serving = llm.summary(1, 16)
    md = to_markdown(report, serving=serving)
    assert "## LLM serving" in md and "capacity unknown (no device)" in md and "- per output token:" in md
    assert "- tokens/s" not in md  # no device, no times
    from roofscope.render.html import to_html

    html = to_html(report, serving=serving)
    assert "<h2>LLM serving</h2>" in html and "<b>per output token</b>" in html
    console = Console(width=200, record=True)
    console.print(render_terminal(llm.training_step(1, 8).report))
    ratio = float(console.export_text().split("backward/forward ")[1].split()[0])
    assert 1.9 < ratio < 2.1


def test_backward_flag(runs):
    results, _ = runs
    _ok(results["backward_json"])
    data = json.loads(results["backward_json"].stdout)
    forward, backward = data["phases"]["forward"], data["phases"]["backward"]
    assert forward["macs"] == 4 * (8 * 16 + 16 * 4)
    assert backward["macs"] == 4 * (8 * 16 + 2 * 16 * 4)  # fc1: weight gradient only; fc2: input and weight
    assert data["backward_forward_flops_ratio"] == backward["flops"] / forward["flops"]
    assert {op["phase"] for op in data["ops"]} == {"forward", "backward"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["tiny.py:IntNet", "--input", "2,8", "--backward"],
            "backward=True: cannot differentiate the forward of IntNet: the forward returned no floating-point tensor",
        ),
        (["seed-conv", "--decode-context", "128"], "--decode-context applies to the serving summary of a causal language model preset"),
        (["seed-conv", "--kv", "fp8", "--dtype", "bf16"], "--kv applies to the serving summary of a causal language model preset"),
        (["tiny_llama", "--seq", "16", "--dtype", "bf16", "--weights", "int3"], "unknown weight precision 'int3'"),
        (["tiny_llama", "--decode-context", "0"], "argument --decode-context: expected a positive integer, got 0"),
        (["tiny_llama", "--seq", "16", "--dtype", "fp9"], "unknown target precision 'fp9'"),
        (["tiny_llama", "--seq", "16", "--device", "h1000"], "unknown device 'h1000'"),
    ],
)
def test_new_errors_exit_2_in_process(runs, capsys, monkeypatch, argv, message):
    """Errors of the serving summary and --backward, through main() in this process (cheaper than
    a subprocess each; the subprocess tests above show that main's exit status 2 reaches the shell)."""
    from roofscope.cli import main

    monkeypatch.chdir(runs[1])
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in " ".join(captured.err.split())
    assert "Traceback" not in captured.err + captured.out


def test_weight_and_kv_precisions_on_the_command_line(runs, capsys, monkeypatch):
    """--weights and --kv beside --dtype name one precision, the one the API takes apart."""
    from roofscope.cli import main

    monkeypatch.chdir(runs[1])
    argv = ["tiny_llama", "--seq", "16", "--device", "h100", "--dtype", "bf16", "--weights", "int4", "--kv", "fp8", "--format", "json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["precision"] == "bf16+int4-weights+fp8-kv"
    llm = roofscope.llm.LLM("tiny_llama/config.json", device="h100", dtype="bf16", weights="int4", kv="fp8")
    assert data["llm"]["kv_cache_bytes"] == llm.kv_cache_bytes(1, 16)
    assert data["llm"]["decode"]["bytes"] == llm.decode(1, 16).total.bytes


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
        ("err_rejected", "hint: Conv2d takes 1 input channel(s) in dimension 1, got 3"),
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

    for argv, expected in (
        (["--help"], "roofscope sweep resnet50"),
        (["compare", "--help"], "roofscope compare resnet18"),
        (["sweep", "--help"], "--batch 1,2,4,...,256"),
    ):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "examples:" in out and expected in out


def test_html_is_self_contained(runs):
    results, tmp = runs
    _ok(results["html"])
    text = (tmp / "report.html").read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "<details" in text and "<summary" in text and "<svg" in text and 'class="sortable searchable"' in text
    for remote in ("http://", "https://", 'src="//'):
        # the only URLs allowed are XML namespaces inside the inline SVG
        assert all(line.count(remote) == line.count(remote + "www.w3.org") for line in text.splitlines())


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="Chromium is not installed (apt-get install chromium): the browser test needs it"
)
def test_html_in_headless_chromium(runs):
    _, tmp = runs
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,900",
    ]
    url = (tmp / "report.html").as_uri()
    shot = tmp / "shot.png"
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            ["chromium", *flags, f"--user-data-dir={profile}", f"--screenshot={shot}", "--enable-logging=stderr", "--v=0", url],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert shot.exists() and shot.stat().st_size > 20_000, result.stderr[-2000:]
    assert "Uncaught" not in result.stderr and "ERROR:CONSOLE" not in result.stderr
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            ["chromium", *flags, f"--user-data-dir={profile}", "--dump-dom", url], capture_output=True, text=True, timeout=120
        ).stdout
    assert 'data-sortable="ready"' in dom  # the inline script ran
    assert 'aria-sort="descending"' in dom  # and sorted the op table by FLOPs
    flops = [
        int(v)
        for v in __import__("re").findall(
            r'<td data-v="(\d+)">[^<]*</td><td data-v="\d+">[^<]*</td><td data-v="[\d.e+-]+">[^<]*</td><td data-v="[\d.e+-]+">[^<]*%', dom
        )
    ]
    assert flops == sorted(flops, reverse=True) and flops


def test_analyze_accepts_a_model_name_and_repr_html():
    report = roofscope.analyze("seed-conv")
    assert report.model_name == "seed-conv" and report.total.macs == 3_976_448
    assert roofscope.analyze("roofscope.models.examples:SimpleLinearModel").total.macs == 515
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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", "seed-conv", "seed-linear", "--batch", "0"], "argument --batch: expected a positive integer, got 0"),
    ],
)
def test_subcommand_errors_in_process(capsys, tmp_path, monkeypatch, argv, message):
    from roofscope.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in " ".join(capsys.readouterr().err.split())
    assert not list(tmp_path.iterdir())  # nothing written


#: Help examples that need what this machine may lack: a GPU, a probe of the machine (tens of
#: seconds of timed kernels; tests/measurement/test_probe.py runs probe with small sizes instead),
#: or a hub id's config.json from the network or the Hugging Face cache (tests/models/test_transformers.py tests hub ids
#: with a cache folder they build).
NEEDS_THE_MACHINE = ("--measure cuda", "roofscope probe", "--measure --device h100.toml", "roofscope Qwen/Qwen3-8B")


def _help_examples(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    from roofscope.cli import main

    assert main(argv) == 0
    help_text = capsys.readouterr().out
    examples = help_text[help_text.index("examples:") :]
    # "  roofscope ARGS   what it does": the command is what comes before two spaces in a row
    return [re.split(r"\s{2,}", line.strip())[0] for line in examples.splitlines() if line.startswith("  roofscope ")]


def test_every_help_example_runs(capsys, monkeypatch, tmp_path):
    """Each example of every --help, run as written (in-process, in an empty folder), exits 0."""
    from roofscope.cli import main

    examples = list(
        dict.fromkeys(
            e
            for argv in (["--help"], ["compare", "--help"], ["sweep", "--help"], ["probe", "--help"], ["train", "--help"])
            for e in _help_examples(argv, capsys)
        )
    )
    assert len(examples) >= 25
    monkeypatch.chdir(tmp_path)
    # the device file the measure example names, as `roofscope probe cpu -o mine.toml` writes it
    (tmp_path / "mine.toml").write_text('name = "Mine"\nmemory_bandwidth_gbs = 20\nvector = { fp32 = 0.2 }\n')
    ran = []
    for example in examples:
        if any(needs in example for needs in NEEDS_THE_MACHINE):
            continue
        status = main(shlex.split(example)[1:])
        err = capsys.readouterr().err
        assert status == 0, f"{example}: {err[-500:]}"
        ran.append(example)
    assert len(ran) >= 25  # all but the GPU and probe examples
    written = {"roofline.png", "report.html", "sweep.png", "compare.png", "compare.json", "llms.html", "gpt2-seq.csv"}
    assert written <= {path.name for path in tmp_path.iterdir()}
