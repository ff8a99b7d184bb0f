"""EIP-712 typed data of the registry: what a device key signs, built in one place.

The registry (``chain/contracts/RosvdRegistry.sol``) checks the same digests on chain
(``registrationDigest``, ``anchorDigest``); the anchoring service and ``rosvd chain join``
sign them; the verifier recomputes them from a proof bundle. The domain binds every
signature to one registry on one chain::

    EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)
    name = "RO-SVD registry", version = "2"

    Registration(address owner,address device,bytes32 boardId)
    Anchor(address device,uint64 epoch,bytes32 root,uint64 certificateCount,bytes32 vdfOutputHash,
           bytes32 prevVdfOutputHash,uint64 namedBlock,uint64 iterations)

``digest = keccak256(0x19 0x01 || domainSeparator || hashStruct(message))``, signed raw
(no EIP-191 prefix) with low s, as OpenZeppelin's ``ECDSA.recover`` requires.
"""
from __future__ import annotations

from dataclasses import astuple, dataclass

import eth_abi
from eth_hash.auto import keccak

DOMAIN_NAME = "RO-SVD registry"
DOMAIN_VERSION = "2"
DOMAIN_TYPE = b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
REGISTRATION_TYPE = b"Registration(address owner,address device,bytes32 boardId)"
ANCHOR_TYPE = (b"Anchor(address device,uint64 epoch,bytes32 root,uint64 certificateCount,"
               b"bytes32 vdfOutputHash,bytes32 prevVdfOutputHash,uint64 namedBlock,uint64 iterations)")
ANCHOR_FIELD_TYPES = ("address", "uint64", "bytes32", "uint64", "bytes32", "bytes32", "uint64", "uint64")


@dataclass(frozen=True)
class Domain:
    """The registry a signature is for."""

    chain_id: int
    registry: str

    @property
    def separator(self) -> bytes:
        return keccak(eth_abi.encode(
            ("bytes32", "bytes32", "bytes32", "uint256", "address"),
            (keccak(DOMAIN_TYPE), keccak(DOMAIN_NAME.encode()), keccak(DOMAIN_VERSION.encode()),
             self.chain_id, self.registry)))

    def digest(self, struct_hash: bytes) -> bytes:
        return keccak(b"\x19\x01" + self.separator + struct_hash)


@dataclass(frozen=True)
class AnchorMessage:
    """One epoch as the device states it to the registry (the contract's ``AnchorData``)."""

    device: str
    epoch: int
    root: bytes
    certificate_count: int
    vdf_output_hash: bytes
    prev_vdf_output_hash: bytes
    named_block: int
    iterations: int

    def as_tuple(self) -> tuple:
        """The ``AnchorData`` argument of the contract's ``anchor`` and ``anchorDigest``."""
        return astuple(self)


def anchor_message(epoch, device: str) -> AnchorMessage:
    """What ``device`` states to the registry about a closed ``epoch``: a store's
    :class:`rosvd.store.Epoch` when anchoring, a bundle's epoch when verifying (same fields)."""
    return AnchorMessage(device=device, epoch=epoch.number, root=epoch.merkle_root,
                         certificate_count=epoch.count, vdf_output_hash=keccak(epoch.vdf_output),
                         prev_vdf_output_hash=keccak(epoch.prev_output), named_block=epoch.block_number,
                         iterations=epoch.iterations)


def registration_digest(domain: Domain, owner: str, device: str, board_id: bytes) -> bytes:
    """The digest a device signs so that ``owner`` may register it as ``board_id``."""
    struct = eth_abi.encode(("bytes32", "address", "address", "bytes32"),
                            (keccak(REGISTRATION_TYPE), owner, device, board_id))
    return domain.digest(keccak(struct))


def anchor_digest(domain: Domain, message: AnchorMessage) -> bytes:
    """The digest a device signs to anchor ``message``."""
    struct = eth_abi.encode(("bytes32", *ANCHOR_FIELD_TYPES), (keccak(ANCHOR_TYPE), *message.as_tuple()))
    return domain.digest(keccak(struct))
