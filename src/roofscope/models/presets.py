"""Built-in transformer presets: the published configuration numbers of common models.

Each preset is data: the transformers config class name, its keyword arguments (copied from the
model's published config.json on the Hugging Face hub, written here so nothing is downloaded), the
model head to build, and the dtype the checkpoint is published in. ``roofscope.models.transformers.build``
makes the model on the meta device: no memory, no weights, no network.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

__all__ = ["ALIASES", "PRESETS", "Preset", "lookup", "preset_names"]


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
        dict(
            vocab_size=50257,
            n_positions=1024,
            n_embd=n_embd,
            n_layer=n_layer,
            n_head=n_head,
            activation_function="gelu_new",
            tie_word_embeddings=True,
        ),
        source=repo,
    )


def _bert(hidden: int, layers: int, heads: int, repo: str) -> Preset:
    return Preset(
        "BertConfig",
        dict(
            vocab_size=30522,
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=4 * hidden,
            max_position_embeddings=512,
            type_vocab_size=2,
            hidden_act="gelu",
        ),
        head="base",  # BertModel, with the pooler: 109,482,240 parameters for bert-base
        source=repo,
    )


def _llama(
    vocab: int,
    hidden: int,
    inter: int,
    layers: int,
    heads: int,
    kv_heads: int,
    max_pos: int,
    rope_theta: float,
    dtype: torch.dtype,
    repo: str,
) -> Preset:
    return Preset(
        "LlamaConfig",
        dict(
            vocab_size=vocab,
            hidden_size=hidden,
            intermediate_size=inter,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv_heads,
            max_position_embeddings=max_pos,
            rms_norm_eps=1e-5,
            rope_theta=rope_theta,
            hidden_act="silu",
            tie_word_embeddings=False,
        ),
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
        dict(
            vocab_size=32000,
            hidden_size=4096,
            intermediate_size=14336,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=8,
            max_position_embeddings=32768,
            rms_norm_eps=1e-5,
            rope_theta=10000.0,
            sliding_window=4096,
            hidden_act="silu",
            tie_word_embeddings=False,
        ),
        dtype=torch.bfloat16,
        source="mistralai/Mistral-7B-v0.1",
    ),
    "mixtral-8x7b": Preset(
        "MixtralConfig",
        dict(
            vocab_size=32000,
            hidden_size=4096,
            intermediate_size=14336,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=8,
            max_position_embeddings=32768,
            rms_norm_eps=1e-5,
            rope_theta=1e6,
            sliding_window=None,
            num_local_experts=8,
            num_experts_per_tok=2,
            hidden_act="silu",
            tie_word_embeddings=False,
        ),
        dtype=torch.bfloat16,
        source="mistralai/Mixtral-8x7B-v0.1",
    ),
    "qwen2.5-7b": Preset(
        "Qwen2Config",
        dict(
            vocab_size=152064,
            hidden_size=3584,
            intermediate_size=18944,
            num_hidden_layers=28,
            num_attention_heads=28,
            num_key_value_heads=4,
            max_position_embeddings=131072,
            rms_norm_eps=1e-6,
            rope_theta=1e6,
            hidden_act="silu",
            tie_word_embeddings=False,
            use_sliding_window=False,
        ),
        dtype=torch.bfloat16,
        source="Qwen/Qwen2.5-7B",
    ),
    "vit-b-16": Preset(
        "ViTConfig",
        dict(
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072,
            image_size=224,
            patch_size=16,
            num_channels=3,
            qkv_bias=True,
            num_labels=1000,
        ),
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
