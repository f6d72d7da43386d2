"""Property tests: random valid shapes and hyperparameters, checked against an independent oracle.

Oracles: torch.utils.flop_counter.FlopCounterMode (its total is roofscope's matmul_flops, 2 per MAC)
and brute-force counts on small sizes (multiply-accumulates counted by looping over output positions
and kernel taps; max pooling's comparisons counted window by window).
"""

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import roofscope

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Call(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def torch_flops(fn, *args):
    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops()


def analyze(fn, *args, **options):
    return roofscope.analyze(Call(fn), args, **options)


# ---------------------------------------------------------------- convolution


@st.composite
def conv_cases(draw):
    dims = draw(st.integers(1, 2))
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(dims))
    transposed = draw(st.booleans())
    size = tuple(draw(st.integers(1, 7)) for _ in range(dims))
    batch = draw(st.integers(1, 2))
    bias = draw(st.booleans())
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation)) if transposed else None
    if not transposed:
        assume(all(n + 2 * p >= d * (k - 1) + 1 for n, p, d, k in zip(size, padding, dilation, kernel)))
    else:
        assume(
            all(
                (n - 1) * s - 2 * p + d * (k - 1) + op + 1 > 0
                for n, s, p, d, k, op in zip(size, stride, padding, dilation, kernel, output_padding)
            )
        )
    return dims, batch, cin, cout, groups, kernel, stride, padding, dilation, transposed, output_padding, size, bias


def brute_conv_macs(batch, cin, cout, groups, kernel, stride, padding, dilation, size):
    """Slide the kernel over the padded input; one MAC per output position, input channel of the
    group and kernel tap (padded taps included: a dense kernel multiplies them too)."""
    starts = []
    for n, k, s, p, d in zip(size, kernel, stride, padding, dilation):
        positions = []
        start = 0
        while start + d * (k - 1) <= n + 2 * p - 1:
            positions.append(start)
            start += s
        starts.append(positions)
    macs = 0
    for _ in range(batch):
        for _out_channel in range(cout):
            for _position in itertools.product(*starts):
                for _in_channel in range(cin // groups):
                    for _tap in itertools.product(*(range(k) for k in kernel)):
                        macs += 1
    return macs


@SETTINGS
@given(conv_cases())
def test_convolution(case):
    dims, batch, cin, cout, groups, kernel, stride, padding, dilation, transposed, output_padding, size, bias = case
    if transposed:
        layer = (nn.ConvTranspose1d, nn.ConvTranspose2d)[dims - 1](
            cin, cout, kernel, stride, padding, output_padding, groups, bias, dilation
        )
    else:
        layer = (nn.Conv1d, nn.Conv2d)[dims - 1](cin, cout, kernel, stride, padding, dilation, groups, bias)
    x = torch.randn(batch, cin, *size)
    with torch.no_grad():
        report = roofscope.analyze(layer, x)
        out = layer(x)
        expected = torch_flops(layer, x)
    assert report.total.matmul_flops == expected
    bias_adds = out.numel() if bias else 0
    assert report.total.flops == 2 * report.total.macs + bias_adds
    if not transposed:
        assert report.total.macs == brute_conv_macs(batch, cin, cout, groups, kernel, stride, padding, dilation, size)
    else:
        # a transposed convolution scatters each input element of each channel through every tap
        taps = 1
        for k in kernel:
            taps *= k
        assert report.total.macs == batch * cin * x[0, 0].numel() * (cout // groups) * taps


# ---------------------------------------------------------------- matmul broadcasting


@st.composite
def matmul_operands(draw):
    m, k, n = (draw(st.integers(1, 5)) for _ in range(3))
    batch = tuple(draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 2))))
    rank_a, rank_b = draw(st.integers(1, 2 + len(batch))), draw(st.integers(1, 2 + len(batch)))

    def operand(rank, rows, cols, vector_dim):
        if rank == 1:
            return (vector_dim,)
        lead = batch[len(batch) - (rank - 2) :] if rank > 2 else ()
        # some leading dimensions broadcast (size 1)
        lead = tuple(1 if draw(st.booleans()) else d for d in lead)
        return (*lead, rows, cols)

    return operand(rank_a, m, k, k), operand(rank_b, k, n, k)


@SETTINGS
@given(matmul_operands())
def test_matmul_broadcasting(shapes):
    a, b = torch.randn(shapes[0]), torch.randn(shapes[1])
    report = analyze(torch.matmul, a, b)
    if a.dim() > 1 and b.dim() > 1:  # FlopCounterMode has no formula for dot and mv (1-D operands)
        assert report.total.matmul_flops == torch_flops(torch.matmul, a, b)
    # independent count: one MAC per output element and contracted index
    out = torch.matmul(a, b)
    assert report.total.macs == out.numel() * a.shape[-1]


# ---------------------------------------------------------------- pooling


@st.composite
def pool_cases(draw):
    dims = draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    size = tuple(draw(st.integers(1, 8)) for _ in range(dims))
    ceil_mode = draw(st.booleans())
    assume(all(n + 2 * p >= d * (k - 1) + 1 for n, p, d, k in zip(size, padding, dilation, kernel)))
    return dims, draw(st.integers(1, 2)), draw(st.integers(1, 3)), kernel, stride, padding, dilation, size, ceil_mode


def pool_outputs(n, k, s, p, d, ceil_mode):
    """Window starts enumerated one by one (in padded coordinates): in floor mode a window must fit
    the padded input; in ceil mode the previous window must not reach its end, and the window must
    start inside the input or the left padding."""
    last = n + 2 * p - 1 - d * (k - 1)  # the last start at which a whole window fits
    count, start = 0, 0
    while (start <= last) if not ceil_mode else (start - s < last and start < n + p):
        count += 1
        start += s
    return count


@SETTINGS
@given(pool_cases())
def test_max_pool(case):
    dims, batch, channels, kernel, stride, padding, dilation, size, ceil_mode = case
    pool = (F.max_pool1d, F.max_pool2d)[dims - 1]
    x = torch.randn(batch, channels, *size)

    def fn(t):
        return pool(t, kernel, stride, padding, dilation, ceil_mode)

    report = analyze(fn, x)
    out = fn(x)
    window = 1
    for k in kernel:
        window *= k
    # brute force: each output window compares its taps one after another
    outputs = batch * channels
    for n, k, s, p, d in zip(size, kernel, stride, padding, dilation):
        outputs *= pool_outputs(n, k, s, p, d, ceil_mode)
    assert outputs == out.numel()
    assert report.total.flops == outputs * (window - 1)
    assert report.total.macs == 0


@SETTINGS
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 2))
def test_adaptive_avg_pool_windows(length, out_len, channels):
    x = torch.randn(1, channels, length)
    report = analyze(lambda t: F.adaptive_avg_pool1d(t, out_len), x)
    # brute force: the window of output i covers the inputs j with floor(i*L/O) <= j < ceil((i+1)*L/O)
    taps = sum(1 for i in range(out_len) for j in range(length) if (i * length) // out_len <= j < -(-(i + 1) * length // out_len))
    assert report.total.flops == channels * taps


# ---------------------------------------------------------------- attention


@st.composite
def attention_cases(draw):
    batch = draw(st.integers(1, 2))
    kv_heads = draw(st.integers(1, 3))
    q_heads = kv_heads * draw(st.integers(1, 3))
    L, S = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    E, Ev = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    mask = draw(st.sampled_from(["none", "bool", "float", "causal"]))
    return batch, q_heads, kv_heads, L, S, E, Ev, mask


@SETTINGS
@given(attention_cases())
def test_attention_with_masks_and_gqa(case):
    batch, q_heads, kv_heads, L, S, E, Ev, mask = case
    q = torch.randn(batch, q_heads, L, E)
    k = torch.randn(batch, kv_heads, S, E)
    v = torch.randn(batch, kv_heads, S, Ev)
    attn_mask = {"none": None, "bool": torch.rand(L, S) > 0.3, "float": torch.randn(batch, 1, L, S), "causal": None}[mask]

    def fn(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=mask == "causal", enable_gqa=True)

    with sdpa_kernel(SDPBackend.MATH):
        expected = torch_flops(fn, q, k, v)
    full = analyze(fn, q, k, v)
    assert full.total.matmul_flops == expected
    heads, scores = batch * q_heads, batch * q_heads * L * S
    assert full.total.macs == heads * L * S * (E + Ev)
    masked = mask != "none"
    assert full.total.flops == 2 * full.total.macs + scores + (scores if masked else 0) + heads * L * (5 * S - 2)
    triangle = analyze(fn, q, k, v, causal="triangle")
    if mask == "causal":
        kept = int(torch.tril(torch.ones(L, S)).sum())  # torch's own mask, counted
        assert triangle.total.macs == heads * kept * (E + Ev)
    else:
        assert triangle.total == full.total


@pytest.mark.parametrize("L", [1, 3])
def test_pool_outputs_helper_matches_torch_on_edges(L):
    # the brute-force helper itself, against torch's shapes on ceil-mode edge cases
    for k, s, p, d, ceil_mode in itertools.product((1, 2, 3), (1, 2, 3), (0, 1), (1, 2), (False, True)):
        if p > k // 2 or L + 2 * p < d * (k - 1) + 1:
            continue
        out = F.max_pool1d(torch.randn(1, 1, L), k, s, p, d, ceil_mode)
        assert pool_outputs(L, k, s, p, d, ceil_mode) == out.shape[-1], (k, s, p, d, ceil_mode)
