"""inductor's own byte count of a compiled forward, against a hand count and the compiled-mode estimate."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch._dynamo.mutation_guard import install_generation_tagging_init

import roofscope
from roofscope.cli import main
from roofscope.measurement.inductor import inductor_bytes

# torch.compile rebinds nn.Module.__init__ and __setstate__ the first time it runs in a process, for
# good (it tags modules made inside a forward). Done here, at collection, so that the state check
# around each test sees torch as torch.compile leaves it, not that one-time change as this test's.
install_generation_tagging_init()


class _LinearGeluScaleLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.up = nn.Linear(64, 32)
        self.down = nn.Linear(32, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(nn.functional.gelu(self.up(x)) * 2)


def test_inductor_counts_the_fused_chain_once_as_the_estimate_does() -> None:
    torch.manual_seed(0)
    model, x = _LinearGeluScaleLinear().eval(), torch.randn(8, 64)
    # fp32 bytes by hand: up reads x (8x64), its weight (64x32) and bias (32), writes 8x32; GELU and
    # the scaling fuse into one kernel reading 8x32 and writing 8x32; down reads 8x32, 32x16 and 16,
    # writes 8x16. Unfused, the product reads and writes another 8x32.
    up = 4 * (8 * 64 + 64 * 32 + 32 + 8 * 32)
    chain = 4 * (8 * 32 + 8 * 32)
    down = 4 * (8 * 32 + 32 * 16 + 16 + 8 * 16)
    counted = inductor_bytes(model, x)
    assert counted.bytes == up + chain + down == 17_088
    assert counted.kernels == 3
    report = roofscope.analyze(model, x, device="h100", mode="compiled")
    assert report.total.timing is not None and report.total.timing.bytes == counted.bytes
    assert report.total.cost.bytes == counted.bytes + 4 * (8 * 32 + 8 * 32)  # the eager, unfused figure
    assert counted.difference(report.total.timing.bytes) == 0.0


@pytest.mark.parametrize(
    "argv",
    [
        ["seed-linear", "--inductor", "--device", "h100"],  # eager mode
        ["seed-linear", "--inductor", "--mode", "compiled"],  # no device
        ["seed-linear", "--inductor", "--mode", "compiled", "--device", "h100", "--backward"],
    ],
)
def test_inductor_needs_a_compiled_forward_on_a_device(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "--inductor checks the compiled-mode estimate" in error and len(error.strip().splitlines()) == 1
