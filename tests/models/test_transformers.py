"""Transformers built the way roofscope builds them: its attention for the models that refuse SDPA,
Llama 4 routed to its top-k experts, config.json files of every kind, and hub ids through the
local Hugging Face cache (a cache folder the test builds; nothing is downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

import roofscope
from roofscope.llm import LLM, Preset
from roofscope.models.transformers import build_options, make_config, preset_from_config_file, preset_from_hub

TINY = dict(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)


def _real(preset: Preset, implementation: str | None = None) -> torch.nn.Module:
    """The preset's model with random weights on the CPU, built with roofscope's options."""
    import transformers

    config = make_config(preset)
    options = build_options(config)
    if implementation is not None:
        options["attn_implementation"] = implementation
    torch.manual_seed(0)
    return transformers.AutoModelForCausalLM.from_config(config, **options).eval()


@pytest.mark.parametrize(
    "preset",
    [
        Preset("Gemma2Config", {**TINY, "head_dim": 16, "sliding_window": 4, "attn_logit_softcapping": 50.0}),
        Preset("GptOssConfig", {**TINY, "head_dim": 16, "sliding_window": 4, "num_local_experts": 4, "num_experts_per_tok": 2}),
    ],
    ids=["gemma2-softcap", "gpt-oss-sinks"],
)
def test_roofscope_attention_computes_what_the_eager_attention_computes(preset: Preset) -> None:
    """gemma-2 (logit softcapping) and gpt-oss (attention sinks) refuse SDPA; roofscope's attention
    runs them as one op, and on real tensors gives transformers' eager outputs."""
    ids = torch.randint(0, 1000, (2, 10))
    ours, theirs = _real(preset), _real(preset, "eager")
    assert ours.config._attn_implementation == "roofscope"
    theirs.load_state_dict(ours.state_dict())
    with torch.no_grad():
        assert torch.allclose(ours(input_ids=ids).logits, theirs(input_ids=ids).logits, atol=1e-4)


def test_softcapped_attention_is_counted_as_one_fused_op() -> None:
    """Per layer: SDPA's formula (B H L S (E + Ev) MACs; 2 MACs + scale + mask + softmax FLOPs)
    plus 3 FLOPs a score for the softcap, and no score matrix in memory."""
    llm = LLM(Preset("Gemma2Config", {**TINY, "head_dim": 16, "sliding_window": 64, "attn_logit_softcapping": 50.0}))
    report = llm.prefill(1, 8)
    attention = [r for r in report.ops if r.name == "roofscope.attention"]
    assert len(attention) == 2
    heads, length, dim = 4, 8, 16
    scores = heads * length * length
    macs = scores * 2 * dim
    assert all(r.cost.macs == macs for r in attention)
    # causal: the mask transformers passes (boolean) is added; softmax 5 S - 2 a row; softcap 3 a score
    assert all(r.cost.flops == 2 * macs + scores + scores + heads * length * (5 * length - 2) + 3 * scores for r in attention)
    assert not report.uncounted
    step = llm.training_step(1, 8)  # its backward is one op too
    assert {r.name for r in step.report.ops if r.event.phase == "backward"} >= {"roofscope.attention_backward"}


def test_llama_4_runs_each_token_through_its_top_k_experts() -> None:
    """Llama 4's own layer runs every expert on every token (the router's score zeroes the others);
    roofscope's runs the top-k only, with the same result."""
    preset = Preset(
        "Llama4TextConfig", {**TINY, "head_dim": 16, "num_local_experts": 4, "num_experts_per_tok": 1, "intermediate_size_mlp": 128}
    )
    ids = torch.randint(0, 1000, (1, 6))
    ours = _real(preset)
    from roofscope.models.moe import route_top_k

    dense = _real(preset)
    dense.load_state_dict(ours.state_dict())
    route_top_k(ours)
    with torch.no_grad():
        assert torch.allclose(ours(input_ids=ids).logits, dense(input_ids=ids).logits, atol=1e-5)
    report = LLM(preset).prefill(1, 6)
    expert_macs = sum(r.cost.macs for r in report.ops if r.name == "roofscope.expert_linear")
    assert expert_macs == 2 * 6 * 1 * 3 * 64 * 128  # layers x tokens x top-1 x one expert's gate, up and down


def _config_file(folder: Path, data: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps(data))
    return path


def test_a_remote_code_config_builds_from_the_architecture_transformers_ships(tmp_path: Path) -> None:
    """Kimi-K2's config.json says model_type "kimi_k2" (its own code) and DeepseekV3ForCausalLM."""
    data = {"model_type": "kimi_k2", "architectures": ["DeepseekV3ForCausalLM"], **TINY, "num_key_value_heads": 4}
    data.update(kv_lora_rank=32, q_lora_rank=48, qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16, n_routed_experts=8)
    data.update(num_experts_per_tok=2, moe_intermediate_size=32, first_k_dense_replace=1, n_group=1, topk_group=1)
    preset = preset_from_config_file(str(_config_file(tmp_path, data)))
    assert preset.config_class == "DeepseekV3Config" and preset.head == "causal-lm"
    assert LLM(preset).cache_layout.kinds() == {"latent": 2}
    unknown = _config_file(tmp_path / "other", {"model_type": "mystery", "architectures": ["MysteryForCausalLM"]})
    with pytest.raises(roofscope.ModelSpecError, match="model_type 'mystery' is not one the installed transformers builds"):
        preset_from_config_file(str(unknown))


def test_a_vision_language_config_is_a_causal_lm(tmp_path: Path) -> None:
    """gemma-3's config.json names Gemma3ForConditionalGeneration: it generates text, so it gets a
    serving summary; T5's ForConditionalGeneration is an encoder-decoder."""
    text = {**TINY, "head_dim": 16, "sliding_window": 8}
    gemma = _config_file(
        tmp_path / "gemma", {"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"], "text_config": text}
    )
    assert preset_from_config_file(str(gemma)).head == "causal-lm"
    t5 = _config_file(tmp_path / "t5", {"model_type": "t5", "architectures": ["T5ForConditionalGeneration"], "d_model": 32})
    assert preset_from_config_file(str(t5)).head == "seq2seq-lm"


def _hub_cache(root: Path, repo: str, config: dict) -> None:
    """The local Hugging Face cache layout: models--OWNER--NAME/{refs/main, snapshots/COMMIT/config.json}."""
    folder = root / f"models--{repo.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    _config_file(folder / "snapshots" / commit, config)


def test_a_hub_id_resolves_through_the_local_cache_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    _hub_cache(tmp_path, "tiny-org/Tiny-Llama", {"model_type": "llama", "architectures": ["LlamaForCausalLM"], **TINY})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    preset = preset_from_hub("tiny-org/Tiny-Llama")
    assert preset is not None and preset.source == "tiny-org/Tiny-Llama" and preset.head == "causal-lm"
    assert roofscope.analyze("tiny-org/Tiny-Llama", batch=1, seq_len=8).params.total == LLM("tiny-org/Tiny-Llama").params
    with pytest.raises(roofscope.ModelSpecError, match="not in the local Hugging Face cache .* and the hub is offline"):
        preset_from_hub("tiny-org/Missing")
    assert preset_from_hub("resnet50") is None and preset_from_hub("model.pt2") is None
