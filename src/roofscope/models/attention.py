"""Attention for the models that refuse SDPA, as one op: ``roofscope::attention``.

transformers builds gemma-2 and gpt-oss only with their eager attention (a matmul, the softcap or
the attention sinks, a softmax and a second matmul, with the score matrix in memory between them),
because ``F.scaled_dot_product_attention`` has no logit softcapping and no sinks. roofscope builds
them with its own attention implementation, "roofscope", registered in transformers'
``AttentionInterface``: a call with neither goes to transformers' SDPA path unchanged; one with a
softcap or sinks is one custom op, counted by the attention formula (``roofscope.formulas.attention``:
scaled dot-product attention, plus 3 FLOPs a score for the softcap and one more softmax column for
the sink), as a fused kernel runs it (flash attention has both). The op has a meta/fake kernel, a
real one (the eager math, so a model on CPU or GPU computes what transformers' eager code does) and
a backward, itself one op, ``roofscope::attention_backward``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["IMPLEMENTATION", "attention", "attention_backward", "attention_forward", "register"]

#: The name of roofscope's attention implementation in transformers' AttentionInterface.
IMPLEMENTATION = "roofscope"


def _math(
    query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None, sinks: Tensor | None, scale: float, softcap: float, is_causal: bool
) -> Tensor:
    """softmax([softcap(q k^T * scale) + mask, sink]) without the sink column, times v."""
    groups = query.shape[-3] // key.shape[-3]
    key = key.repeat_interleave(groups, dim=-3)
    value = value.repeat_interleave(groups, dim=-3)
    scores = torch.matmul(query, key.transpose(-1, -2)) * scale
    if softcap:
        scores = torch.tanh(scores / softcap) * softcap
    if is_causal:
        keep = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    if sinks is not None:
        sink = sinks.to(scores.dtype).reshape(1, -1, 1, 1).expand(*scores.shape[:-1], 1)
        probabilities = torch.softmax(torch.cat([scores, sink], dim=-1), dim=-1, dtype=torch.float32)[..., :-1]
    else:
        probabilities = torch.softmax(scores, dim=-1, dtype=torch.float32)
    return torch.matmul(probabilities.to(value.dtype), value)


@torch.library.custom_op("roofscope::attention", mutates_args=())
def attention(
    query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None, sinks: Tensor | None, scale: float, softcap: float, is_causal: bool
) -> Tensor:
    """Attention of ``query`` [B, H, L, E] over ``key`` [B, Hkv, S, E] and ``value`` [B, Hkv, S, Ev]
    (Hkv dividing H), with a logit ``softcap`` (0: none), attention ``sinks`` [H] (one extra logit
    per head, dropped after the softmax), a boolean or additive ``mask``, and top-left causal masking."""
    return _math(query, key, value, mask, sinks, scale, softcap, is_causal)


@attention.register_fake
def _attention_fake(
    query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None, sinks: Tensor | None, scale: float, softcap: float, is_causal: bool
) -> Tensor:
    return query.new_empty((*query.shape[:-1], value.shape[-1]))


@torch.library.custom_op("roofscope::attention_backward", mutates_args=())
def attention_backward(
    grad: Tensor,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    mask: Tensor | None,
    sinks: Tensor | None,
    scale: float,
    softcap: float,
    is_causal: bool,
) -> list[Tensor]:
    """The gradients of ``attention`` for query, key, value and (when given) the sinks."""
    inputs = [query, key, value] + ([sinks] if sinks is not None else [])
    with torch.enable_grad():
        leaves = [t.detach().requires_grad_() for t in inputs]
        output = _math(leaves[0], leaves[1], leaves[2], mask, leaves[3] if sinks is not None else None, scale, softcap, is_causal)
        return list(torch.autograd.grad(output, leaves, grad))


@attention_backward.register_fake
def _attention_backward_fake(
    grad: Tensor,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    mask: Tensor | None,
    sinks: Tensor | None,
    scale: float,
    softcap: float,
    is_causal: bool,
) -> list[Tensor]:
    return [torch.empty_like(t) for t in (query, key, value, *(() if sinks is None else (sinks,)))]


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    query, key, value, mask, sinks, scale, softcap, is_causal = inputs
    ctx.save_for_backward(query, key, value, mask, sinks)
    ctx.options = (scale, softcap, is_causal)


def _backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
    query, key, value, mask, sinks = ctx.saved_tensors
    grads = attention_backward(grad, query, key, value, mask, sinks, *ctx.options)
    return grads[0], grads[1], grads[2], None, grads[3] if sinks is not None else None, None, None, None


attention.register_autograd(_backward, setup_context=_setup_context)


def attention_forward(
    module: torch.nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    softcap: float | None = None,
    s_aux: Tensor | None = None,
    **kwargs: Any,
) -> tuple[Tensor, None]:
    """transformers' attention interface: SDPA unless the layer has a softcap or sinks, then
    ``roofscope::attention`` (the output in [B, L, H, Ev], as every implementation returns it)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if not softcap and s_aux is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    if dropout and module.training:
        raise NotImplementedError("roofscope's attention with a softcap or sinks has no dropout; analyse the model in eval mode")
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    is_causal = bool(query.shape[2] > 1 and attention_mask is None and getattr(module, "is_causal", True))
    output = attention(query, key, value, attention_mask, s_aux, float(scale), float(softcap or 0.0), is_causal)
    return output.transpose(1, 2).contiguous(), None


def register() -> None:
    """Add the "roofscope" attention (and its mask, SDPA's boolean one) to transformers' interfaces."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(IMPLEMENTATION, attention_forward)
    AttentionMaskInterface.register(IMPLEMENTATION, sdpa_mask)
