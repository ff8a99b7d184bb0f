"""A column slot's memory: one write port, one read port, and read data that leaves a
register inside the RAM block.

The engine reads every slot memory in every cycle and fans the words out to the pair
multiplexers, so the read is a timing path on every slot. A block RAM's array is slow
to its outputs unless the block's own output register catches the word (an ECP5 EBR
without it: 5.6 ns clock to output in nextpnr's model), and a LUT RAM puts its address
decoding and routing in front of a fabric register. With the output register the read
takes MEM_READ_LATENCY cycles on every target, so the cycle count does not depend on
which block holds the columns.

Which block: the ``ram_block`` of the platform given to ``elaborate``
(:class:`.platform.ExportPlatform`), else an Amaranth memory with a register after its
read port (simulation, and Xilinx, where a 64-word memory maps to LUT RAM and the
register to the slice's flip-flops).
"""
from __future__ import annotations

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .delay import delayed

#: Cycles from a read address to its data: the array's read register, then the output
#: register.
MEM_READ_LATENCY = 2
#: Cycles from a write on the ports to the array: the write is registered, so the
#: multiplexer in front of a memory's data and the fan-out of its enable end at a
#: flip-flop, not at a block RAM's input pins across the die (7.5 ns on the stand-in);
#: twice, so that one register can sit by the write's sources (a unit's output, the
#: loaded element) and one by the block RAM (a single register between them had a
#: 7.12 ns route into the block's pins at one placement).
MEM_WRITE_LATENCY = 2

#: Lattice ECP5 DP16KD in its 512 x 36 pseudo-dual-port form (the form Yosys gives a
#: 36-bit memory): port A writes, port B reads, a word is {DIB, DIA} and {DOB, DOA}.
DP16KD = "DP16KD"
DP16KD_WORD_BITS = 36
DP16KD_WORDS = 512
#: Port bits below a 36-bit word's address: ADA0..ADA3 are its four byte-write enables.
DP16KD_ADDRESS_SHIFT = 5
DP16KD_BYTE_ENABLES = 4
DP16KD_ADDRESS_BITS = 14


def ram_block(platform) -> str | None:
    """The RAM cell slot memories are instantiated as on ``platform``; None: inferred."""
    return getattr(platform, "ram_block", None)


class SlotMemory(wiring.Component):
    """``depth`` words of ``shape``: ``read_data`` is the word at the ``read_addr`` of
    MEM_READ_LATENCY cycles ago; a write given on the ports reaches the array
    MEM_WRITE_LATENCY cycles later. So a read sees a write given at least
    MEM_WRITE_LATENCY + 1 cycles before its address, and not one given later.

    A read of the word the array writes in the same cycle is undefined on a block RAM's
    separate ports (the ECP5 simulation model returns x), so the engine never uses one:
    it writes only the bank it does not read until the phase's writes are done.
    """

    def __init__(self, shape, depth: int):
        self.shape, self.depth = shape, depth
        super().__init__({
            "read_addr": In(range(depth)),
            "read_data": Out(shape),
            "write_addr": In(range(depth)),
            "write_data": In(shape),
            "write_en": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        write_addr, write_data = (delayed(m, port, MEM_WRITE_LATENCY, port.name, reset_less=True)
                                  for port in (self.write_addr, self.write_data))
        write_en = delayed(m, self.write_en, MEM_WRITE_LATENCY, "write_en")
        block = ram_block(platform)
        if block == DP16KD:
            self._dp16kd(m, write_addr, write_data, write_en)
        elif block is None:
            m.submodules.array = array = Memory(shape=self.shape, depth=self.depth, init=[])
            read, write = array.read_port(), array.write_port()
            # The read port's own register, then the output registers.
            output = delayed(m, read.data, MEM_READ_LATENCY - 1, "read_data", reset_less=True)
            m.d.comb += [read.addr.eq(self.read_addr), self.read_data.eq(output),
                         write.addr.eq(write_addr), write.data.eq(write_data), write.en.eq(write_en)]
        else:
            raise ValueError(f"no mapping for RAM block {block!r}")
        return m

    def _dp16kd(self, m: Module, write_addr, write_data, write_en):
        """One DP16KD, 36 bits wide: the write on port A, gated by the byte enables as
        Yosys gates it; the read on port B. In this mode a word's low half leaves
        through port A's output register and its high half through port B's, so both
        REGMODEs are OUTREG (nextpnr sets both from a PDPW16KD's one REGMODE, and times
        each half by its own). Unused data bits are written as sign bits, never read."""
        width = Shape.cast(self.shape).width
        if width > DP16KD_WORD_BITS or self.depth > DP16KD_WORDS:
            raise ValueError(f"{self.depth} x {width} bits does not fit one DP16KD "
                             f"({DP16KD_WORDS} x {DP16KD_WORD_BITS})")
        word_in = Signal(DP16KD_WORD_BITS)
        word_out = Signal(DP16KD_WORD_BITS)
        low_bits = DP16KD_ADDRESS_SHIFT - DP16KD_BYTE_ENABLES
        port_a_addr = Cat(write_en.replicate(DP16KD_BYTE_ENABLES), Const(0, low_bits),
                          write_addr, Const(0, DP16KD_ADDRESS_BITS))[:DP16KD_ADDRESS_BITS]
        port_b_addr = Cat(Const(0, DP16KD_ADDRESS_SHIFT), self.read_addr,
                          Const(0, DP16KD_ADDRESS_BITS))[:DP16KD_ADDRESS_BITS]
        m.d.comb += [word_in.eq(write_data), self.read_data.eq(word_out[:width])]
        half = DP16KD_WORD_BITS // 2
        bits = {}
        for i in range(half):
            bits |= {f"i_DIA{i}": word_in[i], f"i_DIB{i}": word_in[half + i],
                     f"o_DOA{i}": word_out[i], f"o_DOB{i}": word_out[half + i]}
        for i in range(DP16KD_ADDRESS_BITS):
            bits |= {f"i_ADA{i}": port_a_addr[i], f"i_ADB{i}": port_b_addr[i]}
        m.submodules.block = Instance(
            "DP16KD",
            p_DATA_WIDTH_A=DP16KD_WORD_BITS, p_DATA_WIDTH_B=DP16KD_WORD_BITS,
            p_REGMODE_A="OUTREG", p_REGMODE_B="OUTREG",
            p_RESETMODE="SYNC", p_ASYNC_RESET_RELEASE="SYNC",
            p_CSDECODE_A="0b000", p_CSDECODE_B="0b000", p_GSR="DISABLED",
            i_CLKA=ClockSignal(), i_CEA=1, i_OCEA=1, i_WEA=1, i_RSTA=0,
            i_CSA0=0, i_CSA1=0, i_CSA2=0,
            i_CLKB=ClockSignal(), i_CEB=1, i_OCEB=1, i_WEB=0, i_RSTB=0,
            i_CSB0=0, i_CSB1=0, i_CSB2=0,
            **bits)
