"""KV caches: the one transformers keeps for the model, filled on the meta device, and its layout as
a serving engine holds it.

``filled_cache`` runs the model's own forward over ``context`` tokens on meta with a fresh cache of
the model's config (transformers builds its layers by the config's ``layer_types``: full, sliding
window, chunked, linear attention, hybrid, indexed), so the cache a decode step reads is exactly the
one the model writes, whatever its architecture. ``cache_layout`` reads, per layer, what that cache
holds for one token (keys and values, an indexer's keys) and for one sequence (linear attention's
convolution and recurrent states), the sliding window, and whether the model caches a compressed
latent (DeepSeek's multi-head latent attention, MLA): there, transformers keeps every head's
decompressed keys and values, while serving engines keep the latent, ``kv_lora_rank`` plus the
rope key's ``qk_rope_head_dim`` elements per token and layer. A layer kind roofscope does not know
is an ``AnalysisError`` naming the model type, never a guess.

``CacheUpdates`` watches the attention layers' ``update`` calls of one step (which tensors they
appended and returned), so that the serving convention (``roofscope.llm.serving``) can find their
ops among the traced ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from roofscope.analysis import AnalysisError
from roofscope.capture import RandomState
from roofscope.events import TensorMeta

__all__ = ["CacheLayout", "CacheUpdates", "LayerCache", "Update", "cache_layout", "empty_cache", "filled_cache", "model_type"]


@dataclasses.dataclass(frozen=True)
class LayerCache:
    """What one layer caches, per sequence.

    ``token_elements``: elements cached per token as a serving engine holds them;
    ``eager_token_elements``: as transformers' cache holds them (they differ for latent attention).
    ``window``: a sliding-window layer keeps the last ``window - 1`` tokens (the new token makes the
    window). ``state_elements``: a fixed-size state (linear attention's convolution and recurrent
    states). A cross-attention layer ("cross") holds the encoder's tokens, whatever the context.
    """

    kind: str  # "full", "sliding", "latent", "linear", "linear+full", "linear+sliding", "cross", "none"
    token_elements: int = 0
    eager_token_elements: int = 0
    window: int | None = None
    state_elements: int = 0
    latent_rank: int | None = None  # latent attention: kv_lora_rank, the latent's part of token_elements

    def tokens(self, context: int, encoder_tokens: int | None = None) -> int:
        """Tokens the layer holds after ``context`` tokens (and an encoder's ``encoder_tokens``)."""
        if self.kind == "cross":
            return context if encoder_tokens is None else encoder_tokens
        if self.window is not None:
            return min(context, self.window - 1)
        return context

    def elements(self, context: int, encoder_tokens: int | None = None, *, eager: bool = False) -> tuple[int, int]:
        """(cached token elements, state elements) per sequence at ``context`` tokens."""
        per_token = self.eager_token_elements if eager else self.token_elements
        return self.tokens(context, encoder_tokens) * per_token, self.state_elements


@dataclasses.dataclass(frozen=True)
class CacheLayout:
    """The layers' caches of one model, in layer order (a decoder's self-attention layers, then an
    encoder-decoder's cross-attention layers)."""

    model_type: str
    layers: tuple[LayerCache, ...]

    @property
    def latent(self) -> bool:
        return any(layer.kind == "latent" for layer in self.layers)

    def elements(self, batch: int, context: int, encoder_tokens: int | None = None, *, eager: bool = False) -> tuple[int, int]:
        """(KV elements, state elements) over the batch at ``context`` tokens (cross-attention
        layers: ``encoder_tokens``, by default ``context``)."""
        tokens = states = 0
        for layer in self.layers:
            layer_tokens, layer_states = layer.elements(context, encoder_tokens, eager=eager)
            tokens += layer_tokens
            states += layer_states
        return batch * tokens, batch * states

    def kinds(self) -> dict[str, int]:
        """How many layers of each kind, e.g. {"sliding": 26, "full": 8}."""
        counts: dict[str, int] = {}
        for layer in self.layers:
            counts[layer.kind] = counts.get(layer.kind, 0) + 1
        return counts

    def describe(self) -> str:
        """ "34 layers: 28 sliding (window 1024), 6 full" and the like."""
        parts = []
        for kind, count in self.kinds().items():
            windows = sorted({layer.window for layer in self.layers if layer.kind == kind and layer.window})
            suffix = f" (window {', '.join(map(str, windows))})" if windows else ""
            parts.append(f"{count} {kind}{suffix}")
        return f"{len(self.layers)} layers: {', '.join(parts)}"


def model_type(config: Any) -> str:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return str(getattr(text, "model_type", None) or getattr(config, "model_type", None) or type(config).__name__)


def _text_config(config: Any) -> Any:
    return config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config


def empty_cache(config: Any) -> Any:
    """A fresh transformers cache for the model: a DynamicCache built from its config (its layers
    follow ``layer_types``), or, for an encoder-decoder, an EncoderDecoderCache of two."""
    from transformers import DynamicCache, EncoderDecoderCache

    if getattr(config, "is_encoder_decoder", False):
        return EncoderDecoderCache(DynamicCache(config=config), DynamicCache(config=config))
    return DynamicCache(config=config)


def _self_layers(cache: Any) -> list[Any]:
    inner = getattr(cache, "self_attention_cache", cache)
    return list(inner.layers)


def _cross_layers(cache: Any) -> list[Any]:
    inner = getattr(cache, "cross_attention_cache", None)
    return list(inner.layers) if inner is not None else []


def filled_cache(model: torch.nn.Module, batch: int, context: int, cache_keyword: str, *, encoder_tokens: int | None = None) -> Any:
    """The model's cache after a forward over ``context`` tokens of ``batch`` sequences, on meta.

    A plain forward (not analysed), under no_grad: it fills the cache exactly as the model does.
    For an encoder-decoder, the encoder reads ``encoder_tokens`` tokens and the decoder ``context``.
    """
    cache = empty_cache(model.config)
    if context == 0:
        return cache
    device = next((p.device for p in model.parameters()), torch.device("meta"))
    kwargs: dict[str, Any] = {cache_keyword: cache, "use_cache": True}
    if encoder_tokens is not None:
        kwargs["input_ids"] = torch.zeros(batch, encoder_tokens, dtype=torch.long, device=device)
        kwargs["decoder_input_ids"] = torch.zeros(batch, context, dtype=torch.long, device=device)
    else:
        kwargs["input_ids"] = torch.zeros(batch, context, dtype=torch.long, device=device)
    with RandomState(), torch.no_grad():
        model(**kwargs)
    return cache


def _numel(tensor: Any) -> int:
    return int(tensor.numel()) if isinstance(tensor, torch.Tensor) else 0


def _states(layer: Any) -> int:
    """Elements of a linear-attention layer's convolution and recurrent states (one sequence)."""
    total = 0
    for states in (getattr(layer, "conv_states", None) or {}, getattr(layer, "recurrent_states", None) or {}):
        total += sum(_numel(tensor) for tensor in states.values())
    return total


def _tokens_of(layer: Any) -> int:
    keys = getattr(layer, "keys", None)
    return int(keys.shape[-2]) if isinstance(keys, torch.Tensor) and keys.dim() >= 2 else 0


def _token_elements(layer: Any) -> int:
    """Elements one cached token takes in the layer (keys, values, an indexer's keys), one sequence."""
    tokens = _tokens_of(layer)
    if tokens == 0:
        return 0
    total = _numel(layer.keys) + _numel(layer.values) + _numel(getattr(layer, "indexer_keys", None))
    return total // tokens


def _latent(config: Any, layer: Any) -> tuple[int, int] | None:
    """Multi-head latent attention: (kv_lora_rank + qk_rope_head_dim elements per token, plus an
    indexer's keys; kv_lora_rank), None for any other attention."""
    text = _text_config(config)
    rank = getattr(text, "kv_lora_rank", None)
    rope = getattr(text, "qk_rope_head_dim", None)
    if not rank or rope is None:
        return None
    tokens = _tokens_of(layer)
    indexer = _numel(getattr(layer, "indexer_keys", None)) // tokens if tokens else 0
    return int(rank) + int(rope) + indexer, int(rank)


def _layer_cache(config: Any, layer: Any, kind_of: Callable[[Any], str | None]) -> LayerCache:
    kind = kind_of(layer)
    name = model_type(config)
    if kind is None:
        raise AnalysisError(
            f"roofscope does not know the KV cache layout of {name} ({type(layer).__name__} layers): "
            "it counts full, grouped-query, sliding-window, latent (MLA), linear-attention and cross-attention caches"
        )
    if kind == "none":
        return LayerCache("none")
    eager = _token_elements(layer) if kind != "linear" else 0
    token, rank = eager, None
    if kind == "full":
        latent = _latent(config, layer)
        if latent is not None:
            kind, (token, rank) = "latent", latent
    window = int(layer.sliding_window) if "sliding" in kind else None
    return LayerCache(kind, token, eager, window, _states(layer) if kind.startswith("linear") else 0, rank)


def _kind_function() -> Callable[[Any], str | None]:
    from transformers import cache_utils as cu

    # most derived first: a hybrid layer is also a linear-attention and an attention layer
    kinds: list[tuple[type, str]] = [
        (cu.LinearAttentionAndSlidingWindowAttentionLayer, "linear+sliding"),
        (cu.LinearAttentionAndFullAttentionLayer, "linear+full"),
        (cu.LinearAttentionLayer, "linear"),
        (cu.DummyLayer, "none"),
        (cu.DynamicSlidingWindowLayer, "sliding"),
        (cu.DynamicIndexedLayer, "full"),
    ]

    def kind_of(layer: Any) -> str | None:
        for cls, kind in kinds:
            if isinstance(layer, cls):
                return kind
        return "full" if type(layer) is cu.DynamicLayer else None  # a subclass may hold anything

    return kind_of


def cache_layout(config: Any, cache: Any) -> CacheLayout:
    """The layout of a cache the model has filled (``filled_cache`` with at least one token)."""
    kind_of = _kind_function()
    layers = [_layer_cache(config, layer, kind_of) for layer in _self_layers(cache)]
    for layer in _cross_layers(cache):
        per_token = _token_elements(layer)
        layers.append(LayerCache("cross", per_token, per_token))
    return CacheLayout(model_type(config), tuple(layers))


@dataclasses.dataclass(frozen=True)
class Update:
    """One call of a layer's cache update: per tensor appended, (what was appended, what the call
    returned: the states attention then reads)."""

    layer: int
    appended: tuple[tuple[TensorMeta, TensorMeta], ...]


class CacheUpdates:
    """Records every attention layer's cache update of one step: the shapes appended and returned.

    The cache is ours (made by ``empty_cache`` or ``filled_cache``); its layers' ``update`` (and an
    indexer's ``update_indexer``) are wrapped on the instance. The wrappers run no tensor op.
    """

    def __init__(self, cache: Any) -> None:
        self.updates: list[Update] = []
        kind_of = _kind_function()
        for index, layer in enumerate(_self_layers(cache)):
            kind = kind_of(layer)
            if kind in (None, "none", "linear"):
                continue
            layer.update = self._watch(index, layer.update)
            if hasattr(layer, "update_indexer"):
                layer.update_indexer = self._watch(index, layer.update_indexer)

    def _watch(self, index: int, update: Callable[..., Any]) -> Callable[..., Any]:
        def watched(*args: Any, **kwargs: Any) -> Any:
            result = update(*args, **kwargs)
            given = [arg for arg in args if isinstance(arg, torch.Tensor)]
            returned = [result] if isinstance(result, torch.Tensor) else [t for t in result if isinstance(t, torch.Tensor)]
            pairs = tuple((TensorMeta.of(new), TensorMeta.of(full)) for new, full in zip(given, returned))
            self.updates.append(Update(index, pairs))
            return result

        return watched
