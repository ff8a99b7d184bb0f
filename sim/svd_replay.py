"""cocotb testcase that streams given matrices through the engine and records its output.

Environment: ``ROSVD_TB_PARAMS`` (see :mod:`.runner`), ``ROSVD_REPLAY_IN`` (``.npy`` of
shape (B, n, n)), ``ROSVD_REPLAY_OUT`` (JSON written here: per matrix the output words,
the cycles from first input to last output word, and ``sweeps_run``). No stalls, no
checking: callers (the demo, the bench) compare with the model themselves.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np

from rosvd.sim.stream import field
from rosvd.sim.svd_tb import SVDTB

REPLAY_IN_ENV = "ROSVD_REPLAY_IN"
REPLAY_OUT_ENV = "ROSVD_REPLAY_OUT"


@cocotb.test()
async def svd_replay(dut):
    tb = SVDTB(dut)
    p = tb.params
    matrices = np.load(os.environ[REPLAY_IN_ENV])
    await tb.reset()
    records = []
    for matrix in matrices:
        feeder = cocotb.start_soon(tb.source.send(matrix.ravel().tolist()))
        raw = await tb.guarded(tb.sink.receive(p.output_words, until=tb.is_last), 1)
        await feeder
        cycles = (tb.sink.stamps[-1] - tb.source.stamps[0]) // tb.period_steps + 1
        words = [field(w, tb.data_field.offset, tb.data_field.width, signed=True) for w in raw]
        records.append({"words": words, "cycles": cycles, "sweeps_run": int(dut.sweeps_run.value)})
    Path(os.environ[REPLAY_OUT_ENV]).write_text(json.dumps(records))
