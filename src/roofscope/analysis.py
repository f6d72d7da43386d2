"""``analyze``: the stages in order, capture -> formulas -> precision -> roofline -> Report.

Each stage is a function of the one before: ``capture`` runs the model once and records its ops;
each op's formula gives its Cost; ``retarget`` rescales the bytes to the target precision;
``op_timing`` puts the op on the device's roofline; ``Report`` folds the op records onto the
module tree. ``roofscope.measure`` adds measured figures to the report this returns.
"""

from __future__ import annotations

import contextlib
import gc
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch.nn.modules.module import _forward_unimplemented

from roofscope.capture import BackwardError, Capture, CaptureError, RandomState, capture, sum_of_outputs
from roofscope.devices import Device, DeviceError, resolve_device
from roofscope.formulas import Formulas, default_formulas
from roofscope.formulas.attention import check_causal
from roofscope.inputs import describe_inputs, prepare_inputs
from roofscope.params import ParamCount, count_parameters
from roofscope.precision import Precision, parse_precision, retarget
from roofscope.prediction import MathFlags, PredictionSummary, check_mode, predict
from roofscope.report import OpRecord, Report

#: Where a submodule held by several parents is charged (``analyze(..., shared=)``).
SHARED_CONVENTIONS = ("owner", "caller")

if TYPE_CHECKING:
    from roofscope.models import ResolvedModel


class AnalysisError(ValueError):
    """The request cannot be analysed as given; the message says what to change."""


def _fake_mode_of(values: Any) -> Any:
    from torch._subclasses.fake_tensor import FakeTensor

    for value in values:
        if isinstance(value, FakeTensor):
            return value.fake_mode
    return None


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the duration, as it was afterwards. An analysis
    allocates many small objects and few cycles; each full collection it would trigger scans every
    live object of the process (torch alone holds some 300,000), which costs a large model's
    analysis a tenth of a second or more each time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def analyze(
    model: torch.nn.Module | str,
    inputs: Any = None,
    *,
    formulas: Formulas | None = None,
    fake: bool = False,
    device: str | Device | None = None,
    dtype: str | torch.dtype | Precision | None = None,
    peak_tflops: float | dict[str, float] | None = None,
    bandwidth_gbs: float | None = None,
    launch_overhead_us: float | None = None,
    causal: str | None = None,
    strict: bool = False,
    partial: bool = False,
    shared: str = "owner",
    batch: int | None = None,
    seq_len: int | None = None,
    backward: bool = False,
    name: str | None = None,
    mode: str = "eager",
    tf32: bool | MathFlags | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Report:
    """Count what one forward pass of ``model`` on ``inputs`` costs.

    ``inputs``: a tensor, a shape such as ``(1, 3, 224, 224)``, a ``TensorSpec``, a tuple or list of
    these as positional arguments, or a dict of keyword arguments. Shapes become random tensors on
    the model's device (the meta device for a model built there, which costs no memory).
    ``fake=True`` runs the forward on fake tensors: shapes propagate, nothing is computed.
    ``formulas``: the formula registry to use, e.g. ``default_formulas()`` with your own added.
    ``causal``: how attention with ``is_causal=True`` is counted: "full" (the default: the whole
    L x S score matrix, as dense kernels compute it) or "triangle" / "half" (only the scores the
    causal mask keeps); given, it overrides the convention the ``formulas`` were built with.
    ``strict=True``: an op without a formula is an error (``AnalysisError`` listing them) rather
    than reported in ``report.uncounted``.
    ``partial=True``: a forward on meta or fake tensors that needs a tensor's values (detection
    post-processing: nms, score thresholds, ``.item()``) is counted up to that point instead of
    failing, and ``report.notes`` says where it stopped; real tensors count the whole forward.

    ``shared``: where the ops of a submodule held by several parents (one module object under two
    names) are charged: "owner" (the default), to its first name in ``model.named_modules()``,
    whoever calls it; "caller", to the name under the parent that calls it, each parent then
    charged its own calls (fvcore's convention). Either way the model's total is the same.

    A ``torch.compile``d module is analysed as its original module (eagerly; ``report.notes`` says
    so), and code the model compiles itself (a compiled submodule or function) runs eagerly. A
    TorchScript module (``torch.jit.script`` or ``trace``) is analysed, every op charged to the
    model itself: TorchScript runs its submodules without the hooks that attribute ops.

    ``backward=True``: count the backward pass too. After the forward, the sum of every
    floating-point output that requires grad (a stand-in for a loss) is differentiated under
    capture; each backward op has ``record.event.phase == "backward"`` and is attributed to the
    module whose forward created it. ``report.forward``, ``report.backward``, ``report.phases`` and
    ``report.backward_forward_ratio`` split the totals. Gradients reach the parameters that require
    grad (each ``.grad`` is put back as it was afterwards), not the inputs; the model stays in the
    mode it is in (call ``model.train()`` first for training-mode layers such as dropout). An
    output that cannot be differentiated (integer-only, or depending on no parameter that requires
    grad) is an ``AnalysisError``.

    ``device``: a catalog name ("h100", "a100", ``roofscope.devices()`` lists them), a TOML/JSON
    file, or a ``Device``; with one, every op gets its roofline time (``report.total.roofline_s``,
    the seeds' max(FLOPs / peak, bytes / bandwidth)) and its predicted time in the execution ``mode``
    (``report.total.predicted_s``: "eager", a plain forward, the default; "cudagraph", replayed as a
    CUDA graph; "compiled", ``torch.compile(mode="reduce-overhead")``), with the terms that make up
    the difference (``.cache_s``, ``.efficiency_s``, ``.host_s``) and what bounds it (``.bound``:
    compute, memory or host); docs/conventions.md, "Predicted time". ``tf32``: whether fp32
    convolutions and matmuls run in TF32 on the device (None: as torch's flags say now; True,
    False, or a ``MathFlags``). ``peak_tflops``, ``bandwidth_gbs`` and ``launch_overhead_us`` (the
    host's time per op) override the device's figures, or, without a device, define one. ``dtype``: analyse as if the model ran in this
    precision ("bf16", "fp16", "fp8", "int8", "tf32", "int8-weights"...): bytes and peaks follow it
    (docs/conventions.md, "Roofline"); None keeps the model's own dtypes.

    The forward runs once under ``torch.no_grad()`` (with grad enabled for ``backward=True``), in
    the mode (train or eval) the model is in.
    The model is left exactly as it was: no hooks, attributes or mode changes remain, and parameters
    and buffers the forward updates in place are put back; torch's global state (modes, global
    hooks, flags, the random generators) is as before. README, "What roofscope guarantees".

    ``model`` may also be a name as on the command line ("resnet50", "timm:NAME", "pkg.mod:factory",
    "file.py:Class", "model.pt2", a transformer preset such as "llama-2-7b" or a Hugging Face
    config.json; ``roofscope.models.resolve``): with ``inputs=None`` it gets the model's default
    inputs, sized by ``batch`` (the first dimension) and, for transformer presets, ``seq_len``
    (``input_ids`` of shape ``(batch, seq_len)``). A named model is built and run on the meta
    device, so counting allocates no weight and no activation; one whose code needs real tensors
    (it reads a value, ``x.item()``) is built and run on the CPU instead, and a
    ``roofscope.models.RealTensorsWarning`` says so. The counts are the same either way.

    ``name``: what the report calls the model (default: the name given, or the module's class).
    ``progress(step, done, total)``: called as the forward runs, with step "forward" and how many
    of the model's modules have run so far out of how many it has (some may never run).
    """
    options = {
        "formulas": formulas,
        "fake": fake,
        "device": device,
        "dtype": dtype,
        "peak_tflops": peak_tflops,
        "bandwidth_gbs": bandwidth_gbs,
        "launch_overhead_us": launch_overhead_us,
        "causal": causal,
        "strict": strict,
        "backward": backward,
        "name": name,
        "partial": partial,
        "shared": shared,
        "mode": mode,
        "tf32": tf32,
        "progress": progress,
    }
    if isinstance(model, str):
        from roofscope.models import resolve

        with RandomState():  # random weights are drawn without moving the user's generator
            named = resolve(model, batch=batch, seq_len=seq_len, meta=True)
        return analyze_resolved(named, inputs, spec=model, batch=batch, seq_len=seq_len, **options)
    model_name = type(model).__name__
    if batch is not None or seq_len is not None:
        raise AnalysisError("batch= and seq_len= size the inputs of a named model; give inputs= for a module")
    model, notes = _unwrapped(model)
    if notes and model_name == "OptimizedModule":
        model_name = type(model).__name__
    if not isinstance(model, torch.nn.Module):
        raise AnalysisError(
            f"roofscope.analyze needs a torch.nn.Module, got {type(model).__name__}"
            + (" (call the model class to build an instance)" if isinstance(model, type) else "")
        )
    try:
        precision = parse_precision(dtype)
        target_device = resolve_device(device, peak_tflops, bandwidth_gbs, launch_overhead_us)
        check_mode(mode)
        flags = MathFlags.of(tf32)
    except (ValueError, DeviceError) as error:
        raise AnalysisError(str(error)) from None
    if getattr(type(model), "forward", None) is _forward_unimplemented:
        raise AnalysisError(
            f"{type(model).__name__} has no forward method: there is nothing to run"
            + (" (a bare nn.Module(); subclass it and define forward)" if type(model) is torch.nn.Module else "")
        )
    if shared not in SHARED_CONVENTIONS:
        raise AnalysisError(f"shared must be one of {', '.join(map(repr, SHARED_CONVENTIONS))}; got {shared!r}")
    formulas = formulas.copy() if formulas is not None else default_formulas()
    if causal is not None:
        try:
            check_causal(causal)
        except ValueError as error:
            raise AnalysisError(str(error)) from None
        formulas = formulas.configured(causal=causal)
    args, kwargs = prepare_inputs(model, inputs)
    fake_mode = _fake_mode_of([*args, *kwargs.values()])
    if fake and fake_mode is None:
        from torch._subclasses.fake_tensor import FakeTensorMode

        fake_mode = FakeTensorMode(allow_non_fake_inputs=True)
        args = tuple(fake_mode.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in args)
        kwargs = {k: fake_mode.from_tensor(v) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
    with _collector_paused():
        try:
            captured = capture(
                model,
                args,
                kwargs,
                fake_mode=fake_mode,
                loss=sum_of_outputs if backward else None,
                partial=partial,
                shared=shared,
                progress=None if progress is None else lambda done, total: progress("forward", done, total),
            )
        except BackwardError as error:
            raise AnalysisError(f"backward=True: cannot differentiate the forward of {type(model).__name__}: {error}") from None
        if not captured.events:
            raise AnalysisError(
                f"the forward of {type(model).__name__} ran no tensor operation on the inputs given "
                f"({', '.join(describe_inputs(args, kwargs)) or 'none'}): there is nothing to count"
                + (
                    " (it is an empty container: it has no layers)"
                    if len(list(model.children())) == 0
                    and isinstance(model, (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict))
                    else ""
                )
            )
        if captured.stopped is not None:
            notes.append(captured.stopped)
        ops, prediction = op_records(captured, formulas, precision, target_device, mode=mode, flags=flags)
        report = Report(
            model_name=name or model_name,
            inputs=describe_inputs(args, kwargs),
            ops=ops,
            modules=_modules(captured, count_parameters(model, every_name=shared == "caller")),
            device=target_device,
            precision=precision,
            prediction=prediction,
            notes=notes,
        )
        if strict and report.uncounted:
            listed = ", ".join(f"{name} (x{calls})" for name, calls in report.uncounted.items())
            raise AnalysisError(
                f"strict: {len(report.uncounted)} op(s) in the forward of {type(model).__name__} have no formula: "
                f"{listed}. Register one with formulas.register(...) or drop strict to report them as uncounted"
            )
        return report


def analyze_resolved(
    named: ResolvedModel, inputs: Any = None, *, spec: str, batch: int | None = None, seq_len: int | None = None, **options: Any
) -> Report:
    """``analyze`` of a model resolved from its name ``spec`` (``roofscope.models.resolve``), on
    ``inputs`` or its default ones. A model on the meta device whose forward cannot run there (it
    reads a tensor's value, or makes tensors of its own on the CPU) is built again on the CPU from
    ``spec``, ``batch`` and ``seq_len`` and counted on real tensors, with a ``RealTensorsWarning``."""
    from roofscope.models import RealTensorsWarning, on_meta, resolve

    options.setdefault("name", None)
    options["name"] = options["name"] or named.name
    try:
        return analyze(named.model, named.inputs if inputs is None else inputs, **options)
    except CaptureError as error:
        if not (error.needs_real_tensors and on_meta(named.model)):
            raise
        reason = str(error).splitlines()[0]
    with RandomState():
        real = resolve(spec, batch=batch, seq_len=seq_len)
    if on_meta(real.model):  # a transformer preset: built on meta whatever is asked
        raise AnalysisError(f"{reason}; {spec} is built on the meta device only, so it cannot be run on real tensors") from None
    warnings.warn(
        RealTensorsWarning(
            f"{spec} cannot run on the meta device ({reason.removeprefix('the forward pass failed in ')}): counted with real tensors on the CPU instead"
        ),
        stacklevel=2,
    )
    return analyze(real.model, real.inputs if inputs is None else inputs, **options)


def op_records(
    captured: Capture,
    formulas: Formulas,
    precision: Precision | None,
    device: Device | None,
    *,
    mode: str = "eager",
    flags: MathFlags | None = None,
) -> tuple[list[OpRecord], PredictionSummary | None]:
    """Every captured op through the stages: its formula's Cost (None: no formula, the op is
    uncounted), its bytes in the target precision, and on a device its roofline and predicted
    time in ``mode``; with the prediction's summary (None without a device)."""
    ops = []
    for event in captured.events:
        formula = formulas.get(event.op)
        family = formulas.family(event.op)
        try:
            cost = formula(event) if formula is not None else None
        except Exception as error:
            raise AnalysisError(
                f"the formula for {event.op} ({family}) failed on the call in module {event.module or '(the model)'!r} "
                f"with {', '.join(map(str, event.inputs)) or 'no tensors'}: {type(error).__name__}: {error}"
            ) from error
        if cost is not None and precision is not None:
            cost = retarget(cost, event, precision)
        ops.append((event, cost, family))
    if device is None:
        return [OpRecord(event, cost, family) for event, cost, family in ops], None
    timings, summary = predict(ops, device, precision, mode=mode, flags=flags)
    return [OpRecord(event, cost, family, timing) for (event, cost, family), timing in zip(ops, timings)], summary


def _unwrapped(model: Any) -> tuple[Any, list[str]]:
    """The module to run: a ``torch.compile``d module's original one, with notes on what was done."""
    original = getattr(model, "_orig_mod", None)
    if type(model).__name__ == "OptimizedModule" and isinstance(original, torch.nn.Module):
        return original, [
            f"a torch.compile'd module: its original {type(original).__name__} was analysed, eagerly "
            "(the compiled program's fused kernels can move fewer bytes)"
        ]
    if isinstance(model, torch.jit.ScriptModule):
        return model, [
            "a TorchScript module: every op is counted and charged to the model itself "
            "(TorchScript runs its submodules without the hooks that attribute ops to them)"
        ]
    return model, []


def _modules(captured: Capture, params: dict[str, ParamCount]) -> dict[str, tuple[str, int, ParamCount]]:
    """Every module, parents first: its type name, how often the run called it, its parameters."""
    return {name: (captured.module_types.get(name, "?"), captured.module_calls.get(name, 0), count) for name, count in params.items()}


__all__ = ["AnalysisError", "CaptureError", "MathFlags", "analyze", "analyze_resolved", "op_records"]
