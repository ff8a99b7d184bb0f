"""The register decode generated from a :class:`.register_map.RegisterMap`."""
from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .register_map import Access, Kind, RegisterMap
from .register_port import DATA_WIDTH, STROBE_WIDTH, ReadPortSignature, RegisterPortSignature


def port_name(register: str, field: str) -> str:
    """Name of the component member of a field: ``<register>_<field>``, lower case."""
    return f"{register}_{field}".lower()


def clear_name(register: str, field: str) -> str:
    """Name of a w1c field's clear strobe."""
    return port_name(register, field) + "_clear"


class RegisterFile(wiring.Component):
    """Decodes the register port ``bus`` against ``regmap`` (see :mod:`.register_port`).

    Members, per field of the map (``<register>_<field>``, lower case):

    * ``status`` fields: ``In(width)``, sampled at the edge ending a read's strobe cycle;
    * ``rw`` fields: ``Out(width)``, stored here, reset to the field's reset value;
    * ``pulse`` fields: ``Out(width)``, high for the cycle after a write of 1 (reads 0);
    * ``w1c`` fields: ``In(width)`` (the sticky value, held by its owner) and
      ``Out(width)`` ``..._clear``, high for the cycle after a write of 1;
    * ``const`` fields: no member; their values come from ``constants``
      ``{(register, field): int}``, each checked to fit its field;
    * per window, ``<window>``: ``Out(ReadPortSignature)``: a read of a window register
      strobes it in the cycle of the read's strobe, and its ``r_data`` a cycle later is
      the answer.

    ``refused_write`` (a write to a read-only register) and ``bad_address`` (an unmapped
    word, read or written) are ``Out(1)``, high for the cycle after the strobe, when the
    access is answered with ``r_err``/``w_err``. A refused write changes nothing.
    Byte strobes ``w_strb`` select the bytes a write touches (a pulse or clear in a
    disabled byte does not fire). Latency: one cycle (the port's contract).
    """

    def __init__(self, regmap: RegisterMap, addr_width: int, constants: dict[tuple[str, str], int]):
        last = max(r.index for r in regmap)
        if addr_width < last.bit_length():
            self._MustUse__silence = True
            raise ValueError(f"RegisterFile: addr_width {addr_width} cannot reach word {last};"
                             f" need {last.bit_length()}")
        problems = []
        for reg, f in regmap.const_fields():
            value = constants.get((reg.name, f.name))
            if value is None:
                problems.append(f"{reg.name}.{f.name}: no value")
            elif not 0 <= value < 1 << f.width:
                problems.append(f"{reg.name}.{f.name}: {value} does not fit {f.width} bits")
        if problems:
            self._MustUse__silence = True
            raise ValueError("RegisterFile: " + "; ".join(problems))
        self.regmap = regmap
        self.constants = dict(constants)
        members = {"bus": In(RegisterPortSignature(addr_width)),
                   "refused_write": Out(1), "bad_address": Out(1)}
        for reg in regmap:
            if reg.window is not None:
                continue
            for f in reg.fields:
                name = port_name(reg.name, f.name)
                if f.kind in (Kind.STATUS, Kind.W1C):
                    members[name] = In(f.width)
                if f.kind in (Kind.RW, Kind.PULSE):
                    members[name] = Out(f.width, init=f.reset if f.kind is Kind.RW else 0)
                if f.kind is Kind.W1C:
                    members[clear_name(reg.name, f.name)] = Out(f.width)
        for window in regmap.windows:
            members[window.name] = Out(ReadPortSignature(window.addr_width))
        super().__init__(members)

    def _read_value(self, reg):
        parts = Const(0, DATA_WIDTH)
        for f in reg.fields:
            if f.kind is Kind.CONST:
                value = Const(self.constants[(reg.name, f.name)], f.width)
            elif f.kind is Kind.PULSE:
                continue
            else:
                value = getattr(self, port_name(reg.name, f.name))
            parts = parts | (value.as_unsigned() << f.lsb)
        return parts[:DATA_WIDTH]

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        registers = list(self.regmap)
        local = [r for r in registers if r.window is None]
        windowed = [r for r in registers if r.window is not None]

        # Strobe pulses and clears last one cycle.
        for reg in local:
            for f in reg.fields:
                if f.kind is Kind.PULSE:
                    m.d.sync += getattr(self, port_name(reg.name, f.name)).eq(0)
                if f.kind is Kind.W1C:
                    m.d.sync += getattr(self, clear_name(reg.name, f.name)).eq(0)
        m.d.sync += [self.refused_write.eq(0), self.bad_address.eq(0)]

        # Reads.
        local_data = Signal(DATA_WIDTH)
        from_window = Signal(len(self.regmap.windows) or 1)
        with m.If(bus.r_stb):
            m.d.sync += [bus.r_err.eq(0), from_window.eq(0), local_data.eq(0)]
            with m.Switch(bus.addr):
                for reg in local:
                    with m.Case(reg.index):
                        m.d.sync += local_data.eq(self._read_value(reg))
                for reg in windowed:
                    position = [w.name for w in self.regmap.windows].index(reg.window)
                    with m.Case(reg.index):
                        port = getattr(self, reg.window)
                        m.d.comb += [port.addr.eq(reg.window_index), port.r_stb.eq(1)]
                        m.d.sync += from_window.eq(1 << position)
                with m.Default():
                    m.d.sync += [bus.r_err.eq(1), self.bad_address.eq(1)]
        answer = local_data
        for position, window in enumerate(self.regmap.windows):
            answer = Mux(from_window[position], getattr(self, window.name).r_data, answer)
        m.d.comb += bus.r_data.eq(answer)

        # Writes.
        mask = Cat(bus.w_strb[i].replicate(8) for i in range(STROBE_WIDTH))
        written = bus.w_data & mask
        with m.If(bus.w_stb):
            m.d.sync += bus.w_err.eq(0)
            with m.Switch(bus.addr):
                for reg in registers:
                    with m.Case(reg.index):
                        if reg.access is Access.RO:
                            m.d.sync += [bus.w_err.eq(1), self.refused_write.eq(1)]
                            continue
                        for f in reg.fields:
                            port = getattr(self, port_name(reg.name, f.name))
                            bits = slice(f.lsb, f.lsb + f.width)
                            if f.kind is Kind.RW:
                                m.d.sync += port.eq((port & ~mask[bits]) | written[bits])
                            elif f.kind is Kind.PULSE:
                                m.d.sync += port.eq(written[bits])
                            elif f.kind is Kind.W1C:
                                m.d.sync += getattr(self, clear_name(reg.name, f.name)).eq(written[bits])
                with m.Default():
                    m.d.sync += [bus.w_err.eq(1), self.bad_address.eq(1)]
        return m
