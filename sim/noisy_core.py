"""RosvdCore with its entropy input driven from inside the simulation: the testbenches' top.

In simulation the entropy source takes its raw bit from the ``entropy_raw_bit`` port
(:mod:`rosvd.hw.entropy.ring_oscillator`). Driving that port from Python costs a cocotb
callback every clock cycle, which dominated the simulation's speed; :class:`NoisyCore`
drives it from a seeded xorshift64 generator in the design instead, and exposes only slow
controls: ``noise_load`` (a pulse) loads ``noise_seed``, ``noise_hold`` freezes the bit at
``noise_value`` (a stuck source, for the health tests' alarms). Every other port is
RosvdCore's, with its name, so Vivado's names and the cocotbext-axi buses are unchanged.
This wrapper exists only in simulation; the board's top is RosvdCore itself.
"""
from __future__ import annotations

from amaranth.hdl import ClockDomain, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rosvd.hw.top.core import CoreParams, RosvdCore

#: The port of RosvdCore this wrapper drives.
RAW_BIT = "entropy_raw_bit"
#: xorshift64 shifts (Marsaglia, "Xorshift RNGs", 2003: the (13, 7, 17) triple).
XORSHIFT = (13, 7, 17)
STATE_BITS = 64
#: The state after reset, before a seed is loaded (xorshift must never hold zero).
INITIAL_STATE = 0x9E37_79B9_7F4A_7C15


def xorshift64(state: int) -> int:
    """One step of the generator, as the design takes it (the reference for its test)."""
    mask = (1 << STATE_BITS) - 1
    a, b, c = XORSHIFT
    state ^= (state << a) & mask
    state ^= state >> b
    state ^= (state << c) & mask
    return state


def seed_state(seed: int) -> int:
    """The state ``noise_seed`` = ``seed`` loads (zero would stick, so it maps elsewhere)."""
    seed &= (1 << STATE_BITS) - 1
    return seed or INITIAL_STATE


class XorshiftNoise(wiring.Component):
    """``bit`` = bit 0 of a xorshift64 state stepped every ``noise`` clock cycle;
    ``load`` replaces the state with ``seed`` (zero: :data:`INITIAL_STATE`) instead of a step;
    with ``hold``, ``bit`` is ``value`` (the state runs on)."""

    def __init__(self):
        super().__init__({"seed": In(STATE_BITS), "load": In(1), "hold": In(1), "value": In(1),
                          "bit": Out(1)})

    def elaborate(self, platform):
        m = Module()
        state = Signal(STATE_BITS, init=INITIAL_STATE)
        a, b, c = XORSHIFT
        step1 = state ^ (state << a)[:STATE_BITS]
        step2 = step1 ^ (step1 >> b)
        step3 = step2 ^ (step2 << c)[:STATE_BITS]
        seed = Mux(self.seed.any(), self.seed, INITIAL_STATE)           # as seed_state
        m.d.noise += state.eq(Mux(self.load, seed, step3))
        m.d.comb += self.bit.eq(Mux(self.hold, self.value, state[0]))
        return m


class NoisyCore(wiring.Component):
    """RosvdCore(``params``) with ``entropy_raw_bit`` from :class:`XorshiftNoise`, whose
    controls are the ports ``noise_seed``, ``noise_load``, ``noise_hold``, ``noise_value``."""

    def __init__(self, params: CoreParams):
        self.params = params
        self._core = RosvdCore(params)
        self._noise = XorshiftNoise()
        members = {name: member for name, member in self._core.signature.members.items() if name != RAW_BIT}
        members |= {f"noise_{name}": member for name, member in self._noise.signature.members.items()
                    if name != "bit"}
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self._core
        m.submodules.noise = noise = self._noise
        for name, member in core.signature.members.items():
            if name == RAW_BIT:
                continue
            outer, inner = getattr(self, name), getattr(core, name)
            m.d.comb += inner.eq(outer) if member.flow == wiring.In else outer.eq(inner)
        for name in ("seed", "load", "hold", "value"):
            m.d.comb += getattr(noise, name).eq(getattr(self, f"noise_{name}"))
        # Its own reset-less domain on aclk: the noise runs through aresetn, as a ring would.
        m.domains.noise = domain = ClockDomain("noise", reset_less=True)
        m.d.comb += [domain.clk.eq(self.aclk), getattr(core, RAW_BIT).eq(noise.bit)]
        return m
