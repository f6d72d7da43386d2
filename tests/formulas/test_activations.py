"""Every activation module in torch.nn runs without an uncounted op, at its documented cost."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import roofscope

SHAPE = (2, 8, 6)
N = 2 * 8 * 6  # 96 elements

CONSTRUCTOR_ARGS = {
    "Threshold": (0.1, 20.0),
    "MultiheadAttention": (6, 2),
    "Softmax": (-1,),
    "LogSoftmax": (-1,),
    "Softmin": (-1,),
}


class SelfAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(*CONSTRUCTOR_ARGS["MultiheadAttention"], batch_first=True)

    def forward(self, x):
        return self.mha(x, x, x)[0]


@pytest.mark.parametrize("name", nn.modules.activation.__all__)
def test_every_activation_module_is_counted(name):
    if name == "MultiheadAttention":
        module = SelfAttention()
    else:
        module = getattr(nn, name)(*CONSTRUCTOR_ARGS.get(name, ()))
    report = roofscope.analyze(module.eval(), (torch.randn(SHAPE),))
    assert report.uncounted == {}
    assert report.total.flops > 0


class Fn(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


PER_ELEMENT = [
    ("relu", nn.ReLU(), 1),  # max(x, 0)
    ("gelu", nn.GELU(), 5),  # divide, erf, add, multiply, multiply
    ("gelu_tanh", nn.GELU(approximate="tanh"), 9),
    ("tanh", nn.Tanh(), 1),  # one elementary function evaluation
    ("silu", nn.SiLU(), 5),  # x * sigmoid(x): 4 + 1
    ("sigmoid", nn.Sigmoid(), 4),  # negate, exp, add, divide
    ("hardswish", nn.Hardswish(), 5),  # x * hardsigmoid(x): 4 + 1
    ("hardsigmoid", nn.Hardsigmoid(), 4),
    ("mish", nn.Mish(), 5),
    ("elu", nn.ELU(), 4),  # exp, subtract, multiply, select
    ("selu", nn.SELU(), 5),  # elu with scale 1.0507 != 1: 4 + 1 (input_scale is 1)
    ("celu_alpha_1", nn.CELU(), 4),  # as elu with scale 1 and input scale 1 / alpha = 1
    ("celu_alpha_2", nn.CELU(alpha=2.0), 5),  # input scale 1/2 != 1: 4 + 1
    ("leaky_relu", nn.LeakyReLU(), 2),  # x > 0 ? x : a * x
    ("hardtanh", nn.Hardtanh(), 2),
    ("relu6", nn.ReLU6(), 2),
    ("softplus", nn.Softplus(), 4),
    ("softplus_beta", nn.Softplus(beta=2.0), 6),  # + multiply and divide by beta
    ("logsigmoid", nn.LogSigmoid(), 5),
    ("threshold", nn.Threshold(0.1, 20.0), 1),
]


@pytest.mark.parametrize(("name", "module", "per_element"), PER_ELEMENT, ids=[case[0] for case in PER_ELEMENT])
def test_activation_cost_per_element(name, module, per_element):
    report = roofscope.analyze(module.eval(), (torch.randn(SHAPE),))
    assert report.uncounted == {}
    assert report.total.flops == per_element * N
    assert report.total.bytes_read == N * 4
    # log_sigmoid_forward also returns its full-size buffer (on cpu and meta alike): 2 outputs
    assert report.total.bytes_written == N * 4 * (2 if name == "logsigmoid" else 1)


def test_glu_per_output_element():
    report = roofscope.analyze(nn.GLU(), (torch.randn(SHAPE),))
    assert report.total.flops == 5 * 48  # output (2, 8, 3) = 48 elements * 5 (a * sigmoid(b))


def test_inplace_relu_reads_and_writes_back():
    report = roofscope.analyze(Fn(lambda x: F.relu(x, inplace=True)), (torch.randn(SHAPE),))
    assert report.total.flops == N  # 1 per element
    assert report.total.bytes_read == N * 4 and report.total.bytes_written == N * 4
