"""The recent block an epoch names in its VDF input, read from the consortium chain.

Naming a block hash proves an epoch was sealed after that block existed. The block is
taken ``depth`` blocks below the head so that a short reorganisation does not replace it.
Sealing must not stop because the chain is unreachable: the last block read is named
again (the epoch records which one), and before any block was read, block 0 with a zero
hash, as without a chain.
"""
from __future__ import annotations

import logging

import requests
from web3 import Web3

log = logging.getLogger("rosvd.blocks")

#: Blocks below the head: deep enough that a short reorganisation leaves it in place.
DEFAULT_DEPTH = 2


class ChainBlocks:
    """A :class:`rosvd.epochs.BlockSource` over a JSON-RPC endpoint."""

    def __init__(self, w3: Web3, depth: int = DEFAULT_DEPTH):
        if depth < 0:
            raise ValueError("depth must not be negative")
        self.w3 = w3
        self.depth = depth
        self.last: tuple[int, bytes] = (0, bytes(32))
        self.stale = 0  #: times the last block was named again because the chain did not answer

    def recent_block(self) -> tuple[int, bytes]:
        try:
            number = max(0, self.w3.eth.block_number - self.depth)
            self.last = (number, bytes(self.w3.eth.get_block(number)["hash"]))
        except (requests.exceptions.RequestException, OSError) as error:
            self.stale += 1
            log.warning("chain unreachable (%s); naming block %d again", error, self.last[0])
        return self.last
