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
  Causal attention (is_causal=True) is counted in full by default, like a dense kernel computes it:
  causal="full". With causal="triangle" (alias "half") only the scores the causal mask keeps are
  counted: torch's top-left aligned tril(ones(L, S)), sum over rows i of min(i + 1, S) scores per
  head (L*(L+1)/2 when L == S; a bottom-right aligned mask, custom_mask_type 2, keeps
  min(S, max(0, i + 1 + S - L))); every term above (products, scale, softmax over each row's kept
  scores, dropout) then runs over the kept scores only, and nothing is masked. An explicit mask is
  always counted in full: its content is not known from shapes (docs/conventions.md).
  The convention is an option of the registry: default_formulas(causal=...) or analyze(causal=...).
  Bytes = query, key, value and mask read once; the output (and any logsumexp the backend keeps)
  written once: the scores never reach memory in a fused kernel.
The backward of every backend: MACs = B*H * L * S * (2E + 2Ev) (grad of v, of the probabilities,
of q and of k) and FLOPs = 2 * MACs + 3 * B*H * L * S (softmax gradient and scaling).

roofscope's own attention op (roofscope::attention, for models with a logit softcap or attention
sinks, which SDPA lacks: roofscope.models.attention) is counted as scaled dot-product attention,
plus 3 FLOPs per score for the softcap (s = tanh(s / c) * c) and, with sinks, a softmax over S + 1
logits per row; its backward adds the softcap's derivative, 3 FLOPs per score.

Multi-head attention (F.multi_head_attention_forward and its fused fast path) is the sum of its
parts: the input projections as linear layers with bias, the attention above per head, the averaged
attention weights when they are returned, and the output projection as a linear layer with bias.
The fused encoder layer adds residual adds, two layer norms and the feed-forward network.
"""

from __future__ import annotations

import dataclasses
import itertools
from math import prod

from roofscope.cost import Cost
from roofscope.events import OpEvent, TensorMeta
from roofscope.formulas._registry import Family, with_io
from roofscope.formulas.norm import layer_norm_flops
from roofscope.formulas.pointwise import GELU_FLOPS, RELU_FLOPS
from roofscope.formulas.softmax import softmax_flops

__all__ = [
    "AttentionShape",
    "attention_backward_seq_first",
    "attention_flops",
    "attention_macs",
    "causal_row_lengths",
    "causal_scores",
    "check_causal",
    "efficient_attention_forward",
    "flash_attention_forward",
    "linear_cost",
    "logical_sdpa_backward",
    "multi_head_attention_forward",
    "multi_head_attention_macs_flops",
    "native_multi_head_attention",
    "roofscope_attention",
    "roofscope_attention_backward",
    "scaled_dot_product_attention",
    "sdpa_backward",
    "sdpa_efficient",
    "sdpa_flash",
    "sdpa_flash_cpu",
    "sdpa_overrideable",
    "transformer_encoder_layer",
]

family = Family("attention")


@dataclasses.dataclass(frozen=True, slots=True)
class AttentionShape:
    heads: int  # batch * query heads
    query_len: int
    key_len: int
    qk_dim: int
    value_dim: int
    kept: tuple[int, ...] | None = None  # scores kept per query row (triangle convention); None: all


CAUSAL_CONVENTIONS = ("full", "triangle", "half")


def check_causal(causal: str) -> str:
    if causal not in CAUSAL_CONVENTIONS:
        raise ValueError(f"causal must be one of {', '.join(map(repr, CAUSAL_CONVENTIONS))}; got {causal!r}")
    return "triangle" if causal == "half" else causal


def causal_row_lengths(query_len: int, key_len: int, bottom_right: bool = False) -> tuple[int, ...]:
    """Scores per query row kept by a causal mask: torch's is_causal is tril(ones(L, S)) aligned
    top-left (row i keeps min(i + 1, S)); bottom-right alignment shifts the diagonal by S - L."""
    offset = key_len - query_len if bottom_right else 0
    return tuple(min(key_len, max(0, i + 1 + offset)) for i in range(query_len))


def causal_scores(query_len: int, key_len: int, bottom_right: bool = False) -> int:
    """The number of ones in the causal mask (per head)."""
    return sum(causal_row_lengths(query_len, key_len, bottom_right))


def _apply_causal(shape: AttentionShape, is_causal: bool, causal: str, bottom_right: bool = False) -> AttentionShape:
    if is_causal and check_causal(causal) == "triangle":
        return dataclasses.replace(shape, kept=causal_row_lengths(shape.query_len, shape.key_len, bottom_right))
    return shape


def _causal_shapes(shapes: AttentionShape | list[AttentionShape], is_causal: bool, causal: str) -> list[AttentionShape]:
    """Each sequence's shape (one for a plain batch) with the causal convention applied."""
    return [_apply_causal(shape, is_causal, causal) for shape in (shapes if isinstance(shapes, list) else [shapes])]


def _scores(shape: AttentionShape) -> int:
    per_head = shape.query_len * shape.key_len if shape.kept is None else sum(shape.kept)
    return shape.heads * per_head


def attention_macs(shape: AttentionShape) -> int:
    return _scores(shape) * (shape.qk_dim + shape.value_dim)


def attention_flops(shape: AttentionShape, masked: bool, dropout: bool) -> int:
    """``masked``: a mask is added to the scores (an explicit mask, or is_causal counted in full)."""
    scores = _scores(shape)
    flops = 2 * attention_macs(shape) + scores
    flops += scores if masked else 0
    if shape.kept is None:
        flops += softmax_flops(shape.heads * shape.query_len, shape.key_len)
    else:
        flops += shape.heads * sum(softmax_flops(1, length) for length in shape.kept)
    flops += 2 * scores if dropout else 0
    return flops


def _heads_first(query: TensorMeta, key: TensorMeta, value: TensorMeta) -> AttentionShape | list[AttentionShape]:
    """Layout [..., heads, seq, dim], the SDPA API's; nested jagged tensors [batch, heads, j, dim]
    (described by their packed values, with their sequence lengths): one shape per sequence."""
    if query.lengths is not None and key.lengths is not None:
        tokens = sum(query.lengths)
        heads = query.numel // (tokens * query.shape[-1]) if tokens and query.shape[-1] else 0
        return [AttentionShape(heads, lq, lk, query.shape[-1], value.shape[-1]) for lq, lk in zip(query.lengths, key.lengths)]
    return AttentionShape(prod(query.shape[:-2]), query.shape[-2], key.shape[-2], query.shape[-1], value.shape[-1])


def _seq_first(
    query: TensorMeta,
    key: TensorMeta,
    value: TensorMeta,
    offsets_q: object = None,
    offsets_k: object = None,
    max_q: object = None,
    max_k: object = None,
) -> list[AttentionShape]:
    """Layout [batch, seq, heads, dim], the flash/efficient kernels' own: one shape. Packed
    (variable-length) sequences, [total, heads, dim] (flash) or [1, total, heads, dim] (efficient),
    with cumulative offsets [batch + 1]: one shape per sequence, its query and key lengths read from
    the offsets where they have values; on meta and fake tensors, whose values are unknown, each
    sequence is taken at the longest length (max_q, max_k): an upper bound, torch's FlopCounterMode's
    convention."""
    heads, qk_dim, value_dim = query.shape[-2], query.shape[-1], value.shape[-1]
    if not (isinstance(offsets_q, TensorMeta) and isinstance(offsets_k, TensorMeta) and offsets_q.numel > 1):
        batch, query_len = query.shape[0], query.shape[1]
        return [AttentionShape(batch * heads, query_len, key.shape[1], qk_dim, value_dim)]
    query_lengths = _sequence_lengths(offsets_q, max_q, query.shape[-3])
    key_lengths = _sequence_lengths(offsets_k, max_k, key.shape[-3])
    return [AttentionShape(heads, lq, lk, qk_dim, value_dim) for lq, lk in zip(query_lengths, key_lengths)]


def _sequence_lengths(offsets: TensorMeta, longest: object, total: int) -> list[int]:
    if offsets.values is not None:
        return [end - start for start, end in itertools.pairwise(offsets.values)]
    length = int(longest) if isinstance(longest, int) else total
    return [length] * max(0, offsets.shape[0] - 1)


def _forward(
    event: OpEvent,
    shapes: AttentionShape | list[AttentionShape],
    mask: bool,
    is_causal: bool,
    dropout_p: object,
    causal: str,
    bottom_right: bool = False,
) -> Cost:
    """``mask``: an explicit mask or bias is given; ``is_causal``: the causal mask is applied.
    Several shapes (packed sequences) are summed."""
    dropout = bool(dropout_p) and float(dropout_p) > 0  # type: ignore[arg-type]
    macs = flops = 0
    for shape in shapes if isinstance(shapes, list) else [shapes]:
        shape = _apply_causal(shape, is_causal, causal, bottom_right)
        masked = mask or (is_causal and shape.kept is None)
        macs += attention_macs(shape)
        flops += attention_flops(shape, masked, dropout)
    return with_io(event, macs, flops)


@family("aten.scaled_dot_product_attention")
def scaled_dot_product_attention(event: OpEvent, *, causal: str = "full") -> Cost:
    """The logical op: (query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)."""
    query, key, value = event.args[:3]
    mask = event.arg(3, "attn_mask") is not None
    is_causal = bool(event.arg(5, "is_causal", False))
    return _forward(event, _heads_first(query, key, value), mask, is_causal, event.arg(4, "dropout_p", 0.0), causal)


@family("roofscope.attention")
def roofscope_attention(event: OpEvent, *, causal: str = "full") -> Cost:
    """(query, key, value, mask, sinks, scale, softcap, is_causal): SDPA's formula, plus 3 FLOPs
    a score for a softcap and a softmax over one more logit (the sink) per row."""
    query, key, value, mask, sinks, _, softcap, is_causal = event.args[:8]
    shapes = _heads_first(query, key, value)
    cost = _forward(event, shapes, mask is not None, bool(is_causal), 0.0, causal)
    extra = 0
    for shape in _causal_shapes(shapes, bool(is_causal), causal):
        extra += 3 * _scores(shape) if softcap else 0
        if sinks is not None:
            rows = [shape.key_len] * shape.query_len if shape.kept is None else list(shape.kept)
            extra += shape.heads * sum(softmax_flops(1, length + 1) - softmax_flops(1, length) for length in rows)
    return Cost(cost.macs, cost.flops + extra, cost.bytes_read, cost.bytes_written)


@family("aten._scaled_dot_product_flash_attention_for_cpu")
def sdpa_flash_cpu(event: OpEvent, *, causal: str = "full") -> Cost:
    """(query, key, value, dropout_p, is_causal, *, attn_mask, scale)."""
    query, key, value = event.args[:3]
    mask = event.kwargs.get("attn_mask") is not None
    is_causal = bool(event.arg(4, "is_causal", False))
    return _forward(event, _heads_first(query, key, value), mask, is_causal, event.arg(3, "dropout_p", 0.0), causal)


@family("aten._scaled_dot_product_flash_attention")
def sdpa_flash(event: OpEvent, *, causal: str = "full") -> Cost:
    """(query, key, value, dropout_p, is_causal, return_debug_mask, *, scale)."""
    query, key, value = event.args[:3]
    is_causal = bool(event.arg(4, "is_causal", False))
    return _forward(event, _heads_first(query, key, value), False, is_causal, event.arg(3, "dropout_p", 0.0), causal)


@family("aten._scaled_dot_product_efficient_attention", "aten._scaled_dot_product_cudnn_attention")
def sdpa_efficient(event: OpEvent, *, causal: str = "full") -> Cost:
    """(query, key, value, attn_bias, compute_log_sumexp, dropout_p, is_causal, ...)."""
    query, key, value = event.args[:3]
    mask = event.arg(3, "attn_bias") is not None
    is_causal = bool(event.arg(6, "is_causal", False))
    return _forward(event, _heads_first(query, key, value), mask, is_causal, event.arg(5, "dropout_p", 0.0), causal)


@family("aten._scaled_dot_product_fused_attention_overrideable")
def sdpa_overrideable(event: OpEvent, *, causal: str = "full") -> Cost:
    """(query, key, value, attn_bias, dropout_p, is_causal, return_debug_mask, *, scale)."""
    query, key, value = event.args[:3]
    mask = event.arg(3, "attn_bias") is not None
    is_causal = bool(event.arg(5, "is_causal", False))
    return _forward(event, _heads_first(query, key, value), mask, is_causal, event.arg(4, "dropout_p", 0.0), causal)


@family("aten._flash_attention_forward")
def flash_attention_forward(event: OpEvent, *, causal: str = "full") -> Cost:
    """(query, key, value, cum_seq_q, cum_seq_k, max_q, max_k, dropout_p, is_causal, ...), [B, L, H, E],
    or packed [total, H, E] with the sequence offsets cum_seq_q and cum_seq_k: counted per sequence."""
    query, key, value = event.args[:3]
    is_causal = bool(event.arg(8, "is_causal", False))
    shapes = _seq_first(query, key, value, *event.args[3:7])
    return _forward(event, shapes, False, is_causal, event.arg(7, "dropout_p", 0.0), causal)


@family("aten._efficient_attention_forward")
def efficient_attention_forward(event: OpEvent, *, causal: str = "full") -> Cost:
    """(query, key, value, bias, cu_seqlens_q, cu_seqlens_k, max_q, max_k, dropout_p, custom_mask_type, ...);
    custom_mask_type 1 is causal aligned top-left, 2 aligned bottom-right. Packed sequences
    ([1, total, H, E] with offsets cu_seqlens_q and cu_seqlens_k) are counted per sequence."""
    query, key, value = event.args[:3]
    mask_type = int(event.arg(9, "custom_mask_type", 0) or 0)
    mask = event.arg(3, "bias") is not None
    shapes = _seq_first(query, key, value, *event.args[4:8])
    return _forward(event, shapes, mask, mask_type in (1, 2), event.arg(8, "dropout_p", 0.0), causal, mask_type == 2)


def _backward(
    event: OpEvent, shapes: AttentionShape | list[AttentionShape], is_causal: bool, causal: str, bottom_right: bool = False
) -> Cost:
    macs = flops = 0
    for shape in shapes if isinstance(shapes, list) else [shapes]:
        shape = _apply_causal(shape, is_causal, causal, bottom_right)
        scores = _scores(shape)
        shape_macs = scores * 2 * (shape.qk_dim + shape.value_dim)
        macs += shape_macs
        flops += 2 * shape_macs + 3 * scores
    return with_io(event, macs, flops)


_BACKWARD_CAUSAL = {
    "aten._scaled_dot_product_flash_attention_backward": 11,
    "aten._scaled_dot_product_efficient_attention_backward": 11,
    "aten._scaled_dot_product_cudnn_attention_backward": 14,
    "aten._scaled_dot_product_flash_attention_for_cpu_backward": 7,
    "aten._scaled_dot_product_fused_attention_overrideable_backward": 13,
    "aten._flash_attention_backward": 11,
}


@family(
    "aten._scaled_dot_product_flash_attention_backward",
    "aten._scaled_dot_product_efficient_attention_backward",
    "aten._scaled_dot_product_cudnn_attention_backward",
    "aten._scaled_dot_product_flash_attention_for_cpu_backward",
    "aten._scaled_dot_product_fused_attention_overrideable_backward",
)
def sdpa_backward(event: OpEvent, *, causal: str = "full") -> Cost:
    """(grad_out, query, key, value, ...), heads-first layout; is_causal at the schema's position."""
    _, query, key, value = event.args[:4]
    is_causal = bool(event.arg(_BACKWARD_CAUSAL[event.op], "is_causal", False))
    return _backward(event, _heads_first(query, key, value), is_causal, causal)


@family("roofscope.scaled_dot_product_attention_backward")
def logical_sdpa_backward(event: OpEvent, *, causal: str = "full") -> Cost:
    """The backward of F.scaled_dot_product_attention as one logical op (captured so with
    ``backward=True`` on every device): (grad_output, query, key, value[, attn_mask], output), is_causal
    as a keyword. Bytes: those read once, the gradients written once, as a fused backward kernel."""
    _, query, key, value = event.args[:4]
    return _backward(event, _heads_first(query, key, value), bool(event.kwargs.get("is_causal", False)), causal)


@family("roofscope.attention_backward")
def roofscope_attention_backward(event: OpEvent, *, causal: str = "full") -> Cost:
    """(grad, query, key, value, mask, sinks, scale, softcap, is_causal): the fused backward, plus 3
    FLOPs a score for the softcap's derivative."""
    _, query, key, value, _, _, _, softcap, is_causal = event.args[:9]
    shapes = _heads_first(query, key, value)
    cost = _backward(event, shapes, bool(is_causal), causal)
    extra = sum(3 * _scores(shape) for shape in _causal_shapes(shapes, bool(is_causal), causal)) if softcap else 0
    return Cost(cost.macs, cost.flops + extra, cost.bytes_read, cost.bytes_written)


@family("aten._flash_attention_backward", "aten._efficient_attention_backward")
def attention_backward_seq_first(event: OpEvent, *, causal: str = "full") -> Cost:
    """(grad_out, query, key, value, ..., offsets_q, offsets_k, max_q, max_k, ...) at positions 6-9 in
    both: [B, L, H, E] layout, or packed sequences counted per sequence as in the forward."""
    _, query, key, value = event.args[:4]
    shapes = _seq_first(query, key, value, *event.args[6:10])
    if event.op == "aten._efficient_attention_backward":
        mask_type = int(event.arg(14, "custom_mask_type", 0) or 0)
        return _backward(event, shapes, mask_type in (1, 2), causal, mask_type == 2)
    return _backward(event, shapes, bool(event.arg(11, "is_causal", False)), causal)


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
    is_causal: bool = False,
    causal: str = "full",
) -> tuple[int, int]:
    """MACs and FLOPs of multi-head attention as the sum of its parts (module docstring).
    ``is_causal``: the mask is the causal mask; with ``causal="triangle"`` only its kept scores count."""
    parts = [
        linear_cost(batch * query_len, embed_dim, embed_dim, in_bias),
        linear_cost(batch * key_len, key_dim, embed_dim, in_bias),
        linear_cost(batch * key_len, value_dim, embed_dim, in_bias),
        linear_cost(batch * query_len, embed_dim, embed_dim, out_bias),
    ]
    core = AttentionShape(batch * heads, query_len, attended_len or key_len, embed_dim // heads, embed_dim // heads)
    core = _apply_causal(core, is_causal, causal)
    macs = sum(p[0] for p in parts) + attention_macs(core)
    flops = sum(p[1] for p in parts) + attention_flops(core, masked, dropout)
    if weights_returned and weights_averaged:
        flops += _scores(core)  # sum over heads, then divide
    return macs, flops


@family("roofscope.multi_head_attention_forward")
def multi_head_attention_forward(event: OpEvent, *, causal: str = "full") -> Cost:
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
    is_causal = bool(event.arg(24, "is_causal", False))
    triangle = is_causal and check_causal(causal) == "triangle"
    # with is_causal, attn_mask is the causal mask: the triangle convention drops it with the scores
    masked = event.arg(14, "key_padding_mask") is not None or (event.arg(16, "attn_mask") is not None and not triangle)
    masked = masked or (is_causal and not triangle)
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
        is_causal=is_causal,
        causal=causal,
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
