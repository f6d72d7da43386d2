"""Built-in transformer presets: the published configuration numbers of common models.

Each preset is data: the transformers config class name, its keyword arguments (copied from the
model's published config.json on the Hugging Face hub, written here so nothing is downloaded), the
model head to build, and the dtype the checkpoint is published in. ``build`` makes the model on the
meta device: no memory, no weights, no network.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import torch

from roofscope.extras import require


@dataclasses.dataclass(frozen=True)
class Preset:
    config_class: str  # a class in ``transformers``, e.g. "LlamaConfig"
    kwargs: dict[str, Any]
    head: str = "causal-lm"  # "causal-lm" (AutoModelForCausalLM), "base" (AutoModel), "image-classification"
    dtype: torch.dtype = torch.float32  # the dtype of the published checkpoint
    source: str = ""  # the hub repository whose config.json the numbers come from


def _gpt2(n_embd: int, n_layer: int, n_head: int, repo: str) -> Preset:
    return Preset(
        "GPT2Config",
        dict(vocab_size=50257, n_positions=1024, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
             activation_function="gelu_new", tie_word_embeddings=True),
        source=repo,
    )


def _bert(hidden: int, layers: int, heads: int, repo: str) -> Preset:
    return Preset(
        "BertConfig",
        dict(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
             intermediate_size=4 * hidden, max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu"),
        head="base",  # BertModel, with the pooler: 109,482,240 parameters for bert-base
        source=repo,
    )


def _llama(vocab: int, hidden: int, inter: int, layers: int, heads: int, kv_heads: int, max_pos: int,
           rope_theta: float, dtype: torch.dtype, repo: str) -> Preset:
    return Preset(
        "LlamaConfig",
        dict(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
             num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=max_pos,
             rms_norm_eps=1e-5, rope_theta=rope_theta, hidden_act="silu", tie_word_embeddings=False),
        dtype=dtype,
        source=repo,
    )


PRESETS: dict[str, Preset] = {
    "gpt2": _gpt2(768, 12, 12, "openai-community/gpt2"),
    "gpt2-medium": _gpt2(1024, 24, 16, "openai-community/gpt2-medium"),
    "gpt2-large": _gpt2(1280, 36, 20, "openai-community/gpt2-large"),
    "gpt2-xl": _gpt2(1600, 48, 25, "openai-community/gpt2-xl"),
    "bert-base": _bert(768, 12, 12, "google-bert/bert-base-uncased"),
    "bert-large": _bert(1024, 24, 16, "google-bert/bert-large-uncased"),
    "llama-2-7b": _llama(32000, 4096, 11008, 32, 32, 32, 4096, 10000.0, torch.float16, "meta-llama/Llama-2-7b-hf"),
    "llama-2-13b": _llama(32000, 5120, 13824, 40, 40, 40, 4096, 10000.0, torch.float16, "meta-llama/Llama-2-13b-hf"),
    "llama-2-70b": _llama(32000, 8192, 28672, 80, 64, 8, 4096, 10000.0, torch.float16, "meta-llama/Llama-2-70b-hf"),
    "llama-3-8b": _llama(128256, 4096, 14336, 32, 32, 8, 8192, 500000.0, torch.bfloat16, "meta-llama/Meta-Llama-3-8B"),
    "llama-3-70b": _llama(128256, 8192, 28672, 80, 64, 8, 8192, 500000.0, torch.bfloat16, "meta-llama/Meta-Llama-3-70B"),
    "mistral-7b": Preset(
        "MistralConfig",
        dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
             num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=32768, rms_norm_eps=1e-5,
             rope_theta=10000.0, sliding_window=4096, hidden_act="silu", tie_word_embeddings=False),
        dtype=torch.bfloat16,
        source="mistralai/Mistral-7B-v0.1",
    ),
    "mixtral-8x7b": Preset(
        "MixtralConfig",
        dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
             num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=32768, rms_norm_eps=1e-5,
             rope_theta=1e6, sliding_window=None, num_local_experts=8, num_experts_per_tok=2,
             hidden_act="silu", tie_word_embeddings=False),
        dtype=torch.bfloat16,
        source="mistralai/Mixtral-8x7B-v0.1",
    ),
    "qwen2.5-7b": Preset(
        "Qwen2Config",
        dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
             num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=131072, rms_norm_eps=1e-6,
             rope_theta=1e6, hidden_act="silu", tie_word_embeddings=False, use_sliding_window=False),
        dtype=torch.bfloat16,
        source="Qwen/Qwen2.5-7B",
    ),
    "vit-b-16": Preset(
        "ViTConfig",
        dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
             image_size=224, patch_size=16, num_channels=3, qkv_bias=True, num_labels=1000),
        head="image-classification",
        source="google/vit-base-patch16-224",
    ),
}

ALIASES = {
    "bert-base-uncased": "bert-base",
    "bert-large-uncased": "bert-large",
    "mistral-7b-v0.1": "mistral-7b",
    "llama-3.1-8b": "llama-3-8b",
    "vit-base-patch16-224": "vit-b-16",
}


def preset_names() -> list[str]:
    return list(PRESETS)


def lookup(name: str) -> Preset | None:
    key = name.lower().removeprefix("hf:")
    key = ALIASES.get(key, key)
    return PRESETS.get(key)


def is_config_path(spec: str) -> bool:
    return spec.endswith(".json") and os.path.isfile(spec) or os.path.isfile(os.path.join(spec, "config.json"))


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
    kwargs = {k: v for k, v in data.items() if k not in ("model_type", "architectures", "torch_dtype", "dtype", "transformers_version", "auto_map")}
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
    roofscope's experts implementation (roofscope.llm.moe) computes exactly those T*k (token,
    expert) pairs with static shapes, reading each used expert's weights once; the eager path loops
    over the experts hit (data-dependent, impossible on meta).
    """
    options: dict[str, Any] = {"attn_implementation": "sdpa"}
    if is_moe(config):
        from roofscope.llm import moe

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
