"""Composite functions recorded as one logical op each, forward and, for some, backward."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from roofscope.capture.recorder import Recorder

__all__ = ["FUSED_DROPOUT", "LOGICAL_BACKWARD", "LOGICAL_OPS", "LogicalBackward", "LogicalOps"]


# Composite functions captured as one logical op, named as the aten op they stand for. Their aten
# decomposition differs between devices; the logical op and its formula do not.
LOGICAL_OPS: dict[Callable[..., Any], str] = {
    F.scaled_dot_product_attention: "aten.scaled_dot_product_attention",
    F.multi_head_attention_forward: "roofscope.multi_head_attention_forward",
    F.rms_norm: "aten.rms_norm",
    torch.rms_norm: "aten.rms_norm",
    # Recurrent layers and cells: oneDNN's mkldnn_rnn_layer on CPU, cuDNN's _cudnn_rnn on CUDA, a
    # chain of matmuls and activations on meta.
    **{getattr(torch, name): f"aten.{name}" for name in ("lstm", "gru", "rnn_tanh", "rnn_relu")},
    **{getattr(torch, f"{name}_cell"): f"aten.{name}_cell" for name in ("lstm", "gru", "rnn_tanh", "rnn_relu")},
}


# Logical ops whose backward is captured as one logical op too (backward=True), because autograd's
# backward of them depends on the device as their forward does: attention's is the fused kernel's
# backward on CPU and CUDA but the math decomposition's (bmm, softmax backward, L x S matrices) on
# meta; RMS norm's is fused on some devices only. Per op: the backward's name, the names of its
# arguments in order (the tensors among them are differentiated), and whether the backward reads
# the forward's output (attention's does, for the softmax gradient).
LOGICAL_BACKWARD: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "aten.scaled_dot_product_attention": (
        "roofscope.scaled_dot_product_attention_backward",
        ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa"),
        True,
    ),
    "aten.rms_norm": ("roofscope.rms_norm_backward", ("input", "normalized_shape", "weight", "eps"), False),
}


# Dropout in training, with 0 < p < 1, not in place: CUDA runs aten's fused ``native_dropout`` (one
# kernel that writes the output and a boolean mask; its backward ``native_dropout_backward``), while
# CPU and meta decompose it into ``bernoulli_``, ``div_`` and ``mul`` (a mask in the input's dtype,
# three kernels). It runs as ``native_dropout`` on every device, so every device counts that kernel.
# Per function: the names of its input, probability and training arguments (F.dropout's defaults:
# p=0.5, training=True; torch.dropout has none).
FUSED_DROPOUT: dict[Callable[..., Any], tuple[str, str, str]] = {
    F.dropout: ("input", "p", "training"),
    torch.dropout: ("input", "p", "train"),
}


def _fused_dropout(func: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> torch.Tensor | None:
    """The output of ``native_dropout`` for a dropout call that CUDA runs as that kernel, or None."""
    names = FUSED_DROPOUT[func]
    bound = {**dict(zip((*names, "inplace"), args)), **kwargs}
    source, p, training = (bound.get(name) for name in names)
    p = 0.5 if p is None else p
    training = True if training is None else training
    if bound.get("inplace") or not (isinstance(source, torch.Tensor) and isinstance(p, float | int)):
        return None  # in place, aten decomposes dropout on every device
    if not (training and 0 < p < 1 and source.numel()):
        return None
    return torch.native_dropout(source, float(p), True)[0]


class LogicalBackward(torch.autograd.Function):
    """A logical op whose backward is recorded as one op, as a fused kernel runs it.

    The forward calls the op as it is. The backward records ``backward_name`` with the arguments
    (grad_output, the op's tensor arguments[, its output]) and, as keywords, the op's other
    arguments, ``tensor_names`` (the names of the tensor arguments) and ``output_mask`` (which of
    them get a gradient); it returns zero gradients of the right shapes: an analysis needs the
    shapes of the gradients, not their values (``capture`` puts every ``.grad`` back afterwards).
    """

    @staticmethod
    def forward(
        ctx: Any,
        recorder: Recorder,
        backward: tuple[str, bool],
        func: Any,
        names: tuple[str, ...],
        options: dict[str, Any],
        *tensors: torch.Tensor,
    ) -> Any:
        ctx.recorder, ctx.backward, ctx.names, ctx.options = recorder, backward, names, options
        output = func(**dict(zip(names, tensors)), **options)
        ctx.save_for_backward(*tensors, output)
        return output

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> Any:
        *tensors, output = ctx.saved_tensors
        needs = ctx.needs_input_grad[5:]
        recorder = ctx.recorder
        recorder.inside_logical_op += 1  # making the zero gradients is not the model's work
        try:
            grads = [torch.zeros_like(t) if need else None for t, need in zip(tensors, needs)]
        finally:
            recorder.inside_logical_op -= 1
        name, reads_output = ctx.backward
        recorder.record(
            name,
            "default",
            (grad_output, *tensors, *((output,) if reads_output else ())),
            {**ctx.options, "tensor_names": ctx.names, "output_mask": tuple(bool(n) for n in needs)},
            tuple(g for g in grads if g is not None),
        )
        return (None, None, None, None, None, *grads)


def _bind(
    names: tuple[str, ...], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> tuple[tuple[str, ...], list[Any], dict[str, Any]] | None:
    """(tensor argument names, their values, the other arguments), or None if the call does not fit."""
    bound = dict(zip(names, args))
    if len(args) > len(names) or any(key not in names or key in bound for key in kwargs):
        return None
    bound.update(kwargs)
    tensor_names = tuple(n for n in names if isinstance(bound.get(n), torch.Tensor))
    options = {n: v for n, v in bound.items() if n not in tensor_names}
    return tensor_names, [bound[n] for n in tensor_names], options


class LogicalOps(TorchFunctionMode):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = LOGICAL_OPS.get(func)
        recorder = self.recorder
        tracking = recorder.backward_modules is not None and recorder.phase == "forward"
        fused = _fused_dropout(func, args, kwargs) if func in FUSED_DROPOUT and not recorder.inside_logical_op else None
        if fused is not None:
            result = fused
        elif name is None or recorder.inside_logical_op:
            result = func(*args, **kwargs)
        else:

            def run(*args: Any, **kwargs: Any) -> Any:
                recorder.inside_logical_op += 1
                try:
                    if tracking and torch.is_grad_enabled():
                        return self._logical(func, name, args, kwargs)
                    return func(*args, **kwargs)
                finally:
                    recorder.inside_logical_op -= 1

            result = recorder.call((name, "default"), run, args, kwargs)
        if tracking:
            recorder.backward_modules.mark(result, recorder.modules.current)  # type: ignore[union-attr]
        return result

    def _logical(self, func: Any, name: str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        """A logical op in a capture with a backward: one whose backward is also one op goes
        through LogicalBackward; the others (multi-head attention) run as they are, and their
        backward is what autograd runs on the device (the mode does not see the functions they call)."""
        backward = LOGICAL_BACKWARD.get(name)
        if backward is None:
            return func(*args, **kwargs)
        backward_name, names, reads_output = backward
        bound = _bind(names, args, kwargs)
        if bound is None or not any(t.requires_grad for t in bound[1]):
            return func(*args, **kwargs)
        tensor_names, tensors, options = bound
        return LogicalBackward.apply(self.recorder, (backward_name, reads_output), func, tensor_names, options, *tensors)
