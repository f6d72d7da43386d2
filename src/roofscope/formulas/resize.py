"""Interpolation and upsampling (F.interpolate and the nn.Upsample modules).

Nearest-neighbour modes only copy: 0 FLOPs, bytes only. Linear modes count each 1-D linear
interpolation a + w * (b - a) as 3 FLOPs per output element and compose them: linear 3,
bilinear 9 (three lerps), trilinear 21 (seven lerps). Bicubic: a 4-tap cubic filter is 4 multiplies
and 3 adds = 7 FLOPs, applied 4 times along one axis and once along the other = 35 per output element.
The per-axis source indices and weights are shared by a whole row or column and are not counted.
Antialiased resizing has a scale-dependent filter width and has no formula: it is reported uncounted.
Grid sampling (F.grid_sample, ``grid_sampler_2d``/``3d``) interpolates each output element the same
way at the point its grid entry names (mode 0 bilinear or trilinear, 1 nearest, 2 bicubic), and
turns each grid point's normalised coordinates into pixel coordinates, one multiply and one add per
coordinate, shared by the channels: 2 * dims FLOPs per output location.
Bytes = input read once (the grid too), output written once.
"""

from __future__ import annotations

from collections.abc import Callable

from roofscope.cost import Cost
from roofscope.events import OpEvent
from roofscope.formulas._registry import Family, with_io

__all__ = ["FLOPS_PER_OUTPUT", "grid_sampler"]

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

_GRID_MODES = {0: "bilinear", 1: "nearest", 2: "bicubic"}


@family("aten.grid_sampler_2d", "aten.grid_sampler_3d")
def grid_sampler(event: OpEvent) -> Cost:
    """(input [N, C, *in], grid [N, *out, dims], interpolation_mode, padding_mode, align_corners):
    per output element the mode's interpolation (bilinear 9, trilinear 21, nearest 0, bicubic 35),
    plus 2 * dims per output location for the coordinates."""
    x, grid = event.args[0], event.args[1]
    dims = grid.shape[-1]
    mode = _GRID_MODES.get(int(event.arg(2, "interpolation_mode", 0)), "bilinear")
    if mode == "bilinear" and dims == 3:
        mode = "trilinear"
    if not x.is_floating:
        return with_io(event, 0, 0)
    locations = grid.numel // dims if dims else 0
    return with_io(event, 0, FLOPS_PER_OUTPUT[mode] * event.output.numel + 2 * dims * locations)
