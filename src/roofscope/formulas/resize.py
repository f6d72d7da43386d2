"""Interpolation and upsampling (F.interpolate and the nn.Upsample modules).

Nearest-neighbour modes only copy: 0 FLOPs, bytes only. Linear modes count each 1-D linear
interpolation a + w * (b - a) as 3 FLOPs per output element and compose them: linear 3,
bilinear 9 (three lerps), trilinear 21 (seven lerps). Bicubic: a 4-tap cubic filter is 4 multiplies
and 3 adds = 7 FLOPs, applied 4 times along one axis and once along the other = 35 per output element.
The per-axis source indices and weights are shared by a whole row or column and are not counted.
Antialiased resizing has a scale-dependent filter width and has no formula: it is reported uncounted.
Bytes = input read once, output written once.
"""

from __future__ import annotations

from collections.abc import Callable

from roofscope.cost import Cost
from roofscope.events import OpEvent
from roofscope.formulas._registry import Family, with_io

family = Family("resize")

FLOPS_PER_OUTPUT = {
    "nearest": 0,
    "linear": 3,
    "bilinear": 9,
    "trilinear": 21,
    "bicubic": 35,
}


def _resize(mode: str) -> Callable[[OpEvent], Cost]:
    per_output = FLOPS_PER_OUTPUT[mode]

    def formula(event: OpEvent) -> Cost:
        flops = per_output * event.output.numel if event.args[0].is_floating else 0
        return with_io(event, 0, flops)

    formula.__doc__ = f"{mode}: {per_output} FLOPs per output element."
    return formula


for _dims in ("1d", "2d", "3d"):
    family.add([f"aten.upsample_nearest{_dims}", f"aten._upsample_nearest_exact{_dims}"], _resize("nearest"))
family.add(["aten.upsample_linear1d"], _resize("linear"))
family.add(["aten.upsample_bilinear2d"], _resize("bilinear"))
family.add(["aten.upsample_trilinear3d"], _resize("trilinear"))
family.add(["aten.upsample_bicubic2d"], _resize("bicubic"))
