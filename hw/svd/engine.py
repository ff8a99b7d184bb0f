"""The RO-SVD decomposition engine: parallel one-sided Jacobi SVD over column slots."""
from __future__ import annotations

import functools
import operator

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from ..stream_register import StreamRegister
from .cordic import AnglePipeline
from .delay import delayed
from .isqrt import IterativeSqrt
from .params import SVDParams, clog2
from .rotation_unit import MAC_LATENCY, ROTATE_LATENCY, RotationUnit
from .schedule import source_slot
from .slot_memory import MEM_READ_LATENCY, SlotMemory

#: Cycles from the matrix stream to the load logic (a :class:`.StreamRegister`).
INPUT_LATENCY = 1
#: Cycles from the output buffer to the result stream (a :class:`.StreamRegister`).
RESULT_LATENCY = 1
#: Cycles the per-group copies of the row counter and bank flag (the memory addresses)
#: lag ``count`` and ``parity``: they follow registered copies of their update strobes,
#: so that decoding the strobes and fanning them out to every group take a cycle each.
ADDRESS_LATENCY = 1
#: Cycles from a row's ``count`` to its data out of the memories.
READ_LATENCY = ADDRESS_LATENCY + MEM_READ_LATENCY
#: Cycles from a phase end's decision to ``step``'s new value: none of its readers (the
#: pair multiplexers, from the new phase's READ_LATENCY-th cycle; the write enables and
#: norm writes, later still) looks at it sooner.
STEP_LATENCY = 1
#: Cycles from a word leaving the output buffer to its credit's return: the credits
#: follow a registered copy of the buffer's read handshake, so the buffer's level and
#: the result slice's ready reach that one flip-flop, not the credit flags.
CREDIT_LATENCY = 1
#: The controller's phases of a fixed number of cycles, and its output phases.
FIXED_LENGTH_PHASES = ("DOT", "ANGLE", "ROTATE", "RANK")
OUTPUT_PHASES = ("SIGMA", "VECTOR")
#: Inputs of one register stage of a wide multiplexer: a unit's steps:1 pair select and
#: the output's n:1 V word select are trees of registered PAIR_SELECT_RADIX:1 stages (a
#: whole multiplexer and the logic after it in one cycle were the longest path).
PAIR_SELECT_RADIX = 4
#: Registers beside each memory's read data, ahead of a tree that gathers several
#: memories (a unit's pair select, the output's V word): the memories are spread over
#: the die's block RAM rows, and a block RAM's clock-to-output plus the route to a
#: gathering stage had been the longest paths (6.6-6.9 ns on the stand-in).
GATHER_LATENCY = 1
#: Register stages of the ranking's comparisons: greater and equal, then their
#: combination with the slot order (a comparator and the rank increment in one cycle
#: were a long path).
RANK_COMPARE_STAGES = 2
#: Cycles from the RANK phase's start to the ranking ring's first turn: the ring copies
#: sigma, then turns.
RING_LOAD_LATENCY = 1
#: Column slots whose memories share one pipeline of write rows (each memory has its
#: own copy of the read row counter and bank flag).
ADDRESS_GROUP = 2


def result_layout(params: SVDParams) -> data.StructLayout:
    """Payload of the result stream: one word and the end-of-decomposition flag."""
    return data.StructLayout({"data": signed(params.out_width), "last": unsigned(1)})


def by_slot(values, index):
    """``values[index]``; a single value needs no index."""
    return values[0] if len(values) == 1 else Array(values)[index]


def select_stages(inputs: int) -> int:
    """Register stages of a registered ``inputs``:1 multiplexer of PAIR_SELECT_RADIX:1 stages."""
    stages, reach = 0, 1
    while reach < inputs:
        stages, reach = stages + 1, reach * PAIR_SELECT_RADIX
    return stages


def landing_stages(inputs: int) -> int:
    """Landing registers ahead of an ``inputs``:1 multiplexer of memories' read data:
    GATHER_LATENCY, only if there is more than one memory to gather."""
    return GATHER_LATENCY if inputs > 1 else 0


def memory_select_stages(inputs: int) -> int:
    """Register stages of an ``inputs``:1 multiplexer of memories' read data: the
    landing registers, then :func:`select_stages`."""
    return landing_stages(inputs) + select_stages(inputs)


class SVDEngine(wiring.Component):
    """Fixed-point Hestenes-Jacobi SVD of one n x n matrix at a time.

    Streams:

    * ``matrix`` (in): n*n signed ``data_width`` elements, row-major.
    * ``result`` (out): ``params.output_words`` words: the n singular values
      (descending, unsigned, column-word scale ``2**guard_bits`` per input unit), then
      the right singular vectors of the k largest, n elements each (Q2.(v_width-2));
      ``last`` marks the final word. Bit-exact with :func:`.model.decompose`.

    Status: ``busy`` is high from the first accepted element until the last result
    word is taken; ``sweeps_run`` holds the sweeps executed for the latest matrix.

    Architecture: each of the n column slots has its own memory for its column of A
    and of V, two banks deep (read one round's columns from one bank, write the next
    round's into the other, so columns move between slots by where they are
    written, over fixed wires). ``units`` rotation units work in lock-step, each on
    ``n/(2*units)`` pairs one after another; ``angle_pipelines`` shared, fully
    pipelined CORDIC angle pipelines serve them, ``angle_slots`` units each, one unit
    per cycle. Per pair: dot phase (``n + READ_LATENCY + pair_select_latency +
    MAC_LATENCY - 1`` cycles), angle phase (``angle_latency + angle_slots``), rotate
    phase (``n + READ_LATENCY + pair_select_latency + ROTATE_LATENCY``). Results
    leave through an ``output_buffer_depth``-word buffer, ``output_latency`` cycles
    after they are issued. Latency per matrix, excluding stream stalls: see
    :meth:`cycle_estimate`. Throughput: one matrix at a time; the next is accepted once
    the last result word of the previous one is taken.

    Both streams pass through a :class:`.StreamRegister` (``INPUT_LATENCY`` and
    ``RESULT_LATENCY``, a cycle each), which may take up to two elements of the next
    matrix while the last results drain.

    Reset returns to waiting for a matrix; a matrix half-loaded is discarded.
    """

    def __init__(self, params: SVDParams | None = None):
        self.params = p = params or SVDParams()
        self._units = [RotationUnit(p) for _ in range(p.units)]
        # Tags name the issue slot of a result; at least one bit so that a single slot
        # needs no zero-width signal.
        self._angles = [AnglePipeline(p, tag_shape=range(max(2, p.angle_slots)))
                        for _ in range(p.angle_pipelines)]
        self._sqrt = IterativeSqrt(p.dot_width - 1)
        super().__init__({
            "matrix": In(stream.Signature(signed(p.data_width))),
            "result": Out(stream.Signature(result_layout(p))),
            "busy": Out(1),
            "sweeps_run": Out(range(p.sweeps + 1)),
        })

    @property
    def fused(self) -> bool:
        """One pair per unit: dot products are taken from the columns as they are written."""
        return self.params.pairs_per_unit == 1

    @property
    def pair_select_latency(self) -> int:
        """Register stages between the memories and a unit (only with several pairs per unit)."""
        return memory_select_stages(self.params.pairs_per_unit)

    @property
    def output_latency(self) -> int:
        """Cycles from issuing an output word to its being offered on ``result``: the V
        memory read (while the rank matches, then the matching sigma, are registered),
        the landing registers and the n:1 tree that pick the word's V memory, the word,
        then the write into the output buffer. Issue depends on buffer credits, not on
        ``result.ready``, so the stream's ready never reaches a memory address."""
        return READ_LATENCY + memory_select_stages(self.params.n) + 2

    @property
    def output_buffer_depth(self) -> int:
        """Output buffer words: the credit round trip (issue to taken, then
        ``CREDIT_LATENCY`` + 1 cycles for the credit to return), so a ready stream takes
        one word per cycle."""
        return self.output_latency + CREDIT_LATENCY + 1

    @property
    def rank_pipeline(self) -> int:
        """Cycles from the ranking's ``count`` to its comparison results: the ring's
        load (RING_LOAD_LATENCY), then RANK_COMPARE_STAGES."""
        return RING_LOAD_LATENCY + RANK_COMPARE_STAGES

    @property
    def dot_cycles(self) -> int:
        """Dot phase: n reads, then the memory and MAC pipelines drain."""
        return self.params.n + READ_LATENCY + self.pair_select_latency + MAC_LATENCY - 1

    @property
    def angle_cycles(self) -> int:
        """Angle phase: ``angle_slots`` issue cycles, then the last result's latency."""
        return self._angles[0].latency + self.params.angle_slots

    @property
    def rotate_cycles(self) -> int:
        """Rotate phase: n reads, the rotation pipeline drains (and, fused, the MACs)."""
        drain = (READ_LATENCY + self.pair_select_latency + ROTATE_LATENCY
                 + (MAC_LATENCY if self.fused else 0))
        return self.params.n + drain

    def cycle_estimate(self, sweeps: int | None = None) -> int:
        """Cycles from the first accepted input element to the last result word, when
        neither stream stalls; ``sweeps`` defaults to the maximum."""
        p = self.params
        sweeps = p.sweeps if sweeps is None else sweeps
        dot_per_pair = 0 if self.fused else self.dot_cycles
        pair = dot_per_pair + self.angle_cycles + self.rotate_cycles
        rounds = sweeps * p.rounds_per_sweep * p.pairs_per_unit
        load = INPUT_LATENCY + p.n * p.n + (self.dot_cycles if self.fused else 0)
        norm = p.pairs_per_unit * (dot_per_pair + 2 * p.units * (self._sqrt.latency + 1))
        rank, output = p.n + self.rank_pipeline, p.output_words + self.output_latency + RESULT_LATENCY
        return load + rounds * pair + norm + rank + output

    def elaborate(self, platform):
        p = self.params
        n, half, steps = p.n, p.half, p.pairs_per_unit
        row_bits = clog2(n)
        m = Module()

        # Column slot memories: address = bank * n + row.
        a_mem, v_mem = [], []
        for slot in range(n):
            for kind, shape, mems in (("a", signed(p.col_width), a_mem), ("v", signed(p.v_width), v_mem)):
                mem = SlotMemory(shape, 2 * n)
                m.submodules[f"{kind}_slot{slot}"] = mem
                mems.append(mem)

        units = self._units
        for index, unit in enumerate(units):
            m.submodules[f"unit{index}"] = unit
        # Unit u is fed to angle pipeline u // angle_slots in issue slot u % angle_slots.
        # All units finish their dot products in the same cycle and the angle is a few
        # dozen cycles out of a round, so one unrolled pipeline per angle_slots units
        # replaces angle_slots iterative ones for angle_slots - 1 cycles per round.
        angles = self._angles
        slots = p.angle_slots
        for index, angle in enumerate(angles):
            m.submodules[f"angle{index}"] = angle
        angle_groups = [units[g * slots:(g + 1) * slots] for g in range(len(angles))]
        for angle, group in zip(angles, angle_groups, strict=True):
            for unit in group:
                m.d.comb += [unit.c.eq(angle.c), unit.s.eq(angle.s)]
        # One square root serves all slots: it runs once per matrix, so sharing it
        # costs n * (sqrt latency) cycles and saves a wide datapath per unit.
        m.submodules.sqrt = sqrt = self._sqrt

        # Controller state.
        parity = Signal()                          # bank holding the current columns
        sweep = Signal(range(p.sweeps))
        round_ = Signal(range(p.rounds_per_sweep))
        step = Signal(range(steps))
        # Cycle within a phase; in the output phases, the word within a block.
        count = Signal(range(max(2 * n, self.dot_cycles, self.angle_cycles, self.rotate_cycles)))
        # Registered phase boundaries, so that no counter comparison sits between the
        # counter and its hundreds of loads: ``last`` is high in the final cycle of a
        # fixed-length phase, ``mac_clear`` in the first cycle of a phase whose dot
        # products start from zero (the dot phase; fused, the rotate phase), set by
        # ``mac_clear_next`` where the controller enters one: decoding the state in
        # that cycle had reached the accumulators' resets (7.3 ns on the stand-in).
        last = Signal()
        mac_clear, mac_clear_next = Signal(name="mac_clear"), Signal(name="mac_clear_next")
        final = Signal()                           # dot phase computes final norms
        rotated_any = Signal()                     # some pair rotated in this sweep
        reading = Signal()                         # row ``count`` is a live row this cycle
        rd_valid = Signal()                        # read data is a live row this cycle
        rotating = Signal()                        # in the rotate phase (else dot phase)
        m.d.comb += rd_valid.eq(delayed(m, reading, READ_LATENCY, "rd_valid"))
        # ``count`` and ``parity`` change only through these strobes, so that copies of
        # them can follow the same updates. ``row_last``: ``count == n - 1``, registered.
        count_clear, count_step = Signal(name="count_clear"), Signal(name="count_step")
        parity_clear, parity_flip = Signal(name="parity_clear"), Signal(name="parity_flip")
        row_last = Signal()
        # A fixed-length phase ends on ``last`` alone, a register, so that no state
        # decoding sits in front of ``count``'s reset; ``block_ends`` (an output block's
        # last word issued) ends the others that step ``count``. LOAD and NORM never step
        # it, and are entered with ``count`` at 0 (from reset, the final block, or a
        # fixed-length phase's end), so they need no restart.
        block_ends = Signal()
        m.d.comb += count_clear.eq(last | block_ends)
        m.d.sync += mac_clear.eq(mac_clear_next)
        for unit in units:
            m.d.comb += unit.clear.eq(mac_clear)
        m.d.sync += [count.eq(Mux(count_clear, 0, count + count_step)),
                     parity.eq(Mux(parity_clear, 0, parity ^ parity_flip)),
                     row_last.eq(Mux(count_clear, 0, Mux(count_step, count == n - 2, row_last)))]
        copy_clear, copy_step, copy_parity_clear, copy_parity_flip = (
            delayed(m, strobe, ADDRESS_LATENCY, f"copy_{strobe.name}")
            for strobe in (count_clear, count_step, parity_clear, parity_flip))
        # ``step`` too changes only through strobes, applied STEP_LATENCY cycles after
        # the phase boundary that decides them: the state decoding then reaches two
        # flip-flops beside it, not the register that fans ``step`` out to the pair
        # multiplexers and write enables across the die.
        step_clear, step_advance = Signal(name="step_clear"), Signal(name="step_advance")
        step_clear_late, step_advance_late = (delayed(m, strobe, STEP_LATENCY, f"late_{strobe.name}")
                                              for strobe in (step_clear, step_advance))
        m.d.sync += step.eq(Mux(step_clear_late, 0, step + step_advance_late))
        # Where the current pair, round and sweep stand, registered while a phase runs
        # (``step``, ``round_``, ``sweep`` and ``rotated_any`` hold still through the
        # rotate and norm phases), so that a phase's end decides on flags alone.
        round_ends = Signal()                      # the pair is a unit's last of the round
        sweep_ends = Signal()                      # ... and the round the sweep's last
        sweeps_end = Signal()                      # ... and no further sweep will run
        # In two register stages: each counter at its last value, then their
        # conjunctions (comparing all three counters in one cycle was a 7.08 ns path).
        # Every phase lasts longer than the two cycles the flags take to follow.
        converged = ~rotated_any if p.skip_shift is not None else Const(0)
        round_last = Signal()                      # ``round_`` is the sweep's last
        sweep_last = Signal()                      # ``sweep`` is the last, or converged
        m.d.sync += [round_ends.eq(step == steps - 1),
                     round_last.eq(round_ == p.rounds_per_sweep - 1),
                     sweep_last.eq((sweep == p.sweeps - 1) | converged),
                     sweep_ends.eq(round_ends & round_last),
                     sweeps_end.eq(round_ends & round_last & sweep_last)]

        # What the next state does, registered with the transition into it: ``count``
        # steps in every cycle of a fixed-length phase (``counting``), and with each
        # issued word of an output phase (``outputting``), so that no state decoding sits
        # in front of ``count``'s carry chain.
        counting = Signal()
        outputting = Signal()

        def enter(state):
            """Go to ``state``, setting the registers that say what it does."""
            m.next = state
            m.d.sync += [counting.eq(state in FIXED_LENGTH_PHASES), outputting.eq(state in OUTPUT_PHASES)]
            if state == "DOT" or (self.fused and state == "ROTATE"):
                m.d.comb += mac_clear_next.eq(1)

        def count_phase(length):
            """Mark the end of a phase of ``length`` cycles: ``count`` restarts after the
            phase's ``last`` cycle (then ``count == length - 1``, so ``last`` falls again)."""
            m.d.sync += last.eq(count == length - 2)

        # Both memories are read at row ``count`` of the current bank, in every phase
        # (the output phases step ``count`` through the rows of a vector), addressed by
        # copies of the row counter and the bank flag, ADDRESS_LATENCY cycles later: one
        # per memory, so each can sit beside its LUT RAM (a copy shared by a slot's two
        # memories had 4.5 ns of routing to the farther one). They are counters, each
        # fed back from itself, so synthesis keeps them apart. Rows travel alongside
        # the rotation pipeline, one copy per group of slots, to become write addresses.
        select = self.pair_select_latency
        wr_next = []                               # per group: the next write row and bank

        def address_copy(name):
            row = Signal(row_bits, name=f"rd_row_{name}")
            bank = Signal(name=f"rd_bank_{name}")
            m.d.sync += [row.eq(Mux(copy_clear, 0, row + copy_step)),
                         bank.eq(Mux(copy_parity_clear, 0, bank ^ copy_parity_flip))]
            return row, bank

        for group in range(0, n, ADDRESS_GROUP):
            for slot in range(group, min(group + ADDRESS_GROUP, n)):
                for kind, mem in (("a", a_mem[slot]), ("v", v_mem[slot])):
                    row, bank = address_copy(f"{kind}{slot}")
                    m.d.comb += mem.read_addr.eq(Cat(row, bank))
            row, bank = address_copy(f"w{group}")
            row_pipe = [Signal(row_bits, name=f"row_pipe{group}_{i}")
                        for i in range(MEM_READ_LATENCY + select + ROTATE_LATENCY)]
            m.d.sync += [row_pipe[0].eq(row)]
            m.d.sync += [b.eq(a) for a, b in zip(row_pipe, row_pipe[1:], strict=False)]
            # The bank flips only after a phase's last write, so a cycle early is the same.
            wr_next.append(Cat(row_pipe[-2], ~bank))

        # Columns each slot receives in the rotate phase: the unit output that the
        # circle schedule moves into it.
        sources = source_slot(n)
        rotated = units[0].rotated
        # A slot's write enable for its moved column is registered from a copy of the
        # rotation's valid flag one stage short of ``rotated`` (``step`` holds still
        # through a phase): decoding ``step`` and reaching every slot's memories in the
        # same cycle was a long path.
        rotated_soon = delayed(m, units[0].rotate, ROTATE_LATENCY - 1, "rotated_soon")
        a_moved, v_moved, moving = [], [], []
        for slot in range(n):
            src = sources[slot]
            pair = src if src < half else src - half
            unit = units[pair // steps]
            a_moved.append(unit.a_top_out if src < half else unit.a_bottom_out)
            v_moved.append(unit.v_top_out if src < half else unit.v_bottom_out)
            move = Signal(name=f"moving{slot}")
            m.d.sync += move.eq(rotated_soon & (step == pair % steps))
            moving.append(move)

        def registered_tree(values, shape, name, combine):
            """Reduce ``values`` to one through registered PAIR_SELECT_RADIX-input stages
            (:func:`select_stages` of them); ``combine(stage, group)`` joins one group
            into the register ``{name}{stage}_{first input}``."""
            for stage in range(select_stages(len(values))):
                joined = []
                for first_input in range(0, len(values), PAIR_SELECT_RADIX):
                    register = Signal(shape, name=f"{name}{stage}_{first_input}")
                    group = values[first_input:first_input + PAIR_SELECT_RADIX]
                    m.d.sync += register.eq(combine(stage, group))
                    joined.append(register)
                values = joined
            assert len(values) == 1
            return values[0]

        def selected(values, shape, name, index=step, index_moves=False, memories=False):
            """``values[index]`` through a :func:`registered_tree`, stage i choosing by
            digit i of ``index``; ``memories``: the values are memories' read data, which
            first land in registers of their own (see GATHER_LATENCY). A moving ``index``
            has each digit delayed to meet its stage; ``step`` holds still while a phase's
            rows are in flight. Flags that go with the values take ``delayed(m, flag,
            stages, ...)``, ``stages`` from :func:`memory_select_stages` or
            :func:`select_stages`."""
            bits = clog2(PAIR_SELECT_RADIX)
            landing = landing_stages(len(values)) if memories else 0
            values = [delayed(m, value, landing, f"{name}_landed{i}", reset_less=True)
                      for i, value in enumerate(values)]

            @functools.cache
            def digit(stage):
                value = index[stage * bits:(stage + 1) * bits]
                return delayed(m, value, landing + stage, f"{name}_digit{stage}") if index_moves else value

            def choose(stage, group):
                return Array(group)[digit(stage)] if len(group) > 1 else group[0]
            return registered_tree(values, shape, f"{name}_sel", choose)

        def or_tree(values, shape, name):
            """The OR of ``values`` through a :func:`registered_tree`."""
            return registered_tree(values, shape, f"{name}_or",
                                   lambda stage, group: functools.reduce(operator.or_, group))

        # Units read their pairs through a steps:1 multiplexer. With one pair per unit
        # (``fused``), the next round's dot products are accumulated from the columns
        # as they are written, which removes the dot phase from every round.
        fused = steps == 1
        for u, unit in enumerate(units):
            tops = [u * steps + s for s in range(steps)]
            bottoms = [half + slot for slot in tops]
            col, vec = signed(p.col_width), signed(p.v_width)
            a_top = selected([a_mem[x].read_data for x in tops], col, f"a_top{u}", memories=True)
            a_bottom = selected([a_mem[x].read_data for x in bottoms], col, f"a_bottom{u}", memories=True)
            m.d.comb += [
                unit.a_top.eq(a_top), unit.a_bottom.eq(a_bottom),
                unit.v_top.eq(selected([v_mem[x].read_data for x in tops], vec, f"v_top{u}", memories=True)),
                unit.v_bottom.eq(selected([v_mem[x].read_data for x in bottoms], vec, f"v_bottom{u}",
                                          memories=True)),
                unit.rotate.eq(delayed(m, rd_valid & rotating, select, f"rotate{u}")),
            ]
            if fused:
                m.d.comb += [
                    unit.dot_top.eq(Mux(rotating, a_moved[u], a_top)),
                    unit.dot_bottom.eq(Mux(rotating, a_moved[half + u], a_bottom)),
                    unit.accumulate.eq(Mux(rotating, rotated, rd_valid)),
                ]
            else:
                m.d.comb += [unit.dot_top.eq(a_top), unit.dot_bottom.eq(a_bottom),
                             unit.accumulate.eq(delayed(m, rd_valid & ~rotating, select, f"accumulate{u}"))]

        # Load path.
        # clog2(n) bits each, n a power of two: after the last element both wrap to 0,
        # ready for the next matrix.
        load_row = Signal(row_bits)
        load_col = Signal(row_bits)
        # (load_row, load_col) is the matrix's last element, registered: the end of the
        # load then is one flag and the handshake, not two comparisons, ahead of the
        # state register and ``loading``.
        load_at_last = Signal()
        # In the LOAD state, as a register of its own: it is the slice's ready and the
        # write ports' source select, so no state decoding sits in front of either.
        loading = Signal(init=1)
        # The matrix arrives through a register slice, so that the producer's valid
        # reaches the load counters and write enables from a flip-flop here.
        m.submodules.matrix_in = matrix_in = StreamRegister(signed(p.data_width))
        wiring.connect(m, wiring.flipped(self.matrix), matrix_in.i)
        incoming = matrix_in.o
        m.d.comb += incoming.ready.eq(loading)
        load_fire = Signal()
        m.d.comb += load_fire.eq(incoming.valid & incoming.ready)
        load_a = Signal(signed(p.col_width))
        m.d.comb += load_a.eq(incoming.payload << p.guard_bits)
        v_one = 1 << p.v_frac

        # Write ports: the input stream while loading, else the moved columns. Loaded
        # elements are written a cycle after they are taken, so that every write
        # address, enable and datum comes from a register (the state decoding and the
        # stream handshake had reached every memory).
        load_data = Signal(signed(p.col_width))
        m.d.sync += load_data.eq(load_a)
        wr_addr = []
        for index, following in enumerate(wr_next):
            address = Signal(row_bits + 1, name=f"wr_addr{index * ADDRESS_GROUP}")
            m.d.sync += address.eq(Mux(loading, Cat(load_row, Const(0, 1)), following))
            wr_addr += [address] * ADDRESS_GROUP
        for slot in range(n):
            load_here = Signal(name=f"load_here{slot}")
            load_one = Signal(name=f"load_one{slot}")          # a diagonal element of V
            m.d.sync += [load_here.eq(loading & load_fire & (load_col == slot)),
                         load_one.eq(load_row == slot)]
            for mem, load_value, moved in (
                    (a_mem[slot], load_data, a_moved[slot]),
                    (v_mem[slot], Mux(load_one, v_one, 0), v_moved[slot])):
                m.d.comb += [
                    mem.write_addr.eq(wr_addr[slot]),
                    mem.write_data.eq(Mux(load_here, load_value, moved)),
                    mem.write_en.eq(load_here | moving[slot]),
                ]

        # Final norms, ranks and output selection.
        sigma = [Signal(p.sigma_width, name=f"sigma{i}") for i in range(n)]
        rank = [Signal(range(n), name=f"rank{i}") for i in range(n)]
        rank_ahead = [Signal(name=f"rank_ahead{i}") for i in range(n)]
        top_slot = [Signal(range(n), name=f"top_slot{i}") for i in range(p.k)]
        # rank[i] = #{j : sigma[j] > sigma[i], or equal with j < i}, from a ring: a copy
        # of sigma, taken in the RANK phase's first cycle (RING_LOAD_LATENCY), turns once
        # (ring[i] takes ring[i + 1], ring[n - 1] takes ring[0]), so that in turn t slot
        # i compares its own sigma with sigma[(i + t) mod n], its neighbour's register.
        # (A probe multiplexed to all n comparators had been a long path.) A value that
        # went round from slot 0 to slot n - 1 is marked ``wrapped``: it comes from an
        # earlier slot. ``turning``: the ring holds turn ``count - 1`` (RANK cycles 1..n).
        ranking = Signal()
        turning = Signal()
        m.d.sync += turning.eq(ranking & (count < n))
        ring = [Signal(p.sigma_width, name=f"ring{i}") for i in range(n)]
        wrapped = [Signal(name=f"ring_wrapped{i}") for i in range(n)]
        for i in range(n):
            following = (i + 1) % n
            m.d.sync += [ring[i].eq(Mux(turning, ring[following], sigma[i])),
                         wrapped[i].eq(turning & (Const(1) if following == 0 else wrapped[following]))]
        # The comparisons are registered, then combined, then counted
        # (RANK_COMPARE_STAGES). The counters are cleared through the NORM phase by a
        # registered flag, and count only live comparisons (none outside the RANK
        # phase), so no state decoding reaches their n enables.
        norming = Signal()
        rank_clear = Signal()
        m.d.sync += rank_clear.eq(norming)
        # The comparisons are taken on halves (two short carry chains) and joined in the
        # second stage with the slot order, itself registered in the first.
        compared_valid = delayed(m, turning, 1, "compared_valid")
        split = p.sigma_width // 2
        for i in range(n):
            above_high, equal_high, above_low, equal_low, earlier = (
                Signal(name=f"ring_{flag}{i}") for flag in ("above_high", "equal_high", "above_low",
                                                            "equal_low", "earlier"))
            m.d.sync += [above_high.eq(ring[i][split:] > sigma[i][split:]),
                         equal_high.eq(ring[i][split:] == sigma[i][split:]),
                         above_low.eq(ring[i][:split] > sigma[i][:split]),
                         equal_low.eq(ring[i][:split] == sigma[i][:split]),
                         earlier.eq(wrapped[i])]
            ahead = above_high | (equal_high & (above_low | (equal_low & earlier)))
            m.d.sync += [rank_ahead[i].eq(compared_valid & ahead),
                         rank[i].eq(Mux(rank_clear, 0, rank[i] + rank_ahead[i]))]
        norm_index = Signal(range(2 * p.units))
        # The slot whose norm the square root is taking, one-hot and registered
        # (``norm_index`` and ``step`` hold still for the root's whole run): a root is
        # written on ``done`` alone, which only the NORM phase's roots raise.
        for u in range(p.units):
            for s in range(steps):
                for side, slot in ((u, u * steps + s), (p.units + u, half + u * steps + s)):
                    target = Signal(name=f"sigma_target{slot}")
                    m.d.sync += target.eq((norm_index == side) & (step == s))
                    with m.If(sqrt.done & target):
                        m.d.sync += sigma[slot].eq(sqrt.root)
        out_vector = Signal(range(p.k))
        fire = Signal()
        # The result leaves through a register slice, so that the consumer's ready
        # reaches the buffer's read side from a flip-flop here; ``fire`` is a word
        # moving from the buffer into the slice.
        m.submodules.result_out = result_out = StreamRegister(result_layout(p))
        wiring.connect(m, result_out.o, wiring.flipped(self.result))
        buffered = result_out.i
        m.d.comb += fire.eq(buffered.valid & buffered.ready)
        # Busy while the controller is, and while a word waits in the slice.
        controller_busy = Signal()
        m.d.comb += self.busy.eq(controller_busy | result_out.o.valid)

        # Output: a word is issued (its V row read, or its rank matched) while the
        # buffer has a credit, and written into the buffer output_latency - 1 cycles
        # later; a credit returns when a word is taken.
        m.submodules.out_buffer = out_buffer = SyncFIFO(width=p.out_width + 1,
                                                        depth=self.output_buffer_depth)
        # The credits as a thermometer code, ``credits[i]``: more than i credits. Each bit
        # then follows its neighbours, the returned credit and the issue through one LUT,
        # where a counter put an adder and comparisons in front of ``has_credit``.
        depth = self.output_buffer_depth
        credits = Signal(depth, init=(1 << depth) - 1)
        has_credit = credits[0]
        drained = credits[-1]                      # every credit back: the buffer is empty
        issue = Signal()
        issue_last = Signal()                      # the decomposition's final word
        # Stage 1: V data read, or which slot has the issued rank.
        word_valid = Signal()
        word_vector = Signal()                     # a V element, else a sigma
        word_index = Signal(range(n))
        word_hits = Signal(n)
        word_slot = Signal(range(n))
        word_last = Signal()
        returned = delayed(m, fire, CREDIT_LATENCY, "credit_returned")
        gained, spent = returned & ~issue, issue & ~returned
        more, fewer = Cat(Const(1, 1), credits[:-1]), credits[1:]
        m.d.sync += [credits.eq(Mux(gained, more, Mux(spent, fewer, credits))),
                     word_valid.eq(issue), word_last.eq(issue_last), word_index.eq(count),
                     word_hits.eq(Cat(rank[i] == count for i in range(n)))]
        # The sigma with the word's rank, and its slot, through registered OR trees (the
        # one matching slot is the only non-zero input), while the V data is read.
        hit_stages = select_stages(n)
        value = or_tree([Mux(word_hits[i], sigma[i], 0) for i in range(n)], p.sigma_width, "word_sigma")
        slot_hit = or_tree([Mux(word_hits[i], i, 0) for i in range(n)], range(n), "word_slot_hit")
        hit_ranked = delayed(m, word_valid & ~word_vector, hit_stages, "word_ranked")
        hit_index = delayed(m, word_index, hit_stages, "word_rank")
        # top_slot[r] is read from vector r's first word on, n words after sigma r.
        with m.If(hit_ranked):
            for r in range(p.k):
                with m.If(hit_index == r):
                    m.d.sync += top_slot[r].eq(slot_hit)
        # Then, until the V data is out, landed and through the n:1 tree that picks its
        # slot, the matching sigma and the word's flags wait.
        wait = READ_LATENCY - 1
        slot_ready = delayed(m, word_slot, wait, "word_slot")
        v_word = selected([mem.read_data for mem in v_mem], signed(p.v_width), "v_word",
                          index=slot_ready, index_moves=True, memories=True)
        wait += memory_select_stages(n)
        sigma_ready = delayed(m, value, wait - hit_stages, "word_sigma")
        vector_ready, valid_ready, last_ready = (
            delayed(m, flag, wait, flag.name) for flag in (word_vector, word_valid, word_last))
        # Last stage: the word, written into the buffer.
        word = Signal(signed(p.out_width))
        word_written, word_written_last = Signal(name="word_written"), Signal(name="word_written_last")
        m.d.sync += [
            word.eq(Mux(vector_ready, v_word, sigma_ready)),
            word_written.eq(valid_ready), word_written_last.eq(last_ready),
        ]
        m.d.comb += [
            out_buffer.w_en.eq(word_written),
            out_buffer.w_data.eq(Cat(word, word_written_last)),
            buffered.valid.eq(out_buffer.r_rdy),
            buffered.payload.data.eq(out_buffer.r_data[:p.out_width]),
            buffered.payload.last.eq(out_buffer.r_data[p.out_width]),
            out_buffer.r_en.eq(buffered.ready),
        ]

        # For each angle group: the pipelines take slot ``count`` in this cycle, i.e. the
        # ANGLE phase runs and ``count < len(group)``; registered beside ``count`` (the
        # comparison in front of the pipelines' valid flags was a long path), set at the
        # start of an ANGLE phase (``angle_next``) and cleared once the group's slots
        # are issued.
        angle_next = Signal()
        issuing_flags = {}
        for length in sorted({len(group) for group in angle_groups}):
            flag = Signal(name=f"angle_issue{length}")
            issued = flag & (count + 1 < length)
            m.d.sync += flag.eq(Mux(count_clear, angle_next, Mux(count_step, issued, flag)))
            issuing_flags[length] = flag

        # The angle pipelines register their operands only with ``start``: the operands
        # are not gated by the controller state (that gating sat in front of the
        # pipelines' 53-bit zero test), and between pairs the pipelines hold still
        # instead of computing on every dot product as it accumulates.
        for angle, group in zip(angles, angle_groups, strict=True):
            # Indexed by just the bits of ``count`` that a slot needs: a wider index
            # made the out-of-range rows a reset term on the operand registers.
            slot_index = count[:clog2(len(group))]
            m.d.comb += [
                angle.start.eq(issuing_flags[len(group)]),
                angle.tag.eq(count),
                angle.alpha.eq(by_slot([u.alpha for u in group], slot_index)),
                angle.beta.eq(by_slot([u.beta for u in group], slot_index)),
                angle.gamma.eq(by_slot([u.gamma for u in group], slot_index)),
            ]

        # A unit takes its angle when its pipeline's result comes out, which happens only
        # in an ANGLE phase (each result ``angle_latency`` cycles after its issue there):
        # the state decoding had reached the units' rotation registers.
        for angle, group in zip(angles, angle_groups, strict=True):
            for slot, unit in enumerate(group):
                m.d.comb += unit.angle_load.eq(angle.done & (angle.tag_out == slot))

        # The square root starts from a register set with the NORM phase's restarts, on
        # the norm that ``norm_index`` picks outside the state machine: the state decoding
        # had been in front of the root's 52-bit load.
        sqrt_go = Signal()
        norms = Array([u.alpha for u in units] + [u.beta for u in units])
        m.d.sync += sqrt_go.eq(0)
        m.d.comb += [sqrt.start.eq(sqrt_go), sqrt.value.eq(norms[norm_index])]

        with m.FSM(name="control"):
            with m.State("LOAD"):
                m.d.comb += controller_busy.eq((load_row != 0) | (load_col != 0) | incoming.valid)
                with m.If(load_fire):
                    m.d.sync += [load_col.eq(load_col + 1),
                                 load_at_last.eq((load_row == n - 1) & (load_col == n - 2))]
                    with m.If(load_col == n - 1):
                        m.d.sync += load_row.eq(load_row + 1)
                    with m.If(load_at_last):
                        m.d.sync += loading.eq(0)
                        enter("DOT")

            with m.State("DOT"):
                m.d.comb += [controller_busy.eq(1), reading.eq(count < n)]
                count_phase(self.dot_cycles)
                with m.If(last):
                    with m.If(final):
                        m.d.sync += sqrt_go.eq(1)
                        enter("NORM")
                    with m.Else():
                        m.d.comb += angle_next.eq(1)
                        enter("ANGLE")

            with m.State("ANGLE"):
                # Issue slot `count` of every pipeline in cycles 0..slots-1; the results
                # return in the same order, the last one in the phase's final cycle.
                m.d.comb += controller_busy.eq(1)
                count_phase(self.angle_cycles)
                with m.If(Cat(a.done & ~a.skip for a in angles).any()):
                    m.d.sync += rotated_any.eq(1)
                with m.If(last):
                    enter("ROTATE")

            with m.State("ROTATE"):
                m.d.comb += [controller_busy.eq(1), reading.eq(count < n), rotating.eq(1)]
                count_phase(self.rotate_cycles)
                with m.If(last):
                    enter("ANGLE" if fused else "DOT")
                    if fused:
                        m.d.comb += angle_next.eq(1)
                    with m.If(~round_ends):
                        m.d.comb += step_advance.eq(1)
                    with m.Else():
                        m.d.comb += [step_clear.eq(1), parity_flip.eq(1)]
                        with m.If(~sweep_ends):
                            m.d.sync += round_.eq(round_ + 1)
                        with m.Else():
                            m.d.sync += [round_.eq(0), rotated_any.eq(0),
                                         self.sweeps_run.eq(sweep + 1)]
                            with m.If(sweeps_end):
                                m.d.sync += [final.eq(1), sweep.eq(0), sqrt_go.eq(fused)]
                                if fused:
                                    m.d.comb += angle_next.eq(0)
                                enter("NORM" if fused else "DOT")
                            with m.Else():
                                m.d.sync += sweep.eq(sweep + 1)

            with m.State("NORM"):
                # sigma of the slots in this step: unit u's top (alpha) then bottom (beta)
                m.d.comb += [controller_busy.eq(1), norming.eq(1)]
                with m.If(sqrt.done):
                    m.d.sync += [norm_index.eq(norm_index + 1), sqrt_go.eq(norm_index != 2 * p.units - 1)]
                    with m.If(norm_index == 2 * p.units - 1):
                        m.d.sync += norm_index.eq(0)
                        with m.If(~round_ends):
                            m.d.comb += step_advance.eq(1)
                            enter("DOT")
                        with m.Else():
                            m.d.comb += step_clear.eq(1)
                            enter("RANK")

            with m.State("RANK"):
                # The ring turns once through sigma; the ranks count (see above).
                m.d.comb += [controller_busy.eq(1), ranking.eq(1)]
                count_phase(n + self.rank_pipeline)
                with m.If(last):
                    enter("SIGMA")

            with m.State("SIGMA"):
                # Word ``count``: the sigma ranked ``count``.
                m.d.comb += controller_busy.eq(1)
                m.d.sync += word_vector.eq(0)
                with m.If(issue):
                    with m.If(row_last):
                        m.d.sync += out_vector.eq(0)
                        enter("VECTOR")

            with m.State("VECTOR"):
                # Word ``count`` of vector ``out_vector``: V row ``count`` is read now.
                m.d.comb += [controller_busy.eq(1),
                             issue_last.eq(issue & (out_vector == p.k - 1) & row_last)]
                m.d.sync += [word_vector.eq(1), word_slot.eq(Array(top_slot)[out_vector])]
                with m.If(issue):
                    with m.If(row_last):
                        m.d.sync += out_vector.eq(out_vector + 1)
                    with m.If(issue_last):
                        enter("DRAIN")

            with m.State("DRAIN"):
                # Busy until the last word has left the buffer (then the slice holds busy).
                # The load counters wrapped to 0 with the matrix's last element.
                m.d.comb += controller_busy.eq(1)
                # The decomposition's counters and flags start again here, not with the
                # load's last element: there the stream's valid reached all of them.
                with m.If(drained):
                    m.d.sync += [loading.eq(1),
                                 sweep.eq(0), round_.eq(0), final.eq(0), rotated_any.eq(0)]
                    m.d.comb += [parity_clear.eq(1), step_clear.eq(1)]
                    enter("LOAD")

        # An output block ends on flags alone (registers), where in the state machine's
        # branches the phases' ends had sat five LUTs deep in front of ``count``'s reset
        # (7.1 ns on the stand-in).
        m.d.comb += [issue.eq(outputting & has_credit), block_ends.eq(issue & row_last),
                     count_step.eq(counting | issue)]
        return m

