"""The entropy source top: noise source, continuous health tests, raw-word output, status."""
from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .health import HealthTests
from .params import EntropyParams
from .ring_oscillator import RingOscillatorBank, ring_oscillators_available


class EntropySource(wiring.Component):
    """Ring-oscillator noise source with SP 800-90B health tests, fail-closed.

    Noise source, chosen by the ``platform`` given to ``elaborate``: on Xilinx
    7-series/UltraScale(+) the :class:`RingOscillatorBank`; anywhere else (``None``,
    simulators, open toolchains) the ``raw_bit`` input, driven by a software jitter model
    (``rosvd.sim.entropy_model``), and ``simulated`` reads 1. ``raw_bit`` is present in
    both cases and ignored on Xilinx. Simulated bits are never entropy.

    Sampling: one raw sample every ``params.sample_period`` cycles; in simulation
    ``raw_bit`` is taken in the cycle of the sample strobe (with ``sample_period = 1``,
    every cycle). Every sample goes through :class:`HealthTests`.

    ``words`` (out, ``lib.stream``, 32-bit payload): raw samples, unconditioned, packed
    32 to a word, the earliest sample in bit 0. Only samples that are tested, after the
    start-up test passed and while no alarm is latched, enter words. Throughput one word
    per ``32 * sample_period`` cycles; the word is offered the cycle after its last
    sample. One word is buffered: a completed word that finds the buffer still full is
    dropped and counted in ``dropped`` (raw samples are for assessment; gaps are harmless
    and counted).

    Fail-closed: in the cycle a sample fails a test, ``words.valid`` falls, the buffered
    word and the partial word are discarded, and nothing is released until
    ``host_reset`` (a pulse) clears the alarm and the start-up test has passed again.
    Withdrawing ``valid`` before a transfer breaks the usual stream rule on purpose: an
    alarm is terminal for the consumer until the host resets the source.

    Status: ``alarm_rct``, ``alarm_apt`` (latched), ``startup_done``, ``healthy``
    (start-up passed and no alarm), ``simulated``. Counters (``counter_width`` bits,
    saturating, cleared by domain reset and ``host_reset``): ``samples`` tested,
    ``words_out`` transferred, ``dropped``; ``alarm_sample`` = the value of ``samples``
    including the sample that first raised an alarm (0 while none has); ``max_run``
    (longest repetition, saturating at the RCT cutoff) and ``max_window`` (largest
    completed APT window count).

    Reset (domain reset or ``host_reset``): alarms, start-up, words and counters cleared.
    """

    def __init__(self, params: EntropyParams | None = None):
        self.params = p = params or EntropyParams()
        self.health = HealthTests(p)
        count = p.counter_width
        super().__init__({
            "raw_bit": In(1),
            "host_reset": In(1),
            "words": Out(stream.Signature(p.word_width)),
            "alarm_rct": Out(1),
            "alarm_apt": Out(1),
            "startup_done": Out(1),
            "healthy": Out(1),
            "simulated": Out(1),
            "samples": Out(count),
            "words_out": Out(count),
            "dropped": Out(count),
            "alarm_sample": Out(count),
            "max_run": Out(range(p.rct_cutoff + 1)),
            "max_window": Out(range(p.apt_window + 1)),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        m.submodules.health = health = self.health

        # Noise source.
        raw = Signal()
        if ring_oscillators_available(platform):
            m.submodules.bank = bank = RingOscillatorBank(p)
            m.d.comb += [raw.eq(bank.raw), self.simulated.eq(0)]
        else:
            m.d.comb += [raw.eq(self.raw_bit), self.simulated.eq(1)]

        # Sample strobe.
        strobe = Signal()
        if p.sample_period == 1:
            m.d.comb += strobe.eq(1)
        else:
            phase = Signal(range(p.sample_period))
            m.d.sync += phase.eq(phase + 1)
            with m.If(phase == p.sample_period - 1):
                m.d.sync += phase.eq(0)
            m.d.comb += strobe.eq(phase == p.sample_period - 1)

        m.d.comb += [
            health.sample.eq(raw),
            health.valid.eq(strobe),
            health.host_reset.eq(self.host_reset),
            self.alarm_rct.eq(health.alarm_rct),
            self.alarm_apt.eq(health.alarm_apt),
            self.startup_done.eq(health.startup_done),
            self.healthy.eq(health.startup_done & ~health.alarm),
            self.max_run.eq(health.max_run),
            self.max_window.eq(health.max_window),
        ]

        # Raw-word packing and the one-word output buffer.
        width = p.word_width
        shift = Signal(width)
        fill = Signal(range(width))
        word = Signal(width)
        word_valid = Signal()
        stop = Signal()
        m.d.comb += [
            stop.eq(health.alarm | health.fail_now | self.host_reset),
            self.words.payload.eq(word),
            self.words.valid.eq(word_valid & ~stop),
        ]
        transfer = self.words.valid & self.words.ready
        completed = Signal(width)
        m.d.comb += completed.eq(Cat(shift[1:], raw))

        def bump(counter):
            with m.If(counter != (1 << p.counter_width) - 1):
                m.d.sync += counter.eq(counter + 1)

        with m.If(transfer):
            m.d.sync += word_valid.eq(0)
            bump(self.words_out)
        with m.If(health.usable):
            m.d.sync += [shift.eq(completed), fill.eq(fill + 1)]
            with m.If(fill == width - 1):
                m.d.sync += fill.eq(0)
                with m.If(word_valid & ~transfer):
                    bump(self.dropped)
                with m.Else():
                    m.d.sync += [word.eq(completed), word_valid.eq(1)]
        with m.If(strobe):
            bump(self.samples)
            with m.If(health.fail_now & ~health.alarm & (self.alarm_sample == 0)):
                m.d.sync += self.alarm_sample.eq(self.samples + 1)
        with m.If(stop):
            m.d.sync += [word_valid.eq(0), fill.eq(0)]
        with m.If(self.host_reset):
            m.d.sync += [self.samples.eq(0), self.words_out.eq(0), self.dropped.eq(0),
                         self.alarm_sample.eq(0)]
        return m
