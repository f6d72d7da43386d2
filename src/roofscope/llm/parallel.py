"""Beyond one GPU: a transformer split over tensor (TP), pipeline (PP), expert (EP) and data (DP)
parallel GPUs, what each GPU holds and does, and the collectives the split implies.

A ``Layout`` is TP x PP x DP GPUs (EP spreads the routed experts over GPUs of a stage's TP x DP
group). The split of the weights is Megatron-LM's: attention's q/k/v and the MLP's up/gate are
split by columns (output features), o_proj and down by rows (input features), so each GPU holds
1/TP of every such matrix; the embedding table and the output projection are split over the
vocabulary; norms, routers and the low-rank projections of latent attention are replicated; the
routed experts are spread over EP GPUs (over TP when EP is 1); the layers are cut into PP stages of
consecutive layers, the embedding in the first, the final norm and output projection in the last.

The per-GPU work of a step is the single-GPU step's ops (``LLM.prefill``, ``LLM.decode``), each
divided by the split of the module that runs it, and each stage's ops kept apart. The collectives
are counted from the layout (``collectives``), each timed on the interconnect's own roofline:
latency x steps + bytes on the wire / the link's bandwidth per direction. docs/conventions.md,
"Parallelism", holds every formula and factor.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from typing import TYPE_CHECKING, Any

import torch

from roofscope.analysis import AnalysisError
from roofscope.cost import Cost
from roofscope.devices import Device, Interconnect
from roofscope.llm.results import MemoryFootprint
from roofscope.report import Report
from roofscope.report.views import StepTimeViews

if TYPE_CHECKING:
    from roofscope.llm.model import LLM

__all__ = [
    "COLLECTIVE_KINDS",
    "Collective",
    "Layout",
    "ParallelStep",
    "ParallelSummary",
    "Split",
    "TrainingMemory",
    "TrainingStepEstimate",
    "bubble_fraction",
    "check_layout",
    "collective_steps",
    "collective_time",
    "layer_index",
    "optimizer_bytes",
    "placed",
    "ring_members_per_node",
    "serving",
    "stage_layers",
    "training_collectives",
    "training_step_time",
    "wire_bytes",
    "zero_memory",
]

#: Linear layers split by output features (each GPU computes a slice of the outputs).
COLUMN = frozenset(
    {"q_proj", "k_proj", "v_proj", "qkv_proj", "query_key_value", "c_attn", "q_b_proj", "kv_b_proj", "gate_proj", "up_proj"}
    | {"gate_up_proj", "fc1", "w1", "w3", "c_fc", "dense_h_to_4h", "wi", "wi_0", "wi_1", "query", "key", "value"}
)
#: Linear layers split by input features (each GPU holds partial sums, summed by an all-reduce).
ROW = frozenset({"o_proj", "out_proj", "down_proj", "fc2", "w2", "c_proj", "dense_4h_to_h", "wo", "dense"})
#: Modules whose own ops (rotary embedding, attention, activations) run on the GPU's heads or slice.
_SPLIT_BLOCKS = frozenset({"self_attn", "attention", "attn", "self_attention", "mlp", "feed_forward", "ffn", "act_fn", "act"})
_LAYER = re.compile(r"(?:^|\.)(?:layers|h|layer|blocks)\.(\d+)(?:\.|$)")

#: Collective kinds: steps of the ring (or pairwise exchange) and the wire factor on the message.
COLLECTIVE_KINDS = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "send-recv")


@dataclasses.dataclass(frozen=True)
class Layout:
    """TP x PP x DP GPUs; ``ep`` GPUs share a stage's routed experts (1: none spread); ``nodes``:
    the servers they are spread over, as many GPUs in each (0: as few as the device's servers hold)."""

    tp: int = 1
    pp: int = 1
    ep: int = 1
    dp: int = 1
    nodes: int = 0

    def __post_init__(self) -> None:
        for name in ("tp", "pp", "ep", "dp"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise AnalysisError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.nodes, int) or self.nodes < 0:
            raise AnalysisError(f"nodes must be a positive integer, got {self.nodes!r}")
        if self.nodes and self.gpus % self.nodes:
            raise AnalysisError(f"nodes={self.nodes} must divide the layout's {self.gpus} GPUs (as many in each node)")
        if self.ep > 1 and (self.tp * self.dp) % self.ep:
            raise AnalysisError(
                f"ep={self.ep} must divide tp x dp = {self.tp * self.dp}: the experts of a stage spread over its TP x DP GPUs"
            )

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp

    @property
    def single(self) -> bool:
        return self.gpus == 1

    def describe(self) -> str:
        text = f"TP {self.tp} x PP {self.pp} x DP {self.dp}"
        return text + (f", EP {self.ep}" if self.ep > 1 else "")

    def to_dict(self) -> dict[str, int]:
        return {"tp": self.tp, "pp": self.pp, "ep": self.ep, "dp": self.dp, "gpus": self.gpus, "nodes": self.nodes}


def placed(interconnect: Interconnect | None, layout: Layout) -> Interconnect | None:
    """The interconnect as the layout is placed: with ``layout.nodes`` given, gpus / nodes GPUs in
    each node (no more than a node of the device holds)."""
    if interconnect is None or not layout.nodes:
        return interconnect
    per_node = layout.gpus // layout.nodes
    if per_node > interconnect.gpus_per_node:
        raise AnalysisError(
            f"{layout.gpus} GPUs on {layout.nodes} node{'s' if layout.nodes > 1 else ''} is {per_node} a node; a node holds {interconnect.gpus_per_node}"
        )
    return dataclasses.replace(interconnect, gpus_per_node=per_node)


def stage_layers(num_layers: int, pp: int) -> list[range]:
    """The layers of each pipeline stage: consecutive, the first ``num_layers % pp`` stages one more."""
    if pp > num_layers:
        raise AnalysisError(f"pp={pp} stages need at least {pp} layers; the model has {num_layers}")
    base, extra = divmod(num_layers, pp)
    stages, start = [], 0
    for stage in range(pp):
        size = base + (1 if stage < extra else 0)
        stages.append(range(start, start + size))
        start += size
    return stages


def bubble_fraction(stages: int, micro_batches: int, interleave: int = 1) -> float:
    """1F1B pipeline bubble: the idle share of a training step, (p - 1) / (m + p - 1) (Narayanan et
    al. 2021, "Efficient Large-Scale Language Model Training on GPU Clusters Using Megatron-LM");
    with the interleaved schedule of ``interleave`` = v model chunks per GPU the bubble is v times
    shorter: (p - 1) / (v m + p - 1)."""
    if stages < 1 or micro_batches < 1 or interleave < 1:
        raise AnalysisError("stages, micro-batches and model chunks per GPU must be positive")
    return (stages - 1) / (interleave * micro_batches + stages - 1)


# -- collectives --------------------------------------------------------------------------------


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def wire_bytes(kind: str, message: int, group: int) -> int:
    """Bytes each GPU sends for one collective over ``group`` GPUs on a ``message`` of bytes (the
    full tensor: the all-reduced one, the gathered output, the scattered input, all a GPU's
    all-to-all input): ring all-reduce 2(n-1)/n, all-gather, reduce-scatter and all-to-all (n-1)/n,
    send-recv 1; rounded up to a byte."""
    if kind not in COLLECTIVE_KINDS:
        raise AnalysisError(f"unknown collective {kind!r}; known: {', '.join(COLLECTIVE_KINDS)}")
    if kind == "send-recv":
        return message
    if group <= 1:
        return 0
    factor = 2 * (group - 1) if kind == "all-reduce" else group - 1
    return _ceil_div(factor * message, group)


def collective_steps(kind: str, group: int) -> int:
    """Latency steps of one collective: a ring all-reduce 2(n-1) (reduce-scatter then all-gather),
    all-gather, reduce-scatter and all-to-all n-1, send-recv 1."""
    if kind == "send-recv":
        return 1
    if group <= 1:
        return 0
    return 2 * (group - 1) if kind == "all-reduce" else group - 1


def collective_time(kind: str, message: int, group: int, *, bandwidth: float, latency: float) -> float:
    """Seconds of one collective on the interconnect's roofline: latency x steps + wire bytes / the
    link's bandwidth per GPU and direction."""
    return collective_steps(kind, group) * latency + wire_bytes(kind, message, group) / bandwidth


@dataclasses.dataclass(frozen=True)
class Collective:
    """``count`` collectives of one kind over ``group`` GPUs per step, each on ``message`` bytes;
    ``link``: the interconnect they cross ("NVLink 4 through NVSwitch", "InfiniBand NDR ...");
    ``seconds``: all ``count`` of them (None without an interconnect)."""

    kind: str
    parallelism: str  # "TP", "EP", "PP", "DP"
    where: str  # what it carries: "after attention", "after the MLP", ...
    count: int
    group: int
    message: int
    link: str | None = None
    seconds: float | None = None

    @property
    def wire_bytes(self) -> int:
        """Bytes each GPU sends for one of them."""
        return wire_bytes(self.kind, self.message, self.group)

    @property
    def total_wire_bytes(self) -> int:
        return self.count * self.wire_bytes

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "wire_bytes": self.wire_bytes, "total_wire_bytes": self.total_wire_bytes}


#: Collectives NCCL runs as rings (one per network port across nodes); all-to-all and send-recv
#: go point to point, each GPU on its own port.
RING_KINDS = ("all-reduce", "all-gather", "reduce-scatter")


def _timed(
    collective: Collective, interconnect: Interconnect | None, *, crosses_nodes: bool, members_per_node: int = 1, sustained: bool = False
) -> Collective:
    """``collective`` with its time on ``interconnect``: inside a node on the link, across nodes on
    the network (a ring with ``members_per_node`` of its GPUs in each node on as many ports);
    ``sustained``: at the measured bus bandwidths where the catalog has them (the predicted time),
    else at the datasheet's (the roofline)."""
    if interconnect is None:
        return collective
    if crosses_nodes:
        members = members_per_node if collective.kind in RING_KINDS else 1
        bandwidth = interconnect.ring_network_bandwidth(members, sustained=sustained)
        if bandwidth is None:
            raise AnalysisError(
                f"no network figures between nodes of {interconnect.link}: a collective across nodes cannot be timed; "
                f"keep the layout within {interconnect.gpus_per_node} GPUs"
            )
        latency = interconnect.network_latency_s or interconnect.link_latency_s
        link = interconnect.network
    else:
        bandwidth = interconnect.group_bandwidth(collective.group, sustained=sustained)
        latency, link = interconnect.link_latency_s, interconnect.link
    one = collective_time(collective.kind, collective.message, collective.group, bandwidth=bandwidth, latency=latency)
    return dataclasses.replace(collective, link=link, seconds=collective.count * one)


def ring_members_per_node(stride: int, count: int, per_node: int) -> int:
    """The fewest GPUs of a group in any node it spans, which sets how many ports its rings cross
    on: the group is ranks 0, stride, 2 x stride, ... (``count`` of them) and each node holds
    ``per_node`` consecutive ranks. Ranks are ordered TP first, then DP (Megatron-LM's order), so a
    TP group has stride 1 and a DP group stride TP."""
    members = collections.Counter(position * stride // per_node for position in range(count))
    return min(members.values()) if members else 1


# -- results ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ParallelStep:
    """One prefill or decode step on the layout, per GPU: ``flops`` and ``bytes`` of the busiest
    stage's GPU, ``compute_s`` the roofline time (or the predicted kernel time) of every stage's ops
    in turn (a token passes all stages), ``collectives`` those of one step of one replica,
    ``seconds`` = compute_s + their time (not overlapped)."""

    tokens: int  # of one replica
    flops: int
    bytes: int
    compute_s: float | None
    collectives: tuple[Collective, ...]

    @property
    def collective_s(self) -> float | None:
        times = [c.seconds for c in self.collectives]
        return None if any(t is None for t in times) else sum(t for t in times if t is not None)

    @property
    def seconds(self) -> float | None:
        collective = self.collective_s
        return None if self.compute_s is None or collective is None else self.compute_s + collective

    @property
    def collective_share(self) -> float | None:
        """The collectives' share of the step time."""
        seconds, collective = self.seconds, self.collective_s
        return None if not seconds or collective is None else collective / seconds

    def count(self, kind: str, parallelism: str | None = None) -> int:
        return sum(c.count for c in self.collectives if c.kind == kind and parallelism in (None, c.parallelism))

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "flops": self.flops,
            "bytes": self.bytes,
            "compute_s": self.compute_s,
            "collective_s": self.collective_s,
            "seconds": self.seconds,
            "collective_share": self.collective_share,
            "collectives": [c.to_dict() for c in self.collectives],
        }


@dataclasses.dataclass(frozen=True)
class ParallelSummary:
    """Serving on a layout: per-GPU memory of the fullest stage, the prefill and decode steps per
    GPU with their collectives, tokens/s over all replicas and per GPU."""

    layout: Layout
    batch: int  # sequences per replica
    memory: MemoryFootprint  # per GPU, the fullest stage
    stage_weights: tuple[int, ...]  # weight bytes per GPU of each stage
    prefill: ParallelStep
    decode: ParallelStep
    interconnect: str | None  # "NVLink 4 through NVSwitch (450 GB/s per direction)", None without one
    nodes: int

    @property
    def gpus(self) -> int:
        return self.layout.gpus

    @property
    def time_per_output_token(self) -> float | None:
        return self.decode.seconds

    @property
    def tokens_per_second(self) -> float | None:
        """dp x batch / time per output token: one batch in flight per replica."""
        seconds = self.decode.seconds
        return self.layout.dp * self.batch / seconds if seconds else None

    @property
    def tokens_per_second_per_gpu(self) -> float | None:
        rate = self.tokens_per_second
        return None if rate is None else rate / self.gpus

    def to_dict(self) -> dict[str, Any]:
        return {
            "layout": self.layout.to_dict(),
            "batch_per_replica": self.batch,
            "nodes": self.nodes,
            "interconnect": self.interconnect,
            "memory_per_gpu": self.memory.to_dict(),
            "stage_weights": list(self.stage_weights),
            "prefill": self.prefill.to_dict(),
            "decode": self.decode.to_dict(),
            "time_per_output_token_s": self.time_per_output_token,
            "tokens_per_s": self.tokens_per_second,
            "tokens_per_s_per_gpu": self.tokens_per_second_per_gpu,
        }


# -- the split of one model ---------------------------------------------------------------------


def layer_index(name: str) -> int | None:
    """The decoder layer a parameter or module name belongs to ("model.layers.3.mlp" -> 3)."""
    match = _LAYER.search(name)
    return int(match.group(1)) if match else None


def check_layout(llm: LLM, layout: Layout) -> None:
    """What the model cannot be split into: heads, KV heads, the MLP width, layers, the experts."""
    if llm.is_encoder_decoder:
        raise AnalysisError(f"{llm.name} is an encoder-decoder: parallel layouts cover decoder-only language models")
    tp = layout.tp
    if tp > 1:
        if llm.num_heads % tp:
            raise AnalysisError(f"tp={tp} must divide the {llm.num_heads} attention heads of {llm.name}")
        kv = llm.num_kv_heads
        if kv % tp and tp % kv:
            raise AnalysisError(f"tp={tp} and the {kv} KV heads of {llm.name}: one must divide the other")
        width = getattr(llm.text_config, "intermediate_size", None)
        if width and width % tp:
            raise AnalysisError(f"tp={tp} must divide the MLP width {width} of {llm.name}")
    stage_layers(llm.num_layers, layout.pp)
    if layout.pp > 1 and not any(layer_index(name) is not None for name, _, _ in llm.parameter_parts()):
        raise AnalysisError(f"pp={layout.pp}: the layers of {llm.name} are not named layers.N, h.N or blocks.N, so they cannot be staged")
    if layout.ep > 1:
        if not llm.num_experts:
            raise AnalysisError(f"ep={layout.ep}: {llm.name} has no routed experts to spread")
        if llm.num_experts % layout.ep:
            raise AnalysisError(f"ep={layout.ep} must divide the {llm.num_experts} routed experts of {llm.name}")


class Split:
    """How one model's parameters and modules divide over a layout."""

    def __init__(self, llm: LLM, layout: Layout) -> None:
        check_layout(llm, layout)
        self.llm = llm
        self.layout = layout
        self.stages = stage_layers(llm.num_layers, layout.pp)
        self._stage_of_layer = {layer: s for s, layers in enumerate(self.stages) for layer in layers}
        self.expert_split = layout.ep if layout.ep > 1 else layout.tp
        output = llm._output_embeddings()
        modules = dict(llm.model.named_modules())
        self.output_module = next((name for name, module in modules.items() if module is output), None) if output is not None else None
        self.input_tables = {name for name, module in modules.items() if isinstance(module, torch.nn.Embedding)}
        self.module_divisor = {name: self._divisor(name, module) for name, module in modules.items()}
        self.moe_layers = sorted(
            {i for name, _, _ in llm.parameter_parts() if ".experts." in f".{name}." for i in [layer_index(name)] if i is not None}
        )

    def _divisor(self, name: str, module: Any) -> int:
        parts = name.split(".")
        leaf = parts[-1] if parts else ""
        if "experts" in parts:
            return self.expert_split
        if leaf in COLUMN or leaf in ROW or name == self.output_module:
            return self.layout.tp
        if leaf in _SPLIT_BLOCKS and not hasattr(module, "experts"):
            return self.layout.tp
        return 1

    def parameter_divisor(self, name: str) -> int:
        """1/divisor of the parameter is on each GPU of its stage."""
        parts = name.split(".")
        module, attribute = ".".join(parts[:-1]), parts[-1]
        if "experts" in parts:
            return self.expert_split
        if module in self.input_tables or module == self.output_module:
            return self.layout.tp  # split over the vocabulary
        leaf = module.rsplit(".", 1)[-1]
        if leaf in ROW and attribute == "bias":
            return 1  # added once, after the all-reduce
        if leaf in COLUMN or leaf in ROW:
            return self.layout.tp
        return 1

    def parameter_stages(self, name: str) -> list[int]:
        """The stages holding a parameter: its layer's; the embedding the first, the rest the last
        (an output projection tied to the embedding: both)."""
        layer = layer_index(name)
        if layer is not None:
            return [self._stage_of_layer[layer]]
        module = name.rsplit(".", 1)[0]
        last = len(self.stages) - 1
        if module in self.input_tables:
            tied = self.output_module is not None and self.output_module != module and self._tied(module)
            return sorted({0, last}) if tied else [0]
        return [last]

    def _tied(self, table: str) -> bool:
        output = self.llm._output_embeddings()
        modules = dict(self.llm.model.named_modules())
        return output is not None and getattr(output, "weight", None) is getattr(modules[table], "weight", None)

    def stage_weight_bytes(self) -> list[int]:
        """Weight bytes on one GPU of each stage: each parameter's shard (its elements / divisor,
        rounded up) in its precision."""
        totals = [0] * len(self.stages)
        for name, elements, part in self.llm.parameter_parts():
            shard = self.llm.part_bytes(_ceil_div(elements, self.parameter_divisor(name)), part)
            for stage in self.parameter_stages(name):
                totals[stage] += shard
        return totals

    def stage_params(self) -> list[int]:
        """Parameters (elements) on one GPU of each stage."""
        totals = [0] * len(self.stages)
        for name, elements, part in self.llm.parameter_parts():
            if part == "integer":
                continue
            for stage in self.parameter_stages(name):
                totals[stage] += _ceil_div(elements, self.parameter_divisor(name))
        return totals

    def op_divisor(self, module: str) -> int:
        """The split of the innermost module (or its nearest ancestor) that ran an op."""
        name = module
        while name:
            if name in self.module_divisor:
                return self.module_divisor[name]
            name = name.rsplit(".", 1)[0] if "." in name else ""
        return 1

    def step_per_stage(self, report: Report, phase: str | None = None, *, predicted: bool = False) -> list[tuple[Cost, float | None]]:
        """Each stage's (cost, seconds) on one of its GPUs: every op's cost and time divided by its
        module's split (rounded up), in the stage of its layer; an op outside the layers goes to the
        first stage before any layer ran, to the last after. The time is the op's roofline time
        (``OpTiming.roofline_s``) or, ``predicted``, its kernel's predicted device time without the
        host (``OpTiming.device_s``), and a kernel split over GPUs still takes the device's
        shortest kernel time (``kernel_floor_s``) on each. ``phase`` ("forward",
        "backward"): that phase's ops only; the backward runs the layers in reverse, so its ops
        outside the layers go to the last stage before any layer (the head's gradients), to the
        first after (the embedding's)."""
        costs = [Cost()] * len(self.stages)
        times: list[float | None] = [0.0] * len(self.stages)
        floor = report.device.execution.kernel_floor_s if report.device is not None else 0.0
        last = len(self.stages) - 1
        before, after = (last, 0) if phase == "backward" else (0, last)
        seen_layer = False
        for record in report.ops:
            if record.cost is None or (phase is not None and record.event.phase != phase):
                continue
            layer = layer_index(record.event.module)
            if layer is not None:
                seen_layer = True
                stage = self._stage_of_layer.get(layer, 0)
            else:
                stage = after if seen_layer else before
            divisor = self.op_divisor(record.event.module)
            cost = record.cost
            costs[stage] = costs[stage] + Cost(
                _ceil_div(cost.macs, divisor),
                _ceil_div(cost.flops, divisor),
                _ceil_div(cost.bytes_read, divisor),
                _ceil_div(cost.bytes_written, divisor),
            )
            current = times[stage]
            timing = record.timing
            if timing is None or current is None:
                times[stage] = None
            elif predicted:
                share = timing.device_s / divisor
                times[stage] = current + (max(share, floor) if timing.device_s >= floor else share)
            else:
                times[stage] = current + timing.roofline_s / divisor
        return list(zip(costs, times, strict=True))

    def collectives(
        self, tokens: int, *, logits_tokens: int, interconnect: Interconnect | None, sustained: bool = False
    ) -> tuple[Collective, ...]:
        """The collectives of one step of one replica over ``tokens`` tokens (``logits_tokens`` of
        them reach the output projection), at the sustained bus bandwidths with ``sustained``."""
        llm, layout = self.llm, self.layout
        act = llm.dtype_bytes
        hidden = tokens * llm.hidden_size * act
        per_node = interconnect.gpus_per_node if interconnect is not None else layout.gpus
        found: list[tuple[Collective, bool]] = []
        tp, ep = layout.tp, layout.ep
        layers = llm.num_layers
        moe = len(self.moe_layers) if ep > 1 else 0
        if tp > 1:
            cross = tp > per_node
            found.append((Collective("all-reduce", "TP", "after the vocabulary-split embedding", 1, tp, hidden), cross))
            found.append((Collective("all-reduce", "TP", "after attention: o_proj's partial sums", layers, tp, hidden), cross))
            found.append((Collective("all-reduce", "TP", "after the MLP: down_proj's partial sums", layers, tp, hidden), cross))
            vocab = int(getattr(llm.text_config, "vocab_size", 0) or 0)
            if vocab:
                logits = logits_tokens * _ceil_div(vocab, tp) * tp * act
                found.append((Collective("all-gather", "TP", "the vocabulary-split logits", 1, tp, logits), cross))
        if moe:
            routed = tokens * llm.experts_per_token * llm.hidden_size * act
            cross = ep > per_node
            found.append((Collective("all-to-all", "EP", "dispatch of tokens to their experts", moe, ep, routed), cross))
            found.append((Collective("all-to-all", "EP", "combine of the experts' outputs", moe, ep, routed), cross))
        if layout.pp > 1:
            cross = layout.tp * layout.dp * layout.pp > per_node
            found.append((Collective("send-recv", "PP", "the activations between stages", layout.pp - 1, 2, hidden), cross))
        members = ring_members_per_node(1, tp, per_node)  # the TP group's; EP and PP go point to point
        return tuple(_timed(c, interconnect, crosses_nodes=cross, members_per_node=members, sustained=sustained) for c, cross in found)

    def kv_split(self) -> int:
        """How many ways a layer's KV cache splits over TP: its KV heads over min(tp, kv heads)
        GPUs (beyond that each GPU holds whole heads); a latent cache is needed whole on every GPU."""
        if self.llm.is_causal_lm and self.llm.cache_layout.latent:
            return 1
        return min(self.layout.tp, self.llm.num_kv_heads)

    def stage_fraction(self) -> tuple[int, int]:
        """(layers of the largest stage, all layers)."""
        return max(len(layers) for layers in self.stages), self.llm.num_layers


def training_collectives(
    llm: LLM,
    layout: Layout,
    *,
    zero: int = 0,
    micro_batch: int = 1,
    seq_len: int = 2048,
    micro_batches: int = 1,
    interconnect: Interconnect | None = None,
    sustained: bool = False,
) -> tuple[Collective, ...]:
    """The collectives of one training step of ``micro_batches`` micro-batches of ``micro_batch`` x
    ``seq_len`` tokens, per replica (docs/conventions.md, "Parallelism", training), timed at the
    sustained bus bandwidths with ``sustained`` (else the datasheet's): TP 4 all-reduces
    per layer and micro-batch (2 forward, 2 backward), PP 2 (p - 1) send-recvs per micro-batch
    (activations forward, their gradients back), and DP's gradient synchronisation of the fullest
    stage's parameters in 2-byte gradients: ZeRO-0 an all-reduce; ZeRO-1 and 2 a reduce-scatter of
    the gradients and an all-gather of the updated parameters; ZeRO-3 also an all-gather of the
    parameters before the backward (3 transfers instead of 2, Rajbhandari et al. 2020)."""
    split = Split(llm, layout)
    interconnect = placed(interconnect, layout)
    if zero not in (0, 1, 2, 3):
        raise AnalysisError(f"zero must be 0, 1, 2 or 3, got {zero!r}")
    activations = micro_batch * seq_len * llm.hidden_size * llm.dtype_bytes
    per_node = interconnect.gpus_per_node if interconnect is not None else layout.gpus
    found: list[tuple[Collective, bool]] = []
    if layout.tp > 1:
        count = 4 * llm.num_layers * micro_batches
        found.append(
            (
                Collective("all-reduce", "TP", "attention and MLP outputs, forward and backward", count, layout.tp, activations),
                layout.tp > per_node,
            )
        )
    if layout.pp > 1:
        count = 2 * (layout.pp - 1) * micro_batches
        crosses = layout.gpus > per_node
        found.append((Collective("send-recv", "PP", "activations forward, their gradients back", count, 2, activations), crosses))
    if layout.dp > 1:
        gradients = 2 * max(split.stage_params())
        crosses = layout.tp * layout.dp > per_node
        if zero == 0:
            found.append((Collective("all-reduce", "DP", "the gradients", 1, layout.dp, gradients), crosses))
        else:
            found.append((Collective("reduce-scatter", "DP", "the gradients", 1, layout.dp, gradients), crosses))
            gathers = 2 if zero == 3 else 1
            found.append((Collective("all-gather", "DP", "the parameters", gathers, layout.dp, gradients), crosses))
    members = {"TP": ring_members_per_node(1, layout.tp, per_node), "PP": 1, "DP": ring_members_per_node(layout.tp, layout.dp, per_node)}
    return tuple(
        _timed(c, interconnect, crosses_nodes=cross, members_per_node=members[c.parallelism], sustained=sustained) for c, cross in found
    )


@dataclasses.dataclass(frozen=True)
class TrainingStepEstimate(StepTimeViews):
    """One training step on a layout, per GPU of the slowest pipeline stage (docs/conventions.md,
    "Parallelism", training step time). ``micro_batches`` m = global batch / (micro batch x DP);
    ``forward_s``, ``backward_s``: one micro-batch's predicted kernel time on the stage (its ops
    divided by the split); ``tp_s``: that stage's TP all-reduces of one micro-batch; ``pp_s``: its send-recvs
    of one micro-batch; ``dp_s``: the gradient synchronisation, once per step; ``optimizer_s``: the
    Adam update of the fullest stage's parameters (``optimizer_bytes`` at the device's sustained
    bandwidth), once per step. A micro-batch takes ``microbatch_s`` = forward x (2 with
    recomputation, else 1) + backward + tp_s + pp_s, and 1F1B takes (m + p - 1) of them;
    ``seconds`` adds dp_s unless it is overlapped, and optimizer_s."""

    layout: Layout
    global_batch: int  # sequences per step, over all replicas
    micro_batch: int  # sequences per micro-batch
    seq_len: int
    micro_batches: int
    recompute: bool  # full activation recomputation: each micro-batch's forward runs twice
    overlap_dp: bool  # the DP gradient synchronisation runs under the last micro-batch's backward
    interleave: int  # model chunks per GPU (Megatron-LM's interleaved schedule; 1: plain 1F1B)
    forward_s: float
    backward_s: float
    tp_s: float
    pp_s: float
    dp_s: float
    optimizer_s: float
    optimizer_bytes: int  # the Adam update's traffic on one GPU of the slowest stage
    flops: int  # per GPU of the slowest stage, the whole step (recomputed forwards included)
    collectives: tuple[Collective, ...]  # per GPU of the slowest stage, the whole step
    model: str = ""  # the model's name
    device: str = ""  # the device's name
    precision: str = ""  # the training precision's name

    @property
    def compute_s(self) -> float:
        """One micro-batch's compute on the stage: forward (twice with recomputation) + backward."""
        return self.forward_s * (2 if self.recompute else 1) + self.backward_s

    @property
    def microbatch_s(self) -> float:
        return self.compute_s + self.tp_s + self.pp_s

    @property
    def bubble(self) -> float:
        """The 1F1B idle share of the pipeline, (p - 1) / (v m + p - 1)."""
        return bubble_fraction(self.layout.pp, self.micro_batches, self.interleave)

    @property
    def pipeline_s(self) -> float:
        """m + (p - 1) / v micro-batch slots: m of work and (p - 1) / v of bubble."""
        return (self.micro_batches + (self.layout.pp - 1) / self.interleave) * self.microbatch_s

    @property
    def exposed_dp_s(self) -> float:
        """The DP synchronisation's time outside the pipeline: all of it, or with ``overlap_dp``
        what the last micro-batch's backward cannot hide, max(0, dp_s - backward_s)."""
        return max(0.0, self.dp_s - self.backward_s) if self.overlap_dp else self.dp_s

    @property
    def seconds(self) -> float:
        return self.pipeline_s + self.exposed_dp_s + self.optimizer_s

    @property
    def tokens_per_second(self) -> float:
        return self.global_batch * self.seq_len / self.seconds

    @property
    def flops_per_second(self) -> float:
        """FLOP/s on one GPU of the slowest stage: its step's FLOPs (recomputed forwards included) over the step time."""
        return self.flops / self.seconds

    def achieved_flops(self, step_flops: float) -> float:
        """FLOP/s per GPU that a step of ``step_flops`` (over all GPUs) reaches at this step time."""
        return step_flops / (self.layout.gpus * self.seconds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "device": self.device,
            "precision": self.precision,
            "layout": self.layout.to_dict(),
            "global_batch": self.global_batch,
            "micro_batch": self.micro_batch,
            "seq_len": self.seq_len,
            "micro_batches": self.micro_batches,
            "recompute": self.recompute,
            "overlap_dp": self.overlap_dp,
            "interleave": self.interleave,
            "forward_s": self.forward_s,
            "backward_s": self.backward_s,
            "compute_s": self.compute_s,
            "tp_s": self.tp_s,
            "pp_s": self.pp_s,
            "microbatch_s": self.microbatch_s,
            "bubble": self.bubble,
            "pipeline_s": self.pipeline_s,
            "dp_s": self.dp_s,
            "exposed_dp_s": self.exposed_dp_s,
            "optimizer_s": self.optimizer_s,
            "optimizer_bytes": self.optimizer_bytes,
            "seconds": self.seconds,
            "flops": self.flops,
            "collectives": [c.to_dict() for c in self.collectives],
        }


#: Bytes of fp32 optimizer state that one Adam step reads and writes per parameter: the fp32 weight
#: (the master copy under mixed precision) and the two moment estimates, 4 bytes each, each read and
#: written once (Kingma and Ba 2015, Algorithm 1; the fp32 master copy of mixed-precision training,
#: Micikevicius et al. 2018).
ADAM_STATE_BYTES = 2 * 3 * 4


def optimizer_bytes(params: int, *, dtype_bytes: int) -> int:
    """One Adam step over ``params`` parameters trained in a ``dtype_bytes`` format: per parameter
    the fp32 state read and written (24 B), the gradient read (``dtype_bytes``) and, below fp32,
    the updated weight written back in the training format (``dtype_bytes``): 28 B in fp16 or
    bf16, 28 B in fp32 (where the weight is the fp32 state)."""
    return params * (ADAM_STATE_BYTES + dtype_bytes + (dtype_bytes if dtype_bytes < 4 else 0))


def _seconds(collectives: tuple[Collective, ...]) -> float:
    return sum((c.seconds or 0.0 for c in collectives), 0.0)


def training_step_time(
    llm: LLM,
    layout: Layout,
    report: Report,
    *,
    global_batch: int,
    micro_batch: int,
    seq_len: int,
    recompute: bool = False,
    overlap_dp: bool = False,
    interleave: int = 1,
    zero: int = 0,
    interconnect: Interconnect | None = None,
) -> TrainingStepEstimate:
    """A training step of ``global_batch`` sequences of ``seq_len`` tokens on ``layout``, from
    ``report``: one micro-batch's forward and backward (``LLM.training_step(micro_batch, seq_len)``
    on the device). Each stage's forward and backward ops are divided by the split (``Split``);
    the slowest stage sets the pace of the 1F1B schedule. Its GPU does per micro-batch 4 TP
    all-reduces of micro_batch x seq_len x hidden activations per layer of the stage (6 with
    recomputation: the recomputed forward's 2 again) and, with PP, 2 send-recvs of them (the
    activations on, their gradients back); per step the DP gradient synchronisation of
    ``training_collectives``. Nothing is overlapped with compute unless ``overlap_dp``: then the
    DP synchronisation runs under the last micro-batch's backward (PyTorch DDP's bucketed
    all-reduce, the earlier micro-batches under ``no_sync``). ``interleave`` = v model chunks per GPU
    (Megatron-LM's interleaved 1F1B): the bubble is (p - 1) / v slots, the send-recvs v times as
    many; the layers must divide into p x v chunks and the micro-batches into p groups. Once per
    step, after the schedule, Adam updates the GPU's parameters (the fullest stage's, 1/DP of them
    with ZeRO >= 1): ``optimizer_bytes`` at the device's sustained memory bandwidth."""
    if micro_batch < 1 or global_batch < 1:
        raise AnalysisError("the global batch and the micro-batch must be positive")
    if global_batch % (micro_batch * layout.dp):
        raise AnalysisError(f"global batch {global_batch} must be a multiple of micro-batch x dp = {micro_batch} x {layout.dp}")
    micro_batches = global_batch // (micro_batch * layout.dp)
    if not isinstance(interleave, int) or interleave < 1:
        raise AnalysisError(f"interleave must be a positive integer, got {interleave!r}")
    if interleave > 1:
        if layout.pp == 1:
            raise AnalysisError("an interleaved schedule needs pipeline stages (pp > 1)")
        if llm.num_layers % (layout.pp * interleave):
            raise AnalysisError(f"{llm.num_layers} layers do not divide into pp x interleave = {layout.pp} x {interleave} chunks")
        if micro_batches % layout.pp:
            raise AnalysisError(f"the interleaved schedule needs the micro-batches ({micro_batches}) to be a multiple of pp={layout.pp}")
    if layout.gpus > 1 and interconnect is None:
        raise AnalysisError(f"a layout of {layout.gpus} GPUs needs a device with interconnect figures to time its collectives")
    split = Split(llm, layout)
    forwards = split.step_per_stage(report, "forward", predicted=True)
    backwards = split.step_per_stage(report, "backward", predicted=True)
    device = report.device
    if device is None or any(seconds is None for _, seconds in forwards + backwards):
        raise AnalysisError("a training step time needs a device: every op's predicted time")
    passes = 2 if recompute else 1

    def busy(stage: int) -> float:
        return passes * (forwards[stage][1] or 0.0) + (backwards[stage][1] or 0.0)

    slowest = max(range(len(split.stages)), key=busy)
    flops = micro_batches * (passes * forwards[slowest][0].flops + backwards[slowest][0].flops)
    placed_on = placed(interconnect, layout)
    per_node = placed_on.gpus_per_node if placed_on is not None else layout.gpus
    activations = micro_batch * seq_len * llm.hidden_size * llm.dtype_bytes
    per_microbatch: list[tuple[Collective, bool]] = []
    if layout.tp > 1:
        count = (4 + 2 * (passes - 1)) * len(split.stages[slowest])
        what = "attention and MLP outputs, forward" + (", recomputed forward" if recompute else "") + " and backward"
        per_microbatch.append((Collective("all-reduce", "TP", what, count, layout.tp, activations), layout.tp > per_node))
    if layout.pp > 1:
        what = "activations to the next stage, their gradients back"
        per_microbatch.append((Collective("send-recv", "PP", what, 2 * interleave, 2, activations), layout.gpus > per_node))
    members = ring_members_per_node(1, layout.tp, per_node)  # the TP group's; the PP send-recv goes point to point
    timed = tuple(_timed(c, placed_on, crosses_nodes=cross, members_per_node=members, sustained=True) for c, cross in per_microbatch)
    tp_s = _seconds(tuple(c for c in timed if c.parallelism == "TP"))
    pp_s = _seconds(tuple(c for c in timed if c.parallelism == "PP"))
    dp = tuple(
        c
        for c in training_collectives(
            llm, layout, zero=zero, micro_batch=micro_batch, seq_len=seq_len, interconnect=interconnect, sustained=True
        )
        if c.parallelism == "DP"
    )
    step = tuple(dataclasses.replace(c, count=c.count * micro_batches, seconds=(c.seconds or 0.0) * micro_batches) for c in timed) + dp
    updated = max(split.stage_params())  # every stage updates after the flush; the fullest ends last
    update = optimizer_bytes(_ceil_div(updated, layout.dp) if zero >= 1 else updated, dtype_bytes=llm.dtype_bytes)
    bandwidth = device.execution.sustained_bandwidth or device.memory_bandwidth
    return TrainingStepEstimate(
        layout=layout,
        global_batch=global_batch,
        micro_batch=micro_batch,
        seq_len=seq_len,
        micro_batches=micro_batches,
        recompute=recompute,
        overlap_dp=overlap_dp,
        interleave=interleave,
        forward_s=forwards[slowest][1] or 0.0,
        backward_s=backwards[slowest][1] or 0.0,
        tp_s=tp_s,
        pp_s=pp_s,
        dp_s=_seconds(dp),
        optimizer_s=update / bandwidth,
        optimizer_bytes=update,
        flops=flops,
        collectives=step,
        model=llm.name,
        device=device.name,
        precision=llm.precision.name if llm.precision is not None else "",
    )


def serving(
    llm: LLM, layout: Layout, batch: int, seq_len: int, context: int, device: Device | None, *, predicted: bool = False
) -> ParallelSummary:
    """Serving ``batch`` sequences per replica on ``layout``: per-GPU memory and steps, their compute
    the roofline time or, ``predicted``, the kernels' predicted device time (``Split.step_per_stage``)."""
    split = Split(llm, layout)
    interconnect = device.interconnect if device is not None else None
    if layout.gpus > 1 and device is not None and interconnect is None:
        raise AnalysisError(f"{device.name} has no interconnect figures: a layout of {layout.gpus} GPUs cannot be timed on it")
    interconnect = placed(interconnect, layout)
    weights = split.stage_weight_bytes()
    largest, layers = split.stage_fraction()
    kv_total = llm.kv_cache_bytes(batch, max(seq_len, context))
    kv = _ceil_div(kv_total * largest, layers * split.kv_split())
    activations = _ceil_div(llm.activation_bytes(batch, seq_len), layout.tp)
    capacity = device.memory_capacity if device is not None else None
    memory = MemoryFootprint(max(weights), kv, activations, capacity, device.name if device is not None else None)
    steps = []
    for report, tokens, logits in ((llm.prefill(batch, seq_len), batch * seq_len, batch), (llm.decode(batch, context), batch, batch)):
        stages = split.step_per_stage(report, predicted=predicted)
        busiest = max(stages, key=lambda item: item[1] or 0.0)[0]
        times = [seconds for _, seconds in stages]
        compute = None if device is None or any(t is None for t in times) else sum(t for t in times if t is not None)
        collectives = split.collectives(tokens, logits_tokens=logits, interconnect=interconnect, sustained=predicted)
        steps.append(ParallelStep(tokens, busiest.flops, busiest.bytes, compute, collectives))
    per_node = interconnect.gpus_per_node if interconnect is not None else layout.gpus
    link = None
    if interconnect is not None:
        rate = interconnect.link_rate(sustained=predicted)
        measured = " sustained" if predicted and interconnect.sustained_link_bandwidth else ""
        link = f"{interconnect.link} ({rate / 1e9:g} GB/s{measured} per direction)"
        if layout.gpus > per_node and interconnect.network:
            link += f"; between nodes {interconnect.network}"
    return ParallelSummary(layout, batch, memory, tuple(weights), steps[0], steps[1], link, _ceil_div(layout.gpus, per_node))


# -- training memory ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrainingMemory:
    """Bytes per GPU of mixed-precision Adam training state under ZeRO (Rajbhandari et al. 2020):
    fp16/bf16 parameters (2 B each) and gradients (2 B), fp32 master weights, momentum and variance
    (12 B); ZeRO-1 shards the 12 over DP, ZeRO-2 the gradients too, ZeRO-3 the parameters too."""

    params: int  # parameters on one GPU before ZeRO (after TP, PP, EP)
    dp: int
    zero: int
    parameters: int
    gradients: int
    optimizer: int
    capacity: float | None = None  # the device's, bytes; None without one

    @property
    def total(self) -> int:
        return self.parameters + self.gradients + self.optimizer

    @property
    def fits(self) -> bool | None:
        """total <= capacity (activations not included); None when the capacity is unknown."""
        return None if self.capacity is None else self.total <= self.capacity

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "total": self.total, "fits": self.fits}


def zero_memory(params: int, dp: int, zero: int, *, param_bytes: int = 2, grad_bytes: int = 2, optimizer_bytes: int = 12) -> TrainingMemory:
    """ZeRO stage ``zero`` (0-3) over ``dp`` GPUs, for ``params`` parameters on each before ZeRO;
    a sharded part takes ceil(params / dp) elements."""
    if zero not in (0, 1, 2, 3):
        raise AnalysisError(f"zero must be 0, 1, 2 or 3, got {zero!r}")
    if dp < 1:
        raise AnalysisError(f"dp must be a positive integer, got {dp!r}")
    sharded = _ceil_div(params, dp)
    return TrainingMemory(
        params=params,
        dp=dp,
        zero=zero,
        parameters=param_bytes * (sharded if zero >= 3 else params),
        gradients=grad_bytes * (sharded if zero >= 2 else params),
        optimizer=optimizer_bytes * (sharded if zero >= 1 else params),
    )
