"""Transformers built from a preset, a local ``config.json`` or a hub id's config.json on the meta
device, through the transformers library (an optional extra): SDPA attention (roofscope's own for
the models that refuse SDPA, ``roofscope.models.attention``), and roofscope's experts
implementation for a mixture of experts (``roofscope.models.moe``).

A hub id (``Qwen/Qwen3-8B``) is read from the local Hugging Face cache without the network; when
it is not there and the hub is not offline (``HF_HUB_OFFLINE``), its config.json alone is
downloaded into that cache, never its weights."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Any

import torch

from roofscope.extras import require
from roofscope.inputs import TensorSpec
from roofscope.models.presets import Preset, lookup
from roofscope.models.spec import ModelSpecError, ResolvedModel

__all__ = [
    "GENERATIVE_HEADS",
    "build",
    "build_options",
    "from_transformer",
    "is_config_path",
    "is_hub_id",
    "is_moe",
    "make_config",
    "preset_from_config_file",
    "preset_from_hub",
]

#: The heads that generate tokens: they have a KV cache, a decode step and a serving summary.
GENERATIVE_HEADS = ("causal-lm", "seq2seq-lm")

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def is_config_path(spec: str) -> bool:
    return (spec.endswith(".json") and os.path.isfile(spec)) or os.path.isfile(os.path.join(spec, "config.json"))


def preset_from_config_file(path: str) -> Preset:
    """A preset from a local Hugging Face config.json (or a folder holding one)."""
    if os.path.isdir(path):
        path = os.path.join(path, "config.json")
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    require("transformers", f"the config {path}")
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES

    model_type = data.get("model_type")
    if model_type is None:
        raise ValueError(f"{path}: a Hugging Face config.json has a 'model_type' entry; this one has none")
    architectures = data.get("architectures") or []
    model_type = _shipped_model_type(model_type, architectures, path)
    config_class = _config_class(model_type)
    head = "base"
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        head = "causal-lm"
    elif any(a.endswith("ForConditionalGeneration") for a in architectures):
        # a vision-language model generates text (gemma-3); an encoder-decoder too (t5)
        if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
            head = "causal-lm"
        elif model_type in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES:
            head = "seq2seq-lm"
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


def _config_class(model_type: str) -> str:
    import transformers

    return type(transformers.AutoConfig.for_model(model_type)).__name__


def _shipped_model_type(model_type: str, architectures: list[str], path: str) -> str:
    """``model_type``, or for a config of remote code (``kimi_k2``) whose architecture transformers
    ships (``DeepseekV3ForCausalLM``), the model type of that architecture."""
    from transformers import CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES

    if model_type in CONFIG_MAPPING:
        return model_type
    for mapping in (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES):
        for shipped, architecture in mapping.items():
            if architecture in architectures:
                return shipped
    raise ModelSpecError(
        f"{path}: model_type {model_type!r} is not one the installed transformers builds, and neither is its architecture "
        f"({', '.join(architectures) or 'none named'}); roofscope builds models from transformers' own code, never a repository's"
    )


def is_hub_id(spec: str) -> bool:
    """``owner/name`` as the Hugging Face hub names a repository, and no local path."""
    return (
        bool(_HUB_ID.fullmatch(spec))
        and not os.path.exists(spec)
        and not spec.lower().endswith((".py", ".json", ".pt2", ".pt", ".pth", ".bin", ".ckpt"))
    )


def preset_from_hub(spec: str) -> Preset | None:
    """The preset of a hub id's config.json (``Qwen/Qwen3-8B``): from the local Hugging Face cache,
    else, unless the hub is offline, downloaded alone (no weights); None for a spec that is no hub id."""
    if not is_hub_id(spec):
        return None
    require("transformers", f"the hub model {spec}")
    import huggingface_hub
    from huggingface_hub import constants

    path = huggingface_hub.try_to_load_from_cache(spec, "config.json")
    if not isinstance(path, str):
        if constants.HF_HUB_OFFLINE:
            raise ModelSpecError(
                f"{spec}: its config.json is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) and the hub is offline"
            )
        try:
            path = huggingface_hub.hf_hub_download(spec, "config.json")
        except Exception as error:  # network, authentication, a repository without config.json: one line
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ModelSpecError(f"{spec}: cannot read its config.json from the Hugging Face hub: {message}") from None
    return dataclasses.replace(preset_from_config_file(path), source=spec)


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
    if _refuses_sdpa(config):
        from roofscope.models import attention

        attention.register()
        options["attn_implementation"] = attention.IMPLEMENTATION
    if is_moe(config):
        from roofscope.models import moe

        moe.register()
        options["experts_implementation"] = moe.IMPLEMENTATION
    return options


def _auto_class(head: str) -> Any:
    import transformers

    return {
        "causal-lm": transformers.AutoModelForCausalLM,
        "seq2seq-lm": transformers.AutoModelForSeq2SeqLM,
        "base": transformers.AutoModel,
        "image-classification": transformers.AutoModelForImageClassification,
    }[head]


def _refuses_sdpa(config: Any) -> bool:
    """The model class transformers builds for ``config`` has no SDPA attention (gemma-2 and gpt-oss:
    a logit softcap and attention sinks), but takes an attention implementation registered by name."""
    from transformers.models.auto import modeling_auto

    for mapping in (
        modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING,
        modeling_auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING,
        modeling_auto.MODEL_MAPPING,
    ):
        try:
            cls = mapping[type(config)]
        except KeyError:
            continue
        return not getattr(cls, "_supports_sdpa", True) and bool(getattr(cls, "_supports_attention_backend", False))
    return False


def build(preset: Preset, dtype: torch.dtype | None = None) -> torch.nn.Module:
    """The model of ``preset`` on the meta device, in ``dtype`` (default: the published dtype), eval mode."""
    config = make_config(preset)
    from roofscope.models import moe

    with torch.device("meta"):
        model = _auto_class(preset.head).from_config(config, dtype=dtype or preset.dtype, **build_options(config))
    moe.route_top_k(model)
    return model.eval()


def from_transformer(spec: str, batch: int | None, seq_len: int | None) -> ResolvedModel | None:
    """A transformer preset or config.json with its default inputs (``input_ids`` of ``batch`` x
    ``seq_len``, the pixels of an image classifier), None when ``spec`` is neither."""
    preset = lookup(spec)
    if preset is None and is_config_path(spec):
        preset = preset_from_config_file(spec)
    if preset is None:
        preset = preset_from_hub(spec)
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
    if preset.head == "seq2seq-lm":
        # the encoder reads the prompt, the decoder its start token
        inputs["decoder_input_ids"] = TensorSpec((batch, 1), torch.long, 0, vocab)
    if preset.head in GENERATIVE_HEADS:
        inputs["use_cache"] = True  # the prompt's keys and values are kept, as in generation (prefill)
    return ResolvedModel(spec, model, inputs, preset)
