"""The causal-attention convention: causal="full" (default) or "triangle"/"half", by hand counts."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import roofscope
from roofscope.events import OpEvent, TensorMeta
from roofscope.formulas.attention import causal_scores

B, H, E = 2, 3, 8  # 6 heads of dimension 8


class Causal(nn.Module):
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def sdpa_cost(L, S, **options):
    q, k, v = torch.randn(B, H, L, E), torch.randn(B, H, S, E), torch.randn(B, H, S, E)
    report = roofscope.analyze(Causal(), (q, k, v), **options)
    return report.by_op()["aten.scaled_dot_product_attention"].cost


@pytest.mark.parametrize(("L", "S", "ones"), [(4, 4, 10), (3, 5, 6), (5, 3, 12), (1, 7, 1)])
def test_causal_scores_is_torch_top_left_mask(L, S, ones):
    assert causal_scores(L, S) == ones == int(torch.tril(torch.ones(L, S)).sum())
    # bottom-right alignment (custom_mask_type 2): tril(ones, diagonal=S - L)
    assert causal_scores(L, S, bottom_right=True) == int(torch.tril(torch.ones(L, S), diagonal=S - L).sum())


def test_full_is_the_default_and_counts_the_whole_matrix():
    # 6 heads, L = S = 4: MACs 6 * 16 * (8 + 8) = 1536;
    # FLOPs 2 * 1536 + 96 (scale) + 96 (causal mask added) + 24 rows * (5 * 4 - 2) = 3696
    assert sdpa_cost(4, 4) == sdpa_cost(4, 4, causal="full")
    cost = sdpa_cost(4, 4)
    assert (cost.macs, cost.flops) == (1536, 3696)


@pytest.mark.parametrize("name", ["triangle", "half"])
def test_triangle_counts_the_kept_scores(name):
    # 10 kept scores per head: MACs 6 * 10 * 16 = 960;
    # FLOPs 2 * 960 + 60 (scale) + 0 (nothing masked) + 6 * sum(5k - 2 for k in 1..4) = 6 * 42
    cost = sdpa_cost(4, 4, causal=name)
    assert (cost.macs, cost.flops) == (960, 1920 + 60 + 252)


def test_triangle_rectangular_follows_torch_alignment():
    # L = 5, S = 3: rows keep 1, 2, 3, 3, 3 = 12 scores per head
    cost = sdpa_cost(5, 3, causal="triangle")
    assert cost.macs == 6 * 12 * 16
    assert cost.flops == 2 * cost.macs + 6 * 12 + 6 * sum(5 * k - 2 for k in (1, 2, 3, 3, 3))
    full = sdpa_cost(5, 3)
    assert full.macs == 6 * 15 * 16


def test_explicit_mask_is_counted_in_full_in_both_conventions():
    class Masked(nn.Module):
        def forward(self, q, k, v):
            mask = torch.ones(4, 4, dtype=torch.bool).tril()
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    args = tuple(torch.randn(B, H, 4, E) for _ in range(3))
    full = roofscope.analyze(Masked(), args).by_op()["aten.scaled_dot_product_attention"].cost
    half = roofscope.analyze(Masked(), args, causal="triangle").by_op()["aten.scaled_dot_product_attention"].cost
    assert full == half
    assert (full.macs, full.flops) == (1536, 3696)


def test_cpu_kernel_called_directly():
    class Kernel(nn.Module):
        def forward(self, q, k, v):
            return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, True)[0]

    args = tuple(torch.randn(B, H, 4, E) for _ in range(3))
    for causal, macs in (("full", 1536), ("triangle", 960)):
        report = roofscope.analyze(Kernel(), args, causal=causal)
        assert report.by_op()["aten._scaled_dot_product_flash_attention_for_cpu"].cost.macs == macs


def meta(*shape):
    return TensorMeta.of(torch.empty(shape, device="meta"))


@pytest.mark.parametrize(
    ("op", "args", "kwargs"),
    [
        ("aten._scaled_dot_product_flash_attention", (0.0, True), {}),
        ("aten._scaled_dot_product_efficient_attention", (None, False, 0.0, True), {}),
        ("aten._scaled_dot_product_cudnn_attention", (None, False, 0.0, True), {}),
        ("aten._scaled_dot_product_fused_attention_overrideable", (None, 0.0, True), {}),
    ],
)
def test_every_heads_first_backend(op, args, kwargs):
    q = meta(B, H, 4, E)
    for causal, macs in (("full", 1536), ("triangle", 960)):
        formula = roofscope.default_formulas(causal=causal).get(op)
        event = OpEvent(op, "default", (q, q, q, *args), kwargs, (q,), "")
        assert formula(event).macs == macs, (op, causal)


def test_seq_first_backends_and_backwards():
    q = meta(B, 4, H, E)  # [B, L, H, E]
    hf = meta(B, H, 4, E)
    full, tri = roofscope.default_formulas(), roofscope.default_formulas(causal="half")
    flash = OpEvent("aten._flash_attention_forward", "default", (q, q, q, None, None, 4, 4, 0.0, True), {}, (q,), "")
    assert (full.get(flash.op)(flash).macs, tri.get(flash.op)(flash).macs) == (1536, 960)
    for mask_type, kept in ((0, 16), (1, 10), (2, 10)):
        event = OpEvent("aten._efficient_attention_forward", "default", (q, q, q, None, None, None, 4, 4, 0.0, mask_type), {}, (q,), "")
        assert tri.get(event.op)(event).macs == 6 * kept * 16
        assert full.get(event.op)(event).macs == 1536
    # backwards: twice the forward products, over the kept scores under "triangle"
    backward = OpEvent(
        "aten._scaled_dot_product_flash_attention_for_cpu_backward", "default", (hf, hf, hf, hf, hf, hf, 0.0, True), {}, (hf,), ""
    )
    assert (full.get(backward.op)(backward).macs, tri.get(backward.op)(backward).macs) == (2 * 1536, 2 * 960)
    cost = tri.get(backward.op)(backward)
    assert cost.flops == 2 * cost.macs + 3 * 60
    not_causal = OpEvent(backward.op, "default", (hf, hf, hf, hf, hf, hf, 0.0, False), {}, (hf,), "")
    assert tri.get(backward.op)(not_causal).macs == 2 * 1536


def test_multi_head_attention_is_causal():
    # L = S = 5, E = 8, 2 heads of 4, batch 2: projections 4 x 640 MACs (tests/test_formulas_fused.py);
    # attention full 4 * 25 * 8 = 800 MACs, triangle 4 * 15 * 8 = 480 MACs
    mha = nn.MultiheadAttention(8, 2, batch_first=True).eval()

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, x):
            mask = nn.Transformer.generate_square_subsequent_mask(5)
            return self.mha(x, x, x, attn_mask=mask, is_causal=True, need_weights=False)[0]

    x = torch.randn(2, 5, 8)
    full = roofscope.analyze(Model(), x)
    half = roofscope.analyze(Model(), x, causal="triangle")
    assert full.total.macs == 4 * 640 + 800
    assert half.total.macs == 4 * 640 + 480
    # full: scale 100 + mask 100 + softmax 20 rows * 23; triangle: scale 60 + softmax 4 * (3+8+13+18+23)
    attention_full = full.by_family()["attention"].flops - 4 * 1360
    attention_half = half.by_family()["attention"].flops - 4 * 1360
    assert attention_full == 1600 + 100 + 100 + 20 * 23
    assert attention_half == 960 + 60 + 4 * 65


def test_bad_convention_is_a_clear_error():
    with pytest.raises(roofscope.AnalysisError, match="causal must be one of"):
        roofscope.analyze(Causal(), [(1, 1, 2, 4)] * 3, causal="lower")
    with pytest.raises(ValueError, match="causal must be one of"):
        roofscope.default_formulas(causal="lower")


def test_formulas_built_for_a_convention_keep_it():
    formulas = roofscope.default_formulas(causal="triangle")
    q = torch.randn(B, H, 4, E)
    assert roofscope.analyze(Causal(), (q, q, q), formulas=formulas).total.macs == 960
    assert roofscope.analyze(Causal(), (q, q, q), formulas=formulas, causal="full").total.macs == 1536
