"""Packed (variable-length) attention counted per sequence, and nested jagged tensors.

torch's test_flop_counter.py, test_nested_attention_fake_tensors: 123 packed tokens in 4 sequences
(offsets 0, 30, 60, 90, 123, at most 40 long), 4 heads of 16, through _flash_attention_forward on
fake tensors, count as a dense [4, 40, 4, 16] batch: 1,638,400 FLOPs of products (FlopCounterMode
counts 2 per MAC). Offsets without values (meta, fake) are taken at the longest length, so the same
figure holds here for flash and efficient attention; counted as one sequence of 123 it would be
3,873,024."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import roofscope
from roofscope.events import OpEvent, TensorMeta
from roofscope.formulas import default_formulas

OFFSETS = (0, 30, 60, 90, 123)
HEADS, DIM = 4, 16


def attention_macs(query_lengths, key_lengths) -> int:
    return sum(HEADS * lq * lk * 2 * DIM for lq, lk in zip(query_lengths, key_lengths))


class Flash(nn.Module):
    def forward(self, x, offsets):
        return torch.ops.aten._flash_attention_forward(x, x, x, offsets, offsets, 40, 40, 0.0, False, False)[0]


class Efficient(nn.Module):
    def forward(self, x, offsets):
        return torch.ops.aten._efficient_attention_forward(x, x, x, None, offsets, offsets, 40, 40, 0.0, 0)[0]


@pytest.mark.parametrize(("module", "layout"), [(Flash, (123, HEADS, DIM)), (Efficient, (1, 123, HEADS, DIM))], ids=["flash", "efficient"])
def test_torch_nested_attention_fake_tensors_expectation(module, layout) -> None:
    x = torch.randn(layout, dtype=torch.bfloat16, device="meta")
    offsets = torch.tensor(OFFSETS, device="meta")
    report = roofscope.analyze(module(), (x, offsets))
    assert report.uncounted == {}
    assert report.total.matmul_flops == 1_638_400  # torch's expectation, = 4 sequences x 40 x 40
    dense = torch.randn(4, 40, HEADS, DIM, dtype=torch.bfloat16, device="meta")
    dense_report = roofscope.analyze(module(), (dense, None))
    assert dense_report.total.matmul_flops == 1_638_400


def packed_event(op: str, values: tuple[int, ...] | None) -> OpEvent:
    query = TensorMeta((123, HEADS, DIM), (HEADS * DIM, DIM, 1), torch.bfloat16)
    offsets = TensorMeta((5,), (1,), torch.int64, values=values)
    if op == "aten._flash_attention_forward":
        args = (query, query, query, offsets, offsets, 40, 40, 0.0, False, False)
    else:
        query = TensorMeta((1, *query.shape), (0, *query.stride), torch.bfloat16)
        args = (query, query, query, None, offsets, offsets, 40, 40, 0.0, 0)
    return OpEvent(op, "default", args, {}, (query,), "")


@pytest.mark.parametrize("op", ["aten._flash_attention_forward", "aten._efficient_attention_forward"])
def test_offsets_with_values_count_each_sequence_exactly(op: str) -> None:
    """Real offsets (recorded with their values on CPU and CUDA): lengths 30, 30, 30, 33."""
    formula = default_formulas().get(op)
    lengths = (30, 30, 30, 33)
    assert formula(packed_event(op, OFFSETS)).macs == attention_macs(lengths, lengths) == 484_992
    assert formula(packed_event(op, None)).macs == attention_macs((40,) * 4, (40,) * 4)


def test_packed_backward_counts_per_sequence() -> None:
    query = TensorMeta((123, HEADS, DIM), (HEADS * DIM, DIM, 1), torch.bfloat16)
    offsets = TensorMeta((5,), (1,), torch.int64, values=OFFSETS)
    args = (query, query, query, query, query, query, offsets, offsets, 40, 40, 0.0, False, query, query)
    cost = default_formulas().get("aten._flash_attention_backward")(
        OpEvent("aten._flash_attention_backward", "default", args, {}, (query,) * 3, "")
    )
    assert cost.macs == 2 * attention_macs((30, 30, 30, 33), (30, 30, 30, 33))


def nested(values: torch.Tensor, offsets=OFFSETS) -> torch.Tensor:
    return torch.nested.nested_tensor_from_jagged(values, torch.tensor(offsets))


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors is in prototype stage")  # torch's own math path
def test_nested_jagged_attention_is_counted_per_sequence() -> None:
    class Attention(nn.Module):
        def forward(self, q):
            return F.scaled_dot_product_attention(q, q, q)

    q = nested(torch.randn(123, HEADS * DIM)).view(4, -1, HEADS, DIM).transpose(1, 2)
    report = roofscope.analyze(Attention(), (q,))
    lengths = (30, 30, 30, 33)
    assert report.uncounted == {}
    assert report.total.macs == attention_macs(lengths, lengths)
    assert report.inputs[0].startswith("float32[4, 4, j") and report.inputs[0].endswith(", 16]")  # the ragged size reads jN


def test_nested_jagged_tensor_through_a_model() -> None:
    """A nested input and a nested tensor made inside the forward: linear and relu over the 10
    packed rows, by hand 10 * 16 * 8 MACs, 2 MACs + 80 (bias) + 80 (relu) FLOPs."""

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(16, 8)

        def forward(self, x):
            if not x.is_nested:
                x = nested(x, (0, 3, 10))
            return self.fc(x).relu()

    for inputs in ((nested(torch.randn(10, 16), (0, 3, 10)),), (10, 16)):
        report = roofscope.analyze(Model(), inputs)
        assert report.uncounted == {}
        assert (report.total.macs, report.total.flops) == (1280, 2 * 1280 + 80 + 80)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_packed_flash_attention_on_cuda_counts_the_real_lengths() -> None:
    x = torch.randn(123, HEADS, DIM, dtype=torch.bfloat16, device="cuda")
    offsets = torch.tensor(OFFSETS, device="cuda", dtype=torch.int32)
    report = roofscope.analyze(Flash(), (x, offsets))
    assert report.total.macs == attention_macs((30, 30, 30, 33), (30, 30, 30, 33))
