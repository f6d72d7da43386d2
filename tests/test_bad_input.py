"""Bad input through the API and the command line: a clear message, exit status 2, nothing left behind
(state_guard: the model and torch's global state as they were, the RNG included).

Model files (missing, corrupt or untrusted checkpoints, failing .py files) are in test_checkpoints.py.
"""

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

import roofscope
from roofscope import cli
from roofscope.cli import analyze as cli_app
from roofscope.models import ResolvedModel
from roofscope.models.examples import SimpleConv
from state_guard import assert_same, global_state, untouched

SRC = os.path.join(os.path.dirname(__file__), "..", "src")


class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.fc = nn.Linear(4, 2)

    def forward(self, ids):
        return self.fc(self.embed(ids))


class UsesCholesky(nn.Module):
    def forward(self, x):
        return torch.linalg.cholesky(x @ x.mT + torch.eye(x.shape[-1]))


@pytest.mark.parametrize(
    ("model", "inputs", "error", "message"),
    [
        (SimpleConv(), (1, 3, 28, 28), roofscope.CaptureError, r"module 'conv1' \(Conv2d\).*float32\[1, 3, 28, 28\]"),
        (SimpleConv(), (28,), roofscope.CaptureError, r"Expected 3D \(unbatched\) or 4D.*float32\[28\]"),
        (
            SimpleConv(),
            torch.ones(1, 1, 28, 28, dtype=torch.int64),
            roofscope.CaptureError,
            r"Input type \(long int\).*int64\[1, 1, 28, 28\]",
        ),
        (SimpleConv(), torch.ones(1, 1, 28, 28, dtype=torch.float64), roofscope.CaptureError, r"double.*float64"),
        (SimpleConv(), ["hello"], roofscope.CaptureError, r"module 'conv1'.*conv2d\(\) received an invalid combination"),
        (SimpleConv(), [object()], roofscope.CaptureError, r"conv2d\(\) received an invalid combination"),
        (SimpleConv(), None, roofscope.CaptureError, r"missing 1 required positional argument: 'x'.*inputs given: no inputs"),
        (SimpleConv(), {"y": (1, 1, 28, 28)}, roofscope.CaptureError, r"unexpected keyword argument 'y'"),
        (SimpleConv(), (1, -1, 28, 28), ValueError, r"non-negative ints, got \(1, -1, 28, 28\)"),
        (nn.Module(), (1, 2), roofscope.AnalysisError, r"Module has no forward method.*bare nn.Module\(\)"),
        (nn.Sequential(), (1, 2), roofscope.AnalysisError, r"ran no tensor operation.*empty container"),
        (nn.ModuleList(), (1, 2), roofscope.AnalysisError, r"ModuleList has no forward method"),
        (UsesCholesky(), (3, 3), roofscope.AnalysisError, None),  # strict, below
        # wrong dtypes: the module, what it got, its parameters' dtype, and what to give instead
        (
            Tokens(),
            (2, 3),
            roofscope.CaptureError,
            (
                r"module 'embed' \(Embedding\) on float32\[2, 3\] with float32 parameters.*Long, Int.*FloatTensor"
                r".*hint: Embedding takes integer indices, got float32: give an integer input \(TensorSpec\(shape, torch.long"
            ),
        ),
        (
            nn.Sequential(nn.Linear(8, 4)),
            roofscope.TensorSpec((2, 8), torch.int64),
            roofscope.CaptureError,
            (
                r"module '0' \(Linear\) on int64\[2, 8\] with float32 parameters.*Long and Float.*"
                r"hint: Linear has float32 parameters but its input is int64: give float32 inputs"
            ),
        ),
        (
            nn.Sequential(nn.Linear(8, 4)),
            torch.ones(2, 8, dtype=torch.float16),
            roofscope.CaptureError,
            r"module '0' \(Linear\) on float16\[2, 8\] with float32 parameters.*hint: .*give float32 inputs",
        ),
        (
            nn.Sequential(nn.Linear(8, 4)),
            [torch.ones(2, 8), "extra"],
            roofscope.CaptureError,
            r"takes 2 positional arguments but 3 were given.*inputs given: float32\[2, 8\], str",
        ),
        (nn.Sequential(nn.Linear(8, 4)), {1, 2}, TypeError, r"inputs must be a tensor, a shape.*got set"),
    ],
)
def test_api_errors_are_clear_and_leave_nothing(model, inputs, error, message):
    with (
        untouched(model),
        pytest.raises(error, match="(?s)" + (message or r"strict: 1 op\(s\) .* no formula: aten.linalg_cholesky_ex \(x1\)")),
    ):
        roofscope.analyze(model, inputs, strict=True)
    assert not model._forward_hooks and not model._forward_pre_hooks


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"device": "h1000"}, r"unknown device 'h1000'"),
        ({"device": "h100", "dtype": "fp7"}, r"fp7"),
        ({"peak_tflops": 100}, r"a custom device needs both peak_tflops and bandwidth_gbs"),
        ({"causal": "lower"}, r"lower"),
        ({"batch": 2}, r"batch= and seq_len= size the inputs of a named model"),
    ],
)
def test_api_bad_options(options, message):
    model = SimpleConv()
    with untouched(model), pytest.raises(roofscope.AnalysisError, match=message):
        roofscope.analyze(model, (1, 1, 28, 28), **options)


def test_unknown_op_is_uncounted_unless_strict():
    model = UsesCholesky()
    with untouched(model):
        report = roofscope.analyze(model, (3, 3))
    assert report.uncounted == {"aten.linalg_cholesky_ex": 1}
    formulas = roofscope.default_formulas()
    formulas.register("aten.linalg_cholesky_ex")(lambda event: roofscope.Cost(0, 9, 0, 0))
    assert roofscope.analyze(UsesCholesky(), (3, 3), formulas=formulas, strict=True).uncounted == {}


def run_cli(capsys, *argv):
    with untouched(rng=False):  # the command line builds the model, with random weights
        code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_unknown_model(capsys):
    code, out, err = run_cli(capsys, "resnet5O")
    assert code == 2 and out == ""
    assert "unknown model 'resnet5O'" in err and "Did you mean" in err and "resnet50" in err
    assert "Traceback" not in err


def test_cli_wrong_shape(capsys):
    code, _, err = run_cli(capsys, "seed-conv", "--input", "1,3,28,28")
    assert code == 2
    assert "module 'conv1' (Conv2d)" in err and "Traceback" not in err


def test_cli_bad_shape_text_and_bad_option(capsys):
    before = global_state()
    for argv in (["seed-conv", "--input", "1,a3"], ["seed-conv", "--input", "1,-2"], ["seed-conv", "--causal", "lower"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("roofscope: argument ") and err.count("\n") == 1 and "usage:" not in err, err
    assert_same(before, global_state())


def test_cli_wrong_dtype(capsys, monkeypatch):
    monkeypatch.setattr(cli_app, "resolve", lambda spec, **sizes: ResolvedModel(spec, Tokens(), None))
    code, out, err = run_cli(capsys, "tokens", "--input", "2,3")
    assert code == 2 and out == "" and "Traceback" not in err
    err = " ".join(err.split())
    assert "module 'embed' (Embedding) on float32[2, 3] with float32 parameters" in err
    assert "--input 1,128:int64" in err
    code, out, _ = run_cli(capsys, "tokens", "--input", "2,3:int64")
    assert code == 0


def test_cli_empty_model(capsys, monkeypatch):
    monkeypatch.setattr(cli_app, "resolve", lambda spec, **sizes: ResolvedModel(spec, nn.Sequential(), [(1, 2)]))
    code, out, err = run_cli(capsys, "empty")
    assert code == 2 and out == "" and "ran no tensor operation" in err and "empty container" in " ".join(err.split())


def test_cli_strict(capsys, monkeypatch):
    monkeypatch.setattr(cli_app, "resolve", lambda spec, **sizes: ResolvedModel(spec, UsesCholesky(), [(3, 3)]))
    code, out, _ = run_cli(capsys, "cholesky", "--json")
    assert code == 0 and '"aten.linalg_cholesky_ex": 1' in out
    code, out, err = run_cli(capsys, "cholesky", "--strict")
    assert code == 2 and out == ""
    assert "strict" in err and "aten.linalg_cholesky_ex" in err and "Traceback" not in err


def test_cli_causal_option(capsys):
    code, out, _ = run_cli(capsys, "seed-attention", "--causal", "triangle", "--json")
    assert code == 0 and '"model": "seed-attention"' in out  # no causal SDPA here: same counts


def test_cli_subprocess_exit_status_and_nothing_written(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.path.abspath(SRC)}
    result = subprocess.run(
        [sys.executable, "-m", "roofscope", "not-a-model"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "unknown model 'not-a-model'" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []
