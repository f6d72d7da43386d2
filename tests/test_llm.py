"""Transformer presets, prefill/decode, KV cache, memory, training, and published rules of thumb.

Every model is built on the meta device from its published config numbers: nothing is downloaded.
"""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("transformers")

import roofscope  # noqa: E402
from roofscope.llm import LLM, Preset, mfu, roofline_time  # noqa: E402
from roofscope.llm.presets import PRESETS, build  # noqa: E402
from roofscope.params import count_parameters  # noqa: E402


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("llama-2-7b", 6_738_415_616),
        ("llama-3-8b", 8_030_261_248),
        ("mistral-7b", 7_241_732_096),
        ("gpt2", 124_439_808),  # lm_head is tied to wte: counted once
        ("bert-base", 109_482_240),  # with the pooler
        ("mixtral-8x7b", 46_702_792_704),
        ("qwen2.5-7b", 7_615_616_512),
        ("vit-b-16", 86_567_656),
        ("llama-2-70b", 68_976_648_192),
    ],
)
def test_exact_parameter_counts(name: str, expected: int) -> None:
    assert count_parameters(build(PRESETS[name]))[""].total == expected


def test_every_preset_builds_on_meta() -> None:
    for name, preset in PRESETS.items():
        model = build(preset)
        assert all(p.device.type == "meta" for p in model.parameters()), name


def test_llama_2_7b_prefill_128_tokens_is_850_gmacs() -> None:
    report = roofscope.analyze("llama-2-7b", batch=1, seq_len=128)
    assert round(report.total.macs / 1e9) == 850  # calflops' published figure, 3 significant digits
    assert report.inputs[0] == "input_ids=int64[1, 128]"
    assert not report.uncounted


def test_analyze_accepts_a_config_json_path(tmp_path) -> None:
    config = {
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 1000, "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "torch_dtype": "bfloat16", "tie_word_embeddings": False,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    report = roofscope.analyze(str(path), batch=2, seq_len=16)
    # per layer: q,o 64x64; k,v 64x32; mlp 3 x 64x128; plus lm_head 64x1000
    per_token = 2 * (2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 128) + 64 * 1000
    attention = 2 * 2 * 4 * 2 * 16 * 16 * 16  # layers * batch * heads * (QK^T + AV) * s*s*head_dim
    assert report.total.macs == 2 * 16 * per_token + attention
    assert report.params.total == LLM(str(path)).params


def test_analyze_str_keeps_module_behaviour() -> None:
    with pytest.raises(roofscope.AnalysisError):
        roofscope.analyze(torch.nn.Linear(2, 2), (1, 2), seq_len=3)


def _tiny_llama(kv_heads: int = 2) -> LLM:
    return LLM(Preset("LlamaConfig", dict(vocab_size=1000, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                                          num_attention_heads=8, num_key_value_heads=kv_heads, tie_word_embeddings=False),
                      dtype=torch.float16))


def test_decode_step_with_gqa_kv_cache() -> None:
    llm = _tiny_llama(kv_heads=2)
    report = llm.decode(batch=3, context=100)
    assert report.inputs[0] == "input_ids=int64[3, 1]"
    sdpa = [r for r in report.ops if r.name == "aten.scaled_dot_product_attention"]
    assert len(sdpa) == 2
    q, k, v = sdpa[0].event.inputs[:3]
    assert q.shape == (3, 8, 1, 32) and k.shape == (3, 2, 101, 32)  # context + the new token, 2 kv heads
    assert sdpa[0].cost.macs == 3 * 8 * 2 * 101 * 32
    assert llm.kv_cache_bytes(batch=3, context=100) == 2 * 2 * 2 * 32 * 100 * 3 * 2


def test_llama_2_7b_decode_is_weight_bound() -> None:
    llm = LLM("llama-2-7b")  # float16, as published
    assert llm.weight_bytes == 2 * 6_738_415_616
    step = llm.decode(batch=1, context=128).total
    assert 13.4e9 < step.bytes < 13.6e9  # about 13.5 GB, the fp16 weights
    assert step.bytes - llm.weight_bytes < 0.01 * step.bytes
    seconds = llm.decode_time(batch=1, context=128, bandwidth=2.039e12, peak=312e12)  # A100-80GB
    assert seconds == pytest.approx(step.bytes / 2.039e12)
    assert seconds == pytest.approx(13.5e9 / 2.039e12, rel=0.01)
    memory = llm.memory(batch=1, context=4096)
    assert memory.kv_cache == 2 * 32 * 32 * 128 * 4096 * 2 == 2 * 2**30
    assert memory.total > memory.weights + memory.kv_cache


def test_roofline_time_and_mfu() -> None:
    assert roofline_time(1e12, 1e9, bandwidth=1e12, peak=1e14) == pytest.approx(0.01)
    assert mfu(6e15, step_time=10.0, peak=1e15) == pytest.approx(0.6)
    assert mfu(6e15, tokens_per_second=400.0, tokens_per_step=4000, peak=1e15) == pytest.approx(0.6)


def test_mixtral_total_versus_active_parameters() -> None:
    llm = LLM("mixtral-8x7b")
    assert llm.params == 46_702_792_704
    expert = 3 * 4096 * 14336
    assert llm.active_params == llm.params - 32 * 6 * expert  # 2 of 8 experts per token
    assert llm.active_params == 12_879_925_248


def test_moe_expert_flops_are_top_k_per_token() -> None:
    llm = LLM(Preset("MixtralConfig", dict(vocab_size=1000, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                             num_attention_heads=4, num_key_value_heads=2, num_local_experts=8,
                                             num_experts_per_tok=2, tie_word_embeddings=False)))
    report = llm.prefill(batch=2, seq_len=10)
    expert_macs = sum(r.cost.macs for r in report.ops if ".experts" in r.module)
    assert expert_macs == 2 * 20 * 2 * (3 * 64 * 96)  # layers * tokens * top_k * one expert's MLP


def test_training_step_backward_is_twice_forward_and_model_unchanged() -> None:
    llm = _tiny_llama()
    step = llm.training_step(batch=2, seq_len=32)
    assert not step.report.uncounted
    assert 1.9 < step.backward_forward_ratio < 2.1
    assert all(p.grad is None for p in llm.model.parameters())
    assert not llm.model.training


def _gpt(layers: int = 2, d: int = 64, heads: int = 4, vocab: int = 500) -> LLM:
    return LLM(Preset("GPT2Config", dict(vocab_size=vocab, n_positions=256, n_embd=d, n_layer=layers, n_head=heads)))


def test_kaplan_forward_flops_per_token() -> None:
    """Kaplan et al. 2020, Table 1: C_forward = 2N + 2 n_layer n_ctx d_attn per token.

    roofscope's matmul FLOPs per token are 2 (12 L d^2) + 2 V d + 4 L n_ctx d: the weights Kaplan
    counts in N but biases and layer norms (in N, not matmuls), the de-embedding (excluded from N),
    and both attention matmuls QK^T and AV over the full n_ctx (Kaplan counts 2 L n_ctx d).
    """
    L, d, V, T = 2, 64, 500, 128
    llm = _gpt(L, d, vocab=V)
    report = llm.prefill(batch=1, seq_len=T)
    matmul_flops = 2 * report.total.macs
    assert matmul_flops == T * (2 * 12 * L * d * d + 2 * V * d + 4 * L * T * d)
    n = llm.non_embedding_params
    assert n == 12 * L * d * d + L * (13 * d) + 2 * d  # biases and layer norms: 13d per layer, final norm 2d
    kaplan = T * (2 * n + 2 * L * T * d)
    assert matmul_flops - kaplan == T * (2 * V * d + 2 * L * T * d - 2 * (n - 12 * L * d * d))


def test_palm_training_flops_per_token() -> None:
    """PaLM (Chowdhery et al. 2022, appendix B): 6N + 12 L H Q T per token, forward plus backward.

    With N the matmul weights including the output projection, roofscope's matmul FLOPs equal it.
    """
    L, d, H, V, T = 2, 64, 4, 500, 64
    step = _gpt(L, d, H, V).training_step(batch=1, seq_len=T)
    n_matmul = 12 * L * d * d + V * d
    assert 2 * step.total.macs == T * (6 * n_matmul + 12 * L * H * (d // H) * T)


def test_korthikanti_training_flops() -> None:
    """Korthikanti et al. 2022: 72 B s l h^2 (1 + s/6h + V/12lh) model FLOPs per step.

    72 = 3 x 24: forward 24 B s l h^2 (1 + s/6h + V/12lh), backward twice that, no recomputation.
    roofscope's matmul FLOPs of a forward plus backward equal it exactly.
    """
    B, s, l, h, V = 2, 64, 2, 64, 500
    step = _gpt(l, h, 4, V).training_step(batch=B, seq_len=s)
    expected = 72 * B * s * l * h * h * (1 + s / (6 * h) + V / (12 * l * h))
    assert 2 * step.total.macs == pytest.approx(expected, rel=1e-12)
    assert 2 * step.forward.macs == pytest.approx(expected / 3, rel=1e-12)
