"""Precision names: weights and the KV cache stored apart from the activations, and int4 storage."""

from __future__ import annotations

import pytest
import torch

import roofscope
from roofscope.precision import INT4_GROUP, Precision, parse_precision, storage_nbytes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bf16", Precision("bf16", "bf16", "bf16", "bf16")),
        ("int8-weights", Precision("int8-weights", "bf16", "int8", "bf16")),
        ("w4a16", Precision("int4-weights", "bf16", "int4", "bf16")),
        ("bf16+int4-weights+fp8-kv", Precision("bf16+int4-weights+fp8-kv", "bf16", "int4", "bf16", "fp8")),
        ("fp8+fp8-kv", Precision("fp8", "fp8", "fp8", "fp8")),  # a cache in the activations' own precision is no separate one
        ("tf32+fp8-kv", Precision("tf32+fp8-kv", "fp32", "fp32", "tf32", "fp8")),
    ],
)
def test_names_and_their_round_trip(text: str, expected: Precision) -> None:
    parsed = parse_precision(text)
    assert parsed == expected
    assert parse_precision(parsed.name) == parsed  # a report's JSON names its precision so


def test_weights_and_kv_compose_with_a_base() -> None:
    assert parse_precision("bf16", weights="int4", kv="fp8") == parse_precision("bf16+int4-weights+fp8-kv")
    assert parse_precision("int8-weights", kv="fp8").name == "bf16+int8-weights+fp8-kv"
    assert parse_precision(torch.float16, weights="int8").name == "fp16+int8-weights"
    assert parse_precision("bf16", kv="fp8").kv_cache == "fp8" and parse_precision("bf16").kv_cache == "bf16"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"value": None, "weights": "int4"}, "needs a base precision"),
        ({"value": "bf16", "weights": "int3"}, "unknown weight precision 'int3'"),
        ({"value": "bf16", "kv": "int4"}, "unknown KV-cache precision 'int4'"),
        ({"value": "bf16+int4"}, "unknown part 'int4'"),
        ({"value": "int4"}, "unknown target precision 'int4'"),  # int4 stores weights only
    ],
)
def test_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_precision(**kwargs)


def test_int4_storage_is_half_a_byte_and_a_scale_per_group() -> None:
    assert INT4_GROUP == 128
    assert storage_nbytes(4096 * 4096, "int4") == 4096 * 4096 // 2 + 2 * 4096 * 4096 // 128  # 4.125 bits a weight
    assert storage_nbytes(3, "int4") == 2 + 2  # rounded up to whole bytes and groups
    assert storage_nbytes(10, "fp8") == 10 and storage_nbytes(10, "bf16") == 20


def test_a_linear_layer_with_int4_weights() -> None:
    """Retargeting: a [1, 256] x [256, 512] product reads its bf16 input, its int4 weight with scales,
    and writes bf16."""
    layer = torch.nn.Linear(256, 512, bias=False)
    report = roofscope.analyze(layer, (1, 256), dtype="bf16+int4-weights")
    weight = 256 * 512 // 2 + 2 * 256 * 512 // 128
    assert report.total.bytes_read == 256 * 2 + weight
    assert report.total.bytes_written == 512 * 2
