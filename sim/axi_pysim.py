"""AXI4-Lite and register-port drivers for Amaranth's simulator (async testbenches).

``bus`` is the slave-side ``AxiLiteSignature`` interface of a design (its members are set
and read by name). Delays are cycles before a channel's VALID (or a response's READY)
rises, so one test body can run AW before W, W before AW, both together, and
backpressure on B and R. Every wait is bounded by :data:`LIMIT` cycles.
"""
from __future__ import annotations

#: Cycles any handshake may wait before the driver gives up.
LIMIT = 200


class HandshakeTimeout(AssertionError):
    pass


async def _respond(ctx, valid, ready, fields, delay: int):
    """Wait ``delay`` cycles, raise ``ready``, return ``fields`` sampled at the handshake."""
    for _ in range(delay):
        await ctx.tick()
    ctx.set(ready, 1)
    for _ in range(LIMIT):
        if ctx.get(valid):
            values = [ctx.get(f) for f in fields]
            await ctx.tick()
            ctx.set(ready, 0)
            return values
        await ctx.tick()
    raise HandshakeTimeout(f"no {valid.name} within {LIMIT} cycles")


async def axil_write(ctx, bus, addr: int, data: int, strb: int = 0xF, *, aw_delay: int = 0,
                     w_delay: int = 0, b_delay: int = 0) -> int:
    """One write; returns BRESP."""
    aw_done = w_done = False
    for cycle in range(LIMIT):
        if not aw_done and cycle >= aw_delay:
            ctx.set(bus.awaddr, addr)
            ctx.set(bus.awvalid, 1)
        if not w_done and cycle >= w_delay:
            ctx.set(bus.wdata, data)
            ctx.set(bus.wstrb, strb)
            ctx.set(bus.wvalid, 1)
        aw_fire = ctx.get(bus.awvalid) and ctx.get(bus.awready)
        w_fire = ctx.get(bus.wvalid) and ctx.get(bus.wready)
        await ctx.tick()
        if aw_fire:
            aw_done = True
            ctx.set(bus.awvalid, 0)
        if w_fire:
            w_done = True
            ctx.set(bus.wvalid, 0)
        if aw_done and w_done:
            break
    else:
        raise HandshakeTimeout(f"write {addr:#x}: AW/W not accepted within {LIMIT} cycles")
    (resp,) = await _respond(ctx, bus.bvalid, bus.bready, [bus.bresp], b_delay)
    return resp


async def axil_read(ctx, bus, addr: int, *, r_delay: int = 0) -> tuple[int, int]:
    """One read; returns (RDATA, RRESP)."""
    ctx.set(bus.araddr, addr)
    ctx.set(bus.arvalid, 1)
    for _ in range(LIMIT):
        fire = ctx.get(bus.arready)
        await ctx.tick()
        if fire:
            break
    else:
        raise HandshakeTimeout(f"read {addr:#x}: AR not accepted within {LIMIT} cycles")
    ctx.set(bus.arvalid, 0)
    data, resp = await _respond(ctx, bus.rvalid, bus.rready, [bus.rdata, bus.rresp], r_delay)
    return data, resp


async def port_read(ctx, port, index: int) -> tuple[int, int]:
    """Strobe a read of word ``index`` on a register port; returns (r_data, r_err)."""
    ctx.set(port.addr, index)
    ctx.set(port.r_stb, 1)
    await ctx.tick()
    ctx.set(port.r_stb, 0)
    return ctx.get(port.r_data), ctx.get(port.r_err)


async def port_write(ctx, port, index: int, data: int, strb: int = 0xF) -> int:
    """Strobe a write on a register port; returns w_err (in the cycle after the strobe)."""
    ctx.set(port.addr, index)
    ctx.set(port.w_data, data)
    ctx.set(port.w_strb, strb)
    ctx.set(port.w_stb, 1)
    await ctx.tick()
    ctx.set(port.w_stb, 0)
    return ctx.get(port.w_err)
