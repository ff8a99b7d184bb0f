"""RosvdCore's Verilog on Verilator, driven by cocotbext-axi (``rosvd.sim.core_tb``).

One build (n=8, 4 units, a small entropy start-up) and one run of every testcase: a
decomposition through the streams under four idle/backpressure patterns, compared
bit-exactly with the model; CONFIG, ID, VERSION, DEVICE_DNA; SLVERR and the sticky
flags; the empty-FIFO read; the done and alarm interrupts, masked and enabled; soft reset; an
entropy alarm in the middle of a decomposition; aresetn in the middle of an input frame and
of a result frame held back by the sink.
"""
from __future__ import annotations

from rosvd.hw.entropy.params import EntropyParams
from rosvd.hw.svd.params import SVDParams
from rosvd.hw.top.core import CoreParams
from rosvd.sim.core_rtl import params_from_dict, params_to_dict, run_core

#: Small entropy windows (experiment values) keep the start-up short; the CONFIG
#: registers are then checked against non-default values too.
PARAMS = CoreParams(svd=SVDParams(n=8, units=4), entropy=EntropyParams(apt_window=64, startup_samples=64),
                    fifo_depth=8)


def test_params_round_trip():
    assert params_from_dict(params_to_dict(PARAMS)) == PARAMS


def test_core_on_verilator():
    run_core("verilator", PARAMS)
