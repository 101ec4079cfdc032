// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

import {IERC20} from "./IERC20.sol";
import {IVerifier} from "./IVerifier.sol";
import {ProofCommitmentEscrow} from "./ProofCommitmentEscrow.sol";

/// @notice A rollup's L1 side, reduced to what prover coordination needs: L2 blocks proposed
///         slot by slot and grouped into epochs; a proposer claims the right to prove the oldest
///         unproven epoch with a prover's signed quote, which stakes the prover's bond; a proof
///         pays the prover its share of the epoch's fees and returns the bond; an epoch left
///         unclaimed past its claim window, or claimed and not proven by the end of the next
///         epoch, is pruned (and a staked bond slashed).
///
///         Time: slot = (timestamp - genesisTime) / slotDuration; epoch = slot / epochDuration.
///         The claim window of epoch E is the first `claimWindowSlots` slots of epoch E + 1.
contract Rollup {
    // ---- claim rejections, in the order they are checked ----
    error NoEpochToProve();
    error InvalidSignatureLength(uint256 length);
    error InvalidSignatureV(uint8 v);
    error SignatureHighS(bytes32 s);
    error InvalidSignature(address expected, address recovered);
    error WrongRollup(address expected, address actual);
    error QuoteExpired(uint256 currentSlot, uint256 validUntilSlot);
    error FeeTooHigh(uint32 basisPointFee, uint32 maximum);
    error NotProposer(address expected, address caller);
    error WrongEpoch(uint256 expected, uint256 actual);
    error BlockRangeMismatch(uint256 expectedInit, uint256 expectedFinal, uint256 actualInit, uint256 actualFinal);
    error FeesMismatch(uint256 expected, uint256 actual);
    error NotInClaimWindow(uint256 currentSlot, uint256 windowStart, uint256 windowEnd);
    error AlreadyClaimed(uint256 epoch, address bondProvider);
    error BondTooLow(uint256 minimum, uint256 actual);
    error BondExceedsDeposit(address prover, uint256 deposit, uint256 bondAmount);
    // ---- proposing, proving, pruning ----
    error SlotAlreadyUsed(uint256 slot);
    error EpochNotComplete(uint256 epoch, uint256 currentSlot);
    error EpochMustBePruned(uint256 epoch);
    error InvalidProof(uint256 epoch);
    error NothingToPrune();
    error InvalidParameter(string name);

    event L2BlockProposed(
        uint256 indexed blockNumber,
        uint256 indexed epoch,
        uint256 slot,
        address proposer,
        uint256 txCount,
        uint256 fees,
        bytes32 archive
    );
    event ProofRightClaimed(
        uint256 indexed epoch,
        address indexed bondProvider,
        address indexed proposer,
        uint256 bondAmount,
        uint32 basisPointFee,
        bytes32 quoteId,
        uint256 slot
    );
    event EpochProven(
        uint256 indexed epoch, address indexed submitter, address indexed bondProvider, uint256 proverFee, uint256 provenBlockNumber
    );
    event BondSlashed(uint256 indexed epoch, address indexed bondProvider, uint256 amount);
    event EpochPruned(uint256 indexed epoch);
    event PrunedPending(uint256 provenBlockNumber, uint256 prunedFromBlockNumber);

    /// @notice A prover's signed offer (see the EIP-712 type below).
    struct EpochProofQuote {
        address prover;
        uint256 epochNumber;
        uint256 epochInitBlock;
        uint256 epochFinalBlock;
        uint256 totalFees;
        address rollupAddress;
        uint32 basisPointFee;
        uint256 bondAmount;
        uint256 validUntilSlot;
    }

    /// @notice The claim on the oldest unproven epoch, if any (all zero when there is none).
    struct ProofClaim {
        uint256 epochNumber;
        uint32 basisPointFee;
        uint256 bondAmount;
        address bondProvider;
        address proposerClaimant;
        uint256 claimedAtSlot;
        bytes32 quoteId;
    }

    struct BlockLog {
        uint256 slot;
        address proposer;
        uint256 txCount;
        uint256 fees;
        bytes32 archive;
    }

    enum EpochState {
        None,
        Open,
        Complete,
        Claimed,
        Proven,
        Pruned
    }

    struct EpochInfo {
        uint256 initBlock;
        uint256 finalBlock;
        uint256 blockCount;
        uint256 txCount;
        uint256 totalFees;
        EpochState state;
    }

    struct EpochData {
        uint256 initBlock;
        uint256 finalBlock;
        uint256 blockCount;
        uint256 txCount;
        uint256 totalFees;
    }

    bytes32 public constant QUOTE_TYPEHASH = keccak256(
        "EpochProofQuote(address prover,uint256 epochNumber,uint256 epochInitBlock,uint256 epochFinalBlock,uint256 totalFees,address rollupAddress,uint32 basisPointFee,uint256 bondAmount,uint256 validUntilSlot)"
    );
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("ProverCoordination");
    bytes32 private constant VERSION_HASH = keccak256("1");
    /// @dev Half the secp256k1 group order: the largest `s` accepted.
    uint256 private constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    uint32 public constant MAX_BASIS_POINT_FEE = 10_000;

    IERC20 public immutable token;
    IVerifier public immutable verifier;
    ProofCommitmentEscrow public immutable escrow;
    uint256 public immutable genesisTime;
    uint256 public immutable slotDuration;
    uint256 public immutable epochDuration;
    uint256 public immutable claimWindowSlots;
    uint256 public immutable minBondAmount;

    address[] private proposers;
    mapping(uint256 blockNumber => BlockLog) private blocks;
    mapping(uint256 epoch => EpochData) private epochs;
    mapping(uint256 epoch => bool) private rolledBack;
    ProofClaim private proofClaim;

    /// @notice The last proposed L2 block (0 is genesis).
    uint256 public pendingBlockNumber;
    /// @notice The last proven L2 block.
    uint256 public provenBlockNumber;
    /// @notice Slashed bonds held by the rollup.
    uint256 public slashedFunds;

    constructor(
        IERC20 token_,
        IVerifier verifier_,
        uint256 slotDuration_,
        uint256 epochDuration_,
        uint256 claimWindowSlots_,
        uint256 minBondAmount_,
        uint256 withdrawDelay_,
        address[] memory proposers_
    ) {
        if (slotDuration_ == 0) revert InvalidParameter("slotDuration");
        if (epochDuration_ == 0) revert InvalidParameter("epochDuration");
        if (claimWindowSlots_ == 0 || claimWindowSlots_ > epochDuration_) revert InvalidParameter("claimWindowSlots");
        token = token_;
        verifier = verifier_;
        slotDuration = slotDuration_;
        epochDuration = epochDuration_;
        claimWindowSlots = claimWindowSlots_;
        minBondAmount = minBondAmount_;
        proposers = proposers_;
        genesisTime = block.timestamp;
        escrow = new ProofCommitmentEscrow(token_, address(this), withdrawDelay_);
    }

    // ---------------------------------------------------------------- time and proposers

    function getCurrentSlot() public view returns (uint256) {
        return (block.timestamp - genesisTime) / slotDuration;
    }

    function getCurrentEpoch() public view returns (uint256) {
        return getCurrentSlot() / epochDuration;
    }

    function getEpochAtSlot(uint256 slot) public view returns (uint256) {
        return slot / epochDuration;
    }

    /// @notice Timestamp at which `slot` starts.
    function getTimestampForSlot(uint256 slot) external view returns (uint256) {
        return genesisTime + slot * slotDuration;
    }

    /// @notice The slots during which epoch `epoch` may be claimed (inclusive bounds).
    function getClaimWindow(uint256 epoch) public view returns (uint256 firstSlot, uint256 lastSlot) {
        firstSlot = (epoch + 1) * epochDuration;
        lastSlot = firstSlot + claimWindowSlots - 1;
    }

    /// @notice Who may propose and claim in the current slot; zero when anyone may.
    function getCurrentProposer() public view returns (address) {
        return getProposerAt(getCurrentSlot());
    }

    /// @notice Who may propose and claim in `slot`; zero when anyone may.
    function getProposerAt(uint256 slot) public view returns (address) {
        uint256 count = proposers.length;
        return count == 0 ? address(0) : proposers[slot % count];
    }

    function getProposers() external view returns (address[] memory) {
        return proposers;
    }

    // ---------------------------------------------------------------- L2 blocks

    /// @notice Proposes the L2 block of the current slot. The caller pays `totalFees` of the
    ///         token (approved beforehand) into the rollup; they are paid out when the epoch is
    ///         proven and refunded if it is pruned.
    function propose(uint256 txCount, uint256 totalFees, bytes32 archive) external {
        if (canPrune()) _prune();
        uint256 slot = getCurrentSlot();
        uint256 tip = pendingBlockNumber;
        if (tip != 0 && slot <= blocks[tip].slot) revert SlotAlreadyUsed(slot);
        address expected = getProposerAt(slot);
        if (expected != address(0) && msg.sender != expected) revert NotProposer(expected, msg.sender);
        if (totalFees != 0) token.transferFrom(msg.sender, address(this), totalFees);

        uint256 blockNumber = tip + 1;
        pendingBlockNumber = blockNumber;
        blocks[blockNumber] = BlockLog(slot, msg.sender, txCount, totalFees, archive);
        uint256 epoch = getEpochAtSlot(slot);
        EpochData storage data = epochs[epoch];
        if (data.blockCount == 0) data.initBlock = blockNumber;
        data.finalBlock = blockNumber;
        data.blockCount += 1;
        data.txCount += txCount;
        data.totalFees += totalFees;
        emit L2BlockProposed(blockNumber, epoch, slot, msg.sender, txCount, totalFees, archive);
    }

    function getBlock(uint256 blockNumber) external view returns (BlockLog memory) {
        return blocks[blockNumber];
    }

    // ---------------------------------------------------------------- epochs

    /// @notice The oldest epoch with unproven blocks. Reverts `NoEpochToProve` when there is none.
    function getEpochToProve() public view returns (uint256) {
        (bool found, uint256 epoch) = _epochToProve();
        if (!found) revert NoEpochToProve();
        return epoch;
    }

    function getEpoch(uint256 epoch) external view returns (EpochInfo memory info) {
        EpochData memory data = epochs[epoch];
        info = EpochInfo(data.initBlock, data.finalBlock, data.blockCount, data.txCount, data.totalFees, EpochState.None);
        if (data.blockCount == 0) {
            info.state = rolledBack[epoch] ? EpochState.Pruned : EpochState.None;
        } else if (data.finalBlock <= provenBlockNumber) {
            info.state = EpochState.Proven;
        } else if (_isClaimed(epoch)) {
            info.state = EpochState.Claimed;
        } else if (getCurrentEpoch() > epoch) {
            info.state = EpochState.Complete;
        } else {
            info.state = EpochState.Open;
        }
    }

    function getProofClaim() external view returns (ProofClaim memory) {
        return proofClaim;
    }

    // ---------------------------------------------------------------- claiming

    /// @notice The EIP-712 digest of `quote` under this rollup's domain: what the prover signs,
    ///         and the quote's id.
    function quoteToDigest(EpochProofQuote calldata quote) public view returns (bytes32) {
        bytes32 domainSeparator =
            keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
        bytes32 structHash = keccak256(
            abi.encode(
                QUOTE_TYPEHASH,
                quote.prover,
                quote.epochNumber,
                quote.epochInitBlock,
                quote.epochFinalBlock,
                quote.totalFees,
                quote.rollupAddress,
                quote.basisPointFee,
                quote.bondAmount,
                quote.validUntilSlot
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash));
    }

    /// @notice Claims the right to prove the oldest unproven epoch with `quote`, signed by its
    ///         prover (65 bytes r, s, v). Stakes the quote's bond from the prover's escrow deposit.
    function claimEpochProofRight(EpochProofQuote calldata quote, bytes calldata signature) external {
        if (canPrune()) _prune();
        (uint256 epoch, uint256 slot, bytes32 quoteId) = _validateClaim(quote, signature);
        escrow.stakeBond(quote.prover, quote.bondAmount, epoch);
        proofClaim =
            ProofClaim(epoch, quote.basisPointFee, quote.bondAmount, quote.prover, msg.sender, slot, quoteId);
        emit ProofRightClaimed(epoch, quote.prover, msg.sender, quote.bondAmount, quote.basisPointFee, quoteId, slot);
    }

    /// @dev Every claim rule, each with its own error, in the documented order.
    function _validateClaim(EpochProofQuote calldata quote, bytes calldata signature)
        private
        view
        returns (uint256 epoch, uint256 slot, bytes32 quoteId)
    {
        bool found;
        (found, epoch) = _epochToProve();
        if (!found) revert NoEpochToProve();

        quoteId = quoteToDigest(quote);
        _checkSignature(quoteId, quote.prover, signature);
        if (quote.rollupAddress != address(this)) revert WrongRollup(address(this), quote.rollupAddress);
        slot = getCurrentSlot();
        if (quote.validUntilSlot < slot) revert QuoteExpired(slot, quote.validUntilSlot);
        if (quote.basisPointFee > MAX_BASIS_POINT_FEE) revert FeeTooHigh(quote.basisPointFee, MAX_BASIS_POINT_FEE);
        address expected = getProposerAt(slot);
        if (expected != address(0) && msg.sender != expected) revert NotProposer(expected, msg.sender);
        if (quote.epochNumber != epoch) revert WrongEpoch(epoch, quote.epochNumber);
        EpochData storage data = epochs[epoch];
        if (quote.epochInitBlock != data.initBlock || quote.epochFinalBlock != data.finalBlock) {
            revert BlockRangeMismatch(data.initBlock, data.finalBlock, quote.epochInitBlock, quote.epochFinalBlock);
        }
        if (quote.totalFees != data.totalFees) revert FeesMismatch(data.totalFees, quote.totalFees);
        (uint256 windowStart, uint256 windowEnd) = getClaimWindow(epoch);
        if (slot < windowStart || slot > windowEnd) revert NotInClaimWindow(slot, windowStart, windowEnd);
        if (_isClaimed(epoch)) revert AlreadyClaimed(epoch, proofClaim.bondProvider);
        if (quote.bondAmount < minBondAmount) revert BondTooLow(minBondAmount, quote.bondAmount);
        uint256 deposit = escrow.deposits(quote.prover);
        if (quote.bondAmount > deposit) revert BondExceedsDeposit(quote.prover, deposit, quote.bondAmount);
    }

    // ---------------------------------------------------------------- proving

    /// @notice The public inputs a proof of `epoch` commits to.
    function getEpochProofPublicInputs(uint256 epoch) public view returns (bytes32[] memory inputs) {
        EpochData memory data = epochs[epoch];
        inputs = new bytes32[](4);
        inputs[0] = bytes32(data.initBlock);
        inputs[1] = bytes32(data.finalBlock);
        inputs[2] = blocks[data.finalBlock].archive;
        inputs[3] = bytes32(data.totalFees);
    }

    /// @notice Proves the oldest unproven epoch once it has ended. If it was claimed, the bond is
    ///         returned to the prover's deposit and the prover is paid
    ///         `totalFees * basisPointFee / 10000`; the rest goes to the proposers of the epoch's
    ///         blocks in proportion to the fees of their blocks.
    function submitEpochProof(uint256 epoch, bytes calldata proof) external {
        (bool found, uint256 expected) = _epochToProve();
        if (!found) revert NoEpochToProve();
        if (epoch != expected) revert WrongEpoch(expected, epoch);
        if (canPrune()) revert EpochMustBePruned(epoch);
        uint256 slot = getCurrentSlot();
        if (getEpochAtSlot(slot) <= epoch) revert EpochNotComplete(epoch, slot);
        if (!verifier.verify(epoch, getEpochProofPublicInputs(epoch), proof)) revert InvalidProof(epoch);

        EpochData memory data = epochs[epoch];
        provenBlockNumber = data.finalBlock;
        uint256 proverFee;
        address bondProvider;
        if (_isClaimed(epoch)) {
            ProofClaim memory claim = proofClaim;
            delete proofClaim;
            bondProvider = claim.bondProvider;
            proverFee = data.totalFees * claim.basisPointFee / MAX_BASIS_POINT_FEE;
            escrow.unstakeBond(bondProvider, claim.bondAmount, epoch);
            if (proverFee != 0) token.transfer(bondProvider, proverFee);
        }
        _payProposers(data, data.totalFees - proverFee);
        emit EpochProven(epoch, msg.sender, bondProvider, proverFee, data.finalBlock);
    }

    function _payProposers(EpochData memory data, uint256 amount) private {
        if (amount == 0) return;
        uint256 paid;
        for (uint256 n = data.initBlock; n <= data.finalBlock; n++) {
            BlockLog storage log = blocks[n];
            // Rounding dust goes to the proposer of the epoch's last block.
            uint256 share = n == data.finalBlock ? amount - paid : log.fees * amount / data.totalFees;
            paid += share;
            if (share != 0) token.transfer(log.proposer, share);
        }
    }

    // ---------------------------------------------------------------- pruning

    /// @notice True when the oldest unproven epoch was not claimed by the end of its claim
    ///         window, or was claimed and not proven by the end of the following epoch.
    function canPrune() public view returns (bool) {
        (bool found, uint256 epoch) = _epochToProve();
        if (!found) return false;
        uint256 slot = getCurrentSlot();
        if (_isClaimed(epoch)) return slot >= (epoch + 2) * epochDuration;
        (, uint256 windowEnd) = getClaimWindow(epoch);
        return slot > windowEnd;
    }

    /// @notice Rolls the pending chain back to the proven tip when `canPrune()`. Anyone may call
    ///         it; proposing and claiming do it first when it is due.
    function prune() external {
        if (!canPrune()) revert NothingToPrune();
        _prune();
    }

    function _prune() private {
        (, uint256 epoch) = _epochToProve();
        if (_isClaimed(epoch)) {
            ProofClaim memory claim = proofClaim;
            escrow.slashBond(claim.bondProvider, claim.bondAmount, epoch);
            slashedFunds += claim.bondAmount;
            emit BondSlashed(epoch, claim.bondProvider, claim.bondAmount);
        }
        delete proofClaim;
        uint256 proven = provenBlockNumber;
        uint256 pending = pendingBlockNumber;
        uint256 lastEpoch = type(uint256).max;
        for (uint256 n = proven + 1; n <= pending; n++) {
            BlockLog memory log = blocks[n];
            delete blocks[n];
            if (log.fees != 0) token.transfer(log.proposer, log.fees);
            uint256 blockEpoch = getEpochAtSlot(log.slot);
            if (blockEpoch != lastEpoch) {
                lastEpoch = blockEpoch;
                delete epochs[blockEpoch];
                rolledBack[blockEpoch] = true;
                emit EpochPruned(blockEpoch);
            }
        }
        pendingBlockNumber = proven;
        emit PrunedPending(proven, pending);
    }

    // ---------------------------------------------------------------- internals

    function _epochToProve() private view returns (bool, uint256) {
        uint256 proven = provenBlockNumber;
        if (pendingBlockNumber == proven) return (false, 0);
        return (true, getEpochAtSlot(blocks[proven + 1].slot));
    }

    function _isClaimed(uint256 epoch) private view returns (bool) {
        return proofClaim.bondProvider != address(0) && proofClaim.epochNumber == epoch;
    }

    function _checkSignature(bytes32 digest, address prover, bytes calldata signature) private pure {
        if (signature.length != 65) revert InvalidSignatureLength(signature.length);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v < 27) v += 27;
        if (v != 27 && v != 28) revert InvalidSignatureV(uint8(signature[64]));
        if (uint256(s) > HALF_ORDER) revert SignatureHighS(s);
        address recovered = ecrecover(digest, v, r, s);
        if (recovered == address(0) || recovered != prover) revert InvalidSignature(prover, recovered);
    }
}
