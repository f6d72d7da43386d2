"""``analyze(..., backward=True)``: the backward pass counted under capture, against FlopCounterMode.

FlopCounterMode counts 2 * m * n * k for every matrix product and convolution of the forward and
the backward, and attributes backward work to modules too; roofscope's ``matmul_flops`` is the
same quantity (docs/conventions.md), in total and per module.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import roofscope


class Block(nn.Module):
    """Convolution, attention over the pixels, and an MLP: every matmul-class family."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.norm = nn.LayerNorm(16)
        self.qkv = nn.Linear(16, 48)
        self.mlp = nn.Sequential(nn.Linear(16, 64), nn.GELU(), nn.Linear(64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x).flatten(2).transpose(1, 2)  # [B, HW, 16]
        q, k, v = self.qkv(self.norm(h)).unsqueeze(1).chunk(3, dim=-1)  # one head: [B, 1, HW, 16]
        h = h + F.scaled_dot_product_attention(q, k, v).squeeze(1)
        return self.mlp(h).mean(1)


def flop_counter(model: nn.Module, x: torch.Tensor) -> FlopCounterMode:
    counter = FlopCounterMode(display=False)
    with sdpa_kernel(SDPBackend.MATH), counter:  # FlopCounterMode counts CPU attention on the math backend
        model(x).sum().backward()
    model.zero_grad(set_to_none=True)
    return counter


def test_forward_plus_backward_matches_flop_counter_in_total_and_per_module() -> None:
    torch.manual_seed(0)
    model, x = Block(), torch.randn(2, 3, 6, 6)
    report = roofscope.analyze(model, x, backward=True)
    counter = flop_counter(model, x)
    assert not report.uncounted
    assert report.total.matmul_flops == counter.get_total_flops()
    per_module = {name: sum(counts.values()) for name, counts in counter.get_flop_counts().items()}
    for name in ("conv", "qkv", "mlp", "mlp.0", "mlp.2"):
        assert report.module(name).total.matmul_flops == per_module[f"Block.{name}"], name
    # the forward phase is what analyze counts without backward=True, plus the loss: the sum of the
    # [2, 10] output (19 FLOPs, 80 bytes read, 4 written)
    forward_only = roofscope.analyze(model, x)
    assert report.forward.cost == forward_only.total.cost + roofscope.Cost(0, 19, 80, 4)
    assert report.forward.cost + report.backward.cost == report.total.cost
    assert {r.event.phase for r in report.ops} == {"forward", "backward"}
    assert all(p.grad is None for p in model.parameters())  # .grad put back as it was


def test_resnet18_forward_plus_backward_matches_flop_counter() -> None:
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model, x = torchvision.models.resnet18(), torch.randn(2, 3, 64, 64)
    report = roofscope.analyze(model, x, backward=True)
    counter = flop_counter(model, x)
    assert not report.uncounted
    assert report.total.matmul_flops == counter.get_total_flops()
    per_module = {name: sum(counts.values()) for name, counts in counter.get_flop_counts().items()}
    for name in ("conv1", "layer1", "layer3.0.conv1", "layer4.1.conv2", "fc"):
        assert report.module(name).total.matmul_flops == per_module[f"ResNet.{name}"], name
    # A shortcut branch: FlopCounterMode's module tracker keeps "downsample" open in the backward
    # until its input's gradient is done, which waits for the main branch, and charges it that
    # branch's work too; roofscope charges each backward op to the module that made its node:
    # the 1x1 convolution 128 -> 256 on 2 x 4 x 4 outputs, forward and two gradients.
    assert report.module("layer3.0.downsample").total.macs == 3 * 2 * 4 * 4 * 128 * 256
    assert per_module["ResNet.layer3.0.downsample"] > 10 * report.module("layer3.0.downsample").total.matmul_flops
    assert 1.9 < report.backward_forward_ratio < 2.0  # conv1 computes no input gradient


def test_backward_of_a_matmul_chain_is_twice_the_forward_but_the_first_input_gradient() -> None:
    """Each linear layer's backward is two products of its size (the gradients of its input and of
    its weight), except the first layer's input, which needs no gradient: (2L - 1) / L for L layers,
    approaching 2 for a deep model."""
    layers = 8
    model = nn.Sequential(*[nn.Linear(32, 32, bias=False) for _ in range(layers)])
    report = roofscope.analyze(model, (16, 32), backward=True)
    assert report.backward.macs / report.forward.macs == (2 * layers - 1) / layers
    assert report.backward_forward_ratio == pytest.approx(1.875, rel=0.01)  # element-wise work is tiny here
    assert report.module("0").total.macs == 2 * 16 * 32 * 32  # forward + weight gradient
    assert report.module("7").total.macs == 3 * 16 * 32 * 32  # forward + input and weight gradients


def test_a_model_that_returns_its_loss_has_that_loss_differentiated() -> None:
    """A "loss" entry (a transformers ModelOutput given labels, or a dict) is the loss; the other
    outputs are not summed into it."""

    class Scored(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(8, 5)

        def forward(self, x, labels):
            logits = self.linear(x)
            return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}

    report = roofscope.analyze(Scored(), (torch.randn(4, 8), torch.tensor([0, 3, 1, 4])), backward=True)
    assert report.uncounted == {}
    forward = [record.name for record in report.ops if record.event.phase == "forward"]
    assert "aten.nll_loss_forward" in forward and "aten.sum" not in forward  # the logits are not summed
    assert "aten.nll_loss_backward" in report.by_op()
    assert report.module("linear").total.macs == 2 * 4 * 8 * 5  # the forward and the weight gradient
    # without a loss entry, the outputs' sum is differentiated, as before
    summed = roofscope.analyze(nn.Linear(8, 5), (4, 8), backward=True)
    assert "aten.sum" in [record.name for record in summed.ops if record.event.phase == "forward"]


def test_backward_on_meta_fake_and_cpu_agree_and_leave_the_model_alone() -> None:
    torch.manual_seed(0)
    model, x = Block().train(), torch.randn(2, 3, 6, 6)
    grads_before = [p.grad for p in model.parameters()]
    on_cpu = roofscope.analyze(model, x, backward=True)
    on_fake = roofscope.analyze(model, x, backward=True, fake=True)
    with torch.device("meta"):
        meta_model = Block()
    on_meta = roofscope.analyze(meta_model, (2, 3, 6, 6), backward=True)
    assert on_cpu.total == on_fake.total == on_meta.total and not on_fake.uncounted
    # attention's backward is one logical op on every device (on meta autograd would run the math
    # decomposition, on CPU the fused kernel's backward): 2 (E + Ev) MACs per score, one head of 16
    (attention,) = [r for r in on_meta.ops if r.name == "roofscope.scaled_dot_product_attention_backward"]
    assert attention.cost.macs == 2 * 36 * 36 * 2 * (16 + 16) and attention.module == ""
    assert [t.shape for t in attention.event.outputs] == [(2, 1, 36, 16)] * 3  # the gradients of q, k and v
    assert [p.grad for p in model.parameters()] == grads_before and model.training
    assert all(p.requires_grad for p in model.parameters())


def test_rms_norm_backward_is_one_op_and_multi_head_attention_is_counted_as_autograd_runs_it() -> None:
    """nn.RMSNorm's backward is one logical op, as its forward. nn.MultiheadAttention's forward is
    one logical op, but its backward is what autograd runs on the device (the function mode does
    not see the attention inside it): on CPU the fused kernel's backward, on meta the math path's
    bmm and softmax backward, with the same matrix products (docs/conventions.md, "Backward")."""

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.RMSNorm(32)
            self.attn = nn.MultiheadAttention(32, 4, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.norm(x)
            return self.attn(h, h, h, need_weights=False)[0] + x

    torch.manual_seed(0)
    on_cpu = roofscope.analyze(Layer(), (2, 10, 32), backward=True)
    with torch.device("meta"):
        meta_model = Layer()
    on_meta = roofscope.analyze(meta_model, (2, 10, 32), backward=True)
    for report in (on_cpu, on_meta):
        (norm,) = [r for r in report.ops if r.event.phase == "backward" and r.module == "norm" and r.cost.flops]
        # the input needs no gradient (it is the model's input): the weight's gradient only, 2 FLOPs per element
        assert norm.name == "roofscope.rms_norm_backward" and norm.cost.flops == 2 * 10 * 32 * 2
    assert on_cpu.module("norm").total == on_meta.module("norm").total
    assert on_cpu.total.matmul_flops == on_meta.total.matmul_flops
    assert on_cpu.forward == on_meta.forward


def test_report_marks_the_phases_in_json_and_on_a_device() -> None:
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 64))
    report = roofscope.analyze(model, (32, 64), backward=True, device="h100", dtype="bf16")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["phases"]["forward"]["flops"] == report.forward.flops
    assert data["phases"]["backward"]["flops"] == report.backward.flops
    assert data["backward_forward_flops_ratio"] == report.backward_forward_ratio
    assert {op["phase"] for op in data["ops"]} == {"forward", "backward"}
    assert report.forward.predicted_s + report.backward.predicted_s == pytest.approx(report.total.predicted_s)
    plain = roofscope.analyze(model, (32, 64)).to_dict()
    assert "phases" not in plain and roofscope.analyze(model, (32, 64)).backward is None


class IntegerOutput(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.argmax(-1)


class Frozen(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4).requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


@pytest.mark.parametrize(
    ("model", "inputs", "message"),
    [
        (IntegerOutput(), (2, 4), "returned no floating-point tensor to differentiate (it returned int64[2])"),
        (nn.Embedding(10, 4).requires_grad_(False), roofscope.TensorSpec((2, 3), torch.long, 0, 10), "no output requires grad"),
        (Frozen(), (2, 4), "the output depends on no parameter with requires_grad=True"),
        (nn.ReLU(), (2, 4), "no output requires grad"),  # no parameters at all
    ],
    ids=["integer-output", "frozen-embedding", "frozen-linear", "no-parameters"],
)
def test_backward_impossible_is_a_clear_error(model, inputs, message) -> None:
    with pytest.raises(roofscope.AnalysisError, match="backward=True: cannot differentiate") as error:
        roofscope.analyze(model, inputs, backward=True)
    assert message in str(error.value)
