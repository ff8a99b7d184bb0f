"""Command-line arguments shared by ``rosvd entropy assess`` and ``rosvd entropy restart``.

Kept free of numpy and numba so that building the ``rosvd`` parser stays cheap.
"""
from __future__ import annotations

import argparse

#: Widest sample a capture may hold: one sample per byte.
MAX_BITS = 8

BITS_HELP = ("bits per sample, 1..8: each byte holds one sample in its low bits (a binary source: "
             "1); samples wider than 1 bit are also assessed as a bitstring (SP 800-90B 3.1.3)")


def bits_argument(text: str) -> int:
    """argparse ``type`` for ``--bits``: an integer 1..8, or a message saying what is expected."""
    try:
        bits = int(text)
    except ValueError:
        bits = None
    if bits is None or not 1 <= bits <= MAX_BITS:
        raise argparse.ArgumentTypeError(
            f"bits per sample must be an integer 1..{MAX_BITS} (the width of one sample in its byte), "
            f"got {text!r}")
    return bits
