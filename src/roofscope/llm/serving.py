"""The serving convention: a step's traced ops, with the KV cache's traffic as serving engines
(vLLM, TensorRT-LLM, SGLang) move it and their element-wise ops fused.

The step is traced as transformers runs it, with its own cache (``roofscope.llm.cache``); the
convention then re-costs these op records and leaves the others (the matrix ops, the gathers) as
counted:

- **the cache append.** transformers' ``DynamicCache`` appends the new keys and values with
  ``aten.cat``, which reads the whole cache and writes it again, every layer, every step. An engine
  with a preallocated (static or paged) cache writes only the new tokens' entries: the cat is charged
  the new keys (or values) read in the activation precision and their cache entries written in the
  KV-cache precision. (transformers caches latent attention's latent and rope key, as engines do.)
- **attention in a decode step** reads the cached keys and values once, in the KV-cache precision;
  the query, the mask and the output keep the activation precision; FLOPs are the traced ones. The
  score matrix never reaches memory in either convention: attention is one fused op when traced.
- **latent attention (MLA) in a decode step**: transformers decompresses the whole cached latent
  into every head's keys and values at each step (``kv_b_proj`` over all cached tokens, then
  copies) and attends over those. Engines absorb that projection into the query and the output and
  attend in the latent space. So the projection is charged over the new tokens' rows (its MACs
  are exactly the absorbed products', its weight read once), the copies nothing, and attention
  reads the cached latent once, with scores over kv_lora_rank + qk_rope_head_dim elements and
  values of kv_lora_rank (MACs = heads x new tokens x cached tokens x (2 kv_lora_rank + rope)).
- **the element-wise chains between the matrix ops** (RMS norms with the residual add before
  them, rotary embeddings, SiLU(gate) x up) run as the fused kernels engines have (fused add +
  RMSNorm, fused rope, silu_and_mul): ``roofscope.prediction.fusion``'s grouping, allowed to run a
  chain after a matrix op that does not read it, each kernel reading its inputs once and writing
  what a later op reads. Each op of a chain keeps its FLOPs; the kernel's bytes are split among its
  ops (a buffer read charged to the first op that reads it, a buffer written to the op that wrote
  it, intermediates to none). The ops re-costed above and the gathers (an embedding's rows) stay
  their own kernels.

Weights are read once per step in both conventions: every traced matmul reads its weight once.
The report's timings are predicted again from the new costs (the prediction stage over the whole
op sequence, in the report's mode). The Hugging Face eager convention is the step as traced
(``LLM(..., traffic="eager")``).
"""

from __future__ import annotations

import dataclasses

from roofscope.analysis import AnalysisError
from roofscope.cost import Cost
from roofscope.devices import Device
from roofscope.events import OpEvent, TensorMeta
from roofscope.formulas.attention import AttentionShape, attention_flops, attention_macs
from roofscope.llm.cache import CacheLayout, LayerCache, Update
from roofscope.precision import Precision, storage_nbytes, target_nbytes, weight_index
from roofscope.prediction import predict
from roofscope.prediction.fusion import fuse_groups
from roofscope.report import OpRecord, Report

__all__ = ["NOTE", "TRAFFIC", "check_traffic", "serving_report"]

#: The traffic conventions of an LLM step: as serving engines run it, or as transformers' eager code does.
TRAFFIC = ("serving", "eager")

#: The note a report under the serving convention carries: its bytes are not the eager ones.
NOTE = (
    "bytes as serving engines move them: the KV cache appends write only the new entries, decode attention reads the "
    "cache once, and the element-wise ops between the matrix ops run fused, each fused kernel's bytes charged to the ops "
    "that read its inputs and write its outputs (docs/conventions.md, Serving traffic)"
)

_ATTENTION_OPS = frozenset({"aten.scaled_dot_product_attention", "roofscope.attention"})


def check_traffic(traffic: str) -> str:
    if traffic not in TRAFFIC:
        raise AnalysisError(f"traffic must be one of {', '.join(map(repr, TRAFFIC))}; got {traffic!r}")
    return traffic


def _nbytes(tensor: TensorMeta, key: str | None) -> int:
    """Bytes of a tensor in precision ``key`` (None: its traced dtype); integer tensors keep theirs."""
    if key is None or not tensor.is_floating:
        return tensor.nbytes
    return storage_nbytes(tensor.addressed_elements, key)


def _elements_nbytes(elements: int, key: str | None, traced: TensorMeta) -> int:
    return elements * traced.itemsize if key is None else storage_nbytes(elements, key)


def _find(records: list[OpRecord], start: int, op: str, output: TensorMeta, last_input: TensorMeta) -> int | None:
    """The first record from ``start`` of ``op`` that produced ``output`` from ``last_input``."""
    for index in range(start, len(records)):
        event = records[index].event
        if event.op == op and event.outputs[:1] == (output,) and event.inputs[-1:] == [last_input]:
            return index
    return None


@dataclasses.dataclass(frozen=True)
class _Sizes:
    activations: str | None
    kv: str | None

    @classmethod
    def of(cls, precision: Precision | None) -> _Sizes:
        return cls(None, None) if precision is None else cls(precision.activations, precision.kv_cache)


def _append_costs(update: Update, sizes: _Sizes) -> list[Cost]:
    """The serving cost of each tensor a layer's update appended: the new entries read (activation
    precision) and written into the cache (KV precision)."""
    return [Cost(0, 0, _nbytes(new, sizes.activations), _nbytes(new, sizes.kv)) for new, _ in update.appended]


def _attention_cost(record: OpRecord, layer: LayerCache, cached: int, sizes: _Sizes) -> Cost:
    """A decode step's attention over ``cached`` tokens: the query, the mask and any other input
    read and the output written in the activation precision, the cached keys and values read once
    in the KV precision. Latent attention reads the latent of every cached token and runs in the
    latent space: scores over kv_lora_rank + rope elements, values of kv_lora_rank."""
    event = record.event
    assert record.cost is not None
    query, key, value = event.args[0], event.args[1], event.args[2]
    others = [t for position, arg in enumerate(event.args) if position not in (1, 2) for t in _tensors(arg)]
    others += [t for name, arg in event.kwargs.items() if name != "out" for t in _tensors(arg)]
    read = sum(_nbytes(t, sizes.activations) for t in others)
    written = sum(_nbytes(t, sizes.activations) for t in event.outputs)
    if layer.kind != "latent" or layer.latent_rank is None:
        read += _nbytes(key, sizes.kv) + _nbytes(value, sizes.kv)
        return Cost(record.cost.macs, record.cost.flops, read, written)
    batch = key.shape[0]
    read += _elements_nbytes(batch * cached * layer.token_elements, sizes.kv, key)
    heads = batch * query.shape[-3]
    shape = AttentionShape(heads, query.shape[-2], cached, layer.token_elements, layer.latent_rank)
    masked = event.arg(3, "attn_mask") is not None
    return Cost(attention_macs(shape), attention_flops(shape, masked, dropout=False), read, written)


def _decompression_cost(record: OpRecord, cached: int, queries: int, batch: int, precision: Precision | None) -> Cost | None:
    """Latent attention's decompression of the whole cache into per-head keys and values, as
    transformers runs it at every step (``kv_b_proj`` over every cached token, then copies): an
    engine absorbs that projection into the query and the output instead, which is the same
    matmul over the new tokens' rows, its weight read once; the copies are not made. None for an
    op that is not part of the decompression (it holds no tensor over the cached tokens)."""
    event = record.event
    tensors = [*event.inputs, *event.outputs]
    over_cache = any(
        (len(t.shape) == 4 and t.shape[0] == batch and t.shape[2] == cached)
        or (len(t.shape) in (2, 3) and t.shape[0] * (t.shape[1] if len(t.shape) == 3 else 1) == batch * cached)
        for t in tensors
    )
    if not over_cache or record.cost is None:
        return None
    if record.family != "matmul":
        return Cost()
    weight = weight_index(event)
    weight_bytes = 0
    if weight is not None:
        tensor = event.args[weight]
        weight_bytes = target_nbytes(tensor, precision.weights) if precision is not None else tensor.nbytes
    cost = record.cost
    scale = (batch * queries, batch * cached)  # the new tokens' rows instead of the cached ones
    rows_read = (cost.bytes_read - weight_bytes) * scale[0] // scale[1]
    return Cost(
        cost.macs * scale[0] // scale[1],
        cost.flops * scale[0] // scale[1],
        weight_bytes + rows_read,
        cost.bytes_written * scale[0] // scale[1],
    )


def _fused_costs(records: list[OpRecord], changed: dict[int, Cost], precision: Precision | None) -> dict[int, Cost]:
    """The element-wise chains between the matrix ops as the fused kernels engines run (fused
    add + RMSNorm, SiLU x gate, rotary embedding): ``roofscope.prediction.fusion``'s grouping, each
    chain reading its inputs once and writing what a later op reads, its cost split among its ops
    (``Group.parts``). The re-costed ops (``changed``: the cache appends, attention, latent
    decompression) and the gathers (an op reading less than its inputs: the embedding's rows)
    stay their own kernels."""
    ops = [(record.event, changed.get(index, record.cost), record.family) for index, record in enumerate(records)]
    keep = set(changed) | {index for index, (event, cost, _) in enumerate(ops) if cost is not None and _gathers(event, cost, precision)}
    return {
        index: part
        for group in fuse_groups(ops, precision, keep=keep, across=True)
        if group.family == "fused"
        for index, part in zip(group.members, group.parts)
    }


def _gathers(event: OpEvent, cost: Cost, precision: Precision | None) -> bool:
    """Whether the op reads less than its inputs hold (an embedding's or an index's rows): fused,
    it would be charged its inputs whole."""
    key = precision.activations if precision is not None else None
    return cost.bytes_read < sum(_nbytes(tensor, key) for tensor in event.inputs)


def _tensors(value: object) -> list[TensorMeta]:
    if isinstance(value, TensorMeta):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    return []


def serving_report(
    report: Report,
    updates: list[Update],
    layout: CacheLayout,
    precision: Precision | None,
    device: Device | None,
    *,
    decode: bool,
) -> Report:
    """``report`` (a prefill or decode step traced with transformers' cache, whose ``updates`` were
    recorded) under the serving convention (module docstring): a new report."""
    records = list(report.ops)
    sizes = _Sizes.of(precision)
    changed: dict[int, Cost] = {}
    position = 0
    for update in updates:
        found = []
        for new, full in update.appended:
            index = _find(records, position, "aten.cat", full, new)
            if index is None:
                raise AnalysisError(
                    f"the serving convention cannot find the KV cache append of layer {update.layer} of {layout.model_type} "
                    f"among the traced ops (a {new} appended into {full}); use traffic='eager' (--traffic eager) for this model"
                )
            found.append(index)
            position = index + 1
        changed.update(zip(found, _append_costs(update, sizes)))
        if not decode or len(update.appended) < 2:
            continue
        layer = layout.layers[update.layer]
        module = records[found[0]].event.module
        new_keys, keys = update.appended[0]
        cached, queries, batch = keys.shape[-2], new_keys.shape[-2], keys.shape[0]
        for index in range(position, len(records)):
            record = records[index]
            if record.event.op in _ATTENTION_OPS and record.event.module == module and record.cost is not None:
                changed[index] = _attention_cost(record, layer, cached, sizes)
                position = index + 1
                break
            if layer.kind == "latent" and record.event.module.startswith(module):
                decompression = _decompression_cost(record, cached, queries, batch, precision)
                if decompression is not None:
                    changed[index] = decompression
    changed.update(_fused_costs(records, changed, precision))
    costs = [(record.event, changed.get(index, record.cost), record.family) for index, record in enumerate(records)]
    if device is None or report.prediction is None:
        return report.with_ops([dataclasses.replace(record, cost=cost) for record, (_, cost, _) in zip(records, costs)], notes=[NOTE])
    timings, prediction = predict(costs, device, precision, mode=report.prediction.mode, flags=report.prediction.flags)
    ops = [dataclasses.replace(record, cost=cost, timing=timing) for record, (_, cost, _), timing in zip(records, costs, timings)]
    return report.with_ops(ops, prediction=prediction, notes=[NOTE])
