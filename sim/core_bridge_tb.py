"""cocotb testbench that serves a host driver's bus traffic to the simulated RosvdCore.

Started by :class:`rosvd.driver.sim_bridge.SimBridge` (through
:func:`rosvd.sim.core_rtl.run_core`, testcase ``core_bridge``). It connects back to the
host on ``127.0.0.1:$ROSVD_BRIDGE_PORT``, introduces itself with ``$ROSVD_BRIDGE_TOKEN``
and then answers one request at a time, each a line of JSON, until ``close``, end of
file or ``$ROSVD_BRIDGE_IDLE_S`` seconds without a request (then the testcase fails, so
a vanished host never leaves a simulator running).

Requests (``op``) and replies:

* ``read`` {offset} -> {value, resp}; ``write`` {offset, value} -> {resp}: one
  AXI4-Lite transaction each through ``AxiLiteMaster``; ``resp`` is ``OKAY``/``SLVERR``...;
* ``send`` {words, timeout_ns?} -> {}: one frame through ``AxiStreamSource``, TLAST on
  its last word, answered once the source is idle (as AXI DMA's MM2S ``wait``);
* ``receive`` {count, timeout_ns?} -> {words}: the next frame ``AxiStreamSink`` got (as
  S2MM: up to TLAST; a frame longer than ``count`` is an error, as in AXI DMA);
* ``idle`` {cycles} -> {}: let clock cycles pass (the driver's pause between polls);
* ``close`` -> {}.

A request that fails answers ``{"error": message, "kind": "timeout" | "error"}``; a
stream timeout is counted in simulated time (default: the testbench's budget for one
matrix), the host's own request timeout in wall-clock time. While the host thinks, the
simulator is blocked in the socket read, so no simulated time passes.

The entropy input gets seeded random bits from reset on (healthy input), from the
design's own generator (:class:`rosvd.sim.noisy_core.NoisyCore`).
"""
from __future__ import annotations

import json
import os
import socket

import cocotb
from cocotb.triggers import ClockCycles, SimTimeoutError, with_timeout

from rosvd.sim.core_rtl import BRIDGE_IDLE_ENV as IDLE_ENV
from rosvd.sim.core_rtl import BRIDGE_PORT_ENV as PORT_ENV
from rosvd.sim.core_rtl import BRIDGE_TOKEN_ENV as TOKEN_ENV
from rosvd.sim.core_tb import WORD_MASK, CoreTB

#: Wall-clock seconds without a request before the testcase gives up on the host.
DEFAULT_IDLE_S = 120.0


class Server:
    def __init__(self, tb: CoreTB):
        self.tb = tb

    async def read(self, offset: int) -> dict:
        answer = await self.tb.axil.read(int(offset), 4)
        return {"value": int.from_bytes(answer.data, "little"), "resp": answer.resp.name}

    async def write(self, offset: int, value: int) -> dict:
        answer = await self.tb.axil.write(int(offset), (int(value) & WORD_MASK).to_bytes(4, "little"))
        return {"resp": answer.resp.name}

    async def send(self, words: list[int], timeout_ns: int | None = None) -> dict:
        source = self.tb.source

        async def transfer():
            await source.send([int(w) & WORD_MASK for w in words])
            await source.wait()

        try:
            await with_timeout(transfer(), timeout_ns or self.tb.budget_ns(1), "ns")
        except SimTimeoutError:
            source.clear()                  # the frame is dropped, as an aborted MM2S transfer
            raise
        return {}

    async def receive(self, count: int, timeout_ns: int | None = None) -> dict:
        frame = await with_timeout(self.tb.sink.recv(), timeout_ns or self.tb.budget_ns(1), "ns")
        words = [int(w) for w in frame.tdata]
        if len(words) > int(count):
            raise ValueError(f"a frame of {len(words)} words does not fit a {count}-word receive buffer")
        return {"words": words}

    async def idle(self, cycles: int) -> dict:
        await ClockCycles(self.tb.dut.aclk, max(1, int(cycles)))
        return {}

    async def close(self) -> dict:
        return {}

    async def handle(self, request: dict) -> dict:
        request = dict(request)
        op = request.pop("op", None)
        handler = getattr(self, op) if op in ("read", "write", "send", "receive", "idle", "close") else None
        if handler is None:
            return {"error": f"unknown request {op!r}", "kind": "error"}
        try:
            return await handler(**request)
        except SimTimeoutError as error:
            return {"error": f"{op}: no completion within the simulated budget ({error})", "kind": "timeout"}
        except Exception as error:  # reported to the host, which raises it there
            return {"error": f"{op}: {type(error).__name__}: {error}", "kind": "error"}


@cocotb.test()
async def core_bridge(dut):
    """Serve the host's requests until it closes (see the module docstring)."""
    tb = CoreTB(dut)
    await tb.reset()
    tb.drive_noise(tb.seed)
    idle_s = float(os.environ.get(IDLE_ENV, DEFAULT_IDLE_S))
    server = Server(tb)
    with socket.create_connection(("127.0.0.1", int(os.environ[PORT_ENV])), timeout=idle_s) as sock:
        stream = sock.makefile("rwb")
        stream.write(json.dumps({"hello": os.environ[TOKEN_ENV]}).encode() + b"\n")
        stream.flush()
        while True:
            try:
                line = stream.readline()
            except TimeoutError:
                raise AssertionError(f"no request from the host for {idle_s} s: giving up") from None
            if not line:
                break                       # the host closed the connection
            request = json.loads(line)
            reply = await server.handle(request)
            stream.write(json.dumps(reply).encode() + b"\n")
            stream.flush()
            if request.get("op") == "close":
                break
