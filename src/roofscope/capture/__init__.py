"""Capture: run a model once and record every aten operator it executes.

This is the only module that touches torch's dispatch machinery. A ``TorchDispatchMode`` sees every
aten op (functional calls included), and a ``TorchFunctionMode`` turns a few composite functions into
one logical op each, because their aten decomposition depends on the device: scaled dot-product
attention is one fused kernel on CPU and CUDA but a chain of bmm/softmax ops on meta, and the fused
multi-head-attention fast path only exists on some devices. An active function mode also makes
``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer`` take their reference path, so the same
model gives the same ops on cpu, cuda, meta and fake tensors.

The package's parts: ``recorder`` (the dispatch mode), ``logical`` (composite functions as one op),
``modules`` (which module an op runs in), ``guard`` (the model and the random generators put back),
``failure`` (where a forward failed), ``loss`` (what a backward analysis differentiates).
``session`` is the seam for a run that records differently (``roofscope.measure`` times each op).
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch

from roofscope.capture.failure import BackwardError, CaptureError, describe_call, failure, needs_real_tensors, reads_values, stopped_at
from roofscope.capture.guard import Guard, RandomState
from roofscope.capture.logical import LOGICAL_OPS, LogicalOps
from roofscope.capture.loss import sum_of_outputs
from roofscope.capture.modules import BackwardModules, ModuleStack
from roofscope.capture.recorder import Recorder
from roofscope.events import OpEvent, TensorMeta, iter_tensors

__all__ = [
    "LOGICAL_OPS",
    "BackwardError",
    "Capture",
    "CaptureError",
    "Guard",
    "ModuleStack",
    "OpEvent",
    "RandomState",
    "Recorder",
    "TensorMeta",
    "capture",
    "session",
    "sum_of_outputs",
]


@dataclasses.dataclass
class Capture:
    """What one run recorded: the op events in order, and how often each module was called."""

    events: list[OpEvent]
    module_calls: dict[str, int]
    module_types: dict[str, str]
    stopped: str | None = None  # with partial=True: where a forward that needed tensor values stopped


@contextlib.contextmanager
def session(modules: ModuleStack, recorder: Recorder) -> Iterator[None]:
    """The modes of one recorded run: the model's module stack tracked, ``recorder`` seeing every
    aten op, and the logical ops (attention, RMS norm) passed to it whole. Code the model compiles
    (``torch.compile`` of a submodule or a function) runs eagerly, as the rest of the analysis
    does: compiling it under the modes would trace the recorder too, at compile time's cost."""
    with warnings.catch_warnings(), torch.compiler.set_stance("force_eager"), modules.installed(), recorder, LogicalOps(recorder):
        # torch warns that a compiled submodule's wrapper fires global module hooks too: the module
        # stack's own hooks, which charge its ops to the module inside the wrapper all the same
        warnings.filterwarnings("ignore", message=r"Using `torch.compile\(module\)` when there are global hooks", category=UserWarning)
        yield


def capture(
    model: torch.nn.Module,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    loss: Callable[[Any], torch.Tensor] | None = None,
    fake_mode: Any = None,
    partial: bool = False,
    shared: str = "owner",
    progress: Callable[[int, int], None] | None = None,
) -> Capture:
    """Run ``model(*args, **kwargs)`` once and record every aten op with the module it ran in.

    ``loss``, if given, maps the forward's output to the tensor to differentiate (e.g.
    ``sum_of_outputs``); it runs in the forward phase, then ``loss.backward()`` runs under capture
    and its ops are recorded with ``phase="backward"``, each attributed to the module whose forward
    created the autograd node that ran it. Every parameter's ``.grad`` is put back as it was.
    ``fake_mode``, a FakeTensorMode, runs the forward on fake tensors. A ``BackwardError`` raised
    by ``loss`` is passed on as it is. ``partial``: a forward on meta or fake tensors that needs a
    tensor's values stops there, and the ops recorded until then are returned, with ``stopped``
    saying where. ``shared``: "owner" or "caller", where a submodule held by several parents is
    charged (``ModuleStack``). Every ``.grad`` of the parameters and of the inputs is put back as it was.
    ``progress(done, total)``: how many of the model's modules have run, as each first runs.
    """
    modules = ModuleStack(model, shared, progress)
    guard = Guard(model)
    rng = RandomState()
    recorder = Recorder(modules, guard, BackwardModules(model) if loss is not None else None)
    leaves = [*model.parameters(), *(t for t in iter_tensors([args, dict(kwargs)], torch.Tensor) if t.requires_grad)]
    saved_grads = [(t, t.grad) for t in leaves] if loss is not None else []
    stopped = None
    grad_context = torch.enable_grad() if loss is not None else torch.no_grad()
    try:
        fake_context = fake_mode if fake_mode is not None else contextlib.nullcontext()
        with fake_context, grad_context, session(modules, recorder):
            output = model(*args, **kwargs)
            if loss is not None:
                modules.stack.clear()
                target = loss(output)
                recorder.phase = "backward"
                target.backward()
    except BackwardError:
        raise
    except Exception as error:
        if partial and recorder.phase == "forward" and reads_values(error):
            stopped = stopped_at(modules, model, error)
        elif recorder.phase == "backward":
            raise CaptureError(
                f"the backward pass of {type(model).__name__} failed: {type(error).__name__}: {error}\n"
                f"inputs given: {describe_call(args, kwargs)}"
            ) from error
        else:
            raise CaptureError(failure(modules, model, error, args, kwargs), needs_real_tensors=needs_real_tensors(error)) from error
    finally:
        guard.restore()
        rng.restore()
        for parameter, saved in saved_grads:
            parameter.grad = saved
    return Capture(recorder.events, modules.calls, modules.types, stopped)
