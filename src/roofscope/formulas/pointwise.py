"""Element-wise ops: unary, binary and ternary math, comparisons, and every activation in torch.nn.

FLOPs = (FLOPs per element) * (output elements), where each add, subtract, multiply, divide,
comparison-and-select (max, min, where), power, and each evaluation of an elementary function
(exp, log, sqrt, tanh, erf, sin, ...) counts as one. An activation costs the elementary ops of its
defining formula; the table below gives each one and its formula. Ops on integer or boolean tensors
are not floating-point work and count 0 FLOPs; their bytes are still counted.
Bytes = every input read once (a broadcast operand only for its own elements), output written once;
an in-place op reads its operands and writes the result back.
"""

from __future__ import annotations

from collections.abc import Callable

from roofscope.cost import Cost
from roofscope.events import OpEvent
from roofscope.formulas._registry import Family, with_io

__all__ = ["add", "addcmul", "celu", "clamp", "div", "elu", "gelu", "per_element", "softplus"]

family = Family("pointwise")

RELU_FLOPS = 1  # max(x, 0)
GELU_FLOPS = 5  # 0.5 * x * (1 + erf(x / sqrt(2))): divide, erf, add, multiply, multiply
GELU_TANH_FLOPS = 9  # 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))): x^3 2, then 7
SIGMOID_FLOPS = 4  # 1 / (1 + exp(-x)): negate, exp, add, divide

# FLOPs per output element of ops whose cost does not depend on their arguments.
PER_ELEMENT: dict[int, tuple[str, ...]] = {
    1: (
        # arithmetic and comparisons
        "mul",
        "true_divide",
        "floor_divide",
        "remainder",
        "fmod",
        "neg",
        "abs",
        "reciprocal",
        "sqrt",
        "rsqrt",
        "pow",
        "float_power",
        "square",
        "maximum",
        "minimum",
        "fmax",
        "fmin",
        "clamp_min",
        "clamp_max",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "where",
        "masked_fill",
        "sign",
        "sgn",
        "signbit",
        "copysign",
        "heaviside",
        "isnan",
        "isinf",
        "nan_to_num",
        "logical_not",
        "logical_and",
        "logical_or",
        "logical_xor",
        "bitwise_and",
        "bitwise_or",
        "bitwise_xor",
        "bitwise_not",
        "floor",
        "ceil",
        "round",
        "trunc",
        "frac",
        "deg2rad",
        "rad2deg",
        # elementary functions
        "exp",
        "exp2",
        "expm1",
        "log",
        "log2",
        "log10",
        "log1p",
        "sin",
        "cos",
        "tan",
        "asin",
        "acos",
        "atan",
        "atan2",
        "sinh",
        "cosh",
        "tanh",
        "asinh",
        "acosh",
        "atanh",
        "erf",
        "erfc",
        "erfinv",
        "lgamma",
        "digamma",
        "i0",
        # activations: relu = max(x, 0); threshold = x > t ? x : value
        "relu",
        "threshold",
        # backward of relu / threshold: grad where x > t
        "threshold_backward",
    ),
    2: (
        "hardtanh",
        "relu6",  # min(max(x, lo), hi)
        "leaky_relu",
        "_prelu_kernel",
        "rrelu_with_noise",  # x > 0 ? x : a * x
        "hardshrink",  # |x| > l ? x : 0
        "xlogy",  # x * log(y)
        "native_dropout",  # x * mask * 1 / (1 - p)
        "native_dropout_backward",
        "hardtanh_backward",
        "leaky_relu_backward",
        "hardsigmoid_backward",
    ),
    3: (
        "softshrink",  # |x| > l ? x - l * sign(x) : 0
        "lerp",  # a + w * (b - a)
        "logit",  # log(x / (1 - x))
        "sigmoid_backward",
        "tanh_backward",  # g * y * (1 - y), g * (1 - y^2)
        "sinc",  # sin(pi x) / (pi x)
    ),
    4: (
        "polar",  # abs * cos(angle) + i abs * sin(angle)
        "sigmoid",  # 1 / (1 + exp(-x))
        "hardsigmoid",  # min(max(x + 3, 0), 6) / 6
        "hardswish_backward",
        "elu_backward",
        "_prelu_kernel_backward",
    ),
    5: (
        "silu",  # x * sigmoid(x)
        "hardswish",  # x * hardsigmoid(x)
        "mish",  # x * tanh(log(1 + exp(x)))
        "glu",  # a * sigmoid(b), per output element
        "log_sigmoid_forward",  # -log(1 + exp(-x)): negate, exp, add, log, negate
        "softplus_backward",
        "log_sigmoid_backward",
    ),
    7: ("silu_backward",),  # sigmoid 4, then g * s * (1 + x * (1 - s)) 3
    9: ("gelu_backward",),  # cdf and pdf of x, combined
    10: ("mish_backward",),
}


def _floating(event: OpEvent) -> bool:
    return any(t.is_floating for t in event.inputs) or any(t.is_floating for t in event.outputs)


def _elements(event: OpEvent) -> int:
    return event.output.numel if event.outputs else 0


def per_element(flops_per_element: int) -> Callable[[OpEvent], Cost]:
    def formula(event: OpEvent) -> Cost:
        flops = flops_per_element * _elements(event) if _floating(event) else 0
        return with_io(event, 0, flops)

    formula.__doc__ = f"{flops_per_element} FLOP(s) per output element."
    formula.__qualname__ = f"per_element({flops_per_element})"
    return formula


# Ops that have no in-place variant in aten (torch.ops.aten has no maximum_, where_, glu_, ...).
NO_INPLACE = frozenset(
    {
        "maximum",
        "minimum",
        "fmax",
        "fmin",
        "where",
        "signbit",
        "isnan",
        "isinf",
        "_prelu_kernel",
        "hardshrink",
        "native_dropout",
        "softshrink",
        "glu",
        "log_sigmoid_forward",
        "polar",
    }
)


def _both(names: tuple[str, ...]) -> list[str]:
    """An op and its in-place variant (add, add_), where aten has one."""
    return [f"aten.{name}" for name in names] + [
        f"aten.{name}_" for name in names if not name.endswith("backward") and name not in NO_INPLACE
    ]


for _flops, _names in PER_ELEMENT.items():
    family.add(_both(_names), per_element(_flops))


def _extra_if(event: OpEvent, condition: bool) -> int:
    return _elements(event) if condition else 0


@family("aten.add", "aten.add_", "aten.sub", "aten.sub_", "aten.rsub")
def add(event: OpEvent) -> Cost:
    """x + alpha * y: 1 FLOP per element, 2 when alpha is not 1."""
    alpha = event.kwargs.get("alpha", event.args[2] if len(event.args) > 2 else 1)
    flops = _elements(event) + _extra_if(event, alpha != 1) if _floating(event) else 0
    return with_io(event, 0, flops)


@family("aten.div", "aten.div_")
def div(event: OpEvent) -> Cost:
    """x / y: 1 FLOP per element, 2 with a rounding mode (divide, then floor or truncate)."""
    flops = _elements(event) + _extra_if(event, event.kwargs.get("rounding_mode") is not None) if _floating(event) else 0
    return with_io(event, 0, flops)


@family("aten.clamp", "aten.clamp_")
def clamp(event: OpEvent) -> Cost:
    """min(max(x, lo), hi): 1 FLOP per element per bound given."""
    bounds = sum(event.arg(i, name) is not None for i, name in ((1, "min"), (2, "max")))
    return with_io(event, 0, bounds * _elements(event) if _floating(event) else 0)


@family("aten.addcmul", "aten.addcmul_", "aten.addcdiv", "aten.addcdiv_")
def addcmul(event: OpEvent) -> Cost:
    """x + value * (a * b) or x + value * (a / b): 2 FLOPs per element, 3 when value is not 1."""
    value = event.arg(3, "value", 1)
    flops = 2 * _elements(event) + _extra_if(event, value != 1) if _floating(event) else 0
    return with_io(event, 0, flops)


@family("aten.elu", "aten.elu_")
def elu(event: OpEvent) -> Cost:
    """x > 0 ? scale * x : scale * alpha * (exp(input_scale * x) - 1), as ELU, SELU and CELU use it:
    4 FLOPs per element (exp, subtract, multiply, select), +1 for a scale and +1 for an input scale
    that is not 1."""
    scale = event.arg(2, "scale", 1)
    input_scale = event.arg(3, "input_scale", 1)
    flops = 4 * _elements(event) + _extra_if(event, scale != 1) + _extra_if(event, input_scale != 1)
    return with_io(event, 0, flops if _floating(event) else 0)


@family("aten.celu", "aten.celu_")
def celu(event: OpEvent) -> Cost:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)): ELU with scale 1 and input scale 1 / alpha,
    4 FLOPs per element, +1 when alpha is not 1."""
    alpha = event.arg(1, "alpha", 1)
    flops = 4 * _elements(event) + _extra_if(event, alpha != 1)
    return with_io(event, 0, flops if _floating(event) else 0)


@family("aten.softplus")
def softplus(event: OpEvent) -> Cost:
    """beta * x > threshold ? x : log(1 + exp(beta * x)) / beta: 4 FLOPs per element (exp, add, log,
    select), +2 when beta is not 1 (multiply and divide)."""
    beta = event.arg(1, "beta", 1)
    flops = 4 * _elements(event) + 2 * _extra_if(event, beta != 1)
    return with_io(event, 0, flops if _floating(event) else 0)


@family("aten.gelu", "aten.gelu_")
def gelu(event: OpEvent) -> Cost:
    """Exact GELU 0.5 * x * (1 + erf(x / sqrt(2))): 5 FLOPs per element; the tanh approximation
    0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))): 9."""
    approximate = event.kwargs.get("approximate", event.args[1] if len(event.args) > 1 else "none")
    per = GELU_TANH_FLOPS if approximate == "tanh" else GELU_FLOPS
    return with_io(event, 0, per * _elements(event) if _floating(event) else 0)
