// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @title ConsentRegistry — patients' consent to share health-record classes, on chain.
/// @notice Subjects are pseudonyms (bytes32 HMACs computed off chain by the custodian). No
///         function argument or event carries a string, a name, an identifier, a birth date or a
///         content identifier.
/// @dev Storage: one slot per (subject, grantee, epoch) holds the current consent, packed:
///      consentId (bytes20) | notBefore (uint32) | notAfter (uint32) | purposes (uint8) |
///      classes (uint16) | flags (uint8). A grant is therefore one SSTORE; the terms hash and the
///      full grant live in the `Granted` event. `revokeAll` bumps the subject's epoch (O(1)):
///      every pair slot of older epochs stops counting. Batches by the custodian need no
///      per-grant signature: the custodian's own transaction authorises them (patients without
///      a wallet); single grants carry an EIP-712 signature of the subject's controller or of a
///      custodian, and any relayer may submit them.
contract ConsentRegistry is AccessControl, EIP712 {
    bytes32 public constant CUSTODIAN_ROLE = keccak256("CUSTODIAN_ROLE");
    bytes32 public constant EMERGENCY_ROLE = keccak256("EMERGENCY_ROLE");

    bytes32 public constant GRANT_TYPEHASH = keccak256(
        "Grant(bytes32 subject,uint32 epoch,address grantee,uint8 purposes,uint16 classes,uint32 notBefore,uint32 notAfter,bytes32 termsHash,uint256 nonce,uint256 deadline)"
    );

    /// HL7 PurposeOfUse bits: TREAT=0 ETREAT=1 HPAYMT=2 HOPERAT=3 HRESCH=4 PUBHLTH=5 PATRQT=6 BTG=7.
    uint8 internal constant ETREAT = 1 << 1;
    uint8 internal constant BTG = 1 << 7;

    enum Decision { NoConsent, Permit, Deny }
    enum Reason { None, Granted, Expired, NotYetValid, Revoked, PurposeNotCovered, ClassNotCovered, OptedOut, BreakGlass }
    enum Rejection { None, Revoked, Expired, TooLong, BadWindow, OptedOut, Empty }

    struct Grant {
        bytes32 subject;
        /// The subject's revoke-all epoch the grant was made in: a revoke-all voids every grant
        /// signed before it, so no old signature can be replayed into the new epoch.
        uint32 epoch;
        address grantee;
        uint8 purposes;
        uint16 classes;
        uint32 notBefore;
        uint32 notAfter;
        bytes32 termsHash;
        uint256 nonce;
        uint256 deadline;
    }

    struct BreakGlassAccess {
        uint40 until;
        uint8 status; // 0 none, 1 open (awaiting review), 2 reviewed ok, 3 reviewed not ok
    }

    struct Anchor {
        address by;
        uint64 size;
        uint32 timestamp;
        bytes32 root;
    }

    uint256 private constant FLAG_REVOKED = 1;
    uint256 private constant FLAG_BY_CONTROLLER = 2;

    mapping(bytes32 pairKey => uint256 packed) private _pairs;
    mapping(bytes32 subject => uint32) public epochOf;
    mapping(bytes32 subject => uint8) public optOutsOf;
    mapping(bytes32 subject => address) public controllerOf;
    mapping(address account => bytes32) public recipientOf;
    mapping(bytes32 accessId => BreakGlassAccess) public breakGlassOf;
    mapping(bytes32 pair => bytes32) private _openBreakGlass;
    /// Maximum duration of a consent per purpose bit, in seconds.
    uint32[8] public maxDuration;
    Anchor[] private _anchors;
    uint256 private _breakGlassCount;

    event Granted(bytes20 indexed consentId, bytes32 indexed subject, address indexed grantee, uint8 purposes, uint16 classes, uint32 notBefore, uint32 notAfter, bytes32 termsHash, bool byController);
    event Revoked(bytes20 indexed consentId, bytes32 indexed subject, address indexed grantee);
    event RevokedAll(bytes32 indexed subject, uint32 epoch);
    event OptedOut(bytes32 indexed subject, uint8 purposes);
    event ControllerSet(bytes32 indexed subject, address controller);
    event GrantRejected(uint256 index, bytes32 indexed subject, address indexed grantee, Rejection reason);
    event BreakGlassOpened(bytes32 indexed accessId, bytes32 indexed subject, address indexed grantee, uint40 until, bytes32 reasonHash);
    event BreakGlassReviewed(bytes32 indexed accessId, address indexed reviewer, bool approved);
    event RecipientSet(address indexed account, bytes32 recipient);
    event Anchored(address indexed by, uint64 size, bytes32 root, uint256 index);

    error SignatureExpired();
    error InvalidSigner();
    error ConsentRevoked();
    error ConsentExpired();
    error DurationTooLong(uint8 purposes);
    error BadWindow();
    error EmptyGrant();
    error OptedOutOfPurpose();
    error NotAuthorized();
    error UnknownConsent();
    error UnknownAccess();
    error LengthMismatch();
    error BadAnchor();

    constructor(address admin) EIP712("medctl ConsentRegistry", "1") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(CUSTODIAN_ROLE, admin);
        _grantRole(EMERGENCY_ROLE, admin);
        uint32 year = 365 days;
        maxDuration = [uint32(5 * year), uint32(1 days), uint32(2 * year), uint32(2 * year), uint32(10 * year), uint32(5 * year), uint32(1 * year), uint32(0)];
    }

    // ---------------------------------------------------------------- grants

    function consentIdOf(Grant calldata g) public pure returns (bytes20) {
        return bytes20(keccak256(abi.encode(g.subject, g.epoch, g.grantee, g.purposes, g.classes, g.notBefore, g.notAfter, g.termsHash, g.nonce)));
    }

    function grantDigest(Grant calldata g) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(GRANT_TYPEHASH, g.subject, g.epoch, g.grantee, g.purposes, g.classes, g.notBefore, g.notAfter, g.termsHash, g.nonce, g.deadline)));
    }

    /// @notice A grant signed (EIP-712) by the subject's controller or a custodian; any relayer submits.
    function grant(Grant calldata g, bytes calldata signature) external returns (bytes20 consentId) {
        if (block.timestamp > g.deadline) revert SignatureExpired();
        bytes32 digest = grantDigest(g);
        bool byController;
        address controller = controllerOf[g.subject];
        if (controller != address(0) && SignatureChecker.isValidSignatureNow(controller, digest, signature)) {
            byController = true;
        } else {
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
            if (err != ECDSA.RecoverError.NoError || !hasRole(CUSTODIAN_ROLE, signer)) revert InvalidSigner();
        }
        Rejection rejection;
        (consentId, rejection) = _grant(g, byController);
        if (rejection == Rejection.Revoked) revert ConsentRevoked();
        if (rejection == Rejection.Expired) revert ConsentExpired();
        if (rejection == Rejection.TooLong) revert DurationTooLong(g.purposes);
        if (rejection == Rejection.BadWindow) revert BadWindow();
        if (rejection == Rejection.OptedOut) revert OptedOutOfPurpose();
        if (rejection == Rejection.Empty) revert EmptyGrant();
    }

    /// @notice Migration path: the custodian grants for patients without a wallet. Bad entries are
    ///         skipped with a `GrantRejected` event; the rest of the batch lands.
    function grantBatch(Grant[] calldata grants) external onlyRole(CUSTODIAN_ROLE) returns (uint256 granted) {
        for (uint256 i = 0; i < grants.length; ++i) {
            (, Rejection rejection) = _grant(grants[i], false);
            if (rejection == Rejection.None) ++granted;
            else emit GrantRejected(i, grants[i].subject, grants[i].grantee, rejection);
        }
    }

    function _grant(Grant calldata g, bool byController) internal returns (bytes20 consentId, Rejection) {
        if (g.purposes == 0 || g.classes == 0 || g.grantee == address(0)) return (consentId, Rejection.Empty);
        if (g.notAfter <= g.notBefore) return (consentId, Rejection.BadWindow);
        if (g.notAfter <= block.timestamp) return (consentId, Rejection.Expired);
        if (g.purposes & optOutsOf[g.subject] != 0) return (consentId, Rejection.OptedOut);
        uint256 duration = g.notAfter - (g.notBefore > block.timestamp ? g.notBefore : block.timestamp);
        for (uint256 bit = 0; bit < 8; ++bit) {
            if (g.purposes & (1 << bit) != 0 && duration > maxDuration[bit]) return (consentId, Rejection.TooLong);
        }
        consentId = consentIdOf(g);
        if (g.epoch != epochOf[g.subject]) return (consentId, Rejection.Revoked); // voided by a revoke-all
        bytes32 key = _pairKey(g.subject, g.grantee, g.epoch);
        uint256 current = _pairs[key];
        if (bytes20(bytes32(current)) == consentId) {
            if (current & FLAG_REVOKED != 0) return (consentId, Rejection.Revoked);
            return (consentId, Rejection.None); // identical grant: no-op
        }
        _pairs[key] = _pack(consentId, g.notBefore, g.notAfter, g.purposes, g.classes, byController ? FLAG_BY_CONTROLLER : 0);
        emit Granted(consentId, g.subject, g.grantee, g.purposes, g.classes, g.notBefore, g.notAfter, g.termsHash, byController);
        return (consentId, Rejection.None);
    }

    // ---------------------------------------------------------------- revocation

    /// @notice Revocation is final: the same consent can never be granted again.
    function revoke(bytes32 subject, address grantee, bytes20 consentId) external {
        _authorizeSubject(subject);
        _revoke(subject, grantee, consentId);
    }

    function revokeBatch(bytes32[] calldata subjects, address[] calldata grantees, bytes20[] calldata consentIds) external onlyRole(CUSTODIAN_ROLE) {
        if (subjects.length != grantees.length || subjects.length != consentIds.length) revert LengthMismatch();
        for (uint256 i = 0; i < subjects.length; ++i) _revoke(subjects[i], grantees[i], consentIds[i]);
    }

    function _revoke(bytes32 subject, address grantee, bytes20 consentId) internal {
        bytes32 key = _pairKey(subject, grantee, epochOf[subject]);
        uint256 current = _pairs[key];
        if (bytes20(bytes32(current)) != consentId || consentId == bytes20(0)) revert UnknownConsent();
        if (current & FLAG_REVOKED != 0) return;
        _pairs[key] = current | FLAG_REVOKED;
        emit Revoked(consentId, subject, grantee);
    }

    /// @notice Revokes every consent of a subject at once (O(1): a new epoch).
    function revokeAll(bytes32 subject) external {
        _authorizeSubject(subject);
        uint32 epoch = ++epochOf[subject];
        emit RevokedAll(subject, epoch);
    }

    /// @notice From now on every decision for these purposes is Deny (break-glass included for ETREAT/BTG).
    function optOut(bytes32 subject, uint8 purposes) external {
        _authorizeSubject(subject);
        optOutsOf[subject] |= purposes;
        emit OptedOut(subject, purposes);
    }

    function setController(bytes32 subject, address controller) external onlyRole(CUSTODIAN_ROLE) {
        controllerOf[subject] = controller;
        emit ControllerSet(subject, controller);
    }

    function _authorizeSubject(bytes32 subject) internal view {
        if (!hasRole(CUSTODIAN_ROLE, msg.sender) && controllerOf[subject] != msg.sender) revert NotAuthorized();
    }

    // ---------------------------------------------------------------- decisions

    /// @notice Decision at the chain's time. Deny wins: opt-out, then revocation, then the window.
    function check(bytes32 subject, address grantee, uint8 purposeBit, uint16 classes)
        external
        view
        returns (Decision decision, Reason reason, bytes20 consentId)
    {
        uint8 purpose = uint8(1 << purposeBit);
        if (optOutsOf[subject] & purpose != 0) return (Decision.Deny, Reason.OptedOut, consentId);
        uint32 epoch = epochOf[subject];
        uint256 current = _pairs[_pairKey(subject, grantee, epoch)];
        if (current == 0) {
            if (purpose & (ETREAT | BTG) != 0 && _breakGlassActive(subject, grantee)) return (Decision.Permit, Reason.BreakGlass, consentId);
            if (epoch > 0 && _pairs[_pairKey(subject, grantee, epoch - 1)] != 0) return (Decision.Deny, Reason.Revoked, consentId);
            return (Decision.NoConsent, Reason.None, consentId);
        }
        consentId = bytes20(bytes32(current));
        if (current & FLAG_REVOKED != 0) return (Decision.Deny, Reason.Revoked, consentId);
        (uint32 notBefore, uint32 notAfter, uint8 purposes, uint16 granted) = _unpack(current);
        if (block.timestamp < notBefore) return (Decision.Deny, Reason.NotYetValid, consentId);
        if (block.timestamp > notAfter) return (Decision.Deny, Reason.Expired, consentId);
        if (purposes & purpose == 0) {
            if (purpose & (ETREAT | BTG) != 0 && _breakGlassActive(subject, grantee)) return (Decision.Permit, Reason.BreakGlass, consentId);
            return (Decision.Deny, Reason.PurposeNotCovered, consentId);
        }
        if (granted & classes != classes) return (Decision.Deny, Reason.ClassNotCovered, consentId);
        return (Decision.Permit, Reason.Granted, consentId);
    }

    /// @notice The current consent of a pair: (consentId, notBefore, notAfter, purposes, classes, revoked, byController).
    function consentOf(bytes32 subject, address grantee)
        external
        view
        returns (bytes20 consentId, uint32 notBefore, uint32 notAfter, uint8 purposes, uint16 classes, bool revoked, bool byController)
    {
        uint256 current = _pairs[_pairKey(subject, grantee, epochOf[subject])];
        consentId = bytes20(bytes32(current));
        (notBefore, notAfter, purposes, classes) = _unpack(current);
        revoked = current & FLAG_REVOKED != 0;
        byController = current & FLAG_BY_CONTROLLER != 0;
    }

    // ---------------------------------------------------------------- break-glass

    /// @notice Emergency access for a few hours, unless the patient opted out of emergency treatment.
    function openBreakGlass(bytes32 subject, address grantee, uint8 hours_, bytes32 reasonHash) external onlyRole(EMERGENCY_ROLE) returns (bytes32 accessId) {
        if (optOutsOf[subject] & (ETREAT | BTG) != 0) revert OptedOutOfPurpose();
        if (hours_ == 0 || hours_ > 72) revert BadWindow();
        accessId = keccak256(abi.encode(subject, grantee, block.timestamp, ++_breakGlassCount));
        uint40 until = uint40(block.timestamp + uint256(hours_) * 1 hours);
        breakGlassOf[accessId] = BreakGlassAccess(until, 1);
        _openBreakGlass[keccak256(abi.encode(subject, grantee))] = accessId;
        emit BreakGlassOpened(accessId, subject, grantee, until, reasonHash);
    }

    function reviewBreakGlass(bytes32 accessId, bool approved) external onlyRole(CUSTODIAN_ROLE) {
        BreakGlassAccess storage access = breakGlassOf[accessId];
        if (access.status == 0) revert UnknownAccess();
        access.status = approved ? 2 : 3;
        emit BreakGlassReviewed(accessId, msg.sender, approved);
    }

    function _breakGlassActive(bytes32 subject, address grantee) internal view returns (bool) {
        bytes32 accessId = _openBreakGlass[keccak256(abi.encode(subject, grantee))];
        return accessId != bytes32(0) && breakGlassOf[accessId].until >= block.timestamp;
    }

    // ---------------------------------------------------------------- key directory

    /// @notice The sender publishes its own age X25519 recipient (the 32-byte public key).
    function setRecipient(bytes32 x25519PublicKey) external {
        recipientOf[msg.sender] = x25519PublicKey;
        emit RecipientSet(msg.sender, x25519PublicKey);
    }

    // ---------------------------------------------------------------- audit anchors

    function anchor(uint64 size, bytes32 root) external onlyRole(CUSTODIAN_ROLE) returns (uint256 index) {
        uint256 count = _anchors.length;
        if (count > 0 && _anchors[count - 1].size > size) revert BadAnchor();
        index = count;
        _anchors.push(Anchor(msg.sender, size, uint32(block.timestamp), root));
        emit Anchored(msg.sender, size, root, index);
    }

    function anchorCount() external view returns (uint256) {
        return _anchors.length;
    }

    function anchorAt(uint256 i) external view returns (address by, uint64 size, bytes32 root, uint64 timestamp) {
        Anchor storage a = _anchors[i];
        return (a.by, a.size, a.root, a.timestamp);
    }

    // ---------------------------------------------------------------- packing

    function _pairKey(bytes32 subject, address grantee, uint32 epoch) internal pure returns (bytes32) {
        return keccak256(abi.encode(subject, grantee, epoch));
    }

    function _pack(bytes20 id, uint32 notBefore, uint32 notAfter, uint8 purposes, uint16 classes, uint256 flags) internal pure returns (uint256) {
        return (uint256(uint160(id)) << 96) | (uint256(notBefore) << 64) | (uint256(notAfter) << 32) | (uint256(purposes) << 24) | (uint256(classes) << 8) | flags;
    }

    function _unpack(uint256 packed) internal pure returns (uint32 notBefore, uint32 notAfter, uint8 purposes, uint16 classes) {
        notBefore = uint32(packed >> 64);
        notAfter = uint32(packed >> 32);
        purposes = uint8(packed >> 24);
        classes = uint16(packed >> 8);
    }
}
