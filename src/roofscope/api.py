"""``analyze``: capture, formulas, report, in one call."""

from __future__ import annotations

from typing import Any

import torch

from roofscope.capture import CaptureError, capture
from roofscope.formulas import Formulas, default_formulas
from roofscope.inputs import describe_inputs, prepare_inputs
from roofscope.params import count_parameters
from roofscope.report import Report, build_report


class AnalysisError(ValueError):
    """The request cannot be analysed as given; the message says what to change."""


def _fake_mode_of(values: Any) -> Any:
    from torch._subclasses.fake_tensor import FakeTensor

    for value in values:
        if isinstance(value, FakeTensor):
            return value.fake_mode
    return None


def analyze(
    model: torch.nn.Module | str,
    inputs: Any = None,
    *,
    formulas: Formulas | None = None,
    fake: bool = False,
    batch: int | None = None,
    seq_len: int | None = None,
) -> Report:
    """Count what one forward pass of ``model`` on ``inputs`` costs.

    ``inputs``: a tensor, a shape such as ``(1, 3, 224, 224)``, a ``TensorSpec``, a tuple or list of
    these as positional arguments, or a dict of keyword arguments. Shapes become random tensors on
    the model's device (the meta device for a model built there, which costs no memory).
    ``fake=True`` runs the forward on fake tensors: shapes propagate, nothing is computed.
    ``formulas``: the formula registry to use, e.g. ``default_formulas()`` with your own added.

    ``model`` may also be a name that ``roofscope.models.resolve`` knows: a transformer preset such as
    ``"llama-2-7b"`` or a path to a Hugging Face config.json (built on the meta device, with
    ``input_ids`` of shape ``(batch, seq_len)``), a built-in example, or a torchvision model name.
    ``inputs``, when given, replaces the default inputs of a named model.

    The forward runs once under ``torch.no_grad()``, in the mode (train or eval) the model is in.
    The model is left exactly as it was: no hooks, attributes, buffers or mode changes remain.
    """
    if isinstance(model, str):
        from roofscope.models import resolve

        resolved = resolve(model, batch=batch, seq_len=seq_len)
        model = resolved.model
        inputs = resolved.inputs if inputs is None else inputs
    elif batch is not None or seq_len is not None:
        raise AnalysisError("batch= and seq_len= size the inputs of a named model; give inputs= for a module")
    if not isinstance(model, torch.nn.Module):
        raise AnalysisError(
            f"roofscope.analyze needs a torch.nn.Module, got {type(model).__name__}"
            + (" (call the model class to build an instance)" if isinstance(model, type) else "")
        )
    formulas = formulas.copy() if formulas is not None else default_formulas()
    args, kwargs = prepare_inputs(model, inputs)
    fake_mode = _fake_mode_of([*args, *kwargs.values()])
    if fake and fake_mode is None:
        from torch._subclasses.fake_tensor import FakeTensorMode

        fake_mode = FakeTensorMode(allow_non_fake_inputs=True)
        args = tuple(fake_mode.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in args)
        kwargs = {k: fake_mode.from_tensor(v) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
    captured = capture(model, args, kwargs, fake_mode=fake_mode)
    if not captured.events:
        raise AnalysisError(
            f"the forward of {type(model).__name__} ran no tensor operation on the inputs given "
            f"({', '.join(describe_inputs(args, kwargs)) or 'none'}): there is nothing to count"
        )
    return build_report(
        model_name=type(model).__name__,
        inputs=describe_inputs(args, kwargs),
        captured=captured,
        formulas=formulas,
        params=count_parameters(model),
    )


__all__ = ["AnalysisError", "CaptureError", "analyze"]
