"""Matrix products: mm, addmm, bmm, baddbmm, mv, dot and what linear, matmul and einsum become.

MACs = the number of multiply-accumulates of the product: for [m, k] @ [k, n], m * k * n.
FLOPs = 2 * MACs, plus one FLOP per output element for an added bias or input (addmm's ``self``),
plus one per output element for each ``alpha``/``beta`` scaling that is not 1.
Bytes = every operand read once and the product written once; with ``beta`` = 0 the added input
is not read (torch ignores it then, as BLAS ignores C: "If beta is 0, then input will be ignored,
and nan and inf in it will not be propagated", torch.addmm's documentation).
"""

from __future__ import annotations

from math import prod

from roofscope.cost import Cost
from roofscope.events import OpEvent, TensorMeta
from roofscope.formulas._registry import Family, with_io

__all__ = [
    "addmm",
    "addmv",
    "addr",
    "baddbmm",
    "batched_matmul_macs",
    "bmm",
    "dot",
    "expert_linear",
    "expert_linear_weight_grad",
    "linear",
    "mm",
    "mv",
    "scaled_mm",
]

family = Family("matmul")


def _scaling_flops(event: OpEvent, out_numel: int, has_input: bool) -> int:
    """Bias/input add and alpha/beta scalings of the add* variants."""
    if not has_input:
        return 0
    beta = event.kwargs.get("beta", 1)
    alpha = event.kwargs.get("alpha", 1)
    flops = out_numel if beta != 0 else 0
    flops += out_numel if beta not in (0, 1) else 0
    flops += out_numel if alpha != 1 else 0
    return flops


def _added_io(event: OpEvent, macs: int, flops: int) -> Cost:
    """Bytes of an add* product: its operands, and its input (``self``) unless beta is 0."""
    cost = with_io(event, macs, flops)
    source = event.args[0]
    if event.kwargs.get("beta", 1) == 0 and isinstance(source, TensorMeta):
        return Cost(cost.macs, cost.flops, cost.bytes_read - source.nbytes, cost.bytes_written)
    return cost


@family("aten.mm", "aten._int_mm")
def mm(event: OpEvent) -> Cost:
    """[m, k] @ [k, n]: MACs = m * k * n; FLOPs = 2 * MACs."""
    a, b = event.args[0], event.args[1]
    macs = a.shape[0] * a.shape[1] * b.shape[1]
    return with_io(event, macs, 2 * macs)


@family("aten.addmm")
def addmm(event: OpEvent) -> Cost:
    """beta * input + alpha * ([m, k] @ [k, n]): MACs = m * k * n; FLOPs = 2 * MACs + m * n."""
    a, b = event.args[1], event.args[2]
    m, k, n = a.shape[0], a.shape[1], b.shape[1]
    macs = m * k * n
    return _added_io(event, macs, 2 * macs + _scaling_flops(event, m * n, True))


@family("aten.bmm")
def bmm(event: OpEvent) -> Cost:
    """[b, m, k] @ [b, k, n]: MACs = b * m * k * n; FLOPs = 2 * MACs."""
    a, b = event.args[0], event.args[1]
    macs = a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]
    return with_io(event, macs, 2 * macs)


@family("aten.baddbmm")
def baddbmm(event: OpEvent) -> Cost:
    """beta * input + alpha * ([b, m, k] @ [b, k, n]): MACs = b * m * k * n; FLOPs = 2 * MACs + b * m * n."""
    a, b = event.args[1], event.args[2]
    batch, m, k, n = a.shape[0], a.shape[1], a.shape[2], b.shape[2]
    macs = batch * m * k * n
    return _added_io(event, macs, 2 * macs + _scaling_flops(event, batch * m * n, True))


@family("aten.mv")
def mv(event: OpEvent) -> Cost:
    """[m, k] @ [k]: MACs = m * k."""
    a = event.args[0]
    macs = a.shape[0] * a.shape[1]
    return with_io(event, macs, 2 * macs)


@family("aten.addmv")
def addmv(event: OpEvent) -> Cost:
    """beta * input + alpha * ([m, k] @ [k]): MACs = m * k; FLOPs = 2 * MACs + m."""
    a = event.args[1]
    macs = a.shape[0] * a.shape[1]
    return _added_io(event, macs, 2 * macs + _scaling_flops(event, a.shape[0], True))


@family("aten.dot", "aten.vdot")
def dot(event: OpEvent) -> Cost:
    """[k] . [k]: MACs = k."""
    macs = event.args[0].shape[0]
    return with_io(event, macs, 2 * macs)


@family("aten._scaled_mm")
def scaled_mm(event: OpEvent) -> Cost:
    """fp8 [m, k] @ [k, n] with per-tensor or per-row scales: MACs = m * k * n; FLOPs = 2 * MACs
    plus one per output element for the scaling and one for a bias."""
    a, b = event.args[0], event.args[1]
    m, k, n = a.shape[0], a.shape[1], b.shape[1]
    macs = m * k * n
    bias = event.arg(4, "bias")
    return with_io(event, macs, 2 * macs + m * n + (m * n if bias is not None else 0))


@family("aten.linear")
def linear(event: OpEvent) -> Cost:
    """input [..., in] @ weight[out, in]^T (+ bias): MACs = rows * in * out; FLOPs = 2 * MACs + rows * out
    with a bias. Recorded whole only where a tensor subclass implements it itself (a nested jagged
    tensor, whose rows are its packed tokens); elsewhere linear arrives as the mm/addmm it runs."""
    x, weight = event.args[0], event.args[1]
    rows = x.numel // x.shape[-1] if x.shape and x.shape[-1] else 0
    macs = rows * weight.numel
    bias = event.arg(2, "bias")
    return with_io(event, macs, 2 * macs + (rows * weight.shape[0] if isinstance(bias, TensorMeta) else 0))


@family("aten.addr")
def addr(event: OpEvent) -> Cost:
    """Outer product [m] x [n] added to input: MACs = m * n (one multiply and one add each)."""
    m, n = event.args[1].shape[0], event.args[2].shape[0]
    macs = m * n
    return with_io(event, macs, 2 * macs + _scaling_flops(event, m * n, False))


def batched_matmul_macs(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> int:
    """MACs of torch.matmul's broadcasting product of two >= 2-d operands."""
    batch = prod(max(x, y) for x, y in zip(_pad(a_shape[:-2], b_shape[:-2]), _pad(b_shape[:-2], a_shape[:-2])))
    return batch * a_shape[-2] * a_shape[-1] * b_shape[-1]


def _pad(shape: tuple[int, ...], other: tuple[int, ...]) -> tuple[int, ...]:
    return (1,) * max(0, len(other) - len(shape)) + shape


@family("roofscope.expert_linear")
def expert_linear(event: OpEvent) -> Cost:
    """A mixture-of-experts layer's projection (``roofscope.models.moe``): S (token, expert) pairs,
    pair s multiplying its token's input row [in] by expert ids[s]'s weight [out, in].

    MACs = S * in * out (exact: each pair is one matrix-vector product). Bytes: the inputs and ids
    read once, the output written once, and each *distinct* expert's weight read once, as a
    grouped-GEMM kernel does; which experts the pairs pick is data-dependent, so the number of
    distinct experts is taken as min(num_experts, S): exact for one token (its top-k experts are
    distinct) and whenever every expert is hit (a long prefill), an upper bound in between.
    """
    x, weight, ids = event.args[0], event.args[1], event.args[2]
    transposed = bool(event.arg(3, "transposed", False))
    experts = weight.shape[0]
    pairs, inner = x.shape[0], x.shape[1]
    outer = weight.shape[2] if transposed else weight.shape[1]
    macs = pairs * inner * outer
    per_expert = weight.numel // experts * weight.itemsize if experts else 0
    bytes_read = x.nbytes + ids.nbytes + min(experts, pairs) * per_expert
    return Cost(macs, 2 * macs, bytes_read, sum(t.nbytes for t in event.outputs))


@family("roofscope.expert_linear_weight_grad")
def expert_linear_weight_grad(event: OpEvent) -> Cost:
    """The weight gradient of ``expert_linear``: S outer products [out] x [in] summed into their
    expert's slice of a [num_experts, out, in] gradient. MACs = S * in * out; the inputs read once,
    the whole gradient written once."""
    x, grad = event.args[0], event.args[1]
    macs = x.shape[0] * x.shape[1] * grad.shape[1]
    return with_io(event, macs, 2 * macs)
