"""roofscope's matmul FLOPs against an independent source: torch.utils.flop_counter.FlopCounterMode.

FlopCounterMode counts 2 * m * n * k for every matrix product and convolution and ignores biases;
that is roofscope's ``matmul_flops`` (2 * MACs) by definition (docs/conventions.md).
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import roofscope


class Fn(nn.Module):
    """A functional call as a module, its tensors passed as inputs."""

    def __init__(self, fn, **params: torch.Tensor) -> None:
        super().__init__()
        self.fn = fn
        for name, value in params.items():
            self.register_parameter(name, nn.Parameter(value, requires_grad=False))

    def forward(self, *args):
        return self.fn(self, *args)


def flop_counter_total(model: nn.Module, inputs: tuple) -> int:
    # FlopCounterMode has no formula for the fused CPU attention kernel
    # (_scaled_dot_product_flash_attention_for_cpu counts 0), so it counts attention on the math
    # backend, whose bmm/matmul products it does count; other ops are unaffected.
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:
        model(*inputs)
    return counter.get_total_flops()


def assert_matches_flop_counter(model: nn.Module, inputs: tuple) -> roofscope.Report:
    expected = flop_counter_total(model, inputs)
    report = roofscope.analyze(model, inputs)
    assert report.uncounted == {}
    assert expected > 0
    assert report.total.matmul_flops == expected
    return report


@pytest.mark.parametrize(("m", "k", "n"), [(1, 1, 1), (3, 5, 7), (16, 33, 8), (2, 64, 1)])
def test_mm(m, k, n):
    model = Fn(lambda self, a, b: torch.mm(a, b))
    report = assert_matches_flop_counter(model, (torch.randn(m, k), torch.randn(k, n)))
    assert report.total.macs == m * k * n


@pytest.mark.parametrize(("m", "k", "n"), [(3, 5, 7), (10, 4, 12)])
@pytest.mark.parametrize(("alpha", "beta"), [(1, 1), (0.5, 2.0)])
def test_addmm(m, k, n, alpha, beta):
    model = Fn(lambda self, c, a, b: torch.addmm(c, a, b, alpha=alpha, beta=beta))
    assert_matches_flop_counter(model, (torch.randn(n), torch.randn(m, k), torch.randn(k, n)))


@pytest.mark.parametrize(("b", "m", "k", "n"), [(1, 2, 3, 4), (5, 7, 3, 2), (3, 16, 8, 16)])
def test_bmm(b, m, k, n):
    model = Fn(lambda self, x, y: torch.bmm(x, y))
    report = assert_matches_flop_counter(model, (torch.randn(b, m, k), torch.randn(b, k, n)))
    assert report.total.macs == b * m * k * n


@pytest.mark.parametrize(("b", "m", "k", "n"), [(2, 3, 4, 5), (4, 8, 2, 6)])
def test_baddbmm(b, m, k, n):
    model = Fn(lambda self, c, x, y: torch.baddbmm(c, x, y, beta=0.5, alpha=2.0))
    assert_matches_flop_counter(model, (torch.randn(b, m, n), torch.randn(b, m, k), torch.randn(b, k, n)))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4)])
def test_linear(shape, bias):
    assert_matches_flop_counter(nn.Linear(4, 6, bias=bias), (torch.randn(shape),))


CONVS = [
    # (module, input shape)
    (nn.Conv1d(3, 5, 3), (2, 3, 11)),
    (nn.Conv1d(4, 6, 5, stride=2, padding=2, dilation=2, groups=2), (1, 4, 20)),
    (nn.Conv2d(3, 8, 3, padding=1), (2, 3, 9, 9)),
    (nn.Conv2d(4, 8, (3, 5), stride=(2, 1), padding=(1, 2), bias=False), (1, 4, 10, 12)),
    (nn.Conv2d(6, 6, 3, groups=6, padding=1), (1, 6, 7, 7)),  # depthwise
    (nn.Conv2d(4, 8, 3, dilation=2, groups=2), (2, 4, 11, 11)),
    (nn.Conv3d(2, 4, 3, padding=1), (1, 2, 5, 6, 7)),
    (nn.Conv3d(4, 4, (1, 3, 3), stride=2, groups=4, bias=False), (1, 4, 5, 9, 9)),
    (nn.ConvTranspose1d(3, 5, 4, stride=2), (2, 3, 7)),
    (nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1), (1, 4, 5, 5)),
    (nn.ConvTranspose2d(4, 8, 3, groups=2, dilation=2), (1, 4, 6, 6)),
    (nn.ConvTranspose3d(2, 3, 2, stride=2), (1, 2, 3, 4, 5)),
]


@pytest.mark.parametrize(("module", "shape"), CONVS, ids=lambda v: repr(v) if isinstance(v, tuple) else type(v).__name__)
def test_convolution(module, shape):
    assert_matches_flop_counter(module.eval(), (torch.randn(shape),))


SDPA_CASES = [
    # (query shape, key shape, value shape, kwargs)
    ((2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 8), {}),
    ((2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6), {}),  # Ev != E
    ((1, 2, 6, 4), (1, 2, 6, 4), (1, 2, 6, 4), {"is_causal": True}),
    ((1, 4, 3, 8), (1, 2, 5, 8), (1, 2, 5, 8), {"enable_gqa": True}),
    ((3, 7, 16), (3, 9, 16), (3, 9, 16), {}),  # no head dimension
]


@pytest.mark.parametrize(("q", "k", "v", "kwargs"), SDPA_CASES)
def test_scaled_dot_product_attention(q, k, v, kwargs):
    model = Fn(lambda self, q_, k_, v_: F.scaled_dot_product_attention(q_, k_, v_, **kwargs))
    assert_matches_flop_counter(model, (torch.randn(q), torch.randn(k), torch.randn(v)))


def test_scaled_dot_product_attention_with_mask():
    mask = torch.rand(4, 5) > 0.3
    mask[:, 0] = True  # no fully masked row
    model = Fn(lambda self, q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert_matches_flop_counter(model, (torch.randn(2, 3, 4, 8), torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 8)))
