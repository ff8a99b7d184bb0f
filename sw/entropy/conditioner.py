"""Host conditioning of raw ring-oscillator bits: SHA-256, a vetted conditioning function.

NIST SP 800-90B section 3.1.5.1.1 lists the vetted conditioning functions (HMAC, CMAC,
CBC-MAC, and the approved hash functions such as SHA-256); BLAKE3 is not among them,
so the entropy path uses SHA-256 even though the rest of the host hashes with BLAKE3.

One conditioned block is ``SHA-256(DOMAIN || counter (8 bytes, big-endian) || raw)``
over ``RAW_BITS_PER_BLOCK`` raw bits packed MSB first (the device's raw-word stream,
released only while the health tests pass). Its credited entropy is the SP 800-90B
section 3.1.5.1.2 output entropy for a vetted function,

    h_out = -log2(max(psi, omega)),  with  n = min(n_out, nw),
    P_high = 2**-h_in,  P_low = (1 - P_high) / (2**n_in - 1),
    psi = 2**(n_in - n) P_low + P_high,
    U = 2**(n_in - n) + sqrt(2 n 2**(n_in - n) ln 2),  omega = U P_low,

where ``h_in = n_in * H`` and ``H`` is the assessed min-entropy per raw bit (the same
value the health-test cutoffs use). With the defaults (1024 raw bits at H = 0.5, so
h_in = 512 against n_out = 256) every output bit is credited as full entropy to within
2**-250 (h_out = 256 - tiny). The counter keeps two blocks over identical raw input
(a stuck source that slipped past the tests) from yielding equal outputs, but it adds
no entropy: nothing here creates entropy the raw bits do not have.

Simulated raw bits (the source's ``simulated`` status bit) stay labelled simulated after
conditioning: the label travels with the bytes.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal, getcontext

RAW_BITS_PER_BLOCK = 1024
OUTPUT_BITS = 256
#: SHA-256's narrowest internal width (its state), ``nw`` in SP 800-90B 3.1.5.1.2.
SHA256_NARROWEST_WIDTH = 256
DOMAIN = b"rosvd/entropy-conditioner/v1\x00"
#: Decimal digits for the output-entropy formula: 2**1024 needs ~310 of them.
_PRECISION = 700


class ConditioningError(ValueError):
    """Raw input that cannot be conditioned, or a request the raw input cannot cover."""


def output_entropy(n_in: int, n_out: int, nw: int, h_in: float) -> float:
    """SP 800-90B 3.1.5.1.2: entropy credited to ``n_out`` output bits of a vetted
    conditioning function with narrowest width ``nw`` given ``h_in`` bits of entropy in
    ``n_in`` input bits."""
    if not (0 < n_out and 0 < nw and 0 < n_in) or not 0 <= h_in <= n_in:
        raise ConditioningError(f"invalid conditioning sizes n_in={n_in} n_out={n_out} nw={nw} h_in={h_in}")
    getcontext().prec = _PRECISION
    n = min(n_out, nw)
    p_high = Decimal(2) ** Decimal(-h_in)
    p_low = (1 - p_high) / (Decimal(2) ** n_in - 1)
    scale = Decimal(2) ** (n_in - n)
    psi = scale * p_low + p_high
    upper = scale + (2 * n * scale * Decimal(2).ln()).sqrt()
    omega = upper * p_low
    return float(-(max(psi, omega).ln() / Decimal(2).ln()))


@dataclass(frozen=True)
class ConditionedBlock:
    data: bytes              #: 32 bytes
    credited_bits: float     #: entropy credited to ``data`` (SP 800-90B 3.1.5.1.2)
    simulated: bool          #: the raw bits came from a simulated source


class Conditioner:
    """Turns health-tested raw bits into 32-byte blocks; ``H`` is the assessed min-entropy
    per raw bit."""

    def __init__(self, min_entropy_per_bit: float, raw_bits: int = RAW_BITS_PER_BLOCK):
        if not 0 < min_entropy_per_bit <= 1:
            raise ConditioningError(f"min-entropy per raw bit must be in (0, 1], not {min_entropy_per_bit}")
        if raw_bits % 8 or raw_bits < OUTPUT_BITS:
            raise ConditioningError(f"raw bits per block must be a multiple of 8 and >= {OUTPUT_BITS}")
        self.min_entropy_per_bit = min_entropy_per_bit
        self.raw_bytes = raw_bits // 8
        self.credited_bits = output_entropy(raw_bits, OUTPUT_BITS, SHA256_NARROWEST_WIDTH,
                                            raw_bits * min_entropy_per_bit)
        self.counter = 0

    def condition(self, raw: bytes, simulated: bool) -> list[ConditionedBlock]:
        """Condition packed raw bits (a whole number of blocks) into blocks, in order."""
        if not raw or len(raw) % self.raw_bytes:
            raise ConditioningError(f"raw input must be a positive multiple of {self.raw_bytes} bytes,"
                                    f" not {len(raw)}")
        blocks = []
        for start in range(0, len(raw), self.raw_bytes):
            digest = hashlib.sha256(DOMAIN + self.counter.to_bytes(8, "big")
                                    + raw[start:start + self.raw_bytes]).digest()
            self.counter += 1
            blocks.append(ConditionedBlock(digest, self.credited_bits, simulated))
        return blocks

    def raw_bytes_for(self, nbytes: int) -> int:
        """Raw bytes needed for ``nbytes`` of conditioned output (whole blocks)."""
        if nbytes < 1:
            raise ConditioningError("at least one byte must be requested")
        return -(-nbytes // (OUTPUT_BITS // 8)) * self.raw_bytes
