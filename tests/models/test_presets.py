"""Every preset's parameter count against the count its publisher gives (model card or technical
report), to the precision they give it; mixture-of-experts presets against their published active
parameters too. Each count is also pinned exactly, as built here from the published config.json.

Model cards round or truncate (Meta's "8B" is 8.03 B, its "1.23B" 1.2358 B); where a publisher
gives more digits they are used.
Published counts that include parts transformers does not build are corrected in the test, with
the part named.
"""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from roofscope.llm import LLM
from roofscope.models.presets import PRESETS

# name: (exact count as built, published count, the unit of the published figure's last digit,
# where it is published). Publishers round or truncate: a count matches from half a unit below the
# published figure to a unit above it.
PUBLISHED = {
    "gpt2": (124_439_808, 124e6, 1e6, "openai-community/gpt2: 124M (tied embeddings counted once)"),
    "gpt2-medium": (354_823_168, 355e6, 1e6, "openai-community/gpt2-medium: 355M"),
    "gpt2-large": (774_030_080, 774e6, 1e6, "openai-community/gpt2-large: 774M"),
    "gpt2-xl": (1_557_611_200, 1.5e9, 1e8, "openai-community/gpt2-xl: 1.5B"),
    "bert-base": (109_482_240, 110e6, 1e7, "Devlin et al. 2019, BERT: BERT-base 110M"),
    "bert-large": (335_141_888, 340e6, 1e7, "Devlin et al. 2019, BERT: BERT-large 340M"),
    "vit-b-16": (86_567_656, 86e6, 1e6, "Dosovitskiy et al. 2021, ViT, table 1: ViT-Base 86M"),
    "t5-small": (60_506_624, 60e6, 1e7, "Raffel et al. 2020, T5, section 3.7: about 60 million"),
    "t5-base": (222_903_552, 220e6, 1e7, "Raffel et al. 2020, T5: about 220 million"),
    "llama-2-7b": (6_738_415_616, 7e9, 1e9, "Llama 2 model card: 7B"),
    "llama-2-13b": (13_015_864_320, 13e9, 1e9, "Llama 2 model card: 13B"),
    "llama-2-70b": (68_976_648_192, 70e9, 1e10, "Llama 2 model card: 70B"),
    "llama-3-8b": (8_030_261_248, 8e9, 1e9, "Llama 3 model card: 8B"),
    "llama-3-70b": (70_553_706_496, 70e9, 1e10, "Llama 3 model card: 70B"),
    "mistral-7b": (7_241_732_096, 7.24e9, 1e7, "mistralai/Mistral-7B-v0.1, safetensors: 7.24B"),
    "mixtral-8x7b": (46_702_792_704, 46.7e9, 1e8, "Mixtral of experts announcement: 46.7B total, 12.9B per token"),
    "qwen2.5-7b": (7_615_616_512, 7.61e9, 1e7, "Qwen2.5-7B model card: 7.61B (6.53B non-embedding)"),
    "llama-3.1-8b": (8_030_261_248, 8.03e9, 1e7, "meta-llama/Llama-3.1-8B, safetensors: 8.03B"),
    "llama-3.1-70b": (70_553_706_496, 70.6e9, 1e8, "meta-llama/Llama-3.1-70B, safetensors: 70.6B"),
    "llama-3.1-405b": (405_853_388_800, 405e9, 1e9, "Llama 3.1 model card: 405B"),
    "llama-3.2-1b": (1_235_814_400, 1.23e9, 1e7, "Llama 3.2 model card: 1.23B (1.2358 B, truncated)"),
    "llama-3.2-3b": (3_212_749_824, 3.21e9, 1e7, "Llama 3.2 model card: 3.21B"),
    "mistral-nemo": (12_247_782_400, 12e9, 1e9, "Mistral NeMo announcement: 12B"),
    "qwen3-0.6b": (596_049_920, 0.6e9, 1e8, "Qwen3-0.6B model card: 0.6B (0.44B non-embedding)"),
    "qwen3-8b": (8_190_735_360, 8.2e9, 1e8, "Qwen3-8B model card: 8.2B (6.95B non-embedding)"),
    "qwen3-32b": (32_762_123_264, 32.8e9, 1e8, "Qwen3-32B model card: 32.8B (31.2B non-embedding)"),
    "qwen3-30b-a3b": (30_532_122_624, 30.5e9, 1e8, "Qwen3-30B-A3B model card: 30.5B, 3.3B activated"),
    "qwen3-235b-a22b": (235_093_634_560, 235e9, 1e9, "Qwen3-235B-A22B model card: 235B, 22B activated"),
    "qwen3-next-80b-a3b": (79_674_391_296, 80e9, 1e9, "Qwen3-Next-80B-A3B model card: 80B, 3B activated"),
    "deepseek-v2-lite": (15_706_484_224, 15.7e9, 1e8, "DeepSeek-V2 README: V2-Lite 15.7B total, 2.4B activated"),
    "kimi-k2": (1_026_408_209_408, 1e12, 1e11, "Kimi-K2 model card: 1T total, 32B activated"),
    "gemma-2-2b": (2_614_341_888, 2.61e9, 1e7, "google/gemma-2-2b, safetensors: 2.61B"),
    "gemma-2-9b": (9_241_705_984, 9.24e9, 1e7, "google/gemma-2-9b, safetensors: 9.24B"),
    "gemma-2-27b": (27_227_128_320, 27.2e9, 1e8, "google/gemma-2-27b, safetensors: 27.2B"),
    "gemma-3-1b": (999_885_952, 1e9, 1e8, "Gemma 3 model card: 1B"),
    "gemma-3-27b": (27_447_644_992, 27.4e9, 1e8, "google/gemma-3-27b-pt, safetensors: 27.4B (with the SigLIP vision encoder)"),
    "phi-3-mini": (3_821_079_552, 3.8e9, 1e8, "Phi-3 technical report: phi-3-mini, 3.8B"),
    "phi-4": (14_659_507_200, 14.7e9, 1e8, "microsoft/phi-4, safetensors: 14.7B (the card says 14B)"),
    "olmo-2-7b": (7_298_617_344, 7.3e9, 1e8, "allenai/OLMo-2-1124-7B, safetensors: 7.3B"),
    "smollm3-3b": (3_075_098_624, 3.08e9, 1e7, "HuggingFaceTB/SmolLM3-3B, safetensors: 3.08B"),
    "gpt-oss-20b": (20_914_757_184, 20.91e9, 1e7, "gpt-oss model card, table 1: 20.91B total, 3.61B active"),
    "gpt-oss-120b": (116_829_156_672, 116.83e9, 1e7, "gpt-oss model card, table 1: 116.83B total, 5.13B active"),
}

# name: (published active parameters, its last digit's unit, whether the publisher counts the input embedding)
ACTIVE = {
    "qwen3-30b-a3b": (3.3e9, 1e8, True),
    "qwen3-235b-a22b": (22e9, 1e9, True),
    "qwen3-next-80b-a3b": (3e9, 1e9, True),  # "3B activated": 3.87 B with the embedding table, 3.56 B without
    "deepseek-v2-lite": (2.4e9, 1e8, False),
    "deepseek-v3": (36.6e9, 1e8, False),  # "36.6B (including 0.9B for the output Head)"
    "kimi-k2": (32e9, 1e9, True),
    "gpt-oss-20b": (3.61e9, 1e7, False),  # OpenAI count the unembedding, not the embedding
    "gpt-oss-120b": (5.13e9, 1e7, False),
    "mixtral-8x7b": (12.9e9, 1e8, True),  # Mixtral of experts announcement: 46.7B total, 12.9B per token
    "llama-4-scout": (17e9, 1e9, True),
}


def _matches(count: int, published: float, unit: float) -> bool:
    return published - unit / 2 <= count < published + unit


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_count_is_the_published_one(name: str) -> None:
    exact, published, unit, source = PUBLISHED[name]
    count = LLM(name).params
    assert count == exact, source
    assert _matches(count, published, unit), source


def test_deepseek_v3_is_its_published_671b_without_the_multi_token_prediction_module() -> None:
    """DeepSeek-V3's 685 B on the hub are the 671 B main model plus a 14 B multi-token-prediction
    (MTP) module, one more layer that speculative decoding uses and transformers does not build
    (DeepSeek-V3 README_WEIGHTS: 671 B total, 36.6 B activated; MTP 11.5 B unique)."""
    llm = LLM("deepseek-v3")
    assert llm.params == 671_026_404_352
    assert _matches(llm.params, 671e9, 1e9)


def test_llama_4_scout_is_its_published_109b_less_the_vision_encoder() -> None:
    """Meta's 109 B total includes the vision encoder and its projector; transformers' causal-LM
    class for Llama 4 (Llama4ForCausalLM) builds the language model alone, for text prompts. The
    vision part is transformers' own Llama4VisionModel and projector for the published vision config."""
    import torch
    from transformers import Llama4Config
    from transformers.models.llama4.modeling_llama4 import Llama4MultiModalProjector, Llama4VisionModel

    preset = PRESETS["llama-4-scout"]
    config = Llama4Config(**preset.kwargs)
    with torch.device("meta"):
        vision = sum(p.numel() for p in Llama4VisionModel(config.vision_config).parameters())
        vision += sum(p.numel() for p in Llama4MultiModalProjector(config).parameters())
    llm = LLM("llama-4-scout")
    assert llm.params == 107_769_861_120
    assert _matches(llm.params + vision, 109e9, 1e9)  # 109.7 B with the vision encoder


@pytest.mark.parametrize("name", sorted(ACTIVE))
def test_active_parameters_are_the_published_ones(name: str) -> None:
    published, unit, with_embedding = ACTIVE[name]
    llm = LLM(name)
    active = llm.active_params if with_embedding else llm.active_params_without_embedding
    assert _matches(active, published, unit)
    # the two differ by the input embedding table exactly
    table = llm.text_config.vocab_size * llm.hidden_size
    assert llm.active_params - llm.active_params_without_embedding == table


def test_every_preset_has_its_published_count_checked() -> None:
    assert set(PUBLISHED) | {"deepseek-v3", "llama-4-scout"} == set(PRESETS)


def test_every_preset_names_its_source() -> None:
    for name, preset in PRESETS.items():
        assert "/" in preset.source, name
