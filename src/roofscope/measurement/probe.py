"""``probe``: measure this machine's own ceilings, and write them as a device file.

What is measured (docs/conventions.md, "Probe"), on CPU or on a CUDA device, each on random normal
data (never zeros: a zero page or a zero operand can be served faster than real data), each figure
the median of ``repeats`` timed runs after ``warmup`` untimed ones:

- **GEMM rate** per precision: ``torch.mm`` of two n x n matrices, 2 n^3 FLOPs per run.
  fp32 with TF32 off (the CUDA cores, or the CPU's SIMD units: the device file's ``vector.fp32``);
  tf32 (CUDA only: fp32 matmuls on the tensor cores, ``matrix.tf32``); fp16 and bf16
  (``matrix.fp16``, ``matrix.bf16``); fp8 (``torch._scaled_mm`` on float8_e4m3fn operands with
  unit scales, bf16 out, ``matrix.fp8``). On CUDA n = 8192; on CPU n doubles from 256 until one
  GEMM takes 0.1 s (or n reaches 4096), so each precision fills the machine without taking minutes
  where a precision is emulated. A precision the machine cannot run is reported with the error.
- **memory bandwidth**: ``dst.copy_(src)`` of a large tensor (2 GiB on CUDA, or 1/8 of the free
  memory if less; 256 MiB on CPU, far beyond its caches), counted as bytes read + bytes written.
- **launch floor**: a loop of tiny eager ops (``a + b`` on 256 fp32 elements), no synchronisation
  between them; time / ops: the host's time to issue one op (``launch_overhead``). Likewise a view
  (``x.view(-1)``: no kernel, ``view_overhead``) and an ``nn.Module`` call around nothing (less
  the plain Python call, ``module_overhead``).
- **first touch** (CPU): a fill of a fresh 64 MiB anonymous mapping less a second fill of the same
  pages, resident: the bytes/s at which an op's output takes its page faults (``first_touch``).
- **curves** (``curves=True``, the default), what the prediction reads for a machine it knows only
  from its probe: the GEMM rate over a grid of shapes (M x N x K from 1 x 16 x 9 to
  4096 x 4096 x 4096, those up to ``CURVE_FLOPS`` FLOPs on CPU); the rate of 2-D convolutions
  (``conv2d`` on NCHW tensors: 1 x 1 from as many, a quarter and four times the channels, 3 x 3,
  depthwise 3 x 3 and 7 x 7, and 3 x 3 from 3 input channels, each at stride 1, and 3 x 3, depthwise
  3 x 3 and 3 x 3 and 7 x 7 from 3 input channels at stride 2, to 32-512 channels, 7 x 7 to
  112 x 112 output positions, batch 1 and 8), each point keyed by the implicit GEMM the convolution
  is (groups, M = batch x output positions, N = output channels / groups, K = input channels /
  groups x kernel positions), its stride and its kernel positions, because a convolution
  library (oneDNN on CPU, cuDNN on CUDA) reorders, pads and tiles in ways ``torch.mm`` does not;
  the time of a one-layer ``nn.LSTM`` (128-1024 units, as many inputs or half, batch 1, 8 and 32)
  over 8, 32 and 128 steps, since its time is not proportional to its steps;
  the copy bandwidth over sizes from 16 KiB to the copy above; and the bandwidth of a pointwise
  op, a softmax, a layer norm, a sum over the last dimension and a 3 x 3 max pooling over the same
  sizes, and of silu, gelu, sigmoid, tanh and exp, each under its op's name. Each is fp32 (TF32
  off), and on CUDA fp16 and bf16 too for the GEMMs, convolutions and LSTMs,
  and tf32 for the convolutions (cuDNN's default for fp32); each point is the op's time less the
  launch floor, which the prediction adds as host time, and on a CPU less the first touch of the
  fresh pages its outputs take in the probe's loop (``roofscope.prediction.pages``), which the
  prediction adds as each op's allocations in the model give it.

Timing: CUDA events (the GPU's clock) on CUDA, ``time.perf_counter_ns`` on CPU, where ops are
synchronous. The result is a ``Probe``: its figures beside a catalog device's (``rows``), and
``save(path)`` writes a TOML or JSON device file that ``--device`` and ``get_device`` accept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import itertools
import json
import mmap
import re
import socket
import statistics
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch.utils._pytree import tree_leaves

from roofscope.devices import Device, DeviceError, catalog_match, device_from_entry, figure_value, get_device, to_toml
from roofscope.devices.execution import ConvPoint, GemmPoint, RnnPoint
from roofscope.precision import torch_dtype
from roofscope.prediction.pages import Allocator, loop_fresh_bytes
from roofscope.report.views import ProbeViews
from roofscope.timing import clock_for, cpu_name, thread_count

__all__ = ["GEMM_PRECISIONS", "OVERHEAD_FIGURES", "Probe", "ProbeFigure", "probe"]

#: The precisions whose GEMM rate is probed, and the device-file figure each becomes.
GEMM_PRECISIONS = {"fp32": "vector.fp32", "tf32": "matrix.tf32", "fp16": "matrix.fp16", "bf16": "matrix.bf16", "fp8": "matrix.fp8"}


#: GEMM sizes: n on CUDA; on CPU n doubles from CPU_START_N until one GEMM takes CPU_TARGET_S or n
#: reaches CPU_MAX_N (emulated precisions run at a few GFLOP/s there: a fixed n would take minutes).
# the figures that are a time per call, in seconds
OVERHEAD_FIGURES = ("launch_overhead", "view_overhead", "module_overhead")
CUDA_GEMM_N = 8192
CPU_START_N = 256
CPU_TARGET_S = 0.1
CPU_MAX_N = 4096


@dataclasses.dataclass(frozen=True)
class ProbeFigure:
    """One measured ceiling. ``figure``: the device-file name ("matrix.bf16", "vector.fp32",
    "memory_bandwidth", "launch_overhead"); ``value``: the median (FLOP/s, bytes/s or seconds),
    None when it could not be measured (``error`` says why); ``samples``: each timed run's value."""

    figure: str
    value: float | None
    samples: tuple[float, ...] = ()
    how: str = ""
    error: str | None = None

    @property
    def unit(self) -> str:
        if self.figure in ("memory_bandwidth", "first_touch"):
            return "B/s"
        return "s" if self.figure in OVERHEAD_FIGURES else "FLOP/s"

    @property
    def spread(self) -> tuple[float, float] | None:
        return (min(self.samples), max(self.samples)) if self.samples else None


@dataclasses.dataclass(frozen=True)
class Probe(ProbeViews):
    """This machine's measured ceilings on one torch device, and what they were compared with."""

    device: str  # "cpu", "cuda:0"
    name: str  # "NVIDIA H100 80GB HBM3", "AMD EPYC (2 threads)"
    figures: tuple[ProbeFigure, ...]
    repeats: int
    warmup: int
    host: str
    date: str
    torch_version: str
    memory_capacity: float | None = None  # bytes
    catalog: Device | None = None  # the catalog entry the figures are shown beside
    gemm_curve: tuple[GemmPoint, ...] = ()  # (m, n, k, precision, FLOP/s)
    conv_curve: tuple[ConvPoint, ...] = ()  # (groups, m, n, k, stride, kernel positions, precision, FLOP/s)
    rnn_curve: tuple[RnnPoint, ...] = ()  # (batch, input, hidden, steps, precision, seconds)
    bandwidth_curve: tuple[tuple[float, float], ...] = ()  # (bytes moved, bytes/s) of a copy
    family_curves: dict[str, tuple[tuple[float, float], ...]] = dataclasses.field(default_factory=dict)

    def figure(self, name: str) -> ProbeFigure | None:
        return next((f for f in self.figures if f.figure == name), None)

    def value(self, name: str) -> float | None:
        found = self.figure(name)
        return found.value if found else None

    def entry(self) -> dict[str, Any]:
        """The device in the catalog's file format (units of the catalog: TFLOP/s, GB/s, us)."""
        matrix: dict[str, float] = {}
        vector: dict[str, float] = {}
        notes: dict[str, str] = {}
        entry: dict[str, Any] = {"name": f"{self.name} (roofscope probe)"}
        for item in self.figures:
            if item.value is None:
                continue
            spread = item.spread
            if item.figure == "memory_bandwidth":
                entry["memory_bandwidth_gbs"] = _round(item.value / 1e9)
                notes[item.figure] = f"{item.how}; min {spread[0] / 1e9:.1f}, max {spread[1] / 1e9:.1f} GB/s" if spread else item.how
            elif item.figure == "first_touch":
                entry["first_touch_gbs"] = _round(item.value / 1e9)
                notes[item.figure] = f"{item.how}; min {spread[0] / 1e9:.2f}, max {spread[1] / 1e9:.2f} GB/s" if spread else item.how
            elif item.figure in OVERHEAD_FIGURES:
                entry[f"{item.figure}_us"] = _round(item.value * 1e6)
                notes[item.figure] = f"{item.how}; min {spread[0] * 1e6:.2f}, max {spread[1] * 1e6:.2f} us" if spread else item.how
            else:
                kind, dtype = item.figure.split(".")
                (matrix if kind == "matrix" else vector)[dtype] = _round(item.value / 1e12)
                notes[item.figure] = f"{item.how}; min {spread[0] / 1e12:.4g}, max {spread[1] / 1e12:.4g} TFLOP/s" if spread else item.how
        if "memory_bandwidth_gbs" not in entry:
            raise DeviceError("the probe has no memory bandwidth, which a device file needs")
        if self.memory_capacity:
            entry["memory_capacity_gb"] = _round(self.memory_capacity / 1e9)
        entry["source"] = (
            f"measured by roofscope probe on {self.host} ({self.device}: {self.name}), {self.date}, torch {self.torch_version}; "
            f"median of {self.repeats} runs after {self.warmup} warm-up"
        )
        entry["kind"] = "gpu" if self.device.startswith("cuda") else "cpu"
        entry["matrix"] = matrix
        entry["vector"] = vector
        sustained: dict[str, Any] = {"matrix": dict(matrix), "vector": dict(vector), "memory_bandwidth_gbs": entry["memory_bandwidth_gbs"]}
        entry["sustained"] = sustained
        if self.gemm_curve or self.conv_curve or self.rnn_curve or self.bandwidth_curve:
            entry["curves"] = {
                "gemm": [[m, n, k, p, _round(rate / 1e12)] for m, n, k, p, rate in self.gemm_curve],
                "conv": [[g, m, n, k, s, kp, p, _round(rate / 1e12)] for g, m, n, k, s, kp, p, rate in self.conv_curve],
                "rnn": [[b, i, h, t, p, _round(seconds * 1e6)] for b, i, h, t, p, seconds in self.rnn_curve],
                "bandwidth": [[int(size), _round(rate / 1e9)] for size, rate in self.bandwidth_curve],
                "family": {
                    family: [[int(size), _round(rate / 1e9)] for size, rate in curve] for family, curve in self.family_curves.items()
                },
            }
            notes["curves"] = (
                "GEMM: torch.mm over a grid of shapes, TFLOP/s (m, n, k); conv: conv2d over a grid of shapes, TFLOP/s "
                "(groups, m, n, k of its implicit GEMM, its stride and kernel positions); rnn: a one-layer nn.LSTM over a grid of shapes, us "
                "(batch, input, hidden, steps); bandwidth and family: bytes read + written per second "
                "(GB/s) of a copy, a pointwise mul, softmax, layer norm, sum and max pooling, and of silu, gelu, sigmoid, tanh and exp "
                "(by op name), by the bytes moved; each less the launch floor and the first touch of its outputs' fresh pages"
            )
        entry["notes"] = notes
        return entry

    def to_device(self) -> Device:
        """The probed ceilings as a Device (what ``get_device`` reads back from ``save``)."""
        return device_from_entry(_key(self.name), self.entry(), "roofscope probe")

    def rows(self) -> list[tuple[str, float | None, float | None, str]]:
        """(figure, probed value, the catalog device's value or None, how it was measured)."""
        rows = []
        for item in self.figures:
            rows.append((item.figure, item.value, figure_value(self.catalog, item.figure), item.error or item.how))
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "name": self.name,
            "host": self.host,
            "date": self.date,
            "torch": self.torch_version,
            "repeats": self.repeats,
            "warmup": self.warmup,
            "catalog": self.catalog.key if self.catalog else None,
            "figures": [
                {
                    "figure": f.figure,
                    "value": f.value,
                    "unit": f.unit,
                    "samples": list(f.samples),
                    "how": f.how,
                    "error": f.error,
                    "catalog": figure_value(self.catalog, f.figure),
                }
                for f in self.figures
            ],
        }

    def save(self, path: str | Path) -> Path:
        """Write the device file: TOML, or JSON for a .json path. ``--device PATH`` reads it."""
        path = Path(path)
        entry = self.entry()
        if path.suffix.lower() == ".json":
            text = json.dumps(entry, indent=2) + "\n"
        elif path.suffix.lower() == ".toml":
            text = to_toml(
                entry,
                header=f"roofscope probe: the measured ceilings of {self.name} on {self.host}. Use: roofscope MODEL --device {path.name}",
            )
        else:
            raise ValueError(f"a device file is .toml or .json, not {path.name!r}")
        path.write_text(text, encoding="utf-8")
        return path


def _round(value: float) -> float:
    """Four significant digits: more than any of these figures holds, and still readable."""
    return float(f"{value:.4g}")


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + "-probe"


# ----------------------------------------------------------------------------------------------------
# Timing


class _Timer:
    """Times ``fn()`` on an idle device with measure's clocks: CUDA events after a synchronisation, or
    perf_counter on CPU (synchronous ops)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.clock = clock_for(device)

    def time(self, fn: Callable[[], Any]) -> float:
        """Seconds one call of ``fn`` takes."""
        elapsed: list[float] = []
        with self.clock.forward(elapsed):
            fn()
        return elapsed[0]

    def samples(self, fn: Callable[[], Any], repeats: int, warmup: int) -> list[float]:
        for _ in range(warmup):
            fn()
        return [self.time(fn) for _ in range(repeats)]


@contextlib.contextmanager
def _tf32(enabled: bool) -> Iterator[None]:
    """TF32 on or off for the block, for matmuls and for cuDNN's convolutions and RNNs (which torch
    runs in TF32 by default); the settings are put back."""
    backends = [torch.backends.cuda.matmul, getattr(torch.backends.cudnn, "conv", None), getattr(torch.backends.cudnn, "rnn", None)]
    modern = [backend for backend in backends if backend is not None and hasattr(backend, "fp32_precision")]
    if modern:
        before = [backend.fp32_precision for backend in modern]
        for backend in modern:
            backend.fp32_precision = "tf32" if enabled else "ieee"
        try:
            yield
        finally:
            for backend, precision in zip(modern, before, strict=True):
                backend.fp32_precision = precision
    else:  # pragma: no cover - torch without the fp32_precision API
        matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
        flags = (matmul.allow_tf32, cudnn.allow_tf32)
        matmul.allow_tf32 = cudnn.allow_tf32 = enabled
        try:
            yield
        finally:
            matmul.allow_tf32, cudnn.allow_tf32 = flags


def _gemm(precision: str, n: int, device: torch.device, generator: torch.Generator) -> Callable[[], Any]:
    """A callable running one n x n x n GEMM in ``precision`` on random normal operands."""
    if precision == "fp8":
        if not hasattr(torch, "float8_e4m3fn"):
            raise RuntimeError("this torch has no float8_e4m3fn")
        a = torch.randn(n, n, device=device, generator=generator).to(torch.float8_e4m3fn)
        b = torch.randn(n, n, device=device, generator=generator).to(torch.float8_e4m3fn).t()  # column-major, as _scaled_mm wants
        one = torch.ones((), device=device)
        return lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
    dtype = torch_dtype("fp32" if precision == "tf32" else precision)  # tf32: fp32 operands, TF32 math
    a = torch.randn(n, n, device=device, dtype=dtype, generator=generator)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=generator)
    out = torch.empty(n, n, device=device, dtype=dtype)
    return lambda: torch.mm(a, b, out=out)


def _gemm_figure(
    precision: str, device: torch.device, timer: _Timer, size: int | None, repeats: int, warmup: int, generator: torch.Generator
) -> ProbeFigure:
    figure = GEMM_PRECISIONS[precision]
    if precision == "tf32" and device.type != "cuda":
        return ProbeFigure(figure, None, error="TF32 is a tensor-core mode of NVIDIA GPUs; not probed on CPU")
    run: Callable[[], Any] | None = None
    try:
        with _tf32(precision == "tf32") if device.type == "cuda" else contextlib.nullcontext():
            if size is None and device.type == "cuda":
                size = CUDA_GEMM_N
            n = size or CPU_START_N
            while True:
                run = _gemm(precision, n, device, generator)
                run()
                if size is not None:
                    break
                once = timer.time(run)
                if once >= CPU_TARGET_S or n >= CPU_MAX_N:
                    break
                del run
                n *= 2
            times = timer.samples(run, repeats, warmup)
    except (RuntimeError, TypeError, NotImplementedError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return ProbeFigure(figure, None, error=f"{precision} GEMM not supported here: {first[:160]}")
    finally:
        run = None  # free the operands before the next precision
    flops = 2 * n**3
    rates = tuple(flops / t for t in times)
    op = (
        "torch._scaled_mm (float8_e4m3fn, unit scales, bf16 out)"
        if precision == "fp8"
        else f"torch.mm {precision}" + (" (TF32 off)" if precision == "fp32" and device.type == "cuda" else "")
    )
    return ProbeFigure(figure, flops / statistics.median(times), rates, f"{n} x {n} x {n} {op}, random normal data, median of {repeats}")


def _copy_figure(
    device: torch.device, timer: _Timer, nbytes: int | None, repeats: int, warmup: int, generator: torch.Generator
) -> ProbeFigure:
    if nbytes is None:
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            nbytes = min(2 * 2**30, free // 8)
        else:
            nbytes = 256 * 2**20
    numel = max(nbytes // 4, 1)
    src = torch.randn(numel, device=device, generator=generator)
    dst = torch.randn(numel, device=device, generator=generator)
    times = timer.samples(lambda: dst.copy_(src), repeats, warmup)
    moved = 2 * src.nbytes  # read src, write dst
    rates = tuple(moved / t for t in times)
    size = f"{src.nbytes / 2**30:g} GiB" if src.nbytes >= 2**30 else f"{src.nbytes / 2**20:g} MiB"
    return ProbeFigure(
        "memory_bandwidth",
        moved / statistics.median(times),
        rates,
        f"copy of {size} fp32 (bytes read + written), random normal data, median of {repeats}",
    )


#: The fresh pages the first-touch figure writes: many times a CPU's pages, few seconds to write.
FIRST_TOUCH_BYTES = 64 * 2**20


def _first_touch_figure(timer: _Timer, repeats: int, warmup: int) -> ProbeFigure:
    """CPU: the bytes/s at which freshly mapped pages are written, beyond the time of writing them
    again once resident: an anonymous mapping of ``FIRST_TOUCH_BYTES`` filled twice, each time on
    the threads torch runs its ops on, so the page faults are taken as an op's output takes them."""
    rates = []
    for index in range(warmup + repeats):
        with mmap.mmap(-1, FIRST_TOUCH_BYTES) as mapped:
            fill = functools.partial(torch.frombuffer(mapped, dtype=torch.float32).fill_, 1.0)
            fresh = timer.time(fill)
            resident = timer.time(fill)
            del fill  # the tensor holds the mapping open
        if index >= warmup:
            rates.append(FIRST_TOUCH_BYTES / max(fresh - resident, 1e-9))
    return ProbeFigure(
        "first_touch",
        statistics.median(rates),
        tuple(rates),
        f"fill of a fresh {FIRST_TOUCH_BYTES // 2**20} MiB anonymous mapping less the fill of the same pages once resident; median of {repeats}",
    )


def _launch_figure(device: torch.device, timer: _Timer, ops: int, repeats: int, warmup: int, generator: torch.Generator) -> ProbeFigure:
    a = torch.randn(256, device=device, generator=generator)
    b = torch.randn(256, device=device, generator=generator)

    def loop() -> None:
        for _ in range(ops):
            torch.add(a, b)

    times = timer.samples(loop, repeats, warmup)
    per_op = tuple(t / ops for t in times)
    return ProbeFigure(
        "launch_overhead",
        statistics.median(times) / ops,
        per_op,
        f"{ops} tiny eager ops (a + b, 256 fp32 elements) back to back, no synchronisation between them; time / ops, median of {repeats}",
    )


#: On CPU the GEMM curve keeps the shapes of at most this many FLOPs (a few tenths of a second each).
CURVE_FLOPS = 4e9
GEMM_M = (1, 8, 64, 256, 1024, 4096)
GEMM_N = (16, 64, 256, 1024, 4096)
GEMM_K = (9, 64, 256, 1024, 4096)


def _per_op(timer: _Timer, fn: Callable[[], Any], repeats: int, warmup: int, *, at_least: float = 2e-3) -> list[float]:
    """Seconds one call of ``fn`` takes, each sample the mean of enough calls to last ``at_least``."""
    fn()
    once = timer.time(fn)
    calls = max(1, min(10_000, int(at_least / max(once, 1e-9))))

    def loop() -> None:
        for _ in range(calls):
            fn()

    return [t / calls for t in timer.samples(loop, repeats, warmup)]


def _host_figures(device: torch.device, timer: _Timer, repeats: int, warmup: int, generator: torch.Generator) -> list[ProbeFigure]:
    """The host's time per view and per module call (the launch floor is ``_launch_figure``'s)."""
    x = torch.randn(256, device=device, generator=generator)
    views = _per_op(timer, lambda: x.view(-1), repeats, warmup)
    identity = torch.nn.Identity()
    modules = _per_op(timer, lambda: identity(x), repeats, warmup)

    def plain(value: torch.Tensor) -> torch.Tensor:
        return value

    calls = _per_op(timer, lambda: plain(x), repeats, warmup)
    call = statistics.median(calls)
    module_times = tuple(max(t - call, 0.0) for t in modules)
    return [
        ProbeFigure(
            "view_overhead", statistics.median(views), tuple(views), f"x.view(-1) on 256 fp32 elements, back to back; median of {repeats}"
        ),
        ProbeFigure(
            "module_overhead",
            statistics.median(module_times),
            module_times,
            f"nn.Identity()(x) back to back, less a plain Python call ({call * 1e9:.0f} ns); median of {repeats}",
        ),
    ]


def _less_launch(times: list[float], launch_s: float, first_touch_s: float = 0.0) -> float:
    """A curve point's time: the median less the launch floor (the prediction adds that as host
    time) and less the first touch of fresh pages its outputs take in the probe's loop (the
    prediction adds what they take in the model), and at least 5% of the median, so a noisy floor
    never leaves nothing."""
    median = statistics.median(times)
    return max(median - launch_s - first_touch_s, median * 0.05)


@dataclasses.dataclass(frozen=True)
class _CurveRun:
    """What every curve's measurement shares: the device and its timer, the launch floor taken off
    each point, repeats and warm-up runs per point, the random generator, the largest tensors
    (``largest``: the copy's bytes, beyond which the bandwidth curves stop), and on a CPU the
    allocator and the first-touch rate that say what its outputs' fresh pages cost each call."""

    device: torch.device
    timer: _Timer
    launch_s: float
    repeats: int
    warmup: int
    generator: torch.Generator
    largest: int
    allocator: Allocator | None = None
    first_touch_bandwidth: float | None = None

    @property
    def flop_limit(self) -> float:
        """The most FLOPs of one curve point: ``CURVE_FLOPS`` on a CPU; on CUDA, an 8192^3 GEMM."""
        return CURVE_FLOPS if self.device.type == "cpu" else 2 * 8192**3

    def kernel_s(self, fn: Callable[[], Any], *, allocates: bool = True) -> float:
        """One point's time: ``fn``'s, less the launch floor and the first touch of the outputs it
        allocates (``_less_launch``)."""
        first_touch_s = 0.0
        if allocates and self.allocator is not None and self.first_touch_bandwidth:
            sizes = [leaf.untyped_storage().nbytes() for leaf in tree_leaves(fn()) if isinstance(leaf, torch.Tensor)]
            first_touch_s = loop_fresh_bytes(sizes, self.allocator) / self.first_touch_bandwidth
        return _less_launch(_per_op(self.timer, fn, self.repeats, self.warmup), self.launch_s, first_touch_s)


def _gemm_curve(run: _CurveRun, precisions: list[str]) -> tuple[GemmPoint, ...]:
    """The GEMM rate over the grid of shapes, per precision (fp32 with TF32 off)."""
    points = []
    device, generator = run.device, run.generator
    for precision in precisions:
        dtype = torch_dtype(precision)
        with _tf32(False) if device.type == "cuda" else contextlib.nullcontext():
            for m in GEMM_M:
                for n in GEMM_N:
                    for k in GEMM_K:
                        flops = 2 * m * n * k
                        if flops > run.flop_limit:
                            continue
                        a = torch.randn(m, k, device=device, generator=generator, dtype=dtype)
                        b = torch.randn(k, n, device=device, generator=generator, dtype=dtype)
                        points.append((m, n, k, precision, flops / run.kernel_s(functools.partial(torch.mm, a, b))))
    return tuple(points)


class _ConvKind(NamedTuple):
    """One kind of convolution of the conv curve: a square kernel of ``size``, padding of half of
    it (the size kept at stride 1, halved at stride 2); depthwise (one group per channel) or dense;
    its input channels ``inputs`` (3: an image's) or, where None, ``ratio`` times its output
    channels."""

    size: int
    depthwise: bool = False
    stride: int = 1
    inputs: int | None = None
    ratio: float = 1.0

    def in_channels(self, channels: int) -> int:
        """The input channels of the kind at ``channels`` output channels."""
        return self.inputs or max(1, int(channels * self.ratio))


#: The convolutions of the conv curve, over output channels, output sizes (square) and batches.
#: The 3-channel ones are the first layers of image models; stride 2 is how they and their
#: downsampling layers halve the size, and it changes a convolution's speed (more input read per
#: output); a 1 x 1 that widens or narrows the channels four times is a bottleneck's (ResNet's 4,
#: MobileNet's and EfficientNet's 6).
CONV_KINDS: dict[str, _ConvKind] = {
    "1x1": _ConvKind(1),
    "1x1 from a quarter of the channels": _ConvKind(1, ratio=0.25),
    "1x1 from four times the channels": _ConvKind(1, ratio=4.0),
    "3x3": _ConvKind(3),
    "3x3 stride 2": _ConvKind(3, stride=2),
    "depthwise 3x3": _ConvKind(3, depthwise=True),
    "depthwise 3x3 stride 2": _ConvKind(3, depthwise=True, stride=2),
    "depthwise 7x7": _ConvKind(7, depthwise=True),
    "3x3 from 3 channels": _ConvKind(3, inputs=3),
    "3x3 stride 2 from 3 channels": _ConvKind(3, stride=2, inputs=3),
    "7x7 stride 2 from 3 channels": _ConvKind(7, stride=2, inputs=3),
}
CONV_CHANNELS = (32, 64, 128, 256, 512)
CONV_SIZES = (7, 14, 28, 56, 112)
CONV_BATCHES = (1, 8)


def _conv_curve(run: _CurveRun, precisions: list[str]) -> tuple[ConvPoint, ...]:
    """The convolution rate over the grid of shapes, per precision, each point keyed by its implicit
    GEMM (groups, M, N, K), its stride and its kernel positions; on CUDA "fp32" with TF32 off and
    "tf32" (fp32 tensors) with cuDNN's TF32 on. Shapes whose input and output together exceed ``largest`` bytes (the
    copy's size) are left out, as the bandwidth curves stop there."""
    points = []
    device, generator = run.device, run.generator
    grid = list(itertools.product(CONV_KINDS.values(), CONV_CHANNELS, CONV_SIZES, CONV_BATCHES))
    for precision in precisions:
        dtype = torch_dtype(precision) or torch.float32  # tf32: fp32 tensors
        with _tf32(precision == "tf32") if device.type == "cuda" else contextlib.nullcontext():
            for kind, channels, side, batch in grid:
                size, stride, inputs = kind.size, kind.stride, kind.in_channels(channels)
                groups = channels if kind.depthwise else 1
                m, n, k = batch * side * side, channels // groups, inputs // groups * size * size
                flops = 2 * groups * m * n * k
                if flops > run.flop_limit or m * (inputs * stride**2 + channels) * dtype.itemsize > run.largest:
                    continue
                x = torch.randn(batch, inputs, side * stride, side * stride, device=device, generator=generator, dtype=dtype)
                w = torch.randn(channels, inputs // groups, size, size, device=device, generator=generator, dtype=dtype)
                conv = functools.partial(torch.nn.functional.conv2d, x, w, None, stride, size // 2, 1, groups)
                points.append((groups, m, n, k, stride, size * size, precision, flops / run.kernel_s(conv)))
    return tuple(points)


#: The recurrent layers of the rnn curve: one-layer LSTMs of these hidden sizes, fed half or as many
#: features, over batches of sequences of several lengths (time steps). A layer's time is not
#: proportional to its steps (oneDNN reorders the weights on every call, before the first step);
#: the prediction interpolates between the lengths.
RNN_HIDDEN = (128, 256, 512, 1024)
RNN_BATCHES = (1, 8, 32)
RNN_STEPS = (8, 32, 128)


def _rnn_curve(run: _CurveRun, precisions: list[str]) -> tuple[RnnPoint, ...]:
    """Per shape, length and precision (batch, input, hidden, steps, precision, seconds): the op an
    ``nn.LSTM`` of one layer runs in eval mode (``torch.lstm``, batch first, the initial state
    given), less the launch floor. Lengths whose input and output exceed ``largest`` bytes are left
    out, and lengths beyond the first two that exceed the FLOP limit: at least two lengths, where
    they fit, split a call's time into its cost per call and per step."""
    points = []
    device, generator = run.device, run.generator
    for precision in precisions:
        dtype = torch_dtype(precision) or torch.float32
        with _tf32(False) if device.type == "cuda" else contextlib.nullcontext(), torch.no_grad():
            for hidden, batch, half in itertools.product(RNN_HIDDEN, RNN_BATCHES, (True, False)):
                inputs = hidden // 2 if half else hidden
                weights = torch.nn.LSTM(inputs, hidden, batch_first=True).to(device=device, dtype=dtype)._flat_weights
                state = tuple(torch.randn(1, batch, hidden, device=device, generator=generator, dtype=dtype) for _ in range(2))
                for index, steps in enumerate(RNN_STEPS):
                    flops = 2 * 4 * hidden * (inputs + hidden) * batch * steps
                    if batch * steps * (inputs + hidden) * dtype.itemsize > run.largest or (flops > run.flop_limit and index >= 2):
                        break
                    x = torch.randn(batch, steps, inputs, device=device, generator=generator, dtype=dtype)
                    lstm = functools.partial(torch.lstm, x, state, weights, True, 1, 0.0, False, False, True)
                    points.append((batch, inputs, hidden, steps, precision, run.kernel_s(lstm)))
    return tuple(points)


def _sizes(largest: int) -> list[int]:
    sizes, size = [], 16 * 2**10
    while size <= largest:
        sizes.append(size)
        size *= 4
    return sizes


#: The ops of the family curves: each takes a 2-D fp32 tensor of ``rows`` x 1024 and returns its
#: result; the bytes it moves (read + written) are a multiple of the input's bytes.
_FAMILY_OPS: dict[str, tuple[Callable[[torch.Tensor], Any], float]] = {
    "pointwise": (lambda x: torch.mul(x, x), 2.0),
    "softmax": (lambda x: torch.softmax(x, dim=-1), 2.0),
    "norm": (lambda x: torch.layer_norm(x, (x.shape[-1],)), 2.0),
    "reduction": (lambda x: torch.sum(x, dim=-1), 1.0),
    # max pooling, 3 x 3 windows, stride 2, over 32 x 32 planes (a CNN's first pooling): the input
    # read, a quarter as many fp32 outputs written with their int64 indices, 1 + 0.25 x 3 inputs'
    # bytes (a CPU's max pooling writes the indices even when they are not asked for)
    "pooling": (lambda x: torch.ops.aten.max_pool2d_with_indices(x.view(-1, 1, 32, 32), [3, 3], [2, 2], [1, 1]), 1.75),
    # Pointwise ops whose math costs far more per element than a mul's on a CPU (an exp, an erf, a
    # tanh: several times slower than a mul on cache-resident data), each measured on its own and
    # kept under its op's name: the prediction reads an op's own curve before its family's.
    "aten.silu": (torch.nn.functional.silu, 2.0),
    "aten.gelu": (torch.nn.functional.gelu, 2.0),
    "aten.sigmoid": (torch.sigmoid, 2.0),
    "aten.tanh": (torch.tanh, 2.0),
    "aten.exp": (torch.exp, 2.0),
}


def _bandwidth_curves(run: _CurveRun) -> tuple[tuple[tuple[float, float], ...], dict[str, tuple[tuple[float, float], ...]]]:
    copy: list[tuple[float, float]] = []
    families: dict[str, list[tuple[float, float]]] = {name: [] for name in _FAMILY_OPS}
    for size in _sizes(run.largest):
        x = torch.randn(max(size // 4 // 1024, 1), 1024, device=run.device, generator=run.generator)
        out = torch.empty_like(x)
        copy.append((2 * x.nbytes, 2 * x.nbytes / run.kernel_s(functools.partial(out.copy_, x), allocates=False)))
        for name, (op, moved) in _FAMILY_OPS.items():
            families[name].append((moved * x.nbytes, moved * x.nbytes / run.kernel_s(functools.partial(op, x))))
    return tuple(copy), {name: tuple(curve) for name, curve in families.items()}


def _memory_capacity(device: torch.device) -> float | None:
    if device.type == "cuda":
        return float(torch.cuda.get_device_properties(device).total_memory)
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def probe(
    device: str | torch.device | None = None,
    *,
    dtypes: list[str] | tuple[str, ...] | None = None,
    gemm_size: int | None = None,
    copy_bytes: int | None = None,
    launch_ops: int = 2000,
    repeats: int = 10,
    warmup: int = 2,
    compare: str | Device | None = "auto",
    curves: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
) -> Probe:
    """Measure this machine's ceilings on ``device`` ("cpu", "cuda", "cuda:1"; by default CUDA
    when there is one, else the CPU).

    ``dtypes``: the GEMM precisions to probe (default all of ``GEMM_PRECISIONS``); ``gemm_size``:
    n of the n x n x n GEMMs (default 8192 on CUDA, sized by time on CPU); ``copy_bytes``: the size
    of the copied tensor; ``launch_ops``: tiny ops per launch-floor run. ``compare``: the catalog
    device shown beside the figures ("auto": the one matching the GPU's name; none on CPU).
    ``curves``: also measure the curves the prediction reads (a minute or two).
    ``progress(step, done, total)``, if given, is called before each step (and once at the end,
    with done == total): one per GEMM precision, the copy, the launch floor, the host costs, and the
    GEMM, convolution, recurrent and bandwidth curves.
    """
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")
    if gemm_size is not None and gemm_size < 1:
        raise ValueError(f"gemm_size must be positive, got {gemm_size}")
    if launch_ops < 1:
        raise ValueError(f"launch_ops must be positive, got {launch_ops}")
    wanted = list(dtypes) if dtypes is not None else list(GEMM_PRECISIONS)
    unknown = [d for d in wanted if d not in GEMM_PRECISIONS]
    if unknown:
        raise ValueError(f"unknown GEMM precision(s) {', '.join(unknown)}: use {', '.join(GEMM_PRECISIONS)}")
    target = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if target.type not in ("cpu", "cuda"):
        raise ValueError(f"probe runs on 'cpu' or 'cuda', not {target.type!r}")
    if target.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("CUDA is not available on this machine (torch.cuda.is_available() is False)")
        if target.index is None:
            target = torch.device("cuda", torch.cuda.current_device())
        name = torch.cuda.get_device_name(target)
    else:
        name = f"{cpu_name()} ({thread_count()})"
    if isinstance(compare, str) and compare == "auto":
        key = catalog_match(name) if target.type == "cuda" else None
        catalog = get_device(key) if key else None
    else:
        catalog = get_device(compare) if compare is not None else None

    timer = _Timer(target)
    figures: list[ProbeFigure] = []
    devices = [target.index] if target.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.cuda.device(target) if target.type == "cuda" else contextlib.nullcontext():
        generator = torch.Generator(device=target)
        generator.manual_seed(0)
        steps = len(wanted) + 3 + (4 if curves else 0)
        done = 0

        def step(label: str) -> None:
            nonlocal done
            if progress is not None:
                progress(label, done, steps)
            done += 1

        for precision in wanted:
            step(f"{precision} GEMM")
            figures.append(_gemm_figure(precision, target, timer, gemm_size, repeats, warmup, generator))
        step("memory bandwidth")
        figures.append(_copy_figure(target, timer, copy_bytes, repeats, warmup, generator))
        step("launch floor")
        launch = _launch_figure(target, timer, launch_ops, repeats, warmup, generator)
        figures.append(launch)
        step("host costs")
        figures += _host_figures(target, timer, repeats, warmup, generator)
        allocator: Allocator | None = None
        first_touch: ProbeFigure | None = None
        if target.type == "cpu":
            allocator = Allocator.of_process()[0]
            first_touch = _first_touch_figure(timer, repeats, warmup)
            figures.append(first_touch)
        gemm_curve: tuple[GemmPoint, ...] = ()
        conv_curve: tuple[ConvPoint, ...] = ()
        rnn_curve: tuple[RnnPoint, ...] = ()
        bandwidth_curve: tuple[tuple[float, float], ...] = ()
        family_curves: dict[str, tuple[tuple[float, float], ...]] = {}
        if curves:
            step("GEMM curve")
            precisions: list[str] = ["fp32"] if target.type == "cpu" else [p for p in ("fp32", "bf16", "fp16") if p in wanted]
            copied = next((f for f in figures if f.figure == "memory_bandwidth"), None)
            largest = int(copy_bytes or (256 * 2**20 if target.type == "cpu" else 2 * 2**30)) if copied else 16 * 2**20
            run = _CurveRun(
                target,
                timer,
                launch.value or 0.0,
                max(1, min(repeats, 3)),
                1,
                generator,
                largest,
                allocator,
                first_touch.value if first_touch is not None else None,
            )
            gemm_curve = _gemm_curve(run, precisions)
            step("convolution curve")
            conv_curve = _conv_curve(run, precisions + (["tf32"] if target.type == "cuda" and "tf32" in wanted else []))
            step("recurrent curve")
            rnn_curve = _rnn_curve(run, precisions)
            step("bandwidth curves")
            bandwidth_curve, family_curves = _bandwidth_curves(run)
        step("done")
    version = torch.__version__ + (f", CUDA {torch.version.cuda}" if target.type == "cuda" and torch.version.cuda else "")
    return Probe(
        device=str(target),
        name=name,
        figures=tuple(figures),
        repeats=repeats,
        warmup=warmup,
        host=socket.gethostname(),
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        torch_version=version,
        memory_capacity=_memory_capacity(target),
        catalog=catalog,
        gemm_curve=gemm_curve,
        conv_curve=conv_curve,
        rnn_curve=rnn_curve,
        bandwidth_curve=bandwidth_curve,
        family_curves=family_curves,
    )
