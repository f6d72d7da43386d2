"""Wall time and peak memory of analysing llama-2-70b at 4096 tokens (prefill), on meta.

    PYTHONPATH=src python bench/llm_speed.py
"""

from __future__ import annotations

import resource
import time

t0 = time.perf_counter()
import transformers  # noqa: E402,F401

import roofscope  # noqa: E402

t_import = time.perf_counter() - t0
t2 = time.perf_counter()
# transformers imports its model classes lazily, on first use; timed apart from the analysis
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM  # noqa: E402,F401

t_lazy = time.perf_counter() - t2
t1 = time.perf_counter()
report = roofscope.analyze("llama-2-70b", batch=1, seq_len=4096)
t_analyze = time.perf_counter() - t1
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
print(f"import (torch, transformers, roofscope): {t_import:.2f} s")
print(f"transformers' lazy import of the Llama classes: {t_lazy:.2f} s")
print(f"analyze('llama-2-70b', batch=1, seq_len=4096): {t_analyze:.2f} s")
print(f"ops recorded: {len(report.ops)}, MACs: {report.total.macs:.4e}, FLOPs: {report.total.flops:.4e}")
print(f"peak RSS of the process: {peak_mib:.0f} MiB")
print(f"whole process so far (imports included): {time.perf_counter() - t0:.2f} s")
