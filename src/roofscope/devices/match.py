"""Which catalog entry a GPU is, from the name torch gives it."""

from __future__ import annotations

import re

__all__ = ["catalog_match"]

# torch.cuda.get_device_name() -> catalog key; first match wins. Names that could be several SKUs
# (H100 NVL, A10G) match nothing rather than the wrong entry.
_CATALOG_NAMES = (
    (r"H100.*(PCIe|PCIE)", "h100-pcie"),
    (r"H100.*NVL", None),
    (r"H100", "h100-sxm"),
    (r"H200.*NVL", None),
    (r"H200", "h200"),
    (r"A100.*80\s*GB", "a100-80gb"),
    (r"A100", "a100-40gb"),
    (r"\bA10G\b", None),
    (r"\bA10\b", "a10"),
    (r"\bL40S\b", "l40s"),
    (r"\bL4\b", "l4"),
    (r"\bT4\b", "t4"),
    (r"V100", "v100"),
    (r"RTX 4090", "rtx4090"),
    (r"RTX 3090", "rtx3090"),
    (r"MI300X", "mi300x"),
    (r"MI325X", "mi325x"),
    (r"\bB200\b", "b200"),  # not GB200 (a Grace-Blackwell superchip's GPU, at other clocks)
)


def catalog_match(name: str) -> str | None:
    """The catalog key of a GPU from its name as torch gives it ("NVIDIA H100 80GB HBM3" ->
    "h100-sxm"), None when no entry is certainly that device."""
    for pattern, key in _CATALOG_NAMES:
        if re.search(pattern, name, flags=re.IGNORECASE):
            return key
    return None
