"""The register map: its checks, codecs, and the generated docs table and C header."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from rosvd.hw.entropy import registers as entropy_registers
from rosvd.hw.top import register_map as RM
from rosvd.hw.top.core import CoreParams, config_constants, config_source
from rosvd.hw.top.register_map import REGISTER_MAP, Access, Field, Kind, Register, RegisterMap


def test_docs_table_and_committed_header_match_the_map():
    assert RM.doc_section(RM.DOC_PATH.read_text()) == RM.markdown(), \
        "docs/axi-top.md is stale: python -m rosvd.hw.top.register_map --write"
    assert RM.HEADER_PATH.read_text() == RM.c_header(), \
        "hw/top/rosvd_core.h is stale: python -m rosvd.hw.top.register_map --write"
    assert RM.stale_outputs() == []


def test_generator_command():
    out = subprocess.run([sys.executable, "-m", "rosvd.hw.top.register_map", "--markdown"],
                         capture_output=True, text=True, check=True).stdout
    assert out == RM.markdown()
    assert subprocess.run([sys.executable, "-m", "rosvd.hw.top.register_map", "--check"]).returncode == 0


def test_header_names_are_unique_and_offsets_appear_once():
    header = RM.c_header()
    names = re.findall(r"^#define (\w+) ", header, re.M)
    assert len(names) == len(set(names))
    for reg in REGISTER_MAP:
        assert f"#define ROSVD_CORE_{reg.name}_OFFSET 0x{reg.offset:03X}u" in header


def test_entropy_window_is_the_wrapped_port_at_a_base():
    for name, index in entropy_registers.REGISTERS.items():
        if name in RM.ENTROPY_NOT_FORWARDED:
            with pytest.raises(KeyError):
                REGISTER_MAP[f"ENTROPY_{name}"]
            continue
        reg = REGISTER_MAP[f"ENTROPY_{name}"]
        assert (reg.offset, reg.window_index, reg.access) == (RM.ENTROPY_BASE + 4 * index, index, Access.RO)
    status = REGISTER_MAP["ENTROPY_STATUS"]
    assert {f.name: f.lsb for f in status.fields} == entropy_registers.STATUS_BITS


def test_codecs():
    word = REGISTER_MAP.encode("CONTROL", soft_reset=1, irq_alarm_enable=1)
    assert word == 1 | 1 << 9
    assert REGISTER_MAP.decode("CONTROL", word) == {"soft_reset": 1, "alarm_clear": 0, "irq_done_enable": 0,
                                                    "irq_alarm_enable": 1}
    with pytest.raises(ValueError, match="does not fit"):
        REGISTER_MAP.encode("CONTROL", soft_reset=2)
    assert REGISTER_MAP.offset("STATUS") == 0x44 and REGISTER_MAP.offsets()["ID"] == 0


def test_config_constants_cover_every_const_field_and_decode_back():
    params = CoreParams()
    constants = config_constants(params)
    words = {}
    for (reg, name), value in constants.items():
        words[reg] = words.get(reg, 0) | value << REGISTER_MAP[reg].field(name).lsb
    decoded = REGISTER_MAP.decode_config(words)
    source = config_source(params)
    assert decoded["svd.n"] == params.svd.n and decoded["svd.skip_shift"] == 0
    assert decoded["entropy.rct_cutoff"] == params.entropy.rct_cutoff
    assert decoded["dna.width"] == 57 and decoded["dna_simulated"] == 1
    assert all(decoded[path] == RM.resolve(path, source) for path in decoded)


@pytest.mark.parametrize("registers, message", [
    ((Register("A", 2, "", ()),), "not word-aligned"),
    ((Register("A", 0, "", ()), Register("B", 0, "", ())), "share offset"),
    ((Register("A", 0, "", (Field("x", 30, 4, Kind.RW, ""),)),), "outside the register"),
    ((Register("A", 0, "", (Field("x", 0, 4, Kind.RW, ""), Field("y", 3, 1, Kind.RW, ""))),), "overlap"),
    ((Register("A", 0, "", (Field("x", 0, 4, Kind.CONST, ""),)),), "exactly for const fields"),
    ((Register("A", 0, "", (Field("x", 0, 1, Kind.W1C, ""), Field("y", 1, 1, Kind.RW, ""))),), "w1c fields"),
])
def test_map_refuses_inconsistent_definitions(registers, message):
    with pytest.raises(ValueError, match=message):
        RegisterMap(registers)
