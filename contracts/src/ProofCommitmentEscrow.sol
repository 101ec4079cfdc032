// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

import {IERC20} from "./IERC20.sol";

/// @notice Holds provers' deposits. A claimed quote stakes its bond out of the prover's deposit;
///         a proof unstakes it, a missed proof deadline slashes it. Withdrawals wait `withdrawDelay`
///         seconds, so a prover cannot pull its deposit out from under a claim about to be made.
contract ProofCommitmentEscrow {
    error NotRollup(address caller);
    error ZeroAmount();
    error InsufficientDeposit(address prover, uint256 deposit, uint256 needed);
    error InsufficientStake(address prover, uint256 staked, uint256 needed);
    error NoWithdrawRequest(address prover);
    error WithdrawNotReady(address prover, uint256 executableAt, uint256 timestamp);

    event Deposited(address indexed prover, uint256 amount, uint256 deposit);
    event WithdrawStarted(address indexed prover, uint256 amount, uint256 executableAt);
    event WithdrawExecuted(address indexed prover, uint256 amount, uint256 deposit);
    event BondStaked(address indexed prover, uint256 indexed epoch, uint256 amount);
    event BondUnstaked(address indexed prover, uint256 indexed epoch, uint256 amount);
    event BondSlashed(address indexed prover, uint256 indexed epoch, uint256 amount);

    /// @notice A pending withdrawal; a newer request replaces it.
    struct WithdrawRequest {
        uint256 amount;
        uint256 executableAt;
    }

    IERC20 public immutable token;
    /// @notice The only caller of stake, unstake and slash; slashed bonds are paid to it.
    address public immutable rollup;
    uint256 public immutable withdrawDelay;

    /// @notice What each prover has deposited and not staked: the most a claim may bond.
    mapping(address prover => uint256) public deposits;
    /// @notice Bonds staked by claims not yet proven or slashed.
    mapping(address prover => uint256) public staked;
    mapping(address prover => WithdrawRequest) public withdrawRequests;

    modifier onlyRollup() {
        if (msg.sender != rollup) revert NotRollup(msg.sender);
        _;
    }

    constructor(IERC20 token_, address rollup_, uint256 withdrawDelay_) {
        token = token_;
        rollup = rollup_;
        withdrawDelay = withdrawDelay_;
    }

    /// @notice Moves `amount` tokens (approved beforehand) from the caller into its deposit.
    function deposit(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        token.transferFrom(msg.sender, address(this), amount);
        uint256 total = deposits[msg.sender] + amount;
        deposits[msg.sender] = total;
        emit Deposited(msg.sender, amount, total);
    }

    /// @notice Asks to withdraw `amount` after the delay, replacing any earlier request.
    function startWithdraw(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 available = deposits[msg.sender];
        if (amount > available) revert InsufficientDeposit(msg.sender, available, amount);
        uint256 executableAt = block.timestamp + withdrawDelay;
        withdrawRequests[msg.sender] = WithdrawRequest(amount, executableAt);
        emit WithdrawStarted(msg.sender, amount, executableAt);
    }

    /// @notice Pays out the caller's pending request once its delay has passed. A bond staked
    ///         since the request is not part of the deposit and cannot be withdrawn.
    function executeWithdraw() external {
        WithdrawRequest memory request = withdrawRequests[msg.sender];
        if (request.amount == 0) revert NoWithdrawRequest(msg.sender);
        if (block.timestamp < request.executableAt) {
            revert WithdrawNotReady(msg.sender, request.executableAt, block.timestamp);
        }
        uint256 available = deposits[msg.sender];
        if (request.amount > available) revert InsufficientDeposit(msg.sender, available, request.amount);
        delete withdrawRequests[msg.sender];
        deposits[msg.sender] = available - request.amount;
        token.transfer(msg.sender, request.amount);
        emit WithdrawExecuted(msg.sender, request.amount, available - request.amount);
    }

    /// @notice Locks `amount` of `prover`'s deposit as the bond of its claimed quote for `epoch`.
    function stakeBond(address prover, uint256 amount, uint256 epoch) external onlyRollup {
        uint256 available = deposits[prover];
        if (amount > available) revert InsufficientDeposit(prover, available, amount);
        deposits[prover] = available - amount;
        staked[prover] += amount;
        emit BondStaked(prover, epoch, amount);
    }

    /// @notice Returns a bond to the prover's deposit: the epoch was proven.
    function unstakeBond(address prover, uint256 amount, uint256 epoch) external onlyRollup {
        uint256 stake = staked[prover];
        if (amount > stake) revert InsufficientStake(prover, stake, amount);
        staked[prover] = stake - amount;
        deposits[prover] += amount;
        emit BondUnstaked(prover, epoch, amount);
    }

    /// @notice Takes a bond: the claimed epoch was not proven in time. The tokens go to the rollup.
    function slashBond(address prover, uint256 amount, uint256 epoch) external onlyRollup {
        uint256 stake = staked[prover];
        if (amount > stake) revert InsufficientStake(prover, stake, amount);
        staked[prover] = stake - amount;
        token.transfer(rollup, amount);
        emit BondSlashed(prover, epoch, amount);
    }
}
