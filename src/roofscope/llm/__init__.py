"""Transformer language models: presets, prefill, decode with a KV cache, memory, training, MFU.

    llm = roofscope.llm.LLM("llama-2-7b")            # built on the meta device, published dtype
    llm.prefill(batch=1, seq_len=2048).total.flops   # a Report, as roofscope.analyze returns
    llm.decode(batch=1, context=2048).total.bytes    # one new token against a KV cache of 2048
    llm.kv_cache_bytes(batch=1, context=2048)
    llm.memory(batch=1, context=2048)                # weights + KV cache + activations estimate
    llm.decode_time(batch=1, context=2048, bandwidth=2.039e12, peak=312e12)
    step = llm.training_step(batch=1, seq_len=2048)  # forward + backward on meta
    roofscope.llm.mfu(step.flops, step_time=1.0, peak=989e12)

Times are roofline bounds from explicit numbers, max(FLOPs / peak, bytes / bandwidth); a device
catalog can supply the numbers. See docs/conventions.md, "Transformer rules of thumb".
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from roofscope.capture import capture
from roofscope.cost import Cost
from roofscope.formulas import default_formulas
from roofscope.inputs import TensorSpec, describe_inputs
from roofscope.llm.presets import PRESETS, Preset, build, is_config_path, lookup, preset_from_config_file, preset_names
from roofscope.params import count_parameters
from roofscope.report import Report, build_report

__all__ = [
    "LLM",
    "MemoryFootprint",
    "PRESETS",
    "Preset",
    "TrainingStep",
    "get_preset",
    "mfu",
    "preset_names",
    "roofline_time",
]


def get_preset(spec: str) -> Preset | None:
    """The preset named ``spec``, or read from a local config.json path; None if neither."""
    found = lookup(spec)
    if found is not None:
        return found
    if is_config_path(spec):
        return preset_from_config_file(spec)
    return None


def roofline_time(flops: float, nbytes: float, *, bandwidth: float, peak: float) -> float:
    """Seconds, at best, to do ``flops`` at ``peak`` FLOP/s and move ``nbytes`` at ``bandwidth`` bytes/s."""
    if bandwidth <= 0 or peak <= 0:
        raise ValueError("bandwidth (bytes/s) and peak (FLOP/s) must be positive")
    return max(flops / peak, nbytes / bandwidth)


def mfu(
    flops_per_step: float,
    *,
    peak: float,
    step_time: float | None = None,
    tokens_per_second: float | None = None,
    tokens_per_step: int | None = None,
) -> float:
    """Model FLOPs utilisation: achieved model FLOP/s divided by ``peak`` FLOP/s.

    Give ``step_time`` (seconds per step), or ``tokens_per_second`` with ``tokens_per_step``.
    """
    if step_time is None:
        if tokens_per_second is None or tokens_per_step is None:
            raise ValueError("give step_time, or tokens_per_second and tokens_per_step")
        step_time = tokens_per_step / tokens_per_second
    return flops_per_step / step_time / peak


@dataclasses.dataclass(frozen=True)
class MemoryFootprint:
    """Bytes resident while serving: weights, KV cache, and an estimate of live activations."""

    weights: int
    kv_cache: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.activations


@dataclasses.dataclass(frozen=True)
class TrainingStep:
    """Forward plus backward of one training step, as counted on meta."""

    report: Report  # all ops; OpRecord.event.phase tells forward from backward
    forward: Cost
    backward: Cost
    tokens: int

    @property
    def total(self) -> Cost:
        return self.forward + self.backward

    @property
    def flops(self) -> int:
        return self.total.flops

    @property
    def backward_forward_ratio(self) -> float:
        return self.backward.flops / self.forward.flops


def _sum(records: Any) -> Cost:
    total = Cost()
    for record in records:
        if record.cost is not None:
            total = total + record.cost
    return total


class LLM:
    """A transformer preset (or config.json) built on the meta device, with serving/training queries."""

    def __init__(self, spec: str | Preset, *, dtype: torch.dtype | None = None) -> None:
        if isinstance(spec, Preset):
            preset, name = spec, spec.source or spec.config_class
        else:
            found = get_preset(spec)
            if found is None:
                raise ValueError(f"unknown transformer preset {spec!r}; known: {', '.join(preset_names())}")
            preset, name = found, spec
        self.name = name
        self.preset = preset
        self.dtype = dtype or preset.dtype
        self.model = build(preset, self.dtype)
        self.config = self.model.config
        self._reports: dict[tuple[Any, ...], Report] = {}

    # -- shapes -------------------------------------------------------------------------------
    @property
    def text_config(self) -> Any:
        return self.config.get_text_config() if hasattr(self.config, "get_text_config") else self.config

    @property
    def num_layers(self) -> int:
        return int(self.text_config.num_hidden_layers)

    @property
    def num_heads(self) -> int:
        return int(self.text_config.num_attention_heads)

    @property
    def num_kv_heads(self) -> int:
        return int(getattr(self.text_config, "num_key_value_heads", None) or self.num_heads)

    @property
    def hidden_size(self) -> int:
        return int(self.text_config.hidden_size)

    @property
    def head_dim(self) -> int:
        return int(getattr(self.text_config, "head_dim", None) or self.hidden_size // self.num_heads)

    @property
    def dtype_bytes(self) -> int:
        return self.dtype.itemsize

    # -- parameters ---------------------------------------------------------------------------
    @property
    def params(self) -> int:
        """All parameters, tied ones once (gpt2's lm_head is wte)."""
        return count_parameters(self.model)[""].total

    @property
    def weight_bytes(self) -> int:
        return count_parameters(self.model)[""].bytes

    def _expert_params(self) -> tuple[int, int]:
        """(parameters in MoE experts, of which active per token)."""
        total = active = 0
        experts = getattr(self.text_config, "num_local_experts", None) or getattr(self.text_config, "num_experts", None)
        top_k = getattr(self.text_config, "num_experts_per_tok", None)
        if not experts or not top_k:
            return 0, 0
        for name, parameter in self.model.named_parameters():
            if ".experts." in f".{name}" or name.split(".")[-2:-1] == ["experts"]:
                total += parameter.numel()
        active = total * top_k // experts
        return total, active

    @property
    def active_params(self) -> int:
        """Parameters one token uses: for a mixture of experts, top_k of num_experts expert weights."""
        total, active = self._expert_params()
        return self.params - total + active

    @property
    def embedding_params(self) -> int:
        """Input embeddings (token and learned position) and an untied output projection."""
        count = 0
        seen: set[int] = set()
        for module in self.model.modules():
            if isinstance(module, torch.nn.Embedding) and id(module.weight) not in seen:
                seen.add(id(module.weight))
                count += module.weight.numel()
        output = self.model.get_output_embeddings() if hasattr(self.model, "get_output_embeddings") else None
        if output is not None and id(output.weight) not in seen:
            count += output.weight.numel()
        return count

    @property
    def non_embedding_params(self) -> int:
        """Kaplan et al.'s N: parameters less the embeddings and output projection."""
        return self.params - self.embedding_params

    # -- inference ----------------------------------------------------------------------------
    def _analyze(self, key: tuple[Any, ...], kwargs: dict[str, Any]) -> Report:
        if key not in self._reports:
            captured = capture(self.model, (), kwargs)
            self._reports[key] = build_report(
                model_name=self.name,
                inputs=describe_inputs((), kwargs),
                captured=captured,
                formulas=default_formulas(),
                params=count_parameters(self.model),
            )
        return self._reports[key]

    def _input_ids(self, batch: int, seq_len: int) -> torch.Tensor:
        return torch.zeros(batch, seq_len, dtype=torch.long, device="meta")

    def prefill(self, batch: int = 1, seq_len: int = 2048) -> Report:
        """One forward over ``seq_len`` prompt tokens (the KV cache is written, as in generation)."""
        kwargs: dict[str, Any] = {"input_ids": self._input_ids(batch, seq_len)}
        if self.preset.head == "causal-lm":
            kwargs["use_cache"] = True
        return self._analyze(("prefill", batch, seq_len), kwargs)

    def _kv_cache(self, batch: int, context: int) -> Any:
        from transformers import DynamicCache

        cache = DynamicCache(config=self.config)
        shape = (batch, self.num_kv_heads, context, self.head_dim)
        for layer in range(self.num_layers):
            keys = torch.empty(shape, dtype=self.dtype, device="meta")
            cache.update(keys, torch.empty_like(keys), layer)
        return cache

    def decode(self, batch: int = 1, context: int = 2048) -> Report:
        """One new token per sequence against a KV cache holding ``context`` earlier tokens.

        The cache is a transformers DynamicCache of meta tensors; as in eager transformers, each
        layer concatenates the new keys and values onto it (aten.cat, counted as memory traffic).
        """
        if self.preset.head != "causal-lm":
            raise ValueError(f"{self.name} is not a causal language model: it has no decode step")
        kwargs = {
            "input_ids": self._input_ids(batch, 1),
            "past_key_values": self._kv_cache(batch, context),
            "use_cache": True,
        }
        return self._analyze(("decode", batch, context), kwargs)

    def kv_cache_bytes(self, batch: int = 1, context: int = 2048, dtype: torch.dtype | None = None) -> int:
        """2 (keys and values) * layers * kv_heads * head_dim * context * batch * bytes per element."""
        itemsize = (dtype or self.dtype).itemsize
        return 2 * self.num_layers * self.num_kv_heads * self.head_dim * context * batch * itemsize

    def memory(self, batch: int = 1, context: int = 2048) -> MemoryFootprint:
        """Serving memory at ``context`` tokens: weights, KV cache, and live activations of a prefill.

        The activation estimate is the largest working set of a single op in the prefill (its
        inputs and output that are not weights or the cache), typically the logits or the MLP's
        intermediate: eager inference frees each activation once the next layer has consumed it.
        """
        report = self.prefill(batch, context)
        weight_shapes = {tuple(p.shape) for p in self.model.parameters()}
        largest = 0
        for record in report.ops:
            tensors = [t for t in (*record.event.inputs, *record.event.outputs) if t.shape not in weight_shapes]
            largest = max(largest, sum(t.nbytes for t in tensors))
        return MemoryFootprint(self.weight_bytes, self.kv_cache_bytes(batch, context), largest)

    def prefill_time(self, batch: int = 1, seq_len: int = 2048, *, bandwidth: float, peak: float) -> float:
        cost = self.prefill(batch, seq_len).total
        return roofline_time(cost.flops, cost.bytes, bandwidth=bandwidth, peak=peak)

    def decode_time(self, batch: int = 1, context: int = 2048, *, bandwidth: float, peak: float) -> float:
        """Seconds per decode step (one token per sequence) at best, from explicit device numbers."""
        cost = self.decode(batch, context).total
        return roofline_time(cost.flops, cost.bytes, bandwidth=bandwidth, peak=peak)

    # -- training -----------------------------------------------------------------------------
    def training_step(self, batch: int = 1, seq_len: int = 2048) -> TrainingStep:
        """Forward and backward of ``logits.sum()`` on meta, counted per phase.

        Parameters' ``.grad`` and ``requires_grad`` are restored afterwards; the model is unchanged.
        """
        model = self.model
        saved_grads = [(p, p.grad) for p in model.parameters()]
        was_training = model.training
        kwargs: dict[str, Any] = {"input_ids": self._input_ids(batch, seq_len)}
        if self.preset.head == "causal-lm":
            # With no cache, transformers looks for packed sequences in position_ids, a data-dependent
            # test that meta tensors cannot answer; an (empty) cache skips it and adds no compute.
            kwargs["use_cache"] = True

        def backward(output: Any) -> None:
            logits = output.logits if hasattr(output, "logits") else output[0]
            logits.sum().backward()

        try:
            model.train()
            captured = capture(model, (), kwargs, backward=backward)
        finally:
            model.train(was_training)
            for parameter, grad in saved_grads:
                parameter.grad = grad
        report = build_report(
            model_name=self.name,
            inputs=describe_inputs((), kwargs),
            captured=captured,
            formulas=default_formulas(),
            params=count_parameters(model),
        )
        forward = _sum(r for r in report.ops if r.event.phase == "forward")
        backward_cost = _sum(r for r in report.ops if r.event.phase == "backward")
        return TrainingStep(report, forward, backward_cost, batch * seq_len)

    def __repr__(self) -> str:
        return f"<roofscope.llm.LLM {self.name}: {self.params:,} params, {self.dtype}>"
