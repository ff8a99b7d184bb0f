"""SP 800-90B continuous health tests of a binary noise source, with a latched alarm.

* :class:`RepetitionCountTest`: SP 800-90B 4.4.1 (runs of identical samples).
* :class:`AdaptiveProportionTest`: SP 800-90B 4.4.2 (non-overlapping windows).
* :class:`HealthTests`: both tests, the start-up test (SP 800-90B 4.3: the first
  ``startup_samples`` samples are tested before any output is released) and the alarm
  latch; the alarm is cleared only by the explicit ``host_reset`` input (or the domain
  reset), which also restarts both tests and the start-up test.

Cutoffs come from :mod:`.cutoffs` (derived from alpha and H at elaboration).
"""
from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .params import EntropyParams


class RepetitionCountTest(wiring.Component):
    """Repetition count test (SP 800-90B 4.4.1) over the samples with ``valid`` high.

    Ports: ``sample``/``valid`` in; ``restart`` in (synchronous: forget the current run,
    the next valid sample starts a new one); ``fail`` out; ``run`` out (length of the
    current run including the latest sample, saturating at the cutoff).

    ``fail`` is combinational: high in the cycle the ``cutoff``-th identical sample in a
    row is presented (so the caller can stop that very sample from being used), and in
    every later cycle that extends the run. Zero latency, one sample per cycle.
    Reset: as ``restart``.
    """

    def __init__(self, params: EntropyParams):
        self.params = params
        self.cutoff = params.rct_cutoff
        super().__init__({
            "sample": In(1),
            "valid": In(1),
            "restart": In(1),
            "fail": Out(1),
            "run": Out(range(self.cutoff + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        started = Signal()                    # a run exists (some sample since restart)
        last = Signal()                       # A: the sample being repeated
        repeat = Signal()
        m.d.comb += [
            repeat.eq(started & (self.sample == last)),
            self.fail.eq(self.valid & repeat & (self.run + 1 >= self.cutoff)),
        ]
        with m.If(self.restart):
            m.d.sync += [started.eq(0), self.run.eq(0)]
        with m.Elif(self.valid):
            m.d.sync += [started.eq(1), last.eq(self.sample)]
            with m.If(repeat):
                m.d.sync += self.run.eq(Mux(self.run < self.cutoff, self.run + 1, self.run))
            with m.Else():
                m.d.sync += self.run.eq(1)
        return m


class AdaptiveProportionTest(wiring.Component):
    """Adaptive proportion test (SP 800-90B 4.4.2) over the samples with ``valid`` high.

    Non-overlapping windows of ``apt_window`` samples; the first sample of a window is
    the reference, ``count`` counts the window's samples equal to it (the reference
    included). Ports: ``sample``/``valid``/``restart`` in; ``fail`` out (combinational,
    high in the cycle the count reaches the cutoff and for later matching samples of the
    same window); ``count`` out; ``window_done`` out (combinational, the presented sample
    is the window's last; ``count + match`` is then its final count).

    Zero latency, one sample per cycle. Reset: as ``restart`` (next sample opens a window).
    """

    def __init__(self, params: EntropyParams):
        self.params = params
        self.cutoff = params.apt_cutoff
        self.window = params.apt_window
        super().__init__({
            "sample": In(1),
            "valid": In(1),
            "restart": In(1),
            "fail": Out(1),
            "count": Out(range(self.window + 1)),
            "final_count": Out(range(self.window + 1)),
            "window_done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        index = Signal(range(self.window))    # position of the next sample in its window
        reference = Signal()
        match = Signal()
        opening = Signal()
        m.d.comb += [
            opening.eq(index == 0),
            match.eq(~opening & (self.sample == reference)),
            self.fail.eq(self.valid & match & (self.count + 1 >= self.cutoff)),
            self.window_done.eq(self.valid & (index == self.window - 1)),
            self.final_count.eq(self.count + match),
        ]
        with m.If(self.restart):
            m.d.sync += [index.eq(0), self.count.eq(0)]
        with m.Elif(self.valid):
            # index wraps to 0 after the window's last sample (window is a power of two).
            m.d.sync += index.eq(index + 1)
            with m.If(opening):
                m.d.sync += [reference.eq(self.sample), self.count.eq(1)]
            with m.Elif(match):
                m.d.sync += self.count.eq(self.count + 1)
        return m


class HealthTests(wiring.Component):
    """Both continuous tests, the start-up test and the latched, fail-closed alarm.

    Inputs: ``sample``/``valid`` (one raw bit per valid cycle); ``host_reset`` (a pulse
    from the host: clears the alarms, restarts both tests and the start-up test).

    Outputs:

    * ``alarm_rct`` / ``alarm_apt``: latched failure flags (set in the cycle after the
      failing sample; stay set until ``host_reset`` or domain reset). Both tests keep
      running after an alarm, so the second flag still reports what it sees.
    * ``fail_now``: combinational, a test fails on the sample presented this cycle;
      ``alarm = alarm_rct | alarm_apt``; ``usable`` is combinational: the sample
      presented this cycle may be released (start-up passed, no alarm, not failing now).
    * ``startup_done``: ``startup_samples`` samples have been tested without an alarm;
      cleared by ``host_reset``. Never set if an alarm comes first.
    * ``run`` / ``window_count``: the tests' live counters; ``max_run`` / ``max_window``:
      the largest run and window count seen since the last host reset (saturating).

    Reset (domain or ``host_reset``): alarms and start-up cleared, tests restarted.
    """

    def __init__(self, params: EntropyParams):
        self.params = params
        self.rct = RepetitionCountTest(params)
        self.apt = AdaptiveProportionTest(params)
        super().__init__({
            "sample": In(1),
            "valid": In(1),
            "host_reset": In(1),
            "fail_now": Out(1),
            "alarm_rct": Out(1),
            "alarm_apt": Out(1),
            "alarm": Out(1),
            "startup_done": Out(1),
            "usable": Out(1),
            "run": Out(range(params.rct_cutoff + 1)),
            "window_count": Out(range(params.apt_window + 1)),
            "max_run": Out(range(params.rct_cutoff + 1)),
            "max_window": Out(range(params.apt_window + 1)),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        m.submodules.rct = rct = self.rct
        m.submodules.apt = apt = self.apt
        for test in (rct, apt):
            m.d.comb += [test.sample.eq(self.sample), test.valid.eq(self.valid),
                         test.restart.eq(self.host_reset)]
        startup_left = Signal(range(p.startup_samples + 1), init=p.startup_samples)
        m.d.comb += [
            self.fail_now.eq(rct.fail | apt.fail),
            self.alarm.eq(self.alarm_rct | self.alarm_apt),
            self.usable.eq(self.valid & self.startup_done & ~self.alarm & ~self.fail_now),
            self.run.eq(rct.run),
            self.window_count.eq(apt.count),
        ]
        with m.If(self.host_reset):
            m.d.sync += [self.alarm_rct.eq(0), self.alarm_apt.eq(0), self.startup_done.eq(0),
                         startup_left.eq(p.startup_samples), self.max_run.eq(0), self.max_window.eq(0)]
        with m.Elif(self.valid):
            with m.If(rct.fail):
                m.d.sync += self.alarm_rct.eq(1)
            with m.If(apt.fail):
                m.d.sync += self.alarm_apt.eq(1)
            with m.If(startup_left != 0):
                m.d.sync += startup_left.eq(startup_left - 1)
                with m.If((startup_left == 1) & ~self.alarm & ~self.fail_now):
                    m.d.sync += self.startup_done.eq(1)
            with m.If(apt.window_done & (apt.final_count > self.max_window)):
                m.d.sync += self.max_window.eq(apt.final_count)
        with m.If(~self.host_reset & (rct.run > self.max_run)):
            # Follows the run register one cycle late; the run saturates at the cutoff.
            m.d.sync += self.max_run.eq(rct.run)
        return m
