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


def _preset(config_class: str, repo: str, dtype: torch.dtype = torch.bfloat16, head: str = "causal-lm", **kwargs: Any) -> Preset:
    return Preset(config_class, kwargs, head=head, dtype=dtype, source=repo)


def _qwen3(hidden: int, inter: int, layers: int, heads: int, kv_heads: int, tied: bool, repo: str) -> Preset:
    return _preset(
        "Qwen3Config",
        repo,
        vocab_size=151936,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=128,
        max_position_embeddings=40960,
        rms_norm_eps=1e-6,
        tie_word_embeddings=tied,
    )


def _qwen3_moe(hidden: int, layers: int, heads: int, kv_heads: int, experts: int, moe_inter: int, repo: str) -> Preset:
    return _preset(
        "Qwen3MoeConfig",
        repo,
        vocab_size=151936,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=128,
        num_experts=experts,
        num_experts_per_tok=8,
        moe_intermediate_size=moe_inter,
        decoder_sparse_step=1,
        mlp_only_layers=[],
        max_position_embeddings=40960,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
    )


def _gemma2(hidden: int, inter: int, layers: int, heads: int, kv_heads: int, head_dim: int, query_scalar: int, repo: str) -> Preset:
    return _preset(
        "Gemma2Config",
        repo,
        dtype=torch.float32,
        vocab_size=256000,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=head_dim,
        query_pre_attn_scalar=query_scalar,
        sliding_window=4096,
        attn_logit_softcapping=50.0,
        final_logit_softcapping=30.0,
        max_position_embeddings=8192,
        hidden_activation="gelu_pytorch_tanh",
        tie_word_embeddings=True,
    )


def _gemma3_text(
    hidden: int, inter: int, layers: int, heads: int, kv_heads: int, head_dim: int, query_scalar: int, window: int
) -> dict[str, Any]:
    return dict(
        vocab_size=262144 if hidden == 1152 else 262208,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=head_dim,
        query_pre_attn_scalar=query_scalar,
        sliding_window=window,
        layer_types=[("full_attention" if (i + 1) % 6 == 0 else "sliding_attention") for i in range(layers)],
        max_position_embeddings=32768 if hidden == 1152 else 131072,
        hidden_activation="gelu_pytorch_tanh",
        tie_word_embeddings=True,
    )


def _gpt_oss(layers: int, experts: int, repo: str) -> Preset:
    return _preset(
        "GptOssConfig",
        repo,
        vocab_size=201088,
        hidden_size=2880,
        intermediate_size=2880,
        num_hidden_layers=layers,
        num_attention_heads=64,
        num_key_value_heads=8,
        head_dim=64,
        num_local_experts=experts,
        num_experts_per_tok=4,
        sliding_window=128,
        layer_types=["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)],
        max_position_embeddings=131072,
        tie_word_embeddings=False,
    )


def _deepseek(
    vocab: int,
    hidden: int,
    inter: int,
    moe_inter: int,
    layers: int,
    heads: int,
    routed: int,
    top_k: int,
    shared: int,
    dense: int,
    q_lora: int | None,
    groups: tuple[int, int],
    repo: str,
    config_class: str = "DeepseekV3Config",
) -> Preset:
    return _preset(
        config_class,
        repo,
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=inter,
        moe_intermediate_size=moe_inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        n_routed_experts=routed,
        num_experts_per_tok=top_k,
        n_shared_experts=shared,
        first_k_dense_replace=dense,
        q_lora_rank=q_lora,
        kv_lora_rank=512,
        qk_rope_head_dim=64,
        qk_nope_head_dim=128,
        v_head_dim=128,
        n_group=groups[0],
        topk_group=groups[1],
        max_position_embeddings=163840,
        tie_word_embeddings=False,
    )


def _t5(d_model: int, d_ff: int, layers: int, heads: int, repo: str) -> Preset:
    return _preset(
        "T5Config",
        repo,
        dtype=torch.float32,
        head="seq2seq-lm",
        vocab_size=32128,
        d_model=d_model,
        d_kv=64,
        d_ff=d_ff,
        num_layers=layers,
        num_heads=heads,
        feed_forward_proj="relu",
        tie_word_embeddings=True,
    )


PRESETS: dict[str, Preset] = {
    "gpt2": _gpt2(768, 12, 12, "openai-community/gpt2"),
    "gpt2-medium": _gpt2(1024, 24, 16, "openai-community/gpt2-medium"),
    "gpt2-large": _gpt2(1280, 36, 20, "openai-community/gpt2-large"),
    "gpt2-xl": _gpt2(1600, 48, 25, "openai-community/gpt2-xl"),
    "bert-base": _bert(768, 12, 12, "google-bert/bert-base-uncased"),
    "bert-large": _bert(1024, 24, 16, "google-bert/bert-large-uncased"),
    "t5-small": _t5(512, 2048, 6, 8, "google-t5/t5-small"),
    "t5-base": _t5(768, 3072, 12, 12, "google-t5/t5-base"),
    "llama-2-7b": _llama(32000, 4096, 11008, 32, 32, 32, 4096, 10000.0, torch.float16, "meta-llama/Llama-2-7b-hf"),
    "llama-2-13b": _llama(32000, 5120, 13824, 40, 40, 40, 4096, 10000.0, torch.float16, "meta-llama/Llama-2-13b-hf"),
    "llama-2-70b": _llama(32000, 8192, 28672, 80, 64, 8, 4096, 10000.0, torch.float16, "meta-llama/Llama-2-70b-hf"),
    "llama-3-8b": _llama(128256, 4096, 14336, 32, 32, 8, 8192, 500000.0, torch.bfloat16, "meta-llama/Meta-Llama-3-8B"),
    "llama-3-70b": _llama(128256, 8192, 28672, 80, 64, 8, 8192, 500000.0, torch.bfloat16, "meta-llama/Meta-Llama-3-70B"),
    "llama-3.1-8b": _llama(128256, 4096, 14336, 32, 32, 8, 131072, 500000.0, torch.bfloat16, "meta-llama/Llama-3.1-8B"),
    "llama-3.1-70b": _llama(128256, 8192, 28672, 80, 64, 8, 131072, 500000.0, torch.bfloat16, "meta-llama/Llama-3.1-70B"),
    "llama-3.1-405b": _llama(128256, 16384, 53248, 126, 128, 8, 131072, 500000.0, torch.bfloat16, "meta-llama/Llama-3.1-405B"),
    "llama-3.2-1b": Preset(
        "LlamaConfig",
        {**_llama(128256, 2048, 8192, 16, 32, 8, 131072, 500000.0, torch.bfloat16, "").kwargs, "head_dim": 64, "tie_word_embeddings": True},
        dtype=torch.bfloat16,
        source="meta-llama/Llama-3.2-1B",
    ),
    "llama-3.2-3b": Preset(
        "LlamaConfig",
        {
            **_llama(128256, 3072, 8192, 28, 24, 8, 131072, 500000.0, torch.bfloat16, "").kwargs,
            "head_dim": 128,
            "tie_word_embeddings": True,
        },
        dtype=torch.bfloat16,
        source="meta-llama/Llama-3.2-3B",
    ),
    "llama-4-scout": _preset(
        "Llama4Config",
        "meta-llama/Llama-4-Scout-17B-16E",
        text_config=dict(
            vocab_size=202048,
            hidden_size=5120,
            intermediate_size=8192,
            intermediate_size_mlp=16384,
            num_hidden_layers=48,
            num_attention_heads=40,
            num_key_value_heads=8,
            head_dim=128,
            num_local_experts=16,
            num_experts_per_tok=1,
            interleave_moe_layer_step=1,
            attention_chunk_size=8192,
            use_qk_norm=True,
            max_position_embeddings=262144,
            pad_token_id=200018,
        ),
        vision_config=dict(
            hidden_size=1408,
            intermediate_size=5632,
            num_hidden_layers=34,
            num_attention_heads=16,
            image_size=336,
            patch_size=14,
            vision_output_dim=4096,
            projector_input_dim=4096,
            projector_output_dim=4096,
            pixel_shuffle_ratio=0.5,
        ),
        tie_word_embeddings=False,
    ),
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
    "mistral-nemo": _preset(
        "MistralConfig",
        "mistralai/Mistral-Nemo-Base-2407",
        vocab_size=131072,
        hidden_size=5120,
        intermediate_size=14336,
        num_hidden_layers=40,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=128,
        max_position_embeddings=128000,
        rope_theta=1e6,
        sliding_window=None,
        tie_word_embeddings=False,
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
    "qwen3-0.6b": _qwen3(1024, 3072, 28, 16, 8, True, "Qwen/Qwen3-0.6B"),
    "qwen3-8b": _qwen3(4096, 12288, 36, 32, 8, False, "Qwen/Qwen3-8B"),
    "qwen3-32b": _qwen3(5120, 25600, 64, 64, 8, False, "Qwen/Qwen3-32B"),
    "qwen3-30b-a3b": _qwen3_moe(2048, 48, 32, 4, 128, 768, "Qwen/Qwen3-30B-A3B"),
    "qwen3-235b-a22b": _qwen3_moe(4096, 94, 64, 4, 128, 1536, "Qwen/Qwen3-235B-A22B"),
    "qwen3-next-80b-a3b": _preset(
        "Qwen3NextConfig",
        "Qwen/Qwen3-Next-80B-A3B-Instruct",
        vocab_size=151936,
        hidden_size=2048,
        intermediate_size=5120,
        num_hidden_layers=48,
        num_attention_heads=16,
        num_key_value_heads=2,
        head_dim=256,
        linear_conv_kernel_dim=4,
        linear_key_head_dim=128,
        linear_value_head_dim=128,
        linear_num_key_heads=16,
        linear_num_value_heads=32,
        layer_types=["full_attention" if (i + 1) % 4 == 0 else "linear_attention" for i in range(48)],
        num_experts=512,
        num_experts_per_tok=10,
        moe_intermediate_size=512,
        shared_expert_intermediate_size=512,
        decoder_sparse_step=1,
        mlp_only_layers=[],
        max_position_embeddings=262144,
        tie_word_embeddings=False,
    ),
    "deepseek-v2-lite": _deepseek(
        102400, 2048, 10944, 1408, 27, 16, 64, 6, 2, 1, None, (1, 1), "deepseek-ai/DeepSeek-V2-Lite", "DeepseekV2Config"
    ),
    "deepseek-v3": _deepseek(129280, 7168, 18432, 2048, 61, 128, 256, 8, 1, 3, 1536, (8, 4), "deepseek-ai/DeepSeek-V3"),
    "kimi-k2": _deepseek(163840, 7168, 18432, 2048, 61, 64, 384, 8, 1, 1, 1536, (1, 1), "moonshotai/Kimi-K2-Instruct"),
    "gemma-2-2b": _gemma2(2304, 9216, 26, 8, 4, 256, 256, "google/gemma-2-2b"),
    "gemma-2-9b": _gemma2(3584, 14336, 42, 16, 8, 256, 256, "google/gemma-2-9b"),
    "gemma-2-27b": _gemma2(4608, 36864, 46, 32, 16, 128, 144, "google/gemma-2-27b"),
    "gemma-3-1b": _preset("Gemma3TextConfig", "google/gemma-3-1b-pt", **_gemma3_text(1152, 6912, 26, 4, 1, 256, 256, 512)),
    "gemma-3-27b": _preset(
        "Gemma3Config",
        "google/gemma-3-27b-pt",
        text_config=_gemma3_text(5376, 21504, 62, 32, 16, 128, 168, 1024),
        vision_config=dict(
            hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16, image_size=896, patch_size=14
        ),
        mm_tokens_per_image=256,
    ),
    "phi-3-mini": _preset(
        "Phi3Config",
        "microsoft/Phi-3-mini-4k-instruct",
        vocab_size=32064,
        hidden_size=3072,
        intermediate_size=8192,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        max_position_embeddings=4096,
        sliding_window=2047,
        tie_word_embeddings=False,
    ),
    "phi-4": _preset(
        "Phi3Config",
        "microsoft/phi-4",
        vocab_size=100352,
        hidden_size=5120,
        intermediate_size=17920,
        num_hidden_layers=40,
        num_attention_heads=40,
        num_key_value_heads=10,
        max_position_embeddings=16384,
        pad_token_id=100349,
        tie_word_embeddings=False,
    ),
    "gpt-oss-20b": _gpt_oss(24, 32, "openai/gpt-oss-20b"),
    "gpt-oss-120b": _gpt_oss(36, 128, "openai/gpt-oss-120b"),
    "olmo-2-7b": _preset(
        "Olmo2Config",
        "allenai/OLMo-2-1124-7B",
        vocab_size=100352,
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        max_position_embeddings=4096,
        pad_token_id=100277,
        tie_word_embeddings=False,
    ),
    "smollm3-3b": _preset(
        "SmolLM3Config",
        "HuggingFaceTB/SmolLM3-3B",
        vocab_size=128256,
        hidden_size=2048,
        intermediate_size=11008,
        num_hidden_layers=36,
        num_attention_heads=16,
        num_key_value_heads=4,
        max_position_embeddings=65536,
        no_rope_layer_interval=4,
        tie_word_embeddings=True,
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
    "vit-base-patch16-224": "vit-b-16",
}


def preset_names() -> list[str]:
    return list(PRESETS)


def lookup(name: str) -> Preset | None:
    key = name.lower().removeprefix("hf:")
    key = ALIASES.get(key, key)
    return PRESETS.get(key)
