// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

import {IVerifier} from "./IVerifier.sol";

/// @notice A stand-in verifier for devnets and tests. A "proof" is the keccak256 of the epoch
///         number and the public inputs, so a prover must know the epoch it proves, and a wrong or
///         stale proof is refused, without any real proving system.
contract DevnetVerifier is IVerifier {
    /// @inheritdoc IVerifier
    function verify(uint256 epoch, bytes32[] calldata publicInputs, bytes calldata proof)
        external
        pure
        returns (bool)
    {
        return proof.length == 32 && bytes32(proof) == expectedProof(epoch, publicInputs);
    }

    /// @notice The one proof this verifier accepts for `epoch` and `publicInputs`.
    function expectedProof(uint256 epoch, bytes32[] calldata publicInputs) public pure returns (bytes32) {
        return keccak256(abi.encode(epoch, publicInputs));
    }
}
