"""The fused fast-path ops (called directly) count the same as the modules' reference path.

roofscope makes nn.MultiheadAttention and nn.TransformerEncoderLayer take their reference path
(docs/conventions.md); the fused ops have formulas equal to the sum of their parts.
"""

import torch
from torch import nn

import roofscope

E, HEADS, HIDDEN = 8, 2, 16
BATCH, LENGTH = 2, 5

# Hand count for B = 2, L = S = 5, E = 8, 2 heads of 4; 10 tokens.
# 4 projections (q, k, v, out) of 10 x 8 x 8 with bias: 640 MACs, 1280 + 80 = 1360 FLOPs each.
# attention: B*H = 4, 4 * 5 * 5 * (4 + 4) = 800 MACs;
#   FLOPs 2 * 800 + 100 (scale) + 20 rows * (5*5 - 2) = 1600 + 100 + 460 = 2160.
MHA_MACS = 4 * 640 + 800  # 3360
MHA_FLOPS = 4 * 1360 + 2160  # 7600


class NativeMHA(nn.Module):
    def __init__(self, mha: nn.MultiheadAttention) -> None:
        super().__init__()
        self.mha = mha

    def forward(self, x):
        m = self.mha
        out, _ = torch._native_multi_head_attention(
            x,
            x,
            x,
            m.embed_dim,
            m.num_heads,
            m.in_proj_weight,
            m.in_proj_bias,
            m.out_proj.weight,
            m.out_proj.bias,
            None,
            False,
        )
        return out


class SelfAttention(nn.Module):
    def __init__(self, mha: nn.MultiheadAttention) -> None:
        super().__init__()
        self.mha = mha

    def forward(self, x):
        return self.mha(x, x, x, need_weights=False)[0]


def test_multi_head_attention_matches_fused_op():
    mha = nn.MultiheadAttention(E, HEADS, batch_first=True).eval()
    x = torch.randn(BATCH, LENGTH, E)
    module = roofscope.analyze(SelfAttention(mha), (x,))
    fused = roofscope.analyze(NativeMHA(mha), (x,))
    assert module.uncounted == {} and fused.uncounted == {}
    assert "aten._native_multi_head_attention" in fused.by_op()
    assert module.total.macs == fused.total.macs == MHA_MACS
    assert module.total.flops == fused.total.flops == MHA_FLOPS


class NativeEncoderLayer(nn.Module):
    def __init__(self, layer: nn.TransformerEncoderLayer) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x):
        layer = self.layer
        attn = layer.self_attn
        return torch._transformer_encoder_layer_fwd(
            x,
            attn.embed_dim,
            attn.num_heads,
            attn.in_proj_weight,
            attn.in_proj_bias,
            attn.out_proj.weight,
            attn.out_proj.bias,
            layer.activation_relu_or_gelu == 2,
            layer.norm_first,
            layer.norm1.eps,
            layer.norm1.weight,
            layer.norm1.bias,
            layer.norm2.weight,
            layer.norm2.bias,
            layer.linear1.weight,
            layer.linear1.bias,
            layer.linear2.weight,
            layer.linear2.bias,
            None,
            None,
        )


def test_transformer_encoder_layer_matches_fused_op():
    layer = nn.TransformerEncoderLayer(E, HEADS, dim_feedforward=HIDDEN, batch_first=True).eval()
    x = torch.randn(BATCH, LENGTH, E)
    module = roofscope.analyze(layer, (x,))
    fused = roofscope.analyze(NativeEncoderLayer(layer), (x,))
    assert module.uncounted == {} and fused.uncounted == {}
    assert "aten._transformer_encoder_layer_fwd" in fused.by_op()
    # feed-forward: 10 x 8 x 16 and 10 x 16 x 8 with bias: 1280 MACs each;
    #   FLOPs 2560 + 160 and 2560 + 80; relu 160; two residual adds 2 * 80;
    #   two layer norms 2 * (10 * (5*8 + 2) + 2 * 80) = 2 * 580
    assert module.total.macs == fused.total.macs == MHA_MACS + 2 * 1280  # 5920
    assert module.total.flops == fused.total.flops == MHA_FLOPS + 2720 + 2640 + 160 + 160 + 1160  # 14440
