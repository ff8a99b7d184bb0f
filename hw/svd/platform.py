"""The platform the engine is elaborated with when its Verilog is exported for one FPGA family."""
from __future__ import annotations

from dataclasses import dataclass

from .products import MultiplierBlock


@dataclass(frozen=True)
class ExportPlatform:
    """What the engine asks of a platform: the multiplier block its products are built
    from (:mod:`.products`) and the RAM cell its slot memories are instantiated as
    (:mod:`.slot_memory`; None: inferred)."""

    name: str
    multiplier_block: MultiplierBlock
    ram_block: str | None = None

    @property
    def primitives(self) -> tuple[str, ...]:
        """Vendor cells the exported Verilog instantiates (each needs a simulation model)."""
        return tuple(cell for cell in (self.multiplier_block.primitive, self.ram_block) if cell)
