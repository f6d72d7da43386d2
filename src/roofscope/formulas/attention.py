"""Attention: scaled dot-product attention in every backend, multi-head attention, and the fused
transformer-encoder fast path.

Scaled dot-product attention with query [..., L, E], key [..., S, E], value [..., S, Ev], where the
leading dimensions hold B * H query heads (grouped-query attention shares key/value heads, which
changes the bytes, not the work):
  MACs  = B*H * L * S * (E + Ev)                 (scores q @ k^T, then probabilities @ v)
  FLOPs = 2 * MACs
        + B*H * L * S                            (scaling of the scores)
        + B*H * L * S   if a mask or is_causal   (adding the mask)
        + B*H * L * (5S - 2)                     (softmax over each row of S scores)
        + 2 * B*H * L * S if dropout_p > 0       (dropout mask and rescale)
  Causal attention is counted in full, like a dense kernel computes it (docs/conventions.md).
  Bytes = query, key, value and mask read once; the output (and any logsumexp the backend keeps)
  written once: the scores never reach memory in a fused kernel.
The backward of every backend: MACs = B*H * L * S * (2E + 2Ev) (grad of v, of the probabilities,
of q and of k) and FLOPs = 2 * MACs + 3 * B*H * L * S (softmax gradient and scaling).

Multi-head attention (F.multi_head_attention_forward and its fused fast path) is the sum of its
parts: the input projections as linear layers with bias, the attention above per head, the averaged
attention weights when they are returned, and the output projection as a linear layer with bias.
The fused encoder layer adds residual adds, two layer norms and the feed-forward network.
"""

from __future__ import annotations

import dataclasses
from math import prod

from roofscope.capture import OpEvent, TensorMeta
from roofscope.cost import Cost
from roofscope.formulas._registry import Family, with_io
from roofscope.formulas.norm import layer_norm_flops
from roofscope.formulas.pointwise import GELU_FLOPS, RELU_FLOPS
from roofscope.formulas.softmax import softmax_flops

family = Family("attention")


@dataclasses.dataclass(frozen=True, slots=True)
class AttentionShape:
    heads: int  # batch * query heads
    query_len: int
    key_len: int
    qk_dim: int
    value_dim: int


def attention_macs(shape: AttentionShape) -> int:
    return shape.heads * shape.query_len * shape.key_len * (shape.qk_dim + shape.value_dim)


def attention_flops(shape: AttentionShape, masked: bool, dropout: bool) -> int:
    scores = shape.heads * shape.query_len * shape.key_len
    flops = 2 * attention_macs(shape) + scores
    flops += scores if masked else 0
    flops += softmax_flops(shape.heads * shape.query_len, shape.key_len)
    flops += 2 * scores if dropout else 0
    return flops


def _heads_first(query: TensorMeta, key: TensorMeta, value: TensorMeta) -> AttentionShape:
    """Layout [..., heads, seq, dim], the SDPA API's."""
    return AttentionShape(prod(query.shape[:-2]), query.shape[-2], key.shape[-2], query.shape[-1], value.shape[-1])


def _seq_first(query: TensorMeta, key: TensorMeta, value: TensorMeta) -> AttentionShape:
    """Layout [batch, seq, heads, dim], the flash/efficient kernels' own."""
    batch, query_len, heads, qk_dim = query.shape
    return AttentionShape(batch * heads, query_len, key.shape[1], qk_dim, value.shape[-1])


def _forward(event: OpEvent, shape: AttentionShape, masked: bool, dropout_p: object) -> Cost:
    dropout = bool(dropout_p) and float(dropout_p) > 0  # type: ignore[arg-type]
    return with_io(event, attention_macs(shape), attention_flops(shape, masked, dropout))


@family("aten.scaled_dot_product_attention")
def scaled_dot_product_attention(event: OpEvent) -> Cost:
    """The logical op: (query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)."""
    query, key, value = event.args[:3]
    mask = event.arg(3, "attn_mask")
    causal = bool(event.arg(5, "is_causal", False))
    return _forward(event, _heads_first(query, key, value), mask is not None or causal, event.arg(4, "dropout_p", 0.0))


@family("aten._scaled_dot_product_flash_attention_for_cpu")
def sdpa_flash_cpu(event: OpEvent) -> Cost:
    """(query, key, value, dropout_p, is_causal, *, attn_mask, scale)."""
    query, key, value = event.args[:3]
    masked = event.kwargs.get("attn_mask") is not None or bool(event.arg(4, "is_causal", False))
    return _forward(event, _heads_first(query, key, value), masked, event.arg(3, "dropout_p", 0.0))


@family("aten._scaled_dot_product_flash_attention")
def sdpa_flash(event: OpEvent) -> Cost:
    """(query, key, value, dropout_p, is_causal, return_debug_mask, *, scale)."""
    query, key, value = event.args[:3]
    return _forward(event, _heads_first(query, key, value), bool(event.arg(4, "is_causal", False)), event.arg(3, "dropout_p", 0.0))


@family("aten._scaled_dot_product_efficient_attention", "aten._scaled_dot_product_cudnn_attention")
def sdpa_efficient(event: OpEvent) -> Cost:
    """(query, key, value, attn_bias, compute_log_sumexp, dropout_p, is_causal, ...)."""
    query, key, value = event.args[:3]
    masked = event.arg(3, "attn_bias") is not None or bool(event.arg(6, "is_causal", False))
    return _forward(event, _heads_first(query, key, value), masked, event.arg(5, "dropout_p", 0.0))


@family("aten._scaled_dot_product_fused_attention_overrideable")
def sdpa_overrideable(event: OpEvent) -> Cost:
    """(query, key, value, attn_bias, dropout_p, is_causal, return_debug_mask, *, scale)."""
    query, key, value = event.args[:3]
    masked = event.arg(3, "attn_bias") is not None or bool(event.arg(5, "is_causal", False))
    return _forward(event, _heads_first(query, key, value), masked, event.arg(4, "dropout_p", 0.0))


@family("aten._flash_attention_forward")
def flash_attention_forward(event: OpEvent) -> Cost:
    """(query, key, value, cum_seq_q, cum_seq_k, max_q, max_k, dropout_p, is_causal, ...), [B, L, H, E]."""
    query, key, value = event.args[:3]
    return _forward(event, _seq_first(query, key, value), bool(event.arg(8, "is_causal", False)), event.arg(7, "dropout_p", 0.0))


@family("aten._efficient_attention_forward")
def efficient_attention_forward(event: OpEvent) -> Cost:
    """(query, key, value, bias, cu_seqlens_q, cu_seqlens_k, max_q, max_k, dropout_p, custom_mask_type, ...)."""
    query, key, value = event.args[:3]
    masked = event.arg(3, "bias") is not None or bool(event.arg(9, "custom_mask_type", 0))
    return _forward(event, _seq_first(query, key, value), masked, event.arg(8, "dropout_p", 0.0))


def _backward(event: OpEvent, shape: AttentionShape) -> Cost:
    macs = shape.heads * shape.query_len * shape.key_len * 2 * (shape.qk_dim + shape.value_dim)
    scores = shape.heads * shape.query_len * shape.key_len
    return with_io(event, macs, 2 * macs + 3 * scores)


@family(
    "aten._scaled_dot_product_flash_attention_backward",
    "aten._scaled_dot_product_efficient_attention_backward",
    "aten._scaled_dot_product_cudnn_attention_backward",
    "aten._scaled_dot_product_flash_attention_for_cpu_backward",
    "aten._scaled_dot_product_fused_attention_overrideable_backward",
)
def sdpa_backward(event: OpEvent) -> Cost:
    """(grad_out, query, key, value, ...), heads-first layout."""
    _, query, key, value = event.args[:4]
    return _backward(event, _heads_first(query, key, value))


@family("aten._flash_attention_backward", "aten._efficient_attention_backward")
def attention_backward_seq_first(event: OpEvent) -> Cost:
    """(grad_out, query, key, value, ...), [B, L, H, E] layout."""
    _, query, key, value = event.args[:4]
    return _backward(event, _seq_first(query, key, value))


def linear_cost(tokens: int, in_features: int, out_features: int, bias: bool) -> tuple[int, int]:
    macs = tokens * in_features * out_features
    return macs, 2 * macs + (tokens * out_features if bias else 0)


def multi_head_attention_macs_flops(
    *,
    batch: int,
    query_len: int,
    key_len: int,
    embed_dim: int,
    key_dim: int,
    value_dim: int,
    heads: int,
    in_bias: bool,
    out_bias: bool,
    masked: bool,
    dropout: bool,
    weights_returned: bool,
    weights_averaged: bool,
    attended_len: int | None = None,
) -> tuple[int, int]:
    """MACs and FLOPs of multi-head attention as the sum of its parts (module docstring)."""
    parts = [
        linear_cost(batch * query_len, embed_dim, embed_dim, in_bias),
        linear_cost(batch * key_len, key_dim, embed_dim, in_bias),
        linear_cost(batch * key_len, value_dim, embed_dim, in_bias),
        linear_cost(batch * query_len, embed_dim, embed_dim, out_bias),
    ]
    core = AttentionShape(batch * heads, query_len, attended_len or key_len, embed_dim // heads, embed_dim // heads)
    macs = sum(p[0] for p in parts) + attention_macs(core)
    flops = sum(p[1] for p in parts) + attention_flops(core, masked, dropout)
    if weights_returned and weights_averaged:
        flops += batch * query_len * core.key_len * heads  # sum over heads, then divide
    return macs, flops


@family("roofscope.multi_head_attention_forward")
def multi_head_attention_forward(event: OpEvent) -> Cost:
    """F.multi_head_attention_forward(query [L, N, E], key [S, N, Ek], value [S, N, Ev], embed_dim,
    num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn, dropout_p,
    out_proj_weight, out_proj_bias, training, key_padding_mask, need_weights, attn_mask, ...)."""
    query, key, value = event.args[:3]
    unbatched = len(query.shape) == 2
    batch = 1 if unbatched else query.shape[1]
    heads = event.arg(4, "num_heads")
    bias_k = event.arg(7, "bias_k")
    add_zero_attn = bool(event.arg(9, "add_zero_attn", False))
    training = bool(event.arg(13, "training", True))
    masked = event.arg(14, "key_padding_mask") is not None or event.arg(16, "attn_mask") is not None
    masked = masked or bool(event.arg(24, "is_causal", False))
    extra_keys = (1 if bias_k is not None else 0) + (1 if add_zero_attn else 0)
    macs, flops = multi_head_attention_macs_flops(
        batch=batch,
        query_len=query.shape[0],
        key_len=key.shape[0],
        embed_dim=query.shape[-1],
        key_dim=key.shape[-1],
        value_dim=value.shape[-1],
        heads=heads,
        in_bias=event.arg(6, "in_proj_bias") is not None,
        out_bias=event.arg(12, "out_proj_bias") is not None,
        masked=masked,
        dropout=training and float(event.arg(10, "dropout_p", 0.0)) > 0,
        weights_returned=bool(event.arg(15, "need_weights", True)),
        weights_averaged=bool(event.arg(23, "average_attn_weights", True)),
        attended_len=key.shape[0] + extra_keys,
    )
    return with_io(event, macs, flops)


@family("aten._native_multi_head_attention")
def native_multi_head_attention(event: OpEvent) -> Cost:
    """The fused fast path: (query [B, L, E], key, value, embed_dim, num_head, qkv_weight, qkv_bias,
    proj_weight, proj_bias, mask, need_weights, average_attn_weights, mask_type)."""
    query, key, value = event.args[:3]
    unbatched = len(query.shape) == 2
    macs, flops = multi_head_attention_macs_flops(
        batch=1 if unbatched else query.shape[0],
        query_len=query.shape[-2],
        key_len=key.shape[-2],
        embed_dim=query.shape[-1],
        key_dim=key.shape[-1],
        value_dim=value.shape[-1],
        heads=event.arg(4, "num_head"),
        in_bias=event.arg(6, "qkv_bias") is not None,
        out_bias=event.arg(8, "proj_bias") is not None,
        masked=event.arg(9, "mask") is not None,
        dropout=False,
        weights_returned=bool(event.arg(10, "need_weights", True)),
        weights_averaged=bool(event.arg(11, "average_attn_weights", True)),
    )
    return with_io(event, macs, flops)


@family("aten._transformer_encoder_layer_fwd")
def transformer_encoder_layer(event: OpEvent) -> Cost:
    """The fused encoder layer: (src [B, L, E], embed_dim, num_heads, qkv_weight, qkv_bias,
    proj_weight, proj_bias, use_gelu, norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2,
    norm_bias_2, ffn_weight_1, ffn_bias_1, ffn_weight_2, ffn_bias_2, mask, mask_type)."""
    src = event.args[0]
    batch = 1 if len(src.shape) == 2 else src.shape[0]
    length, embed_dim = src.shape[-2], src.shape[-1]
    hidden = event.args[14].shape[0]
    tokens = batch * length
    macs, flops = multi_head_attention_macs_flops(
        batch=batch,
        query_len=length,
        key_len=length,
        embed_dim=embed_dim,
        key_dim=embed_dim,
        value_dim=embed_dim,
        heads=event.args[2],
        in_bias=True,
        out_bias=True,
        masked=event.arg(18, "mask") is not None,
        dropout=False,
        weights_returned=False,
        weights_averaged=False,
    )
    for in_features, out_features in ((embed_dim, hidden), (hidden, embed_dim)):
        ffn_macs, ffn_flops = linear_cost(tokens, in_features, out_features, True)
        macs += ffn_macs
        flops += ffn_flops
    flops += tokens * hidden * (GELU_FLOPS if event.args[7] else RELU_FLOPS)
    flops += 2 * tokens * embed_dim  # two residual adds
    flops += 2 * layer_norm_flops(tokens, embed_dim, weight=True, bias=True)
    return with_io(event, macs, flops)
