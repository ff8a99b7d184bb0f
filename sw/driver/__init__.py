"""Host drivers of the AXI top :class:`rosvd.hw.top.core.RosvdCore` (``docs/driver.md``).

:mod:`.core` holds the logic (:class:`~.core.CoreDriver`), over two small interfaces; it
runs against a fake (tests), the Verilator-simulated top (:mod:`.sim_bridge`) and, on a
board, PYNQ's MMIO and AXI DMA (:mod:`.pynq_core`, the thin board-facing class).
"""
