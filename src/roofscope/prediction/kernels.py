"""One op's kernel on one device: its expected device time, from the op's FLOPs and bytes and the
device's execution figures (docs/conventions.md, "Predicted time").

- **Memory term**: bytes the cache serves at the cache's bandwidth, the rest at the sustained
  memory bandwidth; with a probe's curves, at the bandwidth it measured for the op itself (the
  pointwise ops it measures on their own), else for an op of the same family moving as many
  bytes (else for a copy of that size; the curves hold the cache levels).
- **Compute term**, a matrix op (matmul, convolution as its implicit GEMM, attention's two
  products): each GEMM of M x N x K is cut into output tiles of TM x TN (TN = 128; TM the smallest
  of 16, 32, 64, 128 that holds M); the tiles, split along K when there are fewer tiles than
  compute units (split-K, as cuBLAS and CUTLASS do), run in waves of one tile per compute unit, each
  tile at 1 / compute units of the sustained matrix rate. So time = waves x (one tile's FLOPs) /
  (sustained rate / compute units): the padded FLOPs of partial tiles and of the last, partial
  wave are the tile and wave quantisation. With a probe's GEMM curve: the FLOP/s it measured
  around the shape, interpolated in log space over its grid, for the precision; a convolution
  reads the probe's convolution curve instead (the nearest implicit GEMM, groups, M, N, K, stride
  and kernel positions), since convolution kernels reorder, pad and tile unlike a plain GEMM. A
  whole LSTM op with a probe's rnn curve: per layer, the time the probe measured for the nearest
  layer, at its batch and length.
  A vector op: FLOPs at the sustained vector rate.
- **Device time** = max(compute term, memory term, the device's shortest kernel).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence

from roofscope.cost import Cost
from roofscope.devices import Device
from roofscope.devices.execution import ConvPoint, Execution, GemmPoint, RnnPoint
from roofscope.events import OpEvent, TensorMeta
from roofscope.formulas.recurrent import LayerRun, recurrent_runs

__all__ = [
    "RECURRENT_LAYERS",
    "Gemm",
    "Kernel",
    "conv_rate",
    "curve_bandwidth",
    "curve_rate",
    "gemm_time",
    "gemms",
    "kernel",
    "recurrent_time",
]

#: The whole recurrent layers (every step of every layer in one op); the probe's rnn curve times LSTMs.
RECURRENT_LAYERS = frozenset({"aten.lstm", "aten.gru", "aten.rnn_tanh", "aten.rnn_relu"})

#: Output tile width of a GEMM kernel, and the tile heights it chooses from (the smallest that
#: holds M): cuBLAS's and CUTLASS's tensor-core kernels tile the output in 128-wide blocks and use
#: shorter tiles for short problems (NVIDIA, "Matrix Multiplication Background User's Guide").
TILE_N = 128
TILE_M = (16, 32, 64, 128)

#: K is split in parts of at least this many elements (split-K keeps each part's tiles long enough
#: to run at the tensor cores' rate).
SPLIT_K_MIN = 512


@dataclasses.dataclass(frozen=True, slots=True)
class Gemm:
    """``count`` independent products of [M, K] x [K, N]."""

    count: int
    m: int
    n: int
    k: int

    @property
    def flops(self) -> int:
        return 2 * self.count * self.m * self.n * self.k


@dataclasses.dataclass(frozen=True, slots=True)
class Kernel:
    """An op's kernel: ``device_s`` its expected time, ``compute_s`` and ``memory_s`` the terms it
    is the larger of (with the shortest kernel), ``cached_bytes`` the bytes the cache served, and
    ``launches`` whether it runs on the device at all (a view does not)."""

    device_s: float
    compute_s: float
    memory_s: float
    cached_bytes: int
    launches: bool


def gemms(event: OpEvent) -> list[Gemm] | None:
    """The GEMMs a matrix op runs, from its shapes; None for an op whose kernel is no plain GEMM
    (a backward, a fused attention block): its FLOPs then run at the sustained rate, untiled."""
    op = event.op
    args = event.args
    if op in ("aten.mm", "aten._int_mm", "aten._scaled_mm"):
        a, b = args[0], args[1]
        return [Gemm(1, a.shape[0], b.shape[1], a.shape[1])]
    if op == "aten.addmm":
        a, b = args[1], args[2]
        return [Gemm(1, a.shape[0], b.shape[1], a.shape[1])]
    if op in ("aten.bmm", "aten.baddbmm"):
        a, b = (args[0], args[1]) if op == "aten.bmm" else (args[1], args[2])
        return [Gemm(a.shape[0], a.shape[1], b.shape[2], a.shape[2])]
    if op in ("aten.mv", "aten.addmv"):
        a = args[0] if op == "aten.mv" else args[1]
        return [Gemm(1, a.shape[0], 1, a.shape[1])]
    if op == "roofscope.expert_linear":
        x, weight, transposed = args[0], args[1], bool(event.arg(3, "transposed", False))
        out = weight.shape[2] if transposed else weight.shape[1]
        return [Gemm(1, x.shape[0], out, x.shape[1])]
    if op in ("aten.convolution", "aten._convolution"):
        return _convolution(event)
    if op in (
        "aten.scaled_dot_product_attention",
        "aten._scaled_dot_product_flash_attention_for_cpu",
        "aten._scaled_dot_product_flash_attention",
        "aten._scaled_dot_product_efficient_attention",
        "aten._scaled_dot_product_cudnn_attention",
        "aten._scaled_dot_product_fused_attention_overrideable",
    ):
        q, k, v = args[0], args[1], args[2]
        if not all(isinstance(t, TensorMeta) and len(t.shape) >= 3 for t in (q, k, v)):
            return None
        heads = math.prod(q.shape[:-2])
        length, embed, source, value = q.shape[-2], q.shape[-1], k.shape[-2], v.shape[-1]
        return [Gemm(heads, length, source, embed), Gemm(heads, length, value, source)]
    return None


def _convolution(event: OpEvent) -> list[Gemm] | None:
    """A convolution as the implicit GEMM its kernels run: per group, M = batch x output positions,
    N = output channels / groups, K = input channels / groups x kernel positions (transposed: the
    GEMM of the convolution it is the gradient of)."""
    x, weight = event.args[0], event.args[1]
    out = event.output
    groups = int(event.arg(8, "groups", 1) or 1)
    transposed = bool(event.arg(6, "transposed", False))
    if not isinstance(x, TensorMeta) or not isinstance(weight, TensorMeta) or len(x.shape) < 3:
        return None
    kernel_positions = math.prod(weight.shape[2:])
    if transposed:
        return [Gemm(groups, x.shape[0] * math.prod(x.shape[2:]), weight.shape[1] * kernel_positions, weight.shape[0] // groups)]
    return [Gemm(groups, out.shape[0] * math.prod(out.shape[2:]), weight.shape[0] // groups, weight.shape[1] * kernel_positions)]


def gemm_time(gemm: Gemm, rate: float, units: int) -> float:
    """Seconds of one GEMM on ``units`` compute units sustaining ``rate`` FLOP/s together: tiles of
    TM x 128, split-K when the tiles are fewer than the units, waves of one tile per unit."""
    if gemm.flops == 0:
        return 0.0
    tile_m = next((size for size in TILE_M if size >= gemm.m), TILE_M[-1])
    tiles = gemm.count * math.ceil(gemm.m / tile_m) * math.ceil(gemm.n / TILE_N)
    split = max(1, min(units // tiles, gemm.k // SPLIT_K_MIN)) if tiles < units else 1
    waves = math.ceil(tiles * split / units)
    tile_flops = 2 * tile_m * TILE_N * math.ceil(gemm.k / split)
    return waves * tile_flops / (rate / units)


def _log_distance(shape: Sequence[int | str | float], wanted: tuple[int, ...]) -> float:
    """How far a measured shape is from the wanted one: the squared distance of their logarithms."""
    return sum((math.log(max(int(a), 1)) - math.log(max(b, 1))) ** 2 for a, b in zip(shape, wanted, strict=True))


def _bracket(sizes: Sequence[int], wanted: int) -> tuple[tuple[int, float], ...]:
    """The measured sizes around ``wanted`` with their weights, linear in log space: one size at
    weight 1 where ``wanted`` is measured or beyond the measured range (held at the end)."""
    low = max((s for s in sizes if s <= wanted), default=sizes[0])
    high = min((s for s in sizes if s >= wanted), default=sizes[-1])
    if low == high:
        return ((low, 1.0),)
    share = (math.log(wanted) - math.log(low)) / (math.log(high) - math.log(low))
    return ((low, 1.0 - share), (high, share))


def curve_rate(curve: Sequence[GemmPoint], gemm: Gemm, precision: str, beyond: float) -> float | None:
    """The FLOP/s for ``gemm`` from a probe's GEMM grid, for the precision (None: no point of it):
    trilinear in the logarithms of M, N, K and of the rate between the measured shapes around it,
    held at the grid's edges; a corner the grid left out (on a CPU, the shapes over its FLOP cap:
    the largest) at ``beyond``, the sustained rate, which the probe measures on a larger GEMM."""
    rates = {(m, n, k): rate for m, n, k, point_precision, rate in curve if point_precision == precision and rate > 0 and min(m, n, k) > 0}
    if not rates:
        return None
    axes = [sorted({shape[axis] for shape in rates}) for axis in range(3)]
    brackets = (_bracket(sizes, wanted) for sizes, wanted in zip(axes, (gemm.m, gemm.n, gemm.k), strict=True))
    return math.exp(
        sum(
            (weight_m * weight_n * weight_k) * math.log(rates.get((m, n, k), beyond))
            for (m, weight_m), (n, weight_n), (k, weight_k) in itertools.product(*brackets)
        )
    )


def conv_rate(curve: Sequence[ConvPoint], gemm: Gemm, stride: int, positions: int, precision: str) -> float | None:
    """The FLOP/s a probe measured for the convolution whose implicit GEMM (groups, M, N, K),
    stride and kernel positions are nearest ``gemm``'s, ``stride`` and ``positions`` (in log space:
    stride 2 against 1 is as far as twice the size in one dimension, a 3 x 3 kernel against a 1 x 1
    as nine times), for the precision; kernel positions a device file did not keep (0) are left out
    of the distance."""
    wanted = (gemm.count, gemm.m, gemm.n, gemm.k, stride)

    def distance(point: ConvPoint) -> float:
        kernel = _log_distance((point[5],), (positions,)) if point[5] and positions else 0.0
        return _log_distance(point[:5], wanted) + kernel

    candidates = [p for p in curve if p[6] == precision]
    return min(candidates, key=distance)[-1] if candidates else None


def _along(measured: Sequence[tuple[int, float]], wanted: int) -> float:
    """Seconds at ``wanted`` from (size, seconds) measured at several sizes: linear between the two
    that bracket it, extended along the nearest segment beyond them, never below 0; from one size
    alone, in proportion to it."""
    if len(measured) == 1:
        size, seconds = measured[0]
        return seconds * wanted / size
    index = next((i for i in range(1, len(measured) - 1) if wanted <= measured[i][0]), len(measured) - 1)
    (low, low_s), (high, high_s) = measured[index - 1], measured[index]
    return max(low_s + (high_s - low_s) * (wanted - low) / (high - low), 0.0)


def recurrent_time(curve: Sequence[RnnPoint], runs: Sequence[LayerRun], precision: str) -> float | None:
    """Seconds of a whole LSTM op's layers from the probe's rnn curve; None when it has no point of
    the precision, or for layers unlike the ones it measured (a GRU or an Elman RNN, an LSTM with
    ``proj_size``, a packed sequence: on a CPU these run a loop of their own, not oneDNN's kernel).
    Per layer-direction: of the measured layers, those whose (input, hidden) is nearest its own (in
    log space); for each measured batch, the time at the layer's steps; from those, the time at
    its batch (both by ``_along``); scaled by the layer's weights over the measured layer's."""
    if not runs or any(run.kind != "lstm" or run.packed or run.projected for run in runs):
        return None
    measured: dict[tuple[int, int], dict[int, dict[int, float]]] = {}
    for batch, inputs, hidden, steps, point_precision, seconds in curve:
        if point_precision == precision:
            measured.setdefault((inputs, hidden), {}).setdefault(batch, {})[steps] = seconds
    if not measured:
        return None
    total = 0.0
    for run in runs:
        inputs, hidden = min(measured, key=lambda key: _log_distance(key, (run.input_size, run.hidden)))
        batches = measured[(inputs, hidden)]
        at_steps = [(batch, _along(sorted(batches[batch].items()), run.steps)) for batch in sorted(batches)]
        total += _along(at_steps, run.batch) * run.weight_elements / (4 * hidden * (inputs + hidden))
    return total


def curve_bandwidth(curve: Sequence[tuple[float, float]], nbytes: int) -> float:
    """The bytes/s a probe measured for a copy of the size nearest ``nbytes`` (log-interpolated)."""
    ordered = sorted(curve)
    if nbytes <= ordered[0][0]:
        return ordered[0][1]
    for (low, low_rate), (high, high_rate) in itertools.pairwise(ordered):
        if nbytes <= high:
            share = (math.log(nbytes) - math.log(low)) / (math.log(high) - math.log(low))
            return math.exp(math.log(low_rate) + share * (math.log(high_rate) - math.log(low_rate)))
    return ordered[-1][1]


def _measured_rates(
    execution: Execution, event: OpEvent, problems: list[Gemm], precision: str, sustained: float
) -> list[float | None] | None:
    """The probe's measured FLOP/s for each GEMM of a matrix op: a convolution's from the
    convolution curve when it has the precision (a transposed one's from the GEMM curve: the probe
    times forward convolutions only), any other op's from the GEMM curve (``sustained`` where its
    grid left a shape out); None when no curve has the precision."""
    rates: list[float | None] = []
    if event.op in ("aten.convolution", "aten._convolution") and not event.arg(6, "transposed", False):
        stride = max((int(s) for s in event.arg(3, "stride", None) or (1,)), default=1)
        weight = event.arg(1, "weight", None)
        positions = math.prod(weight.shape[2:]) if isinstance(weight, TensorMeta) else 0
        rates = [conv_rate(execution.conv_curve, problem, stride, positions, precision) for problem in problems]
    if not any(rates):
        rates = [curve_rate(execution.gemm_curve, problem, precision, sustained) for problem in problems]
    return rates if any(rates) else None


def kernel(
    event: OpEvent, cost: Cost, family: str, matrix: bool, precision: str, label: str, device: Device, cached_share: float
) -> Kernel:
    """The op's kernel on ``device``. ``family``: its op family; ``matrix``: it runs on the matrix
    units; ``precision`` and ``label`` name the peak that applies ("bf16", "bf16 matrix");
    ``cached_share``: the share of its reads the cache serves."""
    if cost.flops == 0 and cost.bytes == 0:
        return Kernel(0.0, 0.0, 0.0, 0, launches=False)
    execution = device.execution
    units = execution.compute_units or 1
    kind = label.rsplit(" ", 1)[-1]
    peak_precision = label.split(" ", 1)[0]
    sustained = execution.sustained_matrix if kind == "matrix" else execution.sustained_vector
    rate = sustained.get(peak_precision) or (device.matrix if kind == "matrix" else device.vector).get(peak_precision)
    if rate is None:
        rate = device.peak(precision, matrix=matrix)[0]
    compute_s = 0.0
    recurrent = None
    if cost.flops and event.op in RECURRENT_LAYERS and execution.rnn_curve:
        recurrent = recurrent_time(execution.rnn_curve, recurrent_runs(event), peak_precision)
    if recurrent is not None:
        compute_s = recurrent
    elif cost.flops:
        problems = gemms(event) if matrix else None
        measured = _measured_rates(execution, event, problems, peak_precision, rate) if problems else None
        if problems and measured:
            compute_s = sum(problem.flops / (r or rate) for problem, r in zip(problems, measured))
            compute_s *= cost.flops / max(sum(problem.flops for problem in problems), 1)
        elif problems and execution.compute_units:
            modelled = sum(gemm_time(problem, rate, units) for problem in problems)
            compute_s = modelled * cost.flops / max(sum(problem.flops for problem in problems), 1)
        else:
            compute_s = cost.flops / rate
    cached = int(cost.bytes_read * cached_share)
    # an op measured on its own (aten.silu; its in-place aten.silu_ too), else its family's curve
    curve = execution.family_curves.get(event.op.removesuffix("_")) or execution.family_curves.get(family) or execution.bandwidth_curve
    if curve:
        memory_s = cost.bytes / curve_bandwidth(curve, cost.bytes)
        cached = 0
    else:
        bandwidth = execution.sustained_bandwidth or device.memory_bandwidth
        cache_bandwidth = execution.cache_bandwidth or bandwidth
        memory_s = (cost.bytes - cached) / bandwidth + cached / cache_bandwidth
    return Kernel(max(compute_s, memory_s, execution.kernel_floor_s), compute_s, memory_s, cached, launches=True)
