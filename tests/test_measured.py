"""The measured figures' aggregation: which peak a group's utilization is taken against."""

from __future__ import annotations

from roofscope.measured import dominant_peak

BF16_MATRIX = ("bf16 matrix", 989.5e12)  # H100 SXM dense bf16 tensor-core rate
FP32_VECTOR = ("fp32 vector", 67e12)  # H100 SXM fp32 CUDA-core rate


def test_the_peak_of_the_precision_that_did_most_of_the_flops():
    # a bf16 transformer: the matmuls on tensor cores, the norms and activations in fp32 on CUDA cores
    assert dominant_peak({BF16_MATRIX: 9_000, FP32_VECTOR: 1_000}) == BF16_MATRIX
    # a model whose FLOPs are mostly element-wise: its utilization is against the vector rate it ran at
    assert dominant_peak({BF16_MATRIX: 1_000, FP32_VECTOR: 9_000}) == FP32_VECTOR


def test_a_tie_goes_to_the_higher_peak_and_no_flops_to_none():
    assert dominant_peak({FP32_VECTOR: 500, BF16_MATRIX: 500}) == BF16_MATRIX
    assert dominant_peak({}) == (None, None)
