"""A tiny Llama parallelised with torch's own tensor parallelism (DTensor, ``parallelize_module``)
on a fake process group of 8, analysed by roofscope's capture: its ``_c10d_functional`` collectives
and its per-GPU MACs are the layout model's (``roofscope.llm.parallel``) for the same plan."""

from __future__ import annotations

import pytest
import torch

import roofscope
from roofscope.llm import LLM
from roofscope.llm.parallel import Layout, Split

dist = pytest.importorskip("torch.distributed")
if not dist.is_available():  # pragma: no cover - a torch built without distributed
    pytest.skip("torch.distributed is not available", allow_module_level=True)

TP = 8


@pytest.fixture
def fake_group():
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=TP)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _megatron_plan() -> dict[str, object]:
    from torch.distributed.tensor import Replicate
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel

    plan: dict[str, object] = {
        "model.embed_tokens": RowwiseParallel(input_layouts=Replicate()),  # split over the vocabulary
        "lm_head": ColwiseParallel(output_layouts=Replicate()),  # vocabulary-split logits, gathered
    }
    for name in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.up_proj"):
        plan[f"model.layers.*.{name}"] = ColwiseParallel()
    for name in ("self_attn.o_proj", "mlp.down_proj"):
        plan[f"model.layers.*.{name}"] = RowwiseParallel()
    return plan


def test_dtensor_collectives_are_the_layout_models(tiny_llama_config, fake_group) -> None:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.parallel import parallelize_module

    # 8 heads and 8 KV heads of 8, so that each of the 8 GPUs holds one; MLP 128 (16 a GPU), vocabulary 1000 (125)
    llm = LLM(tiny_llama_config(num_attention_heads=8, num_key_value_heads=8))
    inputs = {"input_ids": torch.zeros(1, 16, dtype=torch.long, device="meta"), "use_cache": True}
    whole = roofscope.analyze(llm.model, inputs)
    split = Split(llm, Layout(tp=TP))
    parallelize_module(llm.model, init_device_mesh("cpu", (TP,)), _megatron_plan())
    report = roofscope.analyze(llm.model, inputs)

    reduces = [r for r in report.ops if r.event.op == "_c10d_functional.all_reduce"]
    gathers = [r for r in report.ops if r.event.op == "_c10d_functional.all_gather_into_tensor"]
    # the embedding's, then after attention and after the MLP in each of the 2 layers: 16 tokens x 64 x 2 B = 2,048 B
    assert len(reduces) == 5 and all(r.cost is not None and r.cost.bytes_read == r.cost.bytes_written == 2048 for r in reduces)
    # the logits of all 16 tokens gathered: 16 x 1000 x 2 B = 32,000 B written, 4,000 B (one GPU's 125 columns) read
    (gather,) = gathers
    assert gather.cost is not None and (gather.cost.bytes_read, gather.cost.bytes_written) == (4000, 32000)

    model = {(c.kind, c.where): c for c in split.collectives(16, logits_tokens=16, interconnect=None)}
    expected = sum(c.count for c in model.values() if c.kind == "all-reduce")
    assert expected == len(reduces) and {c.message for c in model.values() if c.kind == "all-reduce"} == {2048}
    assert model[("all-gather", "the vocabulary-split logits")].message == gather.cost.bytes_written

    # the per-GPU work: every matmul and attention MAC of the capture of rank 0 is the single-GPU one / 8
    ((per_gpu, _),) = split.step_per_stage(whole)
    assert report.total.macs == per_gpu.macs == whole.total.macs // TP


class _Collectives(torch.nn.Module):
    """Each functional collective once, on a 16 x 64 fp32 tensor (4,096 B)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ops, group = torch.ops._c10d_functional, dist.group.WORLD.group_name
        reduced = ops.wait_tensor(ops.all_reduce(x, "sum", group))
        gathered = ops.wait_tensor(ops.all_gather_into_tensor(reduced, TP, group))
        scattered = ops.wait_tensor(ops.reduce_scatter_tensor(gathered, "sum", TP, group))
        return ops.wait_tensor(ops.all_to_all_single(scattered, [2] * TP, [2] * TP, group))


def test_collective_formulas_by_hand(fake_group) -> None:
    report = roofscope.analyze(_Collectives(), (torch.zeros(16, 64),), fake=False)
    costs = {r.event.op.removeprefix("_c10d_functional."): r.cost for r in report.ops if r.event.op.startswith("_c10d_functional.")}
    assert costs["all_reduce"].bytes_read == costs["all_reduce"].bytes_written == 4096  # type: ignore[union-attr]
    assert (costs["all_gather_into_tensor"].bytes_read, costs["all_gather_into_tensor"].bytes_written) == (4096, 8 * 4096)  # type: ignore[union-attr]
    assert (costs["reduce_scatter_tensor"].bytes_read, costs["reduce_scatter_tensor"].bytes_written) == (8 * 4096, 4096)  # type: ignore[union-attr]
    assert (costs["all_to_all_single"].bytes_read, costs["all_to_all_single"].bytes_written) == (4096, 4096)  # type: ignore[union-attr]
    assert costs["wait_tensor"].bytes == 0 and all(c.flops == 0 for c in costs.values())  # type: ignore[union-attr]
    assert report.complete
