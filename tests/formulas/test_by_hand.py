"""Each formula family against a hand count: exact integers, the arithmetic beside each value.

float32 elements are 4 bytes, int64 indices 8. The formulas are stated in each family's module
docstring in src/roofscope/formulas/ and summarised in docs/conventions.md.
"""

import torch
import torch.nn.functional as F
from torch import nn

import roofscope


class Fn(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def analyze(model, *inputs) -> roofscope.Report:
    report = roofscope.analyze(model.eval() if isinstance(model, nn.Module) else model, tuple(inputs))
    assert report.uncounted == {}
    return report


# --- matmul -----------------------------------------------------------------------------------


def test_linear_with_bias():
    total = analyze(nn.Linear(4, 3), torch.randn(2, 4)).total
    assert total.macs == 24  # 2 rows * 4 in * 3 out
    assert total.flops == 54  # 2 * 24 + 6 bias adds (2 * 3 output elements)
    assert total.bytes_read == 92  # (x 2*4 + weight 4*3 + bias 3) * 4 = 23 * 4
    assert total.bytes_written == 24  # 2*3 * 4


def test_linear_without_bias():
    total = analyze(nn.Linear(4, 3, bias=False), torch.randn(2, 4)).total
    assert total.macs == 24  # 2 * 4 * 3
    assert total.flops == 48  # 2 * 24, no bias
    assert total.bytes_read == 80  # (8 + 12) * 4
    assert total.bytes_written == 24  # 6 * 4


def test_linear_on_3d_input():
    total = analyze(nn.Linear(8, 5), torch.randn(2, 3, 8)).total
    assert total.macs == 240  # 6 tokens * 8 * 5
    assert total.flops == 510  # 2 * 240 + 30 bias adds


def test_baddbmm_and_addmm_with_beta_0_do_not_read_their_input():
    """Megatron-LM's attention scores: baddbmm into an empty buffer with beta=0 (torch ignores the
    input then); with beta=1 the input is read."""
    c, x, y = torch.empty(2, 3, 5), torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    ignored = analyze(Fn(lambda c, x, y: torch.baddbmm(c, x, y, beta=0.0, alpha=0.5)), c, x, y).total
    assert ignored.macs == 120  # 2 * 3 * 4 * 5
    assert ignored.flops == 270  # 2 * 120 + 30 alpha scalings (2 * 3 * 5 outputs), no add
    assert ignored.bytes_read == 256  # (x 24 + y 40) * 4; c's 30 elements not read
    assert ignored.bytes_written == 120  # 30 * 4
    added = analyze(Fn(lambda c, x, y: torch.baddbmm(c, x, y)), c, x, y).total
    assert added.bytes_read == 376  # (30 + 24 + 40) * 4
    matrix = analyze(Fn(lambda c, a, b: torch.addmm(c, a, b, beta=0)), torch.empty(3, 5), torch.randn(3, 4), torch.randn(4, 5)).total
    assert matrix.bytes_read == 128  # (a 12 + b 20) * 4


# --- convolution ------------------------------------------------------------------------------


def test_conv2d_depthwise():
    total = analyze(nn.Conv2d(4, 4, 3, padding=1, groups=4), torch.randn(1, 4, 5, 5)).total
    # output (1, 4, 5, 5) = 100 elements, each 1 input channel * 3 * 3 taps
    assert total.macs == 900  # 100 * 1 * 9
    assert total.flops == 1_900  # 2 * 900 + 100 bias adds
    assert total.bytes_read == 560  # (input 100 + weight 4*1*3*3 = 36 + bias 4) * 4 = 140 * 4
    assert total.bytes_written == 400  # 100 * 4


def test_conv2d_grouped_strided():
    total = analyze(nn.Conv2d(4, 6, 3, stride=2, groups=2, bias=False), torch.randn(2, 4, 9, 9)).total
    # output (2, 6, 4, 4) = 192 elements, each 4 / 2 = 2 input channels * 9 taps
    assert total.macs == 3_456  # 192 * 2 * 9
    assert total.flops == 6_912  # 2 * 3456


def test_conv_transpose2d():
    total = analyze(nn.ConvTranspose2d(3, 2, 3, stride=2), torch.randn(1, 3, 4, 4)).total
    # output side (4 - 1) * 2 + 3 = 9: (1, 2, 9, 9) = 162 elements
    # transposed: every input element (3 * 16 = 48) meets Cout/g = 2 * 9 taps
    assert total.macs == 864  # 48 * 2 * 9
    assert total.flops == 1_890  # 2 * 864 + 162 bias adds
    assert total.bytes_read == 416  # (input 48 + weight 3*2*3*3 = 54 + bias 2) * 4 = 104 * 4
    assert total.bytes_written == 648  # 162 * 4


def test_conv1d():
    total = analyze(nn.Conv1d(2, 3, 3), torch.randn(2, 2, 10)).total
    # output (2, 3, 8) = 48 elements, each 2 channels * 3 taps
    assert total.macs == 288  # 48 * 6
    assert total.flops == 624  # 2 * 288 + 48 bias adds
    assert total.bytes_read == 244  # (input 2*2*10 = 40 + weight 3*2*3 = 18 + bias 3) * 4 = 61 * 4
    assert total.bytes_written == 192  # 48 * 4


def test_conv3d():
    total = analyze(nn.Conv3d(2, 4, (1, 2, 3), bias=False), torch.randn(1, 2, 3, 4, 5)).total
    # output (1, 4, 3, 3, 3) = 108 elements, each 2 channels * 1*2*3 = 6 taps
    assert total.macs == 1_296  # 108 * 12
    assert total.flops == 2_592  # 2 * 1296


# --- attention --------------------------------------------------------------------------------


def sdpa(**kwargs):
    return Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kwargs))


def test_sdpa_plain():
    q, k, v = torch.randn(2, 3, 4, 8), torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 6)
    total = analyze(sdpa(), q, k, v).total
    # B*H = 6, L = 4, S = 5, E = 8, Ev = 6; 6 * 4 * 5 = 120 scores
    assert total.macs == 1_680  # 6 * 4 * 5 * (8 + 6)
    assert total.flops == 4_032  # 2 * 1680 + 120 (scale) + 24 rows * (5*5 - 2) = 3360 + 120 + 552
    assert total.bytes_read == 2_448  # (q 192 + k 240 + v 180) * 4 = 612 * 4
    assert total.bytes_written == 576  # output 2*3*4*6 = 144 * 4


def test_sdpa_causal():
    q, k, v = torch.randn(2, 3, 4, 8), torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 6)
    total = analyze(sdpa(is_causal=True), q, k, v).total
    assert total.macs == 1_680  # causal is counted in full: 6 * 4 * 5 * 14
    assert total.flops == 4_152  # 4032 + 120 for the mask


def test_sdpa_with_mask():
    q, k, v = torch.randn(2, 3, 4, 8), torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 6)
    mask = torch.ones(4, 5, dtype=torch.bool)
    model = Fn(lambda q_, k_, v_, m: F.scaled_dot_product_attention(q_, k_, v_, attn_mask=m))
    total = analyze(model, q, k, v, mask).total
    assert total.macs == 1_680
    assert total.flops == 4_152  # 4032 + 120 mask adds
    assert total.bytes_read == 2_468  # 2448 + bool mask 4*5 = 20 bytes


def test_sdpa_gqa():
    q, k, v = torch.randn(1, 4, 3, 8), torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 8)
    total = analyze(sdpa(enable_gqa=True), q, k, v).total
    # 4 query heads share 2 key/value heads: the work is per query head. B*H = 4, L = 3, S = 5, E = Ev = 8
    assert total.macs == 960  # 4 * 3 * 5 * 16
    assert total.flops == 2_256  # 2 * 960 + 60 (scale) + 12 rows * 23 = 1920 + 60 + 276
    assert total.bytes_read == 1_024  # (q 96 + k 80 + v 80) * 4: shared heads read once
    assert total.bytes_written == 384  # 96 * 4


# --- softmax ----------------------------------------------------------------------------------


def test_softmax_and_log_softmax():
    x = torch.randn(3, 4, 7)
    total = analyze(Fn(lambda t: F.softmax(t, dim=-1)), x).total
    assert total.flops == 396  # 12 rows * (5*7 - 2) = 12 * 33
    assert total.bytes_read == 336 and total.bytes_written == 336  # 84 * 4
    assert analyze(Fn(lambda t: F.softmax(t, dim=1)), x).total.flops == 378  # 21 rows * (5*4 - 2)
    assert analyze(Fn(lambda t: F.log_softmax(t, dim=-1)), x).total.flops == 324  # 12 * (4*7 - 1) = 12 * 27


# --- normalization ----------------------------------------------------------------------------


def test_layer_norm():
    x = torch.randn(2, 5, 6)
    total = analyze(nn.LayerNorm(6), x).total
    # 10 rows of k = 6: 10 * (5*6 + 2) = 320, affine weight and bias 2 * 60 = 120
    assert total.flops == 440
    assert total.bytes_read == 288  # (x 60 + weight 6 + bias 6) * 4
    assert total.bytes_written == 320  # (output 60 + mean 10 + rstd 10) * 4
    assert analyze(nn.LayerNorm(6, elementwise_affine=False), x).total.flops == 320


def test_batch_norm_eval_and_train():
    x = torch.randn(2, 3, 4, 4)  # 96 elements, 3 channels of 32
    bn = nn.BatchNorm2d(3)
    total = analyze(bn.eval(), x).total
    assert total.flops == 390  # 3 channels * 2 + 2 * 96 + affine 2 * 96 = 6 + 192 + 192
    assert total.bytes_read == 432  # (x 96 + weight, bias, mean, var 4 * 3) * 4 = 108 * 4
    assert total.bytes_written == 384  # output only: 96 * 4
    train = roofscope.analyze(bn.train(), (x,))
    assert train.uncounted == {}
    # statistics 3 * (5*32 + 2) = 486, affine 192, running-stat updates 3 * 8 = 24;
    # num_batches_tracked += 1 is integer work: 0
    assert train.total.flops == 702


def test_group_norm():
    total = analyze(nn.GroupNorm(2, 4), torch.randn(2, 4, 3, 3)).total
    # N * G = 4 groups of (4 / 2) * 9 = 18: 4 * (5*18 + 2) = 368; affine 2 * 72 = 144
    assert total.flops == 512


def test_instance_norm():
    total = analyze(nn.InstanceNorm2d(3), torch.randn(2, 3, 4, 4)).total
    # as batch norm over 2 * 3 = 6 channels of 16, with batch statistics and no running stats:
    # 6 * (5*16 + 2) = 492
    assert total.flops == 492


def test_rms_norm():
    x, w = torch.randn(3, 8), torch.randn(8)
    assert analyze(Fn(lambda t: F.rms_norm(t, (8,))), x).total.flops == 78  # 3 rows * (3*8 + 2)
    total = analyze(Fn(lambda t, w_: F.rms_norm(t, (8,), w_)), x, w).total
    assert total.flops == 102  # 78 + 3 rows * 8 weight multiplies
    assert total.bytes_read == 128  # (x 24 + weight 8) * 4
    assert total.bytes_written == 96  # 24 * 4


# --- pooling ----------------------------------------------------------------------------------


def test_weight_norm():
    v, g = torch.randn(6, 3, 2), torch.rand(6, 1, 1)
    per_row = analyze(Fn(lambda v, g: torch._weight_norm(v, g, 0)), v, g).total
    assert per_row.flops == 3 * 36 + 6  # norm 2 per element, g / norm per row (6), v * that 1 per element
    assert per_row.bytes_read == (36 + 6) * 4 and per_row.bytes_written == (36 + 6) * 4  # w and the 6 norms
    whole = analyze(Fn(lambda v, g: torch._weight_norm(v, g, -1)), v, torch.rand(())).total
    assert whole.flops == 3 * 36 + 1  # dim=-1: one norm over the whole tensor


def test_max_and_avg_pool():
    x = torch.randn(1, 2, 4, 4)
    total = analyze(nn.MaxPool2d(2), x).total
    assert total.flops == 24  # 8 outputs * (4 - 1) compares
    # on CPU max_pool2d runs as max_pool2d_with_indices: outputs 8 * 4 and int64 indices 8 * 8
    assert total.bytes_read == 128 and total.bytes_written == 96  # 32 * 4; 32 + 64
    assert analyze(nn.AvgPool2d(2), x).total.flops == 32  # 8 outputs * 4 (3 adds + divide)
    # 3x3, stride 1, padding 1, padded positions counted: 32 outputs * 9
    assert analyze(nn.AvgPool2d(3, stride=1, padding=1), x).total.flops == 288
    assert analyze(nn.MaxPool1d(3), torch.randn(2, 3, 9)).total.flops == 36  # 2*3*3 = 18 outputs * 2


def test_adaptive_avg_pool_uneven_windows():
    # 7 -> 3: windows [0, 3), [2, 5), [4, 7): 3 + 3 + 3 = 9 per plane
    assert analyze(nn.AdaptiveAvgPool1d(3), torch.randn(1, 2, 7)).total.flops == 18  # 2 planes * 9
    # 5 -> 2: windows [0, 3), [2, 5): 3 + 3 = 6; 7 x 5 -> 3 x 2: 9 * 6 = 54 per plane
    assert analyze(nn.AdaptiveAvgPool2d((3, 2)), torch.randn(1, 1, 7, 5)).total.flops == 54
    # 5 -> 3: windows [0, 2), [1, 4), [3, 5): 2 + 3 + 2 = 7; 5 x 5 -> 3 x 3: 49 per plane, 3 planes
    assert analyze(nn.AdaptiveAvgPool2d(3), torch.randn(1, 3, 5, 5)).total.flops == 147
    # global pooling 7 x 7 -> 1: 49 per plane, 4 planes
    assert analyze(nn.AdaptiveAvgPool2d(1), torch.randn(1, 4, 7, 7)).total.flops == 196


# --- resize -----------------------------------------------------------------------------------


def test_interpolate():
    x = torch.randn(1, 2, 3, 3)  # output (1, 2, 6, 6) = 72 elements
    nearest = analyze(Fn(lambda t: F.interpolate(t, scale_factor=2, mode="nearest")), x).total
    assert nearest.flops == 0
    assert nearest.bytes_read == 72 and nearest.bytes_written == 288  # 18 * 4, 72 * 4
    bilinear = analyze(Fn(lambda t: F.interpolate(t, scale_factor=2, mode="bilinear")), x).total
    assert bilinear.flops == 648  # 72 * 9
    assert bilinear.bytes_read == 72 and bilinear.bytes_written == 288


# --- embedding, memory, shape -----------------------------------------------------------------


def test_dropout_in_training_is_the_fused_kernel_cuda_runs():
    """CUDA runs dropout as one native_dropout kernel (output and a 1-byte mask); CPU and meta
    would decompose it (bernoulli_, div_, mul): every device counts the fused kernel."""
    for device in ("cpu", "meta"):
        x = torch.randn(2, 8, device=device, requires_grad=True)
        report = roofscope.analyze(nn.Dropout(0.25).train(), (x,), backward=True)
        names = [r.name for r in report.ops if r.cost is not None and r.cost.bytes]
        assert names == ["aten.native_dropout", "aten.sum", "aten.ones_like", "aten.native_dropout_backward"]
        forward, backward = report.ops[0].cost, next(r.cost for r in report.ops if r.name == "aten.native_dropout_backward")
        # forward: x * mask * 4/3; 16 x 4 B in, 16 x 4 B + a 16-byte mask out
        assert (forward.flops, forward.bytes_read, forward.bytes_written) == (32, 64, 80)
        # backward: the gradient (the sum's: one float, expanded) and the mask in, the gradient out
        assert (backward.flops, backward.bytes_read, backward.bytes_written) == (32, 20, 64)
    out = Fn(lambda x: F.dropout(x, 0.5, training=True))(torch.ones(10_000))  # the same function, called outside
    kept = out[out != 0]
    assert torch.all(kept == 2.0) and 4_000 < kept.numel() < 6_000
    with torch.no_grad():
        inplace = roofscope.analyze(Fn(lambda x: F.dropout(x, 0.5, training=True, inplace=True)), (torch.randn(4),))
    assert "aten.native_dropout" not in [r.name for r in inplace.ops]  # aten decomposes in-place dropout everywhere
    evaluated = analyze(Fn(lambda x: F.dropout(x, 0.25, training=False) * 2), torch.randn(2, 8))
    assert [r.name for r in evaluated.ops] == ["aten.mul"]  # not training: the identity


def test_embedding_bytes():
    indices = torch.randint(0, 10, (2, 3))
    total = analyze(nn.Embedding(10, 4), indices).total
    assert total.flops == 0
    assert total.bytes_read == 144  # 6 indices * 8 + 6 gathered rows * 4 * 4 = 48 + 96 (not the 160-byte table)
    assert total.bytes_written == 96  # 6 * 4 * 4


def test_cat_bytes_only():
    total = analyze(Fn(lambda a, b: torch.cat([a, b], dim=1)), torch.randn(2, 3), torch.randn(2, 5)).total
    assert total.macs == 0 and total.flops == 0
    assert total.bytes_read == 64  # (6 + 10) * 4
    assert total.bytes_written == 64  # 16 * 4


def test_views_cost_nothing():
    def views(t):
        return t.view(6, 4).permute(1, 0).unsqueeze(0).expand(3, 4, 6).transpose(1, 2).squeeze(0)[0].flatten()

    report = analyze(Fn(views), torch.randn(2, 3, 4))
    assert report.total == roofscope.Cost()


# --- reductions -------------------------------------------------------------------------------


def test_reductions():
    x = torch.randn(4, 6)  # n = 24
    total = analyze(Fn(lambda t: t.sum(dim=1)), x).total
    assert total.flops == 20  # n - m = 24 - 4
    assert total.bytes_read == 96 and total.bytes_written == 16  # 24 * 4, 4 * 4
    assert analyze(Fn(lambda t: t.sum()), x).total.flops == 23  # 24 - 1
    assert analyze(Fn(lambda t: t.mean(dim=1)), x).total.flops == 24  # n
    assert analyze(Fn(lambda t: t.var(dim=1)), x).total.flops == 96  # 4n
    assert analyze(Fn(lambda t: t.std(dim=0)), x).total.flops == 102  # 4n + m = 96 + 6
    assert analyze(Fn(lambda t: t.amax(dim=0)), x).total.flops == 18  # 24 - 6


# --- loss -------------------------------------------------------------------------------------


def _op(report: roofscope.Report, name: str) -> roofscope.Cost:
    cost = report.by_op()[name].cost
    assert cost is not None
    return cost


def test_cross_entropy_is_log_softmax_then_nll_loss():
    x, target, weight = torch.randn(4, 5), torch.tensor([0, 3, 1, 4]), torch.rand(5)
    report = analyze(Fn(F.cross_entropy), x, target)
    assert _op(report, "aten._log_softmax").flops == 76  # 4 rows * (4 * 5 - 1)
    nll = _op(report, "aten.nll_loss_forward")
    assert nll.flops == 11  # 4 negations + 3 adds of the losses + 3 of the weights + 1 divide
    assert nll.bytes_read == 48  # the 4 picked log-probabilities (16), not all 20, + 4 int64 targets (32)
    assert nll.bytes_written == 8  # the loss and the total weight, 4 each
    weighted = _op(analyze(Fn(lambda a, t: F.cross_entropy(a, t, weight=weight)), x, target), "aten.nll_loss_forward")
    assert weighted.flops == 15  # 4 * (negate + weight) + 3 + 3 + 1
    assert weighted.bytes_read == 64  # 48 + the 4 picked weights (16)
    assert _op(analyze(Fn(lambda a, t: F.cross_entropy(a, t, reduction="sum")), x, target), "aten.nll_loss_forward").flops == 10
    unreduced = _op(analyze(Fn(lambda a, t: F.cross_entropy(a, t, reduction="none")), x, target), "aten.nll_loss_forward")
    assert unreduced.flops == 4  # the negations only
    assert unreduced.bytes_written == 20  # 4 losses + the total weight


def test_nll_loss_2d_counts_every_pixel_as_a_sample():
    x, target = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    nll = _op(analyze(Fn(F.cross_entropy), x, target), "aten.nll_loss2d_forward")
    assert nll.flops == 95  # 32 samples: 32 + 2 * 31 + 1
    assert nll.bytes_read == 384  # 32 picked * 4 + 32 targets * 8


def test_nll_loss_backward_writes_the_whole_gradient():
    model = nn.Linear(8, 5)
    x, target = torch.randn(4, 8), torch.tensor([0, 3, 1, 4])

    class Loss(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = model

        def forward(self, inputs, labels):
            return F.cross_entropy(self.linear(inputs), labels)

    report = roofscope.analyze(Loss(), (x, target), backward=True)
    assert report.uncounted == {}
    backward = _op(report, "aten.nll_loss_backward")
    assert backward.flops == 8  # 4 samples * (negate + divide by the total weight)
    assert backward.bytes_read == 40  # the scalar gradient 4 + targets 32 + total weight 4
    assert backward.bytes_written == 80  # the whole 4 x 5 gradient, zeroed then scattered into


def test_elementwise_losses():
    x, y = torch.rand(3, 4), torch.rand(3, 4)  # n = 12
    mse = _op(analyze(Fn(F.mse_loss), x, y), "aten.mse_loss")
    assert mse.flops == 36  # 2 * 12 + the mean's 12
    assert mse.bytes_read == 96 and mse.bytes_written == 4  # two 12-element inputs; a scalar
    assert _op(analyze(Fn(lambda a, b: F.mse_loss(a, b, reduction="sum")), x, y), "aten.mse_loss").flops == 35  # 24 + 11
    unreduced = _op(analyze(Fn(lambda a, b: F.mse_loss(a, b, reduction="none")), x, y), "aten.mse_loss")
    assert unreduced.flops == 24 and unreduced.bytes_written == 48
    assert _op(analyze(Fn(F.huber_loss), x, y), "aten.huber_loss").flops == 72  # 5 * 12 + 12
    assert _op(analyze(Fn(F.smooth_l1_loss), x, y), "aten.smooth_l1_loss").flops == 84  # 6 * 12 + 12
    assert _op(analyze(Fn(F.soft_margin_loss), x, y), "aten.soft_margin_loss").flops == 72  # 5 * 12 + 12
    assert _op(analyze(Fn(F.binary_cross_entropy), x, y), "aten.binary_cross_entropy").flops == 108  # 8 * 12 + 12
    weight = torch.rand(3, 4)
    weighted = analyze(Fn(lambda a, b: F.binary_cross_entropy(a, b, weight=weight)), x, y)
    assert _op(weighted, "aten.binary_cross_entropy").flops == 120  # 9 * 12 + 12
    logits = analyze(Fn(F.binary_cross_entropy_with_logits), x, y)
    assert _op(logits, "aten.binary_cross_entropy_with_logits").flops == 120  # 9 * 12 + 12
    positive = torch.rand(4)
    scaled = analyze(Fn(lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=positive)), x, y)
    assert _op(scaled, "aten.binary_cross_entropy_with_logits").flops == 168  # (9 + 4) * 12 + 12


def test_elementwise_loss_backwards():
    class Loss(nn.Module):
        def __init__(self, loss) -> None:
            super().__init__()
            self.linear, self.loss = nn.Linear(4, 4), loss

        def forward(self, inputs, target):
            return self.loss(self.linear(inputs), target)

    x, y = torch.rand(3, 4), torch.rand(3, 4)
    expected = {"mse_loss": 36, "huber_loss": 36, "smooth_l1_loss": 48, "soft_margin_loss": 84}  # 3, 3, 4, 7 per element * 12
    for name, flops in expected.items():
        report = roofscope.analyze(Loss(getattr(F, name)), (x, y), backward=True)
        assert report.uncounted == {}
        backward = _op(report, f"aten.{name}_backward")
        assert backward.flops == flops, name
        assert backward.bytes_read == 100 and backward.bytes_written == 48  # scalar 4 + input 48 + target 48; 12 * 4
    bce = roofscope.analyze(Loss(lambda a, b: F.binary_cross_entropy(a.sigmoid(), b)), (x, y), backward=True)
    assert _op(bce, "aten.binary_cross_entropy_backward").flops == 72  # 6 * 12


# --- the registry -----------------------------------------------------------------------------


def test_every_registered_aten_name_exists():
    names = [name for name in roofscope.default_formulas()._formulas if name.startswith("aten.")]
    assert len(names) > 400
    missing = [name for name in names if not hasattr(torch.ops.aten, name.removeprefix("aten."))]
    assert missing == []
