"""The device DNA: Xilinx's factory-programmed unique identifier, read once after reset.

:class:`DnaReader` drives a *DNA port*, an object with ``clk``, ``read``, ``shift`` in and
``dout`` out that behaves as Xilinx's primitive: on a rising ``clk`` with ``read`` high
the shift register loads the identifier and ``dout`` shows its first bit; with ``shift``
high it moves one bit towards ``dout``. Which port, by the ``platform`` given to
``elaborate`` (as :mod:`rosvd.hw.svd.platform` selects multipliers):

* Xilinx 7-series: ``DNA_PORT``, 57 bits, most significant bit first (UG470);
* Xilinx UltraScale/UltraScale+: ``DNA_PORTE2``, 96 bits, least significant first (UG570);
* anywhere else (``None``, simulators): :class:`SimulatedDnaPort`, the same behaviour with
  a parameter value (``SIM_DNA_VALUE`` is given to the primitives too, for vendor
  simulation).

The primitive's clock is a divided copy of ``sync`` (:data:`DNA_CLOCK_DIVIDER`):
``DNA_PORT`` takes at most 100 MHz.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

#: sync cycles per DNA clock period (even; the DNA clock is high for half of them).
DNA_CLOCK_DIVIDER = 4
#: Widest identifier (DNA_PORTE2); DEVICE_DNA holds this many bits.
DNA_MAX_WIDTH = 96
#: The simulation stand-in's identifier (57 bits, like a 7-series part): obviously not a device's.
SIMULATED_DNA_VALUE = 0x15E_ADB0_0C0F_FEE5


@dataclass(frozen=True)
class DnaPrimitive:
    """A DNA port's shape: identifier bits and the order they leave in."""

    name: str
    width: int
    msb_first: bool


DNA_PORT = DnaPrimitive("DNA_PORT", 57, msb_first=True)
DNA_PORTE2 = DnaPrimitive("DNA_PORTE2", 96, msb_first=False)
#: Xilinx family -> primitive.
XILINX_DNA = {"series7": DNA_PORT, "ultrascale": DNA_PORTE2, "ultrascaleplus": DNA_PORTE2}


def dna_primitive(platform) -> DnaPrimitive | None:
    """The primitive of a Xilinx ``platform``; ``None`` elsewhere (simulation stand-in)."""
    if platform is None:
        return None
    from amaranth.vendor import XilinxPlatform

    if not isinstance(platform, XilinxPlatform):
        return None
    if platform.family not in XILINX_DNA:
        raise ValueError(f"DnaReader: Xilinx family {platform.family!r} has no supported DNA port;"
                         f" supported: {tuple(XILINX_DNA)}")
    return XILINX_DNA[platform.family]


class DnaPortSignals(wiring.Component):
    """Ports shared by the stand-in and the primitive wrapper."""

    def __init__(self, primitive: DnaPrimitive):
        self.primitive = primitive
        super().__init__({"clk": In(1), "read": In(1), "shift": In(1), "dout": Out(1)})


class SimulatedDnaPort(DnaPortSignals):
    """Behaves as ``primitive`` on the rising edges of its ``clk`` input (sampled by
    ``sync``), holding ``value``. Reset: the shift register holds 0."""

    def __init__(self, primitive: DnaPrimitive, value: int):
        if not 0 <= value < 1 << primitive.width:
            self._MustUse__silence = True
            raise ValueError(f"SimulatedDnaPort: value {value:#x} does not fit {primitive.width} bits")
        self.value = value
        super().__init__(primitive)

    def elaborate(self, platform):
        m = Module()
        width = self.primitive.width
        register = Signal(width)
        previous = Signal()
        m.d.sync += previous.eq(self.clk)
        rising = self.clk & ~previous
        with m.If(rising & self.read):
            m.d.sync += register.eq(self.value)
        with m.Elif(rising & self.shift):
            if self.primitive.msb_first:
                m.d.sync += register.eq(register << 1)        # DIN (0) into bit 0
            else:
                m.d.sync += register.eq(register >> 1)        # DIN (0) into the top bit
        m.d.comb += self.dout.eq(register[-1] if self.primitive.msb_first else register[0])
        return m


class XilinxDnaPort(DnaPortSignals):
    """The ``DNA_PORT``/``DNA_PORTE2`` primitive (``SIM_DNA_VALUE`` for vendor simulation)."""

    def __init__(self, primitive: DnaPrimitive, sim_value: int = 0):
        self.sim_value = sim_value
        super().__init__(primitive)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dna = Instance(
            self.primitive.name,
            p_SIM_DNA_VALUE=f"{self.primitive.width}'h{self.sim_value:X}",
            i_CLK=self.clk, i_READ=self.read, i_SHIFT=self.shift, i_DIN=0, o_DOUT=self.dout)
        return m


class DnaReader(wiring.Component):
    """Reads the device DNA once after reset; ``dna`` (zero-extended to
    :data:`DNA_MAX_WIDTH`) and ``valid`` hold it from then on.

    The DNA port is chosen at elaboration (module docstring); ``simulated_primitive``
    and ``simulated_value`` describe the stand-in used off Xilinx. Latency: about
    ``(width + 2) * DNA_CLOCK_DIVIDER`` cycles after reset. ``width``, ``simulated``:
    resolved by :meth:`port_for` (the top reads them for its CONFIG register).
    """

    def __init__(self, simulated_primitive: DnaPrimitive = DNA_PORT,
                 simulated_value: int = SIMULATED_DNA_VALUE):
        if DNA_CLOCK_DIVIDER < 2 or DNA_CLOCK_DIVIDER % 2:
            raise ValueError("DnaReader: DNA_CLOCK_DIVIDER must be even and >= 2")
        self.simulated_primitive = simulated_primitive
        self.simulated_value = simulated_value
        super().__init__({"dna": Out(DNA_MAX_WIDTH), "valid": Out(1)})

    def port_for(self, platform) -> DnaPortSignals:
        primitive = dna_primitive(platform)
        if primitive is None:
            return SimulatedDnaPort(self.simulated_primitive, self.simulated_value)
        return XilinxDnaPort(primitive, sim_value=self.simulated_value % (1 << primitive.width))

    def elaborate(self, platform):
        m = Module()
        m.submodules.port = port = self.port_for(platform)
        width = port.primitive.width
        half = DNA_CLOCK_DIVIDER // 2

        phase = Signal(range(half))
        dna_clk = Signal()
        falling = Signal()          # this cycle ends with the DNA clock going low
        m.d.comb += [port.clk.eq(dna_clk), falling.eq(dna_clk & (phase == half - 1))]
        m.d.sync += phase.eq(0 if half == 1 else phase + 1)
        with m.If(phase == half - 1):
            m.d.sync += [phase.eq(0), dna_clk.eq(~dna_clk)]

        shifter = Signal(width)
        taken = Signal(range(width + 1))
        with m.If(falling & (port.read | port.shift)):
            # A falling edge samples dout, stable since the rising edge that loaded or
            # shifted it; READ and SHIFT change only at falling edges.
            bit = port.dout
            if port.primitive.msb_first:
                m.d.sync += shifter.eq((shifter << 1) | bit)
            else:
                m.d.sync += shifter.eq((shifter >> 1) | (bit << (width - 1)))
            m.d.sync += taken.eq(taken + 1)
        with m.FSM():
            with m.State("LOAD"):
                # READ across one rising edge: the first bit is on dout after it.
                m.d.comb += port.read.eq(1)
                with m.If(falling):
                    m.next = "SHIFT"
            with m.State("SHIFT"):
                m.d.comb += port.shift.eq(1)
                with m.If(falling & (taken == width - 1)):
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += self.valid.eq(1)
        m.d.comb += self.dna.eq(shifter)
        return m
