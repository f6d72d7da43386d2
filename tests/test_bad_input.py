"""Bad input through the API and the command line: a clear message, exit status 2, nothing left behind.

Model specs that load files (a missing file, a corrupt checkpoint) belong to another issue and are
not tested here.
"""

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

import roofscope
from roofscope import cli
from roofscope.examples import SimpleConv
from roofscope.models import ResolvedModel

SRC = os.path.join(os.path.dirname(__file__), "..", "src")


def no_global_state_left():
    from torch.nn.modules import module as torch_module
    from torch.utils._python_dispatch import _get_current_dispatch_mode

    assert not torch_module._global_forward_hooks and not torch_module._global_forward_pre_hooks
    assert not torch.overrides._get_current_function_mode_stack()
    assert _get_current_dispatch_mode() is None
    assert torch.is_grad_enabled()


class UsesCholesky(nn.Module):
    def forward(self, x):
        return torch.linalg.cholesky(x @ x.mT + torch.eye(x.shape[-1]))


@pytest.mark.parametrize(
    ("model", "inputs", "error", "message"),
    [
        (SimpleConv(), (1, 3, 28, 28), roofscope.CaptureError, r"module 'conv1' \(Conv2d\).*float32\[1, 3, 28, 28\]"),
        (SimpleConv(), (28,), roofscope.CaptureError, r"Expected 3D \(unbatched\) or 4D.*float32\[28\]"),
        (SimpleConv(), torch.ones(1, 1, 28, 28, dtype=torch.int64), roofscope.CaptureError, r"Input type \(long int\).*int64\[1, 1, 28, 28\]"),
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
    ],
)
def test_api_errors_are_clear_and_leave_nothing(model, inputs, error, message):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    with pytest.raises(error, match="(?s)" + (message or r"strict: 1 op\(s\) .* no formula: aten.linalg_cholesky_ex \(x1\)")):
        roofscope.analyze(model, inputs, strict=True)
    no_global_state_left()
    assert torch.equal(rng, torch.get_rng_state())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model._forward_hooks and not model._forward_pre_hooks


def test_unknown_op_is_uncounted_unless_strict():
    report = roofscope.analyze(UsesCholesky(), (3, 3))
    assert report.uncounted == {"aten.linalg_cholesky_ex": 1}
    formulas = roofscope.default_formulas()
    formulas.register("aten.linalg_cholesky_ex")(lambda event: roofscope.Cost(0, 9, 0, 0))
    assert roofscope.analyze(UsesCholesky(), (3, 3), formulas=formulas, strict=True).uncounted == {}


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    no_global_state_left()
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
    for argv in (["seed-conv", "--input", "1,a3"], ["seed-conv", "--input", "1,-2"], ["seed-conv", "--causal", "lower"]):
        with pytest.raises(SystemExit) as info:
            cli.main(argv)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert "error:" in err and "Traceback" not in err
    no_global_state_left()


def test_cli_strict(capsys, monkeypatch):
    monkeypatch.setattr(cli, "resolve", lambda spec, **sizes: ResolvedModel(spec, UsesCholesky(), [(3, 3)]))
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
