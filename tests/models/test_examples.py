"""The worked examples of the seed articles (../shared/seeds), exactly."""

from torch import nn

import roofscope
from roofscope.models.examples import SimpleAttentionBlock, SimpleConv, SimpleLinearModel


def test_simple_linear_model_515_macs():
    report = roofscope.analyze(SimpleLinearModel(), (1, 10))
    # fc1 10*20 + fc2 20*15 + fc3 15*1 = 200 + 300 + 15
    assert report.total.macs == 515
    assert report.total.matmul_flops == 1030
    assert [report.module(name).total.macs for name in ("fc1", "fc2", "fc3")] == [200, 300, 15]


def test_simple_conv_3976448_macs():
    report = roofscope.analyze(SimpleConv(), (1, 1, 28, 28))
    # conv1 28*28*3*3*1*16, conv2 28*28*3*3*16*32, fc 32*28*28*10
    assert report.module("conv1").total.macs == 112_896
    assert report.module("conv2").total.macs == 3_612_672
    assert report.module("fc").total.macs == 250_880
    assert report.total.macs == 3_976_448
    assert report.total.matmul_flops == 7_952_896


def test_attention_block_2672640_macs_and_linear_in_batch():
    model = SimpleAttentionBlock(256, 8)
    one = roofscope.analyze(model, [(1, 10, 256)] * 3)
    # q, k, v, out projections 4 * 10*256*256 + scores 10*10*8*32 + weighted values 10*10*8*32
    assert one.total.macs == 2_672_640
    assert one.total.matmul_flops == 5_345_280
    thirty_two = roofscope.analyze(model, [(32, 10, 256)] * 3)
    assert thirty_two.total.macs == 32 * 2_672_640


def test_conv_5x5_3_to_16_has_1216_parameters():
    report = roofscope.analyze(nn.Conv2d(3, 16, 5), (1, 3, 96, 96))
    assert report.params.total == 5 * 5 * 3 * 16 + 16 == 1216


def test_batchnorm_has_2c_parameters_and_running_stats_as_buffers():
    report = roofscope.analyze(nn.BatchNorm2d(64).eval(), (1, 64, 8, 8))
    assert report.params.total == 2 * 64
    assert report.params.buffers == 64 + 64 + 1  # running mean, running var, num_batches_tracked


def test_pointwise_conv_memory_traffic():
    # Seed 001: a 1x1 conv's memory access cost is H*W*(Cin + Cout) + Cin*Cout elements.
    h, w, c_in, c_out = 14, 14, 32, 64
    report = roofscope.analyze(nn.Conv2d(c_in, c_out, 1, bias=False), (1, c_in, h, w))
    elements = h * w * (c_in + c_out) + c_in * c_out
    assert report.total.bytes == 4 * elements
    assert report.total.bytes_written == 4 * h * w * c_out
