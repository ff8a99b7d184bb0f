"""The block an epoch names: below the head by ``depth``, and the last one again when the
chain does not answer (sealing never waits for the chain)."""
from __future__ import annotations

import pytest
from web3 import Web3

from rosvd.chain.blocks import ChainBlocks
from rosvd.chain.devnet import Devnet, rpc

from .conftest import require_node_modules


def test_recent_block_is_depth_below_the_head_and_survives_an_outage():
    require_node_modules()
    with Devnet() as net:
        w3 = Web3(Web3.HTTPProvider(net.url, request_kwargs={"timeout": 2}))
        blocks = ChainBlocks(w3, depth=2)
        assert blocks.recent_block() == (0, bytes(w3.eth.get_block(0)["hash"])), "never below genesis"
        rpc(net.url, "anvil_mine", ["0x5"])
        number, block_hash = blocks.recent_block()
        assert number == w3.eth.block_number - 2 == 3
        assert block_hash == bytes(w3.eth.get_block(3)["hash"]) != bytes(32)
    assert blocks.recent_block() == (3, block_hash), "the last block read is named again"
    assert blocks.stale == 1


def test_depth_must_not_be_negative():
    with pytest.raises(ValueError):
        ChainBlocks(None, depth=-1)
