"""AXI4-Stream adapters of the SVD engine: 32-bit words in, packed elements; results out, TLAST.

Inside the design an AXI4-Stream is a ``lib.stream`` whose payload is :data:`AXIS_LAYOUT`
(``data`` = TDATA, ``last`` = TLAST; ``valid``/``ready`` = TVALID/TREADY); the top maps it
to Vivado's ``s_axis_*``/``m_axis_*`` names. There is no TKEEP: every byte of a word is
valid (AXI DMA sends whole words when the transfer length is a multiple of 4 bytes).
"""
from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..svd.engine import result_layout
from ..svd.params import SVDParams

#: TDATA bits of both streams.
AXIS_DATA_WIDTH = 32
AXIS_LAYOUT = data.StructLayout({"data": unsigned(AXIS_DATA_WIDTH), "last": unsigned(1)})


def elements_per_word(params: SVDParams) -> int:
    """Input elements packed into one TDATA word (element i in bits ``i*data_width`` up)."""
    return AXIS_DATA_WIDTH // params.data_width


def input_words(params: SVDParams) -> int:
    """s_axis words per matrix: n*n elements, the last word's spare lanes ignored."""
    return -(-params.n * params.n // elements_per_word(params))


class MatrixUnpacker(wiring.Component):
    """``words`` (AXI4-Stream, 32-bit) to ``elements`` (signed ``data_width``), row-major.

    Each word carries :func:`elements_per_word` elements, the earliest in the low bits;
    a matrix is :func:`input_words` words, and lanes past element n*n-1 of its last
    word are ignored. Framing is by count: ``framing_error`` pulses (same cycle as the
    word's handshake) when TLAST is set on another word than a matrix's last, or missing
    on that one; the words are used all the same, and only a reset realigns.

    ``matrix_start`` pulses in the cycle element 0 of a matrix is taken. Throughput: one
    element per cycle (a new word is taken in the cycle the held word's last lane
    leaves). Latency: one cycle from a word to its first element. Reset: empty, at
    element 0 of a matrix.
    """

    def __init__(self, params: SVDParams):
        self.params = params
        super().__init__({
            "words": In(stream.Signature(AXIS_LAYOUT)),
            "elements": Out(stream.Signature(signed(params.data_width))),
            "framing_error": Out(1),
            "matrix_start": Out(1),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        lanes, elements, words = elements_per_word(p), p.n * p.n, input_words(p)
        held = Signal()
        word = Signal(AXIS_DATA_WIDTH)
        lane = Signal(range(lanes))
        element = Signal(range(elements))
        word_index = Signal(range(words))

        last_lane = (lane == lanes - 1) | (element == elements - 1)
        take = self.elements.valid & self.elements.ready
        arrive = self.words.valid & self.words.ready
        m.d.comb += [
            self.elements.valid.eq(held),
            self.elements.payload.eq(word.word_select(lane, p.data_width).as_signed()),
            self.words.ready.eq(~held | (take & last_lane)),
            self.matrix_start.eq(take & (element == 0)),
            self.framing_error.eq(arrive & (self.words.payload.last != (word_index == words - 1))),
        ]
        with m.If(take):
            m.d.sync += [lane.eq(0) if lanes == 1 else lane.eq(lane + 1),
                         element.eq(element + 1)]
            with m.If(last_lane):
                m.d.sync += [held.eq(0), lane.eq(0)]
            with m.If(element == elements - 1):
                m.d.sync += element.eq(0)
        with m.If(arrive):
            m.d.sync += [word.eq(self.words.payload.data), held.eq(1), lane.eq(0),
                         word_index.eq(word_index + 1)]
            with m.If(word_index == words - 1):
                m.d.sync += word_index.eq(0)
        return m


class ResultPacker(wiring.Component):
    """The engine's ``results`` to ``words`` (AXI4-Stream): each result sign-extended to
    32 bits, TLAST on the last word of a decomposition. Combinational (no latency, no
    storage); ``finish`` pulses in the cycle the last word is taken.
    ``params.out_width`` must be <= 32."""

    def __init__(self, params: SVDParams):
        if params.out_width > AXIS_DATA_WIDTH:
            self._MustUse__silence = True
            raise ValueError(f"ResultPacker: result words of {params.out_width} bits do not fit"
                             f" {AXIS_DATA_WIDTH}-bit TDATA; lower data_width or guard_bits")
        self.params = params
        super().__init__({
            "results": In(stream.Signature(result_layout(params))),
            "words": Out(stream.Signature(AXIS_LAYOUT)),
            "finish": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        results, words = self.results, self.words
        m.d.comb += [
            words.valid.eq(results.valid),
            results.ready.eq(words.ready),
            words.payload.data.eq(results.payload.data),       # sign-extends the signed field
            words.payload.last.eq(results.payload.last),
            self.finish.eq(results.valid & words.ready & results.payload.last),
        ]
        return m
