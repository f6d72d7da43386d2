"""Transformer presets, prefill/decode, KV cache, memory, training, and published rules of thumb.

Every model is built on the meta device from its published config numbers: nothing is downloaded.
"""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("transformers")

import roofscope
from roofscope.llm import LLM, Preset, mfu
from roofscope.models.presets import PRESETS
from roofscope.models.transformers import build
from roofscope.params import count_parameters


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


def test_analyze_accepts_a_config_json_path(tiny_llama_config) -> None:
    path = tiny_llama_config()
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
    return LLM(
        Preset(
            "LlamaConfig",
            dict(
                vocab_size=1000,
                hidden_size=256,
                intermediate_size=512,
                num_hidden_layers=2,
                num_attention_heads=8,
                num_key_value_heads=kv_heads,
                tie_word_embeddings=False,
            ),
            dtype=torch.float16,
        )
    )


def test_decode_step_with_gqa_kv_cache() -> None:
    llm = _tiny_llama(kv_heads=2)
    report = llm.decode(batch=3, context=100)
    assert report.inputs[0] == "input_ids=int64[3, 1]"
    sdpa = [r for r in report.ops if r.name == "aten.scaled_dot_product_attention"]
    assert len(sdpa) == 2
    q, k, _v = sdpa[0].event.inputs[:3]
    assert q.shape == (3, 8, 1, 32) and k.shape == (3, 2, 101, 32)  # context + the new token, 2 kv heads
    assert sdpa[0].cost.macs == 3 * 8 * 2 * 101 * 32
    assert llm.kv_cache_bytes(batch=3, context=100) == 2 * 2 * 2 * 32 * 100 * 3 * 2


@pytest.fixture(scope="module")
def llama_7b_a100() -> LLM:
    return LLM("llama-2-7b", device="a100-80gb", dtype="fp16")


def test_llama_2_7b_fp16_decode_on_a100_takes_its_bytes_over_the_bandwidth(llama_7b_a100: LLM) -> None:
    """Decode at batch 1 is weight-bound: about 13.3 GB per token, 13.3 GB / 2,039 GB/s on an A100-80GB.

    The predicted time is the roofline stage's: the sum over ops of max(FLOPs / peak, bytes /
    bandwidth). At batch 1 the matmuls and attention are memory-bound (the matmuls do about 1 FLOP
    per byte, the A100's fp16 ridge is 312e12 / 2.039e12 = 153 FLOP/B), so their time is their
    bytes / bandwidth. The ops of a fused element-wise kernel carry the kernel's bytes unevenly (a
    buffer's read charged to the first op that reads it, intermediates to none), so some of them
    are compute-bound on their own and add FLOPs / peak: about 1e-5 of the step, whose time is
    its bytes / 2.039e12 to 1e-4.
    """
    llm = llama_7b_a100
    assert llm.weight_bytes == 2 * 6_738_415_616
    report = llm.decode(batch=1, context=128)
    step = report.total
    # the fp16 weights less the embedding table (262 MB, of which one row is read), the KV cache of
    # 129 tokens read (68 MB) and the activations: 13.29 GB (tests/llm/test_serving.py: the hand sum)
    assert 13.25e9 < step.bytes < 13.35e9
    assert abs(step.bytes - llm.weight_bytes) < 0.02 * llm.weight_bytes
    assert {r.timing.roofline_bound for r in report.ops if r.timing and r.family in ("matmul", "attention")} == {"memory"}
    seconds = llm.decode_time(batch=1, context=128)
    assert seconds == report.total.roofline_s
    assert step.bytes / 2.039e12 < seconds < (1 + 1e-4) * step.bytes / 2.039e12
    assert seconds == pytest.approx(13.3e9 / 2.039e12, rel=0.01)  # about 6.5 ms per token
    assert llm.tokens_per_second(batch=1, context=128) == pytest.approx(1 / seconds)
    memory = llm.memory(batch=1, context=4096)
    assert memory.kv_cache == 2 * 32 * 32 * 128 * 4096 * 2 == 2 * 2**30
    assert memory.total == memory.weights + memory.kv_cache + memory.activations
    # the MLP's gated product: silu(gate) and up in, their product out, [4096, 11008] each (the
    # prefill computes only the last token's logits, as generation does)
    assert memory.activations == 3 * 4096 * 11008 * 2
    assert memory.capacity == 80e9 and memory.fits and memory.device == "NVIDIA A100 80GB SXM4"


def test_serving_summary(llama_7b_a100: LLM) -> None:
    llm = llama_7b_a100
    summary = llm.summary(batch=1, seq_len=128, context=128)
    assert summary.params == summary.active_params == 6_738_415_616 and not summary.moe
    assert summary.precision == "fp16" and summary.device == "NVIDIA A100 80GB SXM4"
    assert summary.prefill_s == llm.prefill(1, 128).total.roofline_s == llm.prefill_time(1, 128)
    assert summary.prefill.flops == llm.prefill(1, 128).total.flops and summary.prefill.tokens == 128
    assert summary.time_per_output_token == llm.decode_time(1, 128)
    assert summary.tokens_per_second == pytest.approx(1 / summary.time_per_output_token)
    assert summary.kv_cache_bytes == llm.kv_cache_bytes(1, 128) == summary.memory.kv_cache
    assert summary.memory.fits is True
    data = json.loads(json.dumps(summary.to_dict()))
    assert data["time_per_output_token_s"] == summary.time_per_output_token
    assert data["memory"]["fits"] is True and data["memory"]["total"] == summary.memory.total


def test_llama_2_70b_fp16_memory_against_capacity() -> None:
    """138 GB of fp16 weights: no single A100-80GB holds them; an H200 (141 GB) just does, an MI300X
    (192 GB) easily. "Fits" is weights + KV cache + the activation estimate <= the catalog capacity;
    the framework's own memory (CUDA context, allocator slack) is not counted."""
    llm = LLM("llama-2-70b", device="a100-80gb", dtype="fp16")
    a100 = llm.memory(batch=1, context=4096)
    assert a100.weights == 2 * 68_976_648_192  # 137.95 GB
    assert a100.kv_cache == 2 * 80 * 8 * 128 * 4096 * 2  # GQA: 8 key/value heads, 1.34 GB
    assert a100.capacity == 80e9 and a100.fits is False and a100.free < -57e9
    h200 = llm.memory(batch=1, context=4096, device="h200")
    mi300x = llm.memory(batch=1, context=4096, device="mi300x")
    assert h200.total == mi300x.total == a100.total
    assert h200.capacity == 141e9 and h200.fits is True and 0 < h200.free < 2e9
    assert mi300x.capacity == 192e9 and mi300x.fits is True and mi300x.free > 50e9


def _tiny(dtype: str | torch.dtype | None = None, **options) -> LLM:
    return LLM(
        Preset(
            "LlamaConfig",
            dict(
                vocab_size=1000,
                hidden_size=64,
                intermediate_size=128,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=2,
                tie_word_embeddings=False,
            ),
            dtype=torch.bfloat16,
        ),
        dtype=dtype,
        **options,
    )


def test_target_precision_strings() -> None:
    params = _tiny().params
    embedding, lm_head, norms = 1000 * 64, 64 * 1000, 2 * 2 * 64 + 64
    matmul = params - embedding - norms
    assert matmul == 2 * (2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 128) + lm_head
    assert _tiny().weight_bytes == 2 * params  # published bf16
    assert _tiny("fp32").weight_bytes == 4 * params
    assert _tiny(torch.float16).weight_bytes == 2 * params
    assert _tiny("fp8").weight_bytes == params
    assert _tiny("int8-weights").weight_bytes == matmul + 2 * (embedding + norms)  # the weights 1 byte, the rest bf16
    assert _tiny("int8-weights").kv_cache_bytes(1, 10) == _tiny("bf16").kv_cache_bytes(1, 10) == 2 * 2 * 2 * 16 * 10 * 2
    assert _tiny("fp8").kv_cache_bytes(1, 10) == 2 * 2 * 2 * 16 * 10
    fp8 = _tiny("fp8", device="h100")
    assert fp8.decode(1, 10).precision.name == "fp8" and fp8.precision_name == "fp8"
    # the decode step's bytes follow the precision: about half of bf16's in fp8
    bf16 = _tiny("bf16", device="h100")
    assert fp8.decode(1, 10).total.bytes < 0.55 * bf16.decode(1, 10).total.bytes
    assert fp8.decode_time(1, 10) < bf16.decode_time(1, 10)


def test_llm_errors() -> None:
    with pytest.raises(roofscope.AnalysisError, match="unknown target precision 'fp9'"):
        _tiny("fp9")
    with pytest.raises(roofscope.AnalysisError, match="unknown device 'a100-81gb'"):
        _tiny(device="a100-81gb")
    with pytest.raises(roofscope.AnalysisError, match="decode_time needs a device"):
        _tiny().decode_time(1, 10)
    with pytest.raises(roofscope.AnalysisError, match="unknown transformer preset 'llama-9'"):
        LLM("llama-9")
    with pytest.raises(roofscope.AnalysisError, match="not a causal language model"):
        LLM("bert-base").decode(1, 10)
    with pytest.raises(roofscope.AnalysisError, match="seq_len must be a positive integer"):
        _tiny().prefill(1, 0)
    # numbers instead of a catalog device, as for analyze
    assert _tiny("bf16").memory(1, 10).fits is None  # no device, no answer
    custom = _tiny("bf16", peak_tflops=100, bandwidth_gbs=1000)
    assert custom.device.memory_bandwidth == 1e12 and custom.memory(1, 10).fits is None  # no capacity figure
    assert custom.decode_time(1, 10) == custom.decode(1, 10).total.roofline_s > 0


def test_mfu() -> None:
    assert mfu(6e15, step_time=10.0, peak=1e15) == pytest.approx(0.6)
    assert mfu(6e15, tokens_per_second=400.0, tokens_per_step=4000, peak=1e15) == pytest.approx(0.6)


def test_mixtral_total_versus_active_parameters_and_decode_bytes() -> None:
    llm = LLM("mixtral-8x7b")
    assert llm.params == 46_702_792_704
    expert = 3 * 4096 * 14336
    assert llm.active_params == llm.params - 32 * 6 * expert  # 2 of 8 experts per token
    assert llm.active_params == 12_879_925_248
    # one token reads the weights it uses once: about the active parameters in bf16 (the embedding
    # table, 0.26 GB, is stored but one row of it is read; the KV cache and activations add a little)
    step = llm.decode(batch=1, context=128).total.bytes
    assert 0.985 * 2 * llm.active_params < step < 2 * llm.active_params


def _expert_weight_bytes(report) -> int:
    """Bytes the expert projections read beyond their inputs and routing ids: the expert weights."""
    ops = [r for r in report.ops if r.name == "roofscope.expert_linear" and r.event.phase == "forward"]
    assert len(ops) == 2 * 2  # two layers, two projections (gate_up, down) each
    return sum(r.cost.bytes_read - r.event.args[0].nbytes - r.event.args[2].nbytes for r in ops)


def test_moe_expert_flops_are_top_k_per_token_and_each_used_expert_is_read_once(tiny_mixtral) -> None:
    """docs/conventions.md, "Mixture of experts": exact expert FLOPs (tokens x top_k x one expert's
    MLP); each distinct expert's weights read once, with min(num_experts, tokens x top_k) distinct."""
    llm = tiny_mixtral()
    expert_bytes = 3 * 64 * 96 * 4  # one expert's gate, up and down weights, fp32
    report = llm.prefill(batch=2, seq_len=10)
    expert_macs = sum(r.cost.macs for r in report.ops if ".experts" in r.module)
    assert expert_macs == 2 * 20 * 2 * (3 * 64 * 96)  # layers * tokens * top_k * one expert's MLP
    assert not report.uncounted
    assert _expert_weight_bytes(report) == 2 * 8 * expert_bytes  # 40 pairs per layer: all 8 experts, once each
    assert _expert_weight_bytes(llm.decode(batch=1, context=5)) == 2 * 2 * expert_bytes  # one token: its 2 experts
    assert _expert_weight_bytes(llm.decode(batch=3, context=5)) == 2 * 6 * expert_bytes  # 6 pairs: at most 6 experts
    # int8 weights: the expert weights are read at 1 byte (proportionally, as retarget scales a gather)
    int8 = tiny_mixtral(dtype="int8-weights").decode(batch=1, context=5)
    bf16 = tiny_mixtral(dtype="bf16").decode(batch=1, context=5)
    assert _expert_weight_bytes(int8) == pytest.approx(_expert_weight_bytes(bf16) / 2, rel=0.02)


def test_glm4_moe_runs_exactly_top_k_experts_per_token() -> None:
    """GLM-4.5's MoE (glm4_moe: grouped sigmoid routing, a shared expert, its first layer dense)
    goes through roofscope's experts implementation: tokens x top_k x one expert's MLP, the used
    experts' weights read once (one token: its top_k experts), active parameters top_k of num_experts."""
    preset = Preset(
        "Glm4MoeConfig",
        dict(
            vocab_size=1000,
            hidden_size=64,
            intermediate_size=96,
            moe_intermediate_size=32,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            n_routed_experts=8,
            num_experts_per_tok=2,
            n_shared_experts=1,
            first_k_dense_replace=1,
            n_group=2,
            topk_group=1,
            tie_word_embeddings=False,
        ),
    )
    llm = LLM(preset)
    expert = 3 * 64 * 32  # one routed expert's gate, up and down
    report = llm.prefill(batch=2, seq_len=10)
    assert not report.uncounted
    assert sum(r.cost.macs for r in report.ops if ".experts" in r.module) == 2 * 20 * 2 * expert  # 2 MoE layers x tokens x top-2
    assert _expert_weight_bytes(llm.decode(batch=1, context=5)) == 2 * 2 * expert * 4  # fp32: each layer's 2 experts, once
    assert llm.params - llm.active_params == 2 * (8 - 2) * expert  # the unused 6 of 8 routed experts, per MoE layer


def test_moe_training_step_and_real_run(tiny_mixtral) -> None:
    """The expert op has a backward (itself, and a weight gradient) and a real kernel: a CPU model
    gives the same counts as the meta one, and the same output as transformers' batched_mm path."""
    llm = tiny_mixtral()
    step = llm.training_step(batch=1, seq_len=8)
    assert not step.report.uncounted
    assert 1.9 < step.backward_forward_ratio < 2.1
    backward_ops = {r.name for r in step.report.ops if r.event.phase == "backward"}
    assert {"roofscope.expert_linear", "roofscope.expert_linear_weight_grad"} <= backward_ops

    from roofscope.models.transformers import build_options, make_config

    config = make_config(llm.preset)
    import transformers

    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config, **build_options(config)).eval()
    assert model.get_experts_implementation()[""] == "roofscope"
    ids = torch.randint(0, 1000, (1, 6))
    with torch.no_grad():
        ours = model(input_ids=ids).logits
        model.set_experts_implementation("batched_mm")
        theirs = model(input_ids=ids).logits
    assert torch.allclose(ours, theirs, atol=1e-5)
    model.set_experts_implementation("roofscope")
    on_cpu = roofscope.analyze(model, {"input_ids": ids, "use_cache": True})
    on_meta = tiny_mixtral(traffic="eager").prefill(1, 6)  # as traced: the serving convention fuses the element-wise ops
    for layer in ("model.layers.0.mlp", "model.layers.1.mlp"):
        assert on_cpu.module(layer).total == on_meta.module(layer).total


def test_training_step_backward_is_twice_forward_and_model_unchanged() -> None:
    llm = _tiny_llama()
    step = llm.training_step(batch=2, seq_len=32)
    assert not step.report.uncounted
    assert 1.9 < step.backward_forward_ratio < 2.1
    assert all(p.grad is None for p in llm.model.parameters())
    assert not llm.model.training


def test_a_causal_lm_training_step_differentiates_its_own_next_token_loss() -> None:
    """transformers' causal-LM loss, given the input ids as labels: the logits cast to fp32,
    log-softmax over the vocabulary, nll_loss over the batch x seq_len positions (the last one's
    label padded out), and their backwards; the logits are not summed."""
    V, B, T = 500, 2, 32
    step = _gpt(vocab=V).training_step(batch=B, seq_len=T)
    ops = step.report.by_op()
    assert step.report.uncounted == {}
    assert ops["aten._log_softmax"].cost.flops == B * T * (4 * V - 1)  # type: ignore[union-attr]  # rows of V
    nll = ops["aten.nll_loss_forward"].cost
    assert nll is not None and nll.flops == B * T + 2 * (B * T - 1) + 1  # negate each, add losses and weights, divide
    assert ops["aten.nll_loss_backward"].cost.bytes_written == B * T * V * 4  # type: ignore[union-attr]  # the fp32 gradient
    forward = [record.name for record in step.report.ops if record.event.phase == "forward"]
    assert "aten.sum" not in forward


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
    # a whole forward over T tokens, every position's logits (as training computes them; the serving
    # prefill keeps only the last token's)
    report = roofscope.analyze(llm.model, {"input_ids": roofscope.TensorSpec((1, T), torch.long, 0, V)})
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
