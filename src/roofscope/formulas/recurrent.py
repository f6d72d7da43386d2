"""Recurrent layers: LSTM, GRU and Elman RNN (tanh or ReLU), whole layers and single cells, as the
logical ops ``aten.lstm``, ``aten.gru``, ``aten.rnn_tanh``, ``aten.rnn_relu`` and their ``*_cell``
(captured whole on every device), and the backend kernels ``mkldnn_rnn_layer`` (CPU) and
``_cudnn_rnn`` (CUDA) for when they are called directly.

Per token (one time step of one sequence) and per layer and direction, with gates G (4 for LSTM, 3
for GRU, 1 for RNN), hidden size H and the layer's input size I (the input's features for the first
layer, H times the directions, or the projection size P times the directions, after it):
  MACs  = G*H * I + G*H * H_rec (+ P * H for an LSTM with proj_size), H_rec the size of the
          recurrent state (H, or P): the number of elements of the layer's weight matrices
  FLOPs = 2 * MACs
        + G*H                       (the input and the recurrent product added, per gate)
        + 2 * G*H with biases       (b_ih and b_hh)
        + the cell, per hidden unit:
            LSTM 18: sigmoid of i, f, o (3 x 4), tanh of g (1), c' = f*c + i*g (3), h' = o*tanh(c') (2)
            GRU  14: r * (W_hn h + b_hn) (1), sigmoid of r, z (2 x 4), tanh of n (1), h' = (1 - z)*n + z*h (4)
            RNN   1: tanh or relu
  Training with dropout between layers: 2 FLOPs per element of every layer's output but the last.
The token count is the number of input rows: sequence length x batch, or the rows of a packed
sequence (its padding is not run). Sigmoid costs 4 and tanh 1, as in the pointwise table.
Bytes = input, initial state and every weight read once; output and final state written once, as a
fused kernel (cuDNN's) moves them; the per-step gate activations are not counted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from roofscope.cost import Cost
from roofscope.events import OpEvent, TensorMeta
from roofscope.formulas._registry import Family, with_io
from roofscope.formulas.pointwise import SIGMOID_FLOPS

__all__ = [
    "CELL_FLOPS",
    "GATES",
    "LayerRun",
    "cudnn_rnn",
    "cudnn_rnn_backward",
    "mkldnn_rnn_layer",
    "mkldnn_rnn_layer_backward",
    "recurrent_cell",
    "recurrent_flops",
    "recurrent_layer",
    "recurrent_runs",
]

family = Family("recurrent")

#: Gates per kind of recurrent layer.
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}

#: FLOPs per hidden unit of the cell's element-wise work (module docstring).
CELL_FLOPS = {
    "lstm": 3 * SIGMOID_FLOPS + 1 + 3 + 2,
    "gru": 1 + 2 * SIGMOID_FLOPS + 1 + 4,
    "rnn_tanh": 1,
    "rnn_relu": 1,
}

# cuDNN's and mkldnn's mode numbers
_MODES = {0: "rnn_relu", 1: "rnn_tanh", 2: "lstm", 3: "gru"}


@dataclasses.dataclass(frozen=True, slots=True)
class _Layer:
    """One layer in one direction: its weight matrices' elements and its hidden size."""

    weight_elements: int
    hidden: int
    output_size: int  # the features it emits per token (H, or P with a projection)
    input_size: int = 0  # the features it reads per token (I)


def recurrent_flops(kind: str, tokens: int, layers: Sequence[_Layer], *, biases: bool, dropout_elements: int = 0) -> tuple[int, int]:
    """(MACs, FLOPs) of ``tokens`` rows through ``layers`` (every layer and direction)."""
    gates = GATES[kind]
    macs = tokens * sum(layer.weight_elements for layer in layers)
    per_token = sum(layer.hidden * (gates + (2 * gates if biases else 0) + CELL_FLOPS[kind]) for layer in layers)
    return macs, 2 * macs + tokens * per_token + 2 * dropout_elements


def _rows(tensor: TensorMeta) -> int:
    """Tokens of an input whose last dimension is the features ([L, N, I], [N, L, I], [L, I], [T, I])."""
    return tensor.numel // tensor.shape[-1] if tensor.shape and tensor.shape[-1] else 0


def _layers(kind: str, weights: Sequence[TensorMeta], groups: int) -> list[_Layer]:
    """Split a flat weight list (w_ih, w_hh[, b_ih, b_hh][, w_hr] per layer and direction, as nn.RNNBase's
    _flat_weights and cuDNN's list) into ``groups`` layer-directions."""
    per_group = len(weights) // groups if groups else 0
    layers = []
    for start in range(0, per_group * groups, per_group):
        group = weights[start : start + per_group]
        matrices = [w for w in group if len(w.shape) == 2]
        hidden = matrices[0].shape[0] // GATES[kind]
        projection = matrices[2].shape[0] if len(matrices) > 2 else None
        layers.append(_Layer(sum(m.numel for m in matrices), hidden, projection or hidden, matrices[0].shape[1]))
    return layers


def _dropout_elements(tokens: int, layers: Sequence[_Layer], directions: int, dropout: object, train: object) -> int:
    if not train or not dropout or float(dropout) <= 0:  # type: ignore[arg-type]
        return 0
    below_last = layers[: len(layers) - directions]
    return tokens * sum(layer.output_size for layer in below_last)


def _kind(event: OpEvent) -> str:
    return event.op.removeprefix("aten.").removesuffix("_cell")


@dataclasses.dataclass(frozen=True, slots=True)
class LayerRun:
    """One layer in one direction of a whole recurrent op, as its kernel runs it: ``steps`` time
    steps of ``batch`` sequences (a packed sequence's mean batch), ``input_size`` features in,
    ``hidden`` units, ``weight_elements`` in its matrices; ``kind`` "lstm", "gru", "rnn_tanh" or
    "rnn_relu", ``packed`` for a packed sequence, ``projected`` for an LSTM with ``proj_size``."""

    batch: int
    steps: int
    input_size: int
    hidden: int
    weight_elements: int
    kind: str = "lstm"
    packed: bool = False
    projected: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class _WholeLayer:
    """A whole recurrent op's arguments, read once for its formula and its kernel's runs."""

    kind: str
    tokens: int
    steps: int
    packed: bool
    layers: list[_Layer]
    has_biases: bool
    directions: int
    dropout: object
    train: object


def _whole_layer(event: OpEvent) -> _WholeLayer:
    kind = _kind(event)
    batch_sizes = event.args[1]
    packed = isinstance(batch_sizes, TensorMeta) and not batch_sizes.is_floating
    offset = 1 if packed else 0
    source: TensorMeta = event.args[0]
    batch_first = not packed and bool(event.arg(8, "batch_first", False))
    if packed:
        steps = batch_sizes.shape[0]
    elif len(source.shape) == 3:
        steps = source.shape[1] if batch_first else source.shape[0]
    else:  # unbatched: [L, I]
        steps = source.shape[0] if source.shape else 0
    num_layers = int(event.args[4 + offset])
    directions = 2 if event.args[7 + offset] else 1
    return _WholeLayer(
        kind=kind,
        tokens=_rows(source),
        steps=steps,
        packed=packed,
        layers=_layers(kind, event.args[2 + offset], num_layers * directions),
        has_biases=bool(event.args[3 + offset]),
        directions=directions,
        dropout=event.args[5 + offset],
        train=event.args[6 + offset],
    )


@family("aten.lstm", "aten.gru", "aten.rnn_tanh", "aten.rnn_relu")
def recurrent_layer(event: OpEvent) -> Cost:
    """The whole layer, as ``torch.lstm`` / ``torch.gru`` / ``torch.rnn_*`` take it: (input, hx, params,
    has_biases, num_layers, dropout, train, bidirectional, batch_first), or for a packed sequence
    (data, batch_sizes, hx, params, has_biases, num_layers, dropout, train, bidirectional)."""
    whole = _whole_layer(event)
    dropout = _dropout_elements(whole.tokens, whole.layers, whole.directions, whole.dropout, whole.train)
    macs, flops = recurrent_flops(whole.kind, whole.tokens, whole.layers, biases=whole.has_biases, dropout_elements=dropout)
    return with_io(event, macs, flops)


def recurrent_runs(event: OpEvent) -> list[LayerRun]:
    """The layer-directions a whole recurrent op (``aten.lstm``, ``aten.gru``, ``aten.rnn_*``) runs,
    one after another, each over every time step."""
    whole = _whole_layer(event)
    batch = whole.tokens // whole.steps if whole.steps else 0
    return [
        LayerRun(
            batch,
            whole.steps,
            layer.input_size,
            layer.hidden,
            layer.weight_elements,
            whole.kind,
            whole.packed,
            layer.output_size != layer.hidden,
        )
        for layer in whole.layers
    ]


@family("aten.lstm_cell", "aten.gru_cell", "aten.rnn_tanh_cell", "aten.rnn_relu_cell")
def recurrent_cell(event: OpEvent) -> Cost:
    """One time step: (input [N, I] or [I], hx, w_ih, w_hh, b_ih, b_hh); an LSTM's hx is (h, c)."""
    kind = _kind(event)
    weights = [w for w in event.args[2:4] if isinstance(w, TensorMeta)]
    has_biases = isinstance(event.arg(4, "b_ih"), TensorMeta)
    tokens = event.args[0].numel // event.args[0].shape[-1] if event.args[0].shape[-1] else 0
    macs, flops = recurrent_flops(kind, tokens, _layers(kind, weights, 1), biases=has_biases)
    return with_io(event, macs, flops)


@family("aten.mkldnn_rnn_layer")
def mkldnn_rnn_layer(event: OpEvent) -> Cost:
    """oneDNN's kernel for one layer in one direction (CPU): (input, w_ih, w_hh, b_ih, b_hh, hx, cx,
    reverse, batch_sizes, mode, hidden_size, num_layers, has_biases, bidirectional, batch_first, train)."""
    kind = _MODES[int(event.arg(9, "mode"))]
    weights = [w for w in event.args[1:3] if isinstance(w, TensorMeta)]
    has_biases = bool(event.arg(12, "has_biases", True))
    macs, flops = recurrent_flops(kind, _rows(event.args[0]), _layers(kind, weights, 1), biases=has_biases)
    return with_io(event, macs, flops)


@family("aten._cudnn_rnn")
def cudnn_rnn(event: OpEvent) -> Cost:
    """cuDNN's whole multi-layer kernel (CUDA): (input, weight, weight_stride0, weight_buf, hx, cx,
    mode, hidden_size, proj_size, num_layers, batch_first, dropout, train, bidirectional, batch_sizes,
    dropout_state). ``weight`` is the flat list; ``weight_buf``, the same weights packed, is not read
    a second time."""
    kind = _MODES[int(event.arg(6, "mode"))]
    weights = list(event.args[1])
    num_layers = int(event.arg(9, "num_layers"))
    directions = 2 if event.arg(13, "bidirectional") else 1
    has_biases = len(weights) // (num_layers * directions) >= 4
    tokens = _rows(event.args[0])
    layers = _layers(kind, weights, num_layers * directions)
    dropout = _dropout_elements(tokens, layers, directions, event.arg(11, "dropout"), event.arg(12, "train"))
    macs, flops = recurrent_flops(kind, tokens, layers, biases=has_biases, dropout_elements=dropout)
    weight_buf = event.arg(3, "weight_buf")
    cost = with_io(event, macs, flops)
    if isinstance(weight_buf, TensorMeta):
        cost = dataclasses.replace(cost, bytes_read=cost.bytes_read - weight_buf.nbytes)
    return cost


@family("aten.mkldnn_rnn_layer_backward")
def mkldnn_rnn_layer_backward(event: OpEvent) -> Cost:
    """(input, w_ih, w_hh, b_ih, b_hh, hx, cx, output, hy, cy, grad_output, grad_hy, grad_cy, reverse,
    mode, hidden_size, ...): twice the forward layer's MACs and FLOPs."""
    kind = _MODES[int(event.arg(14, "mode"))]
    weights = [w for w in event.args[1:3] if isinstance(w, TensorMeta)]
    macs, flops = recurrent_flops(kind, _rows(event.args[0]), _layers(kind, weights, 1), biases=bool(event.arg(17, "has_biases", True)))
    return with_io(event, 2 * macs, 2 * flops)


@family("aten._cudnn_rnn_backward")
def cudnn_rnn_backward(event: OpEvent) -> Cost:
    """(input, weight, weight_stride0, weight_buf, hx, cx, output, grad_output, grad_hy, grad_cy, mode,
    hidden_size, proj_size, num_layers, batch_first, dropout, train, bidirectional, batch_sizes,
    dropout_state, reserve, output_mask): the forward's MACs and FLOPs once for the input and state
    gradients (output_mask[0:3]) and once for the weights' (output_mask[3])."""
    kind = _MODES[int(event.arg(10, "mode"))]
    weights = list(event.args[1])
    num_layers = int(event.arg(13, "num_layers"))
    directions = 2 if event.arg(17, "bidirectional") else 1
    has_biases = len(weights) // (num_layers * directions) >= 4
    macs, flops = recurrent_flops(kind, _rows(event.args[0]), _layers(kind, weights, num_layers * directions), biases=has_biases)
    mask = tuple(event.arg(21, "output_mask") or (True, True, True, True))
    passes = int(any(mask[:3])) + int(bool(mask[3]))
    return with_io(event, passes * macs, passes * flops)
