"""The Xilinx devices the engine is sized for, as data.

Capacities are the public datasheet figures for the programmable logic (PL) only:

* Zynq-7000 SoC Data Sheet: Overview (DS190), Z-7020: 53,200 LUTs, 106,400 flip-flops,
  140 block RAMs of 36 Kb (4.9 Mb), 220 DSP slices (DSP48E1). The Z-7020 fabric is
  Artix-7 (CLB of two slices, four 6-LUTs per slice); 4,350 of its 13,300 slices are
  SLICEM, so 17,400 LUTs can hold distributed RAM or shift registers (the figure
  Vivado's utilisation report gives as "LUT as Memory" available).
* Zynq UltraScale+ MPSoC Data Sheet: Overview (DS891), ZU7EV: 230,400 CLB LUTs,
  460,800 CLB flip-flops, 312 block RAMs of 36 Kb (11.0 Mb), 96 UltraRAMs (27 Mb),
  1,728 DSP slices (DSP48E2), 6.2 Mb distributed RAM (= 101,760 LUTs of 64 bits).
* Kria K26 SOM Data Sheet (DS987): the XCK26 is a custom Zynq UltraScale+ MPSoC with the
  programmable-logic resources of the ZU5EV in DS891: 117,120 CLB LUTs, 234,240 CLB
  flip-flops, 144 block RAMs (5.1 Mb), 64 UltraRAMs (18 Mb), 1,248 DSP slices,
  3.5 Mb distributed RAM (= 57,600 LUTs of 64 bits).

A block RAM of 36 Kb splits into two independent 18 Kb halves (RAMB18E1/E2), so the
BRAM18 capacity is twice the BRAM36 count.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TARGETS", "Target", "names", "target"]


@dataclass(frozen=True)
class Target:
    """One board's FPGA: identity, the Yosys family to synthesise for, and PL capacities."""

    name: str
    board: str
    part: str
    family: str
    lut: int
    ff: int
    dsp: int
    bram36: int
    lutram_lut: int
    uram: int
    datasheet: str

    def __post_init__(self):
        if self.family not in ("xc7", "xcup"):
            raise ValueError(f"family must be 'xc7' or 'xcup', not {self.family!r}")

    @property
    def bram18(self) -> int:
        """18 Kb block RAM halves: two per 36 Kb block."""
        return 2 * self.bram36

    @property
    def dsp_cell(self) -> str:
        """The DSP primitive Yosys maps multipliers to on this family."""
        return "DSP48E1" if self.family == "xc7" else "DSP48E2"

    def capacity(self) -> dict[str, int]:
        """Capacities keyed like the resource counts of :func:`rosvd.boards.synth.xilinx_resources`."""
        return {"LUT": self.lut, "FF": self.ff, "DSP": self.dsp, "BRAM": self.bram36,
                "BRAM18": self.bram18, "LUTRAM": self.lutram_lut, "URAM": self.uram}


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target(name="xc7z020", board="PYNQ-Z2", part="xc7z020clg400-1", family="xc7",
           lut=53_200, ff=106_400, dsp=220, bram36=140, lutram_lut=17_400, uram=0,
           datasheet="DS190 (Zynq-7000), Z-7020"),
    Target(name="xck26", board="Kria KV260", part="XCK26-SFVC784-2LV-C", family="xcup",
           lut=117_120, ff=234_240, dsp=1_248, bram36=144, lutram_lut=57_600, uram=64,
           datasheet="DS987 (Kria K26 SOM); ZU5EV resources in DS891"),
    Target(name="xczu7ev", board="ZCU104", part="xczu7ev-ffvc1156-2-e", family="xcup",
           lut=230_400, ff=460_800, dsp=1_728, bram36=312, lutram_lut=101_760, uram=96,
           datasheet="DS891 (Zynq UltraScale+ MPSoC), ZU7EV"),
)}

#: Board names accepted by :func:`target` as well as device names.
_ALIASES = {"pynq-z2": "xc7z020", "kv260": "xck26", "k26": "xck26", "zcu104": "xczu7ev"}


def names() -> list[str]:
    """Every name :func:`target` accepts in lower case: devices, then board names."""
    return [*TARGETS, *_ALIASES]


def target(name: str) -> Target:
    """The target called ``name`` (device or board name, case-insensitive).

    Raises :class:`ValueError` naming the valid choices for any other name.
    """
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in TARGETS:
        valid = ", ".join(TARGETS)
        boards = ", ".join(_ALIASES)
        raise ValueError(f"unknown target {name!r}; valid targets: {valid} (or boards: {boards})")
    return TARGETS[key]
