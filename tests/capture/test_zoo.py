"""The zoo: awkward models, each analysed on real tensors, with fake=True and on the meta device.

After every analysis: the model is unchanged and torch's global state is as it was
(state_guard.untouched: state_dict bitwise, parameters, buffers, training flags, attributes, hook
registries; dispatch and function modes, global hooks, grad and inference mode, default dtype and
device, deterministic and TF32 flags, the RNG, and the functions roofscope intercepts). Each model is
analysed twice: the second report equals the first (figures do not accumulate). Counts are checked
against hand arithmetic (docs/conventions.md): a Linear(i, o) on r rows is r*i*o MACs and
2*r*i*o + r*o FLOPs (the bias adds one per output), without bias 2*r*i*o; an element-wise op one FLOP
per element; a sum n_in - n_out; a clamp one per bound per element.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch._dynamo.mutation_guard import install_generation_tagging_init

import roofscope
from roofscope.capture import LOGICAL_OPS
from roofscope.render.table import render_terminal
from state_guard import NAMESPACES, untouched

MODES = ("real", "fake", "meta")


def linear_flops(rows: int, i: int, o: int, bias: bool = True) -> int:
    return 2 * rows * i * o + (rows * o if bias else 0)


# ------------------------------------------------------------------------------------------ models


class ControlFlow(nn.Module):
    """Branches on a value: the second layer runs only when the first one's output sums positive."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        with torch.no_grad():
            self.fc.weight.fill_(0.1)
            self.fc.bias.zero_()

    def forward(self, x):
        y = self.fc(x)
        if y.sum() > 0:
            y = self.fc(y)
        return y


class SeveralInOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(5, 3)

    def forward(self, x, y):
        return self.a(x), self.b(y)


class DictOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return {"logits": self.fc(x), "hidden": x.relu()}


@dataclasses.dataclass
class Output:
    logits: torch.Tensor
    hidden: torch.Tensor


class DataclassOut(DictOut):
    def forward(self, x):
        return Output(**super().forward(x))


class InPlace(nn.Module):
    """Writes its own parameters and buffers in place, through the tensor, .data and a view."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("scratch", torch.zeros(4), persistent=False)

    def forward(self, x):
        with torch.no_grad():
            self.fc.weight.clamp_(-0.1, 0.1)  # 16 elements x 2 bounds
            self.fc.bias.data.mul_(2.0)  # 4
            self.fc.weight[0].zero_()  # a view of the parameter: a fill, 0 FLOPs
        self.steps += 1  # an integer add: not a floating-point operation, 0
        self.scratch.copy_(x[0])  # 0
        y = self.fc(x)
        y.relu_()  # 8
        y += 1  # 8
        return y


class Shared(nn.Module):
    """One module called twice."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Linear(4, 4)

    def forward(self, x):
        return self.block(self.block(x))


class Tied(nn.Module):
    """The head's weight is the embedding's: counted once."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids):
        return self.head(self.embed(ids))


class KeywordOnly(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(5, 3)

    def forward(self, x, *, y, scale=2.0):
        return self.a(x) + self.b(y) * scale


class Hooked(nn.Module):
    """The user's own hooks: counting ones of every kind, and a forward hook that computes."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.fired: dict[str, int] = {}
        self.last_norm = None
        count = self.count
        self.fc.register_forward_pre_hook(lambda m, args: count("pre"))
        self.fc.register_forward_pre_hook(lambda m, args, kwargs: count("pre_kwargs"), with_kwargs=True)
        self.fc.register_forward_hook(lambda m, args, out: count("forward"))
        self.fc.register_forward_hook(lambda m, args, kwargs, out: count("forward_kwargs"), with_kwargs=True)
        self.fc.register_forward_hook(lambda m, args, out: count("always"), always_call=True)
        self.fc.register_full_backward_hook(lambda m, gin, gout: count("backward"))
        self.register_forward_hook(self.log_norm)

    def count(self, kind: str) -> None:
        self.fired[kind] = self.fired.get(kind, 0) + 1

    def log_norm(self, module, args, output):
        self.count("log_norm")
        self.last_norm = output.abs().sum()  # 8 + 7 FLOPs, run by the user's hook: counted once

    def forward(self, x):
        return self.fc(x)


def deep(layers: int = 1000) -> nn.Module:
    return nn.Sequential(*[nn.Linear(4, 4, bias=False) for _ in range(layers)])


class ForwardInInferenceMode(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        with torch.inference_mode():
            return self.fc(x).relu()


class Midtraining(nn.Module):
    """Gradients from a previous step, a frozen layer, and train mode with batch norm and dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)
        self.fc = nn.Linear(4, 4)
        self.bn = nn.BatchNorm1d(4)
        self.drop = nn.Dropout(0.5)
        if self.fc.weight.device.type != "meta":
            self.bn(self.fc(self.frozen(torch.ones(3, 4)))).sum().backward()  # .grad populated

    def forward(self, x):
        return self.drop(self.bn(self.fc(self.frozen(x))))


class WeightNormed(nn.Module):
    """A parametrization: the module's class is generated, its weight computed at every call."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.utils.parametrizations.weight_norm(nn.Linear(4, 4))

    def forward(self, x):
        return self.fc(x)


# -------------------------------------------------------------------------------------------- cases


@dataclasses.dataclass
class Case:
    name: str
    build: Callable[[], nn.Module]
    inputs: Callable[[], Any]
    macs: int
    flops: int | None = None  # None: not checked by hand (the MACs are)
    params: int | None = None
    calls: dict[str, int] = dataclasses.field(default_factory=dict)
    train: bool = False
    context: Callable[[], Any] = contextlib.nullcontext
    value_dependent: bool = False  # reads tensor values: fake and meta tensors have none


ZOO = [
    Case(
        "control_flow",
        ControlFlow,
        lambda: torch.ones(2, 8),
        # both layers run: 0.1 * 8 > 0; then sum (16 - 1) and the comparison (1)
        macs=2 * 2 * 8 * 8,
        flops=2 * linear_flops(2, 8, 8) + 15 + 1,
        calls={"fc": 2},
        value_dependent=True,
    ),
    Case(
        "several_inputs_and_outputs",
        SeveralInOut,
        lambda: [(2, 4), (2, 5)],
        macs=2 * 4 * 3 + 2 * 5 * 3,
        flops=linear_flops(2, 4, 3) + linear_flops(2, 5, 3),
        params=15 + 18,
    ),
    Case("dict_output", DictOut, lambda: (2, 4), macs=24, flops=linear_flops(2, 4, 3) + 8),
    Case("dataclass_output", DataclassOut, lambda: (2, 4), macs=24, flops=linear_flops(2, 4, 3) + 8),
    Case(
        "in_place",
        InPlace,
        lambda: (2, 4),
        macs=2 * 4 * 4,
        flops=16 * 2 + 4 + linear_flops(2, 4, 4) + 8 + 8,
        train=True,
    ),
    Case("module_called_twice", Shared, lambda: (2, 4), macs=2 * 32, flops=2 * linear_flops(2, 4, 4), calls={"block": 2}),
    Case(
        "tied_weights",
        Tied,
        lambda: roofscope.TensorSpec((1, 3), torch.long, high=10),
        macs=3 * 4 * 10,
        flops=linear_flops(3, 4, 10, bias=False),
        params=10 * 4,
    ),
    Case(
        "keyword_only_inputs",
        KeywordOnly,
        lambda: {"x": (2, 4), "y": (2, 5), "scale": 3.0},
        macs=24 + 30,
        flops=linear_flops(2, 4, 3) + linear_flops(2, 5, 3) + 6 + 6,
    ),
    Case("user_hooks", Hooked, lambda: (2, 4), macs=32, flops=linear_flops(2, 4, 4) + 8 + 7, calls={"fc": 1}),
    Case("thousand_layers", deep, lambda: (1, 4), macs=1000 * 16, flops=1000 * 32, params=1000 * 16, calls={"999": 1}),
    Case(
        "analysed_in_inference_mode",
        lambda: nn.Sequential(nn.Linear(4, 4), nn.GELU()),
        lambda: (2, 4),
        macs=32,
        flops=linear_flops(2, 4, 4) + 5 * 8,
        context=torch.inference_mode,
    ),
    Case("forward_enters_inference_mode", ForwardInInferenceMode, lambda: (2, 4), macs=32, flops=linear_flops(2, 4, 4) + 8),
    Case(
        "mid_training",
        Midtraining,
        lambda: (2, 4),
        # batch norm in training over 4 channels of 2 values: 4 * (5 * 2 + 2) statistics, weight
        # and bias on 8 elements, 8 per channel to update the running statistics; dropout 2 per
        # element; num_batches_tracked += 1 is an integer add (0)
        macs=2 * 32,
        flops=2 * linear_flops(2, 4, 4) + 4 * 12 + 2 * 8 + 4 * 8 + 2 * 8,
        train=True,
    ),
    # weight norm over the 4 rows of a 4 x 4 weight: 3 * 16 + 4
    Case("parametrized_weight", WeightNormed, lambda: (2, 4), macs=32, flops=3 * 16 + 4 + linear_flops(2, 4, 4)),
]


def build(case: Case, mode: str) -> nn.Module:
    if mode == "meta":
        with torch.device("meta"):
            model = case.build()
    else:
        model = case.build()
    return model.train(case.train)


def analyze(model: nn.Module, case: Case, mode: str) -> roofscope.Report:
    with untouched(model):
        return roofscope.analyze(model, case.inputs(), fake=mode == "fake")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", ZOO, ids=lambda case: case.name)
def test_zoo(case: Case, mode: str) -> None:
    model = build(case, mode)
    with case.context():
        if case.value_dependent and mode != "real":
            with pytest.raises(roofscope.CaptureError, match="(?s)reads a tensor's value.*analyse with real tensors"):
                analyze(model, case, mode)
            return
        first = analyze(model, case, mode)
        second = analyze(model, case, mode)
    assert first.to_dict() == second.to_dict(), "a second analysis must give the same report"
    assert first.uncounted == {}
    assert first.total.macs == case.macs
    if case.flops is not None:
        assert first.total.flops == case.flops
    if case.params is not None:
        assert first.params.total == case.params
    for name, calls in case.calls.items():
        assert first.module(name).calls == calls


def test_every_mode_counts_the_same() -> None:
    for case in ZOO:
        if not case.value_dependent:
            totals = {mode: roofscope.analyze(build(case, mode), case.inputs(), fake=mode == "fake").total for mode in MODES}
            assert len(set(totals.values())) == 1, (case.name, totals)


@pytest.mark.parametrize("mode", MODES)
def test_user_hooks_fire_as_in_a_plain_forward(mode: str) -> None:
    model = build(ZOO[[case.name for case in ZOO].index("user_hooks")], mode)
    model(torch.ones(2, 4, device=model.fc.weight.device))
    plain = dict(model.fired)
    assert plain == {"pre": 1, "pre_kwargs": 1, "forward": 1, "forward_kwargs": 1, "always": 1, "log_norm": 1}
    model.fired.clear()
    report = roofscope.analyze(model, (2, 4), fake=mode == "fake")
    assert model.fired == plain  # every hook once, as in the plain forward; none twice
    assert report.module("fc").calls == 1
    # the user's computing hook is counted once, and the layer alone as without it
    assert report.module("fc").total.flops == linear_flops(2, 4, 4)
    assert report.total.flops == linear_flops(2, 4, 4) + 8 + 7


def test_user_global_hooks_are_kept_and_fire_as_in_a_plain_forward() -> None:
    from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

    fired = {"pre": 0, "post": 0}
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    pre = register_module_forward_pre_hook(lambda m, args: fired.__setitem__("pre", fired["pre"] + 1))
    post = register_module_forward_hook(lambda m, args, out: fired.__setitem__("post", fired["post"] + 1))
    try:
        model(torch.ones(2, 4))
        plain = dict(fired)
        with untouched(model):  # the user's global hooks are part of the state: still registered after
            report = roofscope.analyze(model, (2, 4))
        assert {key: value - plain[key] for key, value in fired.items()} == plain == {"pre": 3, "post": 3}
        assert report.total.macs == 32
    finally:
        pre.remove()
        post.remove()


def test_an_error_in_a_user_hook_is_reported_and_nothing_left() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())

    def broken(module, args, output):
        raise ValueError("the user's hook failed")

    model[0].register_forward_hook(broken)
    with (
        untouched(model),
        pytest.raises(
            roofscope.CaptureError,
            match="module '0' \\(Linear\\) on float32\\[2, 4\\] with float32 parameters: ValueError: the user's hook failed",
        ),
    ):
        roofscope.analyze(model, (2, 4))


class RaisesHalfWay(nn.Module):
    """Updates batch norm statistics and its own weights, then raises."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.bn = nn.BatchNorm1d(4)
        self.after = nn.Linear(4, 4)

    def forward(self, x):
        y = self.bn(self.fc(x))
        with torch.no_grad():
            self.fc.weight.mul_(0.5)
        self.inner(y)
        return self.after(y)

    def inner(self, y):
        raise RuntimeError("half-way")


@pytest.mark.parametrize("mode", MODES)
def test_model_that_raises_half_way(mode: str) -> None:
    model = RaisesHalfWay()
    if mode == "meta":
        model = model.to("meta")
    model.train()
    for _ in range(2):  # and again: nothing of the failed run is left to accumulate
        with untouched(model), pytest.raises(roofscope.CaptureError) as info:
            roofscope.analyze(model, (3, 4), fake=mode == "fake")
        message = str(info.value)
        assert "the forward pass failed in the model's own forward (RaisesHalfWay): RuntimeError: half-way" in message
        assert "inputs given: float32[3, 4]" in message
    report = roofscope.analyze(nn.Sequential(nn.Linear(4, 4)), (3, 4))  # a later analysis is clean
    assert report.total.macs == 48


def test_thousand_layers_render_and_export_without_recursion_error() -> None:
    report = roofscope.analyze(deep(), (1, 4), device="h100")
    assert report.total.macs == 16_000 and len(list(report.modules())) == 1001
    assert render_terminal(report, depth=3, exact=True, ops=5) is not None
    assert len(report.to_dict()["modules"]) >= 1000


def test_deeply_nested_model() -> None:
    """Nesting as deep as a plain forward manages (each level costs torch a few Python frames)."""

    def nest(depth: int) -> nn.Module:
        model: nn.Module = nn.Linear(4, 4, bias=False)
        for _ in range(depth):
            model = nn.Sequential(model)
        return model

    model = nest(150)
    model(torch.ones(1, 4))
    with untouched(model):
        report = roofscope.analyze(model, (1, 4))
    assert report.total.macs == 16 and max(m.depth for m in report.modules()) == 150
    render_terminal(report, depth=200)
    report.to_dict()


def test_intercepted_functions_are_watched() -> None:
    """The functions roofscope intercepts (its logical ops) are among the names state_guard checks
    are still the original objects after each analysis."""
    watched = {id(value) for namespace in NAMESPACES.values() for value in vars(namespace).values()}
    assert LOGICAL_OPS and all(id(function) in watched for function in LOGICAL_OPS)
    assert F.scaled_dot_product_attention in LOGICAL_OPS


def test_state_guard_sees_changes() -> None:
    """The guard itself: each kind of change it must catch, it catches."""
    from state_guard import differences, global_state, model_state

    for apply in (
        lambda m: m.fc.weight.data.add_(1),
        lambda m: m.steps.add_(1),
        lambda m: m.train(),
        lambda m: setattr(m.fc, "extra", 1),
        lambda m: m.fc.register_forward_hook(lambda *a: None),
        lambda m: m.fc.weight.requires_grad_(False),
        lambda m: setattr(m.fc, "weight", nn.Parameter(m.fc.weight.detach().clone())),
    ):
        model = InPlace().eval()
        before = model_state(model)
        apply(model)
        assert differences(before, model_state(model)), apply
    state = global_state()
    torch.manual_seed(1)
    assert [line for line in differences(state, global_state()) if line.startswith("cpu RNG")]
    handle = torch.nn.modules.module.register_module_forward_hook(lambda *a: None)
    try:
        assert any("_global_forward_hooks" in line for line in differences(state, global_state(rng=False)))
    finally:
        handle.remove()
    original = F.relu
    try:
        F.relu = lambda x: x
        assert any("rebound relu" in line for line in differences(state, global_state(rng=False)))
    finally:
        F.relu = original


# ------------------------------------------------- quantised, compiled and scripted models (real only)


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8)).eval()


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_dynamically_quantised_model() -> None:
    """int8 weights packed by quantize_dynamic: parameters 16*32 + 32 + 32*8 + 8 = 808 at 1 byte a
    weight and 4 a bias; MACs 4*16*32 + 4*32*8; FLOPs per layer 2 MACs + the bias + 5 per input
    element (its range and quantisation) + 1 per output (rescale), and the ReLU's 4*32."""
    model = torch.ao.quantization.quantize_dynamic(mlp(), {nn.Linear}, dtype=torch.qint8)
    with untouched(model):
        report = roofscope.analyze(model, (4, 16))
    assert report.uncounted == {}
    assert report.params.total == 808 and report.params.trainable == 0
    assert report.params.bytes == (16 * 32 + 32 * 8) * 1 + (32 + 8) * 4
    first = 2 * 4 * 16 * 32 + 4 * 32 + 5 * 4 * 16 + 4 * 32
    second = 2 * 4 * 32 * 8 + 4 * 8 + 5 * 4 * 32 + 4 * 8
    assert (report.total.macs, report.total.flops) == (4 * 16 * 32 + 4 * 32 * 8, first + 4 * 32 + second)
    assert report.module("0").total.bytes_read == 4 * 16 * 4 + 16 * 32 + 32 * 4  # input, int8 weight, float bias


class StaticQuantised(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8 * 6 * 6, 10)
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        return self.dequant(self.fc(self.conv(self.quant(x)).flatten(1)))


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_statically_quantised_model() -> None:
    """Static int8: quantise the input (3 an element), an int8 convolution 2*8*6*6 x 3*9 MACs and an
    int8 linear 2 x 288 x 10, each with its bias and a requantisation of 3 per output, dequantise (2)."""
    model = StaticQuantised().eval()
    model.qconfig = torch.ao.quantization.get_default_qconfig("fbgemm")
    prepared = torch.ao.quantization.prepare(model)
    prepared(torch.randn(2, 3, 8, 8))
    quantised = torch.ao.quantization.convert(prepared)
    report = roofscope.analyze(quantised, (2, 3, 8, 8))
    assert report.uncounted == {}
    assert report.params.total == 8 * 27 + 8 + 288 * 10 + 10
    conv, fc = 2 * 8 * 36 * 27, 2 * 288 * 10
    assert report.total.macs == conv + fc
    expected = 3 * 2 * 3 * 64 + (2 * conv + 4 * 2 * 8 * 36) + (2 * fc + 4 * 2 * 10) + 2 * 2 * 10
    assert report.total.flops == expected


def test_compiled_module_is_analysed_as_its_original() -> None:
    model = mlp()
    compiled = torch.compile(model)
    report = roofscope.analyze(compiled, (4, 16))
    assert report.to_dict()["total"] == roofscope.analyze(model, (4, 16)).to_dict()["total"]
    assert report.total.macs == 4 * 16 * 32 + 4 * 32 * 8
    assert report.model_name == "Sequential"
    assert any("torch.compile" in note for note in report.notes)


# The first call of anything torch.compile'd rebinds nn.Module.__init__ and __setstate__ for good
# (torch tags modules made inside a forward), even where it then runs eagerly. Done at collection, so
# that the state checks around each test see torch as it is after that one-time change.
install_generation_tagging_init()


class _CompiledInside(nn.Module):
    """A model that compiles parts of itself: a submodule and a function its forward calls."""

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.compile(mlp())
        self.head = nn.Linear(8, 4)
        self.activation = torch.compile(lambda x: F.gelu(x) + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.head(self.body(x)))


def test_code_a_model_compiles_runs_eagerly_under_analysis() -> None:
    # The same ops as the eager model's, and nothing compiled on the way: compiling under the
    # capture's modes would trace the recorder (and take compile time on every analysis).
    model = _CompiledInside()
    eager = nn.Sequential(model.body._orig_mod, model.head, nn.GELU())
    frames = dict(torch._dynamo.utils.counters["frames"])
    with untouched(model):
        report = roofscope.analyze(model, (4, 16))
    assert dict(torch._dynamo.utils.counters["frames"]) == frames
    ops = [record.name for record in report.ops]
    assert ops == [record.name for record in roofscope.analyze(eager, (4, 16)).ops] + ["aten.add"]
    assert report.total.macs == 4 * 16 * 32 + 4 * 32 * 8 + 4 * 8 * 4


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("kind", ["script", "trace"])
def test_torchscript_module_is_analysed_with_its_ops_at_the_root(kind: str) -> None:
    model = mlp()
    scripted = torch.jit.script(model) if kind == "script" else torch.jit.trace(model, torch.randn(4, 16))
    report = roofscope.analyze(scripted, (4, 16))
    assert report.total == roofscope.analyze(model, (4, 16)).total
    assert {record.module for record in report.ops} == {""}
    assert any("TorchScript" in note for note in report.notes)


@pytest.mark.parametrize("mode", ["real", "meta"])
def test_backward_leaves_an_input_gradient_as_it_was(mode: str) -> None:
    device = "meta" if mode == "meta" else "cpu"
    model = mlp().to(device)
    x = torch.randn(4, 16, device=device, requires_grad=True)
    previous = torch.ones(4, 16, device=device)
    x.grad = previous
    report = roofscope.analyze(model, (x,), backward=True)
    assert report.backward is not None
    assert x.grad is previous
    fresh = torch.randn(4, 16, device=device, requires_grad=True)
    roofscope.analyze(model, (fresh,), backward=True)
    assert fresh.grad is None


class SharedBlock(nn.Module):
    """One Linear held by two parents, a and b, each calling it once."""

    def __init__(self) -> None:
        super().__init__()
        block = nn.Linear(4, 4, bias=False)
        self.a = nn.Sequential(block)
        self.b = nn.Sequential(block)

    def forward(self, x):
        return self.b(self.a(x))


def test_shared_submodule_charged_to_its_owner_or_to_each_caller() -> None:
    model = SharedBlock()
    owner = roofscope.analyze(model, (1, 4))
    assert [(m.name, m.total.macs, m.calls) for m in owner.modules()] == [("", 32, 1), ("a", 32, 1), ("a.0", 32, 2), ("b", 0, 1)]
    caller = roofscope.analyze(model, (1, 4), shared="caller")
    assert [(m.name, m.total.macs, m.calls) for m in caller.modules()] == [
        ("", 32, 1),
        ("a", 16, 1),
        ("a.0", 16, 1),
        ("b", 16, 1),
        ("b.0", 16, 1),
    ]
    assert caller.total == owner.total and caller.params.total == owner.params.total == 16
    assert caller.module("b").params.total == 16
    with pytest.raises(roofscope.AnalysisError, match="shared must be one of"):
        roofscope.analyze(model, (1, 4), shared="both")


def test_partial_counts_a_meta_forward_up_to_the_value_it_needs() -> None:
    """ControlFlow branches on a value: on meta it stops there, with a note; the first layer and the
    sum before the branch are counted."""
    with torch.device("meta"):
        model = ControlFlow()
    with pytest.raises(roofscope.CaptureError):
        roofscope.analyze(model, (2, 8))
    report = roofscope.analyze(model, (2, 8), partial=True)
    assert report.total.macs == 2 * 8 * 8
    assert len(report.notes) == 1 and "counted up to" in report.notes[0] and "\n" not in report.notes[0]
    assert roofscope.analyze(ControlFlow(), (2, 8), partial=True).notes == ()


class _Parts(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = x * 2
        a, _ = y.split(3, dim=1)
        _, d = y.chunk(2, dim=1)
        rows = y.unbind(0)
        return a + d, rows[1] * 3


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_the_parts_of_a_split_live_in_the_buffer_they_were_cut_from(device: str) -> None:
    # split, chunk and unbind return views of their input: the prediction follows data by buffer,
    # so their parts must be in the buffer the product was written to, not new ones of their own.
    report = roofscope.analyze(_Parts(), torch.randn(2, 6, device=device))
    product = report.ops[0].event.output.buffer
    cut = [record for record in report.ops if record.name in ("aten.split", "aten.unbind")]
    assert [record.name for record in cut] == ["aten.split", "aten.split", "aten.unbind"]
    for record in cut:
        assert [part.buffer for part in record.event.outputs] == [product, product]
    assert [tensor.buffer for tensor in report.ops[-2].event.inputs] == [product, product]  # a + d
