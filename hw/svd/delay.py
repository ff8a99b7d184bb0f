"""A value through a chain of registers, shared by the engine and its rotation units."""
from __future__ import annotations

from amaranth.hdl import Module, Signal, Value


def delayed(m: Module, value: Value, stages: int, name: str, *, reset_less: bool = False) -> Value:
    """``value`` through ``stages`` registers of ``m``'s sync domain, named ``{name}_d{i}``;
    ``reset_less`` for data registers whose contents mean nothing until written."""
    for stage in range(stages):
        register = Signal.like(value, name=f"{name}_d{stage}", reset_less=reset_less)
        m.d.sync += register.eq(value)
        value = register
    return value
