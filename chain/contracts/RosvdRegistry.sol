// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/**
 * @title RO-SVD consortium registry, version 2
 * @notice Devices, their epoch anchors (Merkle roots of certificate batches) and disputes
 * raised against single certificates. Every statement a device makes here is signed by the
 * device key itself (EIP-712, domain "RO-SVD registry" / "2" / chain id / this contract), so
 * whoever sends the transaction only relays it: nobody can register a device without its
 * key, anchor for it, front-run its anchors or block them.
 *
 * Roles:
 * - `DEFAULT_ADMIN_ROLE` (admins): grant and revoke `MEMBER_ROLE` and the admin role itself
 *   (OpenZeppelin `grantRole` / `revokeRole`), revoke any device.
 * - `MEMBER_ROLE` (consortium members): register devices they then own (with the device's
 *   proof of possession), revoke their own devices, resolve disputes.
 * - anyone: relay a device-signed anchor; flag a certificate proven to be in an anchored epoch.
 *
 * A device's epochs form one chain: epoch 1, 2, 3, ... each anchored in turn (the host never
 * seals an empty epoch), each naming the keccak256 of the previous epoch's VDF output
 * (epoch 1 names the device's genesis output, {genesisVdfOutputHash}). The registry refuses a
 * gap or a break, so no epoch can be inserted, skipped or replaced.
 *
 * Leaves: an epoch root is the root of an OpenZeppelin `StandardMerkleTree` with leaf type
 * `bytes32` over certificate ids, i.e. leaf = `keccak256(bytes.concat(keccak256(abi.encode(id))))`
 * with sorted-pair inner nodes, exactly what `rosvd.merkle.StandardMerkleTree` builds.
 */
contract RosvdRegistry is AccessControl, EIP712 {
    /// @notice Consortium members: register and own devices, resolve disputes.
    bytes32 public constant MEMBER_ROLE = keccak256("ROSVD_MEMBER_ROLE");
    /// @notice Registry interface version (also the EIP-712 domain version).
    uint16 public constant REGISTRY_VERSION = 2;

    /// @notice A device's proof of possession: it agrees to be registered by `owner` as `boardId`.
    bytes32 public constant REGISTRATION_TYPEHASH =
        keccak256("Registration(address owner,address device,bytes32 boardId)");
    /// @notice What a device signs to anchor an epoch.
    bytes32 public constant ANCHOR_TYPEHASH = keccak256(
        "Anchor(address device,uint64 epoch,bytes32 root,uint64 certificateCount,bytes32 vdfOutputHash,"
        "bytes32 prevVdfOutputHash,uint64 namedBlock,uint64 iterations)"
    );

    // Genesis VDF output of a device (rosvd.epochs.genesis_output): rosvd.vdf.challenge of
    // (GENESIS_DOMAIN, device address), i.e. SHA-256 over length-prefixed parts.
    bytes private constant _CHALLENGE_DOMAIN = "RO-SVD/vdf-challenge/v1";
    bytes private constant _GENESIS_DOMAIN = "rosvd/genesis/v1";

    /// @notice Fewest VDF squarings an anchored epoch may claim (consortium policy, fixed at deployment).
    uint64 public immutable minVdfIterations;

    struct Device {
        address owner; // the member that registered it; zero when never registered
        uint64 lastEpoch; // highest epoch anchored so far; 0 before the first anchor
        bool active; // false once revoked; a revoked address is never registered again
        bytes32 lastVdfOutputHash; // keccak256 of the last anchored epoch's VDF output (genesis before)
        uint64 registeredBlock;
        uint64 revokedBlock; // 0 while active; anchors after the revocation are refused
        bytes32 boardId; // board identifier (e.g. hash of the FPGA DNA)
        bytes32 metadataHash; // hash of an off-chain metadata document
    }

    /// @notice One anchored epoch, one storage slot. Its VDF output hashes are in the `Anchored` event.
    struct Anchor {
        uint64 epoch; // zero when the root was never anchored by this device
        uint64 blockNumber; // block that holds the anchor
        uint64 certificateCount;
        uint64 namedBlock; // the chain block the epoch's VDF input names
    }

    /// @notice The fields of a device-signed anchor (EIP-712 type `Anchor`).
    struct AnchorData {
        address device;
        uint64 epoch;
        bytes32 root;
        uint64 certificateCount;
        bytes32 vdfOutputHash;
        bytes32 prevVdfOutputHash;
        uint64 namedBlock;
        uint64 iterations;
    }

    enum FlagStatus {
        None,
        Open,
        Upheld,
        Dismissed
    }

    struct Flag {
        address device;
        bytes32 root;
        bytes32 certificateId;
        bytes32 reasonHash;
        address flagger;
        uint64 flaggedBlock;
        FlagStatus status;
        address resolver;
        uint64 resolvedBlock;
        bytes32 resolutionHash;
    }

    mapping(address device => Device) private _devices;
    mapping(address device => mapping(bytes32 root => Anchor)) private _anchors;
    mapping(uint256 flagId => Flag) private _flags;
    mapping(bytes32 certificateId => uint256[] flagIds) private _flagsOfCertificate;
    uint256 private _flagCount;

    // ---- errors -------------------------------------------------------------------------
    error ZeroAddress();
    error ZeroMinVdfIterations();
    error DeviceAlreadyRegistered(address device);
    error DeviceNotRegistered(address device);
    error DeviceNotActive(address device);
    error DeviceOwnerNotMember(address device, address owner);
    error NotDeviceOwner(address device, address caller);
    error InvalidDeviceSignature(address device, address signer);
    error ZeroMerkleRoot();
    error ZeroCertificateCount();
    error EpochOutOfOrder(address device, uint64 epoch, uint64 expected);
    error BrokenVdfChain(address device, uint64 epoch, bytes32 prevVdfOutputHash, bytes32 expected);
    error NamedBlockNotInPast(uint64 namedBlock, uint256 currentBlock);
    error TooFewVdfIterations(uint64 iterations, uint64 minimum);
    error RootAlreadyAnchored(address device, bytes32 root, uint64 epoch);
    error RootNotAnchored(address device, bytes32 root);
    error CertificateNotInEpoch(address device, bytes32 root, bytes32 certificateId);
    error ZeroReasonHash();
    error FlagNotFound(uint256 flagId);
    error FlagAlreadyResolved(uint256 flagId, FlagStatus status);

    // ---- events -------------------------------------------------------------------------
    event DeviceRegistered(address indexed device, address indexed owner, bytes32 indexed boardId, bytes32 metadataHash);
    event DeviceRevoked(address indexed device, address indexed owner, address indexed revokedBy);
    event Anchored(
        address indexed device,
        uint64 indexed epoch,
        bytes32 indexed root,
        bytes32 vdfOutputHash,
        bytes32 prevVdfOutputHash,
        uint64 certificateCount,
        uint64 namedBlock,
        uint64 iterations,
        address relayer
    );
    event Flagged(
        uint256 indexed flagId,
        bytes32 indexed root,
        bytes32 indexed certificateId,
        address device,
        address flagger,
        bytes32 reasonHash
    );
    event FlagResolved(uint256 indexed flagId, address indexed resolver, bool indexed upheld, bytes32 resolutionHash);

    /**
     * @param admin first admin of the consortium (a multisig in production).
     * @param minIterations consortium policy: fewest VDF squarings per anchored epoch.
     *
     * Requirements: `admin` is not the zero address; `minIterations` is not zero.
     */
    constructor(address admin, uint64 minIterations) EIP712("RO-SVD registry", "2") {
        if (admin == address(0)) revert ZeroAddress();
        if (minIterations == 0) revert ZeroMinVdfIterations();
        minVdfIterations = minIterations;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ---- devices ------------------------------------------------------------------------

    /**
     * @notice Register `device` (its secp256k1 address); the caller owns it.
     * @param signature the device key's EIP-712 signature of `Registration(caller, device, boardId)`.
     *
     * Requirements: caller has `MEMBER_ROLE`; `device` is not zero and was never registered
     * (a revoked device address is burnt); `signature` is the device's (low-s).
     */
    function registerDevice(address device, bytes32 boardId, bytes32 metadataHash, bytes calldata signature)
        external
        onlyRole(MEMBER_ROLE)
    {
        if (device == address(0)) revert ZeroAddress();
        if (_devices[device].owner != address(0)) revert DeviceAlreadyRegistered(device);
        address signer = ECDSA.recoverCalldata(registrationDigest(msg.sender, device, boardId), signature);
        if (signer != device) revert InvalidDeviceSignature(device, signer);
        _devices[device] = Device({
            owner: msg.sender,
            lastEpoch: 0,
            active: true,
            lastVdfOutputHash: genesisVdfOutputHash(device),
            registeredBlock: uint64(block.number),
            revokedBlock: 0,
            boardId: boardId,
            metadataHash: metadataHash
        });
        emit DeviceRegistered(device, msg.sender, boardId, metadataHash);
    }

    /**
     * @notice Revoke `device`: it can no longer anchor. Its earlier anchors stay on record;
     * verifiers report those of earlier blocks as valid but revoked since, and one made in
     * the revoking block itself (before the revocation) as revoked.
     *
     * Requirements: the device is registered and active; caller is an admin, or its owner
     * and still a member.
     */
    function revokeDevice(address device) external {
        Device storage record = _registered(device);
        if (!record.active) revert DeviceNotActive(device);
        if (!hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) _checkOwnerMember(record, device);
        record.active = false;
        record.revokedBlock = uint64(block.number);
        emit DeviceRevoked(device, record.owner, msg.sender);
    }

    // ---- anchors ------------------------------------------------------------------------

    /**
     * @notice Anchor the device's next epoch. Anyone may relay it: the device signed it.
     * @param a the anchor; `a.prevVdfOutputHash` must be the device's last anchored VDF output hash.
     * @param signature the device key's EIP-712 signature of `a` (low-s).
     *
     * Requirements: the device is registered, active and its owner is still a member;
     * `a.root` and `a.certificateCount` are not zero; `a.epoch` is the device's last epoch
     * plus one and `a.prevVdfOutputHash` its last VDF output hash; `a.namedBlock` is an
     * earlier block; `a.iterations` is at least {minVdfIterations}; the device never
     * anchored `a.root`; `signature` is the device's.
     */
    function anchor(AnchorData calldata a, bytes calldata signature) external {
        Device storage record = _registered(a.device);
        if (!record.active) revert DeviceNotActive(a.device);
        if (!hasRole(MEMBER_ROLE, record.owner)) revert DeviceOwnerNotMember(a.device, record.owner);
        if (a.root == bytes32(0)) revert ZeroMerkleRoot();
        if (a.certificateCount == 0) revert ZeroCertificateCount();
        uint64 expected = record.lastEpoch + 1;
        if (a.epoch != expected) revert EpochOutOfOrder(a.device, a.epoch, expected);
        if (a.prevVdfOutputHash != record.lastVdfOutputHash) {
            revert BrokenVdfChain(a.device, a.epoch, a.prevVdfOutputHash, record.lastVdfOutputHash);
        }
        if (a.namedBlock >= block.number) revert NamedBlockNotInPast(a.namedBlock, block.number);
        if (a.iterations < minVdfIterations) revert TooFewVdfIterations(a.iterations, minVdfIterations);
        Anchor storage slot = _anchors[a.device][a.root];
        if (slot.epoch != 0) revert RootAlreadyAnchored(a.device, a.root, slot.epoch);
        address signer = ECDSA.recoverCalldata(anchorDigest(a), signature);
        if (signer != a.device) revert InvalidDeviceSignature(a.device, signer);

        record.lastEpoch = a.epoch;
        record.lastVdfOutputHash = a.vdfOutputHash;
        _anchors[a.device][a.root] = Anchor({
            epoch: a.epoch,
            blockNumber: uint64(block.number),
            certificateCount: a.certificateCount,
            namedBlock: a.namedBlock
        });
        emit Anchored(
            a.device,
            a.epoch,
            a.root,
            a.vdfOutputHash,
            a.prevVdfOutputHash,
            a.certificateCount,
            a.namedBlock,
            a.iterations,
            msg.sender
        );
    }

    /**
     * @notice Whether `certificateId` is a leaf of `device`'s anchored epoch tree `root`, by
     * `proof` (sibling hashes leaf to root, as `StandardMerkleTree.getProof` gives).
     * False for a root the device never anchored.
     */
    function verifyCertificate(address device, bytes32 root, bytes32 certificateId, bytes32[] calldata proof)
        public
        view
        returns (bool)
    {
        if (_anchors[device][root].epoch == 0) return false;
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(certificateId))));
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    // ---- disputes -----------------------------------------------------------------------

    /**
     * @notice Flag a certificate of an anchored epoch, e.g. a rights holder's notice.
     * Anyone may flag; `reasonHash` commits to the notice kept off chain.
     * @return flagId sequential, from 1.
     *
     * Requirements: `device` anchored `root`; `proof` proves `certificateId` is in it;
     * `reasonHash` is not zero.
     */
    function flag(
        address device,
        bytes32 root,
        bytes32 certificateId,
        bytes32[] calldata proof,
        bytes32 reasonHash
    ) external returns (uint256 flagId) {
        if (_anchors[device][root].epoch == 0) revert RootNotAnchored(device, root);
        if (!verifyCertificate(device, root, certificateId, proof)) {
            revert CertificateNotInEpoch(device, root, certificateId);
        }
        if (reasonHash == bytes32(0)) revert ZeroReasonHash();
        flagId = ++_flagCount;
        _flags[flagId] = Flag({
            device: device,
            root: root,
            certificateId: certificateId,
            reasonHash: reasonHash,
            flagger: msg.sender,
            flaggedBlock: uint64(block.number),
            status: FlagStatus.Open,
            resolver: address(0),
            resolvedBlock: 0,
            resolutionHash: bytes32(0)
        });
        _flagsOfCertificate[certificateId].push(flagId);
        emit Flagged(flagId, root, certificateId, device, msg.sender, reasonHash);
    }

    /**
     * @notice Close an open flag as upheld or dismissed; `resolutionHash` commits to the
     * decision document kept off chain.
     *
     * Requirements: caller has `MEMBER_ROLE`; the flag exists and is open.
     */
    function resolve(uint256 flagId, bool upheld, bytes32 resolutionHash) external onlyRole(MEMBER_ROLE) {
        Flag storage record = _flags[flagId];
        if (record.status == FlagStatus.None) revert FlagNotFound(flagId);
        if (record.status != FlagStatus.Open) revert FlagAlreadyResolved(flagId, record.status);
        record.status = upheld ? FlagStatus.Upheld : FlagStatus.Dismissed;
        record.resolver = msg.sender;
        record.resolvedBlock = uint64(block.number);
        record.resolutionHash = resolutionHash;
        emit FlagResolved(flagId, msg.sender, upheld, resolutionHash);
    }

    // ---- typed data ---------------------------------------------------------------------

    /// @notice The EIP-712 digest a device signs to be registered by `owner`.
    function registrationDigest(address owner, address device, bytes32 boardId) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(REGISTRATION_TYPEHASH, owner, device, boardId)));
    }

    /// @notice The EIP-712 digest a device signs to anchor `a`.
    function anchorDigest(AnchorData calldata a) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(ANCHOR_TYPEHASH, a)));
    }

    /// @notice The signer of `signature` over `a`'s digest (reverts on a malformed or high-s signature).
    function anchorSigner(AnchorData calldata a, bytes calldata signature) external view returns (address) {
        return ECDSA.recoverCalldata(anchorDigest(a), signature);
    }

    /// @notice keccak256 of the device's genesis VDF output, the `prevVdfOutputHash` of its epoch 1.
    function genesisVdfOutputHash(address device) public pure returns (bytes32) {
        bytes32 genesis = sha256(
            abi.encodePacked(
                uint8(_CHALLENGE_DOMAIN.length),
                _CHALLENGE_DOMAIN,
                uint32(2),
                uint64(_GENESIS_DOMAIN.length),
                _GENESIS_DOMAIN,
                uint64(20),
                device
            )
        );
        return keccak256(abi.encodePacked(genesis));
    }

    // ---- views --------------------------------------------------------------------------

    /// @notice The device record (owner zero when never registered).
    function getDevice(address device) external view returns (Device memory) {
        return _devices[device];
    }

    /// @notice `device`'s anchor of `root` (epoch zero when never anchored).
    function getAnchor(address device, bytes32 root) external view returns (Anchor memory) {
        return _anchors[device][root];
    }

    function isAnchored(address device, bytes32 root) external view returns (bool) {
        return _anchors[device][root].epoch != 0;
    }

    /// @notice The flag `flagId` (status None when it does not exist).
    function getFlag(uint256 flagId) external view returns (Flag memory) {
        return _flags[flagId];
    }

    /// @notice How many flags were raised against `certificateId`.
    function flagCountOf(bytes32 certificateId) external view returns (uint256) {
        return _flagsOfCertificate[certificateId].length;
    }

    /// @notice Up to `limit` flag ids raised against `certificateId`, oldest first, from index `start`.
    function flagsOf(bytes32 certificateId, uint256 start, uint256 limit) external view returns (uint256[] memory page) {
        uint256[] storage all = _flagsOfCertificate[certificateId];
        uint256 end = start >= all.length ? start : (all.length - start < limit ? all.length : start + limit);
        page = new uint256[](end - start);
        for (uint256 i = start; i < end; ++i) {
            page[i - start] = all[i];
        }
    }

    function flagCount() external view returns (uint256) {
        return _flagCount;
    }

    // ---- internals ----------------------------------------------------------------------

    function _registered(address device) private view returns (Device storage record) {
        record = _devices[device];
        if (record.owner == address(0)) revert DeviceNotRegistered(device);
    }

    function _checkOwnerMember(Device storage record, address device) private view {
        if (record.owner != msg.sender || !hasRole(MEMBER_ROLE, msg.sender)) revert NotDeviceOwner(device, msg.sender);
    }
}
