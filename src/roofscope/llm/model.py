"""``LLM``: a transformer preset (or config.json) built on the meta device, with its serving and
training queries."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any

import torch

from roofscope.analysis import AnalysisError, analyze
from roofscope.cost import Cost
from roofscope.devices import Device, DeviceError, get_device, resolve_device
from roofscope.events import TensorMeta, iter_tensors
from roofscope.inputs import model_dtype
from roofscope.llm.cache import CacheLayout, CacheUpdates, cache_layout, empty_cache, filled_cache, model_type
from roofscope.llm.parallel import (
    Collective,
    Layout,
    ParallelSummary,
    Split,
    TrainingMemory,
    TrainingStepEstimate,
    check_layout,
    serving,
    training_collectives,
    training_step_time,
    zero_memory,
)
from roofscope.llm.results import MemoryFootprint, PresetSummary, ServingSummary, StepEstimate, TrainingStep
from roofscope.llm.serving import check_traffic, serving_report
from roofscope.models.presets import Preset, lookup, preset_names
from roofscope.models.transformers import GENERATIVE_HEADS, build, is_config_path, preset_from_config_file, preset_from_hub
from roofscope.params import count_parameters
from roofscope.precision import Precision, dtype_key, parse_precision, storage_nbytes, target_nbytes, weight_index
from roofscope.report import Report

__all__ = ["LLM", "get_preset", "preset_summaries"]

# The config entries that name a mixture of experts' routed experts, and how many a token runs.
_EXPERT_COUNT = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
_EXPERTS_PER_TOKEN = ("num_experts_per_tok", "moe_topk", "num_experts_per_token")


def get_preset(spec: str) -> Preset | None:
    """The preset named ``spec``, read from a local config.json path, or a hub id's config.json
    (``Qwen/Qwen3-8B``, from the local Hugging Face cache); None if none of these."""
    found = lookup(spec)
    if found is not None:
        return found
    if is_config_path(spec):
        return preset_from_config_file(spec)
    return preset_from_hub(spec)


def preset_summaries(progress: Callable[[str], None] | None = None) -> list[PresetSummary]:
    """Every built-in preset with its parameters, each built on the meta device; ``progress`` is
    called with each name once it is done."""
    summaries = []
    for name in preset_names():
        llm = LLM(name)
        summaries.append(
            PresetSummary(
                name=name,
                model_type=llm.model_type,
                head=llm.preset.head,
                dtype=dtype_key(llm.dtype) or str(llm.dtype),
                params=llm.params,
                active_params=llm.active_params,
                source=llm.preset.source,
            )
        )
        if progress is not None:
            progress(name)
    return summaries


class LLM:
    """A transformer preset (or config.json) built on the meta device, with serving/training queries.

    ``dtype``: the target precision, as for ``roofscope.analyze`` ("fp16", "bf16", "fp8",
    "int8-weights", a torch dtype...; None: the checkpoint's published dtype). The model is built
    in its published dtype and every report's bytes are retargeted to this precision; the
    activations are in its activation precision, the matmul weights in its weight precision.
    ``weights`` ("int4", "int8", "fp8") and ``kv`` ("fp8") store the weights and the KV cache
    apart from the activations (``dtype="bf16", weights="int4", kv="fp8"``).
    ``traffic``: "serving" (the default: the KV cache read once and only the new tokens' entries
    written, the element-wise ops between the matrix ops fused, as serving engines do) or "eager"
    (the step as transformers' eager code runs it, its cache concatenated anew each layer and
    step, every op unfused); ``roofscope.llm.serving``.
    ``device``: a catalog name, a TOML/JSON file or a ``Device``; ``peak_tflops``,
    ``bandwidth_gbs`` and ``launch_overhead_us`` override its figures or, without one, define a
    device. ``causal`` and ``strict`` are passed to ``analyze``. ``model``: a model already built
    from ``spec`` (e.g. by ``roofscope.models.resolve``), reused instead of building another.
    ``progress(step, done, total)``: called as each analysis runs the model's modules, the step
    naming it ("prefill forward", "decode forward", "train forward"); ``roofscope.analyze``.
    ``tp``, ``pp``, ``ep``, ``dp``: the model split over tensor, pipeline, expert and data parallel
    GPUs (``roofscope.llm.parallel``); ``summary`` then says what each GPU holds and does.
    ``nodes``: the servers the GPUs are spread over (default: as few as hold them).
    """

    def __init__(
        self,
        spec: str | Preset,
        *,
        dtype: str | torch.dtype | Precision | None = None,
        weights: str | None = None,
        kv: str | None = None,
        traffic: str = "serving",
        device: str | Device | None = None,
        peak_tflops: float | dict[str, float] | None = None,
        bandwidth_gbs: float | None = None,
        launch_overhead_us: float | None = None,
        causal: str | None = None,
        strict: bool = False,
        model: torch.nn.Module | None = None,
        mode: str = "eager",
        tf32: bool | None = None,
        progress: Callable[[str, int, int], None] | None = None,
        tp: int = 1,
        pp: int = 1,
        ep: int = 1,
        dp: int = 1,
        nodes: int = 0,
    ) -> None:
        if isinstance(spec, Preset):
            preset, name = spec, spec.source or spec.config_class
        else:
            found = get_preset(spec)
            if found is None:
                raise AnalysisError(f"unknown transformer preset {spec!r}; known: {', '.join(preset_names())} (or a config.json path)")
            preset, name = found, spec
        try:
            self.precision: Precision | None = parse_precision(dtype, weights=weights, kv=kv)
            self.device: Device | None = resolve_device(device, peak_tflops, bandwidth_gbs, launch_overhead_us)
        except (ValueError, DeviceError) as error:
            raise AnalysisError(str(error)) from None
        self.traffic = check_traffic(traffic)
        if self.traffic == "eager" and self.precision is not None and self.precision.kv is not None:
            raise AnalysisError(
                "transformers' eager cache holds keys and values in the activation precision: a KV-cache precision "
                f"({self.precision.kv}) needs the serving traffic convention"
            )
        self.name = name
        self.preset = preset
        self.causal = causal
        self.strict = strict
        self.mode = mode
        self.tf32 = tf32
        self.progress = progress
        self.model: torch.nn.Module = model if model is not None else build(preset)
        self.dtype = model_dtype(self.model)  # the dtype the model is built (and captured) in: the published one
        self.config: Any = self.model.config
        self._reports: dict[tuple[Any, ...], Report] = {}
        self.layout = Layout(tp=tp, pp=pp, ep=ep, dp=dp, nodes=nodes)
        if not self.layout.single or self.layout.ep > 1:
            check_layout(self, self.layout)

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
    def is_causal_lm(self) -> bool:
        """A model that generates tokens (a decoder-only causal LM or an encoder-decoder): it has a
        KV cache, a decode step and a serving summary."""
        return self.preset.head in GENERATIVE_HEADS

    @property
    def is_encoder_decoder(self) -> bool:
        return bool(getattr(self.config, "is_encoder_decoder", False))

    @property
    def model_type(self) -> str:
        return model_type(self.config)

    # -- precision ----------------------------------------------------------------------------
    @property
    def precision_name(self) -> str:
        """The target precision's name, or the published dtype's ("fp16") when none was given."""
        if self.precision is not None:
            return self.precision.name
        return dtype_key(self.dtype) or str(self.dtype).removeprefix("torch.")

    def _storage(self, elements: int, part: str) -> int:
        """Bytes of ``elements`` values of ``part`` ("activations", "weights", "kv") in the target
        precision, or in the published dtype without one."""
        if self.precision is None:
            return elements * self.dtype.itemsize
        key = {"activations": self.precision.activations, "weights": self.precision.weights}.get(part, self.precision.kv_cache)
        if part == "kv" and self.traffic == "eager":
            key = self.precision.activations
        return storage_nbytes(elements, key)

    @property
    def dtype_bytes(self) -> int:
        """Bytes per activation element in the target precision."""
        return self._storage(1, "activations")

    # -- parameters ---------------------------------------------------------------------------
    @functools.cached_property
    def _param_count(self) -> Any:
        return count_parameters(self.model)[""]

    @property
    def params(self) -> int:
        """All parameters, tied ones once (gpt2's lm_head is wte)."""
        return int(self._param_count.total)

    @functools.cached_property
    def weight_bytes(self) -> int:
        """Bytes of the parameters in the target precision.

        Matmul weights (parameters of two or more dimensions, the stacked expert weights of a
        mixture of experts and the output projection included) take the weight precision; embedding
        tables that are not the output projection, biases and norms the activation precision, as
        ``retarget`` charges them. Without a target precision: the parameters' own bytes.
        """
        if self.precision is None:
            return int(self._param_count.bytes)
        return sum(self.part_bytes(elements, part) for _, elements, part in self.parameter_parts())

    def parameter_parts(self) -> list[tuple[str, int, str]]:
        """(name, elements, part) of every parameter, a tied one once: its part is "weights" for a
        matmul weight (two or more dimensions, the output projection included; not an input
        embedding table), "activations" for the rest (embeddings, biases, norms), "integer" for an
        integer tensor (its elements are then its bytes), as ``weight_bytes`` charges them."""
        embeddings = {id(m.weight) for m in self.model.modules() if isinstance(m, torch.nn.Embedding)}
        output = self._output_embeddings()
        output_id = id(output.weight) if output is not None and hasattr(output, "weight") else None
        parts = []
        for name, parameter in self.model.named_parameters():  # deduplicated: a tied weight once
            if not parameter.is_floating_point():
                parts.append((name, parameter.numel() * parameter.element_size(), "integer"))
                continue
            matmul_weight = parameter.ndim >= 2 and (id(parameter) not in embeddings or id(parameter) == output_id)
            parts.append((name, parameter.numel(), "weights" if matmul_weight else "activations"))
        return parts

    def part_bytes(self, elements: int, part: str) -> int:
        """Bytes of ``elements`` values of a ``parameter_parts`` part in the target precision."""
        return elements if part == "integer" else self._storage(elements, part)

    @property
    def num_experts(self) -> int:
        """Routed experts per mixture-of-experts layer (0 for a dense model)."""
        return int(next((getattr(self.text_config, key) for key in _EXPERT_COUNT if getattr(self.text_config, key, None)), 0))

    @property
    def experts_per_token(self) -> int:
        """Routed experts each token runs (top_k; 0 for a dense model)."""
        return int(next((getattr(self.text_config, key) for key in _EXPERTS_PER_TOKEN if getattr(self.text_config, key, None)), 0))

    def _expert_params(self) -> tuple[int, int]:
        """(parameters in routed MoE experts, of which active per token: top_k of num_experts)."""
        text = self.text_config
        experts = next((getattr(text, key) for key in _EXPERT_COUNT if getattr(text, key, None)), None)
        top_k = next((getattr(text, key) for key in _EXPERTS_PER_TOKEN if getattr(text, key, None)), None)
        if not experts or not top_k:
            return 0, 0
        total = 0
        for name, parameter in self.model.named_parameters():
            if ".experts." in f".{name}" or name.split(".")[-2:-1] == ["experts"]:
                total += parameter.numel()
        return total, total * int(top_k) // int(experts)

    @property
    def active_params(self) -> int:
        """Parameters one token uses: for a mixture of experts, top_k of num_experts routed expert
        weights (shared experts, attention, embeddings and the output projection in full)."""
        total, active = self._expert_params()
        return self.params - total + active

    @property
    def active_params_without_embedding(self) -> int:
        """``active_params`` less the input embedding tables (not an output projection tied to
        one): the figure model cards quote as activated parameters (DeepSeek-V3's 36.6 B)."""
        return self.active_params - self._input_embedding_params()

    def _input_embedding_params(self) -> int:
        output = self._output_embeddings()
        output_id = id(output.weight) if output is not None and hasattr(output, "weight") else None
        tables = {id(m.weight): m.weight.numel() for m in self.model.modules() if isinstance(m, torch.nn.Embedding)}
        return sum(count for key, count in tables.items() if key != output_id)

    def _output_embeddings(self) -> Any:
        """The output projection (lm_head) of a transformers model, None for a model without one."""
        get = getattr(self.model, "get_output_embeddings", None)
        return get() if callable(get) else None

    @property
    def embedding_params(self) -> int:
        """Input embeddings (token and learned position) and an untied output projection."""
        count = 0
        seen: set[int] = set()
        for module in self.model.modules():
            if isinstance(module, torch.nn.Embedding) and id(module.weight) not in seen:
                seen.add(id(module.weight))
                count += module.weight.numel()
        output = self._output_embeddings()
        if output is not None and id(output.weight) not in seen:
            count += output.weight.numel()
        return count

    @property
    def non_embedding_params(self) -> int:
        """Kaplan et al.'s N: parameters less the embeddings and output projection."""
        return self.params - self.embedding_params

    # -- analysis -----------------------------------------------------------------------------
    def _analyze(self, key: tuple[Any, ...], kwargs: dict[str, Any], *, backward: bool = False) -> Report:
        if key not in self._reports:
            step = key[1] if key[0] == "traced" else key[0]
            report = analyze(
                self.model,
                kwargs,
                device=self.device,
                dtype=self.precision,
                causal=self.causal,
                strict=self.strict,
                backward=backward,
                name=self.name,
                mode=self.mode,
                tf32=self.tf32,
                progress=None if self.progress is None else _labelled(self.progress, step),
            )
            self._reports[key] = report
        return self._reports[key]

    def _step(self, key: tuple[Any, ...], kwargs: dict[str, Any], cache: Any, *, decode: bool) -> Report:
        """One prefill or decode step with ``cache`` (ours, filled as the step needs it), under the
        LLM's traffic convention."""
        if key in self._reports:
            return self._reports[key]
        updates = CacheUpdates(cache)
        traced = self._analyze(("traced", *key), {**kwargs, self._cache_keyword: cache, "use_cache": True})
        if self.traffic == "serving":
            self._reports[key] = serving_report(traced, updates.updates, self.cache_layout, self.precision, self.device, decode=decode)
        else:
            self._reports[key] = traced
        return self._reports[key]

    def _input_ids(self, batch: int, seq_len: int) -> torch.Tensor:
        for name, value in (("batch", batch), ("seq_len", seq_len)):
            if not isinstance(value, int) or value <= 0:
                raise AnalysisError(f"{name} must be a positive integer, got {value!r}")
        return torch.zeros(batch, seq_len, dtype=torch.long, device="meta")

    def prefill(self, batch: int = 1, seq_len: int = 2048) -> Report:
        """One forward over ``seq_len`` prompt tokens; the KV cache is written, as in generation,
        and only the last token's logits are computed (``logits_to_keep=1``, as transformers'
        ``generate`` and serving engines do). An encoder-decoder's encoder reads the prompt and its
        decoder the start token."""
        kwargs: dict[str, Any] = {"input_ids": self._input_ids(batch, seq_len)}
        if not self.is_causal_lm:
            return self._analyze(("prefill", batch, seq_len), kwargs)
        if self.is_encoder_decoder:
            kwargs["decoder_input_ids"] = self._input_ids(batch, 1)
        elif "logits_to_keep" in inspect.signature(self.model.forward).parameters:
            kwargs["logits_to_keep"] = 1
        return self._step(("prefill", batch, seq_len), kwargs, empty_cache(self.config), decode=False)

    def _require_causal_lm(self, what: str) -> None:
        if not self.is_causal_lm:
            raise AnalysisError(f"{self.name} is not a causal language model: it has no {what}")

    def decode(self, batch: int = 1, context: int = 2048, *, encoder_tokens: int | None = None) -> Report:
        """One new token per sequence against a KV cache holding ``context`` earlier tokens.

        The cache is the model's own transformers cache, filled by a forward over ``context``
        tokens on meta (``roofscope.llm.cache``); the step's traffic follows the LLM's convention.
        An encoder-decoder's cross-attention reads ``encoder_tokens`` encoded tokens (default:
        ``context``).
        """
        self._require_causal_lm("decode step")
        if not isinstance(context, int) or context < 0:
            raise AnalysisError(f"context must be a non-negative integer, got {context!r}")
        kwargs: dict[str, Any] = {"input_ids": self._input_ids(batch, 1)}
        encoded = None
        if self.is_encoder_decoder:
            encoded = context if encoder_tokens is None else encoder_tokens
            # the encoder ran at the prefill: the decoder reads its output, and the cross-attention cache
            hidden = torch.zeros(batch, encoded, self.hidden_size, dtype=self.dtype, device="meta")
            kwargs = {"decoder_input_ids": kwargs["input_ids"], "encoder_outputs": (hidden,)}
        key = ("decode", batch, context, encoded)
        if key in self._reports:
            return self._reports[key]
        cache = filled_cache(self.model, batch, context, self._cache_keyword, encoder_tokens=encoded)
        return self._step(key, kwargs, cache, decode=True)

    @functools.cached_property
    def _cache_keyword(self) -> str:
        """The name the model's forward takes its KV cache by: ``cache`` where the installed
        transformers has it (``past_key_values`` is deprecated there), else ``past_key_values``."""
        return "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"

    # -- memory -------------------------------------------------------------------------------
    @functools.cached_property
    def cache_layout(self) -> CacheLayout:
        """What each layer caches per token and sequence (``roofscope.llm.cache``), read from the
        model's own cache after one token."""
        self._require_causal_lm("KV cache")
        cache = filled_cache(self.model, 1, 1, self._cache_keyword, encoder_tokens=1 if self.is_encoder_decoder else None)
        return cache_layout(self.config, cache)

    def kv_cache_bytes(
        self, batch: int = 1, context: int = 2048, dtype: str | torch.dtype | None = None, *, encoder_tokens: int | None = None
    ) -> int:
        """Bytes the KV cache holds at ``context`` tokens of ``batch`` sequences: per layer, the
        cached tokens (all of them, a sliding window's last window - 1, an encoder's for
        cross-attention) x the elements a token takes, in the KV-cache precision (``dtype``'s
        activation precision when given), plus linear attention's fixed states in the activation
        precision. Under the serving convention latent attention caches its latent (kv_lora_rank +
        qk_rope_head_dim per token and layer); under the eager one, transformers' per-head keys and values."""
        self._require_causal_lm("KV cache")
        tokens, states = self.cache_layout.elements(batch, context, encoder_tokens, eager=self.traffic == "eager")
        if dtype is not None:
            parsed = parse_precision(dtype)
            assert parsed is not None
            return storage_nbytes(tokens + states, parsed.activations)
        return self._storage(tokens, "kv") + self._storage(states, "activations")

    def activation_bytes(self, batch: int = 1, seq_len: int = 2048) -> int:
        """The activation estimate of a prefill: the largest working set of one op that moves data
        (its input and output tensors, less the weight of a matmul and the table of an embedding),
        usually the logits' matmul or the MLP's intermediate: eager inference frees each activation
        once the next op has consumed it. In the target precision."""
        report = self.prefill(batch, seq_len)
        key = self.precision.activations if self.precision is not None else None
        largest = 0
        for record in report.ops:
            if record.cost is None or not record.cost.bytes:
                continue  # a view allocates nothing
            event = record.event
            weight = weight_index(event) if event.op != "aten.embedding" else 0
            tensors = [t for position, arg in enumerate(event.args) if position != weight for t in iter_tensors(arg, TensorMeta)]
            tensors += [t for name, arg in event.kwargs.items() if name != "out" for t in iter_tensors(arg, TensorMeta)]
            largest = max(largest, sum(self._nbytes(t, key) for t in (*tensors, *event.outputs)))
        return largest

    @staticmethod
    def _nbytes(tensor: TensorMeta, key: str | None) -> int:
        return tensor.nbytes if key is None else target_nbytes(tensor, key)

    def memory(
        self, batch: int = 1, context: int = 2048, *, seq_len: int | None = None, device: str | Device | None = None
    ) -> MemoryFootprint:
        """Serving memory: weights + KV cache at ``context`` tokens + the activations of a prefill of
        ``seq_len`` tokens (default: ``context``), against ``device``'s capacity (default: the LLM's
        device). See ``activation_bytes``; the framework's own memory (CUDA context, allocator
        slack, workspaces) is not included."""
        target = self.device if device is None else _device(device)
        encoded = (seq_len if seq_len is not None else context) if self.is_encoder_decoder else None
        kv = self.kv_cache_bytes(batch, context, encoder_tokens=encoded) if self.is_causal_lm else 0
        return MemoryFootprint(
            weights=self.weight_bytes,
            kv_cache=kv,
            activations=self.activation_bytes(batch, seq_len if seq_len is not None else context),
            capacity=target.memory_capacity if target is not None else None,
            device=target.name if target is not None else None,
        )

    def largest_batch(self, seq_len: int = 2048, context: int | None = None, *, device: str | Device | None = None) -> int | None:
        """The largest batch whose memory (``memory(batch, max(seq_len, context), seq_len=seq_len)``)
        fits the device's capacity: 0 when even one sequence does not, None without a capacity.

        Weights are fixed and the KV cache and the activation estimate grow with the batch, so the
        batch 1 footprint gives a first guess, (capacity - weights) / (the rest at batch 1), which
        is then checked and moved one batch at a time until the next one no longer fits.
        """
        context = seq_len if context is None else context
        tokens = max(seq_len, context)
        one = self.memory(1, tokens, seq_len=seq_len, device=device)
        if one.capacity is None:
            return None
        if not one.fits:
            return 0
        per_sequence = one.total - one.weights
        batch = max(1, int((one.capacity - one.weights) // per_sequence)) if per_sequence else 1
        while batch > 1 and not self.memory(batch, tokens, seq_len=seq_len, device=device).fits:
            batch -= 1
        while self.memory(batch + 1, tokens, seq_len=seq_len, device=device).fits:
            batch += 1
        return batch

    # -- time ---------------------------------------------------------------------------------
    def _predicted(self, report: Report, what: str) -> float:
        if self.device is None:
            raise AnalysisError(f"{what} needs a device: LLM({self.name!r}, device='a100-80gb', ...) or peak_tflops= and bandwidth_gbs=")
        return float(report.total.roofline_s or 0.0)

    def prefill_time(self, batch: int = 1, seq_len: int = 2048) -> float:
        """The prefill's roofline seconds on the LLM's device (``prefill(...).total.roofline_s``)."""
        return self._predicted(self.prefill(batch, seq_len), "prefill_time")

    def decode_time(self, batch: int = 1, context: int = 2048) -> float:
        """Predicted seconds per decode step, i.e. per output token of each sequence."""
        return self._predicted(self.decode(batch, context), "decode_time")

    def tokens_per_second(self, batch: int = 1, context: int = 2048) -> float:
        """Generated tokens per second over the batch: batch / decode_time."""
        return batch / self.decode_time(batch, context)

    def summary(self, batch: int = 1, seq_len: int = 2048, context: int | None = None) -> ServingSummary:
        """Params, KV cache, memory against capacity, prefill latency, time per output token and
        tokens/s, for a prompt of ``seq_len`` tokens and a decode step at ``context`` (default
        ``seq_len``) cached tokens."""
        self._require_causal_lm("decode step, so no serving summary")
        context = seq_len if context is None else context
        encoded = seq_len if self.is_encoder_decoder else None  # the encoder read the prompt
        prefill = self.prefill(batch, seq_len)
        decode = self.decode(batch, context, encoder_tokens=encoded)
        return ServingSummary(
            model=self.name,
            device=self.device.name if self.device is not None else None,
            precision=self.precision_name,
            batch=batch,
            seq_len=seq_len,
            context=context,
            params=self.params,
            active_params=self.active_params,
            active_params_without_embedding=self.active_params_without_embedding,
            kv_cache_bytes=self.kv_cache_bytes(batch, context, encoder_tokens=encoded),
            memory=self.memory(batch, max(seq_len, context), seq_len=seq_len),
            prefill=StepEstimate.of(prefill, batch * seq_len),
            decode=StepEstimate.of(decode, batch),
            traffic=self.traffic,
            cache_layout=self.cache_layout.describe(),
            parallel=None if self.layout.single and self.layout.ep == 1 else self.parallel_summary(batch, seq_len, context),
        )

    # -- several GPUs -------------------------------------------------------------------------
    def parallel_summary(
        self, batch: int = 1, seq_len: int = 2048, context: int | None = None, *, predicted: bool = False
    ) -> ParallelSummary:
        """Serving ``batch`` sequences per replica on the LLM's layout (``tp``, ``pp``, ``ep``,
        ``dp``): per-GPU weights, KV cache and activations against the device's capacity, the
        prefill and decode steps per GPU with their collectives on the device's interconnect, and
        tokens/s over the replicas and per GPU (``roofscope.llm.parallel``). The steps' compute is
        the roofline time of their ops, or with ``predicted`` their kernels' predicted device time
        in the LLM's ``mode``."""
        self._require_causal_lm("decode step, so no serving summary")
        context = seq_len if context is None else context
        return serving(self, self.layout, batch, seq_len, context, self.device, predicted=predicted)

    def weight_bytes_per_gpu(self) -> list[int]:
        """Weight bytes on one GPU of each pipeline stage of the layout."""
        return Split(self, self.layout).stage_weight_bytes()

    def training_memory(self, zero: int = 0) -> TrainingMemory:
        """Mixed-precision Adam state per GPU of the fullest stage under ZeRO stage ``zero`` over
        the layout's ``dp`` GPUs (2 + 2 + 12 bytes per parameter, ``roofscope.llm.parallel``)."""
        memory = zero_memory(max(Split(self, self.layout).stage_params()), self.layout.dp, zero)
        capacity = self.device.memory_capacity if self.device is not None else None
        return dataclasses.replace(memory, capacity=capacity)

    def training_collectives(
        self, zero: int = 0, micro_batch: int = 1, seq_len: int = 2048, micro_batches: int = 1, *, sustained: bool = False
    ) -> tuple[Collective, ...]:
        """The collectives of one training step on the layout, timed on the device's interconnect:
        its datasheet figures, or ``sustained`` the bus bandwidths NCCL was measured to reach, as
        the training step time uses (``roofscope.llm.parallel.training_collectives``)."""
        interconnect = self.device.interconnect if self.device is not None else None
        return training_collectives(
            self,
            self.layout,
            zero=zero,
            micro_batch=micro_batch,
            seq_len=seq_len,
            micro_batches=micro_batches,
            interconnect=interconnect,
            sustained=sustained,
        )

    # -- training -----------------------------------------------------------------------------
    def training_step(self, batch: int = 1, seq_len: int = 2048) -> TrainingStep:
        """Forward and backward on meta, in train mode: ``analyze(..., backward=True)``, each op
        counted in its phase. A decoder-only causal LM whose forward takes ``labels`` is given its
        input ids as labels and computes its own next-token cross-entropy (transformers' loss: the
        logits in fp32, log-softmax and nll_loss), which is differentiated; another model's outputs
        are summed.

        Parameters' ``.grad`` and the module's mode are restored afterwards; the model is unchanged.
        """
        kwargs: dict[str, Any] = {"input_ids": self._input_ids(batch, seq_len)}
        if self.is_causal_lm:
            # With no cache, transformers looks for packed sequences in position_ids, a data-dependent
            # test that meta tensors cannot answer; an (empty) cache skips it and adds no compute.
            kwargs["use_cache"] = True
            if not self.is_encoder_decoder and "labels" in inspect.signature(self.model.forward).parameters:
                kwargs["labels"] = kwargs["input_ids"]
        key = ("train", batch, seq_len)
        if key not in self._reports:
            was_training = self.model.training
            try:
                self.model.train()
                with _default_loss_notice_silenced():
                    self._analyze(key, kwargs, backward=True)
            finally:
                self.model.train(was_training)
        report = self._reports[key]
        backward = report.backward
        return TrainingStep(report, report.forward.cost, backward.cost if backward is not None else Cost(), batch * seq_len)

    def training_step_time(
        self,
        global_batch: int,
        micro_batch: int = 1,
        seq_len: int = 2048,
        *,
        recompute: bool = False,
        overlap_dp: bool = False,
        interleave: int = 1,
        zero: int = 0,
    ) -> TrainingStepEstimate:
        """Predicted time of one training step of ``global_batch`` sequences on the layout, in
        micro-batches of ``micro_batch``: the slowest stage's forward and backward of a micro-batch
        (the predicted kernel times of ``training_step(micro_batch, seq_len)``'s ops divided by the
        split, forward twice with ``recompute``), times m + (p - 1) / v (1F1B; v = ``interleave``
        model chunks per GPU), with the TP and PP collectives of each micro-batch and the DP
        gradient synchronisation (under the last backward with ``overlap_dp``) on the device's
        interconnect, and Adam's update of the fullest stage's parameters (ZeRO stage ``zero``)
        (``roofscope.llm.parallel.training_step_time``)."""
        if self.device is None:
            raise AnalysisError(f"training_step_time needs a device: LLM({self.name!r}, device='a100-80gb', ...)")
        report = self.training_step(micro_batch, seq_len).report
        return training_step_time(
            self,
            self.layout,
            report,
            global_batch=global_batch,
            micro_batch=micro_batch,
            seq_len=seq_len,
            recompute=recompute,
            overlap_dp=overlap_dp,
            interleave=interleave,
            zero=zero,
            interconnect=self.device.interconnect,
        )

    def __repr__(self) -> str:
        on = f" on {self.device.name}" if self.device is not None else ""
        return f"<roofscope.llm.LLM {self.name}: {self.params:,} params, {self.precision_name}{on}, {self.traffic} traffic>"


def _labelled(progress: Callable[[str, int, int], None], step: str) -> Callable[[str, int, int], None]:
    """``progress`` with the analysis's stage prefixed by the step it belongs to ("decode forward")."""
    return lambda stage, done, total: progress(f"{step} {stage}", done, total)


def _device(device: str | Device) -> Device:
    try:
        return get_device(device)
    except DeviceError as error:
        raise AnalysisError(str(error)) from None


class _DefaultLossNotice(logging.Filter):
    """transformers' notice that a config without ``loss_type`` gets the default causal-LM loss:
    that loss is what a training step means, so the notice says nothing to roofscope's user."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Using the default loss" not in record.getMessage()


@contextlib.contextmanager
def _default_loss_notice_silenced() -> Iterator[None]:
    """The notice above dropped while the step is analysed; every other message still shows."""
    logger = logging.getLogger("transformers.modeling_utils")
    notice = _DefaultLossNotice()
    logger.addFilter(notice)
    try:
        yield
    finally:
        logger.removeFilter(notice)
