"""RosvdCore: the SVD engine and the entropy source behind AXI4-Lite and AXI4-Stream.

The one top component for Vivado's IP integrator and PYNQ (``docs/axi-top.md``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from amaranth.hdl import Cat, ClockDomain, Module, Mux, ResetInserter
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..entropy import registers as entropy_registers
from ..entropy.params import EntropyParams
from ..entropy.registers import DEFAULT_FIFO_DEPTH, EntropyRegisters
from ..svd.engine import SVDEngine
from ..svd.params import SVDParams
from .axi_lite import WORD_ADDR_SHIFT, AxiLiteSignature, AxiLiteSlave
from .axi_stream import AXIS_DATA_WIDTH, MatrixUnpacker, ResultPacker, elements_per_word
from .dna import DNA_PORT, SIMULATED_DNA_VALUE, DnaPrimitive, DnaReader, dna_primitive
from .interrupt import InterruptController, StickyFlags
from .register_file import RegisterFile, clear_name, port_name
from .register_map import REGISTER_MAP, resolve
from .timer import DecompositionTimer

#: AXI4-Lite address bits: 4 KiB, the smallest range Vivado's address editor assigns.
#: Offsets past the register map answer SLVERR.
S_AXI_ADDR_WIDTH = 12
#: Top-level port prefixes (Vivado infers the interfaces from them).
S_AXI, S_AXIS, M_AXIS = "s_axi", "s_axis", "m_axis"


@dataclass(frozen=True)
class CoreParams:
    """Elaboration-time parameters of :class:`RosvdCore`; the CONFIG registers report them.

    ``dna_value`` is the identifier of the simulation stand-in (and ``SIM_DNA_VALUE`` of
    the primitives); ``dna_primitive`` the stand-in's shape (DNA_PORT: 57 bits).
    """

    svd: SVDParams = field(default_factory=SVDParams)
    entropy: EntropyParams = field(default_factory=EntropyParams)
    fifo_depth: int = DEFAULT_FIFO_DEPTH
    dna_value: int = SIMULATED_DNA_VALUE
    dna_primitive: DnaPrimitive = DNA_PORT

    @property
    def elements_per_word(self) -> int:
        return elements_per_word(self.svd)


@dataclass(frozen=True)
class ConfigSource:
    """What the CONFIG registers' value paths resolve against, once the platform is known."""

    svd: SVDParams
    entropy: EntropyParams
    fifo_depth: int
    elements_per_word: int
    dna: DnaPrimitive
    dna_simulated: bool


def config_source(params: CoreParams, platform=None) -> ConfigSource:
    primitive = dna_primitive(platform)
    return ConfigSource(params.svd, params.entropy, params.fifo_depth, params.elements_per_word,
                        primitive or params.dna_primitive, primitive is None)


def config_constants(params: CoreParams, platform=None) -> dict[tuple[str, str], int]:
    """``{(register, field): value}`` of every const field of the map."""
    source = config_source(params, platform)
    return {(reg.name, f.name): resolve(f.value, source) for reg, f in REGISTER_MAP.const_fields()}


def _flat_members(prefix: str, signature: wiring.Signature, *, flip: bool) -> dict:
    return {f"{prefix}_{name}": member.flip() if flip else member
            for name, member in signature.members.items()}


def _drive_fields(m: Module, regs: RegisterFile, register: str, values: dict) -> None:
    """Drive the status (or w1c value) inputs of ``register`` from ``values`` by field name."""
    names = [f.name for f in REGISTER_MAP[register].fields]
    if sorted(names) != sorted(values):
        raise ValueError(f"RosvdCore: {register} fields {names} but values for {sorted(values)}")
    for name in names:
        m.d.comb += getattr(regs, port_name(register, name)).eq(values[name])


def _fields(regs: RegisterFile, register: str, suffix=port_name):
    """The register file's members of ``register``'s fields, in field order."""
    return [getattr(regs, suffix(register, f.name)) for f in REGISTER_MAP[register].fields]


class RosvdCore(wiring.Component):
    """The SVD engine and the entropy source, for Vivado's IP integrator and PYNQ.

    Ports (Vivado's names, so IP integrator infers the interfaces):

    * ``aclk``, ``aresetn``: the one clock, and its synchronous active-low reset (the
      whole core, bus included);
    * ``s_axi_*``: AXI4-Lite slave, 32-bit data, :data:`S_AXI_ADDR_WIDTH` address bits
      (:class:`.axi_lite.AxiLiteSlave`): control, status and the register map
      :data:`.register_map.REGISTER_MAP`;
    * ``s_axis_tdata/tvalid/tready/tlast``: matrices in, packed elements
      (:class:`.axi_stream.MatrixUnpacker`);
    * ``m_axis_tdata/tvalid/tready/tlast``: results out, one 32-bit word per result,
      TLAST on the last word of a decomposition (:class:`.axi_stream.ResultPacker`);
    * ``interrupt``: level high while an enabled IRQ_STATUS bit is pending;
    * ``entropy_raw_bit``: the entropy source's simulated noise input (ignored on Xilinx
      7-series/UltraScale, where ring oscillators are built; tie to 0 there).

    CONTROL.soft_reset resets the SVD path (engine, stream adapters, cycle timer) for
    one cycle, not the bus, the registers or the entropy source; words in flight on the
    streams are lost. CONTROL.alarm_clear is the entropy source's host reset.
    """

    def __init__(self, params: CoreParams | None = None):
        self.params = p = params or CoreParams()
        self._engine = SVDEngine(p.svd)
        self._unpacker = MatrixUnpacker(p.svd)
        self._packer = ResultPacker(p.svd)
        self._timer = DecompositionTimer()
        self._entropy = EntropyRegisters(p.entropy, fifo_depth=p.fifo_depth)
        self._dna = DnaReader(p.dna_primitive, p.dna_value)
        self._slave = AxiLiteSlave(S_AXI_ADDR_WIDTH)
        self._errors = StickyFlags(len(REGISTER_MAP["ERRORS"].fields))
        self._irq = InterruptController(len(REGISTER_MAP["IRQ_STATUS"].fields))
        members = {"aclk": In(1), "aresetn": In(1)}
        members |= _flat_members(S_AXI, AxiLiteSignature(S_AXI_ADDR_WIDTH), flip=True)
        members |= {f"{S_AXIS}_tdata": In(AXIS_DATA_WIDTH), f"{S_AXIS}_tvalid": In(1),
                    f"{S_AXIS}_tready": Out(1), f"{S_AXIS}_tlast": In(1),
                    f"{M_AXIS}_tdata": Out(AXIS_DATA_WIDTH), f"{M_AXIS}_tvalid": Out(1),
                    f"{M_AXIS}_tready": In(1), f"{M_AXIS}_tlast": Out(1),
                    "interrupt": Out(1), "entropy_raw_bit": In(1)}
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = sync = ClockDomain("sync")
        m.d.comb += [sync.clk.eq(self.aclk), sync.rst.eq(~self.aresetn)]

        regs = RegisterFile(REGISTER_MAP, S_AXI_ADDR_WIDTH - WORD_ADDR_SHIFT,
                            config_constants(self.params, platform))
        m.submodules.regs = regs
        m.submodules.axi_lite = slave = self._slave
        wiring.connect(m, slave.regs, regs.bus)
        for name, member in slave.bus.signature.members.items():
            outer, inner = getattr(self, f"{S_AXI}_{name}"), getattr(slave.bus, name)
            # flows as the slave sees them: In is driven by the master, from outside.
            m.d.comb += inner.eq(outer) if member.flow == wiring.In else outer.eq(inner)

        # The SVD path, under CONTROL.soft_reset.
        soft_reset = regs.control_soft_reset
        engine, unpacker, packer, timer = self._engine, self._unpacker, self._packer, self._timer
        m.submodules.engine = ResetInserter(soft_reset)(engine)
        m.submodules.unpacker = ResetInserter(soft_reset)(unpacker)
        m.submodules.packer = packer
        m.submodules.timer = ResetInserter(soft_reset)(timer)
        wiring.connect(m, unpacker.elements, engine.matrix)
        wiring.connect(m, engine.result, packer.results)
        m.d.comb += [
            unpacker.words.payload.data.eq(self.s_axis_tdata),
            unpacker.words.payload.last.eq(self.s_axis_tlast),
            unpacker.words.valid.eq(self.s_axis_tvalid),
            self.s_axis_tready.eq(unpacker.words.ready),
            self.m_axis_tdata.eq(packer.words.payload.data),
            self.m_axis_tlast.eq(packer.words.payload.last),
            self.m_axis_tvalid.eq(packer.words.valid),
            packer.words.ready.eq(self.m_axis_tready),
            timer.start.eq(unpacker.matrix_start),
            timer.finish.eq(packer.finish),
        ]

        # The entropy source's register port: reads through the window, and its CONTROL
        # host reset from CONTROL.alarm_clear (never in the same cycle as a read).
        m.submodules.entropy = entropy = self._entropy
        window, alarm_clear = regs.entropy, regs.control_alarm_clear
        source = entropy.source
        m.d.comb += [
            entropy.raw_bit.eq(self.entropy_raw_bit),
            entropy.addr.eq(Mux(alarm_clear, entropy_registers.REGISTERS["CONTROL"], window.addr)),
            entropy.r_stb.eq(window.r_stb),
            window.r_data.eq(entropy.r_data),
            entropy.w_stb.eq(alarm_clear),
            entropy.w_data.eq(entropy_registers.CONTROL_HOST_RESET),
        ]
        empty_read = window.r_stb & (window.addr == entropy_registers.REGISTERS["DATA"]) & ~entropy.readable

        m.submodules.dna = dna = self._dna

        m.submodules.errors = errors = self._errors
        error_sources = {"read_only_write": regs.refused_write, "bad_address": regs.bad_address,
                         "empty_read": empty_read, "framing": unpacker.framing_error}
        names = [f.name for f in REGISTER_MAP["ERRORS"].fields]
        if sorted(names) != sorted(error_sources):
            raise ValueError(f"RosvdCore: ERRORS fields {names} but sources for {sorted(error_sources)}")
        m.d.comb += [errors.set.eq(Cat(error_sources[name] for name in names)),
                     errors.clear.eq(Cat(_fields(regs, "ERRORS", clear_name))),
                     Cat(_fields(regs, "ERRORS")).eq(errors.flags)]

        m.submodules.irq = irq = self._irq
        irq_sources = {"done": packer.finish, "alarm": source.alarm_rct | source.alarm_apt}
        irq_enables = {"done": regs.control_irq_done_enable, "alarm": regs.control_irq_alarm_enable}
        names = [f.name for f in REGISTER_MAP["IRQ_STATUS"].fields]
        if sorted(names) != sorted(irq_sources):
            raise ValueError(f"RosvdCore: IRQ_STATUS fields {names} but sources for {sorted(irq_sources)}")
        m.d.comb += [irq.sources.eq(Cat(irq_sources[name] for name in names)),
                     irq.enable.eq(Cat(irq_enables[name] for name in names)),
                     irq.clear.eq(Cat(_fields(regs, "IRQ_STATUS", clear_name))),
                     Cat(_fields(regs, "IRQ_STATUS")).eq(irq.pending),
                     self.interrupt.eq(irq.irq)]

        _drive_fields(m, regs, "STATUS", {
            "busy": engine.busy, "done": timer.done, "entropy_ready": entropy.readable,
            "alarm_rct": source.alarm_rct, "alarm_apt": source.alarm_apt, "simulated": source.simulated,
            "entropy_healthy": source.healthy, "dna_valid": dna.valid, "error": errors.flags.any(),
            "interrupt": irq.irq})
        _drive_fields(m, regs, "CYCLES", {"value": timer.cycles})
        _drive_fields(m, regs, "SWEEPS_RUN", {"value": engine.sweeps_run})
        for word in range(3):
            _drive_fields(m, regs, f"DEVICE_DNA{word}", {"value": dna.dna.word_select(word, 32)})
        return m
