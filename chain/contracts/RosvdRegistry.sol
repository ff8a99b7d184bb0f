// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/**
 * @title RO-SVD consortium registry
 * @notice Devices, their epoch anchors (Merkle roots of certificate batches) and disputes
 * raised against single certificates.
 *
 * Roles:
 * - `DEFAULT_ADMIN_ROLE` (admins): grant and revoke `MEMBER_ROLE` and the admin role itself
 *   (OpenZeppelin `grantRole` / `revokeRole`), revoke any device.
 * - `MEMBER_ROLE` (consortium members): register devices they then own, revoke their own
 *   devices, authorise operators for them, resolve disputes.
 * - a registered, active device whose owner is still a member, and the operators its owner
 *   authorised: anchor that device's epochs.
 * - anyone: flag a certificate of an anchored epoch (notice and takedown needs rights holders
 *   who are not members).
 *
 * Leaves: an epoch root is the root of an OpenZeppelin `StandardMerkleTree` with leaf type
 * `bytes32` over certificate ids, i.e. leaf = `keccak256(bytes.concat(keccak256(abi.encode(id))))`
 * with sorted-pair inner nodes, exactly what `rosvd.merkle.StandardMerkleTree` builds.
 */
contract RosvdRegistry is AccessControl {
    /// @notice Consortium members: register and own devices, resolve disputes.
    bytes32 public constant MEMBER_ROLE = keccak256("ROSVD_MEMBER_ROLE");

    struct Device {
        address owner; // the member that registered it; zero when never registered
        uint64 lastEpoch; // highest epoch anchored so far; 0 before the first anchor
        bool active; // false once revoked; a revoked address is never registered again
        bytes32 boardId; // board identifier (e.g. hash of the FPGA DNA / serial)
        bytes32 metadataHash; // hash of an off-chain metadata document
    }

    struct Anchor {
        address device; // zero when the root was never anchored
        uint64 epoch;
        uint64 blockNumber;
        uint64 certificateCount;
        bytes32 vdfOutputHash;
    }

    enum FlagStatus {
        None,
        Open,
        Upheld,
        Dismissed
    }

    struct Flag {
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
    mapping(address device => mapping(address operator => bool)) private _operators;
    mapping(bytes32 root => Anchor) private _anchors;
    mapping(address device => mapping(uint64 epoch => bytes32 root)) private _epochRoots;
    mapping(uint256 flagId => Flag) private _flags;
    mapping(bytes32 certificateId => uint256[] flagIds) private _flagsOfCertificate;
    uint256 private _flagCount;

    // ---- errors -------------------------------------------------------------------------
    error ZeroAddress();
    error DeviceAlreadyRegistered(address device);
    error DeviceNotRegistered(address device);
    error DeviceNotActive(address device);
    error DeviceOwnerNotMember(address device, address owner);
    error NotDeviceOwner(address device, address caller);
    error NotDeviceOrOperator(address device, address caller);
    error OperatorAlreadyAuthorised(address device, address operator);
    error OperatorNotAuthorised(address device, address operator);
    error ZeroMerkleRoot();
    error ZeroCertificateCount();
    error StaleEpoch(address device, uint64 epoch, uint64 lastEpoch);
    error RootAlreadyAnchored(bytes32 root, address device, uint64 epoch);
    error RootNotAnchored(bytes32 root);
    error ZeroReasonHash();
    error FlagNotFound(uint256 flagId);
    error FlagAlreadyResolved(uint256 flagId, FlagStatus status);

    // ---- events -------------------------------------------------------------------------
    event DeviceRegistered(address indexed device, address indexed owner, bytes32 indexed boardId, bytes32 metadataHash);
    event DeviceRevoked(address indexed device, address indexed owner, address indexed revokedBy);
    event OperatorAuthorised(address indexed device, address indexed operator, address indexed owner);
    event OperatorWithdrawn(address indexed device, address indexed operator, address indexed owner);
    event Anchored(
        address indexed device,
        uint64 indexed epoch,
        bytes32 indexed root,
        bytes32 vdfOutputHash,
        uint64 certificateCount,
        address anchoredBy
    );
    event Flagged(
        uint256 indexed flagId,
        bytes32 indexed root,
        bytes32 indexed certificateId,
        address flagger,
        bytes32 reasonHash
    );
    event FlagResolved(uint256 indexed flagId, address indexed resolver, bool indexed upheld, bytes32 resolutionHash);

    /**
     * @param admin first admin of the consortium (a multisig in production).
     *
     * Requirements: `admin` is not the zero address.
     */
    constructor(address admin) {
        if (admin == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ---- devices ------------------------------------------------------------------------

    /**
     * @notice Register `device` (its secp256k1 address); the caller owns it.
     *
     * Requirements: caller has `MEMBER_ROLE`; `device` is not zero and was never registered
     * (a revoked device address is burnt).
     */
    function registerDevice(address device, bytes32 boardId, bytes32 metadataHash) external onlyRole(MEMBER_ROLE) {
        if (device == address(0)) revert ZeroAddress();
        if (_devices[device].owner != address(0)) revert DeviceAlreadyRegistered(device);
        _devices[device] = Device({
            owner: msg.sender,
            lastEpoch: 0,
            active: true,
            boardId: boardId,
            metadataHash: metadataHash
        });
        emit DeviceRegistered(device, msg.sender, boardId, metadataHash);
    }

    /**
     * @notice Revoke `device`: it can no longer anchor. Its past anchors stay valid.
     *
     * Requirements: the device is registered and active; caller is an admin, or its owner
     * and still a member.
     */
    function revokeDevice(address device) external {
        Device storage record = _registered(device);
        if (!record.active) revert DeviceNotActive(device);
        if (!hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) _checkOwnerMember(record, device);
        record.active = false;
        emit DeviceRevoked(device, record.owner, msg.sender);
    }

    /**
     * @notice Let `operator` anchor for `device` (e.g. the host that runs it).
     *
     * Requirements: caller owns the device and is a member; the device is active;
     * `operator` is not zero and not already authorised.
     */
    function authoriseOperator(address device, address operator) external {
        Device storage record = _registered(device);
        _checkOwnerMember(record, device);
        if (!record.active) revert DeviceNotActive(device);
        if (operator == address(0)) revert ZeroAddress();
        if (_operators[device][operator]) revert OperatorAlreadyAuthorised(device, operator);
        _operators[device][operator] = true;
        emit OperatorAuthorised(device, operator, msg.sender);
    }

    /**
     * @notice Withdraw `operator`'s authorisation for `device`.
     *
     * Requirements: caller owns the device and is a member; `operator` is authorised.
     */
    function withdrawOperator(address device, address operator) external {
        Device storage record = _registered(device);
        _checkOwnerMember(record, device);
        if (!_operators[device][operator]) revert OperatorNotAuthorised(device, operator);
        _operators[device][operator] = false;
        emit OperatorWithdrawn(device, operator, msg.sender);
    }

    // ---- anchors ------------------------------------------------------------------------

    /**
     * @notice Anchor epoch `epoch` of `device`: its certificates' Merkle root and the hash of
     * its VDF output.
     *
     * Requirements: caller is the device or one of its operators; the device is registered,
     * active and its owner is still a member; `merkleRoot` and `certificateCount` are not
     * zero; `epoch` is greater than the device's last anchored epoch; `merkleRoot` was never
     * anchored before (by any device).
     */
    function anchor(
        address device,
        uint64 epoch,
        bytes32 merkleRoot,
        bytes32 vdfOutputHash,
        uint64 certificateCount
    ) external {
        Device storage record = _registered(device);
        if (msg.sender != device && !_operators[device][msg.sender]) revert NotDeviceOrOperator(device, msg.sender);
        if (!record.active) revert DeviceNotActive(device);
        if (!hasRole(MEMBER_ROLE, record.owner)) revert DeviceOwnerNotMember(device, record.owner);
        if (merkleRoot == bytes32(0)) revert ZeroMerkleRoot();
        if (certificateCount == 0) revert ZeroCertificateCount();
        if (epoch <= record.lastEpoch) revert StaleEpoch(device, epoch, record.lastEpoch);
        Anchor storage existing = _anchors[merkleRoot];
        if (existing.device != address(0)) revert RootAlreadyAnchored(merkleRoot, existing.device, existing.epoch);

        record.lastEpoch = epoch;
        _anchors[merkleRoot] = Anchor({
            device: device,
            epoch: epoch,
            blockNumber: uint64(block.number),
            certificateCount: certificateCount,
            vdfOutputHash: vdfOutputHash
        });
        _epochRoots[device][epoch] = merkleRoot;
        emit Anchored(device, epoch, merkleRoot, vdfOutputHash, certificateCount, msg.sender);
    }

    /**
     * @notice Whether `certificateId` is a leaf of the anchored epoch tree `root`, by
     * `proof` (sibling hashes leaf to root, as `StandardMerkleTree.getProof` gives).
     * False for a root that was never anchored.
     */
    function verifyCertificate(bytes32 root, bytes32 certificateId, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        if (_anchors[root].device == address(0)) return false;
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(certificateId))));
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    // ---- disputes -----------------------------------------------------------------------

    /**
     * @notice Flag a certificate of an anchored epoch, e.g. a rights holder's notice.
     * Anyone may flag; `reasonHash` commits to the notice kept off chain.
     * @return flagId sequential, from 1.
     *
     * Requirements: `root` is anchored; `reasonHash` is not zero.
     */
    function flag(bytes32 root, bytes32 certificateId, bytes32 reasonHash) external returns (uint256 flagId) {
        if (_anchors[root].device == address(0)) revert RootNotAnchored(root);
        if (reasonHash == bytes32(0)) revert ZeroReasonHash();
        flagId = ++_flagCount;
        _flags[flagId] = Flag({
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
        emit Flagged(flagId, root, certificateId, msg.sender, reasonHash);
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

    // ---- views --------------------------------------------------------------------------

    /// @notice The device record (owner zero when never registered).
    function getDevice(address device) external view returns (Device memory) {
        return _devices[device];
    }

    function isOperator(address device, address operator) external view returns (bool) {
        return _operators[device][operator];
    }

    /// @notice The anchor of `root` (device zero when never anchored).
    function getAnchor(bytes32 root) external view returns (Anchor memory) {
        return _anchors[root];
    }

    function isAnchored(bytes32 root) external view returns (bool) {
        return _anchors[root].device != address(0);
    }

    /// @notice Root anchored for `device`'s epoch `epoch` (zero when none).
    function epochRoot(address device, uint64 epoch) external view returns (bytes32) {
        return _epochRoots[device][epoch];
    }

    /// @notice The flag `flagId` (status None when it does not exist).
    function getFlag(uint256 flagId) external view returns (Flag memory) {
        return _flags[flagId];
    }

    /// @notice Ids of every flag raised against `certificateId`, oldest first.
    function flagsOf(bytes32 certificateId) external view returns (uint256[] memory) {
        return _flagsOfCertificate[certificateId];
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
