"""Parallel layouts (``roofscope.llm.parallel``): each figure against a hand count.

llama-2-70b, counted by hand from its config (hidden 8192, 80 layers, 64 heads, 8 KV heads of 128,
MLP 28672, vocabulary 32000, untied):
  embedding = lm_head = 32000 x 8192 = 262,144,000
  per layer: q, o 8192^2 = 67,108,864 each; k, v 1024 x 8192 = 8,388,608 each;
             gate, up, down 28672 x 8192 = 234,881,024 each; sum 855,638,016; x 80 = 68,451,041,280
  norms: (2 x 80 + 1) x 8192 = 1,318,912 (replicated on every GPU)
  params = 2 x 262,144,000 + 68,451,041,280 + 1,318,912 = 68,976,648,192; bf16: 137,953,296,384 B
"""

from __future__ import annotations

import pytest

from roofscope.analysis import AnalysisError
from roofscope.devices import Interconnect, get_device
from roofscope.llm import LLM
from roofscope.llm.parallel import (
    Collective,
    Layout,
    _timed,
    bubble_fraction,
    collective_time,
    ring_members_per_node,
    stage_layers,
    wire_bytes,
    zero_memory,
)

PARAMS_70B = 68_976_648_192
NORMS_70B = 1_318_912
SPLIT_70B = PARAMS_70B - NORMS_70B  # every matrix and table: split over TP


@pytest.fixture(scope="module")
def llama70b() -> LLM:
    return LLM("llama-2-70b", device="h100", dtype="bf16")


def _split(base: LLM, **layout: int) -> LLM:
    """The same model (its built module reused) on another layout. A layout divides the analyses of
    the whole model's steps, which do not depend on it, so the split model shares the base's
    (analysing the 80 layers again for every layout would cost this file a minute)."""
    split = LLM("llama-2-70b", device="h100", dtype="bf16", model=base.model, **layout)
    split._reports = base._reports
    return split


def test_hand_count_of_llama_2_70b(llama70b: LLM) -> None:
    assert llama70b.params == PARAMS_70B
    assert llama70b.weight_bytes == 2 * PARAMS_70B == 137_953_296_384


@pytest.mark.parametrize("tp", [2, 4, 8])
def test_tp_weights_per_gpu_are_the_matrices_over_tp_plus_the_replicated_norms(llama70b: LLM, tp: int) -> None:
    # 2 x 68,975,329,280 = 137,950,658,560 B of matrices and tables, divisible by 2, 4 and 8
    (per_gpu,) = _split(llama70b, tp=tp).weight_bytes_per_gpu()
    assert per_gpu == 137_950_658_560 // tp + 2 * NORMS_70B
    assert {2: 68_977_967_104, 4: 34_490_302_464, 8: 17_246_470_144}[tp] == per_gpu


def test_pp_cuts_the_layers_and_puts_the_embedding_first_and_the_head_last(llama70b: LLM) -> None:
    first, last = _split(llama70b, pp=2).weight_bytes_per_gpu()
    layer = 2 * (855_638_016 + 2 * 8192)  # a layer's matrices and its two norms, bf16
    assert first == 2 * 262_144_000 + 40 * layer  # embedding + layers 0-39
    assert last == 40 * layer + 2 * 8192 + 2 * 262_144_000  # layers 40-79 + final norm + lm_head
    assert [len(r) for r in stage_layers(80, 3)] == [27, 27, 26]


@pytest.mark.parametrize("tp", [2, 4, 8])
def test_tp_decode_has_two_all_reduces_per_layer_of_batch_x_hidden_x_2_bytes(llama70b: LLM, tp: int) -> None:
    summary = _split(llama70b, tp=tp).parallel_summary(batch=8, seq_len=128)
    reduces = [c for c in summary.decode.collectives if c.kind == "all-reduce" and c.where.startswith("after ")]
    assert [c.count for c in reduces] == [1, 80, 80]  # the vocabulary-split embedding, then attention and MLP per layer
    message = 8 * 8192 * 2  # batch x hidden x bf16 = 131,072 B
    for c in reduces:
        assert c.message == message and c.group == tp
        assert c.wire_bytes == 2 * (tp - 1) * message // tp  # ring: 2(n-1)/n: 131,072 / 196,608 / 229,376
        # NVLink 4 on H100 SXM: 450 GB/s per direction, ~1 us per ring step (2(n-1) steps)
        assert c.seconds == pytest.approx(c.count * (2 * (tp - 1) * 1e-6 + c.wire_bytes / 450e9))
    assert summary.decode.count("all-reduce", "TP") == 161
    (gather,) = [c for c in summary.decode.collectives if c.kind == "all-gather"]
    assert gather.message == 8 * 32000 * 2 and gather.wire_bytes == (tp - 1) * 8 * 32000 * 2 // tp


def test_a_predicted_serving_summary_times_its_collectives_at_the_sustained_bandwidth(llama70b: LLM) -> None:
    roofline = _split(llama70b, tp=4).parallel_summary(batch=8, seq_len=128)
    predicted = _split(llama70b, tp=4).parallel_summary(batch=8, seq_len=128, predicted=True)
    assert roofline.interconnect is not None and "(450 GB/s per direction)" in roofline.interconnect
    assert predicted.interconnect is not None and "(370 GB/s sustained per direction)" in predicted.interconnect
    for datasheet, sustained in zip(roofline.decode.collectives, predicted.decode.collectives, strict=True):
        one = collective_time(datasheet.kind, datasheet.message, 4, bandwidth=370e9, latency=1e-6)
        assert sustained.seconds == pytest.approx(datasheet.count * one)
        assert datasheet.seconds == pytest.approx(
            datasheet.count * collective_time(datasheet.kind, datasheet.message, 4, bandwidth=450e9, latency=1e-6)
        )


def test_tp_kv_cache_heads_split_and_step_time_adds_the_collectives(llama70b: LLM) -> None:
    summary = _split(llama70b, tp=4).parallel_summary(batch=1, seq_len=2048)
    # KV: 80 layers x (K + V) x 8 heads x 128 x 2 B = 327,680 B per token; 2048 tokens; 8 heads over 4 GPUs
    assert summary.memory.kv_cache == 327_680 * 2048 // 4 == 167_772_160
    assert summary.memory.weights == 34_490_302_464 and summary.memory.fits
    decode = summary.decode
    assert decode.seconds == pytest.approx(decode.compute_s + decode.collective_s)
    assert 0 < decode.collective_share < 0.5
    assert summary.tokens_per_second == pytest.approx(1 / decode.seconds)
    assert summary.tokens_per_second_per_gpu == pytest.approx(summary.tokens_per_second / 4)


def test_pp_serving_latency_is_the_sum_of_the_stages_plus_p_minus_1_sends(llama70b: LLM) -> None:
    single = llama70b.decode_time(batch=8, context=128)
    summary = _split(llama70b, pp=4).parallel_summary(batch=8, seq_len=128)
    assert summary.decode.compute_s == pytest.approx(single)  # a token passes all 4 stages in turn
    (send,) = summary.decode.collectives
    assert (send.kind, send.count, send.message) == ("send-recv", 3, 8 * 8192 * 2)  # batch x hidden x bf16
    assert send.seconds == pytest.approx(3 * (1e-6 + 131_072 / 450e9))


def test_ring_factors_and_collective_time() -> None:
    assert wire_bytes("all-reduce", 1000, 4) == 1500  # 2 x 3/4
    assert wire_bytes("all-gather", 1000, 4) == wire_bytes("reduce-scatter", 1000, 4) == 750  # 3/4
    assert wire_bytes("all-to-all", 800, 8) == 700
    assert wire_bytes("send-recv", 1000, 2) == 1000
    assert wire_bytes("all-reduce", 1000, 1) == 0
    # 6 steps x 1 us + 1500 B / 1e9 B/s = 7.5 us
    assert collective_time("all-reduce", 1000, 4, bandwidth=1e9, latency=1e-6) == pytest.approx(7.5e-6)


def test_1f1b_bubble() -> None:
    assert bubble_fraction(4, 8) == 3 / 11  # (p - 1) / (m + p - 1) = 3 / (8 + 3)
    assert bubble_fraction(1, 8) == 0.0
    assert bubble_fraction(8, 1) == 7 / 8


def test_zero_memory_per_gpu() -> None:
    """Rajbhandari et al. 2020: 2 B fp16 params + 2 B grads + 12 B Adam (fp32 master, m, v)."""
    psi = 7_000_000_000
    assert zero_memory(psi, 8, 0).total == 16 * psi == 112_000_000_000
    assert zero_memory(psi, 8, 1).total == 4 * psi + 12 * psi // 8 == 38_500_000_000
    assert zero_memory(psi, 8, 2).total == 2 * psi + 14 * psi // 8 == 26_250_000_000
    assert zero_memory(psi, 8, 3).total == 16 * psi // 8 == 14_000_000_000


def test_zero_3_on_a_tp_8_dp_4_layout(llama70b: LLM) -> None:
    memory = _split(llama70b, tp=8, dp=4).training_memory(zero=3)
    assert memory.params == SPLIT_70B // 8 + NORMS_70B == 8_623_235_072
    assert memory.total == 16 * (8_623_235_072 // 4) == 34_492_940_288
    assert memory.fits  # 34.5 GB of the H100's 80 GB, activations aside
    assert _split(llama70b, tp=8, dp=4).training_memory(zero=0).fits is False  # 16 x 8,623,235,072 = 138 GB


def test_layouts_the_model_cannot_take(llama70b: LLM) -> None:
    with pytest.raises(AnalysisError, match="64 attention heads"):
        _split(llama70b, tp=3)
    with pytest.raises(AnalysisError, match="positive integer"):
        _split(llama70b, tp=0)
    with pytest.raises(AnalysisError, match="no routed experts"):
        _split(llama70b, tp=2, ep=2)
    with pytest.raises(AnalysisError, match="at least 81"):
        _split(llama70b, pp=81)
    with pytest.raises(AnalysisError, match="must divide tp x dp"):
        Layout(tp=2, ep=4)


def test_ep_spreads_the_experts_and_adds_two_all_to_alls_per_moe_layer(tiny_mixtral) -> None:
    single, split = tiny_mixtral(device="h100", dtype="bf16"), tiny_mixtral(device="h100", dtype="bf16", tp=4, ep=4)
    expert = 3 * 64 * 96  # gate, up, down of one expert
    (whole,) = single.weight_bytes_per_gpu()
    (per_gpu,) = split.weight_bytes_per_gpu()
    # experts: 2 layers x 8 experts, 2 of the 8 on each GPU; the rest (attention, tables) over TP 4,
    # norms (5 x 64) and routers (2 x 8 x 64) replicated
    replicated = 2 * (5 * 64 + 2 * 8 * 64)
    experts = 2 * 2 * 8 * expert
    assert per_gpu == experts // 4 + (whole - experts - replicated) // 4 + replicated
    summary = split.parallel_summary(batch=2, seq_len=16)
    dispatch, combine = [c for c in summary.decode.collectives if c.kind == "all-to-all"]
    assert dispatch.count == combine.count == 2 and dispatch.group == 4
    assert dispatch.message == 2 * 2 * 64 * 2  # tokens x top_k x hidden x bf16
    assert dispatch.wire_bytes == 3 * dispatch.message // 4
    with pytest.raises(AnalysisError, match="must divide the 8 routed experts"):
        tiny_mixtral(tp=2, dp=3, ep=6)


def test_point_to_point_links_give_a_group_the_links_between_its_gpus() -> None:
    """MI325X: 7 Infinity Fabric links of 64 GB/s per direction, one to each other GPU of 8; a
    TP group of g GPUs all-reduces over its g - 1 links, not the 448 GB/s of all 7."""
    fabric = get_device("mi325x").interconnect
    assert fabric is not None and fabric.point_to_point_links == 7 and fabric.link_bandwidth == 448e9
    assert [fabric.group_bandwidth(g) for g in (2, 4, 8)] == [64e9, 192e9, 448e9]
    assert get_device("h100").interconnect.group_bandwidth(2) == 450e9  # type: ignore[union-attr]  # NVSwitch: every GPU at full speed
    message = 8 * 8192 * 2  # a decode step of batch 8, hidden 8192, bf16
    collective = Collective("all-reduce", "TP", "outputs", 1, 2, message)
    timed = _timed(collective, fabric, crosses_nodes=False)
    assert timed.seconds == pytest.approx(collective_time("all-reduce", message, 2, bandwidth=64e9, latency=1e-6))
    with pytest.raises(AnalysisError, match="no network figures"):
        _timed(collective, fabric, crosses_nodes=True)


def test_interconnect_figures_have_sources() -> None:
    h100 = get_device("h100").interconnect
    assert h100 is not None and h100.link_bandwidth == 450e9 and h100.network_bandwidth == 50e9 and h100.gpus_per_node == 8
    assert get_device("a100").interconnect.link_bandwidth == 300e9  # type: ignore[union-attr]
    assert get_device("h200").interconnect.link_bandwidth == 450e9  # type: ignore[union-attr]
    assert get_device("h100-pcie").interconnect.link_bandwidth == 64e9  # type: ignore[union-attr]
    assert get_device("b200").interconnect.link_bandwidth == 900e9  # type: ignore[union-attr]  # NVLink 5: 1.8 TB/s both ways
    assert get_device("h20").interconnect.link_bandwidth == 450e9  # type: ignore[union-attr]  # AIConfigurator's intra_node_bw
    assert get_device("mi300x").interconnect is None
    for figure in ("link_bandwidth", "link_latency", "network_bandwidth", "network_latency", "gpus_per_node"):
        assert len(h100.source(figure)) > 20, figure


@pytest.mark.parametrize(
    ("zero", "kinds"),
    [(0, [("all-reduce", 1)]), (1, [("reduce-scatter", 1), ("all-gather", 1)]), (3, [("reduce-scatter", 1), ("all-gather", 2)])],
)
def test_training_collectives(llama70b: LLM, zero: int, kinds: list[tuple[str, int]]) -> None:
    llm = _split(llama70b, tp=8, pp=2, dp=4)
    found = llm.training_collectives(zero=zero, micro_batch=1, seq_len=4096, micro_batches=8)
    by_kind = {(c.parallelism, c.kind): c for c in found}
    activations = 4096 * 8192 * 2  # micro-batch x seq x hidden x bf16 = 67,108,864 B
    tp = by_kind[("TP", "all-reduce")]
    assert (tp.count, tp.message, tp.group) == (4 * 80 * 8, activations, 8)  # 2 forward + 2 backward per layer and micro-batch
    pp = by_kind[("PP", "send-recv")]
    assert (pp.count, pp.message) == (2 * 1 * 8, activations)  # 2 (p - 1) per micro-batch
    # DP: the fullest stage's parameters at TP 8: stage 1 (layers 40-79, final norm, lm_head)
    psi = (40 * 855_638_016 + 262_144_000) // 8 + 81 * 8192
    assert [(c.kind, c.count) for c in found if c.parallelism == "DP"] == kinds
    assert all(c.message == 2 * psi and c.group == 4 for c in found if c.parallelism == "DP")
    # TP x DP = 32 GPUs > 8 per node: DP crosses nodes, on InfiniBand NDR (50 GB/s, 1.6 us a step); TP stays on NVLink
    dp = next(c for c in found if c.parallelism == "DP")
    assert dp.link is not None and dp.link.startswith("InfiniBand") and tp.link == "NVLink 4 through NVSwitch"
    steps = 2 * 3 if dp.kind == "all-reduce" else 3
    assert dp.seconds == pytest.approx(dp.count * (steps * 1.6e-6 + dp.wire_bytes / 50e9))


def test_sustained_figures_are_nccls_measured_bus_bandwidths() -> None:
    """The predicted collectives run at what NCCL's rings were measured to reach (sources in the
    catalog's notes): 8 A100 on NVLink 3, 231 GB/s of 300; 2 nodes x 8 A100 on 8 HDR ports each,
    188 GB/s, 23.5 a port; NVLink 4 (H100, H200, H20) 370 of 450; NDR 47 of 50 a port."""
    a100, h100 = get_device("a100").interconnect, get_device("h100").interconnect
    assert a100 is not None and h100 is not None
    assert (a100.link_rate(), a100.link_rate(sustained=True)) == (300e9, 231e9)
    assert (a100.network_rate(), a100.network_rate(sustained=True)) == (25e9, 23.5e9)
    assert (h100.link_rate(sustained=True), h100.network_rate(sustained=True)) == (370e9, 47e9)
    for name in ("h200", "h20"):
        assert get_device(name).interconnect.sustained_link_bandwidth == 370e9  # type: ignore[union-attr]
    assert get_device("b200").interconnect.sustained_link_bandwidth is None  # type: ignore[union-attr]  # none published: the datasheet
    for figure in ("sustained_link_bandwidth", "sustained_network_bandwidth"):
        assert "nccl" in a100.source(figure).lower() and "nccl" in h100.source(figure).lower()
    # a ring across nodes crosses on one port per member GPU in a node, up to the link inside it
    assert a100.ring_network_bandwidth(8, sustained=True) == pytest.approx(188e9)  # measured: 188.18 at 4 GB
    assert a100.ring_network_bandwidth(1, sustained=True) == 23.5e9
    assert a100.ring_network_bandwidth(8) == 200e9  # datasheet: 8 x 25
    assert h100.ring_network_bandwidth(16) == 450e9  # never beyond the NVLink inside the node
    gaudi3 = get_device("gaudi3").interconnect  # point-to-point links: 2 GPUs of a node share one pair's 75 GB/s
    assert gaudi3 is not None and gaudi3.ring_network_bandwidth(2) == 75e9 < 2 * gaudi3.network_rate()  # type: ignore[operator]
    with pytest.raises(ValueError, match="exceeds its datasheet"):
        Interconnect("a link", 100e9, 1e-6, 8, sustained_link_bandwidth=200e9)
    # a 1 GB all-reduce over 8 A100: 14 steps of 1.2 us + 2 x 7/8 GB at 231 GB/s, the measured 231.45 GB/s bus bandwidth
    collective = Collective("all-reduce", "DP", "the gradients", 1, 8, 2**30)
    assert _timed(collective, a100, crosses_nodes=False, sustained=True).seconds == pytest.approx(14 * 1.2e-6 + 1.75 * 2**30 / 231e9)
    assert _timed(collective, a100, crosses_nodes=False).seconds == pytest.approx(14 * 1.2e-6 + 1.75 * 2**30 / 300e9)
    # all-to-all and send-recv across nodes go point to point: one port per GPU, whatever the group
    exchange = Collective("all-to-all", "EP", "dispatch", 1, 16, 2**20)
    one_port = collective_time("all-to-all", 2**20, 16, bandwidth=25e9, latency=1.2e-6)
    assert _timed(exchange, a100, crosses_nodes=True, members_per_node=8).seconds == pytest.approx(one_port)


def test_a_ring_crosses_nodes_on_the_fewest_ports_any_node_gives_it() -> None:
    """Ranks TP first, then DP: a TP group is consecutive ranks, a DP group every TP-th one."""
    assert ring_members_per_node(1, 32, 8) == 8  # DP 32 at TP 1: whole nodes
    assert ring_members_per_node(2, 16, 8) == 4  # DP 16 at TP 2: 4 of a node's 8
    assert ring_members_per_node(8, 4, 8) == 1  # DP at TP 8: one GPU a node, one port
    assert ring_members_per_node(1, 8, 4) == 4  # TP 8 on nodes of 4
    assert ring_members_per_node(1, 12, 8) == 4  # 8 in the first node, 4 in the second: 4 ports
    assert ring_members_per_node(3, 4, 8) == 1  # TP 3 x DP 4: ranks 0, 3, 6 | 9


def test_nodes_place_the_tp_group_across_servers(llama70b: LLM) -> None:
    # TP 8 on 2 nodes of 4: the TP group crosses them, its all-reduces run on InfiniBand NDR (50 GB/s
    # a port); 4 of its GPUs in each node, NCCL's rings cross on 4 ports: 200 GB/s
    summary = _split(llama70b, tp=8, nodes=2).parallel_summary(batch=8, seq_len=128)
    attention = next(c for c in summary.decode.collectives if c.where.startswith("after attention"))
    assert attention.link is not None and attention.link.startswith("InfiniBand") and summary.nodes == 2
    assert attention.seconds == pytest.approx(80 * (2 * 7 * 1.6e-6 + attention.wire_bytes / 200e9))
    with pytest.raises(AnalysisError, match="must divide the layout's 8 GPUs"):
        _split(llama70b, tp=8, nodes=3)
    with pytest.raises(AnalysisError, match="a node holds 8"):
        _split(llama70b, tp=8, dp=2, nodes=1).parallel_summary(batch=1, seq_len=128)


def test_an_encoder_decoder_is_not_split() -> None:
    with pytest.raises(AnalysisError, match="encoder-decoder"):
        LLM("t5-small", tp=2)
