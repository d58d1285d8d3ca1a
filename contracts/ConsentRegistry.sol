// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @title ConsentRegistry — patients' consent to share health-record classes, on chain.
/// @notice Subjects are pseudonyms (bytes32 HMACs computed off chain by the custodian). No
///         function argument or event carries a string, a name, an identifier, a birth date or a
///         content identifier.
///
/// Model. A consent covers one purpose of use: a (subject, grantee, purpose) *scope* holds at most
/// one current consent, so consents for different purposes to the same grantee stand side by side.
/// A newer grant for the same scope replaces the current one only if its nonce is higher; nothing
/// older ever comes back:
///   - a revoked consent is final: its record stays (flagged) and any grant with a nonce at or
///     below it is refused, whoever submits whatever signature;
///   - a superseded consent cannot be re-submitted (its nonce is below the current one);
///   - a nonce is consumed on first use: the same nonce with other terms is refused;
///   - revoke-all bumps the subject's epoch (O(1)); grants name the epoch they were signed in, so
///     every older signature is void;
///   - an opt-out makes every decision for that purpose Deny.
///
/// Storage, one slot per scope, packed (high to low bits):
///   tag (96: first 12 bytes of keccak over the grant) | nonce (48) | classes (16)   = consentId (160)
///   | notBefore (32) | notAfter (32) | epoch (24) | flags (8: bit0 revoked, bit1 byController,
///   bits 2-4 purpose)
/// The consent id is the record's top 160 bits, so every view can return it. `Granted` carries the
/// record and the terms hash. Subject state (controller, epoch, opt-outs) is one slot.
contract ConsentRegistry is AccessControl, EIP712 {
    bytes32 public constant CUSTODIAN_ROLE = keccak256("CUSTODIAN_ROLE");
    bytes32 public constant EMERGENCY_ROLE = keccak256("EMERGENCY_ROLE");

    bytes32 internal constant GRANT_TYPEHASH = keccak256(
        "Grant(bytes32 subject,uint24 epoch,address grantee,uint8 purpose,uint16 classes,uint32 notBefore,uint32 notAfter,bytes32 termsHash,uint48 nonce,uint32 deadline)"
    );

    bytes32 internal constant RECIPIENT_TYPEHASH = keccak256("Recipient(address account,bytes32 recipient,uint256 nonce,uint32 deadline)");

    /// HL7 PurposeOfUse bits: TREAT=0 ETREAT=1 HPAYMT=2 HOPERAT=3 HRESCH=4 PUBHLTH=5 PATRQT=6 BTG=7.
    uint8 internal constant ETREAT = 1;
    uint8 internal constant BTG = 7;

    enum Decision { NoConsent, Permit, Deny }
    enum Reason { None, Granted, Expired, NotYetValid, Revoked, PurposeNotCovered, ClassNotCovered, OptedOut, BreakGlass }
    enum Rejection { None, Revoked, Expired, TooLong, BadWindow, OptedOut, Empty, Superseded, NonceUsed }

    struct Grant {
        bytes32 subject;
        /// The subject's revoke-all epoch the grant was signed in.
        uint24 epoch;
        address grantee;
        /// One purpose-of-use bit index (0..7).
        uint8 purpose;
        uint16 classes;
        uint32 notBefore;
        uint32 notAfter;
        bytes32 termsHash;
        /// Orders the grants of a scope: a grant needs a nonce above the scope's current one.
        uint48 nonce;
        uint32 deadline;
    }

    /// The custodian's batch form of a grant (no signature, so no deadline), small fields packed
    /// in `terms` (high to low): nonce (48) | notBefore (32) | notAfter (32) | classes (16) |
    /// purpose (8) | epoch (24). Same rules and same consent id as `grant`.
    struct BatchGrant {
        bytes32 subject;
        address grantee;
        uint256 terms;
        bytes32 termsHash;
    }

    struct BreakGlassAccess {
        uint40 until;
        uint8 status; // 0 none, 1 open (awaiting review), 2 reviewed ok, 3 reviewed not ok
    }

    struct Attestation {
        address payer;
        uint64 attestedAt;
        bytes32 subject;
    }

    struct Anchor {
        address by;
        uint64 size;
        uint32 timestamp;
        bytes32 root;
    }

    uint256 private constant FLAG_REVOKED = 1;
    uint256 private constant FLAG_BY_CONTROLLER = 2;

    /// The deploying custodian: signs the audit tree heads auditors verify. Fixed for the
    /// registry's life (rotate by deploying a new registry); more custodians may hold the role.
    address public immutable custodian;
    /// Event scans start here.
    uint256 public immutable deployedBlock;

    /// Subject state, packed: controller (160) | epoch (24) | optOuts (8). Consent records live at
    /// storage slot `scope` itself (a keccak256 over 96 bytes, disjoint from Solidity's own slots),
    /// which spares a second hash per access.
    mapping(bytes32 subject => uint256 state) private _subjects;
    mapping(address account => bytes32) public recipientOf;
    /// Orders an account's key-directory bindings: a signed registration is used once, in order.
    mapping(address account => uint256) public recipientNonceOf;
    mapping(bytes32 accessId => BreakGlassAccess) public breakGlassOf;
    mapping(bytes32 pair => bytes32) private _openBreakGlass;
    Anchor[] private _anchors;
    /// Claim attestations: the hash of a canonical FHIR Claim and its supporting resources → who
    /// may verify it (the payer), when, and for which subject pseudonym. Nothing else goes on chain.
    mapping(bytes32 claimHash => Attestation) private _attestations;
    uint256 private _breakGlassCount;

    /// `record` is the stored record; the consent id is its top 160 bits.
    event Granted(bytes32 indexed subject, address indexed grantee, uint256 record, bytes32 termsHash);
    event Revoked(bytes20 consentId);
    event RevokedAll(bytes32 indexed subject, uint24 epoch);
    event OptedOut(bytes32 indexed subject, uint8 purposes);
    event ControllerSet(bytes32 indexed subject, address controller);
    event GrantRejected(uint256 index, bytes32 indexed subject, address indexed grantee, Rejection reason);
    event BreakGlassOpened(bytes32 indexed accessId, bytes32 indexed subject, address indexed grantee, uint40 until, bytes32 reasonHash);
    event BreakGlassReviewed(bytes32 indexed accessId, address indexed reviewer, bool approved);
    event RecipientSet(address indexed account, bytes32 recipient);
    event Anchored(address indexed by, uint64 size, bytes32 root, uint256 index);
    event ClaimAttested(bytes32 indexed claimHash, bytes32 indexed subject, address indexed payer);

    error SignatureExpired();
    error InvalidSigner();
    error ConsentRevoked();
    error ConsentExpired();
    error ConsentSuperseded();
    error NonceUsed();
    error DurationTooLong(uint8 purpose);
    error BadWindow();
    error EmptyGrant();
    error OptedOutOfPurpose();
    error NotAuthorized();
    error UnknownConsent();
    error UnknownAccess();
    error BadAnchor();
    error EpochOverflow();
    error ClaimAlreadyAttested();

    constructor(address admin) EIP712("medctl ConsentRegistry", "2") {
        custodian = admin;
        deployedBlock = block.number;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(CUSTODIAN_ROLE, admin);
        _grantRole(EMERGENCY_ROLE, admin);
    }

    /// Maximum duration of a consent per purpose, in seconds (BTG only ever through break-glass).
    /// 32 bits per purpose, TREAT lowest: TREAT 5 y, ETREAT 1 d, HPAYMT 2 y, HOPERAT 2 y,
    /// HRESCH 10 y, PUBHLTH 5 y, PATRQT 1 y, BTG 0 (break-glass only).
    uint256 private constant MAX_DURATIONS =
        uint256(5 * 365 days) | uint256(1 days) << 32 | uint256(2 * 365 days) << 64 | uint256(2 * 365 days) << 96
        | uint256(10 * 365 days) << 128 | uint256(5 * 365 days) << 160 | uint256(365 days) << 192;

    function _maxDuration(uint8 purpose) internal pure returns (uint256) {
        return uint32(MAX_DURATIONS >> (uint256(purpose) * 32));
    }

    function _controller(uint256 state) internal pure returns (address) {
        return address(uint160(state >> 96));
    }

    function _epoch(uint256 state) internal pure returns (uint24) {
        return uint24(state >> 8);
    }

    function _optOuts(uint256 state) internal pure returns (uint8) {
        return uint8(state);
    }

    function _record(bytes32 scope) internal view returns (uint256 record) {
        assembly ("memory-safe") {
            record := sload(scope)
        }
    }

    function _setRecord(bytes32 scope, uint256 record) internal {
        assembly ("memory-safe") {
            sstore(scope, record)
        }
    }

    // ---------------------------------------------------------------- grants

    function _scopeOf(bytes32 subject, address grantee, uint8 purpose) internal pure returns (bytes32) {
        return keccak256(abi.encode(subject, grantee, purpose));
    }

    function _consentIdOf(bytes32 subject, uint24 epoch, address grantee, uint8 purpose, uint16 classes, uint32 notBefore, uint32 notAfter, bytes32 termsHash, uint48 nonce) internal pure returns (bytes20) {
        bytes32 h = keccak256(abi.encode(subject, epoch, grantee, purpose, classes, notBefore, notAfter, termsHash, nonce));
        return bytes20(uint160((uint256(h) >> 160) << 64 | uint256(nonce) << 16 | uint256(classes)));
    }

    function _grantDigest(Grant calldata g) internal view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(GRANT_TYPEHASH, g.subject, g.epoch, g.grantee, g.purpose, g.classes, g.notBefore, g.notAfter, g.termsHash, g.nonce, g.deadline)));
    }

    // The three hot paths have names whose selectors sort below every other function's, so the
    // dispatcher reaches them first (each selector compared before costs ~22 gas):
    //   grantScopedWithClasses 0x00012c46, grantBatchedSubjectClasses 0x0004427a,
    //   revokeByExactPurpose 0x00060ec4.

    /// @notice A grant signed (EIP-712) by the subject's controller or a custodian; any relayer submits.
    function grantScopedWithClasses(Grant calldata g, bytes calldata signature) external returns (bytes20 consentId) {
        if (block.timestamp > g.deadline) revert SignatureExpired();
        bytes32 digest = _grantDigest(g);
        uint256 s = _subjects[g.subject];
        address controller = _controller(s);
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        bool ok = err == ECDSA.RecoverError.NoError;
        bool byController = ok && signer == controller && signer != address(0);
        if (!byController && !(ok && _isCustodian(signer))) {
            // A contract wallet as controller (ERC-1271).
            if (controller == address(0) || controller.code.length == 0 || !SignatureChecker.isValidERC1271SignatureNow(controller, digest, signature)) revert InvalidSigner();
            byController = true;
        }
        Rejection rejection;
        (consentId, rejection) = _grant(g.subject, g.grantee, g.termsHash, _packTerms(g), s, byController);
        if (rejection == Rejection.Revoked) revert ConsentRevoked();
        if (rejection == Rejection.Superseded) revert ConsentSuperseded();
        if (rejection == Rejection.NonceUsed) revert NonceUsed();
        if (rejection == Rejection.Expired) revert ConsentExpired();
        if (rejection == Rejection.TooLong) revert DurationTooLong(g.purpose);
        if (rejection == Rejection.BadWindow) revert BadWindow();
        if (rejection == Rejection.OptedOut) revert OptedOutOfPurpose();
        if (rejection == Rejection.Empty) revert EmptyGrant();
    }

    /// @notice Migration path: the custodian grants for patients without a wallet. Bad entries are
    ///         skipped with a `GrantRejected` event; the rest of the batch lands. Same rules as `grant`.
    function grantBatchedSubjectClasses(BatchGrant[] calldata grants) external returns (uint256 granted) {
        if (!_isCustodian(msg.sender)) revert NotAuthorized();
        uint256 n = grants.length;
        for (uint256 i = 0; i < n; ) {
            BatchGrant calldata g = grants[i];
            (, Rejection rejection) = _grant(g.subject, g.grantee, g.termsHash, g.terms, _subjects[g.subject], false);
            if (rejection == Rejection.None) ++granted;
            else emit GrantRejected(i, g.subject, g.grantee, rejection);
            unchecked {
                ++i;
            }
        }
    }

    function _packTerms(Grant calldata g) internal pure returns (uint256) {
        return uint256(g.nonce) << 112 | uint256(g.notBefore) << 80 | uint256(g.notAfter) << 48 | uint256(g.classes) << 32 | uint256(g.purpose) << 24 | uint256(g.epoch);
    }

    function _grant(bytes32 subject, address grantee, bytes32 termsHash, uint256 terms, uint256 s, bool byController) internal returns (bytes20 consentId, Rejection) {
        uint48 nonce = uint48(terms >> 112);
        uint32 notBefore = uint32(terms >> 80);
        uint32 notAfter = uint32(terms >> 48);
        uint16 classes = uint16(terms >> 32);
        uint8 purpose = uint8(terms >> 24);
        uint24 epoch = uint24(terms);
        if (purpose > 7 || classes == 0 || grantee == address(0)) return (consentId, Rejection.Empty);
        if (notAfter <= notBefore) return (consentId, Rejection.BadWindow);
        if (notAfter <= block.timestamp) return (consentId, Rejection.Expired);
        if (_optOuts(s) & (uint8(1) << purpose) != 0) return (consentId, Rejection.OptedOut);
        unchecked {
            // notAfter is above both notBefore and now (checked just above).
            if (notAfter - (notBefore > block.timestamp ? notBefore : block.timestamp) > _maxDuration(purpose)) return (consentId, Rejection.TooLong);
        }
        consentId = _consentIdOf(subject, epoch, grantee, purpose, classes, notBefore, notAfter, termsHash, nonce);
        if (epoch != _epoch(s)) return (consentId, Rejection.Revoked); // voided by a revoke-all
        bytes32 scope = _scopeOf(subject, grantee, purpose);
        uint256 current = _record(scope);
        if (current != 0 && uint24(current >> 8) == epoch) {
            uint48 currentNonce = uint48(current >> 112);
            if (nonce < currentNonce) return (consentId, Rejection.Superseded);
            if (nonce == currentNonce) {
                if (bytes20(bytes32(current)) != consentId) return (consentId, Rejection.NonceUsed);
                if (current & FLAG_REVOKED != 0) return (consentId, Rejection.Revoked);
                return (consentId, Rejection.None); // identical grant: no-op
            }
            // A revoked consent's nonce still orders: a higher one is a new consent, never the old.
        }
        uint256 record = uint256(uint160(consentId)) << 96 | uint256(notBefore) << 64 | uint256(notAfter) << 32
            | uint256(epoch) << 8 | uint256(purpose) << 2 | (byController ? FLAG_BY_CONTROLLER : 0);
        _setRecord(scope, record);
        emit Granted(subject, grantee, record, termsHash);
        return (consentId, Rejection.None);
    }

    // ---------------------------------------------------------------- revocation

    /// @notice A custodian revokes the current consent of a scope (`scopeOf`). Final.
    function revokeByExactPurpose(bytes32 scope) external {
        if (!_isCustodian(msg.sender)) revert NotAuthorized();
        _revoke(scope);
    }

    /// @notice The subject's controller (or a custodian) revokes a consent of the subject. Final.
    function revokeAsController(bytes32 subject, address grantee, uint8 purpose) external {
        _authorizeSubject(subject);
        _revoke(_scopeOf(subject, grantee, purpose));
    }

    function revokeBatch(bytes32[] calldata scopes) external {
        if (!_isCustodian(msg.sender)) revert NotAuthorized();
        for (uint256 i = 0; i < scopes.length; ++i) _revoke(scopes[i]);
    }

    function _revoke(bytes32 scope) internal {
        uint256 current = _record(scope);
        if (current == 0) revert UnknownConsent();
        if (current & FLAG_REVOKED != 0) return;
        _setRecord(scope, current | FLAG_REVOKED);
        emit Revoked(bytes20(bytes32(current)));
    }

    /// @notice Revokes every consent of a subject at once (O(1): a new epoch).
    function revokeAll(bytes32 subject) external {
        _authorizeSubject(subject);
        uint256 s = _subjects[subject];
        uint24 epoch = _epoch(s);
        if (epoch == type(uint24).max) revert EpochOverflow();
        ++epoch;
        _subjects[subject] = (s & ~(uint256(type(uint24).max) << 8)) | uint256(epoch) << 8;
        emit RevokedAll(subject, epoch);
    }

    /// @notice From now on every decision for these purposes is Deny (break-glass included for ETREAT/BTG).
    function optOut(bytes32 subject, uint8 purposes) external {
        _authorizeSubject(subject);
        _subjects[subject] |= purposes;
        emit OptedOut(subject, purposes);
    }

    function setController(bytes32 subject, address controller) external {
        if (!_isCustodian(msg.sender)) revert NotAuthorized();
        _subjects[subject] = (_subjects[subject] & type(uint96).max) | uint256(uint160(controller)) << 96;
        emit ControllerSet(subject, controller);
    }

    /// @notice A subject's controller (patient wallet), revoke-all epoch and opted-out purposes.
    function subjectOf(bytes32 subject) external view returns (address controller, uint24 epoch, uint8 optOuts) {
        uint256 s = _subjects[subject];
        return (_controller(s), _epoch(s), _optOuts(s));
    }

    function _isCustodian(address account) internal view returns (bool) {
        return account == custodian || hasRole(CUSTODIAN_ROLE, account);
    }

    function _authorizeSubject(bytes32 subject) internal view {
        if (!_isCustodian(msg.sender) && _controller(_subjects[subject]) != msg.sender) revert NotAuthorized();
    }

    // ---------------------------------------------------------------- decisions

    /// @notice Decision at the chain's time. Deny wins: opt-out, then revocation, then the window.
    function check(bytes32 subject, address grantee, uint8 purpose, uint16 classes)
        external
        view
        returns (Decision decision, Reason reason, bytes20 consentId)
    {
        if (purpose > 7) return (Decision.Deny, Reason.PurposeNotCovered, consentId);
        uint256 s = _subjects[subject];
        if (_optOuts(s) & (uint8(1) << purpose) != 0) return (Decision.Deny, Reason.OptedOut, consentId);
        uint256 current = _record(_scopeOf(subject, grantee, purpose));
        bool emergency = purpose == ETREAT || purpose == BTG;
        if (current == 0) {
            if (emergency && _breakGlassActive(subject, grantee)) return (Decision.Permit, Reason.BreakGlass, consentId);
            return (Decision.NoConsent, Reason.None, consentId);
        }
        consentId = bytes20(bytes32(current));
        if (current & FLAG_REVOKED != 0 || uint24(current >> 8) != _epoch(s)) {
            if (emergency && _breakGlassActive(subject, grantee)) return (Decision.Permit, Reason.BreakGlass, consentId);
            return (Decision.Deny, Reason.Revoked, consentId);
        }
        if (block.timestamp < uint32(current >> 64)) return (Decision.Deny, Reason.NotYetValid, consentId);
        if (block.timestamp > uint32(current >> 32)) return (Decision.Deny, Reason.Expired, consentId);
        if (uint16(current >> 96) & classes != classes) return (Decision.Deny, Reason.ClassNotCovered, consentId);
        return (Decision.Permit, Reason.Granted, consentId);
    }

    /// @notice The current consent of a scope, and whether it is void (revoked, or by a revoke-all).
    function consentOf(bytes32 subject, address grantee, uint8 purpose)
        external
        view
        returns (bytes20 consentId, uint48 nonce, uint32 notBefore, uint32 notAfter, uint16 classes, bool revoked, bool byController)
    {
        uint256 current = _record(_scopeOf(subject, grantee, purpose));
        consentId = bytes20(bytes32(current));
        nonce = uint48(current >> 112);
        classes = uint16(current >> 96);
        notBefore = uint32(current >> 64);
        notAfter = uint32(current >> 32);
        revoked = current != 0 && (current & FLAG_REVOKED != 0 || uint24(current >> 8) != _epoch(_subjects[subject]));
        byController = current & FLAG_BY_CONTROLLER != 0;
    }

    // ---------------------------------------------------------------- break-glass

    /// @notice Emergency access for a few hours, unless the patient opted out of emergency treatment.
    function openBreakGlass(bytes32 subject, address grantee, uint8 hours_, bytes32 reasonHash) external onlyRole(EMERGENCY_ROLE) returns (bytes32 accessId) {
        if (_optOuts(_subjects[subject]) & (uint8(1) << ETREAT | uint8(1) << BTG) != 0) revert OptedOutOfPurpose();
        if (hours_ == 0 || hours_ > 72) revert BadWindow();
        accessId = keccak256(abi.encode(subject, grantee, block.timestamp, ++_breakGlassCount));
        uint40 until = uint40(block.timestamp + uint256(hours_) * 1 hours);
        breakGlassOf[accessId] = BreakGlassAccess(until, 1);
        _openBreakGlass[keccak256(abi.encode(subject, grantee))] = accessId;
        emit BreakGlassOpened(accessId, subject, grantee, until, reasonHash);
    }

    function reviewBreakGlass(bytes32 accessId, bool approved) external {
        if (!_isCustodian(msg.sender)) revert NotAuthorized();
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
        _setRecipient(msg.sender, x25519PublicKey);
    }

    /// @notice A relayed registration: `account` signed (EIP-712) the binding of its recipient, so a
    ///         member with no funds joins the key directory through any relayer (the custodian).
    ///         Each signature carries the account's next nonce: used once, never replayed over a newer key.
    function setRecipientFor(address account, bytes32 x25519PublicKey, uint32 deadline, bytes calldata signature) external {
        if (block.timestamp > deadline) revert SignatureExpired();
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(RECIPIENT_TYPEHASH, account, x25519PublicKey, recipientNonceOf[account], deadline)));
        if (!SignatureChecker.isValidSignatureNow(account, digest, signature)) revert InvalidSigner();
        _setRecipient(account, x25519PublicKey);
    }

    function _setRecipient(address account, bytes32 x25519PublicKey) internal {
        ++recipientNonceOf[account];
        recipientOf[account] = x25519PublicKey;
        emit RecipientSet(account, x25519PublicKey);
    }

    // ---------------------------------------------------------------- claim attestations

    /// @notice The custodian attests a claim: only its hash, the subject pseudonym and the payer.
    ///         A hash is attested once (a second attestation of the same claim is refused).
    function attestClaim(bytes32 claimHash, bytes32 subject, address payer) external {
        if (!_isCustodian(msg.sender)) revert NotAuthorized();
        if (claimHash == bytes32(0) || payer == address(0)) revert EmptyGrant();
        if (_attestations[claimHash].attestedAt != 0) revert ClaimAlreadyAttested();
        _attestations[claimHash] = Attestation(payer, uint64(block.timestamp), subject);
        emit ClaimAttested(claimHash, subject, payer);
    }

    function attestationOf(bytes32 claimHash) external view returns (address payer, uint64 attestedAt, bytes32 subject) {
        Attestation storage a = _attestations[claimHash];
        return (a.payer, a.attestedAt, a.subject);
    }

    // ---------------------------------------------------------------- audit anchors

    function anchor(uint64 size, bytes32 root) external returns (uint256 index) {
        if (!_isCustodian(msg.sender)) revert NotAuthorized();
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
}
