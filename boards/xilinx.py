"""The Amaranth platform of a board's FPGA, and RosvdCore's Verilog elaborated for it.

Elaborating for a :class:`amaranth.vendor.XilinxPlatform` is what makes the core
instantiate the Xilinx cells: the ring-oscillator bank's ``LUT1`` inverters
(:mod:`rosvd.hw.entropy.ring_oscillator`) and the device-DNA primitive, ``DNA_PORT`` on
7-series, ``DNA_PORTE2`` on UltraScale+ (:mod:`rosvd.hw.top.dna`). Multipliers stay
inferred (DSP48E1/E2, :mod:`rosvd.hw.svd.products`), as Vivado packs them. The platform
is used for elaboration only: Amaranth's own Vivado flow is not run (the board bundle
has its own block-design script, :mod:`rosvd.boards.vivado`).
"""
from __future__ import annotations

import re

from .targets import Target

#: The top module's name in the bundle (and the IP's model name).
TOP = "rosvd_core"
#: Xilinx family of each :attr:`Target.family` (Amaranth's names).
AMARANTH_FAMILY = {"xc7": "series7", "xcup": "ultrascaleplus"}


def part_fields(target: Target) -> tuple[str, str, str]:
    """``(device, package, speed)`` of ``target.part`` as Amaranth's platform wants them."""
    part = target.part.lower()
    if target.family == "xc7":
        match = re.fullmatch(r"(xc7[a-z]\d+[a-z]*?)([a-z]{2,3}\d+)-(\w+)", part)
    else:
        match = re.fullmatch(r"(xc[a-z0-9]+)-([a-z]+\d+)-(.+)", part)
    if not match:
        raise ValueError(f"cannot split part {target.part!r} into device, package and speed")
    return match.group(1), match.group(2), match.group(3)


def platform_for(target: Target):
    """An :class:`amaranth.vendor.XilinxPlatform` of ``target``'s part (no resources)."""
    from amaranth.vendor import XilinxPlatform

    device, package, speed = part_fields(target)
    cls = type(f"{target.name.capitalize()}Platform", (XilinxPlatform,),
               {"device": device, "package": package, "speed": speed, "resources": [], "connectors": []})
    platform = cls()
    if platform.family != AMARANTH_FAMILY[target.family]:
        raise ValueError(f"{target.part}: Amaranth sees family {platform.family!r}, "
                         f"expected {AMARANTH_FAMILY[target.family]!r}")
    return platform


def core_verilog(target: Target, params=None) -> str:
    """RosvdCore (``params``: :class:`rosvd.hw.top.core.CoreParams`, default its defaults)
    as Verilog module :data:`TOP`, elaborated for ``target``. Deterministic: no source
    locations are emitted (they would name the checkout's directory)."""
    from amaranth.back import verilog

    from rosvd.hw.top.core import CoreParams, RosvdCore

    return verilog.convert(RosvdCore(params or CoreParams()), name=TOP, platform=platform_for(target),
                           emit_src=False)
