"""An AXI4-Lite slave that turns the bus into the simple register port of :mod:`.register_port`."""
from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .register_port import DATA_WIDTH, STROBE_WIDTH, WORD_BYTES, RegisterPortSignature

#: AXI response codes (BRESP/RRESP).
RESP_OKAY = 0b00
RESP_SLVERR = 0b10
RESP_WIDTH = 2
#: Address bits below a word: ignored (a register is read or written whole, by strobes).
WORD_ADDR_SHIFT = (WORD_BYTES - 1).bit_length()


class AxiLiteSignature(wiring.Signature):
    """AXI4-Lite, 32-bit data, seen from the master (``Out``: driven by the master).
    AWPROT/ARPROT are not carried: the slave would ignore them."""

    def __init__(self, addr_width: int):
        if not isinstance(addr_width, int) or addr_width <= WORD_ADDR_SHIFT:
            raise ValueError(f"AxiLiteSignature: addr_width must be an int > {WORD_ADDR_SHIFT},"
                             f" not {addr_width!r}")
        self.addr_width = addr_width
        super().__init__({
            "awaddr": Out(addr_width), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(DATA_WIDTH), "wstrb": Out(STROBE_WIDTH), "wvalid": Out(1), "wready": In(1),
            "bresp": In(RESP_WIDTH), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arvalid": Out(1), "arready": In(1),
            "rdata": In(DATA_WIDTH), "rresp": In(RESP_WIDTH), "rvalid": In(1), "rready": Out(1),
        })

    def __eq__(self, other):
        return isinstance(other, AxiLiteSignature) and other.addr_width == self.addr_width

    def __hash__(self):
        return hash((type(self), self.addr_width))


class AxiLiteSlave(wiring.Component):
    """AXI4-Lite ``bus`` (slave side) to register port ``regs``; one transaction at a time.

    Writes: AW and W are accepted independently, in either order or in the same cycle;
    once both are held the write is strobed on ``regs`` (``w_stb``, word address
    ``awaddr >> 2``, ``wdata``, ``wstrb``) and answered on B with OKAY, or SLVERR when
    ``regs.w_err`` says so. Reads: AR, one strobe, the answer on R (RRESP SLVERR on
    ``regs.r_err``; RDATA is then what the port returned, 0 for our decode).

    One outstanding transaction: while a write is partly accepted or a response is
    pending, no other address is taken. When a read and a write are offered together
    and nothing is held, they alternate (the one not served last goes first), so neither
    starves. Ready signals may depend on the valid signals in the same cycle (allowed by
    AXI); VALID and the response payloads come from flip-flops.

    Latency: a read's RVALID rises 3 cycles after the AR handshake; a write's BVALID 3
    cycles after the later of its AW and W handshakes. Throughput: one transaction per
    4 cycles at best. Reset: idle, nothing held (responses in flight are dropped).
    """

    def __init__(self, addr_width: int):
        self.addr_width = addr_width
        super().__init__({
            "bus": In(AxiLiteSignature(addr_width)),
            "regs": Out(RegisterPortSignature(addr_width - WORD_ADDR_SHIFT)),
        })

    def elaborate(self, platform):
        m = Module()
        bus, regs = self.bus, self.regs

        aw_held, w_held = Signal(), Signal()
        write_addr = Signal(self.addr_width)
        write_data = Signal(DATA_WIDTH)
        write_strb = Signal(STROBE_WIDTH)
        read_addr = Signal(self.addr_width)
        read_turn = Signal()            # a read goes first when both are offered
        bresp = Signal(RESP_WIDTH)
        rresp = Signal(RESP_WIDTH)
        rdata = Signal(DATA_WIDTH)
        m.d.comb += [bus.bresp.eq(bresp), bus.rresp.eq(rresp), bus.rdata.eq(rdata),
                     regs.w_data.eq(write_data), regs.w_strb.eq(write_strb)]

        with m.FSM():
            with m.State("IDLE"):
                nothing_held = ~aw_held & ~w_held
                write_offered = bus.awvalid | bus.wvalid
                take_read = bus.arvalid & nothing_held & (read_turn | ~write_offered)
                take_aw = bus.awvalid & ~aw_held & ~take_read
                take_w = bus.wvalid & ~w_held & ~take_read
                m.d.comb += [bus.arready.eq(take_read), bus.awready.eq(~aw_held & ~take_read),
                             bus.wready.eq(~w_held & ~take_read)]
                with m.If(take_read):
                    m.d.sync += read_addr.eq(bus.araddr)
                    m.next = "READ"
                with m.If(take_aw):
                    m.d.sync += [aw_held.eq(1), write_addr.eq(bus.awaddr)]
                with m.If(take_w):
                    m.d.sync += [w_held.eq(1), write_data.eq(bus.wdata), write_strb.eq(bus.wstrb)]
                with m.If((aw_held | take_aw) & (w_held | take_w)):
                    m.next = "WRITE"
            with m.State("WRITE"):
                m.d.comb += [regs.w_stb.eq(1), regs.addr.eq(write_addr[WORD_ADDR_SHIFT:])]
                m.d.sync += [aw_held.eq(0), w_held.eq(0)]
                m.next = "WRITE_ANSWER"
            with m.State("WRITE_ANSWER"):
                m.d.sync += bresp.eq(Mux(regs.w_err, RESP_SLVERR, RESP_OKAY))
                m.next = "B"
            with m.State("B"):
                m.d.comb += bus.bvalid.eq(1)
                with m.If(bus.bready):
                    m.d.sync += read_turn.eq(1)
                    m.next = "IDLE"
            with m.State("READ"):
                m.d.comb += [regs.r_stb.eq(1), regs.addr.eq(read_addr[WORD_ADDR_SHIFT:])]
                m.next = "READ_ANSWER"
            with m.State("READ_ANSWER"):
                m.d.sync += [rdata.eq(regs.r_data), rresp.eq(Mux(regs.r_err, RESP_SLVERR, RESP_OKAY))]
                m.next = "R"
            with m.State("R"):
                m.d.comb += bus.rvalid.eq(1)
                with m.If(bus.rready):
                    m.d.sync += read_turn.eq(0)
                    m.next = "IDLE"
        return m
