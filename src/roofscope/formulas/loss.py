"""Loss functions and their gradients.

Each counts one FLOP per add, subtract, multiply, divide, compare, abs, exp and log of its formula,
plus the reduction (``reduction``: 0 none, 1 mean, 2 sum) over the n per-element losses: sum n - 1
adds, mean n (those adds and a divide, as ``mean`` counts), none 0.

Per element, forward (d = input - target):
  mse_loss: d, d * d = 2
  huber_loss (delta): d, |d|, |d| < delta, then 0.5 * d * d (two multiplies) = 5; the other branch,
    delta * (|d| - 0.5 * delta), is no longer
  smooth_l1_loss (beta): huber's 5 and the divide by beta = 6
  binary_cross_entropy (p, y): -w (y log p + (1 - y) log(1 - p)): log p, 1 - p, log(1 - p), 1 - y,
    two multiplies, add, negate = 8; with weight 9
  soft_margin_loss (x, y in {-1, 1}): log(1 + exp(-y x)): multiply, negate, exp, add, log = 5
  binary_cross_entropy_with_logits (x, y), as the stable max(x, 0) - x y + log(1 + exp(-|x|)):
    max, multiply, subtract, abs, negate, exp, add, log, add = 9; pos_weight (the log term scaled
    by 1 + (pos_weight - 1) y) 4 more, weight 1 more
Backward, per element of the gradient (g the incoming gradient):
  mse_loss_backward: 2 (x - t) g: subtract, two multiplies = 3 (the mean's 1 / n folds into g)
  huber_loss_backward: d, |d| < delta, then d * g (or delta * sign(d) * g) = 3
  smooth_l1_loss_backward: huber's 3 and the divide by beta = 4
  soft_margin_loss_backward: -y g e / (1 + e), e = exp(-y x): multiply, negate, exp, add, divide,
    two multiplies = 7
  binary_cross_entropy_backward: g (p - y) / max(p (1 - p), eps): subtract, 1 - p, multiply, max,
    divide, multiply = 6; with weight 7
nll_loss (the last step of cross_entropy, after log_softmax) picks one element per sample:
  forward: N samples (N for 1-D or 2-D input, N x H x W for nll_loss2d), each negated (1) and
    times its class weight (1 with weight); mean and sum also add up the N picked values (N - 1) and
    the total weight (N - 1), mean divides once. Bytes: the N picked elements (not the whole input),
    the targets, the N picked weights; written: the loss and the total weight. Samples whose
    target is ``ignore_index`` are counted too (an upper bound: which they are is a value).
  backward: the gradient is zero but at each sample's target: -g (times the weight, over the total
    weight for mean): 1 + (1 with weight) + (1 for mean) per sample. Bytes written: the whole
    gradient (zeroed, then scattered into); read: g, the targets, the picked weights, the total.
Bytes of the elementwise losses: every input read once, every output written once.
"""

from __future__ import annotations

from roofscope.cost import Cost
from roofscope.events import OpEvent, TensorMeta
from roofscope.formulas._registry import Family, with_io

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_backward",
    "binary_cross_entropy_with_logits",
    "elementwise_loss",
    "elementwise_loss_backward",
    "nll_loss",
    "nll_loss_backward",
    "reduction_flops",
]

family = Family("loss")

#: ``reduction`` as the aten loss ops take it (torch.nn._reduction.get_enum).
NONE, MEAN, SUM = 0, 1, 2


def reduction_flops(elements: int, reduction: int) -> int:
    """FLOPs of reducing ``elements`` per-element losses: sum n - 1, mean n, none 0."""
    if reduction == NONE or elements == 0:
        return 0
    return elements if reduction == MEAN else elements - 1


def _elementwise(event: OpEvent, per_element: int, reduction_index: int) -> Cost:
    x = event.args[0]
    reduction = int(event.arg(reduction_index, "reduction", MEAN))
    return with_io(event, 0, per_element * x.numel + reduction_flops(x.numel, reduction))


#: FLOPs per element of the losses that take (input, target, reduction, ...) (module docstring).
_FORWARD = {"aten.mse_loss": 2, "aten.huber_loss": 5, "aten.smooth_l1_loss": 6, "aten.soft_margin_loss": 5}


@family(*_FORWARD)
def elementwise_loss(event: OpEvent) -> Cost:
    """(input, target, reduction, ...): mse 2, huber 5, smooth L1 6, soft margin 5 FLOPs per element
    plus the reduction."""
    return _elementwise(event, _FORWARD[event.op], 2)


@family("aten.binary_cross_entropy")
def binary_cross_entropy(event: OpEvent) -> Cost:
    """(input, target, weight, reduction): 8 FLOPs per element, 9 with weight, plus the reduction."""
    weighted = event.arg(2, "weight") is not None
    return _elementwise(event, 9 if weighted else 8, 3)


@family("aten.binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits(event: OpEvent) -> Cost:
    """(input, target, weight, pos_weight, reduction): 9 FLOPs per element, + 1 with weight, + 4
    with pos_weight, plus the reduction."""
    per_element = 9 + (event.arg(2, "weight") is not None) + 4 * (event.arg(3, "pos_weight") is not None)
    return _elementwise(event, per_element, 4)


_BACKWARD = {
    "aten.mse_loss_backward": 3,
    "aten.huber_loss_backward": 3,
    "aten.smooth_l1_loss_backward": 4,
    "aten.soft_margin_loss_backward": 7,
}


@family(*_BACKWARD)
def elementwise_loss_backward(event: OpEvent) -> Cost:
    """(grad_output, input, target, reduction, ...): mse 3, huber 3, smooth L1 4, soft margin 7 FLOPs
    per element."""
    return with_io(event, 0, _BACKWARD[event.op] * event.args[1].numel)


@family("aten.binary_cross_entropy_backward")
def binary_cross_entropy_backward(event: OpEvent) -> Cost:
    """(grad_output, input, target, weight, reduction): 6 FLOPs per element, 7 with weight."""
    weighted = event.arg(3, "weight") is not None
    return with_io(event, 0, (7 if weighted else 6) * event.args[1].numel)


def _samples(scores: TensorMeta) -> int:
    """Samples of an nll_loss input: [C] is one, [N, C] N, [N, C, H, W] N x H x W."""
    if len(scores.shape) <= 1:
        return 1
    return scores.numel // scores.shape[1] if scores.shape[1] else 0


def _picked_weights(weight: TensorMeta | None, samples: int) -> int:
    return samples * weight.itemsize if isinstance(weight, TensorMeta) else 0


@family("aten.nll_loss_forward", "aten.nll_loss2d_forward")
def nll_loss(event: OpEvent) -> Cost:
    """(input, target, weight, reduction, ignore_index): N samples, each negated (and weighted);
    mean and sum add the N values and the N weights, mean divides once. Reads the N picked
    elements, not the input."""
    scores, target, weight = event.args[0], event.args[1], event.arg(2, "weight")
    samples = _samples(scores)
    weighted = isinstance(weight, TensorMeta)
    reduction = int(event.arg(3, "reduction", MEAN))
    flops = samples * (1 + weighted)
    if reduction != NONE and samples:
        flops += 2 * (samples - 1) + (reduction == MEAN)
    bytes_read = samples * scores.itemsize + target.nbytes + _picked_weights(weight, samples)
    return Cost(0, flops, bytes_read, sum(t.nbytes for t in event.outputs))


@family("aten.nll_loss_backward", "aten.nll_loss2d_backward")
def nll_loss_backward(event: OpEvent) -> Cost:
    """(grad_output, input, target, weight, reduction, ignore_index, total_weight): the whole
    gradient written (zeroed, then each sample's target set to -g, weighted, over the total weight
    for mean)."""
    grad, scores, target, weight = event.args[0], event.args[1], event.args[2], event.arg(3, "weight")
    total = event.arg(6, "total_weight")
    samples = _samples(scores)
    weighted = isinstance(weight, TensorMeta)
    reduction = int(event.arg(4, "reduction", MEAN))
    flops = samples * (1 + weighted + (reduction == MEAN))
    bytes_read = grad.nbytes + target.nbytes + _picked_weights(weight, samples)
    bytes_read += total.nbytes if isinstance(total, TensorMeta) else 0
    return Cost(0, flops, bytes_read, event.output.nbytes)
