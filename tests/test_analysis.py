"""The public API: input forms, the report's queries, clear errors, and the model left untouched."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import roofscope
from roofscope.models.examples import SimpleConv
from state_guard import untouched


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(5, 3)

    def forward(self, x, y=None, *, scale=1.0):
        return self.a(x) + (self.b(y) if y is not None else 0) * scale


def test_input_forms_give_the_same_counts():
    model = TwoInputs()
    x, y = torch.randn(2, 4), torch.randn(2, 5)
    expected = 2 * 4 * 3 + 2 * 5 * 3  # two linears on 2 rows
    assert roofscope.analyze(model, (x, y)).total.macs == expected
    assert roofscope.analyze(model, [(2, 4), (2, 5)]).total.macs == expected
    assert roofscope.analyze(model, {"x": x, "y": (2, 5)}).total.macs == expected
    assert roofscope.analyze(model, x).total.macs == 2 * 4 * 3
    assert roofscope.analyze(model, (2, 4)).total.macs == 2 * 4 * 3
    assert roofscope.analyze(model, roofscope.TensorSpec((2, 4))).total.macs == 2 * 4 * 3


def test_integer_inputs_from_tensor_spec():
    model = nn.Embedding(100, 8)
    report = roofscope.analyze(model, roofscope.TensorSpec((2, 16), torch.long, high=100))
    assert report.total.flops == 0
    # reads 32 int64 indices and the 32 rows looked up, writes 32 rows
    assert report.total.bytes_read == 32 * 8 + 32 * 8 * 4
    assert report.total.bytes_written == 32 * 8 * 4


def test_module_tree_self_and_total():
    report = roofscope.analyze(SimpleConv(), (1, 1, 28, 28))
    root = report.module("")
    assert root.total == sum((m.self for m in report.modules()), roofscope.Cost())
    assert report.module("conv1").self == report.module("conv1").total
    # relu and view run in the root's own forward: its self cost is the relus only
    assert root.self.macs == 0 and root.self.flops == (16 + 32) * 28 * 28  # one FLOP per relu element
    assert report.module("conv1").params.total == 16 * 9 + 16
    with pytest.raises(KeyError, match="did you mean 'conv1'"):
        report.module("conv_1")


def test_to_dict_is_json_and_consistent():
    report = roofscope.analyze(SimpleConv(), (1, 1, 28, 28))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["total"]["macs"] == 3_976_448
    assert data["total"]["matmul_flops"] == 2 * data["total"]["macs"]
    assert sum(op["cost"]["flops"] for op in data["ops"]) == data["total"]["flops"]
    assert sum(m["self"]["bytes_read"] for m in data["modules"]) == data["total"]["bytes_read"]


def test_unknown_op_is_reported_not_zero():
    class UsesCholesky(nn.Module):
        def forward(self, x):
            return torch.linalg.cholesky(x @ x.mT + torch.eye(x.shape[-1]))

    report = roofscope.analyze(UsesCholesky(), (3, 3))
    assert report.uncounted == {"aten.linalg_cholesky_ex": 1}
    assert report.module("").uncounted == {"aten.linalg_cholesky_ex": 1}


def test_user_formula_registration():
    formulas = roofscope.default_formulas()

    @formulas.register("aten::linalg_cholesky_ex")
    def cholesky(event):
        n = event.args[0].shape[-1]
        return roofscope.Cost(0, n**3 // 3, event.args[0].nbytes, event.output.nbytes)

    class UsesCholesky(nn.Module):
        def forward(self, x):
            return torch.linalg.cholesky(x)

    report = roofscope.analyze(UsesCholesky(), torch.eye(6), formulas=formulas)
    assert report.uncounted == {}
    assert report.by_op()["aten.linalg_cholesky_ex"].cost.flops == 72
    with pytest.raises(ValueError, match="already has a formula"):
        formulas.register("aten.mm")(cholesky)
    # the defaults are not changed by a registration on a copy
    assert "aten.linalg_cholesky_ex" not in roofscope.default_formulas()


@pytest.mark.parametrize("train", [False, True])
def test_model_unchanged(train):
    model = SimpleConv().train(train)
    model.fc.register_forward_hook(lambda m, i, o: None)
    with untouched(model):  # state_guard: the model, torch's global state and its RNG
        roofscope.analyze(model, (2, 1, 28, 28))


def test_model_unchanged_when_forward_raises():
    class Raises(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.bn = nn.BatchNorm1d(4)

        def forward(self, x):
            self.bn(self.fc(x))
            raise RuntimeError("boom")

    model = Raises().train()
    with untouched(model), pytest.raises(roofscope.CaptureError, match="boom"):
        roofscope.analyze(model, (3, 4))


def test_wrong_shape_names_module_and_inputs():
    with pytest.raises(roofscope.CaptureError) as info:
        roofscope.analyze(SimpleConv(), (1, 3, 28, 28))
    message = str(info.value)
    assert "module 'conv1' (Conv2d)" in message
    assert "float32[1, 3, 28, 28]" in message


def test_not_a_module():
    with pytest.raises(roofscope.AnalysisError, match="needs a torch.nn.Module, got int"):
        roofscope.analyze(3, (1,))
    with pytest.raises(roofscope.AnalysisError, match="call the model class"):
        roofscope.analyze(SimpleConv, (1, 1, 28, 28))


def test_forward_that_runs_no_op():
    class Nothing(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(roofscope.AnalysisError, match="ran no tensor operation"):
        roofscope.analyze(Nothing(), torch.randn(2))


def test_bad_inputs_type():
    with pytest.raises(TypeError, match="inputs must be"):
        roofscope.analyze(SimpleConv(), "1,1,28,28")


def test_meta_model_costs_no_memory_and_fake_mode_matches():
    with torch.device("meta"):
        meta_model = SimpleConv()
    meta = roofscope.analyze(meta_model, (4, 1, 28, 28))
    real = roofscope.analyze(SimpleConv(), (4, 1, 28, 28))
    fake = roofscope.analyze(SimpleConv(), (4, 1, 28, 28), fake=True)
    assert meta.total == real.total == fake.total


def test_fake_mode_in_train_leaves_batch_norm_statistics_alone():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fake = roofscope.analyze(model, (2, 3, 8, 8), fake=True)
    real = roofscope.analyze(model, (2, 3, 8, 8))
    assert fake.total == real.total
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_functional_calls_are_counted():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(8, 16))

        def forward(self, x):
            return F.linear(torch.matmul(x, x.mT) @ x, self.w)

    report = roofscope.analyze(Functional(), (2, 5, 16))
    # x x^T: 2*5*16*5, (..) @ x: 2*5*5*16, linear: 2*5*16*8
    assert report.total.macs == 800 + 800 + 1280


def test_shared_module_called_twice_and_tied_weights_counted_once():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 4)
            self.block = nn.Linear(4, 4)
            self.head = nn.Linear(4, 10, bias=False)
            self.head.weight = self.embed.weight

        def forward(self, ids):
            return self.head(self.block(self.block(self.embed(ids))))

    report = roofscope.analyze(Tied(), roofscope.TensorSpec((1, 3), torch.long, high=10))
    assert report.params.total == 10 * 4 + 4 * 4 + 4
    assert report.module("block").calls == 2
    assert report.module("block").total.macs == 2 * 3 * 4 * 4


def test_a_named_model_is_built_without_moving_the_random_generator():
    with untouched():  # resolving "seed-conv" draws random weights: from a generator put back after
        report = roofscope.analyze("seed-conv")
    assert report.total.macs > 0


def test_a_formula_that_fails_is_an_analysis_error_naming_the_op() -> None:
    from roofscope.formulas import default_formulas

    formulas = default_formulas()

    @formulas.register("aten.relu", replace=True)
    def broken(event):
        raise ValueError("not this shape")

    with pytest.raises(roofscope.AnalysisError, match=r"the formula for aten.relu \(user\) failed .*ValueError: not this shape"):
        roofscope.analyze(torch.nn.ReLU(), (2, 3), formulas=formulas)


def test_a_parameter_shared_below_a_module_is_counted_once_at_every_level_above() -> None:
    # outer -> (pair -> (a, b), c); a and b hold one weight, c holds a buffer and a weight of its own
    shared = nn.Parameter(torch.zeros(3, 5))
    pair = nn.ModuleDict({"a": nn.Linear(5, 3, bias=False), "b": nn.Linear(5, 3, bias=False)})
    pair["a"].weight = pair["b"].weight = shared
    c = nn.BatchNorm1d(4)
    outer = nn.ModuleDict({"pair": pair, "c": c})
    counts = roofscope.params.count_parameters(outer)
    assert counts["pair"].total == 15  # one 3 x 5 weight, not two
    assert counts["c"].total == 8 and counts["c"].buffers == 4 + 4 + 1  # running mean, var, batches seen
    assert counts[""].total == 15 + 8 and counts[""].buffers == 9
    assert counts[""].bytes == (15 + 8) * 4


def test_progress_follows_the_modules_as_they_first_run() -> None:
    model = SimpleConv()
    calls: list[tuple[str, int, int]] = []
    roofscope.analyze(model, (1, 1, 28, 28), progress=lambda step, done, total: calls.append((step, done, total)))
    total = len(list(model.named_modules()))
    assert {step for step, _, _ in calls} == {"forward"}
    assert [done for _, done, _ in calls] == list(range(1, len(calls) + 1))  # each module once, in order
    assert all(t == total for _, _, t in calls) and calls[-1][1] <= total


def test_a_named_model_takes_the_execution_mode() -> None:
    eager = roofscope.analyze("resnet18", device="h100")
    compiled = roofscope.analyze("resnet18", device="h100", mode="compiled")
    assert compiled.prediction is not None and compiled.prediction.mode == "compiled"
    assert compiled.total.predicted_s < eager.total.predicted_s  # fewer launches, fused bytes


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_left_as_it_was(enabled: bool) -> None:
    import gc

    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        roofscope.analyze(SimpleConv(), (1, 1, 28, 28))
        assert gc.isenabled() is enabled
        with pytest.raises(roofscope.CaptureError):
            roofscope.analyze(SimpleConv(), (1, 3, 28, 28))  # wrong channels: the forward raises
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
