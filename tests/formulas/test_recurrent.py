"""Recurrent layers and cells: hand counts (formulas/recurrent.py), the same counts on cpu, meta and
fake tensors (and cuda when present), and torchprofile's expectations for its LSTM cases.

By hand, per token and per layer-direction, gates G, hidden H, layer input I: MACs = G*H*(I + H);
FLOPs = 2 MACs + G*H (the two products added) + 2 G*H with biases + the cell (LSTM 18 H, GRU 14 H,
RNN H)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import roofscope

MODES = ("cpu", "meta", "fake")


def per_token(gates: int, hidden: int, inputs: int, cell: int, bias: bool = True) -> tuple[int, int]:
    macs = gates * hidden * (inputs + hidden)
    return macs, 2 * macs + gates * hidden + (2 * gates * hidden if bias else 0) + cell * hidden


def counts(build, shape, mode: str) -> roofscope.Report:
    if mode == "meta":
        with torch.device("meta"):
            model = build()
    else:
        model = build()
    return roofscope.analyze(model.eval(), shape, fake=mode == "fake")


def lstm_2layer_bidir() -> tuple[int, int]:
    """2 layers x 2 directions, I=32, H=64, 10 tokens: the second layer reads 2H = 128 features."""
    first, second = per_token(4, 64, 32, 18), per_token(4, 64, 128, 18)
    return 10 * 2 * (first[0] + second[0]), 10 * 2 * (first[1] + second[1])


CASES = {
    # name: (build, input shape, (MACs, FLOPs) by hand)
    "lstm": (lambda: nn.LSTM(16, 32), (5, 1, 16), tuple(5 * c for c in per_token(4, 32, 16, 18))),
    "lstm_2layer_bidir": (lambda: nn.LSTM(32, 64, num_layers=2, bidirectional=True, batch_first=True), (1, 10, 32), lstm_2layer_bidir()),
    "gru": (lambda: nn.GRU(16, 32), (5, 3, 16), tuple(15 * c for c in per_token(3, 32, 16, 14))),
    "rnn_tanh": (lambda: nn.RNN(16, 32), (5, 3, 16), tuple(15 * c for c in per_token(1, 32, 16, 1))),
    "rnn_relu_no_bias": (
        lambda: nn.RNN(16, 32, nonlinearity="relu", bias=False),
        (5, 3, 16),
        tuple(15 * c for c in per_token(1, 32, 16, 1, bias=False)),
    ),
    "lstm_cell": (lambda: nn.LSTMCell(16, 32), (3, 16), tuple(3 * c for c in per_token(4, 32, 16, 18))),
    "gru_cell": (lambda: nn.GRUCell(16, 32), (3, 16), tuple(3 * c for c in per_token(3, 32, 16, 14))),
    "rnn_cell": (lambda: nn.RNNCell(16, 32), (3, 16), tuple(3 * c for c in per_token(1, 32, 16, 1))),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", CASES)
def test_hand_counts_on_every_device(name: str, mode: str) -> None:
    build, shape, (macs, flops) = CASES[name]
    report = counts(build, shape, mode)
    assert report.uncounted == {}
    assert (report.total.macs, report.total.flops) == (macs, flops)


def test_same_bytes_on_every_device() -> None:
    for build, shape, _ in CASES.values():
        totals = {mode: counts(build, shape, mode).total for mode in MODES}
        assert len(set(totals.values())) == 1, totals


def test_lstm_with_projection() -> None:
    """proj_size P: the recurrent product is G*H x P, and h is projected by a P x H matrix."""
    hidden, proj, inputs, tokens = 32, 8, 16, 15
    macs = 4 * hidden * (inputs + proj) + proj * hidden
    flops = 2 * macs + 4 * hidden + 2 * 4 * hidden + 18 * hidden
    report = counts(lambda: nn.LSTM(inputs, hidden, proj_size=proj), (5, 3, inputs), "meta")
    assert (report.total.macs, report.total.flops) == (tokens * macs, tokens * flops)


def test_dropout_between_layers_in_training() -> None:
    """2 FLOPs per element of each layer's output but the last's, in train mode only."""
    model = nn.GRU(16, 32, num_layers=2, dropout=0.5)
    eval_flops = roofscope.analyze(model.eval(), (5, 3, 16)).total.flops
    train_flops = roofscope.analyze(model.train(), (5, 3, 16)).total.flops
    assert train_flops - eval_flops == 2 * 15 * 32


def test_packed_sequence_counts_its_tokens_only() -> None:
    """A packed batch of lengths 5 and 2 runs 7 tokens, not 2 x 5."""

    class Packed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(16, 32)

        def forward(self, x):
            packed = nn.utils.rnn.pack_padded_sequence(x, torch.tensor([5, 2]))
            return self.lstm(packed)[0].data

    report = roofscope.analyze(Packed(), (5, 2, 16))
    assert report.total.macs == 7 * per_token(4, 32, 16, 18)[0]


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN:UserWarning")  # torch says so
def test_the_layer_runs_a_whole_op_is_made_of() -> None:
    """recurrent_runs, what the prediction times per layer-direction: a bidirectional layer's second
    layer reads both directions' outputs; sequence-first input; a packed sequence's mean batch; an
    LSTM's projection."""
    from roofscope.formulas.recurrent import LayerRun, recurrent_runs

    def runs(model: nn.Module, *shape: int) -> list[LayerRun]:
        (record,) = [r for r in roofscope.analyze(model, shape).ops if r.family == "recurrent"]
        return recurrent_runs(record.event)

    two_way = runs(nn.GRU(16, 32, num_layers=2, bidirectional=True), 5, 3, 16)  # [steps, batch, features]
    weights = [3 * 32 * (16 + 32)] * 2 + [3 * 32 * (64 + 32)] * 2
    assert two_way == [LayerRun(3, 5, inputs, 32, w, "gru") for inputs, w in zip((16, 16, 64, 64), weights, strict=True)]
    (projected,) = runs(nn.LSTM(16, 32, proj_size=8, batch_first=True), 3, 5, 16)
    assert projected == LayerRun(3, 5, 16, 32, 4 * 32 * (16 + 8) + 8 * 32, "lstm", projected=True)

    class Packed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(16, 32)

        def forward(self, x):
            return self.lstm(nn.utils.rnn.pack_padded_sequence(x, torch.tensor([5, 2])))[0].data

    # lengths 5 and 2: 7 tokens over 5 steps, a mean batch of 1 (7 // 5)
    assert runs(Packed(), 5, 2, 16) == [LayerRun(1, 5, 16, 32, 4 * 32 * 48, "lstm", packed=True)]


def test_mkldnn_kernel_called_directly_counts_as_the_layer() -> None:
    """oneDNN's one-layer kernel (what nn.LSTM runs on CPU under the hood) has the layer's formula."""
    lstm = nn.LSTM(16, 32)

    class Direct(nn.Module):
        def forward(self, x):
            h = torch.zeros(1, 32)
            w = lstm._flat_weights
            return torch.ops.aten.mkldnn_rnn_layer(x, w[0], w[1], w[2], w[3], h, h, False, [1] * 5, 2, 32, 1, True, False, False, False)[0]

    direct = roofscope.analyze(Direct(), (5, 1, 16))
    assert direct.uncounted == {}
    assert direct.total.macs == 5 * per_token(4, 32, 16, 18)[0]
    assert direct.total.flops == 5 * per_token(4, 32, 16, 18)[1]


# torchprofile's own tests (tests/test_ops.py, OPERATOR_CASES "lstm_1layer" and "lstm_2layer_bidir")
# expect 30,720 and 1,474,560 MACs for these two LSTMs.
@pytest.mark.parametrize(
    ("build", "shape", "expected"),
    [
        (lambda: nn.LSTM(input_size=16, hidden_size=32, num_layers=1), (5, 1, 16), 30_720),
        (lambda: nn.LSTM(input_size=32, hidden_size=64, num_layers=2, bidirectional=True, batch_first=True), (1, 10, 32), 1_474_560),
    ],
    ids=["torchprofile-lstm_1layer", "torchprofile-lstm_2layer_bidir"],
)
@pytest.mark.parametrize("mode", MODES)
def test_torchprofile_lstm_expectations(build, shape, expected: int, mode: str) -> None:
    assert counts(build, shape, mode).total.macs == expected


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("name", CASES)
def test_same_counts_on_cuda(name: str) -> None:
    build, shape, (macs, flops) = CASES[name]
    report = roofscope.analyze(build().cuda().eval(), shape)
    assert (report.total.macs, report.total.flops) == (macs, flops)
    assert report.total == counts(build, shape, "cpu").total


def test_cudnn_kernel_event_counts_as_the_layer() -> None:
    """cuDNN's multi-layer kernel (CUDA), as an event built by hand: a 2-layer GRU (mode 3) of
    hidden 32 on 15 tokens of 16 features, weights listed per layer as nn.GRU's _flat_weights."""
    from roofscope.events import OpEvent, TensorMeta
    from roofscope.formulas import default_formulas

    def meta(*shape: int) -> TensorMeta:
        strides, step = [], 1
        for size in reversed(shape):
            strides.append(step)
            step *= size
        return TensorMeta(shape, tuple(reversed(strides)), torch.float32)

    weights = (meta(96, 16), meta(96, 32), meta(96), meta(96), meta(96, 32), meta(96, 32), meta(96), meta(96))
    args = (meta(5, 3, 16), weights, 4, None, meta(2, 3, 32), None, 3, 32, 0, 2, False, 0.0, False, False, (), None)
    event = OpEvent("aten._cudnn_rnn", "default", args, {}, (meta(5, 3, 32), meta(2, 3, 32)), "")
    cost = default_formulas().get("aten._cudnn_rnn")(event)
    first, second = per_token(3, 32, 16, 14), per_token(3, 32, 32, 14)
    assert (cost.macs, cost.flops) == (15 * (first[0] + second[0]), 15 * (first[1] + second[1]))
    layer = counts(lambda: nn.GRU(16, 32, num_layers=2), (5, 3, 16), "meta").total
    assert (cost.macs, cost.flops) == (layer.macs, layer.flops)


def test_backward_kernel_counts_twice_the_forward_on_cpu() -> None:
    """oneDNN's LSTM backward (CPU): the input/state gradients and the weight gradients, 2 x 30,720;
    the meta decomposition's backward differs (docs/conventions.md, "Recurrent layers")."""
    report = roofscope.analyze(nn.LSTM(16, 32), (5, 1, 16), backward=True)
    assert report.uncounted == {}
    assert report.backward.macs == 2 * report.forward.macs == 2 * 30_720
    with torch.device("meta"):
        meta = roofscope.analyze(nn.LSTM(16, 32), (5, 1, 16), backward=True)
    assert meta.backward.macs == 30_720 + 4 * 4 * 32 * 32
