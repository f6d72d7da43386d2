"""Model files that cannot be analysed as they are, through the API and the command line.

A checkpoint (.pt, .pth, .bin, .ckpt) is read with torch.load(weights_only=True, map_location="meta")
and nothing else: a state_dict is explained (weights without architecture), a pickled module refused
as untrusted, and a malicious pickle never runs (a marker file its payload would write stays absent).
A .pt2 is read by torch.export.load with every torch.load inside forced weights-only. Missing,
corrupt and failing files are clear errors: ModelSpecError (a ValueError) from the API, exit status 2
and no traceback from the command line, nothing left behind.
"""

from __future__ import annotations

import concurrent.futures
import io
import os
import pickle
import re
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

import roofscope
from roofscope.models import ModelSpecError
from state_guard import untouched

SRC = str(Path(__file__).resolve().parents[2] / "src")


class Payload:
    """Unpickling it would run exec, which writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x)


def _torch_save_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def make_files(folder: Path) -> dict[str, str]:
    """Every awkward model file, written into ``folder``; returns the name of the marker file that
    any of the malicious payloads would create."""
    marker = folder / "PAYLOAD_RAN"
    model = Small()
    torch.save(model, folder / "whole.pt")
    torch.save(model.state_dict(), folder / "weights.pth")
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    torch.save({"epoch": 3, "state_dict": model.state_dict(), "optimizer": {}}, folder / "training.ckpt")
    torch.save(torch.ones(2), folder / "tensor.pt")
    (folder / "corrupt.pt").write_bytes(b"this is not a checkpoint")
    (folder / "empty.pth").write_bytes(b"")
    (folder / "truncated.pt").write_bytes((folder / "weights.pth").read_bytes()[:100])
    torch.save(Payload(marker), folder / "malicious_zip.pt")  # torch.save format
    with open(folder / "malicious_raw.pt", "wb") as handle:  # a bare pickle, as pickle.dump writes
        pickle.dump(Payload(marker), handle, protocol=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(model), folder / "scripted.pt")
    # .pt2: a good one, a corrupt one, and one whose sample inputs are replaced by the payload
    # (torch.export.load, left alone, falls back to weights_only=False and runs it).
    torch.export.save(torch.export.export(model, (torch.randn(2, 3),)), str(folder / "good.pt2"))
    (folder / "corrupt.pt2").write_bytes(b"PK\x03\x04 not really a zip")
    with zipfile.ZipFile(folder / "good.pt2") as source, zipfile.ZipFile(folder / "malicious.pt2", "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith("sample_inputs/model.pt"):
                data = _torch_save_bytes(Payload(marker))
            target.writestr(item, data)
    with zipfile.ZipFile(folder / "good.pt2") as source, zipfile.ZipFile(folder / "opaque.pt2", "w") as target:
        for item in source.infolist():
            target.writestr(item, source.read(item.filename))
        target.writestr("good/data/constants/opaque_obj_0", pickle.dumps(Payload(marker)))  # pickle.loads'd
    (folder / "raises.py").write_text("import torch\nraise RuntimeError('no GPU on this machine')\n")
    (folder / "syntax.py").write_text("class Net(\n")
    (folder / "exits.py").write_text("import sys\nsys.exit(3)\n")
    (folder / "ctor_raises.py").write_text(
        "from torch import nn\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        raise ValueError('needs a config')\n"
    )
    (folder / "empty_model.py").write_text("from torch import nn\nclass Empty(nn.Sequential):\n    pass\n")
    (folder / "embedding.py").write_text(
        "from torch import nn\nclass Tokens(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.embed = nn.Embedding(10, 4)\n    def forward(self, ids):\n        return self.embed(ids)\n"
    )
    return {"marker": str(marker)}


UNTRUSTED = r"never loads with weights_only=False.*torch\.save\(model\).*file\.py:Class.*package\.module:factory.*\.pt2"
NO_ARCHITECTURE = r"weights, but no architecture.*file\.py:Class.*package\.module:factory.*\.pt2"

# (spec, regex the message must match), run through the API and the command line
CASES = [
    (
        "whole.pt",
        r"whole\.pt is an untrusted pickle: .*run code it names \(tests\.models\.test_checkpoint\.Small.*weights_only=True\) refuses it.*"
        + UNTRUSTED,
    ),
    ("weights.pth", r"holds a state_dict \(2 tensors, 8 values\): " + NO_ARCHITECTURE),
    ("pytorch_model.bin", NO_ARCHITECTURE + r".*Hugging Face checkpoint: give the config\.json"),
    (
        "training.ckpt",
        r"training checkpoint \(keys: epoch, state_dict, optimizer\) whose 'state_dict' is a state_dict .*" + NO_ARCHITECTURE,
    ),
    ("tensor.pt", r"holds a tensor of shape \(2,\), not a model"),
    ("corrupt.pt", r"cannot read corrupt\.pt as a PyTorch checkpoint"),
    ("empty.pth", r"cannot read empty\.pth as a PyTorch checkpoint: EOFError \(the file is empty or truncated\)"),
    ("truncated.pt", r"cannot read truncated\.pt as a PyTorch checkpoint"),
    ("malicious_zip.pt", r"malicious_zip\.pt is an untrusted pickle: .*\(builtins\.exec\).*" + UNTRUSTED),
    ("malicious_raw.pt", r"malicious_raw\.pt is an untrusted pickle: .*\(builtins\.exec\).*" + UNTRUSTED),
    ("scripted.pt", r"TorchScript archive \(torch\.jit\.save\).*file\.py:Class"),
    ("missing.pt", r"no such file: missing\.pt"),
    ("missing.ckpt", r"no such file: missing\.ckpt"),
    ("missing.pt2", r"no such file: missing\.pt2"),
    ("corrupt.pt2", r"cannot (read|load) corrupt\.pt2"),
    ("opaque.pt2", r"holds pickled Python objects \(good/data/constants/opaque_obj_0\) that torch\.export\.load would unpickle"),
    ("malicious.pt2", r"only arbitrary code could load \(builtins\.exec\).*refused as untrusted"),
    ("missing.py:Net", r"no such file: missing\.py"),
    ("raises.py:Net", r"importing raises\.py failed: RuntimeError: no GPU on this machine"),
    ("syntax.py:Net", r"importing syntax\.py failed: SyntaxError: .*\(line 1\)"),
    ("exits.py:Net", r"importing exits\.py failed: it called sys\.exit\(3\)"),
    ("ctor_raises.py:Net", r"building 'ctor_raises\.py:Net' failed: ValueError: needs a config"),
    ("raises.py", r"Name the class or factory in it after a colon: raises\.py:ClassName"),
]


@pytest.fixture()
def files(tmp_path, monkeypatch):
    info = make_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path, Path(info["marker"])


def test_the_payloads_are_live(files):
    """The malicious files would run their payload if loaded unsafely: the tests below mean something."""
    folder, marker = files
    with open(folder / "malicious_raw.pt", "rb") as handle:
        pickle.load(handle)  # on purpose: a bare pickle.load runs it
    assert marker.exists()
    marker.unlink()
    torch.load(folder / "malicious_zip.pt", weights_only=False)
    assert marker.exists()
    marker.unlink()
    with warnings.catch_warnings(), pytest.raises(Exception):
        warnings.simplefilter("ignore")
        torch.export.load(str(folder / "malicious.pt2"))
    assert marker.exists()


@pytest.mark.parametrize(("spec", "message"), CASES, ids=[f"{spec}-{i}" for i, (spec, _) in enumerate(CASES)])
def test_api(files, spec, message):
    folder, marker = files
    before_files = sorted(folder.iterdir())
    before_modules = set(sys.modules)
    with untouched(), pytest.raises(ModelSpecError, match="(?s)" + message) as info:
        roofscope.analyze(spec)
    assert isinstance(info.value, ValueError)
    assert not marker.exists(), "a payload ran"
    assert sorted(folder.iterdir()) == before_files
    assert not [name for name in set(sys.modules) - before_modules if name.startswith("_roofscope_user_")]


def test_torch_load_is_weights_only_on_meta(files, monkeypatch):
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    for spec in ("weights.pth", "whole.pt", "training.ckpt", "malicious_zip.pt"):
        with pytest.raises(ModelSpecError):
            roofscope.analyze(spec)
    assert calls and all(call.get("weights_only") is True and call.get("map_location") == "meta" for call in calls)


def test_pt2_loads_are_forced_weights_only_and_put_back(files):
    before = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    report = roofscope.analyze("good.pt2")
    assert report.total.macs == 2 * 3 * 2
    assert os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD") == before


def test_a_pt2_keeps_the_module_tree(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Flatten()), torch.nn.Linear(144, 2))
    sample = torch.randn(1, 3, 8, 8)
    torch.export.save(torch.export.export(model.eval(), (sample,)), str(tmp_path / "nested.pt2"))
    loaded, eager = roofscope.analyze(str(tmp_path / "nested.pt2")), roofscope.analyze(model, (1, 3, 8, 8))
    assert [m.name for m in loaded.modules()] == [m.name for m in eager.modules()] == ["", "0", "1", "1.0", "1.1", "2"]
    assert loaded.total.macs == eager.total.macs == 4 * 3 * 9 * 36 + 144 * 2  # conv: out channels x in x kernel x positions


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "roofscope", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


CLI_EXTRA = [
    (["empty_model.py:Empty", "--input", "1,4"], r"ran no tensor operation.*empty container"),
    (
        ["embedding.py:Tokens", "--input", "2,3"],
        r"module 'embed' \(Embedding\) on float32\[2, 3\] with float32 parameters.*hint: Embedding takes integer indices.*--input 1,128:int64",
    ),
    (["seed-conv", "--device", "h1000"], r"unknown device 'h1000'"),
]


CLI_CASES = [([spec], message) for spec, message in CASES] + CLI_EXTRA


@pytest.fixture(scope="module")
def cli_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoint_cli")
    info = make_files(folder)
    return folder, Path(info["marker"]), sorted(folder.iterdir())


def _refused(status: int, out: str, err: str, message: str, marker: Path, folder: Path, before: list[Path]) -> None:
    """Exit status 2, the message on stderr and nothing else: no traceback, nothing on stdout, no
    payload run, nothing written."""
    assert status == 2, err
    assert "Traceback" not in err + out
    assert out == ""
    assert re.search("(?s)" + message, " ".join(err.split())), err
    assert not marker.exists()
    assert sorted(folder.iterdir()) == before


@pytest.mark.parametrize("index", range(len(CLI_CASES)))
def test_cli(cli_folder, capsys, monkeypatch, index):
    """Each bad checkpoint or model through the command line (in-process)."""
    from roofscope.cli import main

    folder, marker, before = cli_folder
    args, message = CLI_CASES[index]
    monkeypatch.chdir(folder)
    status = main(args)
    out, err = capsys.readouterr()
    _refused(status, out, err, message, marker, folder, before)


#: Cases also run as a real process, `python -m roofscope`: an untrusted pickle, a malicious one,
#: a module that exits on import, a bad device.
ENTRY_POINT_CASES = ["whole.pt", "malicious_zip.pt", "exits.py:Net", "seed-conv"]


def test_the_command_refuses_them_as_a_process(tmp_path):
    info = make_files(tmp_path)
    cases = [(args, message) for args, message in CLI_CASES if args[0] in ENTRY_POINT_CASES]
    assert len(cases) == len(ENTRY_POINT_CASES)
    before = sorted(tmp_path.iterdir())
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda case: _cli(case[0], tmp_path), cases))
    for (_, message), result in zip(cases, results, strict=True):
        _refused(result.returncode, result.stdout, result.stderr, message, Path(info["marker"]), tmp_path, before)
