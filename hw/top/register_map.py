"""The AXI4-Lite register map of :class:`rosvd.hw.top.core.RosvdCore`, defined once, as data.

Everything else is generated from :data:`REGISTER_MAP`: the RTL decode
(:class:`rosvd.hw.top.register_file.RegisterFile`), the offsets and field codecs the host
imports (:meth:`RegisterMap.offset`, :meth:`RegisterMap.decode`, :meth:`RegisterMap.encode`,
:meth:`RegisterMap.decode_config`), the Markdown table of ``docs/axi-top.md`` and the C
header ``hw/top/rosvd_core.h``::

    python -m rosvd.hw.top.register_map --markdown     # the table, to stdout
    python -m rosvd.hw.top.register_map --c-header     # the header, to stdout
    python -m rosvd.hw.top.register_map --write        # refresh the docs section and the header
    python -m rosvd.hw.top.register_map --check        # exit 1 if either is stale

Field kinds (:class:`Kind`): ``const`` (an elaboration-time value: a literal or a dotted
path into :class:`rosvd.hw.top.core.CoreParams`), ``status`` (a live value of the core),
``rw`` (stored; a write sets it), ``pulse`` (writing 1 strobes it for one cycle; reads 0),
``w1c`` (sticky, set by the core; writing 1 clears it). A register's access follows from
its fields: RO (only const/status fields; a write answers SLVERR and sets
ERRORS.read_only_write), RW, or W1C. Registers of a *window* are read-only registers of a
wrapped core's own register port, forwarded unchanged (the entropy source's
``EntropyRegisters``: its register ``i`` appears at ``ENTROPY_BASE + 4 * i``).
Any offset not in the map answers SLVERR and sets ERRORS.bad_address.
"""
from __future__ import annotations

import argparse
import enum
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..entropy import registers as entropy_registers
from .register_port import DATA_WIDTH, WORD_BYTES


class Kind(enum.Enum):
    CONST = "const"
    STATUS = "status"
    RW = "rw"
    PULSE = "pulse"
    W1C = "w1c"


class Access(enum.Enum):
    RO = "RO"
    RW = "RW"
    W1C = "W1C"


@dataclass(frozen=True)
class Field:
    """Bits ``lsb .. lsb + width - 1`` of a register. ``value``: a const field's int, or a
    dotted attribute path into the core's parameters (``None`` there reads 0)."""

    name: str
    lsb: int
    width: int
    kind: Kind
    doc: str
    reset: int = 0
    value: int | str | None = None

    @property
    def msb(self) -> int:
        return self.lsb + self.width - 1

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lsb

    @property
    def bits(self) -> str:
        return f"{self.lsb}" if self.width == 1 else f"{self.msb}:{self.lsb}"


@dataclass(frozen=True)
class Register:
    """One 32-bit register. ``window``/``window_index``: forwarded to that window's port."""

    name: str
    offset: int
    doc: str
    fields: tuple[Field, ...]
    window: str | None = None
    window_index: int | None = None

    @property
    def access(self) -> Access:
        kinds = {f.kind for f in self.fields}
        if Kind.W1C in kinds:
            return Access.W1C
        if kinds & {Kind.RW, Kind.PULSE}:
            return Access.RW
        return Access.RO

    @property
    def index(self) -> int:
        """Word index on the register port."""
        return self.offset // WORD_BYTES

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"register {self.name} has no field {name!r}; fields: {[f.name for f in self.fields]}")


@dataclass(frozen=True)
class Window:
    """A wrapped core's register port: ``size`` words from byte offset ``base``."""

    name: str
    base: int
    addr_width: int
    doc: str


@dataclass(frozen=True)
class RegisterMap:
    registers: tuple[Register, ...]
    windows: tuple[Window, ...] = ()
    _by_name: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        problems = []
        offsets: dict[int, str] = {}
        windows = {w.name for w in self.windows}
        for reg in self.registers:
            if reg.name in self._by_name:
                problems.append(f"register name {reg.name} repeated")
            self._by_name[reg.name] = reg
            if reg.offset % WORD_BYTES or reg.offset < 0:
                problems.append(f"{reg.name}: offset {reg.offset:#x} is not word-aligned")
            if reg.offset in offsets:
                problems.append(f"{reg.name} and {offsets[reg.offset]} share offset {reg.offset:#x}")
            offsets[reg.offset] = reg.name
            used = 0
            for f in reg.fields:
                if f.width < 1 or f.lsb < 0 or f.msb >= DATA_WIDTH:
                    problems.append(f"{reg.name}.{f.name}: bits {f.bits} outside the register")
                if used & f.mask:
                    problems.append(f"{reg.name}.{f.name}: bits {f.bits} overlap another field")
                used |= f.mask
                if (f.kind is Kind.CONST) != (f.value is not None):
                    problems.append(f"{reg.name}.{f.name}: a value is given exactly for const fields")
                if f.reset >> f.width:
                    problems.append(f"{reg.name}.{f.name}: reset {f.reset} does not fit {f.width} bits")
            kinds = {f.kind for f in reg.fields}
            if Kind.W1C in kinds and kinds != {Kind.W1C}:
                problems.append(f"{reg.name}: w1c fields share a register with other kinds")
            if reg.window is not None:
                if reg.window not in windows or reg.access is not Access.RO:
                    problems.append(f"{reg.name}: window registers are read-only, of a declared window")
        if problems:
            raise ValueError("RegisterMap: " + "; ".join(problems))

    def __getitem__(self, name: str) -> Register:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no register {name!r} in the map") from None

    def __iter__(self):
        return iter(sorted(self.registers, key=lambda r: r.offset))

    def window(self, name: str) -> Window:
        return next(w for w in self.windows if w.name == name)

    def offset(self, name: str) -> int:
        """Byte offset of register ``name`` (what the driver adds to the IP's base address)."""
        return self[name].offset

    def offsets(self) -> dict[str, int]:
        return {reg.name: reg.offset for reg in self}

    @property
    def span(self) -> int:
        """Bytes from offset 0 to the end of the last register."""
        return max(r.offset for r in self.registers) + WORD_BYTES

    def decode(self, name: str, value: int) -> dict[str, int]:
        """``{field: value}`` of a word read from register ``name``."""
        return {f.name: value >> f.lsb & ((1 << f.width) - 1) for f in self[name].fields}

    def encode(self, name: str, **values: int) -> int:
        """The word that sets the named fields of register ``name`` (others 0)."""
        word = 0
        for key, value in values.items():
            f = self[name].field(key)
            if not 0 <= int(value) < 1 << f.width:
                raise ValueError(f"{name}.{key}: {value} does not fit {f.width} bits")
            word |= int(value) << f.lsb
        return word

    def const_fields(self):
        """(register, field) of every const field, in offset order."""
        return [(reg, f) for reg in self for f in reg.fields if f.kind is Kind.CONST]

    def decode_config(self, words: dict[str, int]) -> dict[str | int, int]:
        """``{value path: int}`` of the const fields, from ``{register: word}`` read back."""
        return {f.value: self.decode(reg.name, words[reg.name])[f.name]
                for reg, f in self.const_fields() if isinstance(f.value, str)}


def resolve(path: int | str, source) -> int:
    """A const field's value: a literal int, or attribute ``path`` of ``source`` (None -> 0)."""
    if isinstance(path, int):
        return path
    value = source
    for part in path.split("."):
        value = getattr(value, part)
    return 0 if value is None else int(value)


# The map ---------------------------------------------------------------------------------
#: ID register: ASCII "RSVD".
ID_VALUE = 0x5253_5644
#: VERSION register: a driver refuses a different major version.
VERSION_MAJOR = 1
VERSION_MINOR = 0
#: Byte offset of the entropy source's register window.
ENTROPY_BASE = 0x80
#: EntropyRegisters' registers not forwarded: its CONTROL (host reset) is CONTROL.alarm_clear.
ENTROPY_NOT_FORWARDED = ("CONTROL",)
#: What a read of ENTROPY_DATA returns when no word is there (EntropyRegisters' documented value).
EMPTY_READ_VALUE = 0


def _const(name, lsb, width, value, doc):
    return Field(name, lsb, width, Kind.CONST, doc, value=value)


def _bytes(*specs):
    """Four 8-bit const fields from (name, value path, doc) triples (``None`` skips a byte)."""
    return tuple(_const(spec[0], 8 * i, 8, spec[1], spec[2]) for i, spec in enumerate(specs) if spec)


def _status(name, lsb, doc, width=1):
    return Field(name, lsb, width, Kind.STATUS, doc)


_ENTROPY_DOCS = {
    "ID": "EntropyRegisters ID (0x524F4531, \"RoE1\")",
    "VERSION": "[15:0] EntropyRegisters version, [31:16] FIFO depth",
    "STATUS": "the entropy source's own status word",
    "FIFO_LEVEL": "raw words in the FIFO (0 while not healthy)",
    "DATA": f"pops one raw word; empty or not healthy: reads {EMPTY_READ_VALUE}, sets ERRORS.empty_read and"
            " ENTROPY_STATUS.underflow, counts in ENTROPY_UNDERFLOWS, pops nothing",
    "SAMPLES": "health counter: raw samples tested",
    "WORDS_OUT": "health counter: words moved from the source into the FIFO",
    "DROPPED": "health counter: words dropped by the source (FIFO full)",
    "ALARM_SAMPLE": "health counter: sample count at the first alarm (0: none)",
    "UNDERFLOWS": "health counter: DATA reads that returned no word (saturating)",
    "MAX_RUN": "health counter: longest repetition seen (repetition count test)",
    "MAX_WINDOW": "health counter: largest completed adaptive-proportion window count",
}


def _entropy_window() -> tuple[Register, ...]:
    registers = []
    for name, index in entropy_registers.REGISTERS.items():
        if name in ENTROPY_NOT_FORWARDED:
            continue
        if name == "STATUS":
            fields = tuple(_status(bit_name, bit, f"EntropyRegisters STATUS.{bit_name}")
                           for bit_name, bit in entropy_registers.STATUS_BITS.items())
        else:
            fields = (_status("value", 0, _ENTROPY_DOCS[name], DATA_WIDTH),)
        registers.append(Register(f"ENTROPY_{name}", ENTROPY_BASE + WORD_BYTES * index, _ENTROPY_DOCS[name],
                                  fields, window="entropy", window_index=index))
    return tuple(registers)


REGISTER_MAP = RegisterMap(
    registers=(
        Register("ID", 0x00, "identifies the core", (_const("id", 0, 32, ID_VALUE, "ASCII \"RSVD\""),)),
        Register("VERSION", 0x04, "register-map version; a driver refuses another major", (
            _const("minor", 0, 16, VERSION_MINOR, "minor version: compatible additions"),
            _const("major", 16, 16, VERSION_MAJOR, "major version"))),
        Register("CONFIG_SVD0", 0x08, "SVD engine parameters (SVDParams)", _bytes(
            ("n", "svd.n", "matrix size n"), ("k", "svd.k", "right singular vectors returned"),
            ("data_width", "svd.data_width", "bits of a signed input element"),
            ("sweeps", "svd.sweeps", "maximum Jacobi sweeps"))),
        Register("CONFIG_SVD1", 0x0C, "SVD engine parameters (SVDParams)", _bytes(
            ("units", "svd.units", "parallel rotation units"),
            ("guard_bits", "svd.guard_bits", "fraction bits of the column words"),
            ("cs_frac", "svd.cs_frac", "fraction bits of cos/sin"),
            ("v_width", "svd.v_width", "bits of a singular-vector element"))),
        Register("CONFIG_SVD2", 0x10, "SVD engine parameters (SVDParams)", _bytes(
            ("cordic_width", "svd.cordic_width", "CORDIC datapath width"),
            ("cordic_iters", "svd.cordic_iters", "CORDIC iterations"),
            ("angle_share", "svd.angle_share", "rotation units per angle pipeline"),
            ("skip_shift", "svd.skip_shift", "convergence threshold T (0: none, fixed sweeps)"))),
        Register("CONFIG_STREAM", 0x14, "stream formats", (
            _const("elements_per_word", 0, 8, "elements_per_word",
                   "input elements packed in one s_axis word, element i in bits i*data_width up"),
            _const("result_width", 8, 8, "svd.out_width",
                   "significant bits of an m_axis word (sign-extended to 32)"),
            _const("output_words", 16, 16, "svd.output_words", "m_axis words per decomposition"))),
        Register("CONFIG_ENTROPY0", 0x18, "entropy source parameters (EntropyParams)", _bytes(
            ("oscillators", "entropy.oscillators", "ring oscillators"),
            ("stages", "entropy.stages", "inverters per ring"),
            ("alpha_exponent", "entropy.alpha_exponent", "health-test false-alarm rate 2**-alpha_exponent"),
            ("counter_width", "entropy.counter_width", "bits of the health counters"))),
        Register("CONFIG_ENTROPY1", 0x1C, "entropy FIFO and repetition count cutoff", (
            _const("fifo_depth", 0, 16, "fifo_depth", "raw words the FIFO holds"),
            _const("rct_cutoff", 16, 16, "entropy.rct_cutoff", "repetition count test cutoff"))),
        Register("CONFIG_ENTROPY2", 0x20, "entropy sampling", (
            _const("sample_period", 0, 32, "entropy.sample_period", "clock cycles per raw sample"),)),
        Register("CONFIG_ENTROPY3", 0x24, "adaptive proportion test", (
            _const("apt_window", 0, 32, "entropy.apt_window", "window in samples"),)),
        Register("CONFIG_ENTROPY4", 0x28, "adaptive proportion test", (
            _const("apt_cutoff", 0, 32, "entropy.apt_cutoff", "cutoff count per window"),)),
        Register("CONFIG_ENTROPY5", 0x2C, "start-up test", (
            _const("startup_samples", 0, 32, "entropy.startup_samples",
                   "samples tested before any output"),)),
        Register("CONFIG_DNA", 0x30, "device identifier source", (
            _const("bits", 0, 8, "dna.width", "bits of DEVICE_DNA (57: DNA_PORT, 96: DNA_PORTE2)"),
            _const("simulated", 8, 1, "dna_simulated", "1: the simulation stand-in, not a factory DNA"))),
        Register("CONTROL", 0x40, "control", (
            Field("soft_reset", 0, 1, Kind.PULSE,
                  "resets the SVD engine, both stream adapters and the decomposition timer"),
            Field("alarm_clear", 1, 1, Kind.PULSE,
                  "entropy host reset: clears alarms, counters and the FIFO; start-up runs again"),
            Field("irq_done_enable", 8, 1, Kind.RW, "interrupt on IRQ_STATUS.done"),
            Field("irq_alarm_enable", 9, 1, Kind.RW, "interrupt on IRQ_STATUS.alarm"))),
        Register("STATUS", 0x44, "status", (
            _status("busy", 0, "the engine holds a matrix or results"),
            _status("done", 1, "a decomposition finished and none is under way"),
            _status("entropy_ready", 2, "a raw word can be read from ENTROPY_DATA"),
            _status("alarm_rct", 3, "entropy alarm latched: repetition count test"),
            _status("alarm_apt", 4, "entropy alarm latched: adaptive proportion test"),
            _status("simulated", 5, "the entropy source is the simulation input, not ring oscillators"),
            _status("entropy_healthy", 6, "entropy start-up passed and no alarm"),
            _status("dna_valid", 7, "DEVICE_DNA has been read"),
            _status("error", 8, "some ERRORS bit is set"),
            _status("interrupt", 9, "the interrupt output"))),
        Register("IRQ_STATUS", 0x48, "pending interrupt sources; write 1 to clear", (
            Field("done", 0, 1, Kind.W1C, "a decomposition finished (its last result word left)"),
            Field("alarm", 1, 1, Kind.W1C, "an entropy alarm was raised"))),
        Register("ERRORS", 0x4C, "sticky errors; write 1 to clear", (
            Field("read_only_write", 0, 1, Kind.W1C, "a write to a read-only register (answered SLVERR)"),
            Field("bad_address", 1, 1, Kind.W1C, "an access to an unmapped offset (answered SLVERR)"),
            Field("empty_read", 2, 1, Kind.W1C, f"ENTROPY_DATA read with no word (read {EMPTY_READ_VALUE})"),
            Field("framing", 3, 1, Kind.W1C,
                  "s_axis TLAST not on exactly the last word of a matrix (framing kept by count)"))),
        Register("CYCLES", 0x50, "cycles of the latest decomposition", (
            _status("value", 0, "first element into the engine to last result word out, inclusive"
                    " (modulo 2**32; stalls included)", DATA_WIDTH),)),
        Register("SWEEPS_RUN", 0x54, "Jacobi sweeps the latest decomposition ran", (
            _status("value", 0, "sweeps executed", 8),)),
        Register("DEVICE_DNA0", 0x60, "device DNA bits 31:0", (_status("value", 0, "DNA[31:0]", 32),)),
        Register("DEVICE_DNA1", 0x64, "device DNA bits 63:32", (_status("value", 0, "DNA[63:32]", 32),)),
        Register("DEVICE_DNA2", 0x68, "device DNA bits 95:64", (_status("value", 0, "DNA[95:64]", 32),)),
    ) + _entropy_window(),
    windows=(Window("entropy", ENTROPY_BASE, entropy_registers.ADDR_WIDTH,
                    "EntropyRegisters' register port, forwarded read-only"),),
)


# Generators ------------------------------------------------------------------------------
DOC_BEGIN = "<!-- BEGIN register-map: generated by `python -m rosvd.hw.top.register_map --write` -->"
DOC_END = "<!-- END register-map -->"
REPO = Path(__file__).resolve().parents[2]
DOC_PATH = REPO / "docs" / "axi-top.md"
HEADER_PATH = Path(__file__).resolve().parent / "rosvd_core.h"
C_PREFIX = "ROSVD_CORE"


def _reset_text(f: Field) -> str:
    if f.kind is Kind.CONST:
        return f"{f.value:#x}" if isinstance(f.value, int) else f"`{f.value}`"
    if f.kind is Kind.STATUS:
        return "live"
    return str(f.reset)


def markdown(regmap: RegisterMap = REGISTER_MAP) -> str:
    """The register table of ``docs/axi-top.md``."""
    lines = ["| Offset | Register | Access | Bits | Field | Kind | Reset / value | Description |",
             "|---|---|---|---|---|---|---|---|"]
    for reg in regmap:
        for i, f in enumerate(reg.fields):
            head = (f"`{reg.offset:#05x}`", f"**{reg.name}**", reg.access.value) if i == 0 else ("", "", "")
            doc = f"{reg.doc}: {f.doc}" if i == 0 and reg.doc != f.doc else f.doc
            lines.append(f"| {' | '.join(head)} | {f.bits} | {f.name} | {f.kind.value} | {_reset_text(f)}"
                         f" | {doc.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def c_header(regmap: RegisterMap = REGISTER_MAP) -> str:
    """``rosvd_core.h``: offsets, field shifts and masks, ID and version."""
    out = ["/* Generated by `python -m rosvd.hw.top.register_map --c-header`: do not edit. */",
           "#ifndef ROSVD_CORE_H", "#define ROSVD_CORE_H", "",
           f"#define {C_PREFIX}_ID_VALUE 0x{ID_VALUE:08X}u",
           f"#define {C_PREFIX}_VERSION_MAJOR {VERSION_MAJOR}u",
           f"#define {C_PREFIX}_VERSION_MINOR {VERSION_MINOR}u",
           f"#define {C_PREFIX}_EMPTY_READ_VALUE 0x{EMPTY_READ_VALUE:08X}u",
           f"#define {C_PREFIX}_SPAN 0x{regmap.span:X}u", ""]
    for reg in regmap:
        out.append(f"/* {reg.name} ({reg.access.value}): {reg.doc} */")
        out.append(f"#define {C_PREFIX}_{reg.name}_OFFSET 0x{reg.offset:03X}u")
        for f in reg.fields:
            stem = f"{C_PREFIX}_{reg.name}_{f.name.upper()}"
            out.append(f"#define {stem}_SHIFT {f.lsb}u")
            out.append(f"#define {stem}_MASK 0x{f.mask:08X}u")
        out.append("")
    out += ["#endif /* ROSVD_CORE_H */", ""]
    return "\n".join(out)


def doc_section(text: str) -> str:
    """The generated section of a document (between the markers), or raise."""
    match = re.search(re.escape(DOC_BEGIN) + r"\n(.*?)" + re.escape(DOC_END), text, re.S)
    if not match:
        raise ValueError(f"no generated register-map section ({DOC_BEGIN} ... {DOC_END})")
    return match.group(1)


def with_doc_section(text: str, table: str) -> str:
    doc_section(text)
    return re.sub(re.escape(DOC_BEGIN) + r"\n.*?" + re.escape(DOC_END),
                  lambda _: f"{DOC_BEGIN}\n{table}{DOC_END}", text, flags=re.S)


def stale_outputs() -> list[str]:
    """Generated files that disagree with the map."""
    stale = []
    if doc_section(DOC_PATH.read_text()) != markdown():
        stale.append(str(DOC_PATH))
    if not HEADER_PATH.is_file() or HEADER_PATH.read_text() != c_header():
        stale.append(str(HEADER_PATH))
    return stale


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rosvd.hw.top.register_map",
                                     description="Generate the RosvdCore register map's table and C header.")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--markdown", action="store_true", help="print the Markdown table")
    group.add_argument("--c-header", action="store_true", help="print rosvd_core.h")
    group.add_argument("--write", action="store_true",
                       help=f"rewrite the generated section of {DOC_PATH.name} and {HEADER_PATH.name}")
    group.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown())
    elif args.c_header:
        sys.stdout.write(c_header())
    elif args.write:
        DOC_PATH.write_text(with_doc_section(DOC_PATH.read_text(), markdown()))
        HEADER_PATH.write_text(c_header())
    else:
        stale = stale_outputs()
        for path in stale:
            print(f"stale: {path} (run python -m rosvd.hw.top.register_map --write)", file=sys.stderr)
        return 1 if stale else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
