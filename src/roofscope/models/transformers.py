"""Transformers built from a preset or a local ``config.json`` on the meta device, through the
transformers library (an optional extra): SDPA attention, and roofscope's experts implementation for
a mixture of experts (``roofscope.models.moe``)."""

from __future__ import annotations

import json
import os
from typing import Any

import torch

from roofscope.extras import require
from roofscope.inputs import TensorSpec
from roofscope.models.presets import Preset, lookup
from roofscope.models.spec import ResolvedModel

__all__ = ["build", "build_options", "from_transformer", "is_config_path", "is_moe", "make_config", "preset_from_config_file"]


def is_config_path(spec: str) -> bool:
    return (spec.endswith(".json") and os.path.isfile(spec)) or os.path.isfile(os.path.join(spec, "config.json"))


def preset_from_config_file(path: str) -> Preset:
    """A preset from a local Hugging Face config.json (or a folder holding one)."""
    if os.path.isdir(path):
        path = os.path.join(path, "config.json")
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    transformers = require("transformers", f"the config {path}")

    model_type = data.get("model_type")
    if model_type is None:
        raise ValueError(f"{path}: a Hugging Face config.json has a 'model_type' entry; this one has none")
    config_class = type(transformers.AutoConfig.for_model(model_type)).__name__
    architectures = data.get("architectures") or []
    head = "base"
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        head = "causal-lm"
    elif any(a.endswith("ForImageClassification") for a in architectures):
        head = "image-classification"
    dtype_name = data.get("torch_dtype") or data.get("dtype") or "float32"
    dtype = getattr(torch, dtype_name) if isinstance(dtype_name, str) and hasattr(torch, dtype_name) else torch.float32
    kwargs = {
        k: v
        for k, v in data.items()
        if k not in ("model_type", "architectures", "torch_dtype", "dtype", "transformers_version", "auto_map")
    }
    return Preset(config_class, kwargs, head=head, dtype=dtype, source=path)


def make_config(preset: Preset) -> Any:
    transformers = require("transformers", f"the transformer {preset.source or preset.config_class}")
    return getattr(transformers, preset.config_class)(**preset.kwargs)


def is_moe(config: Any) -> bool:
    """A mixture-of-experts configuration (routed experts per token)."""
    return hasattr(config, "num_local_experts") or hasattr(config, "num_experts_per_tok")


def build_options(config: Any) -> dict[str, Any]:
    """What ``from_config`` is told besides the config: SDPA attention (one logical op on every
    device) and, for a mixture of experts, roofscope's experts implementation.

    Expert FLOPs on meta: every token runs exactly num_experts_per_tok experts, whichever they are.
    roofscope's experts implementation (roofscope.models.moe) computes exactly those T*k (token,
    expert) pairs with static shapes, reading each used expert's weights once; the eager path loops
    over the experts hit (data-dependent, impossible on meta).
    """
    options: dict[str, Any] = {"attn_implementation": "sdpa"}
    if is_moe(config):
        from roofscope.models import moe

        moe.register()
        options["experts_implementation"] = moe.IMPLEMENTATION
    return options


def build(preset: Preset, dtype: torch.dtype | None = None) -> torch.nn.Module:
    """The model of ``preset`` on the meta device, in ``dtype`` (default: the published dtype), eval mode."""
    config = make_config(preset)
    import transformers

    auto = {
        "causal-lm": transformers.AutoModelForCausalLM,
        "base": transformers.AutoModel,
        "image-classification": transformers.AutoModelForImageClassification,
    }[preset.head]
    with torch.device("meta"):
        model = auto.from_config(config, dtype=dtype or preset.dtype, **build_options(config))
    return model.eval()


def from_transformer(spec: str, batch: int | None, seq_len: int | None) -> ResolvedModel | None:
    """A transformer preset or config.json with its default inputs (``input_ids`` of ``batch`` x
    ``seq_len``, the pixels of an image classifier), None when ``spec`` is neither."""
    preset = lookup(spec)
    if preset is None and is_config_path(spec):
        preset = preset_from_config_file(spec)
    if preset is None:
        return None
    model = build(preset)
    batch = batch or 1
    if preset.head == "image-classification":
        size = int(getattr(model.config, "image_size", 224))
        return ResolvedModel(spec, model, {"pixel_values": TensorSpec((batch, 3, size, size), preset.dtype)}, preset)
    if seq_len is None:
        seq_len = min(int(getattr(model.config, "max_position_embeddings", 0) or 512), 2048)
    vocab = int(getattr(model.config, "vocab_size", 2))
    inputs: dict[str, Any] = {"input_ids": TensorSpec((batch, seq_len), torch.long, 0, vocab)}
    if preset.head == "causal-lm":
        inputs["use_cache"] = True  # the prompt's keys and values are kept, as in generation (prefill)
    return ResolvedModel(spec, model, inputs, preset)
