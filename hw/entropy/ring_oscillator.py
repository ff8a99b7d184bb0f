"""The ring-oscillator bank: free-running LUT inverter rings, synchronised and XOR-combined.

Only Xilinx 7-series and UltraScale(+) are supported, where every inverter is an
explicitly instantiated ``LUT1`` (``INIT = 2'b01``: O = not I0) whose instance and output
net carry ``KEEP`` and ``DONT_TOUCH``, so synthesis can neither remove the combinational
loop nor merge the inverters of a ring into one LUT. Placement (one pblock per ring) and
the ``ALLOW_COMBINATORIAL_LOOPS`` property are board constraints, described in
``boards/entropy_constraints.md``.

Everywhere else (simulators, open toolchains, Verilator: ``platform`` is ``None`` or not
a supported Xilinx platform) ring oscillators cannot be represented: the entropy source
(:class:`rosvd.hw.entropy.source.EntropySource`) then takes its raw bit from an input
port driven by a software jitter model, and reports ``simulated = 1``.
"""
from __future__ import annotations

from amaranth.hdl import Const, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import Out

from .params import EntropyParams

#: Xilinx families whose LUT1 primitive and attributes this bank instantiates.
XILINX_RO_FAMILIES = ("series7", "ultrascale", "ultrascaleplus")
#: LUT1 truth table of an inverter: O = INIT[I0], so INIT = 2'b01 gives O = ~I0.
INVERTER_INIT = Const(0b01, 2)
#: Flip-flops between a ring and the system clock domain (the first one samples the
#: asynchronous ring, the second lets a metastable first stage resolve).
SYNC_STAGES = 2
#: Attributes that keep each inverter and its net through synthesis and optimisation.
KEEP_ATTRS = {"KEEP": "TRUE", "DONT_TOUCH": "TRUE"}


def ring_oscillators_available(platform) -> bool:
    """Whether ``platform`` is a Xilinx platform on which :class:`RingOscillatorBank` builds.

    A Xilinx platform of an older family raises: building silently without the bank on a
    real device would hand out model bits as entropy.
    """
    if platform is None:
        return False
    from amaranth.vendor import XilinxPlatform

    if not isinstance(platform, XilinxPlatform):
        return False
    if platform.family not in XILINX_RO_FAMILIES:
        raise ValueError(f"RingOscillatorBank: Xilinx family {platform.family!r} is not supported;"
                         f" supported families are {XILINX_RO_FAMILIES}")
    return True


class RingOscillatorBank(wiring.Component):
    """``params.oscillators`` rings of ``params.stages`` LUT1 inverters.

    Output ``raw``: the XOR of all rings, each sampled by the ``sync`` clock through a
    :data:`SYNC_STAGES`-flop synchroniser, registered once more after the XOR (latency
    :data:`SYNC_STAGES` + 1 cycles from a ring edge to ``raw``; one bit per cycle).
    The rings run freely (no enable) from configuration on; reset affects only the
    synchroniser flops. Elaborates only for :data:`XILINX_RO_FAMILIES`.
    """

    def __init__(self, params: EntropyParams):
        self.params = params
        super().__init__({"raw": Out(1)})

    @property
    def latency(self) -> int:
        return SYNC_STAGES + 1

    def elaborate(self, platform):
        if not ring_oscillators_available(platform):
            raise ValueError("RingOscillatorBank: ring oscillators need a Xilinx 7-series/UltraScale(+)"
                             f" platform, got {platform!r}; EntropySource uses its raw_bit port instead")
        p = self.params
        m = Module()
        synced = []
        for ring in range(p.oscillators):
            nets = [Signal(name=f"ro{ring}_n{stage}", attrs=KEEP_ATTRS) for stage in range(p.stages)]
            for stage, net in enumerate(nets):
                m.submodules[f"ro{ring}_lut{stage}"] = Instance(
                    "LUT1", p_INIT=INVERTER_INIT, i_I0=nets[stage - 1], o_O=net, a_KEEP="TRUE",
                    a_DONT_TOUCH="TRUE")
            tap = Signal(name=f"ro{ring}_sync")
            m.submodules[f"ro{ring}_sync"] = FFSynchronizer(nets[-1], tap, stages=SYNC_STAGES)
            synced.append(tap)
        combined = synced[0]
        for tap in synced[1:]:
            combined = combined ^ tap
        m.d.sync += self.raw.eq(combined)
        return m
