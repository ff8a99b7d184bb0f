"""The IP identities the overlay and its driver agree on, defined once (no Amaranth here:
the board-side driver imports this without the ``hw`` extra).

:data:`VLNV` is what ``rosvd boards build`` packages RosvdCore under (``ip/component.xml``)
and what :class:`rosvd.driver.pynq_core.RosvdCoreIP` binds to; :data:`AXI_DMA_VLNV` is the
AXI DMA the block design instantiates and PYNQ's DMA driver binds to.
"""
from __future__ import annotations

#: vendor:library:name:version of the packaged RosvdCore.
VLNV = "rosvd.local:rosvd:rosvd_core:1.0"
#: Xilinx AXI DMA (PG021), as PYNQ's own DMA driver binds it.
AXI_DMA_VLNV = "xilinx.com:ip:axi_dma:7.1"


def split_vlnv(vlnv: str) -> dict[str, str]:
    """``{"vendor", "library", "name", "version"}`` of ``"v:l:n:v"``; raises on another shape."""
    parts = vlnv.split(":")
    if len(parts) != 4 or not all(parts):
        raise ValueError(f"VLNV {vlnv!r} is not vendor:library:name:version")
    return dict(zip(("vendor", "library", "name", "version"), parts, strict=True))
