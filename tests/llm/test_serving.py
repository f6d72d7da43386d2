"""The serving convention (roofscope.llm.serving) and the KV cache layouts (roofscope.llm.cache),
against hand sums and a peer tool's formulas.

Every model is built on the meta device from its published config numbers: nothing is downloaded.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")

import roofscope
from roofscope.llm import LLM, Preset
from roofscope.llm.cache import cache_layout, filled_cache
from roofscope.llm.serving import NOTE
from roofscope.precision import weight_index

# llama-2-7b (meta-llama/Llama-2-7b-hf config.json)
LAYERS, HIDDEN, INTER, HEADS, KV_HEADS, HEAD_DIM, VOCAB = 32, 4096, 11008, 32, 32, 128, 32000
FP16 = 2
CASES = [(context, batch) for context in (128, 2048, 4096) for batch in (1, 8, 32)]


def hand_terms(context: int, batch: int) -> tuple[int, int, int]:
    """One decode step as serving engines move it, in fp16: (the matmul weights read once: per
    layer q, k, v, o, gate, up, down, and the lm_head; the KV cache of context + 1 tokens read, as
    the new token is written before attention reads it; the new token's keys and values written)."""
    weights = LAYERS * (4 * HIDDEN * HIDDEN + 3 * HIDDEN * INTER) + HIDDEN * VOCAB
    per_token = 2 * LAYERS * KV_HEADS * HEAD_DIM  # keys and values, every layer
    return FP16 * weights, FP16 * per_token * (context + 1) * batch, FP16 * per_token * batch


def hand_sum(context: int, batch: int) -> int:
    return sum(hand_terms(context, batch))


def step_terms(report: roofscope.Report, context: int) -> tuple[int, int, int]:
    """The same three terms read off a decode report: the weights the matmuls read, the keys and
    values attention reads, and what the cache appends write."""
    weights = sum(
        r.event.args[weight_index(r.event)].nbytes for r in report.ops if r.family == "matmul" and weight_index(r.event) is not None
    )
    kv_read = sum(r.event.args[1].nbytes + r.event.args[2].nbytes for r in report.ops if r.name == "aten.scaled_dot_product_attention")
    appended = sum(r.cost.bytes_written for r in report.ops if r.name == "aten.cat" and r.event.output.shape[-2] == context + 1)
    return weights, kv_read, appended


def llm_viewer_decode_bytes(context: int, batch: int) -> int:
    """LLM-Viewer's decode memory access for llama-2-7b, w16a16kv16, without its flash-attention
    option: the per-layer load/store formulas of ``ModelAnalyzer.analyze`` (model_analyzer.py,
    hahnyuan/LLM-Viewer at commit 472f71f) and its Llama config's layers, re-expressed here. Its
    ``seqlen`` is the cached context. Per layer: each linear loads its weight and its input and
    stores its output (k and v store theirs as the KV cache); the score product loads q and the
    cached keys and stores the scores, the softmax loads and stores them, the value product loads
    them and the cached values and stores the output; two norms, two residual adds and the MLP's
    activation load and store hidden-size vectors (the activation two of them). Then the lm_head,
    whose activation terms LLM-Viewer does not scale by the batch."""
    a = FP16
    kv_out = HIDDEN * KV_HEADS // HEADS
    linears = [(HIDDEN, HIDDEN), (HIDDEN, kv_out), (HIDDEN, kv_out), (HIDDEN, HIDDEN), (HIDDEN, INTER), (HIDDEN, INTER), (INTER, HIDDEN)]
    layer = sum(ic * oc * a + ic * batch * a + oc * batch * a for ic, oc in linears)
    scores = batch * HEADS * context * a
    layer += HEAD_DIM * batch * HEADS * a + scores + context * HEAD_DIM * batch * KV_HEADS * a  # q K^T
    layer += scores + HEAD_DIM * batch * HEADS * a + context * HEAD_DIM * batch * KV_HEADS * a  # P V
    layer += 2 * scores  # softmax
    layer += 4 * 2 * batch * HIDDEN * a  # two norms and two residual adds, load and store
    layer += 3 * batch * HIDDEN * a  # the MLP activation: two loads, one store
    lm_head = HIDDEN * VOCAB * a + HIDDEN * a + VOCAB * a
    return LAYERS * layer + lm_head


@pytest.fixture(scope="module")
def llama_7b() -> LLM:
    return LLM("llama-2-7b", device="a100-80gb", dtype="fp16")


def hand_activations(batch: int, tokens: int = 1, *, prefill: bool = False) -> int:
    """The activations' bytes of a step over ``tokens`` positions of ``batch`` sequences, in fp16,
    as the serving convention moves them: the element-wise chains between the matrix ops fused,
    each reading its inputs once and writing what a later op reads.

    Per layer and token, in hidden-size (h), KV-width (kv) and intermediate-size (i) elements:
    two fused add + RMSNorm kernels (read the residual and the branch, write the sum and the
    normalised input: 4h each; the first layer's has no add, 2h, and the final norm writes only
    its output, 3h); the rotary embedding (read q and k, write them rotated: 2h + 2kv); the cache
    appends' reads of the new keys and values (2kv; their writes are the hand sum's third term);
    attention's query read and output written (2h); what the seven projections read and write
    besides their weights (q, k, v read the input three times: 3h + h + 2kv; o: 2h; gate and up:
    2h + 2i; down: i + h); SiLU(gate) x up (read 2i, write i). A prefill's attention also reads
    the new keys and values (2kv) and its output is copied once, transposed, for o_proj (2h).
    Per token besides: the embedding row read and written (2h) and its token id (8 bytes); the
    lm_head's input and logits (h + vocab) for the last position of each sequence only. Per step:
    the RMSNorm weights (2 x layers + 1 of h), the rotary tables cos and sin (head_dim each per
    position) written once and read by every layer, and inv_freq (head_dim / 2) read."""
    h, kv, i = HIDDEN, HIDDEN * KV_HEADS // HEADS, INTER
    per_layer = 8 * h + (2 * h + 2 * kv) + 2 * kv + 2 * h + (9 * h + 2 * kv + 3 * i) + 3 * i
    if prefill:
        per_layer += 2 * kv + 2 * h
    per_token = LAYERS * per_layer - 2 * h + 3 * h + 2 * h  # the first and final norms, the embedding
    sequences = FP16 * (h + VOCAB) * batch
    rotary = LAYERS * 2 * HEAD_DIM * tokens + 2 * HEAD_DIM * tokens + HEAD_DIM // 2
    per_step = (2 * LAYERS + 1) * h + rotary
    return FP16 * per_token * batch * tokens + 8 * batch * tokens + sequences + FP16 * per_step


@pytest.mark.parametrize(("context", "batch"), CASES)
def test_decode_bytes_are_weights_kv_and_the_fused_activations(llama_7b: LLM, context: int, batch: int) -> None:
    """The hand sum's three terms are the report's exactly, and the rest is the fused activations'
    traffic, exactly. That is under 1% of the hand sum at every point but 128 tokens x batch 32,
    where the cache is small against the batch's activations: 2.37% there, of which the
    projections' own inputs and outputs alone are 1.04%. LLM-Viewer, which counts fewer
    activation vectors and the score matrix besides, is within 1.2%."""
    report = llama_7b.decode(batch, context)
    assert step_terms(report, context) == hand_terms(context, batch)
    step = report.total.bytes
    assert step == hand_sum(context, batch) + hand_activations(batch)
    excess = step / hand_sum(context, batch) - 1
    if (context, batch) == (128, 32):
        assert round(100 * excess, 2) == 2.37
        projections = LAYERS * (9 * HIDDEN + 2 * HIDDEN * KV_HEADS // HEADS + 3 * INTER) * FP16 * batch
        assert round(100 * projections / hand_sum(context, batch), 2) == 1.04
    else:
        assert 0 < excess < 0.01
    viewer = llm_viewer_decode_bytes(context, batch)
    assert abs(step - viewer) < 0.012 * viewer


def test_serving_fuses_the_element_wise_chains_and_keeps_the_flops() -> None:
    """A tiny Llama's decode step: every op's FLOPs and MACs are the traced ones; SiLU(gate) x up is
    one kernel whatever the up projection between them (SiLU reads the gate's output, the product
    the up projection's and writes its own), a fused add + RMSNorm reads the residual and the
    branch once and writes the sum and the normalised input, and its intermediates cost nothing."""
    batch, context, hidden, inter = 3, 12, 64, 128
    serving = LLM(_tiny(), dtype="bf16").decode(batch, context)
    eager = LLM(_tiny(), dtype="bf16", traffic="eager").decode(batch, context)
    assert [(r.cost.macs, r.cost.flops) for r in serving.ops if r.cost] == [(r.cost.macs, r.cost.flops) for r in eager.ops if r.cost]
    (silu,) = [r.cost for r in serving.ops if r.module == "model.layers.0.mlp.act_fn"]
    (product,) = [r.cost for r in serving.ops if r.module == "model.layers.0.mlp" and r.name == "aten.mul"]
    assert (silu.bytes_read, silu.bytes_written) == (2 * batch * inter, 0)
    assert (product.bytes_read, product.bytes_written) == (2 * batch * inter, 2 * batch * inter)
    norm = [r.cost for r in serving.ops if r.module == "model.layers.0.post_attention_layernorm"]
    (residual,) = [r.cost for r in serving.ops if r.module == "model.layers.0" and r.name == "aten.add"][:1]
    vector = 2 * batch * hidden
    assert (residual.bytes_read, residual.bytes_written) == (2 * vector, vector)
    assert sum(c.bytes_read for c in norm) == 2 * hidden  # its weight; the sum it normalises was not written back and read
    assert sum(c.bytes_written for c in norm) == vector  # the normalised input the MLP reads
    assert sum(c.bytes for c in norm[1:-1]) == 0
    assert NOTE in serving.notes and NOTE not in eager.notes  # the report says its bytes are not the eager ones


def test_eager_traffic_adds_the_cache_read_and_rewritten_by_every_append(llama_7b: LLM) -> None:
    """transformers' DynamicCache appends with aten.cat, which reads the whole cache and writes it
    again, and its element-wise ops run unfused: exactly twice the KV cache more than the serving
    convention's appends, plus the unfused activations; the FLOPs are the same."""
    eager = LLM("llama-2-7b", device="a100-80gb", dtype="fp16", traffic="eager")
    for context, batch in ((2048, 1), (2048, 32)):
        serving = llama_7b.decode(batch, context)
        traced = eager.decode(batch, context)
        appends = [
            (s.cost, t.cost) for s, t in zip(serving.ops, traced.ops) if s.name == "aten.cat" and s.event.output.shape[-2] == context + 1
        ]
        assert sum(t.bytes - s.bytes for s, t in appends) == 2 * llama_7b.kv_cache_bytes(batch, context)
        assert (traced.total.macs, traced.total.flops) == (serving.total.macs, serving.total.flops)
    # eager is as traced: 16.46 GB at 2048 tokens, 8.07 ms on an A100-80GB; serving 14.30 GB, 7.01 ms
    assert round(eager.decode(1, 2048).total.bytes / 1e9, 2) == 16.46
    assert round(eager.decode_time(1, 2048) * 1e3, 2) == 8.07
    assert round(llama_7b.decode(1, 2048).total.bytes / 1e9, 2) == 14.30
    assert round(llama_7b.decode_time(1, 2048) * 1e3, 2) == 7.01


@pytest.mark.parametrize("tokens", [128, 2048])
def test_prefill_bytes_are_weights_new_kv_and_the_fused_activations(llama_7b: LLM, tokens: int) -> None:
    """A prefill of llama-2-7b in fp16: the weights read once, the prompt's keys and values written
    once and the fused activations, exactly (hand_activations). At 2048 tokens that is 39.67 GB,
    against 62.10 GB with the element-wise ops unfused: the cache appends are the same in both
    conventions (the cache is empty), everything else is the fusion. The FLOPs do not change."""
    weights = hand_terms(0, 1)[0]
    new_kv = FP16 * 2 * LAYERS * KV_HEADS * HEAD_DIM * tokens
    report = llama_7b.prefill(1, tokens)
    assert report.total.bytes == weights + new_kv + hand_activations(1, tokens, prefill=True)
    eager = LLM("llama-2-7b", device="a100-80gb", dtype="fp16", traffic="eager").prefill(1, tokens)
    assert (eager.total.macs, eager.total.flops) == (report.total.macs, report.total.flops)
    appends = [(s.cost, t.cost) for s, t in zip(report.ops, eager.ops) if s.name == "aten.cat" and s.event.inputs[0].numel == 0]
    assert len(appends) == 2 * LAYERS and all(s == t for s, t in appends)
    assert sum(s.bytes_written for s, _ in appends) == new_kv
    # what an engine does not move: attention's output copied transposed for o_proj (read and
    # written), and the q, k, v and gate, up projections reading their input apart (3 of 5 reads)
    copies = sum(r.cost.bytes for r in report.ops if r.name == "aten.clone" and r.module.endswith("self_attn"))
    assert copies == FP16 * 2 * HIDDEN * LAYERS * tokens
    separate_reads = FP16 * 3 * HIDDEN * LAYERS * tokens
    if tokens == 2048:
        assert (round(report.total.bytes / 1e9, 2), round(eager.total.bytes / 1e9, 2)) == (39.67, 62.10)
        assert (round(copies / 1e9, 2), round(separate_reads / 1e9, 2)) == (1.07, 1.61)
        assert round((report.total.bytes - copies - separate_reads) / 1e9, 2) == 36.99


def test_the_prefill_computes_the_last_tokens_logits_only(llama_7b: LLM) -> None:
    """The serving prefill keeps the logits of the last token only, as generation does; a plain
    forward of the prompt (roofscope.analyze) computes every position's: (seq_len - 1) rows of the
    lm_head more, 127 x 4096 x 32000 MACs at 128 tokens."""
    forward = roofscope.analyze("llama-2-7b", seq_len=128)
    assert forward.total.macs - llama_7b.prefill(1, 128).total.macs == 127 * HIDDEN * VOCAB == 16_646_144_000


def _tiny(config_class: str = "LlamaConfig", dtype: torch.dtype = torch.bfloat16, **kwargs) -> Preset:
    base = dict(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    return Preset(config_class, {**base, "tie_word_embeddings": False, **kwargs}, dtype=dtype)


def test_kv_cache_precision_halves_the_cache_traffic_and_memory() -> None:
    """--kv fp8 beside bf16 activations: the cache read, the new entries written and the cache's
    memory are one byte an element; nothing else changes."""
    bf16 = LLM(_tiny(), dtype="bf16", device="h100")
    fp8 = LLM(_tiny(), dtype="bf16", kv="fp8", device="h100")
    assert fp8.precision_name == "bf16+fp8-kv"
    context, batch = 40, 3
    per_token = 2 * 2 * 2 * 16  # keys and values x layers x kv heads x head dim
    assert bf16.kv_cache_bytes(batch, context) == 2 * fp8.kv_cache_bytes(batch, context) == 2 * per_token * context * batch
    read = per_token * (context + 1) * batch  # elements attention reads
    written = per_token * batch
    assert bf16.decode(batch, context).total.bytes - fp8.decode(batch, context).total.bytes == read + written
    with pytest.raises(roofscope.AnalysisError, match="needs the serving traffic convention"):
        LLM(_tiny(), dtype="bf16", kv="fp8", traffic="eager")


def test_int4_weights_are_half_a_byte_plus_a_scale_per_group_of_128() -> None:
    llm = LLM(_tiny(), dtype="bf16", weights="int4")
    assert llm.precision_name == "bf16+int4-weights"
    matrices = [64 * 64, 64 * 32, 64 * 32, 64 * 64, 64 * 128, 64 * 128, 128 * 64] * 2 + [64 * 1000]
    int4 = sum(n // 2 + 2 * (n // 128) for n in matrices)
    others = 2 * (1000 * 64 + 2 * 2 * 64 + 64)  # the embedding table and the norms in bf16
    assert llm.weight_bytes == int4 + others


def test_deepseek_v3_caches_its_latent() -> None:
    """Multi-head latent attention caches kv_lora_rank + qk_rope_head_dim = 512 + 64 elements per
    token and layer (DeepSeek-V2 paper, section 2.1): 61 x 576 x 2048 x 2 bytes = 0.144 GB at 2048
    tokens in bf16, where per-head keys and values (128 heads x (192 + 128)) would be 4.9 GB."""
    llm = LLM("deepseek-v3", dtype="bf16")
    assert llm.cache_layout.kinds() == {"latent": 61}
    assert llm.kv_cache_bytes(1, 2048) == 61 * (512 + 64) * 2048 * 2 == 143_917_056


def test_latent_attention_decodes_in_the_latent_space() -> None:
    """transformers decompresses the cached latent into every head's keys and values each step;
    the serving convention charges the decompression over the new token's row (the absorbed
    projections) and attention over the latent: MACs = heads x cached x (2 kv_lora_rank + rope)."""
    preset = _tiny(
        "DeepseekV3Config",
        num_key_value_heads=4,
        kv_lora_rank=32,
        q_lora_rank=48,
        qk_rope_head_dim=8,
        qk_nope_head_dim=16,
        v_head_dim=16,
        n_routed_experts=8,
        num_experts_per_tok=2,
        moe_intermediate_size=32,
        first_k_dense_replace=1,
        n_group=2,
        topk_group=1,
    )
    context, batch = 20, 2
    serving = LLM(preset, dtype="bf16").decode(batch, context)
    eager = LLM(preset, dtype="bf16", traffic="eager").decode(batch, context)
    attention = [r for r in serving.ops if r.name == "aten.scaled_dot_product_attention"]
    assert [r.cost.macs for r in attention] == [batch * 4 * (context + 1) * (2 * 32 + 8)] * 2
    decompress = [r for r in serving.ops if r.module.endswith("kv_b_proj") and r.family == "matmul"]
    traced = [r for r in eager.ops if r.module.endswith("kv_b_proj") and r.family == "matmul"]
    assert [r.cost.macs for r in decompress] == [batch * 32 * 4 * (16 + 16)] * 2  # one row a sequence
    assert [r.cost.macs for r in traced] == [batch * (context + 1) * 32 * 4 * (16 + 16)] * 2  # every cached token
    assert serving.total.bytes < eager.total.bytes


def test_gemma_2_sliding_window_layers_keep_the_last_window() -> None:
    """gemma-2-9b alternates sliding-window (4096) and global layers, 21 each, 8 KV heads of 256:
    at 8192 tokens a sliding layer holds 4095 tokens (the new one makes the window), a global one all."""
    llm = LLM("gemma-2-9b", dtype="bf16")
    assert llm.cache_layout.kinds() == {"sliding": 21, "full": 21}
    per_token = 2 * 8 * 256
    assert llm.kv_cache_bytes(1, 8192) == 2 * per_token * (21 * 4095 + 21 * 8192)
    assert llm.kv_cache_bytes(1, 1000) == 2 * per_token * 42 * 1000  # inside the window: every layer alike


def test_qwen3_next_linear_layers_hold_a_fixed_state() -> None:
    """Qwen3-Next: 36 Gated DeltaNet layers, each with a recurrent state of 32 value heads x 128 x
    128 and a convolution state of (2 x 16 key heads x 128 + 32 x 128) channels x kernel 4, whatever
    the context; 12 full-attention layers with 2 KV heads of 256."""
    llm = LLM("qwen3-next-80b-a3b", dtype="bf16")
    assert llm.cache_layout.kinds() == {"linear": 36, "full": 12}
    state = 32 * 128 * 128 + (2 * 16 * 128 + 32 * 128) * 4
    for context in (128, 4096):
        assert llm.kv_cache_bytes(2, context) == 2 * 2 * (36 * state + 12 * context * 2 * 2 * 256)


def test_t5_cross_attention_holds_the_encoded_prompt() -> None:
    """t5-small's decoder: 6 self-attention layers over the generated tokens and 6 cross-attention
    layers over the encoded prompt, 8 heads of 64 each."""
    llm = LLM("t5-small", dtype="bf16")
    assert llm.cache_layout.kinds() == {"full": 6, "cross": 6}
    per_token = 2 * 8 * 64
    assert llm.kv_cache_bytes(1, 10, encoder_tokens=128) == 2 * per_token * 6 * (10 + 128)
    summary = llm.summary(1, 128, context=10)
    assert summary.kv_cache_bytes == 2 * per_token * 6 * (10 + 128)
    assert summary.decode.tokens == 1


def test_an_unknown_cache_layout_is_an_error_naming_the_model_type() -> None:
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    class CompressedLayer(DynamicLayer):
        """A cache layer roofscope has never seen."""

    llm = LLM(_tiny())
    cache = filled_cache(llm.model, 1, 1, "cache")
    odd = DynamicCache(config=llm.config)
    odd.layers = [CompressedLayer() for _ in cache.layers]
    with pytest.raises(roofscope.AnalysisError, match=r"KV cache layout of llama \(CompressedLayer layers\)"):
        cache_layout(llm.config, odd)


def test_largest_batch_that_fits() -> None:
    llm = LLM("llama-3.1-8b", device="h100", dtype="bf16")
    largest = llm.largest_batch(seq_len=2048)
    assert llm.memory(largest, 2048).fits and not llm.memory(largest + 1, 2048).fits
    # the weights (16.06 GB) stay; each sequence adds its cache (268 MB at 2048 tokens) and its share
    # of the activation estimate (the MLP's gated product over the prompt, 176 MB)
    one = llm.memory(1, 2048)
    assert one.kv_cache == 32 * 2 * 8 * 128 * 2048 * 2
    assert one.activations == 3 * 2048 * 14336 * 2
    assert largest == int((80e9 - one.weights) // (one.kv_cache + one.activations)) == 143
