// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

/// @notice Checks an epoch proof. The rollup calls it from `submitEpochProof`.
interface IVerifier {
    /// @param epoch The epoch proven.
    /// @param publicInputs What the proof commits to: the epoch's first and last block, the
    ///        archive root after its last block, and its total fees.
    /// @param proof The proof bytes.
    /// @return True when the proof is valid for these inputs.
    function verify(uint256 epoch, bytes32[] calldata publicInputs, bytes calldata proof)
        external
        view
        returns (bool);
}
