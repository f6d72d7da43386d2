"""``measure``: run a model for real and attach what each op, each module and the model took.

What is timed (docs/conventions.md, "Measured"):

1. the analysis: ``analyze`` on the very tensors that are then timed, so its ops are the ops that run;
2. ``warmup`` plain forwards and one per-op-timed forward, untimed (allocator, cuDNN and lazy
   initialisation, the timer's own CUDA events);
3. ``repeats`` rounds, each of one **plain forward** (no dispatch mode, no hook: the model's real
   time) and one **per-op-timed forward**, run under the same dispatch and function modes as the
   analysis (so the same aten ops, decompositions and logical ops come out, in the same order), in
   which each op is bracketed by a clock:
   - CUDA: a pair of CUDA events recorded on the current stream around the op, no synchronisation
     between ops, one at the end of the forward; an op's time is the GPU time between its events;
   - CPU: ``time.perf_counter_ns`` around the op (CPU ops are synchronous).
   A whole forward is timed the same way: CUDA events after a synchronisation, or perf_counter.
4. each timed forward's op sequence (name and module) is checked against the analysis' ops; a
   forward that ran other ops (data-dependent control flow) is left out, and when none matches no
   per-op time is attached (``report.measurement.note`` says where they differ).

Every figure is a median over the repeats. The model is left as found: same mode, buffers (batch
norm's running statistics in train mode) restored, torch's RNG state restored, nothing attached.
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import chain
from typing import Any

import torch

from roofscope.analysis import AnalysisError, analyze
from roofscope.capture import CaptureError, Guard, ModuleStack, Recorder, session
from roofscope.devices import Device, DeviceError, resolve_device
from roofscope.formulas import Formulas
from roofscope.inputs import TensorSpec, prepare_inputs
from roofscope.measured import Measurement, dominant_peak
from roofscope.precision import dtype_key, torch_dtype
from roofscope.report import Report
from roofscope.timing import CpuClock, CudaClock, clock_for, cpu_name, thread_count

__all__ = ["MeasureError", "cast_for_run", "measure"]


class MeasureError(AnalysisError):
    """The model cannot be measured as given; the message says what to change."""


class _OpTimer(Recorder):
    """The analysis' dispatch mode (same decompositions, same logical ops, hence the same op
    sequence), but instead of describing each op it times it and notes its name and module."""

    def __init__(self, modules: ModuleStack, clock: CpuClock | CudaClock) -> None:
        super().__init__(modules)
        self.clock = clock
        self.seen: list[tuple[str, str]] = []

    def call(self, names: tuple[str, str], func: Any, args: Any, kwargs: Mapping[str, Any]) -> Any:
        started: Any = self.clock.start()
        result = func(*args, **kwargs)
        self.clock.stop(started)
        self.seen.append((names[0], self.modules.current))
        return result


# ----------------------------------------------------------------------------------------------------
# Checks: where the model is, and where it runs


def _model_device(model: torch.nn.Module) -> torch.device | None:
    from torch._subclasses.fake_tensor import FakeTensor

    found: dict[torch.device, str] = {}
    for name, tensor in chain(model.named_parameters(), model.named_buffers()):
        if isinstance(tensor, FakeTensor):
            raise MeasureError(f"{name} is a fake tensor: measure runs the model for real; build it on cpu or cuda")
        found.setdefault(tensor.device, name)
    if len(found) > 1:
        listed = ", ".join(f"{name} on {device}" for device, name in found.items())
        raise MeasureError(f"the model's tensors are on several devices ({listed}): measure runs a model that is on one device")
    return next(iter(found), None)


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return True
    current = torch.cuda.current_device()
    return (a.index if a.index is not None else current) == (b.index if b.index is not None else current)


def _run_device(model: torch.nn.Module, device: str | torch.device | None) -> torch.device:
    held = _model_device(model)
    if held is not None and held.type == "meta":
        raise MeasureError(
            "the model is on the meta device: it has no weights to run. measure times a real model; "
            "build it on cpu or cuda (roofscope.analyze counts a meta model without running it)"
        )
    try:
        wanted = torch.device(device) if device is not None else None
    except (RuntimeError, TypeError) as error:
        raise MeasureError(f"device={device!r} is not a torch device: use 'cpu' or 'cuda' ({error})") from None
    if wanted is not None and wanted.type not in ("cpu", "cuda"):
        raise MeasureError(f"measure runs on 'cpu' or 'cuda', not {wanted.type!r}")
    run = wanted or held or torch.device("cpu")
    if run.type == "cuda" and not torch.cuda.is_available():
        raise MeasureError("device='cuda', but CUDA is not available on this machine (torch.cuda.is_available() is False)")
    if held is not None and wanted is not None and not _same_device(held, wanted):
        raise MeasureError(
            f"the model is on {held} but device={str(device)!r}: measure runs the model where it is and does not move it; "
            f"move it first (model.to({str(device)!r})) or pass device={str(held)!r}"
        )
    if run.type == "cuda" and run.index is None:
        run = torch.device("cuda", torch.cuda.current_device())
    return run


def _check_inputs(args: Sequence[Any], kwargs: Mapping[str, Any], run: torch.device) -> None:
    from torch._subclasses.fake_tensor import FakeTensor

    for label, value in chain(((f"input {i}", v) for i, v in enumerate(args)), ((f"input {k!r}", v) for k, v in kwargs.items())):
        if not isinstance(value, torch.Tensor):
            continue
        if isinstance(value, FakeTensor) or value.device.type == "meta":
            raise MeasureError(f"{label} is a {'fake' if isinstance(value, FakeTensor) else 'meta'} tensor: measure needs real inputs")
        if not _same_device(value.device, run):
            raise MeasureError(f"{label} is on {value.device} but the model runs on {run}: move it with .to({str(run)!r})")


def _describe_device(run: torch.device) -> str:
    if run.type == "cuda":
        return f"{run} ({torch.cuda.get_device_name(run)})"
    return f"cpu ({cpu_name()}, {thread_count()})"


def _ceilings(roofline: Any, run: torch.device, overrides: dict[str, Any]) -> tuple[Device | None, str | None]:
    """The roofline device and where its peaks come from."""
    from roofscope.devices import catalog_match

    given = any(value is not None for value in overrides.values())
    if isinstance(roofline, str) and roofline == "auto":
        matched = catalog_match(torch.cuda.get_device_name(run)) if run.type == "cuda" else None
        if matched is None:
            if not given:
                return None, None
            roofline = None
        else:
            device = resolve_device(matched, **overrides)
            return device, f"catalog {matched} (datasheet peaks), matched from {torch.cuda.get_device_name(run)!r}"
    device = resolve_device(roofline, **overrides)
    if device is None:
        return None, None
    if isinstance(roofline, Device) or roofline is None:
        origin = f"given ({device.name})"
    elif str(roofline).lower().endswith((".toml", ".json")):
        origin = f"file {roofline} ({device.name})"
    else:
        origin = f"catalog {device.key} (datasheet peaks)"
    return device, origin + (" with overrides" if given and roofline is not None else "")


@contextlib.contextmanager
def _left_as_found(model: torch.nn.Module, run: torch.device) -> Iterator[None]:
    """Buffers the forwards update in place (running statistics), parameters and torch's RNG are put
    back. Parameters are copied up front, unlike in ``analyze``: the plain forwards run outside any
    mode, so a forward that writes its own weights (``clamp_`` under ``no_grad``) is seen by no guard."""
    guard = Guard(model)
    parameters = [(parameter, parameter.detach().clone()) for parameter in model.parameters()]
    devices = [run.index] if run.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        guard.restore()
        with torch.no_grad():
            for parameter, saved in parameters:
                parameter.copy_(saved)


def _run_precision(model: torch.nn.Module) -> torch.dtype | None:
    """The precision a model runs in, when all its floating-point weights share one (the report
    then names it, and its peaks are that precision's); None for a mix, or a model without weights."""
    dtypes = {t.dtype for t in chain(model.parameters(), model.buffers()) if t.is_floating_point()}
    return next(iter(dtypes)) if len(dtypes) == 1 and dtype_key(next(iter(dtypes))) else None


def _cudnn_tf32() -> bool:
    """Whether cuDNN runs fp32 convolutions in TF32 (torch's default), read without mixing torch's
    legacy and new TF32 settings (reading one after the other was set is an error)."""
    precision = getattr(getattr(torch.backends.cudnn, "conv", None), "fp32_precision", None)
    if precision in ("tf32", "ieee"):
        return precision == "tf32"
    try:
        return bool(torch.backends.cudnn.allow_tf32)
    except RuntimeError:  # pragma: no cover - a mix of the two APIs
        return False


def _first_difference(expected: list[tuple[str, str]], seen: list[tuple[str, str]]) -> str:
    for index, (want, got) in enumerate(zip(expected, seen)):
        if want != got:
            return (
                f"op {index}: the analysis ran {want[0]} in {want[1] or 'the model'}, the timed forward {got[0]} in {got[1] or 'the model'}"
            )
    return f"the analysis ran {len(expected)} ops, the timed forward {len(seen)}"


def cast_for_run(
    model: torch.nn.Module, inputs: Any, *, device: str = "auto", dtype: str | None = None
) -> tuple[torch.nn.Module, Any, str]:
    """A model of the caller's own (one it built: it is moved and cast in place) made ready to
    measure: on ``device`` ("cpu", "cuda", "cuda:N", or "auto": CUDA when there is a GPU), cast to
    ``dtype`` ("fp32", "bf16", "fp16", "fp64"; None keeps it), in eval mode, with the floating-point
    TensorSpecs among ``inputs`` in that dtype. Returns (model, inputs, device)."""
    target = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device.strip().lower()
    if target != "cpu" and not target.startswith("cuda"):
        raise MeasureError(f"measure runs on cpu or cuda (cuda:N), not {device!r}")
    if target.startswith("cuda") and not torch.cuda.is_available():
        raise MeasureError(f"{target}: CUDA is not available on this machine (measure on cpu)")
    cast_to = None
    if dtype:
        cast_to = torch_dtype(dtype)
        if cast_to is None:
            raise MeasureError(
                f"measuring runs real kernels: the dtype casts the model and must be fp32, bf16, fp16 or fp64, not {dtype!r}"
            )
    if any(t.device.type == "meta" for t in model.parameters()):
        raise MeasureError("the model is built on the meta device (no weights): measuring needs a model with real weights")
    try:
        model = (model.to(device=target, dtype=cast_to) if cast_to else model.to(device=target)).eval()
    except (RuntimeError, AssertionError) as error:
        raise MeasureError(f"cannot run on {target}: {error}") from None

    def cast(value: Any) -> Any:
        if cast_to is not None and isinstance(value, TensorSpec) and value.dtype.is_floating_point:
            return dataclasses.replace(value, dtype=cast_to)
        return value

    if isinstance(inputs, Mapping):
        return model, {key: cast(value) for key, value in inputs.items()}, target
    return model, [cast(value) for value in inputs], target


# ----------------------------------------------------------------------------------------------------


def measure(
    model: torch.nn.Module | str,
    inputs: Any = None,
    *,
    device: str | torch.device | None = None,
    roofline: str | Device | None = "auto",
    repeats: int = 10,
    warmup: int = 3,
    formulas: Formulas | None = None,
    causal: str | None = None,
    strict: bool = False,
    peak_tflops: float | dict[str, float] | None = None,
    bandwidth_gbs: float | None = None,
    launch_overhead_us: float | None = None,
    batch: int | None = None,
    seq_len: int | None = None,
    name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Run ``model`` on ``inputs`` for real and return its report with measured figures attached.

    ``device``: where it runs, "cpu" or "cuda" ("cuda:1"); by default where the model's parameters
    are. The model is not moved: a model on another device, on the meta device, or spread over
    several devices is an error. ``inputs`` as for ``analyze`` (shapes become random tensors on
    ``device``; given tensors must already be there).

    ``roofline``: the ceilings that utilization and efficiency are taken against: a catalog name,
    a device file (``roofscope probe -o mine.toml`` writes this machine's measured ceilings), a
    ``Device``, None for none, or "auto" (the default): the catalog entry matching the GPU's name
    on CUDA, none on CPU. ``peak_tflops``, ``bandwidth_gbs``, ``launch_overhead_us`` override it as
    for ``analyze``.

    ``warmup`` untimed forwards, then ``repeats`` rounds of a plain forward and a per-op-timed
    forward, in the model's mode (call ``model.eval()`` first for inference), under
    ``torch.no_grad()``. Each op's measured time, and the forward's, is the median over the rounds.

    Every op, module and the model get ``measured_s``, ``achieved_flops``, ``achieved_bandwidth``,
    ``utilization`` (achieved / the peak of the precision that applies) and ``efficiency``
    (roofline time / measured); ``report.measurement`` holds the plain forward's time, the per-op
    timing's cost (``overhead``) and how much of the forward the ops account for (``coverage``).
    ``report.shortfalls()`` lists the ops furthest below their roof. ``formulas``, ``causal`` and
    ``strict`` and ``name`` are as for ``analyze``. ``progress(done, total)``, if given, is called
    after the analysis and after each forward: ``total`` = 1 + warmup + 1 + 2 x repeats.
    """
    if not isinstance(repeats, int) or repeats < 1:
        raise MeasureError(f"repeats must be a positive integer, got {repeats!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise MeasureError(f"warmup must be a non-negative integer, got {warmup!r}")
    model_name = model if isinstance(model, str) else type(model).__name__
    if isinstance(model, str):
        from roofscope.models import resolve

        named = resolve(model, batch=batch, seq_len=seq_len)
        built, model_name = named.model, named.name
        inputs = named.inputs if inputs is None else inputs
        if device is not None and _model_device(built) not in (None, torch.device("meta")):
            built = built.to(device)  # a model built here is ours to move
        model = built
    elif batch is not None or seq_len is not None:
        raise MeasureError("batch= and seq_len= size the inputs of a named model; give inputs= for a module")
    if not isinstance(model, torch.nn.Module):
        raise MeasureError(f"roofscope.measure needs a torch.nn.Module, got {type(model).__name__}")
    model_name = name or model_name
    run = _run_device(model, device)
    try:
        ceilings, origin = _ceilings(
            roofline, run, {"peak_tflops": peak_tflops, "bandwidth_gbs": bandwidth_gbs, "launch_overhead_us": launch_overhead_us}
        )
    except DeviceError as error:
        raise MeasureError(str(error)) from None
    args, kwargs = prepare_inputs(model, inputs, device=run)
    _check_inputs(args, kwargs, run)
    with _left_as_found(model, run), torch.cuda.device(run) if run.type == "cuda" else contextlib.nullcontext():
        report = analyze(
            model,
            dict(kwargs) if kwargs else list(args),
            formulas=formulas,
            device=ceilings,
            dtype=_run_precision(model),
            causal=causal,
            strict=strict,
            name=model_name,
        )
        clock = clock_for(run)
        modules = ModuleStack(model)
        timer = _OpTimer(modules, clock)
        expected = [(record.name, record.module) for record in report.ops]
        plain: list[float] = []
        timed: list[float] = []
        samples: list[list[float]] = []
        differences: list[str] = []

        def forward() -> None:
            model(*args, **kwargs)

        def timed_forward(into: list[float]) -> list[float] | None:
            """Each op's time, in op order; None (and the difference noted) when other ops ran."""
            timer.seen = []
            modules.stack.clear()
            clock.begin()
            with session(modules, timer), clock.forward(into):
                forward()
            times = clock.read()
            if timer.seen != expected:
                differences.append(_first_difference(expected, timer.seen))
                return None
            return times

        steps = 1 + warmup + 1 + 2 * repeats
        done = 0

        def advance() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, steps)

        advance()  # the analysis
        try:
            with torch.no_grad():
                for _ in range(warmup):
                    forward()
                    advance()
                timed_forward([])
                advance()
                differences.clear()  # the warm-up's ops are not kept either way
                for _ in range(repeats):
                    with clock.forward(plain):
                        forward()
                    advance()
                    times = timed_forward(timed)
                    advance()
                    if times is not None:
                        samples.append(times)
        except Exception as error:
            raise CaptureError(f"a timed forward failed: {type(error).__name__}: {error}") from error

    per_op = [list(column) for column in zip(*samples)] if samples else None
    notes = []
    if differences:
        notes.append(
            f"{len(differences)} of {repeats} timed forwards ran other ops than the analysis and were left out"
            + ("; no per-op time is attached" if not samples else "")
            + f" (first: {differences[0]})"
        )
    convolves_fp32 = any(r.family == "conv" and any(t.dtype == torch.float32 for t in r.event.inputs) for r in report.ops)
    if run.type == "cuda" and convolves_fp32 and _cudnn_tf32():
        notes.append("fp32 convolutions run in TF32 on CUDA by default (torch.backends.cudnn); their roofline uses the fp32 rate")
    work: dict[tuple[str, float], int] = {}
    for record in report.ops:
        if record.timing is not None and record.timing.flops:
            key = (record.timing.peak_label, record.timing.peak)
            work[key] = work.get(key, 0) + record.timing.flops
    peak_label, peak = dominant_peak(work)  # the precision that did most of the work, as it ran
    if peak and report.total.flops / statistics.median(plain) > peak:
        notes.append(
            f"the forward ran faster than the {peak_label} peak ({report.total.flops / statistics.median(plain) / peak:.0%} of it): "
            "the ceilings are below what these kernels reach; probe this machine with the precision that ran "
            "(roofscope probe --dtypes ...) or give --peak-tflops"
        )
    measurement = Measurement(
        device=_describe_device(run),
        clock=clock.name,
        repeats=repeats,
        warmup=warmup,
        forward_s=statistics.median(plain),
        forward_min_s=min(plain),
        forward_max_s=max(plain),
        timed_s=statistics.median(timed),
        ops_s=None,
        matched=bool(samples),
        note="; ".join(notes),
        flops=report.total.flops,
        peak=peak,
        peak_label=peak_label,
        ceilings=origin,
    )
    return report.with_measured(per_op, measurement)
