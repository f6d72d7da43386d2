"""First touch of fresh pages on a CPU: the model of glibc's malloc (``roofscope.prediction.pages``)
by hand cases, against the real glibc's page faults, and in the prediction."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

import roofscope
from roofscope.devices import Device
from roofscope.devices.execution import Execution
from roofscope.prediction import predict
from roofscope.prediction.pages import MMAP_THRESHOLD_MAX, Allocator, fresh_bytes, loop_fresh_bytes

MIB = 2**20
PAGE = 4096
GLIBC = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"


def _pages(nbytes: int) -> int:
    return -(-nbytes // PAGE) * PAGE


def _mapped(nbytes: int) -> int:
    """A mapped chunk's bytes: the request, its header and the 64-byte alignment, in whole pages."""
    return _pages((nbytes + 8 + 64 + 15) // 16 * 16)


class _Scale(nn.Module):
    """Three ops in a chain, each output new: x * 2, then + 1, then * 3."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * 2 + 1) * 3


def _events(numel: int) -> list:
    report = roofscope.analyze(_Scale(), [torch.empty(numel, device="meta")])
    return [record.event for record in report.ops]


def test_an_output_over_the_largest_mmap_threshold_takes_fresh_pages_every_call() -> None:
    size = MMAP_THRESHOLD_MAX + MIB  # mapped afresh whatever the threshold, unmapped on free
    assert loop_fresh_bytes([size], Allocator()) == _mapped(size)


def test_an_output_below_it_is_mapped_once_then_reuses_resident_heap_pages() -> None:
    # 1 MiB: over the starting threshold (128 KiB), so the first call maps it; freeing it raises the
    # threshold to its size, and from then on the heap serves it from pages already written
    assert loop_fresh_bytes([MIB], Allocator()) == 0
    # below the starting threshold, the heap serves it from the first call on: its first touch only
    assert loop_fresh_bytes([64 * 2**10], Allocator()) == 0


def test_a_forward_that_leaves_the_top_of_the_heap_over_the_trim_threshold_faults_again_each_time() -> None:
    # 4 MiB outputs: the threshold rises to a 4 MiB chunk, the trim threshold to twice it. x * 2 (a)
    # and a + 1 (b) live together; c = b * 3 takes a's place; freeing b and then the output c leaves
    # 8 MiB free at the top, over the trim threshold: the heap shrinks, and the next forward's a and
    # b are written to fresh pages again (c reuses a's)
    fresh = fresh_bytes(_events(MIB), Allocator())
    assert fresh[0] + fresh[1] + fresh[2] == pytest.approx(8 * MIB, rel=0.04)
    assert fresh[2] == 0
    # with the trim threshold out of reach, nothing is given back and nothing faults
    assert sum(fresh_bytes(_events(MIB), Allocator(trim_threshold=2**40, mmap_threshold=2**40))) == 0


def test_the_allocator_is_modelled_only_where_it_is_glibcs_with_its_thresholds_unchanged() -> None:
    allocator, why = Allocator.of_process(environ={}, maps="")
    if GLIBC:
        assert allocator == Allocator() and why == ""
    else:
        assert allocator is None and "glibc" in why
    if GLIBC:
        assert Allocator.of_process(environ={"MALLOC_TRIM_THRESHOLD_": "1"}, maps="")[0] is None
        assert "GLIBC_TUNABLES" in Allocator.of_process(environ={"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1"}, maps="")[1]
        none, why = Allocator.of_process(environ={}, maps="7f00-7f10 r-xp 0 fd:01 1 /usr/lib/libjemalloc.so.2\n")
        assert none is None and "jemalloc" in why


@pytest.mark.skipif(not GLIBC, reason="the model is of glibc's malloc")
def test_the_model_counts_the_page_faults_the_real_glibc_takes() -> None:
    """Each sequence run by the real malloc in a fresh interpreter (ctypes, no torch), its minor
    page faults counted in its last round, against the model's fresh bytes. Plain malloc: in a bare
    interpreter, small allocations of its own take the few bytes posix_memalign's alignment leaves
    beside a buffer, and the hole a freed buffer leaves is then too small for the next one; in a
    torch forward the real allocation trace replays through the model as measured (docs)."""
    script = textwrap.dedent(
        """
        import ctypes, resource, sys
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc.restype = ctypes.c_void_p
        libc.malloc.argtypes = [ctypes.c_size_t]
        libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
        libc.free.argtypes = [ctypes.c_void_p]
        def malloc(n):
            p = libc.malloc(n)
            libc.memset(p, 1, n)
            return p
        def faults():
            return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        steps = eval(sys.argv[1])  # ("m", name, bytes) or ("f", name)
        for round in range(4):
            live, before = {}, faults()
            for step in steps:
                if step[0] == "m":
                    live[step[1]] = malloc(step[2])
                else:
                    libc.free(live.pop(step[1]))
            print(faults() - before)
        """
    )
    mib = MIB
    chain = [("m", "a", 4 * mib), ("m", "b", 4 * mib), ("f", "a"), ("m", "c", 4 * mib), ("f", "b"), ("f", "c")]
    cases = {
        "40 MiB, mapped each time": ([("m", "x", 40 * mib), ("f", "x")], loop_fresh_bytes([40 * mib], Allocator())),
        "1 MiB, resident after the first": ([("m", "x", mib), ("f", "x")], loop_fresh_bytes([mib], Allocator())),
        "a chain that trims the heap": (chain, sum(fresh_bytes(_events(mib), Allocator()))),
    }
    for name, (steps, modelled) in cases.items():
        run = subprocess.run([sys.executable, "-S", "-c", script, repr(steps)], capture_output=True, text=True, check=True)
        measured = int(run.stdout.split()[-1]) * PAGE
        assert measured == pytest.approx(modelled, rel=0.05, abs=16 * PAGE), name


def _cpu(first_touch_gbs: float | None) -> Device:
    return Device(
        name="cpu",
        memory_bandwidth=100e9,
        vector={"fp32": 1e12},
        execution=Execution(kind="cpu", first_touch_bandwidth=first_touch_gbs * 1e9 if first_touch_gbs else None),
    )


def test_an_eager_op_on_a_cpu_takes_its_fresh_pages_at_the_probed_first_touch_rate() -> None:
    numel = (MMAP_THRESHOLD_MAX + MIB) // 4  # each output over the largest threshold: fresh every forward
    report = roofscope.analyze(_Scale(), [torch.empty(numel, device="meta")])
    ops = [(record.event, record.cost, record.family) for record in report.ops]
    plain, _ = predict(ops, _cpu(None), None, allocator=Allocator())
    touched, _ = predict(ops, _cpu(2.0), None, allocator=Allocator())
    fresh = fresh_bytes([event for event, _, _ in ops], Allocator())
    assert fresh == [_mapped(numel * 4)] * 3
    for before, after, nbytes in zip(plain, touched, fresh):
        assert before is not None and after is not None
        assert after.device_s - before.device_s == pytest.approx(nbytes / 2e9)
        assert after.efficiency_s - before.efficiency_s == pytest.approx(nbytes / 2e9)  # a term of the gap's efficiency
        assert after.predicted_s == pytest.approx(after.roofline_s + after.cache_s + after.efficiency_s + after.host_s)
    unmodelled, _ = predict(ops, _cpu(2.0), None, allocator=None)
    assert [t.device_s for t in unmodelled if t] == [t.device_s for t in plain if t]


def test_a_process_whose_allocator_is_not_modelled_gets_no_first_touch_and_a_note(monkeypatch) -> None:
    report = roofscope.analyze(_Scale(), [torch.empty((MMAP_THRESHOLD_MAX + MIB) // 4, device="meta")])
    ops = [(record.event, record.cost, record.family) for record in report.ops]
    plain, _ = predict(ops, _cpu(None), None)
    monkeypatch.setattr(Allocator, "of_process", classmethod(lambda cls: (None, "jemalloc replaces glibc's malloc")))
    timings, summary = predict(ops, _cpu(2.0), None)
    assert [t.device_s for t in timings if t] == [t.device_s for t in plain if t]
    assert "jemalloc replaces glibc's malloc" in summary.notes
