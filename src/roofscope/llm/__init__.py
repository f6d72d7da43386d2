"""Transformer language models: presets, prefill, decode with a KV cache, memory, training, MFU.

    llm = roofscope.llm.LLM("llama-2-7b", device="a100-80gb", dtype="fp16")  # built on meta
    llm.prefill(batch=1, seq_len=2048).total.flops   # a Report, as roofscope.analyze returns
    llm.decode(batch=1, context=2048).total.bytes    # one new token against a KV cache of 2048
    llm.kv_cache_bytes(batch=1, context=2048)
    llm.memory(batch=1, context=2048).fits           # weights + KV cache + activations vs capacity
    llm.prefill_time(seq_len=2048), llm.decode_time(context=2048), llm.tokens_per_second(context=2048)
    llm.summary(batch=1, seq_len=2048)               # all of the above in one ServingSummary
    LLM("deepseek-v3", dtype="bf16", weights="int4", kv="fp8")   # weights and KV cache stored apart
    LLM("llama-2-7b", traffic="eager")               # the steps as transformers' eager code moves data
    step = llm.training_step(batch=1, seq_len=2048)  # forward + backward on meta
    roofscope.llm.mfu(step.flops, step_time=1.0, peak=989e12)
    LLM("llama-2-70b", device="h100", dtype="bf16", tp=4).summary()   # split over 4 GPUs: .parallel
    roofscope.llm.plan(LLM("llama-2-70b", device="h100", dtype="bf16"), max_tpot=0.03)

``device`` and ``dtype`` mean what they mean to ``roofscope.analyze``: a catalog device (or a
file, or a ``Device``; ``peak_tflops=``/``bandwidth_gbs=`` override or define one) and the target
precision ("fp16", "bf16", "fp8", "int8-weights", a torch dtype...). Steps follow the serving
convention by default (``roofscope.llm.serving``: the KV cache read once, only the new tokens'
entries written); ``traffic="eager"`` gives transformers' eager traffic. Times are the roofline
stage's times (``report.total.roofline_s``: FLOPs and bytes at the device's peaks; each report's
``total.predicted_s`` holds the predicted time of a plain forward). See docs/conventions.md,
"Transformer language models" and "Serving traffic".
"""

from __future__ import annotations

from roofscope.llm.cache import CacheLayout, LayerCache
from roofscope.llm.curves import ServingCurve, compare_serving, serving_curve
from roofscope.llm.model import LLM, get_preset, preset_summaries
from roofscope.llm.parallel import Layout, ParallelSummary, bubble_fraction, zero_memory
from roofscope.llm.plan import Plan, plan
from roofscope.llm.results import MemoryFootprint, PresetSummary, ServingSummary, StepEstimate, TrainingStep, mfu
from roofscope.llm.serving import TRAFFIC
from roofscope.models.presets import PRESETS, Preset, preset_names

__all__ = [
    "LLM",
    "PRESETS",
    "TRAFFIC",
    "CacheLayout",
    "LayerCache",
    "Layout",
    "MemoryFootprint",
    "ParallelSummary",
    "Plan",
    "Preset",
    "PresetSummary",
    "ServingCurve",
    "ServingSummary",
    "StepEstimate",
    "TrainingStep",
    "bubble_fraction",
    "compare_serving",
    "get_preset",
    "mfu",
    "plan",
    "preset_names",
    "preset_summaries",
    "serving_curve",
    "zero_memory",
]
